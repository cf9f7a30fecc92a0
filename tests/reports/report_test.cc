// Schema v1 writer and validator, atomic writes, the JSONL journal and provenance,
// through the real reports/ code and real files in a scratch folder.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/errors.h"
#include "reports/atomic_write.h"
#include "reports/merge.h"
#include "reports/provenance.h"
#include "reports/report.h"
#include "reports/validate.h"

namespace cpb::reports {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

TimeStats stats(double lo, double hi) {
  return {.iterations = 3,
          .median = (lo + hi) / 2,
          .mean = (lo + hi) / 2,
          .min = lo,
          .max = hi,
          .p10 = lo,
          .p90 = hi,
          .cv = 0.1};
}

Report sample_report(int world = 2) {
  Report r;
  r.provenance = collect_local_provenance({"cpbench", "run", "--seq", "64"});
  r.provenance.end_time_utc = utc_now_iso8601();
  r.provenance.mpi_library = "none";
  r.provenance.communicator = "self";
  std::vector<std::string> hosts(static_cast<size_t>(world), "hostA");
  assign_hosts(r.provenance, hosts);
  r.config = {{"seqs", {64}}};
  json params = {{"kernel", "cpu_flash"},
                 {"method", "ring_p2p"},
                 {"dtype", "fp32"},
                 {"pass", "fwd"},
                 {"sharding", "zigzag"},
                 {"placement", "contiguous"},
                 {"mask", {{"kind", "causal"}}},
                 {"seq", 64},
                 {"heads_q", 2},
                 {"heads_kv", 2},
                 {"head_dim", 8},
                 {"warmup", 1},
                 {"iters", 3},
                 {"seed", 0},
                 {"degrees", {{"ulysses", 1}, {"ring", world}, {"inner_ring", 1}}}};
  CaseMetrics m;
  m.mask_area = 64 * 65 / 2;
  m.mask_density = double(m.mask_area) / (64.0 * 64.0);
  m.flops = 4.0 * m.mask_area * 8 * 2;
  m.step_seconds = stats(0.001, 0.003);
  for (int i = 0; i < world; ++i)
    m.ranks.push_back({.rank = i,
                       .hostname = "hostA",
                       .step_seconds = stats(0.001, 0.002),
                       .ops = {{.op = "p2p", .calls = 2, .bytes_sent = 10, .bytes_received = 10}}});
  CaseResult ok{.id = "a", .params = params, .status = "ok", .metrics = m};
  ok.verification = Verification{.reference = "cpu_reference",
                                 .passed = true,
                                 .atol = 1e-5,
                                 .rtol = 1e-3,
                                 .tensors = {{.tensor = "out",
                                              .max_abs_error = 1e-7,
                                              .max_rel_error = 1e-6,
                                              .tolerance = 1e-4,
                                              .passed = true}}};
  CaseResult unsupported{
      .id = "b", .params = params, .status = "unsupported", .reason = "heads not divisible"};
  r.cases = {ok, unsupported};
  return r;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "\n";
  return s;
}

bool mentions(const std::vector<std::string>& problems, const std::string& what) {
  for (const auto& p : problems)
    if (p.find(what) != std::string::npos) return true;
  return false;
}

TEST(ReportSchema, WriterOutputValidates) {
  json j = sample_report();
  EXPECT_EQ(j["schema"], kSchemaName);
  EXPECT_EQ(j["schema_version"], kSchemaVersion);
  EXPECT_EQ(j["summary"]["ok"], 1);
  EXPECT_EQ(j["summary"]["unsupported"], 1);
  EXPECT_TRUE(j["cases"][1]["metrics"].is_null());
  auto problems = validate_report(j);
  EXPECT_TRUE(problems.empty()) << joined(problems);
}

TEST(ReportSchema, ConventionsStateTheFlopCount) {
  json c = conventions();
  EXPECT_EQ(c["flops_forward"], "4 * mask_area * head_dim * heads_q");
  EXPECT_EQ(c["flops_backward"], "2.5 * flops_forward");
  EXPECT_EQ(c["flops_forward_backward"], "3.5 * flops_forward");
}

TEST(ReportValidator, CatchesEachKindOfDefect) {
  const json good = sample_report();
  struct Defect {
    const char* what;
    std::function<void(json&)> apply;
    const char* expected;
  };
  std::vector<Defect> defects = {
      {"schema version", [](json& j) { j["schema_version"] = 2; }, "schema_version"},
      {"missing provenance field", [](json& j) { j["provenance"].erase("git_commit"); },
       "git_commit"},
      {"bad time", [](json& j) { j["provenance"]["start_time_utc"] = "yesterday"; },
       "start_time_utc"},
      {"bad status", [](json& j) { j["cases"][0]["status"] = "fine"; }, "status"},
      {"unsupported without reason", [](json& j) { j["cases"][1]["reason"] = ""; }, "reason"},
      {"ok without metrics", [](json& j) { j["cases"][0]["metrics"] = nullptr; }, "metrics"},
      {"unordered stats", [](json& j) { j["cases"][0]["metrics"]["step_seconds"]["p90"] = 1.0; },
       "p10 <= median"},
      {"rank count", [](json& j) { j["cases"][0]["metrics"]["ranks"].erase(1); }, "world_size"},
      {"negative bytes", [](json& j) { j["cases"][0]["metrics"]["ranks"][0]["bytes_sent"] = -1; },
       "bytes_sent"},
      {"summary mismatch", [](json& j) { j["summary"]["ok"] = 2; }, "summary.ok"},
      {"duplicate id", [](json& j) { j["cases"][1]["id"] = "a"; }, "duplicate"},
      {"verification verdict",
       [](json& j) { j["cases"][0]["verification"]["tensors"][0]["passed"] = false; },
       "per-tensor"},
      {"unknown tensor",
       [](json& j) { j["cases"][0]["verification"]["tensors"][0]["tensor"] = "dz"; }, "dz"},
      {"density", [](json& j) { j["cases"][0]["metrics"]["mask_density"] = 1.5; }, "mask_density"},
      {"hosts vs world", [](json& j) { j["provenance"]["hosts"][0]["ranks"] = {0}; }, "hosts"},
      {"not an object", [](json& j) { j = json::array(); }, "object"},
  };
  for (const auto& d : defects) {
    json bad = good;
    d.apply(bad);
    auto problems = validate_report(bad);
    EXPECT_TRUE(mentions(problems, d.expected))
        << d.what << ": expected a problem mentioning '" << d.expected << "', got:\n"
        << joined(problems);
  }
}

TEST(ReportValidator, InfiniteErrorIsNullAndAccepted) {
  Report r = sample_report();
  auto& t = r.cases[0].verification->tensors[0];
  t.max_abs_error = std::numeric_limits<double>::infinity();
  t.passed = false;
  r.cases[0].verification->passed = false;
  json j = json::parse(json(r).dump());  // JSON has no infinity: the file holds null
  EXPECT_TRUE(j["cases"][0]["verification"]["tensors"][0]["max_abs_error"].is_null());
  EXPECT_EQ(j["summary"]["verification_failed"], 1);
  auto problems = validate_report(j);
  EXPECT_TRUE(problems.empty()) << joined(problems);
}

// CUDA cases add device-memory figures (optional in v1): absent is valid, present
// must be non-negative integers whose case-level max matches the ranks.
TEST(ReportValidator, DeviceMemoryFieldsOptionalButConsistent) {
  Report r = sample_report();
  json plain = r;
  EXPECT_FALSE(plain["cases"][0]["metrics"].contains("peak_device_bytes_max"));
  EXPECT_FALSE(plain["cases"][0]["metrics"]["ranks"][0].contains("peak_device_bytes"));
  auto& m = *r.cases[0].metrics;
  for (auto& rk : m.ranks) {
    rk.peak_device_bytes = 1000 + rk.rank;
    rk.driver_peak_used_bytes = 5000 + rk.rank;
  }
  m.peak_device_bytes_max = 1001;
  m.driver_peak_used_bytes_max = 5001;
  json good = r;
  EXPECT_EQ(good["cases"][0]["metrics"]["ranks"][1]["peak_device_bytes"], 1001);
  auto problems = validate_report(good);
  EXPECT_TRUE(problems.empty()) << joined(problems);

  json wrong_max = good;
  wrong_max["cases"][0]["metrics"]["peak_device_bytes_max"] = 1000;
  EXPECT_TRUE(mentions(validate_report(wrong_max), "peak_device_bytes_max"));
  json missing_rank = good;
  missing_rank["cases"][0]["metrics"]["ranks"][0].erase("driver_peak_used_bytes");
  EXPECT_TRUE(mentions(validate_report(missing_rank), "driver_peak_used_bytes_max"));
  json negative = good;
  negative["cases"][0]["metrics"]["ranks"][1]["peak_device_bytes"] = -1;
  EXPECT_TRUE(mentions(validate_report(negative), "ranks[1].peak_device_bytes"));
}

class ScratchDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cpb_reports_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add);
    fs::remove_all(dir_);
  }
  fs::path dir_;
};

