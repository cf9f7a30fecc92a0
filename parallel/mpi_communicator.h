// MpiCommunicator: the `mpi` backend (any MPI; CI uses Debian's Open MPI). Host
// buffers go to MPI directly; device buffers are staged through pinned host memory
// unless the MPI reports CUDA-awareness. Messages above max_chunk_bytes (int counts
// stop at INT_MAX) are cut into several MPI calls. Byte counts are per rank and
// algorithm independent (what the transport must at least move, as nccl-tests):
// see each method below.
#pragma once

#include <mpi.h>

#include <climits>
#include <cstddef>
#include <memory>

#include "parallel/communicator.h"
#include "parallel/device_copy.h"

namespace cpb {

struct MpiOptions {
  // Largest payload in one MPI call; below INT_MAX because MPI counts are int.
  // Tests set it small to exercise the chunked path.
  std::size_t max_chunk_bytes = std::size_t{1} << 30;
  // Stage device buffers even when the MPI says it is CUDA-aware.
  bool force_staging = false;
};

class MpiCommunicator final : public Communicator {
 public:
  // Initialises MPI (MPI_THREAD_MULTIPLE requested: the watchdog aborts from its
  // own thread) unless already initialised; returns true when it called MPI_Init.
  static bool init(int* argc, char*** argv);

  // Wraps `comm` (switched to MPI_ERRORS_RETURN so CPB_MPI_CHECK sees failures);
  // MPI_Comm_free on destruction when owns_comm.
  MpiCommunicator(MPI_Comm comm, bool owns_comm, MpiOptions options = {});
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  // The world communicator finalises MPI when it initialised it.
  void set_finalize_on_destroy(bool finalize) { finalize_on_destroy_ = finalize; }
  MPI_Comm comm() const { return comm_; }
  bool cuda_aware() const { return cuda_aware_; }
  std::string device_transport() const override { return cuda_aware_ ? "cuda-aware" : "staged"; }

  std::string backend() const override { return "mpi"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  // Isend/Irecv all posted before returning; the request's wait() is one
  // MPI_Waitall and records its time. Bytes: sum of sends/receives whose peer is
  // another rank. The request must be waited (or destroyed, which waits) before
  // this communicator is destroyed.
  std::unique_ptr<CommRequest> start_p2p(std::span<const P2POp> ops) override;
  // sent = received = (P-1) * bytes_per_rank.
  void all_to_all(const void* send, void* recv, std::size_t bytes_per_rank, Device dev) override;
  // sent = received = (P-1) * bytes_per_rank: every rank must receive the P-1 other
  // blocks, and (ring or not) the P(P-1) block copies are spread evenly over senders.
  // send may alias recv + rank * bytes_per_rank (in place).
  void all_gather(const void* send, void* recv, std::size_t bytes_per_rank, Device dev) override;
  // sent = received = (P-1) * count_per_rank * 4, the ring's per-rank traffic
  // (nccl-tests busbw convention).
  void reduce_scatter_sum(const float* send, float* recv, std::size_t count_per_rank,
                          Device dev) override;
  // sent = received = 2 * (P-1) * count * 8 / P (integer division): reduce-scatter
  // plus all-gather, the nccl-tests busbw convention.
  void all_reduce(double* data, std::size_t count, ReduceOp op) override;
  // No payload; calls and wait time only.
  void barrier() override;
  // MPI_Comm_split; color must be >= 0. Collective over this communicator.
  std::unique_ptr<Communicator> split(int color, int key) override;

 private:
  bool staged(Device dev) const { return dev == Device::kCuda && !cuda_aware_; }

  MPI_Comm comm_;
  bool owns_comm_;
  bool finalize_on_destroy_ = false;
  MpiOptions options_;
  int rank_ = 0;
  int size_ = 1;
  bool cuda_aware_ = false;
  PinnedPool pinned_;
};

}  // namespace cpb
