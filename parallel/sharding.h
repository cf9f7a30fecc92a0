// Sharding: which global tokens each of P shards holds (load balance for CP).
// Every shard holds the same number of tokens (collectives need equal blocks);
// a shard may be several ranges, concatenated in order as its local tensor.
#pragma once

#include <string>
#include <vector>

#include "common/registry.h"
#include "masks/mask.h"

namespace cpb {

using ShardPlan = std::vector<std::vector<Range>>;  // [shard] -> ranges in local order

class Sharding {
 public:
  static constexpr const char* kRegistryNoun = "sharding";
  virtual ~Sharding() = default;
  // Empty string when S can be split this way into `shards`, else the reason.
  virtual std::string cannot_split(int64_t seq, int shards) const = 0;
  virtual ShardPlan plan(const Mask& mask, int shards) const = 0;
};

using ShardingRegistry = Registry<Sharding>;

// Rows' visible pairs per shard: shard s's share of the attention work, summed
// over its tokens as queries against all keys (exact, from the mask slices).
std::vector<int64_t> shard_areas(const Mask& mask, const ShardPlan& plan);

// max / mean of per-shard values (1 = perfectly balanced; 1 when all are zero).
double imbalance(const std::vector<int64_t>& values);

// Empty when `plan` has `shards` shards of equal token count covering [0, seq)
// exactly once with non-empty ranges; else what is wrong. For tests and checks.
std::string plan_error(const ShardPlan& plan, int64_t seq, int shards);

// Shorthand: create `name` from the registry, check it can split the mask, plan.
// Throws InputError with the sharding's reason when it cannot.
ShardPlan make_shard_plan(const std::string& name, const Mask& mask, int shards);

#define CPB_REGISTER_SHARDING(name, Type)                                                     \
  static const bool cpb_registered_sharding_##name = ::cpb::ShardingRegistry::instance().add( \
      #name, [] { return std::unique_ptr<::cpb::Sharding>(new Type()); })

}  // namespace cpb