using AtomicWrite = ScratchDir;

TEST_F(AtomicWrite, WritesReplacesAndLeavesNoTempFile) {
  std::string path = (dir_ / "r.json").string();
  write_json_atomic(path, json{{"a", 1}});
  EXPECT_EQ(read_json_file(path)["a"], 1);
  write_json_atomic(path, json{{"a", 2}});
  EXPECT_EQ(read_json_file(path)["a"], 2);
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir_)) {
    ++files;
    EXPECT_EQ(e.path().filename(), "r.json");
  }
  EXPECT_EQ(files, 1);
}

TEST_F(AtomicWrite, UnwritablePathIsInputErrorNamingIt) {
  std::string missing = (dir_ / "no_such_dir" / "r.json").string();
  try {
    write_json_atomic(missing, json::object());
    FAIL() << "no error for " << missing;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
  EXPECT_THROW(check_writable(missing), InputError);
  EXPECT_THROW(check_writable(dir_.string()), InputError);  // a directory
  EXPECT_NO_THROW(check_writable((dir_ / "ok.json").string()));
  EXPECT_FALSE(fs::exists(dir_ / "ok.json"));  // the check leaves nothing behind
  if (::geteuid() != 0) {                      // root writes anywhere
    fs::permissions(dir_, fs::perms::owner_read | fs::perms::owner_exec);
    EXPECT_THROW(write_json_atomic((dir_ / "r.json").string(), json::object()), InputError);
  }
}

TEST_F(AtomicWrite, ReadRejectsInvalidJsonNamingTheFile) {
  std::string path = (dir_ / "bad.json").string();
  std::ofstream(path) << "{not json";
  try {
    read_json_file(path);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
  }
}

using JournalTest = ScratchDir;

const json kHeader = {{"journal", "cpbench"}, {"schema_version", kSchemaVersion}};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST_F(JournalTest, AppendsOneLinePerRecordAndDropsOnlyATornLastLine) {
  std::string path = (dir_ / "r.json.jsonl").string();
  {
    Journal j(path, /*truncate=*/true);
    j.append(kHeader);
    j.append({{"case", 1}});
    j.append({{"case", 2}});
  }
  {
    std::ofstream torn(path, std::ios::app);
    torn << "{\"case\": 3, \"metr";  // a crash mid-line: no newline at EOF
  }
  auto records = Journal::read(path);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0]["journal"], "cpbench");
  EXPECT_EQ(records[1]["case"], 1);
  EXPECT_EQ(records[2]["case"], 2);
  {
    Journal j(path);  // append mode keeps the whole lines and cuts the torn tail first
    EXPECT_EQ(j.cut_bytes(), 17);
    j.append({{"case", 4}});
  }
  records = Journal::read(path);  // resumable forever: the torn text is gone
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[3]["case"], 4);
  {
    std::ofstream garbled(path, std::ios::app);
    garbled << "{\"case\": 3, \"metr\n{\"case\": 6}\n";  // damage mid-file
  }
  // A garbled line that ends in '\n' mid-file: damage, named by file and line.
  try {
    Journal::read(path);
    FAIL() << "a garbled line in the middle was accepted";
  } catch (const InputError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find("line 5"), std::string::npos) << what;
    EXPECT_NE(what.find("JSON"), std::string::npos) << what;
  }
  {
    Journal j(path, /*truncate=*/true);
    j.append(kHeader);
    j.append({{"case", 5}});
  }
  records = Journal::read(path);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1]["case"], 5);
  EXPECT_THROW(Journal((dir_ / "missing" / "j.jsonl").string()), InputError);
}

