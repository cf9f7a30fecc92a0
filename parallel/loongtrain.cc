// loongtrain (LoongTrain 2D-Attention): head-parallel degree (ulysses_degree) x
// context ring of ring_degree ranks laid out as ring_degree/W inner rings of
// width W = inner_ring (double-ring attention). KV moves one hop round the inner
// ring per step; at the start of each inner round the next round's block is
// fetched from the neighbouring inner ring, overlapping the whole round. Same
// bytes as usp (R-1 KV hops) but W-1 of every W hops stay inside an inner ring
// (intra-node), and the outer hop has W steps of compute to hide behind.
// Backward passes dK/dV accumulators along the blocks' paths, R hops home.
// Needs ring_degree % inner_ring == 0, plus the usp rules.
#include "parallel/cp_common.h"

namespace cpb {
namespace {

class LoongTrainMethod : public HybridCpMethod {
 public:
  std::string label() const override { return "LoongTrain"; }
  std::vector<LayoutAxis> axes() const override {
    return {LayoutAxis::kUlysses, LayoutAxis::kRing, LayoutAxis::kInnerRing,
            LayoutAxis::kPlacement};
  }
  CpLayout default_layout(int world) const override { return square_layout(world); }
  // Every Ulysses x ring split, and every inner ring width dividing the ring.
  std::vector<CpLayout> sweep_layouts(int world) const override {
    std::vector<CpLayout> out;
    for (int u : divisors(world))
      for (int w : divisors(world / u))
        out.push_back({.ulysses = u, .ring = world / u, .inner_ring = w});
    return out;
  }

 protected:
  Support layout(const CpConfig& c, HybridLayout* out) const override {
    *out = {.heads = c.ulysses_degree,
            .ring = c.ring_degree,
            .inner = c.inner_ring,
            .placement = c.placement};
    return Support::yes();
  }
};

}  // namespace

CPB_REGISTER_CP_METHOD(loongtrain, LoongTrainMethod);

}  // namespace cpb
