// The model's subcommands: model (predicted cases in the report schema), plan (rank
// every configuration for a problem and world) and calibrate (write a kernel or
// topology profile on this machine). Each registers itself on the CLI11 app and
// exits from its own callback, like bench/commands.h.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <utility>
#include <vector>

#include "bench/case_flags.h"
#include "bench/options.h"

namespace cpb::bench {

// Case options of model and plan: run's (bench/case_flags.h) and one --kernel, a
// name in the kernel profile.
struct ModelCaseFlags : CaseFlags {
  std::string kernel;
  void add(CLI::App* sub, bool layout);  // layout: --degrees, --inner-ring, --placement
  RunOptions run_options() const;
};

// `cpbench model [config.json] --world P --topology T --kernel-profile K [case options]`
void add_model_command(CLI::App& app, const std::vector<std::string>& command_line);
// `cpbench plan --world P --ranks-per-node G --seq S --heads H ... [--top N] [--measure N]`
void add_plan_command(CLI::App& app, const std::vector<std::string>& command_line);
// `cpbench calibrate --kernel K --out f.json` | `mpirun -np 2 cpbench calibrate --comm ...`
void add_calibrate_command(CLI::App& app, int* argc, char*** argv);

}  // namespace cpb::bench
