// Regression compare: match the cases of a baseline and a new report by their
// parameters and judge each metric. Decision: a timed metric regresses only when its
// median is worse than the effective threshold AND the shift is significant. Iterations
// of one run share that run's machine load, so they are not independent evidence about
// the code: the effective threshold is --threshold raised to the run-level noise (the
// spread of the run medians when each side has >= 2 runs in separate processes, else
// each run's own p10-p90 width), and with >= 2 runs a side the test is over the run
// medians. Each row states the threshold it used, where it came from, and the test.
// Deterministic metrics (FLOPs, mask area, bytes moved, status, verification) must
// match exactly.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "reports/merge.h"

namespace cpb::reports {

struct CompareOptions {
  double threshold = 0.05;  // relative change that counts, for timed metrics
  // Per-metric thresholds (metric name -> relative change); a gauge metric (compute,
  // exposed comm, memory) is judged only when it has an entry here. Negative = off.
  std::map<std::string, double> metric_thresholds;
  double alpha = 0.01;           // one-sided significance level
  bool fail_on_missing = false;  // a base case absent from the new report fails
  bool all_rows = false;         // tables: every metric, not only step and what changed
  // Machine-speed normalisation for runs on different hosts (CI): params that select
  // peer cases, e.g. {"method": "none"}. The new report's times are scaled by the
  // geometric mean of base/new median step over the peers present in both, so only
  // changes relative to the peers count. Null: off.
  nlohmann::json normalize_by;
};

// "method=none,kernel=cpu_flash" -> {"method": "none", "kernel": "cpu_flash"}.
nlohmann::json parse_normalize(const std::string& text);

// "5%", "0.05" -> 0.05. A bare number must be a fraction below 1: "5" (5%? 500%?) is
// refused as ambiguous; InputError naming `what` and the value otherwise.
double parse_fraction(const std::string& text, const std::string& what);
// "name=10%" into options.metric_thresholds; "name=off" disables the metric.
void add_metric_threshold(CompareOptions& options, const std::string& assignment);
// Metric names compare knows, for help and error messages: "step", then the field table's
// compared fields (reports/fields.h) by kind: derived, gauges, exact.
std::vector<std::string> compare_metric_names();

enum class Verdict {
  kSame,       // within threshold (or exact match)
  kImproved,   // better beyond threshold and significant
  kNoise,      // beyond threshold but not significant
  kRegressed,  // worse beyond threshold and significant, or an exact mismatch
  kInfo,       // shown, not judged
};
const char* to_string(Verdict v);

struct MetricChange {
  std::string metric;
  double base = 0, now = 0;
  double change = 0;    // now / base - 1 (0 when base is 0 and now is 0)
  std::string test;     // mann-whitney | p10-p90 | runs mann-whitney | run ranges | exact |
                        // threshold | from step | none
  double p_value = -1;  // mann-whitney tests only, else -1
  Verdict verdict = Verdict::kSame;
  double threshold = -1;       // effective relative threshold used; -1 when not judged
  std::string threshold_from;  // --threshold | run p10-p90 spread | between-run spread ...
};

struct CaseComparison {
  std::string key, label;
  std::string base_status, new_status;
  std::vector<MetricChange> metrics;
  std::vector<std::string> notes;  // status change, verification change, ...
  bool regressed = false;
};

struct Comparison {
  std::string base_name, new_name;
  std::vector<CaseComparison> cases;  // matched cases, in base order
  std::vector<std::string> missing;   // labels of base cases absent from new
  std::vector<std::string> added;     // labels of new cases absent from base
  int regressions = 0;                // cases with at least one regression
  bool failed = false;                // what the exit code says
  double threshold = 0.05;            // options.threshold, for the tables
  int base_runs = 1, new_runs = 1;    // runs (processes) per side
  double time_scale = 1;              // factor applied to new times (normalize_by)
  int normalize_peers = 0;            // peer cases behind time_scale
  std::vector<std::string> notes;     // e.g. params ignored for matching
  bool all_rows = false;              // options.all_rows
};

Comparison compare_reports(const ReportSet& base, const ReportSet& now,
                           const CompareOptions& options, const std::string& base_name = "base",
                           const std::string& new_name = "new");
// Same with several runs of each side (each its own process, same config): runs[0] is
// matched and shown, the others give the run-level noise and samples.
Comparison compare_runs(const std::vector<ReportSet>& base_runs,
                        const std::vector<ReportSet>& new_runs, const CompareOptions& options,
                        const std::string& base_name = "base", const std::string& new_name = "new");

std::string render_markdown(const Comparison& c);
std::string render_text(const Comparison& c);

// One-sided Mann-Whitney U: p-value of "y tends to be larger than x". Exact null
// distribution for small untied samples, normal approximation with tie and continuity
// correction otherwise. Returns 1 when either sample is empty.
double mann_whitney_greater(const std::vector<double>& x, const std::vector<double>& y);
// Smallest p-value the test can give for these sizes (exact, untied): 1 / C(n+m, n).
double mann_whitney_min_p(size_t n, size_t m);

}  // namespace cpb::reports
