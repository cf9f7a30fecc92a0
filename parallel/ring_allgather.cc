// ring_allgather (Llama-3 style CP): all-gather K and V from every rank, then one
// kernel call of my queries against the whole gathered sequence with the mask
// restricted to (my shard, all shards in rank order), so any sharding and mask
// kind stays exact. Backward gathers K and V again (only the local shards are
// kept between passes), computes dK/dV for every gathered key in fp32 and
// reduce-scatters them home. Simple and robust for GQA (Hkv small); the gathered
// K, V cost S*Hkv*D memory per rank. ring_degree must be 1 (= P) or P.
#include <algorithm>

#include "parallel/cp_common.h"
#include "parallel/execution_heads.h"

namespace cpb {
namespace {

class RingAllGatherMethod : public CpMethod {
 public:
  std::string label() const override { return "Ring AllGather"; }
  CpLayout default_layout(int world) const override { return {.ring = world}; }

  Support supports(const CpProblem& problem) const override {
    const CpConfig& c = problem.config;
    if (c.ring_degree != 1 && c.ring_degree != c.world)
      return Support::no(
          fmt::format("ring_allgather gathers over every rank: ring_degree {} != world {}",
                      c.ring_degree, c.world));
    if (c.ulysses_degree != 1)
      return Support::no(
          fmt::format("ring_allgather has no head parallelism: ulysses_degree must be 1, got {}",
                      c.ulysses_degree));
    return check_common(problem, c.world);
  }

  void setup(const CpProblem& problem, Communicator& world, Kernel& kernel,
             Execution& exec) override {
    Support s = supports(problem);
    CPB_REQUIRE(s.ok(), "{}", s.reason);
    CPB_REQUIRE(world.size() == problem.config.world, "config says {} ranks, communicator has {}",
                problem.config.world, world.size());
    problem_ = problem;
    kernel_ = &kernel;
    exec_ = &exec;
    comms_ = CommGroup{};
    comm_ = &comms_.add(world.split(0, world.rank()));
    const ShardPlan plan = make_plan(problem, world.size());
    local_ = plan[comm_->rank()];
    L_ = total_tokens(local_);
    std::vector<Range> all;
    for (const auto& sh : plan) {
      CPB_CHECK(total_tokens(sh) == L_, "shards of unequal size");
      all.insert(all.end(), sh.begin(), sh.end());
    }
    masks_.clear();
    for (const Mask& m : global_kv_masks(problem)) masks_.push_back(m.restrict(local_, all));
    empty_ =
        std::all_of(masks_.begin(), masks_.end(), [](const Mask& m) { return m.slices.empty(); });
    const AttentionShape& sh = problem.shape;
    const int64_t n = sh.seq_k * sh.heads_kv * sh.head_dim;
    const std::size_t local = L_ * sh.heads_kv * sh.head_dim;
    for (ExecBuffer* b : {&kg_, &vg_, &dkg_, &dvg_, &scratch_}) b->reset();
    kg_ = exec.allocate(n * dtype_size(sh.dtype));
    vg_ = exec.allocate(n * dtype_size(sh.dtype));
    dkg_ = exec.allocate(n * 4);
    dvg_ = exec.allocate(n * 4);
    scratch_ = exec.allocate(local * std::max<std::size_t>(4, dtype_size(sh.dtype)));
    comms_.reset_stats();
  }

  std::vector<Range> local_tokens() const override { return local_; }

  void forward(CpTensors& t) override {
    gather_kv(t);
    if (empty_) {  // no visible key: out = 0, lse = -inf
      exec_->zero(t.out);
      exec_->fill(t.lse, -std::numeric_limits<float>::infinity());
      return;
    }
    forward_heads(*exec_, *kernel_,
                  {.q = t.q,
                   .k = view(kg_, problem_.shape.dtype),
                   .v = view(vg_, problem_.shape.dtype),
                   .mask = nullptr,
                   .out = t.out,
                   .lse = t.lse,
                   .scale = problem_.scale},
                  masks_);
  }

