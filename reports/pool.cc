#include "reports/pool.h"

#include <algorithm>
#include <cmath>

#include "common/errors.h"
#include "reports/fields.h"

namespace cpb::reports {
namespace {

using nlohmann::json;

// Pooled samples of repetitions and whether they are per-iteration times.
std::vector<double> pooled_samples(const std::vector<json>& reps, bool* per_iteration) {
  *per_iteration = true;
  for (const auto& r : reps) {
    const auto& st = r.at("metrics").at("step_seconds");
    if (!st.contains("samples") || !st["samples"].is_array()) *per_iteration = false;
  }
  std::vector<double> out;
  for (const auto& r : reps) {
    const auto& st = r.at("metrics").at("step_seconds");
    if (*per_iteration)
      for (const auto& v : st["samples"]) out.push_back(v.get<double>());
    else
      out.push_back(st.at("median").get<double>());
  }
  return out;
}

double sample_cv(const std::vector<double>& v) {
  if (v.empty()) return 0;
  double mean = 0;
  for (double x : v) mean += x / double(v.size());
  double var = 0;
  for (double x : v) var += (x - mean) * (x - mean) / double(v.size());
  return mean > 0 ? std::sqrt(var) / mean : 0;
}

// The pooled step_seconds object (see SCHEMA.md "Statistics") and, in `per_rep`, each
// repetition's own summary without its samples.
json pooled_stats(const std::vector<json>& reps, bool keep_samples, json& per_rep) {
  bool per_iteration = false;
  std::vector<double> samples = pooled_samples(reps, &per_iteration);
  int64_t iterations = 0;
  double mean_sum = 0, mn = INFINITY, mx = 0;
  per_rep = json::array();
  for (const auto& r : reps) {
    json st = r.at("metrics").at("step_seconds");
    int64_t it = st.at("iterations").get<int64_t>();
    iterations += it;
    mean_sum += st.at("mean").get<double>() * double(it);
    mn = std::min(mn, st.at("min").get<double>());
    mx = std::max(mx, st.at("max").get<double>());
    st.erase("samples");
    per_rep.push_back(st);
  }
  std::vector<double> sorted = samples;
  std::sort(sorted.begin(), sorted.end());
  auto pct = [&](double p) {
    double pos = p * double(sorted.size() - 1);
    size_t lo = static_cast<size_t>(std::floor(pos));
    size_t hi = std::min(lo + 1, sorted.size() - 1);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - double(lo));
  };
  json stats;
  stats["iterations"] = iterations;
  stats["median"] = pct(0.5);
  stats["p10"] = pct(0.1);
  stats["p90"] = pct(0.9);
  stats["mean"] = mean_sum / double(iterations);
  stats["min"] = std::min(mn, sorted.front());
  stats["max"] = std::max(mx, sorted.back());
  stats["cv"] = sample_cv(samples);
  if (keep_samples || reps.size() > 1) {
    stats["samples"] = samples;
    stats["samples_kind"] = per_iteration ? "iteration" : "repetition_median";
  }
  return stats;
}

// The field table's recomputed fields of the metrics object `m`, whose step_seconds is
// already pooled; the other fields stay as they are (the first repetition's).
void recompute_fields(json& m) {
  const CaseMetrics pooled = m.get<CaseMetrics>();
  CaseMetrics out = pooled;
  json values = json::object();
  for (const auto& f : case_metric_fields())
    if (f.recompute) set_field(out, f, f.recompute(pooled));
  write_scalar_fields(values, out, case_metric_fields());
  for (const auto& f : case_metric_fields())
    if (f.recompute) m[f.name] = values[f.name];
}

}  // namespace

json pool_repetitions(const std::vector<json>& reps, bool keep_samples) {
  CPB_CHECK(!reps.empty(), "no repetition to pool");
  bool per_iteration = false;
  pooled_samples(reps, &per_iteration);
  // One repetition adds nothing unless it carries per-iteration samples to keep.
  if (reps.size() == 1 && (!keep_samples || !per_iteration)) return reps[0];
  json out = reps[0];
  json& m = out["metrics"];
  json per_rep;
  m["step_seconds"] = pooled_stats(reps, keep_samples, per_rep);
  m["repetitions"] = per_rep;
  recompute_fields(m);
  double wall = 0;
  for (const auto& r : reps) wall += r.value("wall_seconds", 0.0);
  out["wall_seconds"] = wall;
  out["params"]["repeat"] = reps.size();
  return out;
}

PoolProgress pool_progress(const std::vector<json>& reps) {
  PoolProgress p;
  p.repetitions = static_cast<int>(reps.size());
  for (const auto& r : reps) {
    const auto& st = r.at("metrics").at("step_seconds");
    p.timed_seconds += st.at("mean").get<double>() * st.at("iterations").get<double>();
  }
  bool per_iteration = false;
  auto samples = pooled_samples(reps, &per_iteration);
  // One repetition without per-iteration samples: its own CV is the best we have.
  p.cv = samples.size() == 1 && !reps.empty()
             ? reps[0].at("metrics").at("step_seconds").at("cv").get<double>()
             : sample_cv(samples);
  return p;
}

}  // namespace cpb::reports
