#include "model/plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <queue>

#include "common/errors.h"
#include "parallel/sharding.h"
#include "parallel/trace_execution.h"

namespace cpb::model {

Trace trace_case(const std::string& method, const CpProblem& problem, const ModelInputs& in) {
  CPB_CHECK(in.kernels && in.topology, "model inputs without profiles");
  const AttentionShape& sh = problem.shape;
  // The tile of the counts is the profile's (the first pass asked for decides).
  const KernelEntry& e = in.kernels->find(in.kernel, sh.dtype, sh.head_dim, !in.forward);
  if (in.forward && in.backward) in.kernels->find(in.kernel, sh.dtype, sh.head_dim, true);
  const TraceOptions o{
      .block_q = e.block_q, .block_k = e.block_k, .forward = in.forward, .backward = in.backward};
  return trace_method(method, problem, o);
}

ReplayOptions replay_options(const ModelInputs& in) {
  return {.forward = in.forward, .backward = in.backward};
}

Prediction predict(const std::string& method, const CpProblem& problem, const ModelInputs& in) {
  CPB_CHECK(in.kernels && in.topology, "model inputs without profiles");
  in.topology->check_world(problem.config.world);
  const Trace t = trace_case(method, problem, in);
  return replay(t, *in.kernels, in.kernel, *in.topology, replay_options(in));
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

namespace {

// A candidate to trace: its problem, its place in enumeration order and a cost
// guess (ring degree: steps per rank) that decides which is traced first.
struct Pending {
  std::size_t index;
  CpProblem problem;
  int cost;
};

// The shard plan of each sharding at this world, made once for every candidate
// (the plan depends on the mask and the world only); absent when it cannot split.
std::map<std::string, ShardPlan> shard_plans(const PlanRequest& req,
                                             const std::vector<std::string>& shardings) {
  std::map<std::string, ShardPlan> plans;
  for (const auto& name : shardings) {
    auto sh = ShardingRegistry::instance().create(name);
    if (sh->cannot_split(req.shape.seq_q, req.world).empty())
      plans[name] = sh->plan(*req.mask, req.world);
  }
  return plans;
}

// The candidates of every method, layout and sharding, in enumeration order; the
// ones that cannot be traced get their status and reason here.
std::vector<PlanCandidate> enumerate(const PlanRequest& req,
                                     const std::map<std::string, ShardPlan>& plans,
                                     std::vector<Pending>* pending) {
  const auto methods = req.methods.empty() ? CpMethodRegistry::instance().names() : req.methods;
  const auto shardings =
      req.shardings.empty() ? ShardingRegistry::instance().names() : req.shardings;
  std::vector<PlanCandidate> all;
  for (const auto& name : methods) {
    auto m = CpMethodRegistry::instance().create(name);
    if (!m->runs_on(req.world)) continue;
    for (const CpLayout& l : all_layouts(*m, req.world))
      for (const auto& sharding : shardings) {
        PlanCandidate c{.method = name, .layout = l, .sharding = sharding};
        const auto plan = plans.find(sharding);
        CpProblem p{.shape = req.shape,
                    .mask = req.mask,
                    .scale = 1.0f,
                    .config = make_config(l, req.world, sharding),
                    .shard_plan = plan == plans.end() ? nullptr : &plan->second};
        std::size_t ranges = 0;
        if (p.shard_plan)
          for (const auto& shard : *p.shard_plan) ranges = std::max(ranges, shard.size());
        const double slices = 0.5 * double(req.world) * req.world * l.ulysses * ranges * ranges;
        const Support s = m->supports(p);
        if (!s.ok()) {
          c.status = "unsupported";
          c.reason = s.reason;
        } else if (ranges > kPlanMaxRangesPerShard || slices > kPlanMaxSlices) {
          c.status = "unsupported";
          c.reason = fmt::format(
              "{} gives {} ranges per shard (limit {}): about P^2 x U x ranges^2 / 2 = {:.2g} "
              "restricted mask slices in all (limit {:.2g}), not traced by the planner; `cpbench "
              "model` traces it",
              sharding, ranges, kPlanMaxRangesPerShard, slices, kPlanMaxSlices);
        } else {
          pending->push_back({.index = all.size(), .problem = p, .cost = l.ring});
        }
        all.push_back(std::move(c));
      }
  }
  return all;
}

// The K best ok steps so far and each method's best: the bars a candidate's lower
// bound must clear (strictly, so ties keep their enumeration order) to be pruned.
class Bars {
 public:
  explicit Bars(int k) : k_(k) {}
  bool prune(const std::string& method, double bound) const {
    if (k_ <= 0 || static_cast<int>(best_.size()) < k_) return false;
    const auto it = method_best_.find(method);
    return it != method_best_.end() && bound > best_.top() && bound > it->second;
  }
  void add(const std::string& method, double step) {
    best_.push(step);
    if (static_cast<int>(best_.size()) > k_) best_.pop();
    auto [it, fresh] = method_best_.try_emplace(method, step);
    if (!fresh) it->second = std::min(it->second, step);
  }

 private:
  int k_;
  std::priority_queue<double> best_;  // the k smallest, largest on top
  std::map<std::string, double> method_best_;
};

}  // namespace

std::vector<PlanCandidate> plan(const PlanRequest& req, const ModelInputs& in) {
  CPB_REQUIRE(req.mask, "plan needs a mask");
  in.topology->check_world(req.world);
  const double budget =
      req.memory_budget_bytes > 0 ? req.memory_budget_bytes : in.topology->memory_bytes_per_rank;
  const auto shardings =
      req.shardings.empty() ? ShardingRegistry::instance().names() : req.shardings;
  const std::map<std::string, ShardPlan> plans = shard_plans(req, shardings);
  std::vector<Pending> pending;
  std::vector<PlanCandidate> all = enumerate(req, plans, &pending);
  std::stable_sort(pending.begin(), pending.end(),
                   [](const Pending& a, const Pending& b) { return a.cost < b.cost; });
  Bars bars(req.exact_top);
  const ReplayOptions ro = replay_options(in);
  for (const Pending& p : pending) {
    PlanCandidate& c = all[p.index];
    const Trace t = trace_case(c.method, p.problem, in);
    const Bound b = bound(t, *in.kernels, in.kernel, ro);
    c.prediction.compute_seconds = b.compute_queue_seconds;
    c.prediction.peak_memory_bytes = b.peak_memory_bytes;
    if (budget > 0 && b.peak_memory_bytes > budget) {
      c.status = "over_budget";
      c.reason = fmt::format("peak {:.1f} GB per rank > budget {:.1f} GB",
                             b.peak_memory_bytes / 1e9, budget / 1e9);
      if (req.exact_top > 0) continue;  // never ranked: no need for its step
    } else if (bars.prune(c.method, b.compute_queue_seconds)) {
      c.status = "pruned";
      c.reason = fmt::format(
          "not replayed: its compute queue alone takes {:.3f} ms, more than the {}-th best step "
          "and the best {} step so far",
          b.compute_queue_seconds * 1e3, req.exact_top, c.method);
      continue;
    } else {
      c.status = "ok";
    }
    c.prediction = replay(t, *in.kernels, in.kernel, *in.topology, ro);
    c.prediction.ranks.clear();
    c.replayed = true;
    if (c.status == "ok") bars.add(c.method, c.prediction.step_seconds);
  }
  std::vector<std::size_t> order(all.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) {
    const bool xo = all[x].status == "ok", yo = all[y].status == "ok";
    if (xo != yo) return xo;
    return xo && all[x].prediction.step_seconds < all[y].prediction.step_seconds;
  });
  std::vector<PlanCandidate> ranked;
  ranked.reserve(all.size());
  for (std::size_t i : order) ranked.push_back(std::move(all[i]));
  return ranked;
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