TEST_F(JournalTest, AFileWithoutTheHeaderIsNotAJournal) {
  std::string path = (dir_ / "README.md").string();
  const std::string text = "# Notes\n\nSome prose.\n";
  { std::ofstream(path) << text; }
  try {
    Journal::read(path);
    FAIL() << "a Markdown file was read as a journal";
  } catch (const InputError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find("is not a cpbench journal"), std::string::npos) << what;
  }
  EXPECT_EQ(slurp(path), text);
  // JSON lines without the header are not a journal either.
  std::string jl = (dir_ / "other.jsonl").string();
  { std::ofstream(jl) << "{\"case\": 1}\n"; }
  EXPECT_THROW(Journal::read(jl), InputError);
  // An empty file (created, crash before the header) has no records.
  std::string empty = (dir_ / "empty.jsonl").string();
  { std::ofstream(empty) << ""; }
  EXPECT_TRUE(Journal::read(empty).empty());
}

TEST_F(JournalTest, AReportSetIsReadFromAJournal) {
  std::string path = (dir_ / "run.json.jsonl").string();
  json cases = json(sample_report())["cases"];
  {
    Journal j(path, /*truncate=*/true);
    j.append({{"journal", "cpbench"}, {"schema_version", kSchemaVersion}, {"world_size", 2}});
    for (const auto& c : cases) j.append(c);
    json again = cases[1];
    again["reason"] = "resumed and run again";
    j.append(again);  // the same id twice (a resumed sweep): the last one wins
  }
  ReportSet set = read_report_set(path);
  ASSERT_EQ(set.cases.size(), 2u);
  EXPECT_EQ(set.cases[0]["id"], "a");
  EXPECT_EQ(set.cases[1]["reason"], "resumed and run again");
  ASSERT_EQ(set.sources.size(), 1u);
  EXPECT_EQ(set.sources[0]["file"], path);
  // The merged document built from it reads back.
  std::string merged = (dir_ / "merged.json").string();
  write_json_atomic(merged, to_json(set));
  EXPECT_EQ(read_report_set(merged).cases.size(), 2u);
  // A case line that is not a valid case is named.
  {
    Journal j(path);
    j.append({{"id", "c"}, {"status", "ok"}});
  }
  try {
    read_report_set(path);
    FAIL() << "an invalid case line was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST_F(JournalTest, EachAppendIsOnDiskBeforeItReturns) {
  std::string path = (dir_ / "j.jsonl").string();
  Journal j(path);
  j.append(kHeader);
  j.append({{"case", "x"}});
  // Read back through a separate descriptor while the journal is still open.
  auto records = Journal::read(path);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1]["case"], "x");
}

