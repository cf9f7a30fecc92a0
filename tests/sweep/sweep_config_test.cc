// Sweep configs: cartesian expansion, per-method normalisation, rules, strict errors
// that name the file and key; pooling of repetitions and the stopping rule.
#include <gtest/gtest.h>

#include <fstream>

#include "bench/sweep_config.h"
#include "common/errors.h"

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
    if (c.method == "usp") EXPECT_EQ(c.inner_ring, 1);
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
