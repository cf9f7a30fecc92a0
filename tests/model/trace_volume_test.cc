// The trace runs the real schedule: for every registered CP method, every layout
// it sweeps and every sharding, the bytes the trace communicator counted on each
// simulated rank equal the method's expected_volume(), pass by pass.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

#include "masks/generators.h"
#include "masks/mask_spec.h"
#include "model/plan.h"
#include "model/profile.h"
#include "parallel/cp_common.h"
#include "parallel/cp_method.h"
#include "parallel/sharding.h"
#include "parallel/trace_execution.h"

namespace cpb {
namespace {

CpProblem problem_of(const Mask& mask, int64_t S, int64_t hq, int64_t hkv, const CpConfig& c) {
  return {.shape = {.seq_q = S,
                    .seq_k = S,
                    .heads_q = hq,
                    .heads_kv = hkv,
                    .head_dim = 16,
                    .dtype = DType::kBF16},
          .mask = &mask,
          .scale = 0.25f,
          .config = c};
}

TEST(TraceVolume, EveryMethodLayoutAndShardingMatchesExpectedVolume) {
  const int64_t S = 512;
  const Mask mask = make_mask(example_mask_spec("causal_document", S, 2), S);
  int traced = 0;
  for (const auto& name : CpMethodRegistry::instance().names()) {
    auto method = CpMethodRegistry::instance().create(name);
    for (int world : {1, 2, 4, 8}) {
      if (!method->runs_on(world)) continue;
      for (const CpLayout& layout : method->sweep_layouts(world))
        for (const auto& sharding : ShardingRegistry::instance().names())
          for (int64_t hkv : {int64_t{8}, int64_t{2}}) {
            const CpProblem p = problem_of(mask, S, 8, hkv, make_config(layout, world, sharding));
            if (!method->supports(p).ok()) continue;
            const Trace t = trace_method(name, p, {});
            const std::string id = fmt::format("{} P={} {} {} hkv={}", name, world,
                                               method->layout_tag(layout), sharding, hkv);
            ASSERT_EQ(static_cast<int>(t.ranks.size()), world) << id;
            for (const RankTrace& r : t.ranks) {
              EXPECT_EQ(r.forward_stats.bytes_sent(), r.expected.forward_bytes_sent) << id;
              EXPECT_EQ(r.forward_stats.bytes_received(), r.expected.forward_bytes_received) << id;
              EXPECT_EQ(r.backward_stats.bytes_sent(), r.expected.backward_bytes_sent) << id;
              EXPECT_EQ(r.backward_stats.bytes_received(), r.expected.backward_bytes_received)
                  << id;
              EXPECT_GT(r.memory.peak_bytes, 0) << id;
            }
            // Every query row's visible pairs are computed exactly once per pass.
            int64_t area = 0, fwd_area = 0;
            for (const RankTrace& r : t.ranks) {
              area += r.area;
              for (const KernelCall& k : r.kernels)
                if (!k.backward) fwd_area += k.area * k.heads_q;
            }
            EXPECT_EQ(area, mask.area()) << id;
            EXPECT_EQ(fwd_area, mask.area() * 8) << id;
            ++traced;
          }
    }
  }
  EXPECT_GT(traced, 20);
}

// A shard plan made once by the caller (CpProblem::shard_plan) is the one every
// rank would make itself, so a trace that shares it equals one that does not.
TEST(TraceVolume, SharedShardPlanEqualsEachRanksOwn) {
  const int64_t S = 1024;
  const Mask mask = make_mask(example_mask_spec("causal_document", S, 4), S);
  for (const auto& sharding : ShardingRegistry::instance().names()) {
    CpProblem p = problem_of(mask, S, 8, 2, make_config({.ulysses = 2, .ring = 4}, 8, sharding));
    const ShardPlan own = make_plan(p, 8);
    const ShardPlan shared = make_shard_plan(sharding, mask, 8);
    p.shard_plan = &shared;
    EXPECT_EQ(make_plan(p, 8), own) << sharding;
    // Contiguous placement: rank r holds shard r.
    const Trace t = trace_method("usp", p, {});
    ASSERT_EQ(t.ranks.size(), 8u);
    for (const RankTrace& r : t.ranks)
      EXPECT_EQ(r.area, mask.restrict(own[r.rank], std::vector<Range>{{0, S}}).area()) << sharding;
  }
}

TEST(TraceVolume, UnsupportedCaseIsAnInputErrorNamingWhy) {
  const Mask mask = make_mask(example_mask_spec("causal", 64, 0), 64);
  const CpProblem p = problem_of(mask, 64, 6, 6, make_config({.ulysses = 4}, 4, "contiguous"));
  EXPECT_THROW(trace_method("ulysses", p, {}), InputError);
  EXPECT_THROW(trace_method("no_such_method", p, {}), InputError);
}

// The model's own speed at scale: 1024 ranks, S = 1M, a ring of 1024 (the most ops
// per rank), traced and replayed on the shipped H100 profiles (docs/perf/model.md's
// configurations per second). Bounded loosely (about 2 s of CPU on a quiet 2-core
// machine) so CI notices a regression to S x S or a quadratic replay.
TEST(TraceVolume, ThousandRanksAtOneMillionTokensInSeconds) {
  const int64_t S = int64_t{1} << 20;
  const Mask mask = make_mask(example_mask_spec("causal", S, 0), S);
  CpProblem p = problem_of(mask, S, 64, 8, make_config({.ring = 1024}, 1024, "zigzag"));
  p.shape.head_dim = 128;
  const model::KernelProfile kp = model::load_kernel_profile("h100_flash");
  const model::Topology topo = model::load_topology("h100_8x_ndr400");
  const model::ModelInputs in{.kernels = &kp, .kernel = "fa3", .topology = &topo};
  const auto t0 = std::chrono::steady_clock::now();
  const Trace t = model::trace_case("ring_p2p", p, in);
  const auto t1 = std::chrono::steady_clock::now();
  const model::Prediction pred = model::replay(t, kp, "fa3", topo, model::replay_options(in));
  const auto t2 = std::chrono::steady_clock::now();
  const double trace_s = std::chrono::duration<double>(t1 - t0).count();
  const double replay_s = std::chrono::duration<double>(t2 - t1).count();
  EXPECT_EQ(t.ranks.size(), 1024u);
  EXPECT_EQ(t.ranks[5].forward_stats.bytes_sent(), t.ranks[5].expected.forward_bytes_sent);
  EXPECT_GT(pred.step_seconds, pred.compute_seconds);
  EXPECT_LT(trace_s + replay_s, 60.0);
  std::printf("ring_p2p P=1024 S=1M: trace %.2f s + replay %.2f s, %zu ops on rank 0\n", trace_s,
              replay_s, t.ranks[0].ops.size());
}

}  // namespace
}  // namespace cpb