  void backward(CpTensors& t) override {
    gather_kv(t);
    const AttentionShape& sh = problem_.shape;
    if (empty_) {
      exec_->zero(t.dq);
      exec_->zero(view(dkg_, DType::kF32));
      exec_->zero(view(dvg_, DType::kF32));
    } else {
      backward_heads(*exec_, *kernel_,
                     {.q = t.q,
                      .k = view(kg_, sh.dtype),
                      .v = view(vg_, sh.dtype),
                      .mask = nullptr,
                      .out = t.out,
                      .dout = t.dout,
                      .lse = t.lse,
                      .dq = t.dq,
                      .dk = view(dkg_, DType::kF32),
                      .dv = view(dvg_, DType::kF32),
                      .scale = problem_.scale,
                      .accumulate = false},
                     masks_);
    }
    // Block r of the gathered gradients belongs to rank r's shard.
    const std::size_t count = L_ * sh.heads_kv * sh.head_dim;
    scatter(dkg_, t.dk, count);
    scatter(dvg_, t.dv, count);
  }

  CommVolume expected_volume() const override {
    const AttentionShape& sh = problem_.shape;
    const int64_t P = comm_ ? comm_->size() : 1, L = L_, hk = sh.heads_kv, d = sh.head_dim;
    const int64_t es = dtype_size(sh.dtype);
    const int64_t fwd = (P - 1) * 2 * L * hk * d * es;
    const int64_t bwd = fwd + (P - 1) * 2 * L * hk * d * 4;
    return {.forward_bytes_sent = fwd,
            .forward_bytes_received = fwd,
            .backward_bytes_sent = bwd,
            .backward_bytes_received = bwd,
            .formula =
                fmt::format("per rank, sent = received; P={}, L=S/P={}, Hkv={}, D={}, es={}; "
                            "fwd = (P-1)*2*L*Hkv*D*es [all-gather K, V]; "
                            "bwd = (P-1)*2*L*Hkv*D*es [all-gather K, V again] + (P-1)*2*L*Hkv*D*4 "
                            "[reduce-scatter fp32 dK, dV]",
                            P, L, hk, d, es)};
  }

  CommStats comm_stats() const override { return comms_.stats(); }
  void reset_comm_stats() override { comms_.reset_stats(); }

 private:
  TensorView view(const ExecBuffer& b, DType dt) const {
    const AttentionShape& sh = problem_.shape;
    return buffer_view(b, dt, exec_->device(), sh.seq_k, sh.heads_kv, sh.head_dim);
  }

  void gather_kv(const CpTensors& t) {
    const AttentionShape& sh = problem_.shape;
    const std::size_t bytes = L_ * sh.heads_kv * sh.head_dim * dtype_size(sh.dtype);
    for (auto [src, dst] : {std::pair{&t.k, &kg_}, std::pair{&t.v, &vg_}}) {
      const void* send = src->data;
      if (!src->packed()) {  // the collective needs contiguous blocks
        TensorView tmp =
            buffer_view(scratch_, sh.dtype, exec_->device(), L_, sh.heads_kv, sh.head_dim);
        exec_->copy_rows(*src, 0, 0, tmp, 0, 0, L_, sh.heads_kv, false);
        send = tmp.data;
      }
      exec_->all_gather(*comm_, send, dst->data(), bytes);
    }
  }

  void scatter(const ExecBuffer& grads, const TensorView& dst, std::size_t count) {
    const AttentionShape& sh = problem_.shape;
    float* recv = dst.packed() ? static_cast<float*>(dst.data) : scratch_.f32();
    exec_->reduce_scatter_sum(*comm_, grads.f32(), recv, count);
    if (!dst.packed())
      exec_->copy_rows(
          buffer_view(scratch_, DType::kF32, exec_->device(), L_, sh.heads_kv, sh.head_dim), 0, 0,
          dst, 0, 0, L_, sh.heads_kv, false);
  }

  CpProblem problem_{};
  Kernel* kernel_ = nullptr;
  Execution* exec_ = nullptr;
  CommGroup comms_;
  Communicator* comm_ = nullptr;
  std::vector<Range> local_;
  int64_t L_ = 0;
  std::vector<Mask> masks_;  // my rows x all gathered keys, per KV head (or one for all)
  bool empty_ = true;        // no head sees a key
  ExecBuffer kg_, vg_, dkg_, dvg_, scratch_;
};

}  // namespace

CPB_REGISTER_CP_METHOD(ring_allgather, RingAllGatherMethod);

}  // namespace cpb
