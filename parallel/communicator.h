// Communicator: the one interface CP methods talk through. Backends (mpi now,
// nccl later) move bytes; every operation adds what this rank sent and received
// and the time it spent waiting to CommStats, so reports get measured volume and
// wait time per op. Buffers carry their device so a host-only backend can stage
// device memory and a device backend can refuse host memory.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <span>
#include <string>

#include "common/dtype.h"

namespace cpb {

enum class CommOp { kP2P, kAllToAll, kAllGather, kReduceScatter, kAllReduce, kBarrier, kCount };
std::string_view to_string(CommOp op);

struct CommOpStats {
  int64_t calls = 0;
  int64_t bytes_sent = 0;      // payload bytes this rank handed to the transport (not to itself)
  int64_t bytes_received = 0;  // payload bytes this rank received from other ranks
  double wait_seconds = 0;     // time blocked in the op or in wait() on it
};

struct CommStats {
  std::array<CommOpStats, static_cast<size_t>(CommOp::kCount)> ops{};
  CommOpStats& operator[](CommOp op) { return ops[static_cast<size_t>(op)]; }
  const CommOpStats& operator[](CommOp op) const { return ops[static_cast<size_t>(op)]; }
  int64_t bytes_sent() const;
  int64_t bytes_received() const;
  double wait_seconds() const;
};

// One half of a point-to-point exchange, posted in a batch with the others.
struct P2POp {
  enum Kind { kSend, kRecv } kind;
  int peer;  // rank in this communicator
  void* data;
  std::size_t bytes;
  Device device = Device::kCpu;
};

// Handle on posted operations; wait() blocks until all of them completed.
class CommRequest {
 public:
  virtual ~CommRequest() = default;
  virtual void wait() = 0;
};

enum class ReduceOp { kSum, kMax, kMin };

class Communicator {
 public:
  static constexpr const char* kRegistryNoun = "communicator";
  virtual ~Communicator() = default;

  virtual std::string backend() const = 0;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Post sends and receives together (no ordering deadlock), wait later: this is
  // what lets a ring compute on one block while the next one is in flight.
  virtual std::unique_ptr<CommRequest> start_p2p(std::span<const P2POp> ops) = 0;
  // Block b of `send` (bytes_per_rank each) goes to rank b; block r of `recv` comes from rank r.
  virtual void all_to_all(const void* send, void* recv, std::size_t bytes_per_rank, Device dev) = 0;
  // recv = concatenation of every rank's `send` (bytes_per_rank each), in rank order.
  virtual void all_gather(const void* send, void* recv, std::size_t bytes_per_rank, Device dev) = 0;
  // recv (count_per_rank fp32) = sum over ranks of block `rank` of their `send`.
  virtual void reduce_scatter_sum(const float* send, float* recv, std::size_t count_per_rank,
                                  Device dev) = 0;
  // In place, on host doubles: for metrics and for agreeing on a case's status.
  virtual void all_reduce(double* data, std::size_t count, ReduceOp op) = 0;
  virtual void barrier() = 0;
  // Sub-communicator of the ranks that passed the same color, ordered by key.
  virtual std::unique_ptr<Communicator> split(int color, int key) = 0;

  // The GPU this communicator is bound to (NCCL: one per rank), or -1 when it
  // works with whatever device the buffers are on.
  virtual int bound_gpu() const { return -1; }
  // How device buffers travel: "nccl", "cuda-aware" (MPI reads device memory
  // directly), "staged" (through pinned host buffers) or "host" (same process).
  virtual std::string device_transport() const { return "host"; }

  const CommStats& stats() const { return stats_; }
  void reset_stats() { stats_ = {}; }

 protected:
  CommStats stats_;
};

}  // namespace cpb
