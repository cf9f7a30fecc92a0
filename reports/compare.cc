// Regression compare. The statistics are deliberately simple and conservative: a
// one-sided rank test (no normality assumption: step times are skewed by stragglers)
// when the samples are large enough for it to reach alpha at all, else a check that
// the p10-p90 ranges do not overlap, which needs no samples.
#include "reports/compare.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>

#include "common/errors.h"
#include "reports/fields.h"

namespace cpb::reports {
namespace {

using nlohmann::json;

enum class Kind { kTimed, kDerived, kGauge, kExact };

struct MetricDef {
  std::string name;
  std::string path;  // key in case.metrics
  Kind kind;
  bool lower_is_better;
  double scale;        // shown value = value * scale
  std::string format;  // the shown value's cell
};

// The step time is the one timed metric: a view of the structured step_seconds, judged
// with the noise logic below. Every other metric is a row of the field table
// (reports/fields.h) marked as compared, in the order timed, derived, gauges, exact.
std::vector<MetricDef> make_metrics() {
  std::vector<MetricDef> out = {{"step", "step_seconds", Kind::kTimed, true, 1e3, "{:.4g} ms"}};
  const std::pair<Judged, Kind> order[] = {{Judged::kFromStep, Kind::kDerived},
                                           {Judged::kGauge, Kind::kGauge},
                                           {Judged::kExact, Kind::kExact}};
  for (const auto& [judged, kind] : order)
    for (const auto& f : case_metric_fields())
      if (f.judged == judged)
        out.push_back({f.name, f.name, kind, !f.higher_is_better, f.scale, f.format});
  return out;
}

const std::vector<MetricDef>& metrics() {
  static const std::vector<MetricDef> defs = make_metrics();
  return defs;
}

const MetricDef* find_metric(const std::string& name) {
  for (const auto& m : metrics())
    if (m.name == name) return &m;
  return nullptr;
}

// Severity of a status for "did it get worse": ok < unsupported < timeout < error.
int severity(const std::string& s) {
  if (s == "ok") return 0;
  if (s == "unsupported") return 1;
  if (s == "timeout") return 2;
  return 3;
}

double rel_change(double base, double now) {
  if (base == 0) return now == 0 ? 0 : (now > 0 ? INFINITY : -INFINITY);
  return now / base - 1;
}

std::vector<double> samples_of(const json& stats) {
  std::vector<double> out;
  if (stats.contains("samples") && stats["samples"].is_array())
    for (const json& v : stats["samples"])
      if (v.is_number()) out.push_back(v.get<double>());
  return out;
}

// Log of the binomial coefficient, for the exact-test bound.
double log_choose(size_t n, size_t k) {
  return std::lgamma(double(n) + 1) - std::lgamma(double(k) + 1) - std::lgamma(double(n - k) + 1);
}

// Exact upper tail P(U >= u) of the Mann-Whitney statistic for sizes n, m without ties:
// counts of arrangements with U = k follow f(n, m, k) = f(n-1, m, k-m) + f(n, m-1, k).
double exact_upper_tail(size_t n, size_t m, double u) {
  size_t umax = n * m;
  // table[i][j] is the distribution for sizes (i, j); only two rows of i are kept.
  std::vector<std::vector<double>> prev(m + 1), cur(m + 1);
  for (size_t j = 0; j <= m; ++j) prev[j] = std::vector<double>(1, 1.0);  // i = 0: U = 0
  for (size_t i = 1; i <= n; ++i) {
    cur[0] = std::vector<double>(1, 1.0);  // j = 0: U = 0
    for (size_t j = 1; j <= m; ++j) {
      std::vector<double> d(i * j + 1, 0.0);
      // the largest element belongs to y (size i): it beats all j x's -> shift by j
      for (size_t k = 0; k < prev[j].size(); ++k) d[k + j] += prev[j][k];
      for (size_t k = 0; k < cur[j - 1].size(); ++k) d[k] += cur[j - 1][k];
      cur[j] = std::move(d);
    }
    std::swap(prev, cur);
  }
  const std::vector<double>& dist = prev[m];
  double total = std::accumulate(dist.begin(), dist.end(), 0.0);
  double tail = 0;
  for (size_t k = 0; k <= umax; ++k)
    if (double(k) >= u - 1e-9) tail += dist[k];
  return tail / total;
}

double normal_upper(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }

std::string fmt_value(const std::string& metric, double v) {
  const MetricDef* def = find_metric(metric);
  if (!def) return fmt::format("{:.0f}", v);
  return fmt::format(fmt::runtime(def->format), v * def->scale);
}

std::string fmt_change(double c) {
  if (std::isinf(c)) return c > 0 ? "+inf" : "-inf";
  return fmt::format("{:+.1f}%", c * 100);
}

// Judges a shift of `change` (positive = numerically larger) given a threshold and a
// significance outcome in the worse and better directions.
// `threshold` is what the user asked for, `effective` that raised to the runs' noise: a
// shift between the two is reported as noise, never as a regression or improvement.
Verdict judge(double change, bool lower_is_better, double threshold, double effective,
              bool sig_larger, bool sig_smaller) {
  double worse = lower_is_better ? change : -change;
  bool sig_worse = lower_is_better ? sig_larger : sig_smaller;
  bool sig_better = lower_is_better ? sig_smaller : sig_larger;
  if (worse > effective && sig_worse) return Verdict::kRegressed;
  if (-worse > effective && sig_better) return Verdict::kImproved;
  if (std::abs(worse) > threshold) return Verdict::kNoise;
  return Verdict::kSame;
}

bool peer_matches(const json& rule, const json& c) {
  const json p = c.value("params", json::object());
  for (auto& [k, v] : rule.items()) {
    if (!p.contains(k)) return false;
    if (k == "mask" && v.is_string()) {
      if (p[k].value("kind", "") != v.get<std::string>()) return false;
    } else if (p[k] != v) {
      return false;
    }
  }
  return true;
}

// Puts a case on another machine's speed: times x f, throughputs / f; the field table's
// units say which fields are which.
void scale_times(json& c, double f) {
  json& m = c["metrics"];
  for (const char* k : {"median", "mean", "min", "max", "p10", "p90"})
    if (m["step_seconds"].contains(k))
      m["step_seconds"][k] = m["step_seconds"][k].get<double>() * f;
  if (m["step_seconds"].contains("samples"))
    for (auto& v : m["step_seconds"]["samples"]) v = v.get<double>() * f;
  for (const auto& field : case_metric_fields()) {
    auto v = field_value(m, field);
    if (!v) continue;
    if (std::string(field.unit) == "s") m[field.name] = *v * f;
    if (std::string(field.unit) == "TFLOP/s") m[field.name] = *v / f;
  }
}

}  // namespace

json parse_normalize(const std::string& text) {
  json rule = json::object();
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string item =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    auto eq = item.find('=');
    if (item.empty() || eq == std::string::npos || eq == 0 || eq + 1 == item.size())
      CPB_INPUT_ERROR(
          "--normalize '{}': expected key=value[,key=value] over case params, e.g. "
          "method=none or kernel=cpu_flash,method=none",
          text);
    std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    json v;
    try {
      v = json::parse(value);
      if (!v.is_number() && !v.is_boolean()) v = value;
    } catch (const json::exception&) {
      v = value;
    }
    rule[key] = v;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return rule;
}

const char* to_string(Verdict v) {
  switch (v) {
    case Verdict::kSame:
      return "same";
    case Verdict::kImproved:
      return "improved";
    case Verdict::kNoise:
      return "noise";
    case Verdict::kRegressed:
      return "REGRESSED";
    case Verdict::kInfo:
      return "info";
  }
  return "?";
}

double parse_fraction(const std::string& text, const std::string& what) {
  std::string t = text;
  bool percent = !t.empty() && t.back() == '%';
  if (percent) t.pop_back();
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(t, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (t.empty() || used != t.size() || !std::isfinite(v) || v < 0)
    CPB_INPUT_ERROR("{}: '{}' is not a threshold; use a percentage like 5% or a fraction like 0.05",
                    what, text);
  // "5" could mean 5% or 500%: a bare number is a fraction, and must be below 1.
  if (!percent && v >= 1)
    CPB_INPUT_ERROR(
        "{}: '{}' is ambiguous (a fraction of {} is {}%); write a percentage like {}% or a "
        "fraction below 1 like {}",
        what, text, v, v * 100, v, v / 100);
  return percent ? v / 100 : v;
}

std::vector<std::string> compare_metric_names() {
  std::vector<std::string> out;
  for (const auto& m : metrics()) out.push_back(m.name);
  return out;
}

void add_metric_threshold(CompareOptions& options, const std::string& assignment) {
  auto eq = assignment.find('=');
  auto names = compare_metric_names();
  if (eq == std::string::npos)
    CPB_INPUT_ERROR("--metric-threshold '{}': expected name=value (e.g. step=10%); names: {}",
                    assignment, fmt::join(names, ", "));
  std::string name = assignment.substr(0, eq), value = assignment.substr(eq + 1);
  if (name == "step_seconds") name = "step";
  if (std::find(names.begin(), names.end(), name) == names.end())
    CPB_INPUT_ERROR("--metric-threshold: unknown metric '{}'; allowed: {}", name,
                    fmt::join(names, ", "));
  const MetricDef* def = find_metric(name);
  if (value == "off") {
    options.metric_thresholds[name] = -1;
    return;
  }
  if (def->kind == Kind::kExact)
    CPB_INPUT_ERROR("--metric-threshold {}: '{}' is an exact metric; only '{}=off' is allowed",
                    name, value, name);
  options.metric_thresholds[name] = parse_fraction(value, "--metric-threshold " + name);
}

double mann_whitney_min_p(size_t n, size_t m) {
  if (n == 0 || m == 0) return 1;
  return std::exp(-log_choose(n + m, n));
}

double mann_whitney_greater(const std::vector<double>& x, const std::vector<double>& y) {
  size_t n = x.size(), m = y.size();
  if (n == 0 || m == 0) return 1;
  // Ranks of the pooled sample, ties given their average rank.
  std::vector<std::pair<double, int>> all;
  for (double v : x) all.push_back({v, 0});
  for (double v : y) all.push_back({v, 1});
  std::sort(all.begin(), all.end());
  size_t N = all.size();
  double rank_sum_y = 0, tie_term = 0;
  bool ties = false;
  for (size_t i = 0; i < N;) {
    size_t j = i;
    while (j < N && all[j].first == all[i].first) ++j;
    double avg = (double(i + 1) + double(j)) / 2;
    size_t t = j - i;
    if (t > 1) {
      ties = true;
      tie_term += double(t) * double(t) * double(t) - double(t);
    }
    for (size_t k = i; k < j; ++k)
      if (all[k].second == 1) rank_sum_y += avg;
    i = j;
  }
  double u = rank_sum_y - double(m) * double(m + 1) / 2;  // pairs (x, y) with y > x
  if (!ties && n <= 40 && m <= 40) return exact_upper_tail(m, n, u);
  double mean = double(n) * double(m) / 2;
  double var = double(n) * double(m) / 12 * ((N + 1) - tie_term / (double(N) * double(N - 1)));
  if (var <= 0) return u > mean ? 0 : 1;
  double z = (u - mean - 0.5) / std::sqrt(var);
  return normal_upper(z);
}

namespace {

// The metric's threshold from the options; nullopt = shown, not judged.
std::optional<double> threshold_of(const MetricDef& m, const CompareOptions& options) {
  auto it = options.metric_thresholds.find(m.name);
  if (it != options.metric_thresholds.end()) {
    if (it->second < 0) return std::nullopt;
    return it->second;
  }
  if (m.kind == Kind::kTimed) return options.threshold;
  if (m.kind == Kind::kExact) return 0.0;
  return std::nullopt;  // gauges and derived metrics: shown, not judged, by default
}

// Phase 1: the params cases are matched on (those every run of both sides carries).
std::set<std::string> matching_keys(const ReportSet& base, const ReportSet& now,
                                    std::vector<std::string>& notes) {
  std::set<std::string> keys;
  auto kb = common_param_keys(base), kn = common_param_keys(now);
  std::vector<std::string> only_base, only_new;
  for (const auto& k : kb)
    if (kn.count(k))
      keys.insert(k);
    else
      only_base.push_back(k);
  for (const auto& k : kn)
    if (!kb.count(k)) only_new.push_back(k);
  if (!only_base.empty() || !only_new.empty())
    notes.push_back(fmt::format(
        "params ignored for matching (not in both reports): {}{}{}",
        only_base.empty() ? "" : fmt::format("base only: {}", fmt::join(only_base, ", ")),
        !only_base.empty() && !only_new.empty() ? "; " : "",
        only_new.empty() ? "" : fmt::format("new only: {}", fmt::join(only_new, ", "))));
  return keys;
}

double median_step(const json& c) { return c["metrics"]["step_seconds"].value("median", 0.0); }

// Phase 2: machine-speed factor of `run` against `base` over the peer cases (geometric
// mean of base/run median step); 1 with peers = 0 when normalisation is off.
double machine_scale(const ReportSet& base, const ReportSet& run, const json& rule,
                     const std::set<std::string>& keys, const std::string& base_name,
                     const std::string& run_name, int* peers) {
  *peers = 0;
  if (!rule.is_object() || rule.empty()) return 1;
  std::map<std::string, const json*> base_by_key;
  for (const json& c : base.cases) base_by_key[case_key(c, keys)] = &c;
  double log_sum = 0;
  for (const json& c : run.cases) {
    if (c.value("status", "") != "ok" || !peer_matches(rule, c)) continue;
    auto it = base_by_key.find(case_key(c, keys));
    if (it == base_by_key.end() || it->second->value("status", "") != "ok") continue;
    double b = median_step(*it->second), n = median_step(c);
    if (b <= 0 || n <= 0) continue;
    log_sum += std::log(b / n);
    ++*peers;
  }
  if (*peers == 0)
    CPB_INPUT_ERROR("--normalize {}: no ok case matching it is in both '{}' and '{}'", rule.dump(),
                    base_name, run_name);
  return std::exp(log_sum / *peers);
}

// The runs of one side, indexed by case key, times already normalised.
struct Side {
  std::vector<ReportSet> runs;  // runs[0] is the one the tables show
  std::vector<std::map<std::string, const json*>> by_key;

  void index(const std::set<std::string>& keys) {
    by_key.assign(runs.size(), {});
    for (size_t r = 0; r < runs.size(); ++r)
      for (const json& c : runs[r].cases) by_key[r][case_key(c, keys)] = &c;
  }
  // Median step of the case in every run where it is ok: the run-level samples.
  std::vector<double> run_medians(const std::string& key) const {
    std::vector<double> out;
    for (const auto& m : by_key)
      if (auto it = m.find(key); it != m.end() && it->second->value("status", "") == "ok")
        out.push_back(median_step(*it->second));
    return out;
  }
};

double relative_range(std::vector<double> v) {
  if (v.size() < 2) return 0;
  std::sort(v.begin(), v.end());
  double mid = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  return mid > 0 ? (v.back() - v.front()) / mid : 0;
}

// Phase 3a: the step time. Regressed only when the shift is beyond the effective
// threshold (the --threshold, raised to the run-level noise of these runs) AND the test
// says the shift is real. Run-level noise: with >= 2 runs a side, the spread of the
// runs' medians; with one run a side, that run's own p10-p90 width (iterations of one
// run share its load, so a shift smaller than its spread is not evidence).
// What the data say about a shift: the test, its p-value and whether the new side is
// significantly larger or smaller.
struct Evidence {
  std::string test;
  double p_value = -1;
  bool larger = false, smaller = false;
};

// One-sided Mann-Whitney U both ways, when the sizes can reach alpha at all.
std::optional<Evidence> rank_test(const std::vector<double>& base, const std::vector<double>& now,
                                  double alpha, bool now_is_larger, const char* name) {
  if (mann_whitney_min_p(base.size(), now.size()) > alpha) return std::nullopt;
  double p_up = mann_whitney_greater(base, now), p_down = mann_whitney_greater(now, base);
  return Evidence{name, now_is_larger ? p_up : p_down, p_up <= alpha, p_down <= alpha};
}

double middle(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// Relative p10-p90 width of one run's step times.
double p10_p90_width(const json& st) {
  double med = st.value("median", 0.0);
  return med > 0 ? (st.value("p90", med) - st.value("p10", med)) / med : 0.0;
}

MetricChange judge_step(const json& bs, const json& ns, const std::vector<double>& base_runs,
                        const std::vector<double>& new_runs, double thr,
                        const CompareOptions& options) {
  MetricChange mc{
      .metric = "step", .base = bs.value("median", 0.0), .now = ns.value("median", 0.0)};
  Evidence ev;
  double noise = 0;
  if (base_runs.size() >= 2 && new_runs.size() >= 2) {
    // Runs in separate processes: their medians are the samples, their spread the noise.
    mc.base = middle(base_runs);
    mc.now = middle(new_runs);
    noise = std::max(relative_range(base_runs), relative_range(new_runs));
    mc.threshold_from =
        fmt::format("between-run spread of {}+{} runs", base_runs.size(), new_runs.size());
    const auto [bmin, bmax] = std::minmax_element(base_runs.begin(), base_runs.end());
    const auto [nmin, nmax] = std::minmax_element(new_runs.begin(), new_runs.end());
    ev = rank_test(base_runs, new_runs, options.alpha, mc.now >= mc.base, "runs mann-whitney")
             .value_or(Evidence{"run ranges", -1, *nmin > *bmax, *nmax < *bmin});
  } else {
    // One run a side: its iterations share its load, so its own spread is the noise.
    noise = std::max(p10_p90_width(bs), p10_p90_width(ns));
    mc.threshold_from = "run p10-p90 spread";
    ev = rank_test(samples_of(bs), samples_of(ns), options.alpha, mc.now >= mc.base, "mann-whitney")
             .value_or(Evidence{"p10-p90", -1, ns.value("p10", mc.now) > bs.value("p90", mc.base),
                                ns.value("p90", mc.now) < bs.value("p10", mc.base)});
  }
  mc.test = ev.test;
  mc.p_value = ev.p_value;
  mc.change = rel_change(mc.base, mc.now);
  mc.threshold = std::max(thr, noise);
  if (mc.threshold == thr) mc.threshold_from = "--threshold";
  mc.verdict = judge(mc.change, true, thr, mc.threshold, ev.larger, ev.smaller);
  return mc;
}

// Phase 3b: a metric with one value per run (exact, derived or gauge). Nullopt when the
// row is not shown (an exact metric that did not change).
std::optional<MetricChange> judge_plain(const MetricDef& def, const json& bm, const json& nm,
                                        std::optional<double> thr) {
  MetricChange mc;
  mc.metric = def.name;
  mc.base = bm[def.path].is_number() ? bm[def.path].get<double>() : 0;
  mc.now = nm[def.path].is_number() ? nm[def.path].get<double>() : 0;
  mc.change = rel_change(mc.base, mc.now);
  mc.threshold = thr.value_or(-1);
  if (def.kind == Kind::kExact) {
    if (!thr || mc.base == mc.now) return std::nullopt;  // exact rows only when they differ
    mc.test = "exact";
    mc.verdict = Verdict::kRegressed;
  } else if (!thr) {
    // Derived (flops / median step) is judged through the step row; gauges are shown.
    mc.test = def.kind == Kind::kDerived ? "from step" : "none";
    mc.verdict = Verdict::kInfo;
  } else {
    mc.test = "threshold";
    mc.threshold_from = "--metric-threshold";
    mc.verdict = judge(mc.change, def.lower_is_better, *thr, *thr, true, true);
  }
  return mc;
}

// Phase 3: one matched case: status, verification, then every metric.
CaseComparison compare_case(const json& b, const json& n, const std::string& key, const Side& base,
                            const Side& now, const CompareOptions& options) {
  CaseComparison cc;
  cc.key = key;
  cc.label = case_label(b);
  cc.base_status = b.value("status", "?");
  cc.new_status = n.value("status", "?");
  if (cc.base_status != cc.new_status) {
    std::string why = n.value("reason", "");
    cc.notes.push_back(fmt::format("status {} -> {}{}", cc.base_status, cc.new_status,
                                   why.empty() ? "" : ": " + why));
    cc.regressed = severity(cc.new_status) > severity(cc.base_status);
  }
  const json& bv = b.value("verification", json());
  const json& nv = n.value("verification", json());
  if (bv.is_object() && nv.is_object() && bv.value("passed", false) && !nv.value("passed", false) &&
      nv.value("skipped_reason", "").empty()) {
    cc.notes.push_back("verification passed -> failed");
    cc.regressed = true;
  }
  if (cc.base_status != "ok" || cc.new_status != "ok") return cc;
  const json& bm = b["metrics"];
  const json& nm = n["metrics"];
  for (const MetricDef& def : metrics()) {
    if (!bm.contains(def.path) || !nm.contains(def.path)) continue;
    auto thr = threshold_of(def, options);
    std::optional<MetricChange> mc;
    if (def.kind == Kind::kTimed && thr) {
      mc = judge_step(bm[def.path], nm[def.path], base.run_medians(key), now.run_medians(key), *thr,
                      options);
    } else if (def.kind == Kind::kTimed) {
      mc = MetricChange{.metric = def.name,
                        .base = bm[def.path].value("median", 0.0),
                        .now = nm[def.path].value("median", 0.0),
                        .test = "none",
                        .verdict = Verdict::kInfo};
      mc->change = rel_change(mc->base, mc->now);
    } else {
      mc = judge_plain(def, bm, nm, thr);
    }
    if (!mc) continue;
    if (mc->verdict == Verdict::kRegressed) cc.regressed = true;
    cc.metrics.push_back(*mc);
  }
  return cc;
}

}  // namespace

Comparison compare_runs(const std::vector<ReportSet>& base_runs,
                        const std::vector<ReportSet>& new_runs, const CompareOptions& options,
                        const std::string& base_name, const std::string& new_name) {
  CPB_CHECK(!base_runs.empty() && !new_runs.empty(), "compare needs a run on each side");
  Comparison out;
  out.base_name = base_name;
  out.new_name = new_name;
  out.threshold = options.threshold;
  out.all_rows = options.all_rows;
  out.base_runs = static_cast<int>(base_runs.size());
  out.new_runs = static_cast<int>(new_runs.size());
  const std::set<std::string> keys = matching_keys(base_runs[0], new_runs[0], out.notes);
  // Every run but the base's first is put on the base machine's speed (--normalize).
  Side base{.runs = base_runs}, now{.runs = new_runs};
  for (Side* side : {&base, &now})
    for (size_t r = 0; r < side->runs.size(); ++r) {
      if (side == &base && r == 0) continue;
      int peers = 0;
      double f = machine_scale(base_runs[0], side->runs[r], options.normalize_by, keys, base_name,
                               side == &now ? new_name : base_name, &peers);
      if (side == &now && r == 0) {
        out.time_scale = f;
        out.normalize_peers = peers;
      }
      if (peers > 0)
        for (json& c : side->runs[r].cases)
          if (c.value("status", "") == "ok") scale_times(c, f);
    }
  base.index(keys);
  now.index(keys);
  std::set<std::string> matched;
  for (const json& b : base.runs[0].cases) {
    std::string key = case_key(b, keys);
    auto it = now.by_key[0].find(key);
    if (it == now.by_key[0].end()) {
      out.missing.push_back(case_label(b));
      continue;
    }
    matched.insert(key);
    out.cases.push_back(compare_case(b, *it->second, key, base, now, options));
    if (out.cases.back().regressed) ++out.regressions;
  }
  for (const json& c : now.runs[0].cases)
    if (!matched.count(case_key(c, keys))) out.added.push_back(case_label(c));
  // Nothing matched means nothing was checked: a PASS here would hide a wrong file pair.
  if (matched.empty())
    CPB_INPUT_ERROR(
        "no case in common between '{}' ({} case(s)) and '{}' ({} case(s)): nothing to compare",
        base_name, base_runs[0].cases.size(), new_name, now.runs[0].cases.size());
  out.failed = out.regressions > 0 || (options.fail_on_missing && !out.missing.empty());
  return out;
}

Comparison compare_reports(const ReportSet& base, const ReportSet& now,
                           const CompareOptions& options, const std::string& base_name,
                           const std::string& new_name) {
  return compare_runs({base}, {now}, options, base_name, new_name);
}

namespace {

struct Row {
  std::string cells[7];
};

std::vector<Row> table_rows(const Comparison& c) {
  std::vector<Row> rows;
  for (const auto& cc : c.cases) {
    for (const auto& n : cc.notes)
      rows.push_back({{cc.label, "status", cc.base_status, cc.new_status, "", n,
                       cc.regressed ? "REGRESSED" : "changed"}});
    for (const auto& m : cc.metrics) {
      // Compact by default: the step row, judged rows that moved, and shown-only
      // metrics that moved by more than the threshold.
      bool moved = std::abs(m.change) > c.threshold;
      if (!c.all_rows && m.metric != "step" && m.verdict != Verdict::kRegressed &&
          m.verdict != Verdict::kImproved && !moved)
        continue;
      std::string test = m.test;
      if (m.p_value >= 0) test += fmt::format(" p={:.2g}", m.p_value);
      if (m.threshold > 0)
        test += fmt::format(", thr {:.1f}% ({})", m.threshold * 100, m.threshold_from);
      rows.push_back({{cc.label, m.metric, fmt_value(m.metric, m.base), fmt_value(m.metric, m.now),
                       fmt_change(m.change), test, to_string(m.verdict)}});
    }
    if (cc.notes.empty() && cc.metrics.empty())
      rows.push_back({{cc.label, "status", cc.base_status, cc.new_status, "", "", "same"}});
  }
  return rows;
}

const char* const kHeader[7] = {"case", "metric", "base", "new", "change", "test", "verdict"};

std::string summary_line(const Comparison& c) {
  std::string scale;
  if (c.normalize_peers > 0)
    scale = fmt::format(" (new times x{:.3f}: machine-speed factor from {} peer case(s))",
                        c.time_scale, c.normalize_peers);
  // The rule in force, so a reader knows what "regressed" meant for this verdict.
  std::string rule = fmt::format(
      "; step regresses when slower by more than {:.1f}% (raised per case to {}) and {}",
      c.threshold * 100,
      c.base_runs >= 2 && c.new_runs >= 2
          ? fmt::format("the spread of the run medians; {} base x {} new runs", c.base_runs,
                        c.new_runs)
          : "each run's own p10-p90 spread; one run a side",
      c.base_runs >= 2 && c.new_runs >= 2
          ? "significant over the run medians (Mann-Whitney U, else non-overlapping run ranges)"
          : "significant (Mann-Whitney U on iterations, else non-overlapping p10-p90)");
  return fmt::format(
      "{} matched case(s), {} regressed, {} missing from new, {} only in new: {}{}{}",
      c.cases.size(), c.regressions, c.missing.size(), c.added.size(), c.failed ? "FAIL" : "PASS",
      scale, rule);
}

}  // namespace

std::string render_markdown(const Comparison& c) {
  std::string s = fmt::format("## cpbench compare: `{}` -> `{}`\n\n{}\n\n", c.base_name, c.new_name,
                              summary_line(c));
  for (const auto& n : c.notes) s += "Note: " + n + "\n\n";
  s += "| case | metric | base | new | change | test | verdict |\n";
  s += "|---|---|---:|---:|---:|---|---|\n";
  for (const Row& r : table_rows(c)) {
    s += "|";
    for (const auto& cell : r.cells) s += " " + cell + " |";
    s += "\n";
  }
  if (!c.missing.empty()) {
    s += "\n**Missing from new** (in base only):\n\n";
    for (const auto& m : c.missing) s += "- " + m + "\n";
  }
  if (!c.added.empty()) {
    s += "\n**New cases** (not in base):\n\n";
    for (const auto& m : c.added) s += "- " + m + "\n";
  }
  return s;
}

std::string render_text(const Comparison& c) {
  auto rows = table_rows(c);
  size_t width[7];
  for (int i = 0; i < 7; ++i) width[i] = std::string(kHeader[i]).size();
  for (const Row& r : rows)
    for (int i = 0; i < 7; ++i) width[i] = std::max(width[i], r.cells[i].size());
  auto line = [&](const std::string* cells) {
    std::string l;
    for (int i = 0; i < 7; ++i) {
      bool right = i >= 2 && i <= 4;
      l += right ? fmt::format("{:>{}}", cells[i], width[i])
                 : fmt::format("{:<{}}", cells[i], width[i]);
      l += i < 6 ? "  " : "";
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    return l + "\n";
  };
  std::string s = fmt::format("cpbench compare: {} -> {}\n", c.base_name, c.new_name);
  std::string header[7];
  for (int i = 0; i < 7; ++i) header[i] = kHeader[i];
  s += line(header);
  for (const Row& r : rows) s += line(r.cells);
  for (const auto& m : c.missing) s += "MISSING from new: " + m + "\n";
  for (const auto& m : c.added) s += "only in new: " + m + "\n";
  for (const auto& n : c.notes) s += "note: " + n + "\n";
  s += summary_line(c) + "\n";
  return s;
}

}  // namespace cpb::reports
