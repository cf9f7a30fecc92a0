// The driver's units through the real code: statistics and FLOP accounting, option
// validation (every bad input is an InputError naming the value), deterministic
// fill by global index, and whole cases on a one-rank self world: ok with a passing
// verification, unsupported, and an exception turned into status "error".
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "bench/case_runner.h"
#include "bench/fill.h"
#include "bench/memory.h"
#include "bench/options.h"
#include "bench/stats.h"
#include "common/errors.h"
#include "kernels/kernel.h"
#include "masks/mask_spec.h"
#include "parallel/self_communicator.h"
#include "reports/validate.h"

namespace cpb::bench {
namespace {

// Message of the InputError `f` throws ("" when it does not throw one).
template <typename F>
std::string input_error(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Stats, PercentilesInterpolateBetweenOrderStatistics) {
  std::vector<double> s = {5, 1, 4, 2, 3};  // sorted 1..5
  EXPECT_DOUBLE_EQ(percentile(s, 0.0), 1);
  EXPECT_DOUBLE_EQ(percentile(s, 0.5), 3);
  EXPECT_DOUBLE_EQ(percentile(s, 1.0), 5);
  EXPECT_DOUBLE_EQ(percentile(s, 0.1), 1.4);  // position 0.4
  EXPECT_DOUBLE_EQ(percentile(s, 0.9), 4.6);
  EXPECT_DOUBLE_EQ(percentile({1, 2, 3, 4}, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(percentile({7}, 0.9), 7);
}

TEST(Stats, SummaryOfAKnownSample) {
  reports::TimeStats t = summarize({2, 4, 4, 4, 5, 5, 7, 9});
  EXPECT_EQ(t.iterations, 8);
  EXPECT_DOUBLE_EQ(t.mean, 5);
  EXPECT_DOUBLE_EQ(t.median, 4.5);
  EXPECT_DOUBLE_EQ(t.min, 2);
  EXPECT_DOUBLE_EQ(t.max, 9);
  EXPECT_DOUBLE_EQ(t.cv, 2.0 / 5.0);  // population stdev 2
  EXPECT_LE(t.p10, t.median);
  EXPECT_GE(t.p90, t.median);
  EXPECT_DOUBLE_EQ(summarize({3, 3, 3}).cv, 0);
}

TEST(Stats, Imbalance) {
  EXPECT_DOUBLE_EQ(imbalance({1, 1, 1, 1}), 1);
  EXPECT_DOUBLE_EQ(imbalance({1, 3}), 1.5);
  EXPECT_DOUBLE_EQ(imbalance({0, 0}), 1);
}

TEST(Flops, ConventionFromMaskArea) {
  // Causal S=1024 (bottom-right aligned, square): S(S+1)/2 visible pairs.
  Mask causal = make_mask(MaskSpec{.kind = "causal"}, 1024);
  ASSERT_EQ(causal.area(), 1024 * 1025 / 2);
  double fwd = forward_flops(causal.area(), 128, 8);
  EXPECT_DOUBLE_EQ(fwd, 4.0 * 524800 * 128 * 8);
  EXPECT_DOUBLE_EQ(pass_flops(Pass::kForward, causal.area(), 128, 8), fwd);
  EXPECT_DOUBLE_EQ(pass_flops(Pass::kBackward, causal.area(), 128, 8), 2.5 * fwd);
  EXPECT_DOUBLE_EQ(pass_flops(Pass::kForwardBackward, causal.area(), 128, 8), 3.5 * fwd);
  // Full S=4096, D=128, Hq=8: 4 * 4096^2 * 128 * 8 = 68.7 GFLOP forward.
  EXPECT_DOUBLE_EQ(forward_flops(4096LL * 4096, 128, 8), 68719476736.0);
}

TEST(Options, DegreesParseAndReject) {
  EXPECT_EQ(parse_degrees("u2r2"), (Degrees{.ulysses = 2, .ring = 2}));
  EXPECT_EQ(parse_degrees("r4"), (Degrees{.ring = 4}));
  EXPECT_EQ(parse_degrees("U8"), (Degrees{.ulysses = 8}));
  EXPECT_EQ(parse_degrees("auto"), Degrees{});
  EXPECT_EQ(parse_degrees(""), Degrees{});
  for (const char* bad : {"u", "x2", "u0r2", "u2u2", "ulysses=2", "u2,r2", "r-1"})
    EXPECT_NE(input_error([&] { parse_degrees(bad); }).find(bad), std::string::npos) << bad;
}

// Registry-driven: every method, at every world it runs on, gets its declared default
// layout when no degree is given, and a hybrid (reads ulysses and ring) derives the
// missing degree from the world. No method is named, so a new one is covered as is.
TEST(Options, DegreesPerMethod) {
  const auto& reg = CpMethodRegistry::instance();
  for (const auto& name : reg.names()) {
    auto m = reg.create(name);
    const auto axes = m->axes();
    auto reads = [&](LayoutAxis a) { return std::find(axes.begin(), axes.end(), a) != axes.end(); };
    for (int world : {1, 2, 4, 8}) {
      if (!m->runs_on(world)) continue;
      CpConfig c;
      resolve_degrees(name, world, {}, c);
      CpLayout d = m->default_layout(world);
      EXPECT_EQ(c.ulysses_degree, d.ulysses) << name << " at " << world;
      EXPECT_EQ(c.ring_degree, d.ring) << name << " at " << world;
      if (reads(LayoutAxis::kUlysses) && reads(LayoutAxis::kRing) && world > 1) {
        resolve_degrees(name, world, {.ulysses = 1}, c);  // explicit wins, ring derived
        EXPECT_EQ(c.ulysses_degree * 100 + c.ring_degree, 100 + world) << name;
        resolve_degrees(name, world, {.ring = 1}, c);
        EXPECT_EQ(c.ulysses_degree * 100 + c.ring_degree, world * 100 + 1) << name;
      }
    }
  }
  CpConfig c;
  EXPECT_NE(
      input_error([&] { resolve_degrees("no_such_method", 1, {}, c); }).find("no_such_method"),
      std::string::npos);
}

// Case ids and params carry only the layout axes a method reads (issue 10: an inner
// ring width once leaked into a ring method's id as u1r4w2), and --inner-ring /
// --placement given while no listed method reads them is an InputError naming them.
TEST(Options, LayoutAxesOnlyWhereTheMethodReadsThem) {
  const auto& reg = CpMethodRegistry::instance();
  const int world = 4;
  for (auto [axis, flag] : {std::pair{LayoutAxis::kInnerRing, "--inner-ring"},
                            std::pair{LayoutAxis::kPlacement, "--placement"}}) {
    std::vector<std::string> readers, others;
    for (const auto& name : reg.names()) {
      auto m = reg.create(name);
      if (!m->runs_on(world)) continue;
      auto a = m->axes();
      (std::find(a.begin(), a.end(), axis) != a.end() ? readers : others).push_back(name);
    }
    RunOptions o;
    o.seqs = {64};
    if (axis == LayoutAxis::kInnerRing)
      o.inner_ring = 2;
    else
      o.placement = "strided";
    if (!others.empty()) {
      o.methods = others;
      std::string msg = input_error([&] { expand_cases(o, world); });
      EXPECT_NE(msg.find(flag), std::string::npos) << msg;
      for (const auto& r : readers) EXPECT_NE(msg.find(r), std::string::npos) << msg;
    }
    if (readers.empty()) continue;
    o.methods = others;
    o.methods.insert(o.methods.end(), readers.begin(), readers.end());
    for (const CaseSpec& c : expand_cases(o, world)) {
      auto m = reg.create(c.method);
      CpLayout l{.ulysses = c.cp.ulysses_degree,
                 .ring = c.cp.ring_degree,
                 .inner_ring = c.cp.inner_ring,
                 .placement = c.cp.placement};
      EXPECT_EQ(m->normalise(l, world), l) << c.id();
      bool reader = std::find(readers.begin(), readers.end(), c.method) != readers.end();
      const std::string given = axis == LayoutAxis::kInnerRing ? "w2" : "strided";
      EXPECT_EQ(c.id().find(given) != std::string::npos, reader) << c.id();
      EXPECT_EQ(c.params_json()["layout"],
                "P4" + (m->layout_tag(l).empty() ? "" : "-" + m->layout_tag(l)))
          << c.id();
    }
  }
}

TEST(Options, Lists) {
  EXPECT_EQ(split_list("a, b ,c", "--mask"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_NE(input_error([] { split_list("a,,b", "--mask"); }).find("--mask"), std::string::npos);
  EXPECT_EQ(parse_size_list("1024,4k,1M", "--seq"), (std::vector<int64_t>{1024, 4096, 1 << 20}));
  for (const char* bad : {"0", "-5", "abc", "1.5", "12x"})
    EXPECT_NE(input_error([&] { parse_size_list(bad, "--seq"); }).find(bad), std::string::npos)
        << bad;
}

RunOptions tiny() {
  RunOptions o;
  o.kernels = {"cpu_flash"};
  o.masks = {"causal"};
  o.seqs = {64};
  o.heads_q = 2;
  o.head_dim = 16;
  o.warmup = 0;
  o.iters = 2;
  return o;
}

// `run` is a sweep of what was asked: the sweep planner orders its cases (method
// outermost) and, unlike a sweep, keeps a method where it cannot run so the runner
// records it unsupported; the layout is the method's default.
TEST(Options, RunPlansThroughTheSweepPlanner) {
  const auto& reg = CpMethodRegistry::instance();
  std::string only_one_rank, multi_rank;
  for (const auto& name : reg.names()) {
    auto m = reg.create(name);
    if (!m->runs_on(2) && only_one_rank.empty()) only_one_rank = name;
    if (m->runs_on(2) && multi_rank.empty()) multi_rank = name;
  }
  ASSERT_FALSE(multi_rank.empty());
  RunOptions o = tiny();
  o.masks = {"full", "causal"};
  o.methods = {multi_rank};
  if (!only_one_rank.empty()) o.methods.push_back(only_one_rank);
  auto cases = expand_cases(o, 2);
  ASSERT_EQ(cases.size(), 2 * o.methods.size());
  EXPECT_EQ(cases[0].method, multi_rank);
  EXPECT_EQ(cases[0].mask.kind, "full");
  EXPECT_EQ(cases[1].mask.kind, "causal");
  for (const CaseSpec& c : cases) {
    CpLayout d = reg.create(c.method)->default_layout(2);
    EXPECT_EQ(c.cp.ulysses_degree, d.ulysses) << c.id();
    EXPECT_EQ(c.cp.ring_degree, d.ring) << c.id();
    EXPECT_EQ(c.iters, o.iters);
  }
  if (!only_one_rank.empty()) {
    EXPECT_EQ(cases.back().method, only_one_rank);
  }
}

// `run` is a sweep of one config: its flags and the same values written as a sweep
// config give the same cases (ids and params, measurement included) in the same order,
// and --repeat is the config's repeat (samples kept so repetitions pool).
TEST(Options, RunAndAOneConfigSweepPlanTheSameCases) {
  struct Pair {
    int world;
    RunOptions run;
    nlohmann::json sweep;
  };
  RunOptions one = tiny();
  one.masks = {"causal", "sliding_window"};
  one.mask_params.values["window"] = 16;
  one.seqs = {64, 128};
  one.repeat = 3;
  one.verify = true;
  one.timeout_seconds = 30;
  RunOptions two = tiny();
  two.methods = {"ring_p2p"};
  two.shardings = {"contiguous", "zigzag"};
  two.pass = "fwd";
  const nlohmann::json common = {{"kernel", {"cpu_flash"}},
                                 {"heads", {2}},
                                 {"head_dim", {16}},
                                 {"warmup", 0},
                                 {"iterations", 2}};
  nlohmann::json s1 = common, s2 = common;
  using nlohmann::json;  // json::array: two strings in braces would read as a key and value
  s1.update({{"mask", json::array({"causal", {{"kind", "sliding_window"}, {"window", 16}}})},
             {"seqlen", {64, 128}},
             {"pass", {"fwd+bwd"}},
             {"repeat", 3},
             {"verify", true},
             {"timeout_s", 30}});
  s2.update({{"method", {"ring_p2p"}},
             {"sharding", json::array({"contiguous", "zigzag"})},
             {"mask", {"causal"}},
             {"seqlen", {64}},
             {"world", {2}},
             {"timeout_s", 600}});
  for (const Pair& p : {Pair{1, one, s1}, Pair{2, two, s2}}) {
    const std::vector<CaseSpec> run = expand_cases(p.run, p.world);
    const SweepConfig cfg = parse_sweep_config(p.sweep, "one.json");
    ASSERT_EQ(run.size(), cfg.cases.size()) << p.sweep.dump();
    for (size_t i = 0; i < run.size(); ++i) {
      const CaseSpec s = case_spec(cfg.cases[i], cfg.run);
      EXPECT_EQ(run[i].id(), s.id());
      EXPECT_EQ(run[i].params_json(), s.params_json()) << s.id();
      EXPECT_EQ(run[i].keep_samples, p.run.repeat > 1) << s.id();
    }
    EXPECT_EQ(plan_run(p.run, p.world).run.repeat, p.run.repeat);
  }
}

TEST(Options, CartesianProductInDocumentedOrder) {
  RunOptions o = tiny();
  o.masks = {"full", "causal"};
  o.seqs = {64, 128};
  o.methods = {"none"};
  auto cases = expand_cases(o, 1);
  ASSERT_EQ(cases.size(), 4u);
  EXPECT_EQ(cases[0].mask.kind, "full");
  EXPECT_EQ(cases[0].seq, 64);
  EXPECT_EQ(cases[1].seq, 128);
  EXPECT_EQ(cases[2].mask.kind, "causal");
  EXPECT_EQ(cases[0].heads_kv, 2);  // default Hkv = Hq
  EXPECT_NE(cases[0].id(), cases[1].id());
}

TEST(Options, MaskParametersGoOnlyToKindsThatReadThem) {
  RunOptions o = tiny();
  o.masks = {"causal", "sliding_window"};
  o.mask_params.values["window"] = 16;
  auto cases = expand_cases(o, 1);
  ASSERT_EQ(cases.size(), 2u);
  EXPECT_EQ(cases[0].mask.window, 0);
  EXPECT_EQ(cases[1].mask.window, 16);
  o.seed = 7;
  o.masks = {"document"};
  o.mask_params.values.clear();
  EXPECT_EQ(expand_cases(o, 1)[0].mask.seed, 7u);  // mask seed defaults to --seed
  o.mask_seed = 9;
  EXPECT_EQ(expand_cases(o, 1)[0].mask.seed, 9u);
}

TEST(Options, EachBadInputNamesTheValue) {
  struct Bad {
    std::function<void(RunOptions&)> apply;
    std::string named;  // must appear in the message
  };
  std::vector<Bad> bad = {
      {[](RunOptions& o) { o.kernels = {"cuda_magic"}; }, "cuda_magic"},
      {[](RunOptions& o) { o.masks = {"diagonalish"}; }, "diagonalish"},
      {[](RunOptions& o) { o.methods = {"ring_xyz"}; }, "ring_xyz"},
      {[](RunOptions& o) { o.shardings = {"spiral"}; }, "spiral"},
      {[](RunOptions& o) { o.seqs = {0}; }, "--seq 0"},
      {[](RunOptions& o) { o.heads_q = -2; }, "--heads -2"},
      {[](RunOptions& o) { o.heads_kv = 3; }, "--kv-heads 3"},
      {[](RunOptions& o) { o.head_dim = 0; }, "--head-dim 0"},
      {[](RunOptions& o) { o.iters = 0; }, "--iters 0"},
      {[](RunOptions& o) { o.dtype = "fp8"; }, "fp8"},
      {[](RunOptions& o) { o.pass = "sideways"; }, "sideways"},
      {[](RunOptions& o) { o.placement = "diagonal"; }, "diagonal"},
      {[](RunOptions& o) { o.degrees = "q3"; }, "q3"},
      {[](RunOptions& o) {
         o.masks = {"sliding_window"};
         o.mask_params.values["window"] = 1000;
       },
       "1000"},
      {[](RunOptions& o) { o.masks = {"sliding_window"}; }, "--window"},
      {[](RunOptions& o) { o.mask_params.values["window"] = 8; }, "--window"},
      {[](RunOptions& o) {
         o.masks = {"document"};
         o.mask_params.values["doclen"] = "/nonexistent/hist.json";
       },
       "/nonexistent/hist.json"},
      {[](RunOptions& o) {
         o.seqs = {64, 64};
       },
       "twice"},
  };
  for (const auto& b : bad) {
    RunOptions o = tiny();
    b.apply(o);
    std::string msg = input_error([&] { expand_cases(o, 1); });
    EXPECT_NE(msg.find(b.named), std::string::npos)
        << "expected an InputError naming '" << b.named << "', got '" << msg << "'";
  }
}

TEST(Fill, ValuesDependOnGlobalIndexOnly) {
  std::vector<float> whole(8 * 2 * 4), part(3 * 2 * 4);
  fill_tensor(packed_view(whole.data(), DType::kF32, Device::kCpu, 8, 2, 4), 5, FillTensor::kQ,
              {{0, 8}});
  // A zigzag-like shard: tokens 6, 7 then 1.
  fill_tensor(packed_view(part.data(), DType::kF32, Device::kCpu, 3, 2, 4), 5, FillTensor::kQ,
              {{6, 8}, {1, 2}});
  for (int h = 0; h < 2; ++h)
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(part[(0 * 2 + h) * 4 + i], whole[(6 * 2 + h) * 4 + i]);
      EXPECT_EQ(part[(2 * 2 + h) * 4 + i], whole[(1 * 2 + h) * 4 + i]);
    }
  double sum = 0;
  for (float x : whole) {
    EXPECT_GE(x, -1.f);
    EXPECT_LT(x, 1.f);
    sum += x;
  }
  EXPECT_LT(std::abs(sum / whole.size()), 0.3);
  EXPECT_NE(fill_value(5, FillTensor::kQ, 3, 0, 0), fill_value(5, FillTensor::kK, 3, 0, 0));
  EXPECT_NE(fill_value(5, FillTensor::kQ, 3, 0, 0), fill_value(6, FillTensor::kQ, 3, 0, 0));
}

TEST(Memory, PeakRssIsReadable) {
  EXPECT_GT(peak_rss_bytes(), 0);
  EXPECT_GE(peak_rss_bytes(), current_rss_bytes() / 2);
}

// A kernel whose forward throws: the case must end as status "error", not a crash.
class ThrowingKernel : public Kernel {
 public:
  Support supports(const AttentionShape&) const override { return Support::yes(); }
  void forward(const ForwardArgs&, const KernelContext&) override {
    throw std::runtime_error("boom in forward");
  }
  void backward(const BackwardArgs&, const KernelContext&) override {}
};
CPB_REGISTER_KERNEL(test_throwing, ThrowingKernel);

class SelfWorld : public ::testing::Test {
 protected:
  SelfCommunicator world_;
  RunContext ctx_{.world = &world_, .hostnames = {"localhost"}};

  reports::CaseResult run(RunOptions o) {
    auto cases = expand_cases(o, 1);
    EXPECT_EQ(cases.size(), 1u);
    return run_case(cases[0], ctx_);
  }

  // The case inside a minimal valid report, checked by the validator.
  static std::vector<std::string> problems(const reports::CaseResult& r) {
    return reports::validate_case(nlohmann::json::parse(nlohmann::json(r).dump()), 1);
  }
};

TEST_F(SelfWorld, OkCaseWithVerification) {
  RunOptions o = tiny();
  o.verify = true;
  o.masks = {"causal_document"};
  auto r = run(o);
  ASSERT_EQ(r.status, "ok") << r.reason;
  ASSERT_TRUE(r.metrics);
  const auto& m = *r.metrics;
  EXPECT_EQ(r.params["ranks_per_host"], 1);
  EXPECT_EQ(r.params["world_size"], 1);
  EXPECT_EQ(m.step_seconds.iterations, 2);
  EXPECT_GT(m.step_seconds.median, 0);
  EXPECT_DOUBLE_EQ(m.flops, 3.5 * 4.0 * double(m.mask_area) * 16 * 2);
  ASSERT_EQ(m.ranks.size(), 1u);
  EXPECT_EQ(m.ranks[0].local_tokens, 64);
  EXPECT_EQ(m.ranks[0].area, m.mask_area);
  EXPECT_EQ(m.bytes_sent_max, 0);
  EXPECT_GT(m.peak_rss_bytes_max, 0);
  EXPECT_GT(m.compute_seconds, 0);
  EXPECT_LE(m.compute_seconds, m.step_seconds.max * 1.01);
  ASSERT_TRUE(r.verification);
  EXPECT_TRUE(r.verification->passed);
  ASSERT_EQ(r.verification->tensors.size(), 5u);
  for (const auto& t : r.verification->tensors) EXPECT_LT(t.max_rel_error, 1e-4) << t.tensor;
  auto p = problems(r);
  EXPECT_TRUE(p.empty()) << p[0];
}

TEST_F(SelfWorld, ForwardOnlyVerifiesOutAndLse) {
  RunOptions o = tiny();
  o.verify = true;
  o.pass = "fwd";
  o.dtype = "bf16";
  auto r = run(o);
  ASSERT_EQ(r.status, "ok") << r.reason;
  ASSERT_TRUE(r.verification);
  EXPECT_EQ(r.verification->tensors.size(), 2u);
  EXPECT_TRUE(r.verification->passed);
}

TEST_F(SelfWorld, VerificationRefusedAboveTheLimit) {
  RunOptions o = tiny();
  o.verify = true;
  o.pass = "fwd";
  o.seqs = {kVerifyMaxSeq + 1024};
  o.masks = {"causal_sliding_window"};
  o.mask_params.values["window"] = 1;
  o.heads_q = 1;
  o.iters = 1;
  auto r = run(o);
  ASSERT_EQ(r.status, "ok") << r.reason;
  ASSERT_TRUE(r.verification);
  EXPECT_NE(r.verification->skipped_reason.find("too large"), std::string::npos);
  EXPECT_TRUE(problems(r).empty());
}

TEST_F(SelfWorld, UnsupportedIsAResultNotAnError) {
  RunOptions o = tiny();
  o.methods = {"ulysses"};
  o.degrees = "u2";  // 2 x 1 on a world of 1
  auto r = run(o);
  EXPECT_EQ(r.status, "unsupported");
  EXPECT_FALSE(r.reason.empty());
  EXPECT_FALSE(r.metrics);
  EXPECT_TRUE(problems(r).empty());
}

TEST_F(SelfWorld, ExceptionBecomesStatusError) {
  RunOptions o = tiny();
  o.kernels = {"test_throwing"};
  o.pass = "fwd";
  auto r = run(o);
  EXPECT_EQ(r.status, "error");
  EXPECT_NE(r.reason.find("boom in forward"), std::string::npos) << r.reason;
  EXPECT_TRUE(problems(r).empty());
  // The next case on the same world runs normally.
  EXPECT_EQ(run(tiny()).status, "ok");
}

}  // namespace
}  // namespace cpb::bench
