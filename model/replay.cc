#include "model/replay.h"

#include <algorithm>
#include <unordered_map>

#include "common/errors.h"
#include "model/cost.h"

namespace cpb::model {
namespace {

bool is_collective(TraceKind k) {
  return k == TraceKind::kAllToAll || k == TraceKind::kAllGather || k == TraceKind::kReduceScatter;
}
bool is_memory(TraceKind k) {
  return k == TraceKind::kCopy || k == TraceKind::kZero || k == TraceKind::kFill ||
         k == TraceKind::kMerge;
}

// One p2p message: its two ends' post times and its duration (set by the sender).
struct Message {
  double post[2] = {-1, -1};  // sender, receiver
  double duration = 0;
};

// (src, dst, group) of a p2p channel in one word; group -1 (off a trace comm) fits.
uint64_t channel_key(int src, int dst, int group) {
  CPB_CHECK(src < (1 << 24) && dst < (1 << 24) && group + 1 < (1 << 16),
            "replay keys hold 16M ranks and 65535 groups");
  return (uint64_t(src) << 40) | (uint64_t(dst) << 16) | uint64_t(group + 1);
}

// The channels one rank talks on, few in every schedule (a ring: its two
// neighbours per ring), so a linear scan beats a hash per transfer.
struct Cursors {
  std::vector<std::pair<uint64_t, int32_t>> keys;  // channel key -> index in `next`
  std::vector<int32_t> next;                       // per channel: messages seen so far
  int32_t& of(uint64_t key) {
    for (const auto& [k, i] : keys)
      if (k == key) return next[i];
    keys.push_back({key, static_cast<int32_t>(next.size())});
    next.push_back(0);
    return next.back();
  }
};

struct CollSlot {
  int arrived = 0, reads = 0, crossing = 0;
  double max_post = 0, end = -1;
};

struct RankState {
  std::size_t pc = 0, end = 0;
  double t_comp = 0, t_comm = 0;
  bool posted = false;
  double post = 0;
  int ordinal = 0;               // comm ops issued so far (aligns contention across a node's ranks)
  std::vector<int32_t> message;  // per transfer of the trace: its Message (-1 outside the replay)
  std::vector<double> req_end;
  std::vector<double> events;             // event id -> time recorded
  std::unordered_map<int, int> coll_seq;  // group -> collectives so far
  RankPrediction out;
};

class Replayer {
 public:
  Replayer(const Trace& t, const KernelProfile& kp, const std::string& kernel, const Topology& topo,
           const ReplayOptions& o)
      : t_(t), kp_(kp), topo_(topo) {
    const AttentionShape& sh = t.problem.shape;
    if (o.forward) fwd_ = &kp.find(kernel, sh.dtype, sh.head_dim, false);
    if (o.backward) bwd_ = &kp.find(kernel, sh.dtype, sh.head_dim, true);
    st_.resize(t.ranks.size());
    for (std::size_t r = 0; r < t.ranks.size(); ++r) {
      const RankTrace& rt = t.ranks[r];
      st_[r].pc = o.forward ? rt.forward_begin : rt.backward_begin;
      st_[r].end = o.backward ? rt.ops.size() : rt.backward_begin;
      st_[r].out.rank = static_cast<int>(r);
    }
    count_crossing();
    link_messages();
  }

  Prediction run() {
    std::size_t done = 0;
    std::vector<char> finished(st_.size(), 0);
    while (done < st_.size()) {
      bool progress = false;
      for (std::size_t r = 0; r < st_.size(); ++r) {
        if (finished[r]) continue;
        while (st_[r].pc < st_[r].end && step(static_cast<int>(r))) progress = true;
        if (st_[r].pc == st_[r].end) {
          finished[r] = 1;
          ++done;
          progress = true;
        }
      }
      CPB_CHECK(progress, "replay stalled: a rank waits for a message no rank sends");
    }
    return summarise();
  }

