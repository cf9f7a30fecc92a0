// `cpbench plan --measure N`: the planner's top N configurations run for real under
// mpirun, as one launch of the runner `cpbench run` and `sweep` use (bench/plan_runner.h),
// and printed beside their predictions: error per configuration and whether the
// measurement orders them as the model did. The measured report goes to --out, the
// predicted one (same case ids) beside it as <out stem>.predicted.json.
// Decision: every rank plans for itself (the ranking is deterministic), so no plan
// travels between ranks; MPI starts only after planning, and only rank 0 prints.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "bench/options.h"
#include "kernels/kernel.h"
#include "model/plan.h"

namespace cpb::bench {

struct MeasureFlags {
  int top = 0;  // configurations to measure; 0: plan only
  int warmup = 1, iters = 3;
  double timeout_seconds = 600;                  // per case, as `run --timeout`
  std::string out;                               // measured report; "" = none written
  std::vector<CLI::Option*> given_with_measure;  // --warmup, --iters, --timeout, --out
  void add(CLI::App* sub);
  // InputError for a measurement option given without --measure (it would do nothing).
  void check() const;
};

// InputError unless `kernel` is a kernel of this build that runs here on `shape`
// (on the CPU, or on a visible GPU): the profile's kernel (e.g. fa3) is only a name.
void check_measurable(const std::string& kernel, const AttentionShape& shape);

// "out.json" -> "out.predicted.json" (".predicted.json" appended to other names).
std::string predicted_path(const std::string& measured_path);

struct PlanToMeasure {
  const std::vector<model::PlanCandidate>* plan = nullptr;  // ranked, as model::plan returns
  CaseSpec problem;  // kernel, mask, shape, pass; method and layout come from candidates
  int world = 1;
  const model::KernelProfile* kernels = nullptr;
  const model::Topology* topology = nullptr;
  std::string json_out;  // plan --json ("" = none): never overwritten by a report
  std::vector<std::string> command_line;
};

// Collective: starts the launch's world (its size must be plan.world: InputError
// naming both), runs the top flags.top ok candidates, prints the side-by-side table on
// rank 0 and writes both reports. 0 when every measured case is ok, 1 when one ended
// in error or oom, or when no candidate is ok (nothing is launched then).
int measure_plan(const PlanToMeasure& p, const MeasureFlags& flags);

}  // namespace cpb::bench
