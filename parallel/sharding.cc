#include <algorithm>
#include <numeric>

#include "parallel/sharding.h"

namespace cpb {

std::vector<int64_t> shard_areas(const Mask& mask, const ShardPlan& plan) {
  const Range all_keys[] = {Range{0, mask.seq_k}};
  std::vector<int64_t> areas;
  areas.reserve(plan.size());
  for (const auto& ranges : plan) areas.push_back(mask.restrict(ranges, all_keys).area());
  return areas;
}

double imbalance(const std::vector<int64_t>& values) {
  if (values.empty()) return 1.0;
  const double total = std::accumulate(values.begin(), values.end(), 0.0);
  if (total == 0) return 1.0;
  const double max = static_cast<double>(*std::max_element(values.begin(), values.end()));
  return max / (total / static_cast<double>(values.size()));
}

std::string plan_error(const ShardPlan& plan, int64_t seq, int shards) {
  if (static_cast<int>(plan.size()) != shards)
    return fmt::format("{} shards, expected {}", plan.size(), shards);
  std::vector<std::pair<int64_t, int64_t>> all;  // (begin, end) of every range
  int64_t per_shard = -1;
  for (std::size_t s = 0; s < plan.size(); ++s) {
    int64_t tokens = 0;
    for (const Range& r : plan[s]) {
      if (r.begin < 0 || r.end > seq || r.begin >= r.end)
        return fmt::format("shard {} has range [{}, {}) outside [0, {}) or empty", s, r.begin,
                           r.end, seq);
      tokens += r.size();
      all.emplace_back(r.begin, r.end);
    }
    if (per_shard < 0) per_shard = tokens;
    if (tokens != per_shard)
      return fmt::format("shard {} holds {} tokens, shard 0 holds {}", s, tokens, per_shard);
  }
  std::sort(all.begin(), all.end());
  int64_t covered = 0;
  for (const auto& [b, e] : all) {
    if (b != covered)
      return fmt::format("token {} is {}", std::min(b, covered),
                         b > covered ? "missing" : "held twice");
    covered = e;
  }
  if (covered != seq) return fmt::format("tokens [{}, {}) are missing", covered, seq);
  return {};
}

ShardPlan make_shard_plan(const std::string& name, const Mask& mask, int shards) {
  auto sharding = ShardingRegistry::instance().create(name);
  CPB_REQUIRE(mask.seq_q == mask.seq_k, "sharding needs a square mask, got {} x {}", mask.seq_q,
              mask.seq_k);
  std::string why = sharding->cannot_split(mask.seq_q, shards);
  CPB_REQUIRE(why.empty(), "sharding '{}' cannot split S={} into {} shards: {}", name, mask.seq_q,
              shards, why);
  ShardPlan plan = sharding->plan(mask, shards);
  std::string bad = plan_error(plan, mask.seq_q, shards);
  CPB_CHECK(bad.empty(), "sharding '{}' made a bad plan: {}", name, bad);
  return plan;
}

}  // namespace cpb
