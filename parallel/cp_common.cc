#include "parallel/cp_common.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

#include "common/errors.h"
#include "kernels/lse_merge.h"
#include "parallel/execution_heads.h"

namespace cpb {

CommStats CommGroup::stats() const {
  CommStats sum;
  for (const auto& c : comms_) {
    const CommStats& s = c->stats();
    for (size_t i = 0; i < sum.ops.size(); ++i) {
      sum.ops[i].calls += s.ops[i].calls;
      sum.ops[i].bytes_sent += s.ops[i].bytes_sent;
      sum.ops[i].bytes_received += s.ops[i].bytes_received;
      sum.ops[i].wait_seconds += s.ops[i].wait_seconds;
    }
  }
  return sum;
}

Support check_common(const CpProblem& problem, int shards) {
  const AttentionShape& s = problem.shape;
  if (!problem.mask) return Support::no("no mask given");
  if (s.seq_q != s.seq_k)
    return Support::no(fmt::format("CP needs seq_q == seq_k, got {} and {}", s.seq_q, s.seq_k));
  if (problem.mask->seq_q != s.seq_q || problem.mask->seq_k != s.seq_k)
    return Support::no(fmt::format("mask is {}x{} but the sequence is {}", problem.mask->seq_q,
                                   problem.mask->seq_k, s.seq_q));
  if (s.heads_kv <= 0 || s.heads_q % s.heads_kv != 0)
    return Support::no(fmt::format("Hq={} is not a multiple of Hkv={}", s.heads_q, s.heads_kv));
  if (const HeadMasks* hm = problem.head_masks) {
    if (!hm->uniform() && static_cast<int64_t>(hm->kv.size()) != s.heads_kv)
      return Support::no(
          fmt::format("{} per-head masks for Hkv={} KV heads", hm->kv.size(), s.heads_kv));
    for (const Mask& m : hm->kv)
      if (m.seq_q != s.seq_q || m.seq_k != s.seq_k)
        return Support::no(fmt::format("a per-head mask is {}x{} but the sequence is {}", m.seq_q,
                                       m.seq_k, s.seq_q));
  }
  if (problem.config.world < 1) return Support::no("world size must be >= 1");
  if (!ShardingRegistry::instance().contains(problem.config.sharding))
    return Support::no(fmt::format("unknown sharding '{}'; registered: {}", problem.config.sharding,
                                   fmt::join(ShardingRegistry::instance().names(), ", ")));
  auto sharding = ShardingRegistry::instance().create(problem.config.sharding);
  std::string why = sharding->cannot_split(s.seq_q, shards);
  if (!why.empty())
    return Support::no(fmt::format("sharding '{}' cannot split S={} into {} shards: {}",
                                   problem.config.sharding, s.seq_q, shards, why));
  return Support::yes();
}

std::span<const Mask> global_kv_masks(const CpProblem& problem) {
  if (problem.head_masks) return problem.head_masks->kv;
  return {problem.mask, 1};
}

ShardPlan make_plan(const CpProblem& problem, int shards) {
  if (problem.shard_plan && static_cast<int>(problem.shard_plan->size()) == shards)
    return *problem.shard_plan;
  auto plan =
      ShardingRegistry::instance().create(problem.config.sharding)->plan(*problem.mask, shards);
  CPB_CHECK(static_cast<int>(plan.size()) == shards, "sharding gave {} shards, wanted {}",
            plan.size(), shards);
  return plan;
}

CpLayout square_layout(int world) {
  for (int u : divisors(world))
    if (int64_t(u) * u >= world) return {.ulysses = u, .ring = world / u};
  return {.ulysses = world};
}

int64_t total_tokens(const std::vector<Range>& ranges) {
  int64_t n = 0;
  for (const auto& r : ranges) n += r.size();
  return n;
}

}  // namespace cpb