 private:
  // Ranks of each node crossing nodes at each comm op ordinal.
  void count_crossing() {
    const int nodes = topo_.node_of(static_cast<int>(t_.ranks.size()) - 1) + 1;
    crossing_.assign(nodes, {});
    for (std::size_t r = 0; r < t_.ranks.size(); ++r) {
      const RankTrace& rt = t_.ranks[r];
      const int node = topo_.node_of(static_cast<int>(r));
      int k = 0;
      for (std::size_t i = st_[r].pc; i < st_[r].end; ++i) {
        const TraceOp& op = rt.ops[i];
        if (op.queue != Queue::kComm || !(op.kind == TraceKind::kP2P || is_collective(op.kind)))
          continue;
        bool cross = false;
        if (op.kind == TraceKind::kP2P) {
          for (int x = op.first; x < op.first + op.count; ++x)
            cross |= topo_.node_of(rt.transfers[x].peer) != node;
        } else {
          for (int m : members(op.group)) cross |= topo_.node_of(m) != node;
        }
        auto& v = crossing_[node];
        if (static_cast<int>(v.size()) <= k) v.resize(k + 1, 0);
        v[k] += cross;
        ++k;
      }
    }
  }
  // Pairs every replayed p2p transfer with its other end once, before the clock
  // runs: the n-th send of src to dst on a group is the n-th receive of dst from
  // src on it (MPI's non-overtaking order). Senders number the messages; a receive
  // no rank sends is an error here, a send nobody receives stalls the replay.
  void link_messages() {
    std::unordered_map<uint64_t, std::vector<int32_t>> sent;  // channel -> its messages
    for (int pass = 0; pass < 2; ++pass) {  // sends, then receives (own counts: r to r)
      std::vector<Cursors> cursors(st_.size());
      for (std::size_t r = 0; r < st_.size(); ++r) {
        const RankTrace& rt = t_.ranks[r];
        RankState& s = st_[r];
        if (pass == 0) s.message.assign(rt.transfers.size(), -1);
        std::vector<int32_t>* list = nullptr;
        uint64_t list_key = ~uint64_t{0};
        for (std::size_t i = s.pc; i < s.end; ++i) {
          const TraceOp& op = rt.ops[i];
          if (op.kind != TraceKind::kP2P) continue;
          for (int x = op.first; x < op.first + op.count; ++x) {
            const TraceTransfer& tr = rt.transfers[x];
            if (tr.send != (pass == 0)) continue;
            const int src = tr.send ? static_cast<int>(r) : tr.peer;
            const int dst = tr.send ? tr.peer : static_cast<int>(r);
            const uint64_t key = channel_key(src, dst, op.group);
            if (key != list_key) {
              list = tr.send ? &sent[key] : nullptr;
              if (!tr.send) {
                auto it = sent.find(key);
                list = it == sent.end() ? nullptr : &it->second;
              }
              list_key = key;
            }
            const int32_t seq = cursors[r].of(key)++;
            if (tr.send) {
              s.message[x] = static_cast<int32_t>(messages_.size());
              messages_.emplace_back();
              list->push_back(s.message[x]);
            } else {
              CPB_CHECK(list && seq < static_cast<int32_t>(list->size()),
                        "replay stalled: rank {} waits for message {} from rank {} on group {} "
                        "that no rank sends",
                        r, seq, src, op.group);
              s.message[x] = (*list)[seq];
            }
          }
        }
      }
    }
  }
  int crossing(int rank, int ordinal) const {
    const auto& v = crossing_[topo_.node_of(rank)];
    return ordinal < static_cast<int>(v.size()) ? v[ordinal] : 1;
  }
  const std::vector<int>& members(int group) const {
    auto it = t_.groups.find(group);
    CPB_CHECK(it != t_.groups.end(), "trace has no members for group {}", group);
    return it->second;
  }

  void hold_compute(RankState& s, double until) {
    if (until > s.t_comp) {
      s.out.exposed_comm_seconds += until - s.t_comp;
      s.t_comp = until;
    }
  }

