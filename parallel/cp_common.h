// Shared machinery of the CP methods: kernel timing, owned communicators whose
// stats are summed, support checks, head slicing / all-to-all packing (Ulysses)
// and the pass-KV ring engine (single ring = double ring with one outer step).
// Decision: every method builds private sub-communicators in setup() and never
// talks on the world communicator, so its measured bytes are exactly its own.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "kernels/kernel.h"
#include "masks/mask.h"
#include "parallel/communicator.h"
#include "parallel/cp_method.h"
#include "parallel/sharding.h"

namespace cpb {

// Sums the wall time of the kernel calls it wraps (steady clock).
class KernelClock {
 public:
  void reset() { seconds_ = 0; }
  double seconds() const { return seconds_; }
  template <typename F>
  void time(F&& f) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

 private:
  double seconds_ = 0;
};

// Communicators a method owns; stats are the op-by-op sum over all of them.
// Byte convention (the backends'): a rank's bytes_sent/received count payload to
// and from *other* ranks only; all_to_all and all_gather move (P-1) blocks each
// way, reduce_scatter_sum (P-1) fp32 blocks, a p2p op its size (0 to itself).
// A 2-D method's traffic is the head-group sum plus the ring-group sum; every
// expected_volume() below is written in that convention, per rank, and sent
// equals received for every method because all schedules are symmetric.
class CommGroup {
 public:
  Communicator& add(std::unique_ptr<Communicator> c) {
    comms_.push_back(std::move(c));
    return *comms_.back();
  }
  CommStats stats() const;
  void reset_stats() {
    for (auto& c : comms_) c->reset_stats();
  }

 private:
  std::vector<std::unique_ptr<Communicator>> comms_;
};

// Checks every method shares: a global S x S mask, CPU tensors, a registered
// sharding that can split S into `shards`, the world size. Same on every rank.
Support check_common(const CpProblem& problem, int shards);

// Rank-independent plan of the configured sharding.
ShardPlan make_plan(const CpProblem& problem, int shards);

int64_t total_tokens(const std::vector<Range>& ranges);

// The most square Ulysses x ring split of `world`, the Ulysses side the larger
// (it wants the fast intra-node links): the default of the 2-D methods.
CpLayout square_layout(int world);

}  // namespace cpb

namespace cpb {

// Owning host buffer; std::vector<std::byte> storage is 16-byte aligned by new.
struct HostBuffer {
  std::vector<std::byte> bytes;
  void* resize(std::size_t n) {
    bytes.assign(n, std::byte{0});
    return bytes.data();
  }
  void* data() { return bytes.data(); }
  float* f32() { return reinterpret_cast<float*>(bytes.data()); }
};

// An LSE [tokens, heads] seen as a tensor with head_dim 1, so the head slicing
// and all-to-all helpers treat it like out.
TensorView lse_as_tensor(const LseView& lse);
LseView tensor_as_lse(const TensorView& t);

// dst[dt0 + i, dh0 + h, :] (=|+=) src[st0 + i, sh0 + h, :] for i < tokens, h < heads.
// Copies bytes when dtypes match and add is false; else converts through fp32.
void copy_rows(const TensorView& src, int64_t st0, int64_t sh0, const TensorView& dst, int64_t dt0,
               int64_t dh0, int64_t tokens, int64_t heads, bool add);
void zero(const TensorView& t);

// How Ulysses deals heads to the U members of a group: member j gets `count`
// heads starting at first[j]. Query heads are always split (Hq % U == 0); KV
// heads are split when Hkv % U == 0, else each member gets the single KV head its
// query heads use (needs U % Hkv == 0), i.e. KV heads are replicated U/Hkv times.
struct HeadSplit {
  int64_t count = 0;
  std::vector<int64_t> first;
};
HeadSplit query_split(int64_t heads_q, int group);
HeadSplit kv_split(int64_t heads_q, int64_t heads_kv, int group);
// Empty when KV heads can be split or replicated evenly over `group`, else why not.
std::string kv_split_problem(int64_t heads_q, int64_t heads_kv, int group);

// Sequence -> heads: src [L, H, d] (this member's tokens, all heads) becomes dst
// packed [U*L, count, d] (every member's tokens, my heads; member j's rows at
// j*L). One all_to_all of U blocks of L*count*d elements.
void seq_to_heads(Communicator& c, const TensorView& src, const HeadSplit& split, void* dst,
                  HostBuffer& scratch);
// Heads -> sequence, the inverse: src packed [U*L, count, d] -> dst [L, H, d].
// add=true sums into dst (fp32 gradients of replicated KV heads; caller zeroes).
void heads_to_seq(Communicator& c, const void* src, DType src_dtype, int64_t L, int64_t d,
                  const HeadSplit& split, const TensorView& dst, bool add, HostBuffer& scratch);

// Pass-KV ring attention over a ring communicator of R = outer * inner members.
// Member m = a * inner + b sits in inner ring a at position b. Step t = o*inner+i
// computes on the KV block of member ((a-o) mod outer, (b-i) mod inner): KV moves
// one hop round the inner ring per step and one hop round the outer ring per
// outer step, each transfer posted before the compute it overlaps. With outer = 1
// it is the plain ring. Backward moves KV the same way and passes the fp32 dK/dV
// accumulator of each block along the block's path; the R-th hop lands it home.
class RingAttention {
 public:
  struct Setup {
    Communicator* ring;                       // R members, rank = member index
    int inner = 1;                            // inner ring width W, R % W == 0
    const Mask* mask;                         // global mask
    std::vector<std::vector<Range>> members;  // global token ranges of each member, local order
    Kernel* kernel;
    float scale;
    int64_t heads_q = 0, heads_kv = 0, head_dim = 0;  // local (after any head split)
    DType dtype = DType::kF32;
  };
  void setup(Setup s);
  // q [L, hq, d]; k, v [L, hk, d] (any strides); out [L, hq, d]; lse [L, hq].
  void forward(const TensorView& q, const TensorView& k, const TensorView& v, const TensorView& out,
               const LseView& lse, KernelClock& clock);
  // out, lse: global (merged) ones; dq [L, hq, d] fp32 and dk, dv [L, hk, d] fp32
  // are overwritten.
  void backward(const TensorView& q, const TensorView& k, const TensorView& v,
                const TensorView& out, const TensorView& dout, const LseView& lse,
                const TensorView& dq, const TensorView& dk, const TensorView& dv,
                KernelClock& clock);
  int64_t tokens() const { return tokens_; }
  // Bytes each member sends (= receives) per pass.
  int64_t forward_bytes() const;
  int64_t backward_bytes() const;

