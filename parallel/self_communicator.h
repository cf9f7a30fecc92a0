// SelfCommunicator: a world of one rank, in process. Every operation is a local
// copy (device buffers copied with the CUDA runtime when built with CUDA), so the
// byte counters stay at zero: nothing leaves the rank. Calls and the time spent
// copying are still recorded, so a P=1 report has the same shape as a P=8 one.
#pragma once

#include "parallel/communicator.h"

namespace cpb {

class SelfCommunicator final : public Communicator {
 public:
  std::string backend() const override { return "self"; }
  int rank() const override { return 0; }
  int size() const override { return 1; }

  // Sends and receives must pair up with peer 0; the i-th send is matched with the
  // i-th receive and both must have the same size (as MPI would require).
  std::unique_ptr<CommRequest> start_p2p(std::span<const P2POp> ops) override;
  void all_to_all(const void* send, void* recv, std::size_t bytes_per_rank, Device dev) override;
  void all_gather(const void* send, void* recv, std::size_t bytes_per_rank, Device dev) override;
  void reduce_scatter_sum(const float* send, float* recv, std::size_t count_per_rank,
                          Device dev) override;
  void all_reduce(double* data, std::size_t count, ReduceOp op) override;
  void barrier() override;
  std::unique_ptr<Communicator> split(int color, int key) override;
};

}  // namespace cpb
