// contiguous, zigzag and striped: position-only shardings (they ignore the mask).
// contiguous: shard r = [rS/P, (r+1)S/P); no reordering, worst balance on causal.
// zigzag: 2P equal chunks, shard r holds chunks r and 2P-1-r (Megatron/TE "load
//   balanced" CP); exactly balanced for a causal mask.
// striped: round-robin stripes, shard r holds stripes r, r+P, r+2P, ... The stripe
//   is the widest power of two <= 64 tokens dividing S/P, not one token (Striped
//   Attention's unit): per-token stripes fragment every local mask into S/P pieces.
#include "parallel/sharding.h"

namespace cpb {
namespace {

std::string divisible(int64_t seq, int shards, int64_t pieces_per_shard, const char* what) {
  if (shards < 1) return fmt::format("shard count {} must be >= 1", shards);
  if (seq <= 0) return fmt::format("sequence length {} must be > 0", seq);
  if (seq % (shards * pieces_per_shard) != 0)
    return fmt::format("S={} is not divisible by {} ({})", seq, shards * pieces_per_shard, what);
  return {};
}

class ContiguousSharding final : public Sharding {
 public:
  std::string cannot_split(int64_t seq, int shards) const override {
    return divisible(seq, shards, 1, "the shard count");
  }
  ShardPlan plan(const Mask& mask, int shards) const override {
    const int64_t n = mask.seq_q / shards;
    ShardPlan plan(shards);
    for (int r = 0; r < shards; ++r) plan[r] = {Range{r * n, (r + 1) * n}};
    return plan;
  }
};

class ZigzagSharding final : public Sharding {
 public:
  std::string cannot_split(int64_t seq, int shards) const override {
    return divisible(seq, shards, 2, "2P chunks");
  }
  ShardPlan plan(const Mask& mask, int shards) const override {
    const int64_t c = mask.seq_q / (2 * shards);
    ShardPlan plan(shards);
    for (int r = 0; r < shards; ++r) {
      const int64_t mirror = 2 * shards - 1 - r;
      plan[r] = {Range{r * c, (r + 1) * c}, Range{mirror * c, (mirror + 1) * c}};
    }
    return plan;
  }
};

class StripedSharding final : public Sharding {
 public:
  static constexpr int64_t kMaxStripe = 64;

  static int64_t stripe(int64_t seq, int shards) {
    int64_t w = kMaxStripe;
    while (w > 1 && (seq / shards) % w != 0) w /= 2;
    return w;
  }
  std::string cannot_split(int64_t seq, int shards) const override {
    return divisible(seq, shards, 1, "the shard count");
  }
  ShardPlan plan(const Mask& mask, int shards) const override {
    const int64_t w = stripe(mask.seq_q, shards);
    const int64_t stripes = mask.seq_q / w;
    ShardPlan plan(shards);
    for (int64_t i = 0; i < stripes; ++i) plan[i % shards].push_back(Range{i * w, (i + 1) * w});
    return plan;
  }
};

}  // namespace

CPB_REGISTER_SHARDING(contiguous, ContiguousSharding);
CPB_REGISTER_SHARDING(zigzag, ZigzagSharding);
CPB_REGISTER_SHARDING(striped, StripedSharding);

}  // namespace cpb
