// ulysses (DeepSpeed-Ulysses): all-to-all sequence -> heads, attention over the
// whole sequence on Hq/P query heads (and the KV heads they use), all-to-all back.
// Communication: 4 all-to-alls forward (q, k, v, out) + the LSE; dout, dq, dk, dv
// backward; volume per rank falls as 1/P. Wins on fast all-to-all fabrics (one
// node). Needs Hq % P == 0 and Hkv % P == 0 or P % Hkv == 0 (KV heads replicated).
// Any sharding works: the gathered sequence is attended with the mask restricted
// to the concatenated shard ranges. ulysses_degree must be 1 (= P) or P.
#include "parallel/cp_common.h"

namespace cpb {
namespace {

class UlyssesMethod : public HybridCpMethod {
 public:
  std::string label() const override { return "Ulysses"; }
  CpLayout default_layout(int world) const override { return {.ulysses = world}; }

 protected:
  Support layout(const CpConfig& c, HybridLayout* out) const override {
    if (c.ulysses_degree != 1 && c.ulysses_degree != c.world)
      return Support::no(fmt::format(
          "ulysses uses every rank as its head-parallel degree: ulysses_degree {} != world {}",
          c.ulysses_degree, c.world));
    if (c.ring_degree != 1)
      return Support::no(fmt::format("ulysses has no ring: ring_degree must be 1, got {}; use usp",
                                     c.ring_degree));
    *out = {.heads = c.world, .ring = 1, .inner = 1};
    return Support::yes();
  }
};

}  // namespace

CPB_REGISTER_CP_METHOD(ulysses, UlyssesMethod);

}  // namespace cpb
