// The report's scalar metric fields, defined once: JSON name, struct member, unit, the
// range a valid value lies in, how the case value comes from the ranks, what pooling
// repetitions does to it, and how compare and the tables show it. Decision: every user
// of a scalar field goes through this table (report.cc writes and reads it, validate.cc
// checks it, pool.cc pools it, compare.cc judges it, tables.cc tabulates it, and a test
// holds reports/SCHEMA.md to it), so adding a metric is one row here plus its member and
// its SCHEMA.md lines. Structured fields (step_seconds stats, ranks, ops, the formula
// string, the optional CUDA memory pairs) keep their own code.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
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

// What `cpbench compare` does with the field (its noise logic is in compare.cc).
enum class Judged {
  kNotCompared,  // not one of compare's metrics
  kExact,        // deterministic: any difference is a regression
  kGauge,        // shown when it moves; judged only under --metric-threshold
  kFromStep,     // follows from the step time: shown, judged through the step row
};

const char* to_string(OverRanks r);
const char* to_string(OverRepetitions r);
const char* to_string(Judged j);  // exact | gauge | from step | — (as SCHEMA.md writes it)

inline constexpr double kUnbounded = std::numeric_limits<double>::infinity();

template <typename S>
struct ScalarField {
  const char* name;                                // JSON key
  std::variant<int64_t S::*, double S::*> member;  // int64 -> JSON integer
  const char* unit;                                // as SCHEMA.md states it
  double min = 0, max = kUnbounded;                // valid range (validator)
  OverRanks over_ranks = OverRanks::kMax;
  // Pooling repetitions: nullptr keeps the first repetition's value; else the value
  // computed from the pooled case (step_seconds pooled, every other field the first's).
  double (*recompute)(const S&) = nullptr;
  // Shown by compare and the pivot tables as value * scale (s -> ms, B -> MiB);
  // `format` is compare's cell for that shown value (exact fields print every digit).
  double scale = 1;
  const char* format = "{:.4g}";
  Judged judged = Judged::kNotCompared;
  bool higher_is_better = false;      // for a judged shift: which way is better
  const char* table = nullptr;        // `report --metric` name; nullptr: not a pivot metric
  const char* table_title = nullptr;  // the pivot's heading, with the shown unit
  const char* csv = nullptr;          // `report --format csv` column; nullptr: not a column

  OverRepetitions over_repetitions() const {
    return recompute ? OverRepetitions::kRecomputed : OverRepetitions::kFirst;
  }
};

const std::vector<ScalarField<CaseMetrics>>& case_metric_fields();
const std::vector<ScalarField<RankMetrics>>& rank_metric_fields();
// The case field called `name`; nullptr when there is none.
const ScalarField<CaseMetrics>* find_case_field(const std::string& name);

// Writes every scalar field of `s` into the JSON object `j`.
template <typename S>
void write_scalar_fields(nlohmann::json& j, const S& s, const std::vector<ScalarField<S>>& fields) {
  for (const auto& f : fields) std::visit([&](auto member) { j[f.name] = s.*member; }, f.member);
}

// The field's value in the JSON object `j` as a double; nullopt when absent or not a
// number (a report written before the field existed).
template <typename S>
std::optional<double> field_value(const nlohmann::json& j, const ScalarField<S>& f) {
  if (!j.is_object() || !j.contains(f.name) || !j[f.name].is_number()) return std::nullopt;
  return j[f.name].template get<double>();
}

// Sets the field of `s` to `v` (rounded to the nearest integer for an int64 field).
template <typename S>
void set_field(S& s, const ScalarField<S>& f, double v) {
  if (auto* m = std::get_if<int64_t S::*>(&f.member))
    s.*(*m) = std::llround(v);
  else
    s.*std::get<double S::*>(f.member) = v;
}

// Reads every scalar field the JSON object `j` holds into `s`; an absent field keeps
// its value in `s` (validate_report() is where a missing field is an error).
template <typename S>
void read_scalar_fields(const nlohmann::json& j, S& s, const std::vector<ScalarField<S>>& fields) {
  for (const auto& f : fields) {
    if (!j.is_object() || !j.contains(f.name) || !j[f.name].is_number()) continue;
    std::visit([&](auto member) { j[f.name].get_to(s.*member); }, f.member);
  }
}

}  // namespace cpb::reports
