// The planner on a small world: every registered method is considered, the ok
// candidates come first in predicted step time, a tight budget drops them, and
// the prediction of a case follows the trace (more ranks on a ring: less compute).
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "masks/generators.h"
#include "masks/mask_spec.h"
#include "model/plan.h"

namespace cpb::model {
namespace {

struct Fixture {
  KernelProfile kernels = load_kernel_profile("h100_flash");
  Topology topo = load_topology("h100_8x_ndr400");
  Mask mask = make_mask(example_mask_spec("causal_document", 32768, 3), 32768);
  PlanRequest request() const {
    return {.shape = {.seq_q = 32768,
                      .seq_k = 32768,
                      .heads_q = 16,
                      .heads_kv = 4,
                      .head_dim = 128,
                      .dtype = DType::kBF16},
            .mask = &mask,
            .world = 16};
  }
  ModelInputs inputs() const { return {.kernels = &kernels, .kernel = "fa3", .topology = &topo}; }
};

TEST(Plan, RanksEveryMethodOnTwoNodes) {
  Fixture f;
  const auto plan = model::plan(f.request(), f.inputs());
  std::set<std::string> methods;
  double last = 0;
  bool in_ok = true;
  for (const auto& c : plan) {
    if (c.status != "ok") {
      in_ok = false;
      EXPECT_FALSE(c.reason.empty()) << c.describe();
      continue;
    }
    EXPECT_TRUE(in_ok) << "ok candidates come first";
    EXPECT_GE(c.prediction.step_seconds, last) << c.describe();
    EXPECT_GT(c.prediction.compute_seconds, 0) << c.describe();
    last = c.prediction.step_seconds;
    methods.insert(c.method);
  }
  for (const char* m : {"ulysses", "ring_p2p", "ring_allgather", "usp", "loongtrain"})
    EXPECT_TRUE(methods.count(m)) << m;
  ASSERT_GE(plan.size(), 2u);
  const std::string why = why_wins(plan[0], plan[1]);
  EXPECT_TRUE(why.find("faster than") != std::string::npos ||
              why.find("ties with") != std::string::npos)
      << why;
}

// Pruning by the compute-queue bound changes nothing a user reads: the first N ok
// candidates and the best of each method are those of the plan that replays all.
TEST(Plan, PruningKeepsTheTopAndEachMethodsBest) {
  Fixture f;
  const auto full = model::plan(f.request(), f.inputs());
  PlanRequest r = f.request();
  r.exact_top = 3;
  const auto pruned = model::plan(r, f.inputs());
  ASSERT_EQ(pruned.size(), full.size());
  for (int i = 0; i < r.exact_top; ++i) {
    ASSERT_EQ(pruned[i].status, "ok");
    EXPECT_EQ(pruned[i].describe(), full[i].describe()) << i;
    EXPECT_EQ(pruned[i].prediction.step_seconds, full[i].prediction.step_seconds) << i;
  }
  auto best_of = [](const std::vector<PlanCandidate>& plan) {
    std::map<std::string, std::string> best;
    for (const auto& c : plan)
      if (c.status == "ok") best.try_emplace(c.method, c.describe());
    return best;
  };
  EXPECT_EQ(best_of(pruned), best_of(full));
  int n_pruned = 0;
  for (const auto& c : pruned) {
    if (c.status != "pruned") continue;
    ++n_pruned;
    // Its bound is below its true step, which is no better than the 3rd best.
    for (const auto& o : full)
      if (o.describe() == c.describe()) {
        EXPECT_LE(c.prediction.compute_seconds, o.prediction.step_seconds) << c.describe();
        EXPECT_GE(o.prediction.step_seconds, full[2].prediction.step_seconds) << c.describe();
      }
  }
  EXPECT_GT(n_pruned, 0) << "the fixture should exercise pruning";
}

TEST(Plan, TightBudgetDropsEverything) {
  Fixture f;
  PlanRequest r = f.request();
  r.memory_budget_bytes = 1e3;
  r.methods = {"ring_p2p"};
  for (const auto& c : model::plan(r, f.inputs()))
    EXPECT_EQ(c.status, "over_budget") << c.describe();
}

TEST(Plan, WorldNotNodesTimesRanksIsAnInputError) {
  Fixture f;
  PlanRequest r = f.request();
  r.world = 12;
  EXPECT_THROW(model::plan(r, f.inputs()), InputError);
}

TEST(Predict, MoreRingRanksLessComputePerRank) {
  Fixture f;
  PlanRequest r = f.request();
  auto at = [&](int world) {
    CpProblem p{.shape = r.shape,
                .mask = r.mask,
                .scale = 1.0f,
                .config = make_config({.ring = world}, world, "zigzag")};
    return predict("ring_p2p", p, f.inputs());
  };
  const Prediction p8 = at(8), p16 = at(16);
  EXPECT_LT(p16.compute_seconds, p8.compute_seconds);
  EXPECT_GT(p8.ranks[0].bytes_sent, 0);
  EXPECT_EQ(p8.ranks[0].bytes_sent, p8.ranks[0].expected_bytes_sent);
}

}  // namespace
}  // namespace cpb::model
