#include "parallel/trace_communicator.h"

#include <algorithm>
#include <tuple>

#include "common/errors.h"

namespace cpb {

// Members of one communicator (world ranks, index = rank in it) and the state of
// the split() in progress on it.
struct TraceGroup {
  int id = 0;
  std::vector<int> members;
  int arrived = 0;
  int64_t generation = 0;
  std::vector<std::pair<int, int>> color_key;            // per member, this round
  std::vector<std::shared_ptr<TraceGroup>> result;       // per member, this round
  std::vector<std::shared_ptr<TraceGroup>> last_result;  // finished round, for late readers
};

namespace {

class DoneRequest final : public CommRequest {
 public:
  void wait() override {}
};

}  // namespace

TraceWorld::TraceWorld(int world) : size_(world) {
  CPB_REQUIRE(world >= 1, "trace world size must be >= 1, got {}", world);
  world_group_ = std::make_shared<TraceGroup>();
  world_group_->id = 0;
  for (int r = 0; r < world; ++r) world_group_->members.push_back(r);
}

TraceWorld::~TraceWorld() = default;

std::unique_ptr<Communicator> TraceWorld::communicator(int rank) {
  CPB_CHECK(rank >= 0 && rank < size_, "rank {} outside a trace world of {}", rank, size_);
  return std::make_unique<TraceCommunicator>(this, world_group_, rank);
}

void TraceWorld::fail() {
  std::lock_guard<std::mutex> lock(mu_);
  failed_ = true;
  cv_.notify_all();
}

std::shared_ptr<TraceGroup> TraceWorld::split(const std::shared_ptr<TraceGroup>& g, int member,
                                              int color, int key) {
  std::unique_lock<std::mutex> lock(mu_);
  const int n = static_cast<int>(g->members.size());
  if (g->arrived == 0) {
    g->color_key.assign(n, {-1, 0});
    g->result.assign(n, nullptr);
  }
  g->color_key[member] = {color, key};
  const int64_t gen = g->generation;
  if (++g->arrived == n) {
    // Last to arrive forms the groups: same color, ordered by (key, old rank) as MPI does.
    std::vector<int> order(n);
    for (int i = 0; i < n; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](int a, int b) {
      return std::tie(g->color_key[a].first, g->color_key[a].second, a) <
             std::tie(g->color_key[b].first, g->color_key[b].second, b);
    });
    std::shared_ptr<TraceGroup> cur;
    int cur_color = -1;
    for (int i : order) {
      if (!cur || g->color_key[i].first != cur_color) {
        cur = std::make_shared<TraceGroup>();
        cur->id = next_group_id_++;
        cur_color = g->color_key[i].first;
      }
      cur->members.push_back(g->members[i]);
      g->result[i] = cur;
    }
    g->last_result = std::move(g->result);
    g->arrived = 0;
    ++g->generation;
    cv_.notify_all();
  } else {
    cv_.wait(lock, [&] { return g->generation != gen || failed_; });
    CPB_CHECK(g->generation != gen, "trace split abandoned: another simulated rank failed");
  }
  return g->last_result[member];
}

TraceCommunicator::TraceCommunicator(TraceWorld* world, std::shared_ptr<TraceGroup> group, int rank)
    : world_(world), group_(std::move(group)), rank_(rank) {}

int TraceCommunicator::size() const { return static_cast<int>(group_->members.size()); }
int TraceCommunicator::world_rank(int r) const { return group_->members.at(r); }
int TraceCommunicator::group_id() const { return group_->id; }

std::unique_ptr<CommRequest> TraceCommunicator::start_p2p(std::span<const P2POp> ops) {
  CommOpStats& s = stats_[CommOp::kP2P];
  for (const P2POp& op : ops) {
    CPB_CHECK(op.peer >= 0 && op.peer < size(), "p2p peer {} outside [0, {})", op.peer, size());
    if (op.peer != rank_)
      (op.kind == P2POp::kSend ? s.bytes_sent : s.bytes_received) += static_cast<int64_t>(op.bytes);
  }
  s.calls += 1;
  return std::make_unique<DoneRequest>();
}

void TraceCommunicator::count_collective(CommOp op, std::size_t bytes_per_rank) {
  CommOpStats& s = stats_[op];
  s.calls += 1;
  s.bytes_sent += static_cast<int64_t>(bytes_per_rank) * (size() - 1);
  s.bytes_received += static_cast<int64_t>(bytes_per_rank) * (size() - 1);
}

void TraceCommunicator::all_to_all(const void*, void*, std::size_t bytes_per_rank, Device) {
  count_collective(CommOp::kAllToAll, bytes_per_rank);
}

void TraceCommunicator::all_gather(const void*, void*, std::size_t bytes_per_rank, Device) {
  count_collective(CommOp::kAllGather, bytes_per_rank);
}

void TraceCommunicator::reduce_scatter_sum(const float*, float*, std::size_t count_per_rank,
                                           Device) {
  count_collective(CommOp::kReduceScatter, count_per_rank * sizeof(float));
}

void TraceCommunicator::all_reduce(double*, std::size_t count, ReduceOp) {
  // The MPI backend's convention: a ring all-reduce moves 2 (P-1)/P of the data each way.
  CommOpStats& s = stats_[CommOp::kAllReduce];
  s.calls += 1;
  const int64_t bytes = 2 * static_cast<int64_t>(count * sizeof(double)) * (size() - 1) / size();
  s.bytes_sent += bytes;
  s.bytes_received += bytes;
}

void TraceCommunicator::barrier() { stats_[CommOp::kBarrier].calls += 1; }

std::unique_ptr<Communicator> TraceCommunicator::split(int color, int key) {
  CPB_CHECK(color >= 0, "split color {} must be >= 0", color);
  std::shared_ptr<TraceGroup> g = world_->split(group_, rank_, color, key);
  const auto it = std::find(g->members.begin(), g->members.end(), group_->members[rank_]);
  return std::make_unique<TraceCommunicator>(world_, g, static_cast<int>(it - g->members.begin()));
}

}  // namespace cpb
