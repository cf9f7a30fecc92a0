// `cpbench model`: predicted cases, no ranks launched. The same case options as
// `run` (or a sweep config, its cases at --world) are traced through each method's
// real schedule (parallel/trace_execution.h) and replayed on a kernel profile and a
// topology (model/). The report has the run/sweep schema, so report, compare and
// scripts/plot read it; each case carries "predicted" and the provenance names the
// profiles. A case the method cannot run is "unsupported", as in a measurement.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <memory>

#include "bench/model_commands.h"
#include "bench/options.h"
#include "bench/predicted_report.h"
#include "bench/sweep_config.h"
#include "common/errors.h"
#include "kernels/kernel.h"
#include "masks/mask_spec.h"
#include "model/plan.h"
#include "parallel/sharding.h"
#include "reports/atomic_write.h"
#include "reports/provenance.h"
#include "reports/report.h"
#include "reports/validate.h"

namespace cpb::bench {

void ModelCaseFlags::add(CLI::App* sub, bool layout) {
  sub->add_option("--kernel", kernel, "kernel name in the kernel profile (default: its first)");
  add_shape(*sub);
  add_layout(*sub, layout);
}

RunOptions ModelCaseFlags::run_options() const {
  RunOptions o = options();
  o.kernels = {"cpu_flash"};  // expansion checks names against the registry; set after
  o.warmup = 0;
  o.iters = 1;
  return o;
}

namespace {

struct ModelArgs {
  std::string config;
  int world = 0;
  std::string topology, kernel_profile;
  std::string out;
  ModelCaseFlags flags;
};

// A planned point with the kernel the model predicts (the flag's, if given).
CaseSpec spec_of(const SweepCase& c, const std::string& kernel) {
  CaseSpec s = case_spec(c);
  s.kernel = kernel;
  return s;
}

int run_model(const ModelArgs& a, const std::vector<std::string>& command_line) {
  const model::KernelProfile kp = model::load_kernel_profile(a.kernel_profile);
  const model::Topology topo = model::load_topology(a.topology);
  std::string kernel = a.flags.kernel.empty() ? kp.entries.front().kernel : a.flags.kernel;
  std::vector<CaseSpec> specs;
  nlohmann::json config;
  int world = a.world;
  if (!a.config.empty()) {
    SweepNames names{.kernels = {},
                     .methods = CpMethodRegistry::instance().names(),
                     .shardings = ShardingRegistry::instance().names(),
                     .mask_kinds = {},
                     .ranks_per_node = topo.ranks_per_node};
    for (const auto& k : mask_kinds()) names.mask_kinds.push_back(k.name);
    const SweepConfig cfg = load_sweep_config(a.config, names);
    CPB_REQUIRE(world > 0, "cpbench model {}: give --world, the launch size the cases are for",
                a.config);
    for (const auto& c : cfg.cases)
      if (c.world == world) specs.push_back(spec_of(c, a.flags.kernel.empty() ? c.kernel : kernel));
    CPB_REQUIRE(!specs.empty(), "sweep config {} has no case at world {}", a.config, world);
    config = {{"model_of_sweep", cfg.raw}};
  } else {
    if (world <= 0) world = 1;
    specs = expand_cases(a.flags.run_options(), world);
    for (auto& s : specs) s.kernel = kernel;
    config = a.flags.run_options().to_json();
  }
  topo.check_world(world);
  const nlohmann::json j = predicted_report({.specs = specs,
                                             .kernels = &kp,
                                             .topology = &topo,
                                             .world = world,
                                             .config = config,
                                             .command_line = command_line,
                                             .progress = stderr});
  if (a.out.empty())
    fmt::print("{}\n", j.dump(2));
  else
    reports::write_json_atomic(a.out, j);
  return 0;
}

}  // namespace

void add_model_command(CLI::App& app, const std::vector<std::string>& command_line) {
  auto a = std::make_shared<ModelArgs>();
  auto* sub = app.add_subcommand(
      "model",
      "predict cases at any world size from the methods' traced schedules (docs/model.md)");
  sub->add_option("config", a->config, "sweep config (JSON): model its cases at --world");
  sub->add_option("--world", a->world, "ranks to predict for (no ranks are launched)");
  sub->add_option("--topology", a->topology, "topology profile: shipped name or file")->required();
  sub->add_option("--kernel-profile", a->kernel_profile, "kernel profile: shipped name or file")
      ->required();
  sub->add_option("--out", a->out, "report path (JSON); default stdout");
  a->flags.add(sub, true);
  sub->callback([a, command_line] { std::exit(run_model(*a, command_line)); });
}

}  // namespace cpb::bench
