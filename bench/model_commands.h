// The model's subcommands: model (predicted cases in the report schema), plan (rank
// every configuration for a problem and world) and calibrate (write a kernel or
// topology profile on this machine). Each registers itself on the CLI11 app and
// exits from its own callback, like bench/commands.h.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <utility>
#include <vector>

#include "bench/mask_flags.h"
#include "bench/options.h"

namespace cpb::bench {

// Case options shared by model and plan: run's names and meanings.
struct ModelCaseFlags {
  RunOptions opt;
  std::string kernel;
  std::string masks = "causal", seqs = "1024", methods = "none", shardings = "contiguous";
  int inner_ring = 0;
  std::string placement;
  uint64_t mask_seed = 0;
  MaskFlags mask_flags;  // the same mask flags as `run` (bench/mask_flags.h)
  CLI::Option* mask_seed_opt = nullptr;
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
