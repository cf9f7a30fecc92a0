#include "model/cost.h"

#include <algorithm>
#include <cmath>

#include "common/errors.h"

namespace cpb::model {

double rate_at(const std::vector<KernelRate>& rates, int64_t seq_k) {
  if (seq_k <= rates.front().seq_k) return rates.front().tflops;
  if (seq_k >= rates.back().seq_k) return rates.back().tflops;
  for (std::size_t i = 1; i < rates.size(); ++i)
    if (seq_k <= rates[i].seq_k) {
      const KernelRate& a = rates[i - 1];
      const KernelRate& b = rates[i];
      const double f = std::log(double(seq_k) / a.seq_k) / std::log(double(b.seq_k) / a.seq_k);
      return a.tflops + f * (b.tflops - a.tflops);
    }
  return rates.back().tflops;
}

int64_t rate_key(const KernelEntry& e, int64_t seq_q, int64_t seq_k, int64_t tiles) {
  if (e.rate_by == RateBy::kSeqQ && seq_q > 0) return seq_q;
  if (e.rate_by != RateBy::kKeysPerRow || seq_q <= 0) return seq_k;
  const double q_tiles = std::ceil(double(seq_q) / double(e.block_q));
  const double keys = std::ceil(double(tiles) / q_tiles) * double(e.block_k);
  return std::clamp<int64_t>(static_cast<int64_t>(keys), std::min(e.block_k, seq_k), seq_k);
}

double kernel_seconds(const KernelEntry& e, const KernelCall& c) {
  const double tiles = double(c.full_tiles) + e.partial_cost * double(c.partial_tiles);
  if (tiles == 0) return e.launch_seconds;
  const double per_tile = (c.backward ? 10.0 : 4.0) * double(e.block_q) * double(e.block_k) *
                          double(c.head_dim) * double(c.heads_q);
  // A call with fewer work items (q-tiles x heads) than the device holds runs at
  // that fraction of the table's rate.
  const double q_tiles = std::ceil(double(c.seq_q) / double(e.block_q));
  const double fill = std::min(1.0, q_tiles * c.heads_q / double(e.parallel_units));
  const int64_t key = rate_key(e, c.seq_q, c.seq_k, c.full_tiles + c.partial_tiles);
  const double rate = rate_at(e.rates, key) * 1e12 * fill;
  return e.launch_seconds + tiles * per_tile / rate;
}

int64_t kernel_scratch_bytes(const KernelEntry& e, const KernelCall& c) {
  const double sq = std::ceil(double(c.seq_q) / double(e.block_q)) * double(e.block_q);
  const double sk = std::ceil(double(c.seq_k) / double(e.block_k)) * double(e.block_k);
  double b = e.scratch.per_q_head * sq * c.heads_q;
  if (c.heads_q > c.heads_kv)
    b += sk * (e.scratch.per_k_kv_head_gqa * c.heads_kv + e.scratch.per_k_q_head_gqa * c.heads_q);
  return static_cast<int64_t>(std::ceil(b));
}

double memory_seconds(const KernelProfile& p, TraceKind kind, int64_t bytes) {
  if (bytes <= 0 || p.memory_bandwidth <= 0) return 0;
  const bool reads = kind == TraceKind::kCopy || kind == TraceKind::kMerge;
  return (reads ? 2.0 : 1.0) * double(bytes) / p.memory_bandwidth;
}

double inter_bandwidth(const Topology& t, int crossing) {
  const double share = crossing > t.nics_per_node ? double(t.nics_per_node) / crossing : 1.0;
  return t.inter.bandwidth * share;
}

double p2p_seconds(const Topology& t, int from, int to, int64_t bytes, int sharing, int crossing) {
  if (from == to || bytes == 0) return 0;
  sharing = std::max(1, sharing);
  if (t.node_of(from) == t.node_of(to))
    return t.intra.latency + double(bytes) * sharing / t.intra.bandwidth;
  return t.inter.latency + double(bytes) * sharing / inter_bandwidth(t, crossing);
}

double collective_seconds(const Topology& t, TraceKind kind, const std::vector<int>& members,
                          int64_t b, int crossing) {
  const int n = static_cast<int>(members.size());
  if (n <= 1 || b == 0) return 0;
  bool spans = false;
  for (int m : members) spans |= t.node_of(m) != t.node_of(members.front());
  const LinkClass& slow = spans ? t.inter : t.intra;
  const double slow_bw = spans ? inter_bandwidth(t, crossing) : t.intra.bandwidth;
  if (kind == TraceKind::kAllGather || kind == TraceKind::kReduceScatter)
    return (n - 1) * (slow.latency + double(b) / slow_bw);  // ring: n-1 steps at the slowest link
  CPB_CHECK(kind == TraceKind::kAllToAll, "not a collective: {}", to_string(kind));
  // Pairwise exchange; intra- and inter-node parts run at once on their own links.
  double worst = 0;
  for (int me : members) {
    int same = 0;
    for (int m : members) same += t.node_of(m) == t.node_of(me);
    const int intra = same - 1, inter = n - same;
    const double ti = intra ? t.intra.latency + double(intra) * b / t.intra.bandwidth : 0;
    const double tx =
        inter ? t.inter.latency + double(inter) * b / inter_bandwidth(t, crossing) : 0;
    worst = std::max(worst, std::max(ti, tx));
  }
  return worst;
}

}  // namespace cpb::model
