// `cpbench plan`: every configuration the registries allow for one problem on a
// world (model/plan.h), those over the memory budget dropped, ranked by predicted
// step time; prints the top ones with their breakdown and why the winner wins.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <map>
#include <memory>

#include "bench/host_provenance.h"
#include "bench/model_commands.h"
#include "bench/plan_measure.h"
#include "common/errors.h"
#include "masks/mask_spec.h"
#include "model/plan.h"
#include "reports/atomic_write.h"

namespace cpb::bench {
namespace {

struct PlanArgs {
  int world = 0, ranks_per_node = 0, top = 5;
  std::string topology = "h100_8x_ndr400", kernel_profile = "h100_flash";
  double memory_budget_gb = 0;
  std::string json_out;
  ModelCaseFlags flags;
  MeasureFlags measure;  // --measure N (bench/plan_measure.h)
  std::vector<std::string> command_line;
};

nlohmann::json to_json(const model::PlanCandidate& c) {
  nlohmann::json j = {{"config", c.describe()},
                      {"method", c.method},
                      {"sharding", c.sharding},
                      {"ulysses", c.layout.ulysses},
                      {"ring", c.layout.ring},
                      {"inner_ring", c.layout.inner_ring},
                      {"placement", std::string(to_string(c.layout.placement))},
                      {"status", c.status},
                      {"reason", c.reason}};
  if (c.status != "unsupported" && !c.replayed) {  // traced, not replayed (pruned)
    j["lower_bound"] = {{"step_seconds", c.prediction.compute_seconds},
                        {"peak_memory_bytes", c.prediction.peak_memory_bytes}};
  } else if (c.status != "unsupported") {
    const model::Prediction& p = c.prediction;
    j["predicted"] = {{"step_seconds", p.step_seconds},
                      {"compute_seconds", p.compute_seconds},
                      {"exposed_comm_seconds", p.exposed_comm_seconds},
                      {"memory_op_seconds", p.memory_seconds},
                      {"overlap_efficiency", p.overlap_efficiency},
                      {"time_imbalance", p.time_imbalance},
                      {"peak_memory_bytes", p.peak_memory_bytes}};
  }
  return j;
}

// The one case a plan ranks layouts for, checked the way `run` checks it.
CaseSpec plan_case(const PlanArgs& a) {
  RunOptions o = a.flags.run_options();
  CPB_REQUIRE(o.masks.size() == 1 && o.seqs.size() == 1,
              "plan takes one --mask and one --seq (got {} and {})", o.masks.size(), o.seqs.size());
  // The planner ranks layouts on one mask; a per-head case would be ranked on KV head
  // 0's draw alone, which is not what it runs.
  CPB_REQUIRE(!o.mask_params.values.contains("per_head"),
              "plan: --per-head is not supported (the planner ranks one mask for every head); "
              "predict a per-head case with `cpbench model`");
  o.methods = {"none"};
  o.shardings = {"contiguous"};
  return expand_cases(o, 1).front();
}

// The ranking as a table, then why #1 wins against the runner-up and the best of
// every other method. Returns how many configurations were shown.
int print_plan(const PlanArgs& a, const std::vector<model::PlanCandidate>& plan,
               const model::Topology& topo, const model::KernelProfile& kp,
               const std::string& kernel, const CaseSpec& spec, int exact_top) {
  std::map<std::string, int> by_status;
  for (const auto& c : plan) by_status[c.status]++;
  fmt::print(
      "plan: {} ranks ({} per node, topology {}), kernel {} ({}), {} S={} Hq={} Hkv={} D={} "
      "{} {}\n",
      a.world, topo.ranks_per_node, topo.name, kernel, kp.name, spec.mask.kind, spec.seq,
      spec.heads_q, spec.heads_kv, spec.head_dim, to_string(spec.dtype), to_string(spec.pass));
  fmt::print(
      "{} configurations: {} ok, {} over the memory budget, {} unsupported, {} pruned (not "
      "replayed: their compute alone is slower than #{} and their method's best)\n\n",
      plan.size(), by_status["ok"], by_status["over_budget"], by_status["unsupported"],
      by_status["pruned"], exact_top);
  fmt::print("{:>3}  {:<34} {:>10} {:>10} {:>10} {:>9} {:>8} {:>9}\n", "#", "configuration",
             "step ms", "kernel ms", "exposed ms", "copies ms", "overlap", "peak GB");
  int shown = 0;
  for (const auto& c : plan) {
    if (c.status != "ok" || shown == a.top) break;
    const model::Prediction& p = c.prediction;
    fmt::print("{:>3}  {:<34} {:>10.3f} {:>10.3f} {:>10.3f} {:>9.3f} {:>8.2f} {:>9.2f}\n", ++shown,
               c.describe(), p.step_seconds * 1e3, p.compute_seconds * 1e3,
               p.exposed_comm_seconds * 1e3, p.memory_seconds * 1e3, p.overlap_efficiency,
               p.peak_memory_bytes / 1e9);
  }
  if (shown == 0) {
    fmt::print("no configuration fits (see --memory-budget, or the reasons with --json)\n");
    return 0;
  }
  fmt::print("\nwhy #1 ({}) wins:\n", plan.front().describe());
  std::map<std::string, bool> seen{{plan.front().method, true}};
  if (plan.size() > 1 && plan[1].status == "ok")
    fmt::print("  - {}\n", model::why_wins(plan.front(), plan[1]));
  for (const auto& c : plan)
    if (c.status == "ok" && !seen[c.method]) {
      seen[c.method] = true;
      fmt::print("  - {}\n", model::why_wins(plan.front(), c));
    }
  return shown;
}

void write_plan_json(const PlanArgs& a, const std::vector<model::PlanCandidate>& plan,
                     const model::Topology& topo, const model::KernelProfile& kp) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& c : plan) j.push_back(to_json(c));
  reports::write_json_atomic(a.json_out, {{"plan", j},
                                          {"world", a.world},
                                          {"ranks_per_node", topo.ranks_per_node},
                                          {"kernel_profile", kp.path},
                                          {"topology", topo.path},
                                          {"predicted", true}});
}

