// Predicted cases in the report schema (reports/SCHEMA.md, "Predicted reports"):
// what `cpbench model` writes, and the predictions `cpbench plan --measure` writes
// beside its measurement. Decision: one writer for both, so a predicted report of
// the planner and one of `model` carry the same fields and pair with a measured
// report case by case (same ids, same params).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "bench/options.h"
#include "model/plan.h"
#include "reports/report.h"

namespace cpb::bench {

// One case traced through its method's schedule and replayed on in.kernels and
// in.topology (the kernel is the spec's). "unsupported" when the method cannot run
// it; InputError when the profile lacks the kernel, dtype or head dim.
reports::CaseResult predict_case(const CaseSpec& spec, const model::ModelInputs& in);

struct PredictedReportInputs {
  std::vector<CaseSpec> specs;  // each with the profile's kernel name
  const model::KernelProfile* kernels = nullptr;
  const model::Topology* topology = nullptr;
  int world = 1;
  nlohmann::json config;  // echoed as the report's config
  std::vector<std::string> command_line;
  std::FILE* progress = nullptr;  // one line per case as it is predicted; null: quiet
};

// The whole report: provenance of the simulated nodes (communicator "model", the
// profiles in provenance.model), every case marked "predicted"; validated against
// the schema (an invalid one is an internal error).
nlohmann::json predicted_report(const PredictedReportInputs& in);

}  // namespace cpb::bench
