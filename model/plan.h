// Prediction of one case (trace the method's real schedule, replay it on the
// profiles) and the planner: every configuration the registries allow for a
// problem on a world (method x degree split x inner ring x placement x
// sharding), dropped when over the memory budget, ranked by predicted step time.
// Decision: layouts are enumerated over every axis a method declares
// (CpMethod::axes) and folded through normalise(), so the planner names no
// method and a new method is planned for the day it registers.
#pragma once

#include <string>
#include <vector>

#include "model/profile.h"
#include "model/replay.h"
#include "parallel/cp_method.h"

namespace cpb::model {

struct ModelInputs {
  const KernelProfile* kernels = nullptr;
  std::string kernel;  // the profile's kernel name
  const Topology* topology = nullptr;
  bool forward = true, backward = true;  // passes of one step
};

// Trace + replay of one case; InputError when the method cannot run it or the
// profile lacks the kernel/dtype/head dim.
Prediction predict(const std::string& method, const CpProblem& problem, const ModelInputs& in);

struct PlanCandidate {
  std::string method;
  CpLayout layout;
  std::string sharding;
  std::string status;  // ok | over_budget | unsupported
  std::string reason;
  Prediction prediction;         // per-rank detail dropped to keep a plan small
  std::string describe() const;  // "usp u8r8 zigzag"
};

// A sharding with more ranges per shard than this is not traced by the planner: a
// shard's restricted masks hold about ranges^2 slices (striped at long S), which
// costs the real setup as much as the trace (balanced uses at most 32, zigzag 2).
// `cpbench model` still traces it.
inline constexpr std::size_t kPlanMaxRangesPerShard = 64;

struct PlanRequest {
  AttentionShape shape;
  const Mask* mask = nullptr;
  int world = 1;
  double memory_budget_bytes = 0;  // 0: the topology's memory per rank (0 there: no budget)
  std::vector<std::string> methods, shardings;  // empty: every registered one
};

// Every candidate, the ok ones first by predicted step time, then the others.
std::vector<PlanCandidate> plan(const PlanRequest& req, const ModelInputs& in);

// One line on why `best` beats `other`: the component of the step that differs most.
std::string why_wins(const PlanCandidate& best, const PlanCandidate& other);

}  // namespace cpb::model
