// Shared machinery of the CP methods: kernel timing, owned communicators whose
// stats are summed, support checks, head slicing / all-to-all packing (Ulysses)
// and the pass-KV ring engine (single ring = double ring with one outer step).
// Decision: every method builds private sub-communicators in setup() and never
// talks on the world communicator, so its measured bytes are exactly its own.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kernels/kernel.h"
#include "masks/mask.h"
#include "parallel/communicator.h"
#include "parallel/cp_method.h"
#include "parallel/execution.h"
#include "parallel/sharding.h"

namespace cpb {

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

// Checks every method shares: a global S x S mask (and per-KV-head masks, when
// given, one per KV head of the same size), a registered sharding that can split S
// into `shards`, the world size. Same on every rank.
Support check_common(const CpProblem& problem, int shards);

// The global masks of the problem's KV heads: problem.head_masks' entries, or the
// one problem.mask for every head. Kernel calls go through parallel/execution_heads.h.
std::span<const Mask> global_kv_masks(const CpProblem& problem);

// Rank-independent plan of the configured sharding.
ShardPlan make_plan(const CpProblem& problem, int shards);

int64_t total_tokens(const std::vector<Range>& ranges);

// The most square Ulysses x ring split of `world`, the Ulysses side the larger
// (it wants the fast intra-node links): the default of the 2-D methods.
CpLayout square_layout(int world);

}  // namespace cpb

namespace cpb {

// Packed [tokens, heads, head_dim] view of an execution buffer.
TensorView buffer_view(const ExecBuffer& b, DType dt, Device dev, int64_t tokens, int64_t heads,
                       int64_t head_dim, std::size_t byte_offset = 0);

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
void seq_to_heads(Execution& x, Communicator& c, const TensorView& src, const HeadSplit& split,
                  void* dst, ExecBuffer& scratch);
// Heads -> sequence, the inverse: src packed [U*L, count, d] -> dst [L, H, d].
// add=true sums into dst (gradients of replicated KV heads; caller zeroes).
void heads_to_seq(Execution& x, Communicator& c, const void* src, DType src_dtype, int64_t L,
                  int64_t d, const HeadSplit& split, const TensorView& dst, bool add,
                  ExecBuffer& scratch);

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
    Execution* exec;                          // where the data lives and work is queued
    Communicator* ring;                       // R members, rank = member index
    int inner = 1;                            // inner ring width W, R % W == 0
    std::span<const Mask> masks;              // global mask of each local KV head, or one for all
    std::vector<std::vector<Range>> members;  // global token ranges of each member, local order
    Kernel* kernel;
    float scale;
    int64_t heads_q = 0, heads_kv = 0, head_dim = 0;  // local (after any head split)
    DType dtype = DType::kF32;
  };
  void setup(Setup s);
  // q [L, hq, d]; k, v [L, hk, d] (any strides); out [L, hq, d]; lse [L, hq].
  void forward(const TensorView& q, const TensorView& k, const TensorView& v, const TensorView& out,
               const LseView& lse);
  // out, lse: global (merged) ones; dq [L, hq, d] fp32 and dk, dv [L, hk, d] fp32
  // are overwritten.
  void backward(const TensorView& q, const TensorView& k, const TensorView& v,
                const TensorView& out, const TensorView& dout, const LseView& lse,
                const TensorView& dq, const TensorView& dk, const TensorView& dv);
  int64_t tokens() const { return tokens_; }
  // Bytes each member sends (= receives) per pass.
  int64_t forward_bytes() const;
  int64_t backward_bytes() const;

 private:
  int peer(int da, int db) const;  // member at (a + da, b + db), wrapped
  // Moves the K/V blocks round the double ring, calling step(t, i, block) at each step.
  template <class Step>
  void walk_kv(const TensorView& k, const TensorView& v, Step&& step);
  TensorView kv_view(const ExecBuffer& b, int which, DType dt) const;  // 0 = K, 1 = V

  Setup s_{};
  int me_ = 0, outer_ = 1, a_ = 0, b_ = 0;
  int64_t tokens_ = 0;
  // [t][g] my queries x the KV block held at step t, for local KV head g (one entry
  // when every head shares the mask); step_empty_[t]: no head sees a key there.
  std::vector<std::vector<Mask>> step_mask_;
  std::vector<bool> step_empty_;
  ExecBuffer kv_[4], acc_out_, part_out_, acc_lse_, part_lse_, dkv_[3];
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
  void setup(const CpProblem& problem, Communicator& world, Kernel& kernel,
             Execution& exec) override;
  std::vector<Range> local_tokens() const override { return local_; }
  void forward(CpTensors& t) override;
  void backward(CpTensors& t) override;
  CommVolume expected_volume() const override;
  CommStats comm_stats() const override { return comms_.stats(); }
  void reset_comm_stats() override { comms_.reset_stats(); }

 protected:
  // The method's degrees from the config, or why the config does not fit it.
  virtual Support layout(const CpConfig& config, HybridLayout* out) const = 0;

 private:
  CpProblem problem_{};
  HybridLayout lay_{};
  Execution* exec_ = nullptr;
  CommGroup comms_;
  Communicator* heads_comm_ = nullptr;
  // Moves the forward's LSE back to sequence layout for the caller (--verify): a
  // harness need, not the method's (training keeps the LSE in head layout for
  // backward), so it talks on its own communicator, outside comms_' counts.
  std::unique_ptr<Communicator> lse_comm_;
  Communicator* ring_comm_ = nullptr;
  std::vector<Range> local_;
  HeadSplit qsplit_, kvsplit_;
  int64_t L_ = 0;
  RingAttention ring_;
  bool have_forward_ = false;
  // Head-layout activations (saved by forward for backward, as autograd would)
  // and fp32 gradients, plus their storage-dtype copies that travel home.
  ExecBuffer qh_, kh_, vh_, outh_, lseh_, douth_, dqh_, dkh_, dvh_, grad_out_, scratch_;
};

}  // namespace cpb
