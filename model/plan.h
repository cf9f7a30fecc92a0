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

// The trace a prediction replays (tiles counted at the profile's block size).
Trace trace_case(const std::string& method, const CpProblem& problem, const ModelInputs& in);
ReplayOptions replay_options(const ModelInputs& in);

struct PlanCandidate {
  std::string method;
  CpLayout layout;
  std::string sharding;
  std::string status;  // ok | over_budget | unsupported | pruned
  std::string reason;
  // Per-rank detail dropped to keep a plan small. A candidate traced but not replayed
  // (pruned, or over budget when pruning) has only compute_seconds (its busiest
  // rank's compute queue, kernels and copies: a lower bound of its step) and
  // peak_memory_bytes set.
  Prediction prediction;
  bool replayed = false;         // prediction holds the replay's step and breakdown
  std::string describe() const;  // "usp u8r8 zigzag"
};

// The planner does not trace a candidate whose restricted masks would hold more
// slices than this in all: a shard of r token ranges (striped, balanced) gives a
// rank's queries U x r ranges after a head-parallel all-to-all of degree U, and
// every (query range, key range) pair can be a slice, so about P^2 x U x r^2 / 2
// over P ranks (a causal mask). Each costs the trace memory and time, as it costs a
// real run's setup. Nor one with more than kPlanMaxRangesPerShard ranges per shard
// (striped at long S: seconds per candidate on a few ranks already). `cpbench model`
// still traces both.
inline constexpr double kPlanMaxSlices = 6.4e7;
inline constexpr std::size_t kPlanMaxRangesPerShard = 64;

struct PlanRequest {
  AttentionShape shape;
  const Mask* mask = nullptr;
  int world = 1;
  double memory_budget_bytes = 0;  // 0: the topology's memory per rank (0 there: no budget)
  std::vector<std::string> methods, shardings;  // empty: every registered one
  // 0: replay every candidate. N > 0: a candidate whose compute-queue lower bound
  // already reaches both the N-th best step so far and the best step of its own
  // method is not replayed (status "pruned"): the first N ok candidates and each
  // method's best are then exactly those of a plan without pruning.
  int exact_top = 0;
};

// Every candidate, the ok ones first by predicted step time (ties in enumeration
// order), then the others. Candidates are traced cheapest first (shortest ring), so
// good bounds come early; the order returned does not depend on it.
std::vector<PlanCandidate> plan(const PlanRequest& req, const ModelInputs& in);

// One line on why `best` beats `other`: the component of the step that differs most.
std::string why_wins(const PlanCandidate& best, const PlanCandidate& other);

}  // namespace cpb::model