namespace cpb {

TensorView buffer_view(const ExecBuffer& b, DType dt, Device dev, int64_t tokens, int64_t heads,
                       int64_t head_dim, std::size_t byte_offset) {
  CPB_CHECK(b.data() == nullptr ||
                byte_offset + std::size_t(tokens * heads * head_dim) * dtype_size(dt) <= b.bytes(),
            "view of {} bytes past a {}-byte buffer", byte_offset, b.bytes());
  void* p = b.data() ? static_cast<std::byte*>(b.data()) + byte_offset : nullptr;
  return packed_view(p, dt, dev, tokens, heads, head_dim);
}

namespace {
// Grows `b` to at least `bytes` (scratch reused across calls; contents not kept).
void ensure(Execution& x, ExecBuffer& b, std::size_t bytes) {
  if (b.bytes() < bytes) {
    b.reset();
    b = x.allocate(bytes);
  }
}
}  // namespace

HeadSplit query_split(int64_t heads_q, int group) {
  HeadSplit s{.count = heads_q / group, .first = {}};
  for (int j = 0; j < group; ++j) s.first.push_back(j * s.count);
  return s;
}

std::string kv_split_problem(int64_t heads_q, int64_t heads_kv, int group) {
  if (heads_q % group != 0)
    return fmt::format("Hq={} query heads are not divisible by the head-parallel degree {}",
                       heads_q, group);
  if (heads_kv % group != 0 && group % heads_kv != 0)
    return fmt::format(
        "Hkv={} KV heads can be neither split over nor replicated evenly across the head-parallel "
        "degree {} (need Hkv % degree == 0 or degree % Hkv == 0)",
        heads_kv, group);
  return {};
}

HeadSplit kv_split(int64_t heads_q, int64_t heads_kv, int group) {
  CPB_CHECK(kv_split_problem(heads_q, heads_kv, group).empty(), "bad kv split");
  if (heads_kv % group == 0) return query_split(heads_kv, group);
  // Replicate: member j's query heads [j*hq, (j+1)*hq) all share one KV head
  // (hq divides the group size Hq/Hkv because group % Hkv == 0).
  const int64_t hq = heads_q / group, per_kv = heads_q / heads_kv;
  HeadSplit s{.count = 1, .first = {}};
  for (int j = 0; j < group; ++j) s.first.push_back(j * hq / per_kv);
  return s;
}

void seq_to_heads(Execution& x, Communicator& c, const TensorView& src, const HeadSplit& split,
                  void* dst, ExecBuffer& scratch) {
  const int u = c.size();
  const int64_t L = src.tokens, d = src.head_dim;
  const std::size_t block = L * split.count * d * dtype_size(src.dtype);
  ensure(x, scratch, block * u);
  for (int j = 0; j < u; ++j) {
    TensorView blk = buffer_view(scratch, src.dtype, x.device(), L, split.count, d, j * block);
    x.copy_rows(src, 0, split.first[j], blk, 0, 0, L, split.count, false);
  }
  x.all_to_all(c, scratch.data(), dst, block);
}

void heads_to_seq(Execution& x, Communicator& c, const void* src, DType src_dtype, int64_t L,
                  int64_t d, const HeadSplit& split, const TensorView& dst, bool add,
                  ExecBuffer& scratch) {
  const int u = c.size();
  const std::size_t block = L * split.count * d * dtype_size(src_dtype);
  ensure(x, scratch, block * u);
  x.all_to_all(c, src, scratch.data(), block);
  for (int j = 0; j < u; ++j) {
    TensorView blk = buffer_view(scratch, src_dtype, x.device(), L, split.count, d, j * block);
    x.copy_rows(blk, 0, 0, dst, 0, split.first[j], L, split.count, add);
  }
}

// ---------------------------------------------------------------------------
// RingAttention

int RingAttention::peer(int da, int db) const {
  const int w = s_.inner;
  int a = ((a_ + da) % outer_ + outer_) % outer_;
  int b = ((b_ + db) % w + w) % w;
  return a * w + b;
}

TensorView RingAttention::kv_view(const ExecBuffer& b, int which, DType dt) const {
  const std::size_t half = tokens_ * s_.heads_kv * s_.head_dim * dtype_size(dt);
  return buffer_view(b, dt, s_.exec->device(), tokens_, s_.heads_kv, s_.head_dim, which * half);
}

void RingAttention::setup(Setup s) {
  s_ = std::move(s);
  Execution& x = *s_.exec;
  const int r = s_.ring->size();
  CPB_CHECK(r % s_.inner == 0, "inner ring {} does not divide ring size {}", s_.inner, r);
  CPB_CHECK(static_cast<int>(s_.members.size()) == r, "{} member ranges for ring of {}",
            s_.members.size(), r);
  me_ = s_.ring->rank();
  outer_ = r / s_.inner;
  a_ = me_ / s_.inner;
  b_ = me_ % s_.inner;
  tokens_ = total_tokens(s_.members[me_]);
  step_mask_.clear();
  step_empty_.clear();
  for (int o = 0; o < outer_; ++o)
    for (int i = 0; i < s_.inner; ++i) {
      std::vector<Mask> per_head;
      bool empty = true;
      for (const Mask& m : s_.masks) {
        per_head.push_back(m.restrict(s_.members[me_], s_.members[peer(-o, -i)]));
        empty = empty && per_head.back().slices.empty();
      }
      step_mask_.push_back(std::move(per_head));
      step_empty_.push_back(empty);
    }
  // Only the buffers a ring of this shape uses (a one-member ring moves nothing):
  // kv_[1] is the outer ring's incoming block, kv_[2..3] the inner double buffer.
  const std::size_t kv_bytes = 2 * tokens_ * s_.heads_kv * s_.head_dim * dtype_size(s_.dtype);
  const std::size_t dkv_bytes = 2 * tokens_ * s_.heads_kv * s_.head_dim * 4;
  for (auto& b : kv_) b.reset();
  for (auto& b : dkv_) b.reset();
  kv_[0] = x.allocate(kv_bytes);
  if (outer_ > 1) kv_[1] = x.allocate(kv_bytes);
  if (s_.inner > 1) kv_[2] = x.allocate(kv_bytes), kv_[3] = x.allocate(kv_bytes);
  const int64_t qn = tokens_ * s_.heads_q;
  acc_out_ = x.allocate(qn * s_.head_dim * 4);
  part_out_ = x.allocate(qn * s_.head_dim * dtype_size(s_.dtype));
  acc_lse_ = x.allocate(qn * 4);
  part_lse_ = x.allocate(qn * 4);
  for (int i = 0; i < (r > 1 ? 3 : 1); ++i) dkv_[i] = x.allocate(dkv_bytes);
}

int64_t RingAttention::forward_bytes() const {
  const int r = s_.ring->size();
  return int64_t(r - 1) * 2 * tokens_ * s_.heads_kv * s_.head_dim * dtype_size(s_.dtype);
}

int64_t RingAttention::backward_bytes() const {
  const int r = s_.ring->size();
  if (r == 1) return 0;
  return forward_bytes() + int64_t(r) * 2 * tokens_ * s_.heads_kv * s_.head_dim * 4;
}

// The K/V blocks' walk round the double ring, one for both passes. Each step's hops
// are posted before `step` runs its kernel, so they are in flight (comm queue) while
// the kernel runs (compute queue). step(t, i, block): step t = o * inner + i, with
// `block` the K/V block it sees (K then V, [L, hk, d] each).
template <class Step>
void RingAttention::walk_kv(const TensorView& k, const TensorView& v, Step&& step) {
  Execution& x = *s_.exec;
  const Device dev = x.device();
  const std::size_t kv_bytes = kv_[0].bytes();
  // kv_[0], kv_[1]: the outer block (held at inner step 0) and the next one;
  // kv_[2], kv_[3]: inner ring double buffer.
  int outer_cur = 0, outer_next = 1, inner_next = 2;
  x.copy_rows(k, 0, 0, kv_view(kv_[outer_cur], 0, s_.dtype), 0, 0, tokens_, s_.heads_kv, false);
  x.copy_rows(v, 0, 0, kv_view(kv_[outer_cur], 1, s_.dtype), 0, 0, tokens_, s_.heads_kv, false);
  for (int o = 0; o < outer_; ++o) {
    std::unique_ptr<CommRequest> outer_req;
    if (o < outer_ - 1) {
      P2POp ops[] = {{P2POp::kSend, peer(1, 0), kv_[outer_cur].data(), kv_bytes, dev},
                     {P2POp::kRecv, peer(-1, 0), kv_[outer_next].data(), kv_bytes, dev}};
      outer_req = x.start_p2p(*s_.ring, ops);
    }
    int cur = outer_cur;
    for (int i = 0; i < s_.inner; ++i) {
      std::unique_ptr<CommRequest> inner_req;
      if (i < s_.inner - 1) {
        P2POp ops[] = {{P2POp::kSend, peer(0, 1), kv_[cur].data(), kv_bytes, dev},
                       {P2POp::kRecv, peer(0, -1), kv_[inner_next].data(), kv_bytes, dev}};
        inner_req = x.start_p2p(*s_.ring, ops);
      }
      step(o * s_.inner + i, i, kv_[cur]);
      if (inner_req) {
        x.complete(inner_req);
        // The block just received becomes current; the old inner buffer is free
        // (never the outer buffer, which may still be in flight outward).
        int freed = cur == outer_cur ? (inner_next == 2 ? 3 : 2) : cur;
        cur = inner_next;
        inner_next = freed;
      }
    }
    if (outer_req) {
      x.complete(outer_req);
      std::swap(outer_cur, outer_next);
    }
  }
}

void RingAttention::forward(const TensorView& q, const TensorView& k, const TensorView& v,
                            const TensorView& out, const LseView& lse) {
  Execution& x = *s_.exec;
  const Device dev = x.device();
  const DType dt = s_.dtype;
  const int64_t hq = s_.heads_q, d = s_.head_dim;
  TensorView acc = buffer_view(acc_out_, DType::kF32, dev, tokens_, hq, d);
  LseView acc_lse{acc_lse_.f32(), dev, tokens_, hq, hq};
  TensorView part = buffer_view(part_out_, dt, dev, tokens_, hq, d);
  LseView part_lse{part_lse_.f32(), dev, tokens_, hq, hq};
  x.zero(acc);
  x.fill(acc_lse, -std::numeric_limits<float>::infinity());
  walk_kv(k, v, [&](int t, int, const ExecBuffer& block) {
    if (step_empty_[t]) return;  // EMPTY step: no kernel call, the block still moves on
    forward_heads(x, *s_.kernel,
                  {.q = q,
                   .k = kv_view(block, 0, dt),
                   .v = kv_view(block, 1, dt),
                   .mask = nullptr,
                   .out = part,
                   .lse = part_lse,
                   .scale = s_.scale},
                  step_mask_[t]);
    x.lse_merge(acc, acc_lse, part, part_lse);
  });
  x.copy_rows(acc, 0, 0, out, 0, 0, tokens_, hq, false);
  x.copy_rows(lse_as_tensor(acc_lse), 0, 0, lse_as_tensor(lse), 0, 0, tokens_, hq, false);
}

void RingAttention::backward(const TensorView& q, const TensorView& k, const TensorView& v,
                             const TensorView& out, const TensorView& dout, const LseView& lse,
                             const TensorView& dq, const TensorView& dk, const TensorView& dv) {
  Execution& x = *s_.exec;
  const Device dev = x.device();
  const DType dt = s_.dtype;
  const int r = s_.ring->size();
  const std::size_t dkv_bytes = dkv_[0].bytes();
  x.zero(dq);
  // dkv_[tmp]: this step's contribution, then the block's running sum, sent on;
  // dkv_[send]: in flight; dkv_[recv]: arriving from the block's previous holder.
  int tmp = 0, send = 1, recv = 2;
  // dK and dV of one block as a single [2 * tokens, hk, d] fp32 tensor.
  auto dkv_all = [&](int b) {
    return buffer_view(dkv_[b], DType::kF32, dev, 2 * tokens_, s_.heads_kv, s_.head_dim);
  };
  std::unique_ptr<CommRequest> dkv_req;
  walk_kv(k, v, [&](int t, int i, const ExecBuffer& block) {
    x.zero(dkv_all(tmp));
    if (!step_empty_[t]) {
      backward_heads(x, *s_.kernel,
                     {.q = q,
                      .k = kv_view(block, 0, dt),
                      .v = kv_view(block, 1, dt),
                      .mask = nullptr,
                      .out = out,
                      .dout = dout,
                      .lse = lse,
                      .dq = dq,
                      .dk = kv_view(dkv_[tmp], 0, DType::kF32),
                      .dv = kv_view(dkv_[tmp], 1, DType::kF32),
                      .scale = s_.scale,
                      .accumulate = true},
                     step_mask_[t]);
    }
    if (t > 0) {  // add what earlier holders of this block accumulated
      x.complete(dkv_req);
      x.copy_rows(dkv_all(recv), 0, 0, dkv_all(tmp), 0, 0, 2 * tokens_, s_.heads_kv, true);
    }
    std::swap(tmp, send);  // the old send buffer is free: its request was completed
    if (r > 1) {
      // Next holder of this block: one hop round the inner ring, or at the end
      // of an inner round one hop diagonally (next outer ring, next position);
      // after the last step that hop is the block's home.
      const bool round_end = i == s_.inner - 1;
      P2POp ops[] = {
          {P2POp::kSend, round_end ? peer(1, 1) : peer(0, 1), dkv_[send].data(), dkv_bytes, dev},
          {P2POp::kRecv, round_end ? peer(-1, -1) : peer(0, -1), dkv_[recv].data(), dkv_bytes,
           dev}};
      dkv_req = x.start_p2p(*s_.ring, ops);
    } else {
      std::swap(send, recv);
    }
  });
  x.complete(dkv_req);
  x.copy_rows(kv_view(dkv_[recv], 0, DType::kF32), 0, 0, dk, 0, 0, tokens_, s_.heads_kv, false);
  x.copy_rows(kv_view(dkv_[recv], 1, DType::kF32), 0, 0, dv, 0, 0, tokens_, s_.heads_kv, false);
}

}  // namespace cpb