 private:
  int peer(int da, int db) const;  // member at (a + da, b + db), wrapped
  TensorView kv_view(HostBuffer& b, int which, DType dt) const;  // 0 = K, 1 = V

  Setup s_{};
  int me_ = 0, outer_ = 1, a_ = 0, b_ = 0;
  int64_t tokens_ = 0;
  std::vector<Mask> step_mask_;  // [t] my queries x the KV block held at step t
  HostBuffer kv_[4], acc_out_, part_out_, acc_lse_, part_lse_, dkv_[3];
};

}  // namespace cpb

namespace cpb {

// Degrees of a head-parallel x ring method: `heads` ranks split the heads
// (Ulysses all-to-all), `ring` groups of them pass KV round a ring of width
// `inner` (inner == ring: one ring). heads * ring == world.
struct HybridLayout {
  int heads = 1, ring = 1, inner = 1;
  Placement placement = Placement::kContiguous;
};

// ulysses (heads = P), ring_p2p (ring = P), usp and loongtrain are all this
// schedule: all-to-all seq->heads inside the head group, RingAttention across
// groups, all-to-all back. Shard s = g*heads + u goes to the rank at head-group
// position u of ring member g, so a ring member's tokens are the concatenation
// of its group's shards in order. Backward reuses the head-layout q, k, v, out
// and LSE the preceding forward() built (as autograd saves them), so it sends
// only dout and the three gradients; with heads == 1 it uses the tensors given.
class HybridCpMethod : public CpMethod {
 public:
  Support supports(const CpProblem& problem) const override;
  void setup(const CpProblem& problem, Communicator& world, Kernel& kernel) override;
  std::vector<Range> local_tokens() const override { return local_; }
  void forward(CpTensors& t) override;
  void backward(CpTensors& t) override;
  CommVolume expected_volume() const override;
  double compute_seconds() const override { return clock_.seconds(); }
  CommStats comm_stats() const override { return comms_.stats(); }
  void reset_comm_stats() override { comms_.reset_stats(); }

 protected:
  // The method's degrees from the config, or why the config does not fit it.
  virtual Support layout(const CpConfig& config, HybridLayout* out) const = 0;

 private:
  CpProblem problem_{};
  HybridLayout lay_{};
  CommGroup comms_;
  Communicator* heads_comm_ = nullptr;
  Communicator* ring_comm_ = nullptr;
  std::vector<Range> local_;
  HeadSplit qsplit_, kvsplit_;
  int64_t L_ = 0;
  RingAttention ring_;
  KernelClock clock_;
  bool have_forward_ = false;
  HostBuffer qh_, kh_, vh_, outh_, lseh_, douth_, dqh_, dkh_, dvh_, scratch_;
};

}  // namespace cpb
