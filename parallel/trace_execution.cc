#include "parallel/trace_execution.h"

#include <algorithm>

#include "common/errors.h"
#include "parallel/trace_communicator.h"

namespace cpb {

std::string_view to_string(TraceKind k) {
  switch (k) {
    case TraceKind::kAlloc:
      return "alloc";
    case TraceKind::kFree:
      return "free";
    case TraceKind::kCopy:
      return "copy";
    case TraceKind::kZero:
      return "zero";
    case TraceKind::kFill:
      return "fill";
    case TraceKind::kMerge:
      return "lse_merge";
    case TraceKind::kForward:
      return "forward";
    case TraceKind::kBackward:
      return "backward";
    case TraceKind::kP2P:
      return "p2p";
    case TraceKind::kComplete:
      return "complete";
    case TraceKind::kAllToAll:
      return "all_to_all";
    case TraceKind::kAllGather:
      return "all_gather";
    case TraceKind::kReduceScatter:
      return "reduce_scatter";
    case TraceKind::kRecord:
      return "record";
    case TraceKind::kWait:
      return "wait";
    case TraceKind::kSync:
      return "sync";
  }
  return "?";
}

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return a <= 0 ? 0 : (a + b - 1) / b; }

// Adds the tiles of q-tile row [q0, q1) that `s` touches: the run of tiles the
// slice covers alone (FULL: disjoint slices cannot share them) in bulk, and the
// few edge tiles as hits to be summed with other slices' hits.
void row_tiles(const MaskSlice& s0, int64_t q0, int64_t q1, int64_t bk, int64_t seq_k,
               TileCounts* c, std::vector<TileHit>* hits) {
  MaskSlice s = s0;
  s.q_begin = std::max(s.q_begin, q0);
  s.q_end = std::min(s.q_end, q1);
  if (s.q_begin >= s.q_end) return;
  const int64_t k_lo = std::max(s.k_begin, s.q_begin - s.diag_hi);
  const int64_t k_hi = std::min(s.k_end - 1, (s.q_end - 1) - s.diag_lo);
  if (k_lo > k_hi) return;
  const int64_t t_lo = k_lo / bk, t_hi = k_hi / bk;
  // Tiles this slice covers entirely: every row of the tile row, every key.
  int64_t f_lo = 1, f_hi = 0;
  if (s.q_begin == q0 && s.q_end == q1) {
    f_lo = ceil_div(std::max(s.k_begin, q1 - 1 - s.diag_hi), bk);
    const int64_t e = std::min(s.k_end, q0 - s.diag_lo + 1);  // tile end must be <= e
    f_hi = e >= seq_k ? (seq_k - 1) / bk : e / bk - 1;
    f_lo = std::max(f_lo, t_lo);
    f_hi = std::min(f_hi, t_hi);
  }
  if (f_lo <= f_hi) c->full += f_hi - f_lo + 1;
  for (int64_t kj = t_lo; kj <= t_hi; ++kj) {
    if (f_lo <= f_hi && kj == f_lo) {
      kj = f_hi;
      continue;
    }
    MaskSlice t = s;
    t.k_begin = std::max(s.k_begin, kj * bk);
    t.k_end = std::min(s.k_end, (kj + 1) * bk);
    const int64_t a = slice_area(t);
    if (a > 0) hits->push_back({kj, a});
  }
}

}  // namespace

TileCounts count_tiles(const Mask& mask, int64_t bq, int64_t bk) {
  TileScratch scratch;
  return count_tiles(mask, bq, bk, scratch);
}

TileCounts count_tiles(const Mask& mask, int64_t bq, int64_t bk, TileScratch& sc) {
  CPB_REQUIRE(bq > 0 && bk > 0, "tile sizes must be > 0, got {}x{}", bq, bk);
  TileCounts c;
  const int64_t nq = (mask.seq_q + bq - 1) / bq;
  // Slices by the q-tiles they span (as build_block_map does), as one flat list per
  // q-tile row (counted, then filled) in buffers reused from call to call.
  sc.row_start.assign(static_cast<std::size_t>(nq) + 1, 0);
  for (const MaskSlice& s : mask.slices)
    if (slice_area(s) > 0)
      for (int64_t t = s.q_begin / bq; t <= (s.q_end - 1) / bq; ++t) ++sc.row_start[t + 1];
  for (int64_t t = 0; t < nq; ++t) sc.row_start[t + 1] += sc.row_start[t];
  sc.slice_of.resize(static_cast<std::size_t>(sc.row_start[nq]));
  sc.fill.assign(sc.row_start.begin(), sc.row_start.end() - 1);
  for (std::size_t i = 0; i < mask.slices.size(); ++i) {
    const MaskSlice& s = mask.slices[i];
    if (slice_area(s) == 0) continue;
    for (int64_t t = s.q_begin / bq; t <= (s.q_end - 1) / bq; ++t)
      sc.slice_of[sc.fill[t]++] = static_cast<int32_t>(i);
  }
  std::vector<TileHit>& hits = sc.hits;
  for (int64_t qi = 0; qi < nq; ++qi) {
    const int64_t q0 = qi * bq, q1 = std::min(q0 + bq, mask.seq_q);
    hits.clear();
    for (int64_t j = sc.row_start[qi]; j < sc.row_start[qi + 1]; ++j)
      row_tiles(mask.slices[static_cast<std::size_t>(sc.slice_of[j])], q0, q1, bk, mask.seq_k, &c,
                &hits);
    std::sort(hits.begin(), hits.end(),
              [](const TileHit& a, const TileHit& b) { return a.k_tile < b.k_tile; });
    for (std::size_t h = 0; h < hits.size();) {
      std::size_t e = h;
      int64_t area = 0;
      while (e < hits.size() && hits[e].k_tile == hits[h].k_tile) area += hits[e++].area;
      const int64_t kj = hits[h].k_tile;
      const int64_t tile = (q1 - q0) * (std::min((kj + 1) * bk, mask.seq_k) - kj * bk);
      (area == tile ? c.full : c.partial) += 1;
      h = e;
    }
  }
  return c;
}

