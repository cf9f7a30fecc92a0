// Replay: a discrete-event clock over the per-rank traces. Each rank has a
// compute queue and a comm queue (parallel/execution.h semantics): a comm op
// starts when its queue is free and the compute queued before it is done; a p2p
// transfer starts when both ends have posted it, a collective when every member
// has; complete() and collectives hold later compute until the data is there.
// Decision: the comm queue is serial per rank (one stream, as NCCL runs it), so
// two batches in flight at once queue behind each other.
#pragma once

#include <cstdint>
#include <vector>

#include "model/profile.h"
#include "parallel/trace_execution.h"

namespace cpb::model {

struct RankPrediction {
  int rank = 0;
  double step_seconds = 0;          // end of the rank's last op (compute or comm)
  double compute_seconds = 0;       // kernel calls
  double memory_seconds = 0;        // copies, merges, zeroing (the rank's "overhead")
  double exposed_comm_seconds = 0;  // compute queue idle waiting for communication
  double comm_busy_seconds = 0;     // comm queue from post to completion, summed
  int64_t peak_memory_bytes = 0;
  int64_t bytes_sent = 0, bytes_received = 0;
  int64_t expected_bytes_sent = 0, expected_bytes_received = 0;
  int64_t local_tokens = 0, area = 0;  // this rank's shard and its rows' visible pairs
};

struct Prediction {
  double step_seconds = 0;                                                   // max over ranks
  double compute_seconds = 0, exposed_comm_seconds = 0, memory_seconds = 0;  // max over ranks
  double overlap_efficiency = 1;  // slowest rank: compute / (compute + exposed)
  double time_imbalance = 1;      // max / mean of per-rank step
  int64_t peak_memory_bytes = 0;  // max over ranks
  std::vector<RankPrediction> ranks;
};

struct ReplayOptions {
  bool forward = true, backward = true;  // which passes one step holds
};

// kernel: the profile's kernel name; its fwd/bwd entries for the traced dtype and
// head dim must exist (InputError naming what is missing).
Prediction replay(const Trace& trace, const KernelProfile& kernels, const std::string& kernel,
                  const Topology& topology, const ReplayOptions& options);

// What a trace gives without the clock, for the planner to drop a candidate before
// replaying it: the busiest rank's compute-queue work (kernel calls, copies, merges,
// which that queue runs one after another, so no replay can finish that rank
// sooner: a lower bound of the step) and the peak memory (the replay's figure).
struct Bound {
  double compute_queue_seconds = 0;  // max over ranks
  int64_t peak_memory_bytes = 0;     // max over ranks
};
Bound bound(const Trace& trace, const KernelProfile& kernels, const std::string& kernel,
            const ReplayOptions& options);

// One rank's peak memory: its tracked allocations' high-water mark, or higher where a
// kernel call's own scratch (the profile's scratch_bytes) lands on the bytes live then.
// fwd/bwd: the profile entries of the replayed passes (null: that pass is not counted).
int64_t rank_peak_bytes(const RankTrace& rank, const KernelEntry* fwd, const KernelEntry* bwd);

}  // namespace cpb::model