int run_plan(const PlanArgs& a) {
  CPB_REQUIRE(a.world >= 1, "plan: --world must be >= 1, got {}", a.world);
  CPB_REQUIRE(a.top >= 1, "plan: --top must be >= 1, got {}", a.top);
  a.measure.check();
  const model::KernelProfile kp = model::load_kernel_profile(a.kernel_profile);
  model::Topology topo = model::load_topology(a.topology);
  if (a.ranks_per_node > 0) {
    topo.ranks_per_node = a.ranks_per_node;
    topo.nodes = 0;
  }
  topo.check_world(a.world);
  if (!a.json_out.empty()) {  // checked on every rank before any of them launches
    reports::require_not_an_input(a.json_out, "--json",
                                  {{kp.path, "--kernel-profile"}, {topo.path, "--topology"}});
    reports::check_writable(a.json_out);
  }
  const std::string kernel = a.flags.kernel.empty() ? kp.entries.front().kernel : a.flags.kernel;
  const CaseSpec spec = plan_case(a);
  const Mask mask = make_mask(spec.mask, spec.seq);
  model::PlanRequest req{.shape = {.seq_q = spec.seq,
                                   .seq_k = spec.seq,
                                   .heads_q = spec.heads_q,
                                   .heads_kv = spec.heads_kv,
                                   .head_dim = spec.head_dim,
                                   .dtype = spec.dtype},
                         .mask = &mask,
                         .world = a.world,
                         .memory_budget_bytes = a.memory_budget_gb * 1e9};
  // Candidates that cannot reach the top (nor their method's best) by their compute
  // queue alone are not replayed: what is printed and measured is unchanged.
  req.exact_top = std::max({a.top, a.measure.top, 2});
  if (a.flags.methods != "none") req.methods = split_list(a.flags.methods, "--method");
  if (a.flags.shardings != "contiguous")
    req.shardings = split_list(a.flags.shardings, "--sharding");
  const model::ModelInputs in{.kernels = &kp,
                              .kernel = kernel,
                              .topology = &topo,
                              .forward = spec.pass != Pass::kBackward,
                              .backward = spec.pass != Pass::kForward};
  // The profile must hold the kernel before hundreds of candidates are traced.
  kp.find(kernel, spec.dtype, spec.head_dim, !in.forward);
  if (a.measure.top > 0) check_measurable(kernel, req.shape);
  const auto plan = model::plan(req, in);
  CaseSpec problem = spec;
  problem.kernel = kernel;
  auto measure = [&] {
    return measure_plan({.plan = &plan,
                         .problem = problem,
                         .world = a.world,
                         .kernels = &kp,
                         .topology = &topo,
                         .json_out = a.json_out,
                         .command_line = a.command_line},
                        a.measure);
  };
  // Under mpirun every rank plans the same ranking; rank 0 alone prints it.
  if (a.measure.top > 0 && launcher_rank() != 0) return measure();
  if (print_plan(a, plan, topo, kp, kernel, spec, req.exact_top) == 0) return 1;
  // Rank 0 writes the plan after the measurement: the other ranks are already in it,
  // so a failed write before it would leave them waiting for rank 0.
  const int rc = a.measure.top > 0 ? measure() : 0;
  if (!a.json_out.empty()) write_plan_json(a, plan, topo, kp);
  return rc;
}

}  // namespace

void add_plan_command(CLI::App& app, const std::vector<std::string>& command_line) {
  auto a = std::make_shared<PlanArgs>();
  a->command_line = command_line;
  auto* sub = app.add_subcommand(
      "plan", "rank every CP configuration for one problem by predicted step time (docs/model.md)");
  sub->add_option("--world", a->world, "ranks (GPUs) to plan for")->required();
  sub->add_option("--ranks-per-node", a->ranks_per_node, "override the topology's ranks per node");
  sub->add_option("--topology", a->topology, "topology profile (default h100_8x_ndr400)");
  sub->add_option("--kernel-profile", a->kernel_profile, "kernel profile (default h100_flash)");
  sub->add_option("--memory-budget", a->memory_budget_gb,
                  "GB per rank for the traced tensors and buffers (default: the topology's)");
  sub->add_option("--top", a->top, "configurations to print (default 5)");
  sub->add_option("--json", a->json_out, "write every candidate with its prediction here");
  a->flags.add(sub, false);
  a->measure.add(sub);
  sub->callback([a] { std::exit(run_plan(*a)); });
}

}  // namespace cpb::bench
