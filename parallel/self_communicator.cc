#include "parallel/self_communicator.h"

#include <chrono>
#include <vector>

#include "common/errors.h"
#include "parallel/device_copy.h"

namespace cpb {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The copies are done at start_p2p (there is nobody to wait for), so wait() is free.
class DoneRequest final : public CommRequest {
 public:
  void wait() override {}
};

}  // namespace

std::unique_ptr<CommRequest> SelfCommunicator::start_p2p(std::span<const P2POp> ops) {
  auto t0 = std::chrono::steady_clock::now();
  std::vector<const P2POp*> sends, recvs;
  for (const P2POp& op : ops) {
    CPB_CHECK(op.peer == 0, "p2p peer {} on a communicator of size 1", op.peer);
    (op.kind == P2POp::kSend ? sends : recvs).push_back(&op);
  }
  CPB_CHECK(sends.size() == recvs.size(), "{} sends but {} receives to self", sends.size(),
            recvs.size());
  for (std::size_t i = 0; i < sends.size(); ++i) {
    CPB_CHECK(sends[i]->bytes == recvs[i]->bytes, "self p2p #{}: send {} bytes, receive {}", i,
              sends[i]->bytes, recvs[i]->bytes);
    copy_bytes(recvs[i]->data, recvs[i]->device, sends[i]->data, sends[i]->device, sends[i]->bytes);
  }
  CommOpStats& s = stats_[CommOp::kP2P];
  s.calls += 1;
  s.wait_seconds += seconds_since(t0);
  return std::make_unique<DoneRequest>();
}

void SelfCommunicator::all_to_all(const void* send, void* recv, std::size_t bytes_per_rank,
                                  Device dev) {
  auto t0 = std::chrono::steady_clock::now();
  if (send != recv) copy_bytes(recv, dev, send, dev, bytes_per_rank);
  stats_[CommOp::kAllToAll].calls += 1;
  stats_[CommOp::kAllToAll].wait_seconds += seconds_since(t0);
}

void SelfCommunicator::all_gather(const void* send, void* recv, std::size_t bytes_per_rank,
                                  Device dev) {
  auto t0 = std::chrono::steady_clock::now();
  if (send != recv) copy_bytes(recv, dev, send, dev, bytes_per_rank);
  stats_[CommOp::kAllGather].calls += 1;
  stats_[CommOp::kAllGather].wait_seconds += seconds_since(t0);
}

void SelfCommunicator::reduce_scatter_sum(const float* send, float* recv,
                                          std::size_t count_per_rank, Device dev) {
  auto t0 = std::chrono::steady_clock::now();
  if (send != recv) copy_bytes(recv, dev, send, dev, count_per_rank * sizeof(float));
  stats_[CommOp::kReduceScatter].calls += 1;
  stats_[CommOp::kReduceScatter].wait_seconds += seconds_since(t0);
}

void SelfCommunicator::all_reduce(double*, std::size_t, ReduceOp) {
  stats_[CommOp::kAllReduce].calls += 1;  // the reduction of one value is itself
}

void SelfCommunicator::barrier() { stats_[CommOp::kBarrier].calls += 1; }

std::unique_ptr<Communicator> SelfCommunicator::split(int color, int) {
  CPB_CHECK(color >= 0, "split color {} must be >= 0", color);
  return std::make_unique<SelfCommunicator>();
}

}  // namespace cpb
