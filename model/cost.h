// Cost of one traced op: kernel calls from a kernel profile, memory ops from the
// profile's memory bandwidth, messages from a topology's link classes. Placement
// is already in the trace (peers are world ranks); the topology says which of
// them share a node. Decision: inter-node bandwidth is one NIC per rank until
// more of a node's ranks cross nodes at once than it has NICs, then they share
// nics_per_node NICs evenly (the contention of several ring streams per node).
#pragma once

#include <vector>

#include "model/profile.h"
#include "parallel/communicator.h"
#include "parallel/trace_execution.h"

namespace cpb::model {

// TFLOP/s of the entry's table at `seq_k`, linear in log(seq_k) between its points,
// flat beyond its ends.
double rate_at(const std::vector<KernelRate>& rates, int64_t seq_k);

// Where a call's rate is read in the table: its seq_k, the keys its query rows visit
// on average, or its seq_q (KernelEntry::rate_by).
int64_t rate_key(const KernelEntry& e, int64_t seq_q, int64_t seq_k, int64_t tiles);

// FLOP of one kernel call counted from its tiles at the SCHEMA convention
// (fwd 4*Bq*Bk*D per FULL tile and head, bwd 2.5x), PARTIAL tiles weighted.
double kernel_seconds(const KernelEntry& e, const KernelCall& c);

// Bytes the call allocates for itself while it runs (the entry's scratch_bytes).
int64_t kernel_scratch_bytes(const KernelEntry& e, const KernelCall& c);

// Copies, zeroing, fills and LSE merges: bytes written, read once and written once.
double memory_seconds(const KernelProfile& p, TraceKind kind, int64_t bytes);

// Inter-node bandwidth of one rank while `crossing` ranks of its node cross nodes.
double inter_bandwidth(const Topology& t, int crossing);

// One p2p message of `bytes` between two world ranks; `sharing` messages of the
// same class leave this rank at once and split its link; `crossing` as above.
double p2p_seconds(const Topology& t, int from, int to, int64_t bytes, int sharing, int crossing);

// A collective of blocks of `bytes_per_rank` on `members` (world ranks): ring
// all-gather / reduce-scatter, pairwise all-to-all. The time every member waits
// once all have posted.
double collective_seconds(const Topology& t, TraceKind kind, const std::vector<int>& members,
                          int64_t bytes_per_rank, int crossing);

}  // namespace cpb::model
