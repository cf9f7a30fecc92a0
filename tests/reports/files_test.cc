// Issue 11, the file half: every way a file went wrong in the field, as a unit test of
// reports/ (journal resume after a torn tail, configuration identity, non-regular and
// huge inputs, 1e400, invalid UTF-8, outputs that are inputs, a write the disk refuses,
// reports the validator used to accept).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/errors.h"
#include "common/input_file.h"
#include "reports/atomic_write.h"
#include "reports/journal.h"
#include "reports/merge.h"
#include "reports/validate.h"
#include "tests/compare/synthetic_report.h"

namespace cpb::reports {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class Files : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cpb_files_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const std::string& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

// The message of the InputError `f` throws ("" when it throws nothing).
template <typename F>
std::string input_error(F f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

const json kConfig = {{"sweep", {{"name", "t"}, {"seqlen", {64, 128}}, {"iterations", 2}}},
                      {"run", {{"iterations", 2}, {"seed", 0}, {"repeat", 1}}},
                      {"world_size", 1}};
const std::vector<std::string> kSettings = {"/run", "/world_size", "/sweep/name"};

json case_record(const std::string& id, int iters = 2) {
  json doc = test::make_report({{.method = "none", .world = 1, .step = {0.01, 0.011}}}, 1);
  json c = doc["cases"][0];
  c["id"] = id;
  c["params"]["iters"] = iters;
  return c;
}

// Item 1: a torn tail is cut before appending, so the journal stays readable forever.
TEST_F(Files, ResumeAfterATornTailKeepsTheJournalReadable) {
  std::string j = path("r.jsonl");
  {
    Journal w(j, /*truncate=*/true);
    w.append(journal_header(kConfig, {}));
    w.append(case_record("a"));
  }
  spit(j, slurp(j) + "{\"id\":\"b\",\"sta");  // a full disk stopped the append here
  for (int resume = 0; resume < 3; ++resume) {
    Journal w(j);
    w.append(journal_header(kConfig, {}));
    w.append(case_record("c" + std::to_string(resume)));
  }
  ResumeJournal r = read_resume_journal(j, 1);
  EXPECT_EQ(r.headers.size(), 4u);
  ASSERT_EQ(r.cases.size(), 4u);
  EXPECT_EQ(r.cases[0]["id"], "a");
  EXPECT_EQ(r.cases[3]["id"], "c2");
  EXPECT_EQ(read_report_set(j).cases.size(), 4u);  // `cpbench report` of it too
}

// Item 10: an empty journal (the launch died before its header) is not resumable.
TEST_F(Files, AnEmptyJournalIsNotResumed) {
  spit(path("e.jsonl"), "");
  std::string msg = input_error([&] { read_resume_journal(path("e.jsonl"), 1); });
  EXPECT_NE(msg.find("is empty"), std::string::npos) << msg;
}

// Item 2: the header carries the configuration; any difference is named.
TEST_F(Files, ResumeUnderAnotherConfigurationNamesWhatDiffers) {
  ResumeJournal r{.headers = {journal_header(kConfig, {{"world_size", 1}})}, .cases = {}};
  EXPECT_TRUE(r.headers[0].value("config_hash", "").rfind("fnv1a64:", 0) == 0);
  EXPECT_NO_THROW(check_resume_config("j", r, kConfig, false, kSettings));
  json other_iters = kConfig, other_seed = kConfig, other_name = kConfig, more = kConfig;
  other_iters["run"]["iterations"] = 3;
  other_seed["run"]["seed"] = 7;
  other_name["sweep"]["name"] = "u";
  more["sweep"]["seqlen"] = {64, 128, 256};
  for (const auto& [cfg, what] :
       {std::pair{other_iters, "run.iterations: 2 -> 3"}, std::pair{other_seed, "run.seed: 0 -> 7"},
        std::pair{other_name, "sweep.name: \"t\" -> \"u\""}, std::pair{more, "sweep.seqlen"}}) {
    std::string msg =
        input_error([&] { check_resume_config("j.jsonl", r, cfg, false, kSettings); });
    EXPECT_NE(msg.find("j.jsonl"), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
  // --allow-new-cases: added cases yes, changed settings never.
  EXPECT_NO_THROW(check_resume_config("j", r, more, true, kSettings));
  for (const auto& cfg : {other_iters, other_seed, other_name})
    EXPECT_NE(input_error([&] { check_resume_config("j", r, cfg, true, kSettings); }), "");
  // A journal that records no configuration is not resumed blindly.
  ResumeJournal old{.headers = {{{"journal", "cpbench"}, {"schema_version", 1}}}, .cases = {}};
  EXPECT_NE(input_error([&] {
              check_resume_config("j", old, kConfig, false, kSettings);
            }).find("records no configuration"),
            std::string::npos);
  // A done case planned with other parameters is refused even with the flag.
  json planned = case_record("a")["params"];
  EXPECT_NO_THROW(check_done_case("j", case_record("a"), planned));
  planned["iters"] = 5;
  EXPECT_NE(
      input_error([&] { check_done_case("j", case_record("a"), planned); }).find("iters: 2 -> 5"),
      std::string::npos);
}

// Item 5: inputs that never end, or that are not files at all, are refused at once.
TEST_F(Files, NonRegularAndOversizedInputsAreRefused) {
  std::string fifo = path("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& p : {fifo, std::string("/dev/zero"), dir_.string()}) {
    EXPECT_NE(input_error([&] { read_json_file(p); }).find("is not a regular file"),
              std::string::npos)
        << p;
    EXPECT_NE(input_error([&] { Journal::read(p); }), "") << p;
    EXPECT_NE(input_error([&] { read_report_set(p); }), "") << p;
  }
  spit(path("big.json"), std::string(2000, ' ') + "{}");
  EXPECT_NE(input_error([&] {
              read_input_file(path("big.json"), "report", 1000);
            }).find("the limit is 1000 bytes"),
            std::string::npos);
}

// Item 5: 1e400 (beyond double) and journal lines that are not objects are bad input.
TEST_F(Files, OutOfRangeNumbersAndNonObjectLinesAreInputErrors) {
  spit(path("r.json"), "{\"schema\": \"cpbench-report\", \"x\": 1e400}\n");
  EXPECT_NE(input_error([&] { read_json_file(path("r.json")); }).find("1e400"), std::string::npos);
  EXPECT_NE(input_error([&] { read_report_set(path("r.json")); }), "");
  const std::string header = dump_json(journal_header(kConfig, {})) + "\n";
  for (const std::string& line : {std::string("[1, 2]"), std::string("\"text\""),
                                  std::string("{\"id\": \"a\", \"x\": 1e400}")}) {
    spit(path("j.jsonl"), header + line + "\n" + dump_json(case_record("a")) + "\n");
    std::string msg = input_error([&] { Journal::read(path("j.jsonl")); });
    EXPECT_NE(msg.find("line 2"), std::string::npos) << line << ": " << msg;
  }
}

// Item 5: a path in another encoding must not make the report unwritable.
TEST_F(Files, InvalidUtf8IsReplacedWhenWriting) {
  json doc = {{"command_line", {"cpbench", "--out", "r\xff\xfe.json"}}};
  std::string text = dump_json(doc);
  EXPECT_NE(text.find("\xef\xbf\xbd"), std::string::npos);  // U+FFFD
  std::string p = path("r\xff.json");
  EXPECT_NO_THROW(write_json_atomic(p, doc));
  EXPECT_NO_THROW(read_json_file(p));
  Journal j(path("j\xff.jsonl"), true);
  EXPECT_NO_THROW(j.append(doc));
}

// Item 9: an output that is one of the inputs is refused before anything is written.
TEST_F(Files, AnOutputThatIsAnInputIsRefused) {
  spit(path("g.json"), "{}");
  fs::create_symlink(path("g.json"), path("link.json"));
  for (const std::string& out : {path("g.json"), path("link.json"), dir_.string() + "/./g.json"})
    EXPECT_NE(input_error([&] {
                require_not_an_input(out, "--out", {{path("g.json"), "input"}});
              }).find("is the same file"),
              std::string::npos)
        << out;
  EXPECT_NO_THROW(require_not_an_input(path("h.json"), "--out", {{path("g.json"), "input"}}));
  // Neither exists yet (sweep --journal r.json --out r.json).
  EXPECT_NE(input_error([&] {
              require_not_an_input("r.json", "--out", {{"./r.json", "journal"}});
            }),
            "");
  // Outputs that are devices are refused, never renamed over.
  EXPECT_NE(input_error([&] { check_writable("/dev/null"); }).find("not a regular file"),
            std::string::npos);
}

// Item 10: under a file-size limit (as a full disk) a failed append is a WriteError and
// the journal is cut back to its last whole line: readable, nothing torn. Runs in a
// child so the limit does not touch the test process.
TEST_F(Files, AFailedAppendIsAWriteErrorAndLeavesWholeLines) {
  std::string j = path("full.jsonl"), report = path("full.json");
  write_file_atomic(report, "old report\n");
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {8192, 8192};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    int code = 10;
    try {
      Journal w(j, true);
      w.append(journal_header(kConfig, {}));
      // std::string("c") += ...: GCC 12 warns falsely (-Wrestrict, its bug 105329) on "c" + string.
      for (int i = 0; i < 100; ++i) w.append(case_record(std::string("c") += std::to_string(i)));
    } catch (const WriteError&) {
      code = 0;
    } catch (...) {
      code = 11;
    }
    try {
      write_file_atomic(report, std::string(20000, 'x'));
      code += 20;
    } catch (const WriteError&) {
    } catch (...) {
      code += 30;
    }
    ::_exit(code);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: no WriteError, 11: another error, +20/+30: report";
  std::string text = slurp(j);
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  auto records = Journal::read(j);  // no torn line, nothing dropped
  EXPECT_GE(records.size(), 2u);
  EXPECT_LE(text.size(), 8192u);
  EXPECT_EQ(slurp(report), "old report\n");  // the failed atomic write left it alone
  for (const auto& e : fs::directory_iterator(dir_))
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
}

// Item 9: reports the validator used to accept.
TEST(Validator, RejectsBadSamplesEmptyIdsWorldMismatchAndWrongMedians) {
  json good = test::make_report({{.step = {0.010, 0.011, 0.012, 0.013}}});
  ASSERT_TRUE(validate_report(good).empty()) << validate_report(good)[0];
  auto problems_with = [&](auto edit) {
    json doc = good;
    edit(doc);
    auto p = validate_report(doc);
    std::string all;
    for (const auto& x : p) all += x + "\n";
    return all;
  };
  const std::string st = "cases[0].metrics.step_seconds";
  EXPECT_NE(problems_with([&](json& d) {
              d["cases"][0]["metrics"]["step_seconds"]["samples"] = json::array();
            }).find(st + ".samples"),
            std::string::npos);
  EXPECT_NE(problems_with([&](json& d) {
              d["cases"][0]["metrics"]["step_seconds"]["samples"] = nullptr;
            }).find(st + ".samples"),
            std::string::npos);
  EXPECT_NE(problems_with([&](json& d) {
              d["cases"][0]["metrics"]["step_seconds"]["samples"] = {"0.01", "0.02"};
            }).find(st + ".samples"),
            std::string::npos);
  EXPECT_NE(problems_with([&](json& d) {
              d["cases"][0]["metrics"]["step_seconds"]["samples"] = {0.010, 0.011, 0.012, 0.5};
            }).find(st + ".max"),
            std::string::npos);
  EXPECT_NE(problems_with([&](json& d) {
              d["cases"][0]["metrics"]["step_seconds"]["median"] = 0.0111;
            }).find(st + ".median"),
            std::string::npos);
  // Repetition medians (a sweep whose repetitions kept no per-iteration times): the
  // median is theirs, min and max are of every iteration and only bound them.
  EXPECT_EQ(problems_with([&](json& d) {
              auto& st = d["cases"][0]["metrics"]["step_seconds"];
              st["samples"] = {0.0105, 0.0115};
              st["median"] = 0.011;
              st["samples_kind"] = "repetition_median";
            }),
            "");
  EXPECT_NE(problems_with([&](json& d) {
              d["cases"][0]["metrics"]["step_seconds"]["samples_kind"] = "per_rank";
            }).find(st + ".samples_kind"),
            std::string::npos);
  EXPECT_NE(problems_with([&](json& d) { d["cases"][0]["id"] = ""; }).find("cases[0].id"),
            std::string::npos);
  // A world size of 2 with one rank entry, however the world size is stated.
  EXPECT_NE(problems_with([&](json& d) {
              d["cases"][0]["metrics"]["ranks"].erase(1);
            }).find("cases[0].metrics.ranks"),
            std::string::npos);
  EXPECT_NE(problems_with([&](json& d) {
              d["provenance"]["world_size"] = 1;
              d["provenance"]["hosts"][0]["ranks"] = {0};
              d["cases"][0]["metrics"]["ranks"].erase(1);
            }).find("cases[0].params.world_size"),
            std::string::npos);
}

}  // namespace
}  // namespace cpb::reports