  // One op of rank r; false when it waits for another rank.
  bool step(int r) {
    RankState& s = st_[r];
    const RankTrace& rt = t_.ranks[r];
    const TraceOp& op = rt.ops[s.pc];
    if (op.kind == TraceKind::kP2P) {
      if (!p2p(r, s, rt, op)) return false;
    } else if (is_collective(op.kind)) {
      if (!collective(r, s, op)) return false;
    } else if (op.kind == TraceKind::kForward || op.kind == TraceKind::kBackward) {
      const KernelCall& c = rt.kernels[op.id];
      const KernelEntry* e = c.backward ? bwd_ : fwd_;
      CPB_CHECK(e, "kernel call of a pass the replay was not given a profile entry for");
      const double d = kernel_seconds(*e, c);
      s.t_comp += d;
      s.out.compute_seconds += d;
    } else if (is_memory(op.kind)) {
      const double d = memory_seconds(kp_, op.kind, op.bytes);
      s.t_comp += d;
      s.out.memory_seconds += d;
    } else if (op.kind == TraceKind::kComplete) {
      CPB_CHECK(op.id < static_cast<int>(s.req_end.size()), "complete of an unknown request");
      hold_compute(s, s.req_end[op.id]);
    } else if (op.kind == TraceKind::kRecord) {
      if (op.id >= static_cast<int>(s.events.size())) s.events.resize(op.id + 1, 0);
      s.events[op.id] = op.queue == Queue::kCompute ? s.t_comp : s.t_comm;
    } else if (op.kind == TraceKind::kWait) {
      const double e = op.id < static_cast<int>(s.events.size()) ? s.events[op.id] : 0;
      if (op.queue == Queue::kCompute)
        hold_compute(s, e);
      else
        s.t_comm = std::max(s.t_comm, e);
    } else if (op.kind == TraceKind::kSync) {
      hold_compute(s, s.t_comm);
      s.t_comm = s.t_comp;
    }
    ++s.pc;
    return true;
  }

  bool p2p(int r, RankState& s, const RankTrace& rt, const TraceOp& op) {
    const int last = op.first + op.count;
    if (!s.posted) {
      s.post = std::max(s.t_comm, s.t_comp);
      int intra = 0, inter = 0;
      for (int x = op.first; x < last; ++x) {
        const TraceTransfer& tr = rt.transfers[x];
        if (tr.send && tr.peer != r) (topo_.node_of(tr.peer) == topo_.node_of(r) ? intra : inter)++;
      }
      const int cross = crossing(r, s.ordinal);
      for (int x = op.first; x < last; ++x) {
        const TraceTransfer& tr = rt.transfers[x];
        Message& m = messages_[s.message[x]];
        m.post[tr.send ? 0 : 1] = s.post;
        if (tr.send) {
          const bool same = topo_.node_of(tr.peer) == topo_.node_of(r);
          m.duration = p2p_seconds(topo_, r, tr.peer, tr.bytes, same ? intra : inter, cross);
        }
      }
      s.posted = true;
      ++s.ordinal;
    }
    double end = s.post;
    for (int x = op.first; x < last; ++x) {
      const Message& m = messages_[s.message[x]];
      if (m.post[0] < 0 || m.post[1] < 0) return false;
      end = std::max(end, std::max(m.post[0], m.post[1]) + m.duration);
    }
    s.out.comm_busy_seconds += end - s.post;
    s.t_comm = end;
    if (static_cast<int>(s.req_end.size()) <= op.id) s.req_end.resize(op.id + 1, 0);
    s.req_end[op.id] = end;
    s.posted = false;
    return true;
  }

  bool collective(int r, RankState& s, const TraceOp& op) {
    const std::vector<int>& m = members(op.group);
    const uint64_t key = (uint64_t(op.group + 1) << 32) |
                         uint64_t(s.posted ? s.coll_seq[op.group] - 1 : s.coll_seq[op.group]++);
    CollSlot& slot = coll_[key];
    if (!s.posted) {
      s.post = std::max(s.t_comm, s.t_comp);
      slot.arrived++;
      slot.max_post = std::max(slot.max_post, s.post);
      slot.crossing = std::max(slot.crossing, crossing(r, s.ordinal));
      s.posted = true;
      ++s.ordinal;
    }
    if (slot.arrived < static_cast<int>(m.size())) return false;
    if (slot.end < 0)
      slot.end = slot.max_post + collective_seconds(topo_, op.kind, m, op.bytes, slot.crossing);
    const double end = slot.end;
    if (++slot.reads == static_cast<int>(m.size())) coll_.erase(key);
    s.out.comm_busy_seconds += end - s.post;
    s.t_comm = end;
    hold_compute(s, end);  // a collective's output is read by the compute after it
    s.posted = false;
    return true;
  }

