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

#define CPB_REGISTER_SHARDING(name, Type)                                                     \
  static const bool cpb_registered_sharding_##name = ::cpb::ShardingRegistry::instance().add( \
      #name, [] { return std::unique_ptr<::cpb::Sharding>(new Type()); })

}  // namespace cpb
