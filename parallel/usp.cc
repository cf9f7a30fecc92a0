// usp (Unified Sequence Parallelism): ulysses_degree x ring_degree = P. Ulysses
// all-to-all inside each head group, pass-KV ring (as ring_p2p) across groups on
// the group's gathered tokens, all-to-all back. placement = contiguous puts a head
// group on consecutive ranks (intra-node all-to-all, ring across nodes); strided
// does the reverse. Needs Hq % ulysses_degree == 0 (and the KV head rule of
// ulysses) and a sharding of S into P shards. inner_ring must be 1 or ring_degree.
#include "parallel/cp_common.h"

namespace cpb {
namespace {

class UspMethod : public HybridCpMethod {
 public:
  std::string label() const override { return "USP"; }
  std::vector<LayoutAxis> axes() const override {
    return {LayoutAxis::kUlysses, LayoutAxis::kRing, LayoutAxis::kPlacement};
  }
  CpLayout default_layout(int world) const override { return square_layout(world); }
  // Every Ulysses x ring split of the world.
  std::vector<CpLayout> sweep_layouts(int world) const override {
    std::vector<CpLayout> out;
    for (int u : divisors(world)) out.push_back({.ulysses = u, .ring = world / u});
    return out;
  }

 protected:
  Support layout(const CpConfig& c, HybridLayout* out) const override {
    if (c.inner_ring != 1 && c.inner_ring != c.ring_degree)
      return Support::no(fmt::format(
          "usp has a single ring: inner_ring must be 1 or the ring degree {}, got {}; use "
          "loongtrain for a double ring",
          c.ring_degree, c.inner_ring));
    *out = {.heads = c.ulysses_degree,
            .ring = c.ring_degree,
            .inner = c.ring_degree,
            .placement = c.placement};
    return Support::yes();
  }
};

}  // namespace

CPB_REGISTER_CP_METHOD(usp, UspMethod);

}  // namespace cpb
