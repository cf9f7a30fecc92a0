// ring_p2p (Ring Attention, pass-KV): each rank keeps its queries; K and V go
// round the ring in P-1 point-to-point hops, the next block in flight while the
// kernel works on the current one; partial outputs merge through the LSE. Each
// step gets the mask restricted to (my tokens, the block owner's tokens), so an
// EMPTY step costs no kernel call (the block is still forwarded). Backward sends
// K, V round again and passes each block's fp32 dK/dV accumulator along, P hops,
// so it ends at its owner. Needs S divisible by the sharding; zigzag balances
// causal masks. ring_degree must be 1 (= P) or P.
#include "parallel/cp_common.h"

namespace cpb {
namespace {

class RingP2pMethod : public HybridCpMethod {
 public:
  std::string label() const override { return "Ring P2P"; }
  CpLayout default_layout(int world) const override { return {.ring = world, .inner_ring = 1}; }

 protected:
  Support layout(const CpConfig& c, HybridLayout* out) const override {
    if (c.ring_degree != 1 && c.ring_degree != c.world)
      return Support::no(fmt::format("ring_p2p rings over every rank: ring_degree {} != world {}",
                                     c.ring_degree, c.world));
    if (c.ulysses_degree != 1)
      return Support::no(
          fmt::format("ring_p2p has no head parallelism: ulysses_degree must be 1, got {}; use usp",
                      c.ulysses_degree));
    *out = {.heads = 1, .ring = c.world, .inner = c.world};
    return Support::yes();
  }
};

}  // namespace

CPB_REGISTER_CP_METHOD(ring_p2p, RingP2pMethod);

}  // namespace cpb