namespace {

uint64_t mix(uint64_t h, int64_t v) {
  h ^= static_cast<uint64_t>(v) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h;
}

uint64_t hash_of(const Mask& m) {
  uint64_t h = mix(mix(0, m.seq_q), m.seq_k);
  for (const MaskSlice& s : m.slices)
    h = mix(mix(mix(mix(mix(mix(h, s.q_begin), s.q_end), s.k_begin), s.k_end), s.diag_lo),
            s.diag_hi);
  return h;
}

}  // namespace

const TileCache::Entry& TileCache::get(const Mask& mask, TileScratch& scratch) {
  const uint64_t h = hash_of(mask);
  auto find = [&]() -> const Entry* {
    auto [it, end] = map_.equal_range(h);
    for (; it != end; ++it)
      if (it->second.seq_q == mask.seq_q && it->second.seq_k == mask.seq_k &&
          it->second.slices == mask.slices)
        return &it->second;
    return nullptr;
  };
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (const Entry* e = find()) return *e;
  }
  Entry e{.seq_q = mask.seq_q,
          .seq_k = mask.seq_k,
          .slices = mask.slices,
          .tiles = count_tiles(mask, bq_, bk_, scratch),
          .area = mask.area()};
  std::lock_guard<std::mutex> lock(mu_);
  if (const Entry* found = find()) return *found;  // another rank counted it meanwhile
  return map_.emplace(h, std::move(e))->second;
}

std::size_t TileCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return map_.size();
}

namespace {

class TraceRequest final : public CommRequest {
 public:
  explicit TraceRequest(int id) : id(id) {}
  void wait() override {}
  int id;
};

class TraceExecution final : public Execution {
 public:
  TraceExecution(RankTrace* out, const TraceOptions& o, TileCache* tiles)
      : t_(out), o_(o), cache_(tiles) {}

  Device device() const override { return Device::kCpu; }
  std::string name() const override { return "trace"; }

  ExecBuffer allocate(std::size_t bytes) override {
    mem_.current_bytes += static_cast<int64_t>(bytes);
    mem_.peak_bytes = std::max(mem_.peak_bytes, mem_.current_bytes);
    t_->memory = mem_;
    push({.kind = TraceKind::kAlloc, .bytes = static_cast<int64_t>(bytes)});
    return ExecBuffer(this, nullptr, bytes);
  }
  ExecMemory memory() const override { return mem_; }
  void reset_peak() override { mem_.peak_bytes = mem_.current_bytes; }
  // Harness transfers (inputs, --verify) are not the method's work: not traced.
  void upload(void*, const void*, std::size_t) override {}
  void download(void*, const void*, std::size_t) override {}

  void copy_rows(const TensorView&, int64_t, int64_t, const TensorView& dst, int64_t, int64_t,
                 int64_t tokens, int64_t heads, bool) override {
    push({.kind = TraceKind::kCopy,
          .bytes = tokens * heads * dst.head_dim * static_cast<int64_t>(dtype_size(dst.dtype))});
  }
  void zero(const TensorView& t) override {
    push(
        {.kind = TraceKind::kZero, .bytes = t.numel() * static_cast<int64_t>(dtype_size(t.dtype))});
  }
  void fill(const LseView& l, float) override {
    push({.kind = TraceKind::kFill, .bytes = l.tokens * l.heads * 4});
  }
  void lse_merge(const TensorView& acc_out, const LseView&, const TensorView&,
                 const LseView&) override {
    push({.kind = TraceKind::kMerge,
          .bytes = acc_out.numel() * static_cast<int64_t>(dtype_size(acc_out.dtype))});
  }

  void forward(Kernel&, const ForwardArgs& a) override { kernel(a.q, a.k, a.mask, false); }
  void backward(Kernel&, const BackwardArgs& a) override { kernel(a.q, a.k, a.mask, true); }
  double compute_seconds() override { return 0; }
  void reset_compute() override {}