  Prediction summarise() {
    Prediction p;
    double sum = 0;
    int slowest = 0;
    for (std::size_t r = 0; r < st_.size(); ++r) {
      RankPrediction& o = st_[r].out;
      const RankTrace& rt = t_.ranks[r];
      o.step_seconds = std::max(st_[r].t_comp, st_[r].t_comm);
      o.peak_memory_bytes = rank_peak_bytes(rt, fwd_, bwd_);
      o.local_tokens = rt.local_tokens;
      o.area = rt.area;
      o.bytes_sent = rt.forward_stats.bytes_sent() + rt.backward_stats.bytes_sent();
      o.bytes_received = rt.forward_stats.bytes_received() + rt.backward_stats.bytes_received();
      o.expected_bytes_sent = rt.expected.forward_bytes_sent + rt.expected.backward_bytes_sent;
      o.expected_bytes_received =
          rt.expected.forward_bytes_received + rt.expected.backward_bytes_received;
      sum += o.step_seconds;
      if (o.step_seconds > p.step_seconds) {
        p.step_seconds = o.step_seconds;
        slowest = static_cast<int>(r);
      }
      p.compute_seconds = std::max(p.compute_seconds, o.compute_seconds);
      p.exposed_comm_seconds = std::max(p.exposed_comm_seconds, o.exposed_comm_seconds);
      p.memory_seconds = std::max(p.memory_seconds, o.memory_seconds);
      p.peak_memory_bytes = std::max(p.peak_memory_bytes, o.peak_memory_bytes);
      p.ranks.push_back(o);
    }
    const RankPrediction& w = p.ranks[slowest];
    p.overlap_efficiency = w.compute_seconds + w.exposed_comm_seconds > 0
                               ? w.compute_seconds / (w.compute_seconds + w.exposed_comm_seconds)
                               : 1;
    const double mean = sum / st_.size();
    p.time_imbalance = mean > 0 ? p.step_seconds / mean : 1;
    return p;
  }

  const Trace& t_;
  const KernelProfile& kp_;
  const Topology& topo_;
  const KernelEntry* fwd_ = nullptr;
  const KernelEntry* bwd_ = nullptr;
  std::vector<RankState> st_;
  std::vector<std::vector<int>> crossing_;
  std::vector<Message> messages_;
  std::unordered_map<uint64_t, CollSlot> coll_;
};

}  // namespace

int64_t rank_peak_bytes(const RankTrace& rank, const KernelEntry* fwd, const KernelEntry* bwd) {
  int64_t peak = rank.memory.peak_bytes;
  for (const KernelCall& c : rank.kernels)
    if (const KernelEntry* e = c.backward ? bwd : fwd)
      peak = std::max(peak, c.live_bytes + kernel_scratch_bytes(*e, c));
  return peak;
}

Bound bound(const Trace& trace, const KernelProfile& kernels, const std::string& kernel,
            const ReplayOptions& o) {
  const AttentionShape& sh = trace.problem.shape;
  const KernelEntry* fwd =
      o.forward ? &kernels.find(kernel, sh.dtype, sh.head_dim, false) : nullptr;
  const KernelEntry* bwd =
      o.backward ? &kernels.find(kernel, sh.dtype, sh.head_dim, true) : nullptr;
  Bound b;
  for (const RankTrace& rt : trace.ranks) {
    const std::size_t first = o.forward ? rt.forward_begin : rt.backward_begin;
    const std::size_t last = o.backward ? rt.ops.size() : rt.backward_begin;
    double busy = 0;
    for (std::size_t i = first; i < last; ++i) {
      const TraceOp& op = rt.ops[i];
      if (op.kind == TraceKind::kForward || op.kind == TraceKind::kBackward) {
        const KernelCall& c = rt.kernels[op.id];
        const KernelEntry* e = c.backward ? bwd : fwd;
        CPB_CHECK(e, "kernel call of a pass the bound was not given a profile entry for");
        busy += kernel_seconds(*e, c);
      } else if (is_memory(op.kind)) {
        busy += memory_seconds(kernels, op.kind, op.bytes);
      }
    }
    b.compute_queue_seconds = std::max(b.compute_queue_seconds, busy);
    b.peak_memory_bytes = std::max(b.peak_memory_bytes, rank_peak_bytes(rt, fwd, bwd));
  }
  return b;
}

Prediction replay(const Trace& trace, const KernelProfile& kernels, const std::string& kernel,
                  const Topology& topology, const ReplayOptions& options) {
  CPB_REQUIRE(!trace.ranks.empty(), "empty trace");
  topology.check_world(static_cast<int>(trace.ranks.size()));
  return Replayer(trace, kernels, kernel, topology, options).run();
}

}  // namespace cpb::model