TEST(Provenance, TimesHostsAndEnvironment) {
  std::string t = utc_now_iso8601();
  ASSERT_EQ(t.size(), 20u);
  EXPECT_EQ(t[10], 'T');
  EXPECT_EQ(t.back(), 'Z');
  Provenance p;
  assign_hosts(p, {"a", "b", "a", "a"});
  EXPECT_EQ(p.world_size, 4);
  ASSERT_EQ(p.hosts.size(), 2u);
  EXPECT_EQ(p.hosts[0].ranks, (std::vector<int>{0, 2, 3}));
  EXPECT_EQ(p.ranks_per_host, 3);
  EXPECT_TRUE(is_relevant_env("OMP_NUM_THREADS"));
  EXPECT_TRUE(is_relevant_env("CUDA_VISIBLE_DEVICES"));
  EXPECT_TRUE(is_relevant_env("NCCL_DEBUG"));
  EXPECT_TRUE(is_relevant_env("OMPI_COMM_WORLD_SIZE"));
  EXPECT_FALSE(is_relevant_env("HOME"));
  EXPECT_FALSE(is_relevant_env("OMPI_MCA_orte_precondition_transports"));
  ::setenv("OMP_NUM_THREADS", "3", 1);
  Provenance q = collect_local_provenance({"cpbench", "list"});
  EXPECT_EQ(q.env.at("OMP_NUM_THREADS"), "3");
  EXPECT_EQ(q.command_line.size(), 2u);
  EXPECT_FALSE(q.tool_version.empty());
  EXPECT_FALSE(q.compiler.empty());
  EXPECT_GT(q.cpu_cores, 0);
  EXPECT_TRUE(q.git_commit == "unknown" || q.git_commit.size() == 40) << q.git_commit;
  // The commit is the build's, baked in by gen_version.cmake, not the tree's now.
  EXPECT_EQ(q.git_source, "build");
  EXPECT_EQ(q.gpu.models.size(), 0u);  // bench/ fills GPUs; reports/ never sees CUDA
  EXPECT_EQ(q.gpu.note, "not built with CUDA");
  ASSERT_EQ(q.hosts.size(), 1u);
  EXPECT_EQ(q.hosts[0].cpu_model, q.cpu_model);
}

TEST(Provenance, CpuModelPerHost) {
  Provenance p;
  p.cpu_model = "rank0 cpu";
  assign_hosts(p, {"a", "b", "a"}, {"Xeon", "EPYC", "Xeon"});
  ASSERT_EQ(p.hosts.size(), 2u);
  EXPECT_EQ(p.hosts[0].cpu_model, "Xeon");
  EXPECT_EQ(p.hosts[1].cpu_model, "EPYC");
  json j = p;
  EXPECT_EQ(j["hosts"][1]["cpu_model"], "EPYC");
  EXPECT_TRUE(j["gpu"]["driver_version"].is_null());
  EXPECT_TRUE(j["gpu"]["models"].is_array());
  // Without per-rank models, rank 0's host keeps rank 0's own; the others are null.
  assign_hosts(p, {"a", "b"});
  EXPECT_EQ(p.hosts[0].cpu_model, "rank0 cpu");
  j = p;
  EXPECT_TRUE(j["hosts"][1]["cpu_model"].is_null());
}

}  // namespace
}  // namespace cpb::reports