namespace cpb {

Support HybridCpMethod::supports(const CpProblem& problem) const {
  HybridLayout lay;
  Support s = layout(problem.config, &lay);
  if (!s.ok()) return s;
  const int world = problem.config.world;
  if (lay.heads < 1 || lay.ring < 1 || lay.heads * lay.ring != world)
    return Support::no(
        fmt::format("head-parallel degree {} x ring degree {} = {} is not the world size {}",
                    lay.heads, lay.ring, lay.heads * lay.ring, world));
  if (lay.inner < 1 || lay.ring % lay.inner != 0)
    return Support::no(
        fmt::format("inner ring width {} does not divide the ring degree {}", lay.inner, lay.ring));
  s = check_common(problem, world);
  if (!s.ok()) return s;
  std::string why = kv_split_problem(problem.shape.heads_q, problem.shape.heads_kv, lay.heads);
  if (!why.empty()) return Support::no(why);
  return Support::yes();
}

void HybridCpMethod::setup(const CpProblem& problem, Communicator& world, Kernel& kernel,
                           Execution& exec) {
  Support s = supports(problem);
  CPB_REQUIRE(s.ok(), "{}", s.reason);
  CPB_REQUIRE(world.size() == problem.config.world, "config says {} ranks, communicator has {}",
              problem.config.world, world.size());
  problem_ = problem;
  exec_ = &exec;
  layout(problem.config, &lay_);
  const int U = lay_.heads, R = lay_.ring, w = world.rank();
  const int u = lay_.placement == Placement::kContiguous ? w % U : w / R;
  const int g = lay_.placement == Placement::kContiguous ? w / U : w % R;
  comms_ = CommGroup{};
  heads_comm_ = &comms_.add(world.split(g, u));
  ring_comm_ = &comms_.add(world.split(u, g));
  CPB_CHECK(heads_comm_->size() == U && heads_comm_->rank() == u, "head group");
  CPB_CHECK(ring_comm_->size() == R && ring_comm_->rank() == g, "ring group");
  lse_comm_ = U > 1 ? world.split(g, u) : nullptr;

  const ShardPlan plan = make_plan(problem, world.size());
  local_ = plan[g * U + u];
  L_ = total_tokens(local_);
  std::vector<std::vector<Range>> members(R);
  for (int gg = 0; gg < R; ++gg)
    for (int uu = 0; uu < U; ++uu) {
      const auto& sh = plan[gg * U + uu];
      CPB_CHECK(total_tokens(sh) == L_, "shards of unequal size");
      members[gg].insert(members[gg].end(), sh.begin(), sh.end());
    }

  const AttentionShape& sh = problem.shape;
  qsplit_ = query_split(sh.heads_q, U);
  kvsplit_ = kv_split(sh.heads_q, sh.heads_kv, U);
  ring_.setup({.exec = &exec,
               .ring = ring_comm_,
               .inner = lay_.inner,
               .masks = kv_head_range(global_kv_masks(problem), kvsplit_.first[u], kvsplit_.count),
               .members = std::move(members),
               .kernel = &kernel,
               .scale = problem.scale,
               .heads_q = qsplit_.count,
               .heads_kv = kvsplit_.count,
               .head_dim = sh.head_dim,
               .dtype = sh.dtype});
  for (ExecBuffer* b :
       {&qh_, &kh_, &vh_, &outh_, &lseh_, &douth_, &dqh_, &dkh_, &dvh_, &grad_out_, &scratch_})
    b->reset();
  if (U > 1) {
    const int64_t n = U * L_, d = sh.head_dim, es = dtype_size(sh.dtype);
    const int64_t hq = qsplit_.count, hk = kvsplit_.count;
    qh_ = exec.allocate(n * hq * d * es);
    outh_ = exec.allocate(n * hq * d * es);
    douth_ = exec.allocate(n * hq * d * es);
    lseh_ = exec.allocate(n * hq * 4);
    dqh_ = exec.allocate(n * hq * d * 4);
    kh_ = exec.allocate(n * hk * d * es);
    vh_ = exec.allocate(n * hk * d * es);
    dkh_ = exec.allocate(n * hk * d * 4);
    dvh_ = exec.allocate(n * hk * d * 4);
    grad_out_ = exec.allocate(n * std::max(hq, hk) * d * es);
  }
  have_forward_ = false;
  comms_.reset_stats();
}

void HybridCpMethod::forward(CpTensors& t) {
  const AttentionShape& sh = problem_.shape;
  if (lay_.heads == 1) {
    ring_.forward(t.q, t.k, t.v, t.out, t.lse);
    return;
  }
  Execution& x = *exec_;
  const Device dev = x.device();
  const int64_t n = lay_.heads * L_, d = sh.head_dim, hq = qsplit_.count, hk = kvsplit_.count;
  seq_to_heads(x, *heads_comm_, t.q, qsplit_, qh_.data(), scratch_);
  seq_to_heads(x, *heads_comm_, t.k, kvsplit_, kh_.data(), scratch_);
  seq_to_heads(x, *heads_comm_, t.v, kvsplit_, vh_.data(), scratch_);
  TensorView outh = buffer_view(outh_, sh.dtype, dev, n, hq, d);
  LseView lseh{lseh_.f32(), dev, n, hq, hq};
  ring_.forward(buffer_view(qh_, sh.dtype, dev, n, hq, d),
                buffer_view(kh_, sh.dtype, dev, n, hk, d),
                buffer_view(vh_, sh.dtype, dev, n, hk, d), outh, lseh);
  heads_to_seq(x, *heads_comm_, outh_.data(), sh.dtype, L_, d, qsplit_, t.out, false, scratch_);
  heads_to_seq(x, *lse_comm_, lseh_.data(), DType::kF32, L_, 1, qsplit_, lse_as_tensor(t.lse),
               false, scratch_);
  have_forward_ = true;
}

void HybridCpMethod::backward(CpTensors& t) {
  const AttentionShape& sh = problem_.shape;
  if (lay_.heads == 1) {
    ring_.backward(t.q, t.k, t.v, t.out, t.dout, t.lse, t.dq, t.dk, t.dv);
    return;
  }
  CPB_CHECK(have_forward_, "backward() needs the head-layout activations of a forward() first");
  Execution& x = *exec_;
  const Device dev = x.device();
  const int64_t n = lay_.heads * L_, d = sh.head_dim, hq = qsplit_.count, hk = kvsplit_.count;
  seq_to_heads(x, *heads_comm_, t.dout, qsplit_, douth_.data(), scratch_);
  auto f32 = [&](const ExecBuffer& b, int64_t h) {
    return buffer_view(b, DType::kF32, dev, n, h, d);
  };
  ring_.backward(
      buffer_view(qh_, sh.dtype, dev, n, hq, d), buffer_view(kh_, sh.dtype, dev, n, hk, d),
      buffer_view(vh_, sh.dtype, dev, n, hk, d), buffer_view(outh_, sh.dtype, dev, n, hq, d),
      buffer_view(douth_, sh.dtype, dev, n, hq, d), LseView{lseh_.f32(), dev, n, hq, hq},
      f32(dqh_, hq), f32(dkh_, hk), f32(dvh_, hk));
  // The gradients are final here (the ring brought every dK/dV home), so they go
  // back to sequence layout in the storage dtype, as production Ulysses does; the
  // caller's fp32 tensors receive the cast values.
  auto send_home = [&](const ExecBuffer& grad, int64_t heads, const HeadSplit& split,
                       const TensorView& dst, bool add) {
    TensorView cast = buffer_view(grad_out_, sh.dtype, dev, n, heads, d);
    x.copy_rows(f32(grad, heads), 0, 0, cast, 0, 0, n, heads, false);
    heads_to_seq(x, *heads_comm_, cast.data, sh.dtype, L_, d, split, dst, add, scratch_);
  };
  send_home(dqh_, hq, qsplit_, t.dq, false);
  // Replicated KV heads: several members hold partial gradients of one KV head.
  const bool replicated = sh.heads_kv % lay_.heads != 0;
  if (replicated) {
    x.zero(t.dk);
    x.zero(t.dv);
  }
  send_home(dkh_, hk, kvsplit_, t.dk, replicated);
  send_home(dvh_, hk, kvsplit_, t.dv, replicated);
}

CommVolume HybridCpMethod::expected_volume() const {
  if (!ring_comm_) return {.formula = "unknown before setup()"};
  const AttentionShape& sh = problem_.shape;
  const int64_t U = lay_.heads, R = lay_.ring, L = L_, d = sh.head_dim;
  const int64_t hq = qsplit_.count, hk = kvsplit_.count, es = dtype_size(sh.dtype);
  const int64_t a2a_fwd = (U - 1) * L * (2 * hq + 2 * hk) * d * es;
  const int64_t a2a_bwd = (U - 1) * L * (2 * hq + 2 * hk) * d * es;
  const int64_t fwd = a2a_fwd + ring_.forward_bytes();
  const int64_t bwd = a2a_bwd + ring_.backward_bytes();
  return {.forward_bytes_sent = fwd,
          .forward_bytes_received = fwd,
          .backward_bytes_sent = bwd,
          .backward_bytes_received = bwd,
          .formula = fmt::format(
              "per rank, sent = received; U={} head-parallel, R={} ring (inner W={}), L=S/P={} "
              "tokens, hq=Hq/U={}, hk={} KV heads per rank{}, D={}, es={} bytes; "
              "fwd = (U-1)*L*(2*hq+2*hk)*D*es [all-to-all q,k,v,out] "
              "+ (R-1)*2*U*L*hk*D*es [ring K,V]; "
              "bwd = (U-1)*L*(2*hq+2*hk)*D*es [all-to-all dout and the final dq,dk,dv in the "
              "storage dtype] + (R-1)*2*U*L*hk*D*es [ring K,V] + (R>1 ? R*8*U*L*hk*D : 0) [ring "
              "fp32 dK,dV accumulators, R hops home]; the forward LSE's return to sequence layout "
              "is harness traffic (for --verify), not counted",
              U, R, lay_.inner, L, hq, hk, sh.heads_kv % U != 0 ? " (replicated)" : "", d, es)};
}

}  // namespace cpb
