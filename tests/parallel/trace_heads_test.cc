// Per-KV-head masks in the model's trace: every registered method's schedule, traced
// on simulated ranks, issues one kernel call per local KV head (heads_kv 1 each), and
// the calls' visible (query head, query, key) triples add up to the case's exact
// per-head total, forward and backward: what the FLOPs and the cost model rest on.
// With one mask for every head the calls stay whole (no split).
#include <gtest/gtest.h>

#include <algorithm>

#include "masks/generators.h"
#include "masks/head_masks.h"
#include "masks/mask_spec.h"
#include "parallel/cp_common.h"
#include "parallel/trace_execution.h"

namespace cpb {
namespace {

constexpr int kWorld = 4;
constexpr int64_t kSeq = 512, kHq = 8, kHkv = 2;

struct Totals {
  double forward = 0, backward = 0;  // sum of area x heads_q over the calls
  int64_t max_kv_heads = 0;          // widest call, in KV heads
};

Totals trace_totals(const std::string& method, const HeadMasks& masks, bool per_head) {
  const auto m = CpMethodRegistry::instance().create(method);
  const CpProblem problem{
      .shape = {.seq_q = kSeq, .seq_k = kSeq, .heads_q = kHq, .heads_kv = kHkv, .head_dim = 64},
      .mask = &masks.kv[0],
      .scale = 1.0f,
      .config = make_config(m->default_layout(kWorld), kWorld, "zigzag"),
      .head_masks = per_head ? &masks : nullptr};
  const Trace t = trace_method(method, problem, TraceOptions{});
  Totals out;
  for (const RankTrace& r : t.ranks)
    for (const KernelCall& k : r.kernels) {
      (k.backward ? out.backward : out.forward) += double(k.area) * k.heads_q;
      out.max_kv_heads = std::max<int64_t>(out.max_kv_heads, k.heads_kv);
    }
  return out;
}

TEST(TraceHeads, PerHeadCallsAddUpToEveryHeadsArea) {
  MaskSpec spec = example_mask_spec("block_sparse_topk", kSeq, 3);
  spec.per_head = true;
  const HeadMasks masks = make_head_masks(spec, kSeq, kHkv);
  ASSERT_NE(masks.kv[0].slices, masks.kv[1].slices);
  const double total = masks.head_pairs(kHq, kHkv);
  int traced = 0;
  for (const std::string& method : CpMethodRegistry::instance().names()) {
    if (!CpMethodRegistry::instance().create(method)->runs_on(kWorld)) continue;
    SCOPED_TRACE(method);
    const Totals split = trace_totals(method, masks, true);
    EXPECT_EQ(split.forward, total);
    EXPECT_EQ(split.backward, total);
    EXPECT_EQ(split.max_kv_heads, 1);
    // The same schedule with head 0's mask for every head: whole calls.
    const Totals whole = trace_totals(method, masks, false);
    EXPECT_EQ(whole.forward, masks.kv[0].area() * double(kHq));
    EXPECT_GT(whole.max_kv_heads, 0);
    ++traced;
  }
  EXPECT_GE(traced, 4);
}

}  // namespace
}  // namespace cpb
