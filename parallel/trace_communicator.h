// TraceCommunicator: P simulated ranks in one process, no data moved. Every op
// counts bytes exactly like the real backends (cp_common.h's CommGroup byte
// convention), so a schedule run on it reports the bytes it would send.
// Decision: each simulated rank runs the unmodified schedule on its own thread;
// the only rendezvous is split() (collective: it must see every member's color
// and key), done under one world-wide lock. Data ops never wait for peers: with
// no data there is nothing to exchange, and the replay orders them afterwards.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "parallel/communicator.h"

namespace cpb {

struct TraceGroup;

// Shared state of the P simulated ranks: groups and the split rendezvous.
class TraceWorld {
 public:
  explicit TraceWorld(int world);
  ~TraceWorld();
  int size() const { return size_; }
  // The world communicator of simulated rank `rank` (call once per rank).
  std::unique_ptr<Communicator> communicator(int rank);
  // One rank failed: every rank waiting in split() throws instead of hanging.
  void fail();

 private:
  friend class TraceCommunicator;
  std::shared_ptr<TraceGroup> split(const std::shared_ptr<TraceGroup>& g, int member, int color,
                                    int key);

  int size_ = 0;
  int next_group_id_ = 1;
  bool failed_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<TraceGroup> world_group_;
};

class TraceCommunicator final : public Communicator {
 public:
  TraceCommunicator(TraceWorld* world, std::shared_ptr<TraceGroup> group, int rank);

  std::string backend() const override { return "trace"; }
  int rank() const override { return rank_; }
  int size() const override;
  // World rank of member `r` of this communicator; id of the group (the same on
  // every member, unique in the world): what the replay matches ops by.
  int world_rank(int r) const;
  int group_id() const;

  std::unique_ptr<CommRequest> start_p2p(std::span<const P2POp> ops) override;
  void all_to_all(const void* send, void* recv, std::size_t bytes_per_rank, Device dev) override;
  void all_gather(const void* send, void* recv, std::size_t bytes_per_rank, Device dev) override;
  void reduce_scatter_sum(const float* send, float* recv, std::size_t count_per_rank,
                          Device dev) override;
  void all_reduce(double* data, std::size_t count, ReduceOp op) override;
  void barrier() override;
  std::unique_ptr<Communicator> split(int color, int key) override;

 private:
  void count_collective(CommOp op, std::size_t bytes_per_rank);

  TraceWorld* world_;
  std::shared_ptr<TraceGroup> group_;
  int rank_;
};

}  // namespace cpb
