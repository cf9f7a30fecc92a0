// Sweep configs: cartesian expansion, per-method normalisation, rules, strict errors
// that name the file and key; pooling of repetitions and the stopping rule.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <numeric>
#include <set>

#include <fmt/format.h>

#include "bench/sweep_config.h"
#include "common/errors.h"
#include "masks/generators.h"
#include "masks/mask_spec.h"

namespace cpb {
namespace {

using nlohmann::json;

SweepConfig parse(const json& j) { return parse_sweep_config(j, "cfg.json"); }

// The InputError message of parsing `j`, or "" when it parses.
std::string error_of(const json& j, const SweepNames& names = {}) {
  try {
    parse_sweep_config(j, "cfg.json", names);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(SweepConfig, CartesianProductInFixedOrder) {
  auto cfg = parse({{"method", {"ring_p2p", "ulysses"}},
                    {"mask", {{{"kind", "causal"}}, "full"}},
                    {"seqlen", {1024, 2048}},
                    {"world", {2}}});
  ASSERT_EQ(cfg.cases.size(), 8u);
  EXPECT_EQ(cfg.cases[0].method, "ring_p2p");
  EXPECT_EQ(cfg.cases[0].mask["kind"], "causal");
  EXPECT_EQ(cfg.cases[0].seqlen, 1024);
  EXPECT_EQ(cfg.cases[1].seqlen, 2048);
  // Methods fix their own degrees from the world size.
  EXPECT_EQ(cfg.cases[0].ring, 2);
  EXPECT_EQ(cfg.cases[0].ulysses, 1);
  EXPECT_EQ(cfg.cases[4].method, "ulysses");
  EXPECT_EQ(cfg.cases[4].ulysses, 2);
  // Defaults.
  EXPECT_EQ(cfg.cases[0].kernel, "cpu_flash");
  EXPECT_EQ(cfg.cases[0].heads, 8);
  EXPECT_EQ(cfg.cases[0].kv_heads, 8);
  EXPECT_EQ(cfg.cases[0].pass, "fwd");
  EXPECT_EQ(cfg.run.iterations, 10);
}

TEST(SweepConfig, ListValuedMaskParametersExpand) {
  auto cfg =
      parse({{"mask", {{{"kind", "sliding_window"}, {"window", {128, 256}}}}}, {"seqlen", 1024}});
  ASSERT_EQ(cfg.cases.size(), 2u);
  EXPECT_EQ(cfg.cases[0].mask["window"], 128);
  EXPECT_EQ(cfg.cases[1].mask["window"], 256);
}

TEST(SweepConfig, MethodNoneRunsOnWorldOneOnlyAndIgnoresSharding) {
  auto cfg = parse({{"method", {"none", "ring_p2p"}},
                    {"sharding", {"contiguous", "zigzag"}},
                    {"world", {1, 2}},
                    {"mask", {"causal"}},
                    {"seqlen", {1024}}});
  // World 1 holds one shard, so every sharding is the same case: none + ring_p2p once;
  // world 2: ring_p2p x 2 shardings.
  ASSERT_EQ(cfg.cases.size(), 4u);
  EXPECT_EQ(cfg.cases[1].sharding, "contiguous");
  EXPECT_EQ(cfg.cases[0].method, "none");
  EXPECT_EQ(cfg.cases[0].sharding, "contiguous");
  EXPECT_EQ(cfg.dropped.at("method none runs on world 1 only"), 1);
}

TEST(SweepConfig, TwoDimensionalDegrees) {
  // Default: every factorisation of the world size.
  auto all = parse({{"method", {"usp"}}, {"world", {4}}, {"mask", {"full"}}, {"seqlen", {4096}}});
  ASSERT_EQ(all.cases.size(), 3u);  // u1r4, u2r2, u4r1
  EXPECT_EQ(all.cases[1].ulysses, 2);
  EXPECT_EQ(all.cases[1].ring, 2);
  // Given degrees: a missing one is derived; loongtrain inner rings must divide ring.
  auto given = parse({{"method", {"usp", "loongtrain"}},
                      {"degrees", {{{"ulysses", 2}}, {{"ring", 4}, {"inner_ring", 2}}}},
                      {"world", {4, 8}},
                      {"mask", {"full"}},
                      {"seqlen", {4096}}});
  bool saw_loong_w2 = false;
  for (const auto& c : given.cases) {
    EXPECT_EQ(c.ulysses * c.ring, c.world) << c.label();
    if (c.method == "usp") {
      EXPECT_EQ(c.inner_ring, 1);
    }
    if (c.method == "loongtrain" && c.ring == 4 && c.inner_ring == 2) saw_loong_w2 = true;
  }
  EXPECT_TRUE(saw_loong_w2);
}

TEST(SweepConfig, ExcludeAndOnlyRules) {
  json base = {{"method", {"ring_p2p", "ulysses"}},
               {"mask", {"causal", "full"}},
               {"seqlen", {1024, 2048}},
               {"world", {2}}};
  json ex = base;
  ex["exclude"] = {{{"method", "ulysses"}, {"mask", "full"}}};
  EXPECT_EQ(parse(ex).cases.size(), 6u);
  json only = base;
  only["only"] = {{{"seqlen", {2048}}}};
  auto cfg = parse(only);
  EXPECT_EQ(cfg.cases.size(), 4u);
  for (const auto& c : cfg.cases) EXPECT_EQ(c.seqlen, 2048);
  EXPECT_EQ(cfg.dropped.at("not matched by an only rule"), 4);
}

TEST(SweepConfig, StrictErrorsNameFileKeyAndAllowed) {
  json ok = {{"mask", {"causal"}}, {"seqlen", {1024}}};
  auto with = [&](const std::string& k, const json& v) {
    json j = ok;
    j[k] = v;
    return j;
  };
  std::string e = error_of(with("seqlens", {1024}));
  EXPECT_NE(e.find("cfg.json"), std::string::npos) << e;
  EXPECT_NE(e.find("'seqlens'"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key"), std::string::npos) << e;
  EXPECT_NE(e.find("\"seqlen\""), std::string::npos) << e;  // lists what is allowed

  e = error_of(with("seqlen", json::array()));
  EXPECT_NE(e.find("'seqlen'"), std::string::npos) << e;
  EXPECT_NE(e.find("empty list"), std::string::npos) << e;

  e = error_of(with("heads", {"eight"}));
  EXPECT_NE(e.find("'heads'"), std::string::npos) << e;
  EXPECT_NE(e.find("positive integer"), std::string::npos) << e;

  e = error_of(with("dtype", {"fp8"}));
  EXPECT_NE(e.find("\"fp8\""), std::string::npos) << e;
  EXPECT_NE(e.find("\"bf16\""), std::string::npos) << e;

  e = error_of(with("iterations", 0));
  EXPECT_NE(e.find("'iterations'"), std::string::npos) << e;

  e = error_of(with("verify", "yes"));
  EXPECT_NE(e.find("'verify'"), std::string::npos) << e;

  // Impossible degree combination: u3 x r2 = 6 fits no world in [2, 4].
  json deg = ok;
  deg["method"] = {"usp"};
  deg["world"] = {2, 4};
  deg["degrees"] = {{{"ulysses", 3}, {"ring", 2}}};
  e = error_of(deg);
  EXPECT_NE(e.find("degrees[0]"), std::string::npos) << e;
  EXPECT_NE(e.find("impossible degree combination"), std::string::npos) << e;

  // Degrees with no method that takes them.
  e = error_of(with("degrees", {{{"ulysses", 2}}}));
  EXPECT_NE(e.find("'degrees'"), std::string::npos) << e;

  // A value that yields no case: kv_heads 16 with heads 8.
  e = error_of(with("kv_heads", {16}));
  EXPECT_NE(e.find("'kv_heads'"), std::string::npos) << e;

  // A rule that matches nothing is a typo.
  e = error_of(with("exclude", {{{"method", "ulysses"}}}));
  EXPECT_NE(e.find("exclude[0]"), std::string::npos) << e;
  e = error_of(with("exclude", {{{"methd", "ulysses"}}}));
  EXPECT_NE(e.find("unknown key \"methd\""), std::string::npos) << e;

  // Mask errors come from the mask spec parser, prefixed with the file and entry.
  e = error_of({{"mask", {{{"kind", "causal"}, {"windw", 3}}}}, {"seqlen", {1024}}});
  EXPECT_NE(e.find("mask[0]"), std::string::npos) << e;
  e = error_of({{"mask", {"nosuchmask"}}, {"seqlen", {1024}}});
  EXPECT_NE(e.find("mask[0]"), std::string::npos) << e;

  // Names checked against the registries when given.
  SweepNames names{.kernels = {"cpu_flash"}, .methods = {"none"}, .shardings = {"contiguous"}};
  e = error_of(with("kernel", {"cuda_magic"}), names);
  EXPECT_NE(e.find("\"cuda_magic\""), std::string::npos) << e;
  EXPECT_NE(e.find("\"cpu_flash\""), std::string::npos) << e;

  e = error_of(json::array());
  EXPECT_NE(e.find("JSON object"), std::string::npos) << e;
  EXPECT_NE(error_of({{"mask", {"causal"}}}).find("'seqlen'"), std::string::npos);
}

TEST(SweepConfig, LoadNamesUnreadableAndMalformedFiles) {
  EXPECT_THROW(load_sweep_config("/nonexistent/sweep.json"), InputError);
  std::string path = testing::TempDir() + "bad_sweep.json";
  std::ofstream(path) << "{\"mask\": [\"causal\"], ";
  try {
    load_sweep_config(path);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

// Weak scaling: S = tokens_per_rank x world, exactly one of seqlen / tokens_per_rank.
TEST(SweepConfig, TokensPerRank) {
  auto cfg = parse({{"method", {"ring_p2p"}},
                    {"mask", {"causal"}},
                    {"tokens_per_rank", {256}},
                    {"world", {2, 4}}});
  ASSERT_EQ(cfg.cases.size(), 2u);
  EXPECT_EQ(cfg.cases[0].seqlen, 512);
  EXPECT_EQ(cfg.cases[1].seqlen, 1024);
  EXPECT_EQ(cfg.cases[1].tokens_per_rank, 256);
  EXPECT_NE(error_of({{"mask", {"causal"}}, {"seqlen", {64}}, {"tokens_per_rank", {64}}})
                .find("not both"),
            std::string::npos);
  std::string e = error_of({{"mask", {"causal"}}});
  EXPECT_NE(e.find("tokens_per_rank"), std::string::npos) << e;
  // The product with world is range-checked too.
  e = error_of({{"method", {"ring_p2p"}},
                {"mask", {"causal"}},
                {"tokens_per_rank", {int64_t{1} << 29}},
                {"world", {4}}});
  EXPECT_NE(e.find("'tokens_per_rank'"), std::string::npos) << e;
  EXPECT_NE(e.find("limit"), std::string::npos) << e;
}

// Degree rules: one entry for every world instead of an `only` rule per world.
TEST(SweepConfig, DegreeRulesPerWorld) {
  json j = {
      {"method", {"usp", "ring_p2p"}}, {"degrees", {{{"ulysses", "min(world, ranks_per_node)"}}}},
      {"ranks_per_node", 2},           {"mask", {"causal"}},
      {"tokens_per_rank", {64}},       {"world", {2, 4, 8}}};
  auto cfg = parse(j);
  int usp = 0;
  for (const auto& c : cfg.cases) {
    if (c.method != "usp") continue;
    ++usp;
    EXPECT_EQ(c.ulysses, 2) << c.label();
    EXPECT_EQ(c.ring, c.world / 2) << c.label();
  }
  EXPECT_EQ(usp, 3);
  EXPECT_EQ(eval_degree_rule("max(1, world / 8) * 2 - 1", {{"world", 32}}), 7);
  EXPECT_EQ(
      eval_degree_rule(" min(world,ranks_per_node,3) ", {{"world", 8}, {"ranks_per_node", 4}}), 3);
  EXPECT_EQ(eval_degree_rule("7 / 2", {}), 3);
  for (const char* bad :
       {"world +", "min(world", "worlds", "world / 0", "9999999999 * 9999999999", "2 ^ 3", ""})
    EXPECT_THROW(eval_degree_rule(bad, {{"world", 4}}), InputError) << bad;
  // ranks_per_node unknown (no config key, no launcher): named with what to do.
  j.erase("ranks_per_node");
  std::string e = error_of(j);
  EXPECT_NE(e.find("degrees[0]"), std::string::npos) << e;
  EXPECT_NE(e.find("ranks_per_node"), std::string::npos) << e;
  // ... or given by the launcher.
  SweepNames launcher{.ranks_per_node = 4};
  auto from_launcher = parse_sweep_config(j, "cfg.json", launcher);
  for (const auto& c : from_launcher.cases) {
    if (c.method == "usp") {
      EXPECT_EQ(c.ulysses, std::min(c.world, 4)) << c.label();
    }
  }
  // A degree no listed method reads is refused, naming the methods that do.
  json w = j;
  w["method"] = {"usp"};
  w["degrees"] = {{{"ulysses", 2}, {"inner_ring", 2}}};
  w["ranks_per_node"] = 2;
  e = error_of(w);
  EXPECT_NE(e.find("degrees[0].inner_ring"), std::string::npos) << e;
  EXPECT_NE(e.find("loongtrain"), std::string::npos) << e;
  // A syntax error is refused up front, naming the entry and key.
  j["degrees"] = {{{"ulysses", "min(world,"}}};
  e = error_of(j);
  EXPECT_NE(e.find("degrees[0].ulysses"), std::string::npos) << e;
}

// mask_samples: N seeds of each random mask, consecutive, one group each; masks
// without randomness are not multiplied; the dry-run label shows the seed.
TEST(SweepConfig, MaskSamples) {
  auto cfg = parse({{"mask", {"causal", {{"kind", "document"}, {"seed", uint64_t{5}}}}},
                    {"seqlen", {256}},
                    {"mask_samples", 3}});
  ASSERT_EQ(cfg.cases.size(), 4u);
  EXPECT_EQ(cfg.cases[0].sample_group, -1);
  ASSERT_EQ(cfg.sample_groups.size(), 1u);
  EXPECT_EQ(cfg.sample_groups[0].seeds, (std::vector<uint64_t>{5, 6, 7}));
  std::set<std::string> labels;
  for (size_t i = 1; i < 4; ++i) {
    EXPECT_EQ(cfg.cases[i].sample_group, 0);
    EXPECT_EQ(cfg.cases[i].mask["seed"], 4 + i);
    labels.insert(cfg.cases[i].label());
  }
  EXPECT_EQ(labels.size(), 3u);  // no two identical dry-run lines
  EXPECT_NE(cfg.cases[1].label().find("seed=5"), std::string::npos) << cfg.cases[1].label();
  std::string e = error_of({{"mask", {"causal"}}, {"seqlen", {64}}, {"mask_samples", 2}});
  EXPECT_NE(e.find("'mask_samples'"), std::string::npos) << e;
  e = error_of({{"mask", {{{"kind", "document"}, {"seed", {uint64_t{1}, uint64_t{2}}}}}},
                {"seqlen", {64}},
                {"mask_samples", 2}});
  EXPECT_NE(e.find("mask[0]"), std::string::npos) << e;
  EXPECT_NE(error_of({{"mask", {"document"}}, {"seqlen", {64}}, {"mask_samples", 0}})
                .find("'mask_samples'"),
            std::string::npos);
}

TEST(SweepConfig, MaskSampleSummary) {
  auto sample = [](uint64_t seed, const std::string& status, double median) {
    json c = {{"id", fmt::format("none/cpu_flash/document,doclen=pile,seed={}/S256", seed)},
              {"params", {{"mask", {{"kind", "document"}, {"seed", seed}}}}},
              {"status", status}};
    if (status == "ok")
      c["metrics"] = {{"step_seconds", {{"median", median}}}, {"tflops_per_rank", 1 / median}};
    return c;
  };
  json s =
      summarise_mask_samples({sample(5, "ok", 1.0), sample(6, "ok", 3.0), sample(7, "error", 0)});
  EXPECT_EQ(s["id"], "none/cpu_flash/document,doclen=pile,seed=*/S256");
  EXPECT_EQ(s["samples"], 3);
  EXPECT_EQ(s["ok"], 2);
  EXPECT_EQ(s["seeds"], json({5, 6, 7}));
  EXPECT_DOUBLE_EQ(s["step_seconds_median"]["mean"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(s["step_seconds_median"]["stdev"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(s["step_seconds_median"]["max"].get<double>(), 3.0);
  EXPECT_EQ(s["case_ids"].size(), 3u);
  EXPECT_TRUE(summarise_mask_samples({sample(1, "oom", 0)})["step_seconds_median"].is_null());
}

// doclen_by_seqlen: the histogram follows S (LongCA's rule), an explicit doclen wins.
TEST(SweepConfig, DoclenBySeqlen) {
  auto cfg = parse({{"mask", {"causal_document", {{"kind", "document"}, {"doclen", "pile"}}}},
                    {"seqlen", {8192, 32768}},
                    {"doclen_by_seqlen", "longca"}});
  ASSERT_EQ(cfg.cases.size(), 4u);
  EXPECT_EQ(cfg.cases[0].mask["doclen"], "pile");        // 8K <= 12K
  EXPECT_EQ(cfg.cases[1].mask["doclen"], "prolong64k");  // 32K <= 64K
  EXPECT_EQ(cfg.cases[3].mask["doclen"], "pile");        // given
  std::string e =
      error_of({{"mask", {"causal"}}, {"seqlen", {64}}, {"doclen_by_seqlen", "longca"}});
  EXPECT_NE(e.find("'doclen_by_seqlen'"), std::string::npos) << e;
  e = error_of({{"mask", {"document"}},
                {"seqlen", {64, 128}},
                {"doclen_by_seqlen", {{{"max_seqlen", 100}, {"doclen", "pile"}}}}});
  EXPECT_NE(e.find("seqlen 128"), std::string::npos) << e;
  e = error_of(
      {{"mask", {"document"}},
       {"seqlen", {64}},
       {"doclen_by_seqlen",
        {{{"max_seqlen", 100}, {"doclen", "pile"}}, {{"max_seqlen", 50}, {"doclen", "pile"}}}}});
  EXPECT_NE(e.find("doclen_by_seqlen[1]"), std::string::npos) << e;
}

// max_doc caps document length (a longer sampled document is cut into pieces); it is
// written to the spec only when set, so other masks keep their JSON and case ids.
TEST(SweepConfig, DocumentLengthCap) {
  auto cfg = parse({{"mask", {{{"kind", "causal_document_long"}, {"max_doc", {0, 1000}}}}},
                    {"seqlen", {65536}},
                    {"doclen_by_seqlen", "longca"}});
  ASSERT_EQ(cfg.cases.size(), 2u);
  EXPECT_FALSE(cfg.cases[0].mask.contains("max_doc"));
  EXPECT_EQ(cfg.cases[1].mask["max_doc"], 1000);
  auto lengths = [](const json& spec) { return document_lengths(spec.get<MaskSpec>(), 65536); };
  auto longest = [](const std::vector<int64_t>& v) {
    return *std::max_element(v.begin(), v.end());
  };
  auto sum = [](const std::vector<int64_t>& v) {
    return std::accumulate(v.begin(), v.end(), int64_t{0});
  };
  auto free_lengths = lengths(cfg.cases[0].mask), capped = lengths(cfg.cases[1].mask);
  EXPECT_GT(longest(free_lengths), 1000);  // the long mix has documents of 8K-30K
  EXPECT_LE(longest(capped), 1000);
  EXPECT_EQ(sum(capped), 65536);
  EXPECT_GT(capped.size(), free_lengths.size());
  std::string e = error_of({{"mask", {{{"kind", "causal"}, {"max_doc", 64}}}}, {"seqlen", {128}}});
  EXPECT_NE(e.find("mask[0]"), std::string::npos) << e;  // not a parameter of causal
}

// Config integers beyond the limits are refused as written, never wrapped (issue 11).
TEST(SweepConfig, RangeChecksNameTheLimit) {
  json ok = {{"mask", {"causal"}}, {"seqlen", {64}}};
  auto with = [&](const std::string& k, const json& v) {
    json j = ok;
    j[k] = v;
    return error_of(j);
  };
  const uint64_t two63 = uint64_t{1} << 63;
  for (const char* key : {"seqlen", "heads", "head_dim", "world"}) {
    std::string e = with(key, {two63});
    EXPECT_NE(e.find("9223372036854775808"), std::string::npos) << key << ": " << e;
    EXPECT_NE(e.find("limit"), std::string::npos) << key << ": " << e;
    EXPECT_EQ(e.find("-9223372036854775808"), std::string::npos) << key << ": " << e;
  }
  EXPECT_NE(with("warmup", int64_t{1} << 40).find("limit"), std::string::npos);
  EXPECT_NE(with("iterations", two63).find("9223372036854775808"), std::string::npos);
  EXPECT_NE(with("timeout_s", 1e10).find("'timeout_s'"), std::string::npos);
  EXPECT_NE(with("seqlen", {int64_t{1} << 31}).find("2^30"), std::string::npos);
  EXPECT_NE(with("seed", -1).find("'seed'"), std::string::npos);
  EXPECT_EQ(with("seed", two63), "");  // seeds take the whole unsigned range
  json j = ok;
  j["seed"] = two63;
  EXPECT_EQ(parse(j).run.seed, two63);
}

// Expansion is linear and a config beyond kMaxSweepCases is refused up front with its
// count (issue 11: 30,000 cases took 10 s, a million never finished).
TEST(SweepConfig, ExpansionIsLinearAndBounded) {
  auto values = [](int64_t n, int64_t from) {
    json a = json::array();
    for (int64_t i = 0; i < n; ++i) a.push_back(from + i);
    return a;
  };
  json big = {{"mask", {"causal", "full"}},
              {"seqlen", values(100, 64)},
              {"heads", values(50, 1)},
              {"head_dim", values(10, 16)},
              {"exclude", {{{"head_dim", 16}}}}};  // 100,000 cases; rules run over all
  auto t0 = std::chrono::steady_clock::now();
  auto cfg = parse(big);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(cfg.cases.size(), 90000u);
  EXPECT_LT(s, 20.0) << "expanding 100,000 cases took " << s << " s";
  big["head_dim"] = values(1000, 16);  // 10,000,000: refused before building anything
  t0 = std::chrono::steady_clock::now();
  std::string e = error_of(big);
  s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(e.find("10000000 cases"), std::string::npos) << e;
  EXPECT_NE(e.find(std::to_string(kMaxSweepCases)), std::string::npos) << e;
  EXPECT_LT(s, 2.0);
}

json rep(double median, double cv, int iters, std::vector<double> samples = {}) {
  json st = {
      {"iterations", iters}, {"median", median},     {"mean", median},       {"min", median * 0.9},
      {"max", median * 1.1}, {"p10", median * 0.95}, {"p90", median * 1.05}, {"cv", cv}};
  if (!samples.empty()) st["samples"] = samples;
  return {{"id", "x"},
          {"params", {{"iters", iters}}},
          {"status", "ok"},
          {"wall_seconds", 1.0},
          {"metrics",
           {{"step_seconds", st},
            {"flops", 1e12},
            {"ranks", json::array({json::object(), json::object()})},
            {"harness_overhead_seconds", 0.001}}}};
}

TEST(SweepPool, PoolsRepetitionMediansWithoutSamples) {
  auto pooled =
      pool_repetitions({rep(0.010, 0.01, 5), rep(0.012, 0.01, 5), rep(0.011, 0.01, 5)}, false);
  const json& st = pooled["metrics"]["step_seconds"];
  EXPECT_DOUBLE_EQ(st["median"].get<double>(), 0.011);
  EXPECT_EQ(st["iterations"], 15);
  EXPECT_EQ(st["samples_kind"], "repetition_median");
  EXPECT_EQ(st["samples"].size(), 3u);
  EXPECT_EQ(pooled["metrics"]["repetitions"].size(), 3u);
  EXPECT_EQ(pooled["params"]["repeat"], 3);
  // Throughput follows the pooled median: 1e12 / 0.011 / 1e12 / 2 ranks.
  EXPECT_NEAR(pooled["metrics"]["tflops_per_rank"].get<double>(), 1 / 0.011 / 2, 1e-9);
  EXPECT_LE(st["min"].get<double>(), st["p10"].get<double>());
  EXPECT_GE(st["max"].get<double>(), st["p90"].get<double>());
}

TEST(SweepPool, PoolsPerIterationSamplesWhenPresent) {
  auto pooled = pool_repetitions(
      {rep(0.010, 0.01, 2, {0.009, 0.011}), rep(0.012, 0.01, 2, {0.012, 0.012})}, true);
  const json& st = pooled["metrics"]["step_seconds"];
  EXPECT_EQ(st["samples_kind"], "iteration");
  EXPECT_EQ(st["samples"].size(), 4u);
  EXPECT_DOUBLE_EQ(st["median"].get<double>(), 0.0115);
  // One repetition, samples not kept: unchanged.
  auto single = pool_repetitions({rep(0.010, 0.01, 5)}, false);
  EXPECT_EQ(single, rep(0.010, 0.01, 5));
}

TEST(SweepPool, StoppingRule) {
  SweepRunOptions r;
  r.repeat = 2;
  r.max_repeat = 5;
  r.min_time_s = 0.1;
  r.max_cv = 0.05;
  PoolProgress p{.repetitions = 1, .timed_seconds = 1, .cv = 0.01};
  EXPECT_FALSE(sweep_should_stop(r, p));  // fewer than `repeat`
  p.repetitions = 2;
  EXPECT_TRUE(sweep_should_stop(r, p));
  p.cv = 0.2;
  EXPECT_FALSE(sweep_should_stop(r, p));  // too noisy
  p.cv = 0.01;
  p.timed_seconds = 0.01;
  EXPECT_FALSE(sweep_should_stop(r, p));  // too short
  p.repetitions = 5;
  EXPECT_TRUE(sweep_should_stop(r, p));  // cap
  // Config: a stopping rule without max_repeat gets a cap of 10.
  auto cfg = parse({{"mask", {"causal"}}, {"seqlen", {64}}, {"max_cv", 0.02}});
  EXPECT_EQ(cfg.run.max_repeat, 10);
  auto progress = pool_progress({rep(0.010, 0.01, 5), rep(0.012, 0.01, 5)});
  EXPECT_NEAR(progress.timed_seconds, 0.11, 1e-12);
  EXPECT_NEAR(progress.cv, 0.001 / 0.011, 1e-9);
}

}  // namespace
}  // namespace cpb
