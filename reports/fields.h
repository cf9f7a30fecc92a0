// The report's scalar metric fields, defined once: JSON name, struct member, unit, the
// range a valid value lies in, how the case value comes from the ranks and what pooling
// repetitions does to it. Decision: report.cc writes these fields from this table and
// validate.cc checks them from it, and a test holds reports/SCHEMA.md to it, so adding a
// metric is one row here (plus its member and its SCHEMA.md line), not edits in five
// places. Structured fields (step_seconds stats, ranks, ops, the formula string, the
// optional CUDA memory pairs) keep their own code.
#pragma once

#include <cstdint>
#include <limits>
#include <variant>
#include <vector>

#include "reports/report.h"

namespace cpb::reports {

// How a case-level value is obtained from the ranks' values.
enum class OverRanks {
  kMax,          // max over ranks
  kMaxOverMean,  // max / mean over ranks
  kSlowestRank,  // the rank with the largest median step
  kWhole,        // a property of the whole case (mask, FLOPs, throughput)
  kThisRank,     // a field of metrics.ranks[]: that rank's own value
};

// What `sweep` does to the field when it pools a case's repetitions.
enum class OverRepetitions {
  kRecomputed,  // recomputed from the pooled median step
  kFirst,       // the first repetition's value (deterministic or per-rank detail)
};

const char* to_string(OverRanks r);
const char* to_string(OverRepetitions r);

inline constexpr double kUnbounded = std::numeric_limits<double>::infinity();

template <typename S>
struct ScalarField {
  const char* name;                                // JSON key
  std::variant<int64_t S::*, double S::*> member;  // int64 -> JSON integer
  const char* unit;                                // as SCHEMA.md states it
  double min = 0, max = kUnbounded;                // valid range (validator)
  OverRanks over_ranks = OverRanks::kMax;
  OverRepetitions over_repetitions = OverRepetitions::kFirst;
};

const std::vector<ScalarField<CaseMetrics>>& case_metric_fields();
const std::vector<ScalarField<RankMetrics>>& rank_metric_fields();

// Writes every scalar field of `s` into the JSON object `j`.
template <typename S>
void write_scalar_fields(nlohmann::json& j, const S& s, const std::vector<ScalarField<S>>& fields) {
  for (const auto& f : fields) std::visit([&](auto member) { j[f.name] = s.*member; }, f.member);
}

}  // namespace cpb::reports
