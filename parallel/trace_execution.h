// TraceExecution: the third execution (next to host and cuda) that runs a CP
// schedule on no data and records, per rank, what it would do: memory ops with
// their bytes, kernel calls (shape, pass, restricted-mask area, FULL/PARTIAL tile
// counts), comm ops (kind, bytes, peers as world ranks, group), and the requests
// and events that order them on the rank's compute and comm queues. The model
// (model/) replays these lists; it never holds a copy of any schedule.
// Decision: tile counts come from the mask slices row by row (count_tiles), never
// from a block map per call, so a 1024-rank trace at S = 1M costs seconds.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "parallel/cp_method.h"
#include "parallel/execution.h"

namespace cpb {

enum class TraceKind : uint8_t {
  kAlloc,  // bytes allocated (tracked memory)
  kFree,
  kCopy,  // copy_rows: bytes written
  kZero,
  kFill,
  kMerge,  // lse_merge: bytes of the accumulator read + written
  kForward,
  kBackward,
  kP2P,  // a batch of transfers, completed later by kComplete with the same id
  kComplete,
  kAllToAll,
  kAllGather,
  kReduceScatter,
  kRecord,  // event `id` on `queue`
  kWait,    // `queue` waits for event `id`
  kSync,    // host waits for both queues
};
std::string_view to_string(TraceKind k);

// One kernel call as the cost model sees it.
struct KernelCall {
  int64_t seq_q = 0, seq_k = 0;
  int64_t area = 0;                           // visible (q, k) pairs of the local mask
  int64_t full_tiles = 0, partial_tiles = 0;  // at the trace's block_q x block_k
  int32_t heads_q = 0, heads_kv = 0, head_dim = 0;
  DType dtype = DType::kF32;
  bool backward = false;
  int64_t live_bytes = 0;  // the rank's tracked allocations when the call starts
};

// One half of a p2p exchange; peer is a world rank.
struct TraceTransfer {
  int32_t peer = 0;
  bool send = false;
  int64_t bytes = 0;
};

struct TraceOp {
  TraceKind kind = TraceKind::kSync;
  Queue queue = Queue::kCompute;  // where it runs (kWait: the waiting queue)
  int32_t id = -1;     // kernel: index into kernels; p2p/complete: request; record/wait: event
  int32_t group = -1;  // comm ops: group id (TraceCommunicator::group_id), -1 off a trace comm
  int32_t first = 0, count = 0;  // kP2P: transfers [first, first + count)
  int64_t bytes = 0;             // memory ops: bytes; collectives: bytes per rank (block size)
};

struct RankTrace {
  int rank = 0;
  std::vector<TraceOp> ops;
  std::vector<KernelCall> kernels;
  std::vector<TraceTransfer> transfers;
  // ops [0, forward_begin) are setup, [forward_begin, backward_begin) forward, the rest backward.
  std::size_t forward_begin = 0, backward_begin = 0;
  ExecMemory memory;                        // modelled bytes: tensors, method buffers
  CommStats forward_stats, backward_stats;  // counted by the trace communicator
  CommVolume expected;                      // the method's expected_volume() on this rank
  std::map<int, std::vector<int>> groups;   // group id -> members (world ranks) it talked on
  int64_t local_tokens = 0;                 // tokens of this rank's shard
  int64_t area = 0;  // visible pairs of the mask rows this rank's queries own
};

struct TraceOptions {
  int64_t block_q = 128, block_k = 128;  // tile of the FULL/PARTIAL counts (the kernel's)
  bool forward = true, backward = true;
};

// FULL and PARTIAL tiles of `mask` at bq x bk, identical to build_block_map's
// counts, in O(slices x q-tiles they span) without storing tiles.
struct TileCounts {
  int64_t full = 0, partial = 0;
};
TileCounts count_tiles(const Mask& mask, int64_t block_q, int64_t block_k);
// The same, reusing `scratch`'s buffers (a trace counts tiles for every kernel call).
struct TileHit {
  int64_t k_tile = 0, area = 0;  // a slice's visible pairs in one edge tile
};
struct TileScratch {
  std::vector<int64_t> row_start, fill;  // per q-tile row: its first entry in slice_of
  std::vector<int32_t> slice_of;         // slices spanning each q-tile row, row by row
  std::vector<TileHit> hits;
};
TileCounts count_tiles(const Mask& mask, int64_t block_q, int64_t block_k, TileScratch& scratch);

// Tile counts and area per distinct mask content, shared by the simulated ranks of
// one trace: ranks at the same ring position of different head groups (and every
// rank of a causal ring, whose steps are FULL, diagonal or EMPTY blocks) restrict
// the mask to identical sub-masks, so each is counted once. Keyed by a hash of the
// slices and confirmed by comparing them: a hit is the same mask, never a near one.
class TileCache {
 public:
  struct Entry {
    int64_t seq_q = 0, seq_k = 0;
    std::vector<MaskSlice> slices;
    TileCounts tiles;
    int64_t area = 0;
  };
  TileCache(int64_t block_q, int64_t block_k) : bq_(block_q), bk_(block_k) {}
  // Thread-safe; counts through `scratch` on a miss.
  const Entry& get(const Mask& mask, TileScratch& scratch);
  std::size_t size() const;
  int64_t block_q() const { return bq_; }
  int64_t block_k() const { return bk_; }

 private:
  int64_t bq_, bk_;
  mutable std::mutex mu_;
  std::unordered_multimap<uint64_t, Entry> map_;
};

// An execution without data for one simulated rank, appending to `out`.
// `tiles`: the trace's shared cache (null: each call counts its own tiles).
std::unique_ptr<Execution> make_trace_execution(RankTrace* out, const TraceOptions& options,
                                                TileCache* tiles = nullptr);

// The whole trace of one case: every rank's op list, from the registered method's
// unmodified schedule run on P simulated ranks (one thread each).
struct Trace {
  std::string method;
  CpProblem problem{};
  TraceOptions options;
  std::vector<RankTrace> ranks;
  std::map<int, std::vector<int>> groups;  // group id -> members (world ranks, in rank order)
};
// Throws InputError when the method does not support the problem (reason named).
Trace trace_method(const std::string& method, const CpProblem& problem,
                   const TraceOptions& options);

}  // namespace cpb