  std::unique_ptr<CommRequest> start_p2p(Communicator& c, std::span<const P2POp> ops) override {
    c.start_p2p(ops);  // counts the bytes exactly as a real backend would
    TraceOp op{.kind = TraceKind::kP2P,
               .queue = Queue::kComm,
               .id = next_request_++,
               .group = group_of(c)};
    op.first = static_cast<int32_t>(t_->transfers.size());
    for (const P2POp& p : ops)
      t_->transfers.push_back({.peer = world_rank(c, p.peer),
                               .send = p.kind == P2POp::kSend,
                               .bytes = static_cast<int64_t>(p.bytes)});
    op.count = static_cast<int32_t>(ops.size());
    push(op);
    return std::make_unique<TraceRequest>(op.id);
  }
  void complete(std::unique_ptr<CommRequest>& r) override {
    if (!r) return;
    auto* tr = dynamic_cast<TraceRequest*>(r.get());
    CPB_CHECK(tr, "trace execution asked to complete a request it did not start");
    push({.kind = TraceKind::kComplete, .queue = Queue::kCompute, .id = tr->id});
    r.reset();
  }
  void all_to_all(Communicator& c, const void* s, void* r, std::size_t b) override {
    c.all_to_all(s, r, b, Device::kCpu);
    collective(TraceKind::kAllToAll, c, b);
  }
  void all_gather(Communicator& c, const void* s, void* r, std::size_t b) override {
    c.all_gather(s, r, b, Device::kCpu);
    collective(TraceKind::kAllGather, c, b);
  }
  void reduce_scatter_sum(Communicator& c, const float* s, float* r, std::size_t n) override {
    c.reduce_scatter_sum(s, r, n, Device::kCpu);
    collective(TraceKind::kReduceScatter, c, n * sizeof(float));
  }

  Event record(Queue q) override {
    Event e{next_event_++};
    push({.kind = TraceKind::kRecord, .queue = q, .id = e.id});
    return e;
  }
  void wait(Queue waiter, Event e) override {
    push({.kind = TraceKind::kWait, .queue = waiter, .id = e.id});
  }
  double elapsed(Event, Event) override { return 0; }  // times come from the replay
  void synchronize() override { push({.kind = TraceKind::kSync}); }

 protected:
  void release(void*, std::size_t bytes) override {
    mem_.current_bytes -= static_cast<int64_t>(bytes);
    t_->memory = mem_;
    push({.kind = TraceKind::kFree, .bytes = static_cast<int64_t>(bytes)});
  }

 private:
  void push(const TraceOp& op) { t_->ops.push_back(op); }

  void kernel(const TensorView& q, const TensorView& k, const Mask* m, bool bwd) {
    CPB_CHECK(m, "kernel call without a mask");
    TileCounts tc;
    int64_t area = 0;
    if (cache_) {
      const TileCache::Entry& e = cache_->get(*m, tiles_);
      tc = e.tiles;
      area = e.area;
    } else {
      tc = count_tiles(*m, o_.block_q, o_.block_k, tiles_);
      area = m->area();
    }
    t_->kernels.push_back({.seq_q = q.tokens,
                           .seq_k = k.tokens,
                           .area = area,
                           .full_tiles = tc.full,
                           .partial_tiles = tc.partial,
                           .heads_q = static_cast<int32_t>(q.heads),
                           .heads_kv = static_cast<int32_t>(k.heads),
                           .head_dim = static_cast<int32_t>(q.head_dim),
                           .dtype = q.dtype,
                           .backward = bwd,
                           .live_bytes = mem_.current_bytes});
    push({.kind = bwd ? TraceKind::kBackward : TraceKind::kForward,
          .id = static_cast<int32_t>(t_->kernels.size() - 1)});
  }

  int group_of(Communicator& c) {
    auto* tc = dynamic_cast<TraceCommunicator*>(&c);
    if (!tc) return -1;
    const int id = tc->group_id();
    auto& members = t_->groups[id];
    if (members.empty())
      for (int r = 0; r < tc->size(); ++r) members.push_back(tc->world_rank(r));
    return id;
  }
  static int world_rank(Communicator& c, int r) {
    auto* tc = dynamic_cast<TraceCommunicator*>(&c);
    return tc ? tc->world_rank(r) : r;
  }
  void collective(TraceKind k, Communicator& c, std::size_t bytes_per_rank) {
    push({.kind = k,
          .queue = Queue::kComm,
          .group = group_of(c),
          .bytes = static_cast<int64_t>(bytes_per_rank)});
  }

  RankTrace* t_;
  TraceOptions o_;
  TileScratch tiles_;
  TileCache* cache_;
  ExecMemory mem_;
  int next_request_ = 0, next_event_ = 0;
};

}  // namespace

std::unique_ptr<Execution> make_trace_execution(RankTrace* out, const TraceOptions& options,
                                                TileCache* tiles) {
  CPB_CHECK(out, "trace execution needs somewhere to write");
  CPB_CHECK(!tiles || (tiles->block_q() == options.block_q && tiles->block_k() == options.block_k),
            "tile cache of another tile size");
  return std::make_unique<TraceExecution>(out, options, tiles);
}

}  // namespace cpb
