#include "model/plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "common/errors.h"
#include "parallel/sharding.h"
#include "parallel/trace_execution.h"

namespace cpb::model {

Prediction predict(const std::string& method, const CpProblem& problem, const ModelInputs& in) {
  CPB_CHECK(in.kernels && in.topology, "model inputs without profiles");
  in.topology->check_world(problem.config.world);
  const AttentionShape& sh = problem.shape;
  // The tile of the counts is the profile's (the first pass asked for decides).
  const KernelEntry& e = in.kernels->find(in.kernel, sh.dtype, sh.head_dim, !in.forward);
  if (in.forward && in.backward) in.kernels->find(in.kernel, sh.dtype, sh.head_dim, true);
  TraceOptions o{
      .block_q = e.block_q, .block_k = e.block_k, .forward = in.forward, .backward = in.backward};
  const Trace t = trace_method(method, problem, o);
  return replay(t, *in.kernels, in.kernel, *in.topology,
                {.forward = in.forward, .backward = in.backward});
}

std::string PlanCandidate::describe() const {
  auto m = CpMethodRegistry::instance().create(method);
  const std::string tag = m->layout_tag(layout);
  return tag.empty() ? fmt::format("{} {}", method, sharding)
                     : fmt::format("{} {} {}", method, tag, sharding);
}

namespace {

// Every layout of `m` on `world`: all degree splits, inner rings and placements on
// the axes it reads, normalised so equal runs appear once.
std::vector<CpLayout> all_layouts(const CpMethod& m, int world) {
  std::vector<CpLayout> out;
  for (int u : divisors(world))
    for (int w : divisors(world / u))
      for (Placement p : {Placement::kContiguous, Placement::kStrided}) {
        const CpLayout l =
            m.normalise({.ulysses = u, .ring = world / u, .inner_ring = w, .placement = p}, world);
        if (std::find(out.begin(), out.end(), l) == out.end()) out.push_back(l);
      }
  return out;
}

}  // namespace

std::vector<PlanCandidate> plan(const PlanRequest& req, const ModelInputs& in) {
  CPB_REQUIRE(req.mask, "plan needs a mask");
  in.topology->check_world(req.world);
  const double budget =
      req.memory_budget_bytes > 0 ? req.memory_budget_bytes : in.topology->memory_bytes_per_rank;
  const auto methods = req.methods.empty() ? CpMethodRegistry::instance().names() : req.methods;
  const auto shardings =
      req.shardings.empty() ? ShardingRegistry::instance().names() : req.shardings;
  // Ranges per shard of each sharding at this world (the planner's size guard).
  std::map<std::string, std::size_t> ranges;
  for (const auto& sharding : shardings) {
    auto sh = ShardingRegistry::instance().create(sharding);
    std::size_t n = 0;
    if (sh->cannot_split(req.shape.seq_q, req.world).empty())
      for (const auto& shard : sh->plan(*req.mask, req.world)) n = std::max(n, shard.size());
    ranges[sharding] = n;
  }
  std::vector<PlanCandidate> all;
  for (const auto& name : methods) {
    auto m = CpMethodRegistry::instance().create(name);
    if (!m->runs_on(req.world)) continue;
    for (const CpLayout& l : all_layouts(*m, req.world))
      for (const auto& sharding : shardings) {
        PlanCandidate c{.method = name, .layout = l, .sharding = sharding};
        CpProblem p{.shape = req.shape,
                    .mask = req.mask,
                    .scale = 1.0f,
                    .config = make_config(l, req.world, sharding)};
        const Support s = m->supports(p);
        if (!s.ok()) {
          c.status = "unsupported";
          c.reason = s.reason;
        } else if (ranges[sharding] > kPlanMaxRangesPerShard) {
          c.status = "unsupported";
          c.reason = fmt::format(
              "{} gives {} ranges per shard (> {}): not traced by the planner (about ranges^2 "
              "mask slices per shard); `cpbench model` traces it when asked",
              sharding, ranges[sharding], kPlanMaxRangesPerShard);
        } else {
          c.prediction = predict(name, p, in);
          c.prediction.ranks.clear();
          c.status = budget > 0 && c.prediction.peak_memory_bytes > budget ? "over_budget" : "ok";
          if (c.status == "over_budget")
            c.reason = fmt::format("peak {:.1f} GB per rank > budget {:.1f} GB",
                                   c.prediction.peak_memory_bytes / 1e9, budget / 1e9);
        }
        all.push_back(std::move(c));
      }
  }
  std::stable_sort(all.begin(), all.end(), [](const PlanCandidate& a, const PlanCandidate& b) {
    const bool ao = a.status == "ok", bo = b.status == "ok";
    if (ao != bo) return ao;
    return ao && a.prediction.step_seconds < b.prediction.step_seconds;
  });
  return all;
}

std::string why_wins(const PlanCandidate& best, const PlanCandidate& other) {
  const Prediction& a = best.prediction;
  const Prediction& b = other.prediction;
  struct Part {
    const char* name;
    double delta;
  };
  Part parts[] = {
      {"kernel time (load balance / work per rank)", b.compute_seconds - a.compute_seconds},
      {"exposed communication", b.exposed_comm_seconds - a.exposed_comm_seconds},
      {"copies and merges", b.memory_seconds - a.memory_seconds}};
  const Part* top =
      std::max_element(std::begin(parts), std::end(parts),
                       [](const Part& x, const Part& y) { return x.delta < y.delta; });
  const double gap = b.step_seconds - a.step_seconds;
  if (gap <= 1e-4 * b.step_seconds)
    return fmt::format("ties with {} (the same predicted cost: an equivalent schedule)",
                       other.describe());
  return fmt::format("{:.1f}% faster than {}; most of the gap is {} ({:+.3f} ms there)",
                     a.step_seconds > 0 ? 100.0 * gap / b.step_seconds : 0.0, other.describe(),
                     top->name, top->delta * 1e3);
}

}  // namespace cpb::model
