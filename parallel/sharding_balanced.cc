// balanced: mask-area aware, greedy (MagiAttention's dispatcher idea). S is cut
// into m*P equal chunks; each chunk's work is its rows' visible pairs
// (Mask::restrict(chunk, all keys).area()); chunks go largest-first to the shard
// with the least area that still has fewer than m chunks (equal token counts).
// Tried for m in {1, 2, 4, ..., 32} dividing S/P (m > 4 only with chunks of >= 64
// tokens, so short test sequences still get up to 4 chunks per shard); the
// fewest chunks whose largest shard area is within 1% of the best candidate wins,
// so it is never worse than contiguous (m = 1) by more than that 1%.
// A shard's chunks are kept in sequence order and adjacent ones merged.
#include <algorithm>
#include <numeric>

#include "parallel/sharding.h"

namespace cpb {
namespace {

struct Candidate {
  ShardPlan plan;
  int64_t max_area = 0;
};

Candidate greedy(const Mask& mask, int shards, int64_t chunks_per_shard) {
  const int64_t n_chunks = chunks_per_shard * shards;
  const int64_t c = mask.seq_q / n_chunks;
  const Range all_keys[] = {Range{0, mask.seq_k}};
  std::vector<int64_t> area(n_chunks);
  for (int64_t i = 0; i < n_chunks; ++i) {
    const Range rows[] = {Range{i * c, (i + 1) * c}};
    area[i] = mask.restrict(rows, all_keys).area();
  }
  std::vector<int64_t> order(n_chunks);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return area[a] > area[b]; });
  std::vector<int64_t> load(shards, 0), count(shards, 0);
  std::vector<std::vector<int64_t>> owned(shards);
  for (int64_t i : order) {
    int best = -1;
    for (int s = 0; s < shards; ++s)
      if (count[s] < chunks_per_shard && (best < 0 || load[s] < load[best])) best = s;
    load[best] += area[i];
    count[best] += 1;
    owned[best].push_back(i);
  }
  Candidate out{.plan = ShardPlan(shards), .max_area = *std::max_element(load.begin(), load.end())};
  for (int s = 0; s < shards; ++s) {
    std::sort(owned[s].begin(), owned[s].end());
    for (int64_t i : owned[s]) {
      auto& ranges = out.plan[s];
      if (!ranges.empty() && ranges.back().end == i * c)
        ranges.back().end = (i + 1) * c;
      else
        ranges.push_back(Range{i * c, (i + 1) * c});
    }
  }
  return out;
}

class BalancedSharding final : public Sharding {
 public:
  std::string cannot_split(int64_t seq, int shards) const override {
    if (shards < 1) return fmt::format("shard count {} must be >= 1", shards);
    if (seq <= 0) return fmt::format("sequence length {} must be > 0", seq);
    if (seq % shards != 0)
      return fmt::format("S={} is not divisible by {} (the shard count)", seq, shards);
    return {};
  }
  ShardPlan plan(const Mask& mask, int shards) const override {
    const int64_t per_shard = mask.seq_q / shards;
    std::vector<Candidate> candidates;
    for (int64_t m : {1, 2, 4, 8, 16, 32})
      if (per_shard % m == 0 && (m <= 4 || per_shard / m >= kMinChunk))
        candidates.push_back(greedy(mask, shards, m));
    int64_t best = candidates[0].max_area;
    for (const Candidate& c : candidates) best = std::min(best, c.max_area);
    // Fewest chunks whose largest shard is within kSlack of the best: finer chunks
    // fragment every local mask and shrink kernel tiles for a negligible gain.
    for (Candidate& c : candidates)
      if (static_cast<double>(c.max_area) <= static_cast<double>(best) * (1 + kSlack))
        return std::move(c.plan);
    return std::move(candidates[0].plan);
  }

 private:
  static constexpr int64_t kMinChunk = 64;  // tokens, for m > 4: one or two kernel tiles
  static constexpr double kSlack = 0.01;
};

}  // namespace

CPB_REGISTER_SHARDING(balanced, BalancedSharding);

}  // namespace cpb
