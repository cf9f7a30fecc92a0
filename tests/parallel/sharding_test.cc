// Shardings over the registry: every plan covers each token exactly once with
// equal counts, for every mask kind and several shard counts; the fixed patterns
// (contiguous, zigzag, striped) are checked literally; balanced is never worse
// than contiguous and fixes causal imbalance.
#include <gtest/gtest.h>

#include <numeric>

#include "masks/generators.h"
#include "masks/mask_spec.h"
#include "parallel/sharding.h"

namespace cpb {
namespace {

Mask example(const std::string& kind, int64_t seq) {
  return make_mask(example_mask_spec(kind, seq, /*seed=*/7), seq);
}

TEST(Sharding, RegistryHoldsTheFour) {
  for (const char* name : {"contiguous", "zigzag", "striped", "balanced"})
    EXPECT_TRUE(ShardingRegistry::instance().contains(name)) << name;
}

TEST(Sharding, EveryPlanCoversEachTokenOnceWithEqualCounts) {
  int plans = 0;
  for (const std::string& name : ShardingRegistry::instance().names()) {
    auto sharding = ShardingRegistry::instance().create(name);
    for (const MaskKindDef& kind : mask_kind_table()) {
      for (int64_t seq : {48, 96, 1000, 1536}) {
        const Mask mask = example(kind.name, seq);
        for (int shards : {1, 2, 3, 4, 8}) {
          if (!sharding->cannot_split(seq, shards).empty()) continue;
          const ShardPlan plan = sharding->plan(mask, shards);
          EXPECT_EQ(plan_error(plan, seq, shards), "")
              << name << " " << kind.name << " S=" << seq << " P=" << shards;
          const auto areas = shard_areas(mask, plan);
          EXPECT_EQ(std::accumulate(areas.begin(), areas.end(), int64_t{0}), mask.area())
              << name << " " << kind.name << " S=" << seq << " P=" << shards;
          ++plans;
        }
      }
    }
  }
  EXPECT_GT(plans, 200);
}

TEST(Sharding, CannotSplitSaysWhy) {
  auto& reg = ShardingRegistry::instance();
  EXPECT_NE(reg.create("contiguous")->cannot_split(10, 3), "");
  EXPECT_EQ(reg.create("contiguous")->cannot_split(12, 3), "");
  // zigzag needs 2P chunks: 12 tokens split into 4 shards is fine for contiguous only.
  EXPECT_EQ(
      reg.create("zigzag")->cannot_split(12, 4).find("not divisible by 8") != std::string::npos,
      true);
  EXPECT_EQ(reg.create("zigzag")->cannot_split(16, 4), "");
  for (const std::string& name : reg.names()) {
    EXPECT_NE(reg.create(name)->cannot_split(100, 0), "") << name;
    EXPECT_NE(reg.create(name)->cannot_split(0, 2), "") << name;
    EXPECT_NE(reg.create(name)->cannot_split(7, 2), "") << name;
  }
  const Mask mask = example("causal", 12);
  EXPECT_THROW(make_shard_plan("zigzag", mask, 4), InputError);
  EXPECT_THROW(make_shard_plan("no_such_sharding", mask, 2), InputError);
  EXPECT_NO_THROW(make_shard_plan("contiguous", mask, 4));
}

TEST(Sharding, ContiguousAndZigzagPatterns) {
  const Mask mask = example("causal", 16);
  const ShardPlan contiguous = make_shard_plan("contiguous", mask, 4);
  EXPECT_EQ(contiguous, (ShardPlan{{{0, 4}}, {{4, 8}}, {{8, 12}}, {{12, 16}}}));
  // 8 chunks of 2: shard r holds chunks r and 7 - r.
  const ShardPlan zigzag = make_shard_plan("zigzag", mask, 4);
  EXPECT_EQ(
      zigzag,
      (ShardPlan{{{0, 2}, {14, 16}}, {{2, 4}, {12, 14}}, {{4, 6}, {10, 12}}, {{6, 8}, {8, 10}}}));
}

TEST(Sharding, StripedRoundRobin) {
  // S/P = 12: the widest power of two <= 64 dividing it is 4.
  const Mask mask = example("full", 36);
  const ShardPlan plan = make_shard_plan("striped", mask, 3);
  EXPECT_EQ(plan, (ShardPlan{{{0, 4}, {12, 16}, {24, 28}},
                             {{4, 8}, {16, 20}, {28, 32}},
                             {{8, 12}, {20, 24}, {32, 36}}}));
  // Large S/P: stripes of 64 tokens.
  const ShardPlan big = make_shard_plan("striped", example("full", 1024), 4);
  ASSERT_EQ(big[1].size(), 4u);
  EXPECT_EQ(big[1][0], (Range{64, 128}));
  EXPECT_EQ(big[1][1], (Range{320, 384}));
}

TEST(Sharding, ZigzagBalancesCausalExactly) {
  const Mask mask = example("causal", 4096);
  const auto areas = shard_areas(mask, make_shard_plan("zigzag", mask, 4));
  for (int64_t a : areas) EXPECT_EQ(a, areas[0]);
}

TEST(Sharding, BalancedBeatsContiguousOnCausal) {
  for (int shards : {2, 4, 8}) {
    const Mask mask = example("causal", 8192);
    const double contiguous =
        imbalance(shard_areas(mask, make_shard_plan("contiguous", mask, shards)));
    const double balanced = imbalance(shard_areas(mask, make_shard_plan("balanced", mask, shards)));
    EXPECT_GT(contiguous, 1.3) << "P=" << shards;
    EXPECT_LT(balanced, 1.01) << "P=" << shards;
  }
}

// Balanced is never worse than contiguous beyond its 1% slack (its m = 1 candidate
// has contiguous's largest area);
// print the imbalance of every sharding per mask kind for the record.
TEST(Sharding, BalancedNeverWorseThanContiguous) {
  const int64_t seq = 8192;
  const int shards = 8;
  for (const MaskKindDef& kind : mask_kind_table()) {
    const Mask mask = example(kind.name, seq);
    std::string line = kind.name + ":";
    double contiguous = 0, balanced = 0;
    for (const std::string& name : ShardingRegistry::instance().names()) {
      const double x = imbalance(shard_areas(mask, make_shard_plan(name, mask, shards)));
      line += " " + name + "=" + std::to_string(x).substr(0, 5);
      if (name == "contiguous") contiguous = x;
      if (name == "balanced") balanced = x;
    }
    EXPECT_LE(balanced, contiguous * 1.01 + 1e-12) << kind.name;
    EXPECT_LT(balanced, 1.05) << kind.name;
    std::printf("imbalance max/mean S=%lld P=%d %s\n", static_cast<long long>(seq), shards,
                line.c_str());
  }
}

TEST(Sharding, PlanErrorCatchesBadPlans) {
  EXPECT_NE(plan_error({{{0, 4}}, {{2, 8}}}, 8, 2), "");          // overlap
  EXPECT_NE(plan_error({{{0, 4}}, {{5, 9}}}, 9, 2), "");          // gap
  EXPECT_NE(plan_error({{{0, 3}}, {{3, 8}}}, 8, 2), "");          // unequal counts
  EXPECT_NE(plan_error({{{0, 4}}, {{4, 8}}}, 8, 3), "");          // shard count
  EXPECT_NE(plan_error({{{0, 4}, {4, 4}}, {{4, 8}}}, 8, 2), "");  // empty range
  EXPECT_EQ(plan_error({{{0, 2}, {6, 8}}, {{2, 6}}}, 8, 2), "");
  EXPECT_EQ(imbalance({}), 1.0);
  EXPECT_EQ(imbalance({0, 0}), 1.0);
  EXPECT_DOUBLE_EQ(imbalance({1, 3}), 1.5);
}

}  // namespace
}  // namespace cpb
