#include "parallel/cp_common.h"

#include "common/errors.h"

namespace cpb {

CommStats CommGroup::stats() const {
  CommStats sum;
  for (const auto& c : comms_) {
    const CommStats& s = c->stats();
    for (size_t i = 0; i < sum.ops.size(); ++i) {
      sum.ops[i].calls += s.ops[i].calls;
      sum.ops[i].bytes_sent += s.ops[i].bytes_sent;
      sum.ops[i].bytes_received += s.ops[i].bytes_received;
      sum.ops[i].wait_seconds += s.ops[i].wait_seconds;
    }
  }
  return sum;
}

Support check_common(const CpProblem& problem, int shards) {
  const AttentionShape& s = problem.shape;
  if (!problem.mask) return Support::no("no mask given");
  if (s.seq_q != s.seq_k)
    return Support::no(fmt::format("CP needs seq_q == seq_k, got {} and {}", s.seq_q, s.seq_k));
  if (problem.mask->seq_q != s.seq_q || problem.mask->seq_k != s.seq_k)
    return Support::no(fmt::format("mask is {}x{} but the sequence is {}", problem.mask->seq_q,
                                   problem.mask->seq_k, s.seq_q));
  if (s.heads_kv <= 0 || s.heads_q % s.heads_kv != 0)
    return Support::no(fmt::format("Hq={} is not a multiple of Hkv={}", s.heads_q, s.heads_kv));
  if (s.device != Device::kCpu)
    return Support::no(
        "CP methods stage and merge on host buffers; device tensors not supported yet");
  if (problem.config.world < 1) return Support::no("world size must be >= 1");
  if (!ShardingRegistry::instance().contains(problem.config.sharding))
    return Support::no(fmt::format("unknown sharding '{}'; registered: {}", problem.config.sharding,
                                   fmt::join(ShardingRegistry::instance().names(), ", ")));
  auto sharding = ShardingRegistry::instance().create(problem.config.sharding);
  std::string why = sharding->cannot_split(s.seq_q, shards);
  if (!why.empty())
    return Support::no(fmt::format("sharding '{}' cannot split S={} into {} shards: {}",
                                   problem.config.sharding, s.seq_q, shards, why));
  return Support::yes();
}

ShardPlan make_plan(const CpProblem& problem, int shards) {
  auto plan =
      ShardingRegistry::instance().create(problem.config.sharding)->plan(*problem.mask, shards);
  CPB_CHECK(static_cast<int>(plan.size()) == shards, "sharding gave {} shards, wanted {}",
            plan.size(), shards);
  return plan;
}

int64_t total_tokens(const std::vector<Range>& ranges) {
  int64_t n = 0;
  for (const auto& r : ranges) n += r.size();
  return n;
}

}  // namespace cpb
