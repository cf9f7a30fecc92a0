// Table rendering. Cells that did not run show their status (unsupported, error,
// timeout) instead of a number, so a hole in a table always says why it is there.
#include "reports/tables.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "common/errors.h"
#include "reports/fields.h"

namespace cpb::reports {
namespace {

using nlohmann::json;

// Pivot metrics that are not scalar fields: views of the structured step_seconds. Every
// other pivot metric is a row of the field table with a `table` name (reports/fields.h).
const TableMetric kStepMetrics[] = {
    {"step_ms", "median step time (ms)"},
};

std::vector<TableMetric> make_table_metrics() {
  std::vector<TableMetric> out(std::begin(kStepMetrics), std::end(kStepMetrics));
  for (const auto& f : case_metric_fields())
    if (f.table) out.push_back({f.table, f.table_title});
  return out;
}

const ScalarField<CaseMetrics>* table_field(const std::string& metric) {
  for (const auto& f : case_metric_fields())
    if (f.table && metric == f.table) return &f;
  return nullptr;
}

std::string str(const json& p, const char* k) {
  return p.contains(k) && p[k].is_string() ? p[k].get<std::string>() : "";
}
std::string num(const json& p, const char* k) {
  return p.contains(k) && p[k].is_number() ? p[k].dump() : "";
}

// LongCA-bench's TFLOP/s per rank recomputed for a report written before the field
// existed: flops / (mean over ranks of each rank's own median step x P) / 1e12, from
// metrics.ranks[].step_seconds.median.
std::optional<double> mean_time_tflops_from_ranks(const json& m) {
  if (!m.contains("flops") || !m["flops"].is_number() || !m.contains("ranks") ||
      !m["ranks"].is_array() || m["ranks"].empty())
    return std::nullopt;
  double sum = 0;
  for (const json& r : m["ranks"]) {
    const json st = r.value("step_seconds", json::object());
    if (!st.is_object() || !st.contains("median") || !st["median"].is_number()) return std::nullopt;
    sum += st["median"].get<double>();
  }
  // sum = mean time x P, so this is flops / (mean time x P).
  return sum > 0 ? std::optional(m["flops"].get<double>() / sum / 1e12) : std::nullopt;
}

// Fields an older report may lack that the tables recompute from what it has.
struct Fallback {
  const char* field;
  std::optional<double> (*from)(const json& metrics);
};
const Fallback kFallbacks[] = {{"tflops_per_rank_mean_time", mean_time_tflops_from_ranks}};

// The field's value in `m`, or its fallback when the report predates it.
std::optional<double> stored_or_fallback(const json& m, const ScalarField<CaseMetrics>& f) {
  if (auto v = field_value(m, f)) return v;
  for (const auto& fb : kFallbacks)
    if (std::string(fb.field) == f.name) return fb.from(m);
  return std::nullopt;
}

std::optional<double> tflops_per_rank_mean_time(const json& m) {
  return stored_or_fallback(m, *find_case_field("tflops_per_rank_mean_time"));
}

std::optional<double> metric_value(const json& c, const std::string& name) {
  if (c.value("status", "") != "ok" || !c.contains("metrics") || !c["metrics"].is_object())
    return std::nullopt;
  const json& m = c["metrics"];
  if (name == "step_ms") {
    if (!m.contains("step_seconds") || !m["step_seconds"].is_object()) return std::nullopt;
    return m["step_seconds"].value("median", 0.0) * 1e3;
  }
  const ScalarField<CaseMetrics>* f = table_field(name);
  if (!f) return std::nullopt;
  auto v = stored_or_fallback(m, *f);
  return v ? std::optional(*v * f->scale) : v;
}

std::string cell(const json& c, const std::string& metric) {
  auto v = metric_value(c, metric);
  if (!v) return c.value("status", "?") == "ok" ? "n/a" : c.value("status", "?");
  return fmt::format("{:.4g}", *v);
}

// Degrees in label order, with their short names; a key the report adds later follows.
const std::pair<const char*, const char*> kDegreeNames[] = {
    {"ulysses", "u"}, {"ring", "r"}, {"inner_ring", "w"}};

std::string degree_short(const std::string& key) {
  for (const auto& [k, s] : kDegreeNames)
    if (key == k) return s;
  return key;
}

std::vector<std::string> degree_keys(const json& d) {
  std::vector<std::string> out;
  for (const auto& [k, s] : kDegreeNames)
    if (d.contains(k)) out.push_back(k);
  for (const auto& [k, v] : d.items())
    if (degree_short(k) == k) out.push_back(k);
  return out;
}

}  // namespace

MethodLabeler::MethodLabeler(const std::vector<json>& cases) {
  // (method, world, degree) -> values seen: a degree with two values at one world is a
  // choice the user made (a layout), one value per world is implied by the world.
  std::map<std::tuple<std::string, int, std::string>, std::set<std::string>> seen;
  for (const json& c : cases) {
    const json p = c.value("params", json::object());
    const json d = p.value("degrees", json::object());
    if (!d.is_object()) continue;
    for (const auto& [k, v] : d.items())
      seen[{str(p, "method"), case_world(c), k}].insert(v.dump());
  }
  for (const auto& [key, values] : seen)
    if (values.size() > 1) varying_[std::get<0>(key)].insert(std::get<2>(key));
}

std::string MethodLabeler::operator()(const json& p) const {
  std::string method = str(p, "method");
  std::string out = method;
  const json d = p.value("degrees", json::object());
  auto it = varying_.find(method);
  if (it != varying_.end() && d.is_object()) {
    // The ring degree is left out: U x R = P, so the world column and U give it.
    bool has_ulysses = it->second.count("ulysses") > 0;
    for (const std::string& k : degree_keys(d))
      if (it->second.count(k) && !(k == "ring" && has_ulysses))
        out += fmt::format(" {}={}", degree_short(k), d[k].dump());
  }
  if (str(p, "placement") == "strided") out += " strided";
  if (!str(p, "sharding").empty()) out += " / " + str(p, "sharding");
  return out;
}

namespace {

std::string csv_quote(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

std::string fmt_opt(const json& v) {
  if (v.is_null()) return "";
  if (v.is_number_float()) return fmt::format("{:.6g}", v.get<double>());
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

}  // namespace

const std::vector<TableMetric>& table_metrics() {
  static const std::vector<TableMetric> metrics = make_table_metrics();
  return metrics;
}

const TableMetric& find_table_metric(const std::string& name) {
  for (const auto& m : table_metrics())
    if (m.name == name) return m;
  std::vector<std::string> names;
  for (const auto& m : table_metrics()) names.push_back(m.name);
  CPB_INPUT_ERROR("unknown table metric '{}'; allowed: {}", name, fmt::join(names, ", "));
}

namespace {

// CSV columns before the metric fields: the case's parameters, status and step time.
const char* const kCsvCaseCols[] = {
    "source",     "method",        "world",      "ulysses",    "ring",   "inner_ring",
    "placement",  "sharding",      "kernel",     "mask",       "seq",    "heads_q",
    "heads_kv",   "head_dim",      "dtype",      "pass",       "status", "reason",
    "iterations", "step_median_s", "step_p10_s", "step_p90_s", "step_cv"};

std::string csv_row(const std::vector<std::string>& row) {
  std::string out;
  for (size_t i = 0; i < row.size(); ++i) out += (i ? "," : "") + csv_quote(row[i]);
  return out + "\n";
}

std::string verified_of(const json& c) {
  if (!c.contains("verification") || !c["verification"].is_object()) return "";
  const json& v = c["verification"];
  if (!v.value("skipped_reason", "").empty()) return "skipped";
  return v.value("passed", false) ? "pass" : "fail";
}

// The kCsvCaseCols cells of one case.
std::vector<std::string> csv_case_cells(const ReportSet& set, const json& c) {
  const json p = c.value("params", json::object());
  const json d = p.value("degrees", json::object());
  const json m = c.value("metrics", json());
  const json st = m.is_object() ? m.value("step_seconds", json::object()) : json::object();
  auto sv = [&](const char* k) { return st.contains(k) ? fmt_opt(st[k]) : std::string(); };
  size_t src = c.value("source", 0);
  std::string file = src < set.sources.size() ? set.sources[src].value("file", "") : "";
  return {file,
          str(p, "method"),
          std::to_string(case_world(c)),
          num(d, "ulysses"),
          num(d, "ring"),
          num(d, "inner_ring"),
          str(p, "placement"),
          str(p, "sharding"),
          str(p, "kernel"),
          mask_label(p.value("mask", json())),
          num(p, "seq"),
          num(p, "heads_q"),
          num(p, "heads_kv"),
          num(p, "head_dim"),
          str(p, "dtype"),
          str(p, "pass"),
          c.value("status", ""),
          c.value("reason", ""),
          sv("iterations"),
          sv("median"),
          sv("p10"),
          sv("p90"),
          sv("cv")};
}

}  // namespace

std::string render_csv(const ReportSet& set) {
  std::vector<std::string> cols(std::begin(kCsvCaseCols), std::end(kCsvCaseCols));
  for (const auto& f : case_metric_fields())
    if (f.csv) cols.push_back(f.csv);
  cols.push_back("verified");
  std::string out = csv_row(cols);
  for (const json& c : set.cases) {
    std::vector<std::string> row = csv_case_cells(set, c);
    const json m = c.value("metrics", json());
    for (const auto& f : case_metric_fields())
      if (f.csv) row.push_back(m.is_object() && m.contains(f.name) ? fmt_opt(m[f.name]) : "");
    row.push_back(verified_of(c));
    out += csv_row(row);
  }
  return out;
}

namespace {

// LongCA-bench's peak memory per rank: the mean over ranks of the device peak
// (peak_device_bytes, what torch's max_memory_allocated counts) on CUDA cases, else of
// the host peak RSS. Second: which of the two ("device" or "rss").
std::optional<std::pair<double, std::string>> mean_peak_bytes(const json& m) {
  if (!m.contains("ranks") || !m["ranks"].is_array() || m["ranks"].empty()) return std::nullopt;
  const bool device = m["ranks"][0].contains("peak_device_bytes");
  const char* key = device ? "peak_device_bytes" : "peak_rss_bytes";
  double sum = 0;
  for (const json& r : m["ranks"]) {
    if (!r.contains(key) || !r[key].is_number()) return std::nullopt;
    sum += r[key].get<double>();
  }
  return std::pair(sum / double(m["ranks"].size()), std::string(device ? "device" : "rss"));
}

// Cases equal in every parameter but the mask seed, in order of first appearance.
std::vector<std::vector<const json*>> mask_sample_groups(const ReportSet& set) {
  std::vector<std::vector<const json*>> groups;
  std::map<std::string, size_t> index;
  for (const json& c : set.cases) {
    json key = c.value("params", json::object());
    if (key.contains("mask") && key["mask"].is_object()) key["mask"].erase("seed");
    auto [it, fresh] = index.emplace(key.dump(), groups.size());
    if (fresh) groups.emplace_back();
    groups[it->second].push_back(&c);
  }
  return groups;
}

// One row of the LongCA CSV: means over the group's samples, or the status of the
// first sample that did not run ok (OOM for oom).
std::vector<std::string> longca_row(const std::vector<const json*>& group) {
  const json p = group.front()->value("params", json::object());
  const json d = p.value("degrees", json::object());
  json mask = p.value("mask", json::object());
  std::vector<std::string> seeds;
  for (const json* c : group) {
    const json m = c->value("params", json::object()).value("mask", json::object());
    if (m.is_object() && m.contains("seed")) seeds.push_back(m["seed"].dump());
  }
  if (mask.is_object()) mask.erase("seed");
  std::string tflops, mem, mem_kind, bad;
  double t_sum = 0, m_sum = 0;
  for (const json* c : group) {
    const std::string status = c->value("status", "?");
    const json m = c->value("metrics", json());
    auto t = status == "ok" && m.is_object() ? tflops_per_rank_mean_time(m) : std::nullopt;
    auto b = status == "ok" && m.is_object() ? mean_peak_bytes(m) : std::nullopt;
    if (status != "ok") {
      bad = status == "oom" ? "OOM" : status;
      break;
    }
    if (!t || !b) {
      bad = "n/a";  // an ok case whose report lacks the figures
      break;
    }
    t_sum += *t;
    m_sum += b->first;
    mem_kind = b->second;
  }
  if (bad.empty()) {
    tflops = fmt::format("{:.6g}", t_sum / double(group.size()));
    mem = fmt::format("{:.0f}", m_sum / double(group.size()));
  } else {
    tflops = mem = bad;
  }
  return {str(p, "method"),
          mask.is_object() ? mask.value("kind", "?") : mask_label(mask),
          std::to_string(case_world(*group.front())),
          str(p, "pass"),
          num(d, "ulysses"),
          num(d, "ring"),
          tflops,
          mem,
          num(d, "inner_ring"),
          str(p, "placement"),
          str(p, "sharding"),
          str(p, "kernel"),
          mask_label(mask),
          fmt::format("{}", fmt::join(seeds, " ")),
          std::to_string(group.size()),
          num(p, "seq"),
          num(p, "heads_q"),
          num(p, "heads_kv"),
          num(p, "head_dim"),
          str(p, "dtype"),
          mem_kind};
}

}  // namespace

std::string render_longca_csv(const ReportSet& set) {
  static const std::vector<std::string> kCols = {
      "baseline",    "masktype",       "world_size",   "wd",        "ulysses",  "ring",
      "mean_tflops", "mean_peak_mems", "inner_ring",   "placement", "sharding", "kernel",
      "mask",        "mask_seeds",     "mask_samples", "seq",       "heads_q",  "heads_kv",
      "head_dim",    "dtype",          "peak_mem_kind"};
  std::string out = csv_row(kCols);
  for (const auto& group : mask_sample_groups(set)) out += csv_row(longca_row(group));
  return out;
}

std::string render_markdown_tables(const ReportSet& set, const std::string& metric, bool detail) {
  const TableMetric& tm = find_table_metric(metric);
  const MethodLabeler method_label(set.cases);
  // Setting: everything but method, mask, seqlen and world.
  using Setting = std::tuple<std::string, std::string, std::string, std::string, std::string>;
  using RowKey = std::tuple<std::string, std::string, int64_t>;  // method label, mask, seq
  std::map<Setting, std::map<RowKey, std::map<int, std::string>>> tables;
  std::map<Setting, std::set<int>> worlds;
  for (const json& c : set.cases) {
    const json p = c.value("params", json::object());
    Setting s{str(p, "kernel"), fmt::format("Hq={} Hkv={}", num(p, "heads_q"), num(p, "heads_kv")),
              fmt::format("D={}", num(p, "head_dim")), str(p, "dtype"), str(p, "pass")};
    int64_t seq = p.contains("seq") && p["seq"].is_number_integer() ? p["seq"].get<int64_t>() : 0;
    RowKey rk{method_label(p), mask_label(p.value("mask", json())), seq};
    int w = case_world(c);
    tables[s][rk][w] = cell(c, metric);
    worlds[s].insert(w);
  }
  std::string out;
  for (const auto& [s, rows] : tables) {
    const auto& ws = worlds[s];
    out += fmt::format("### {}: kernel {}, {}, {}, {}, pass {}\n\n", tm.title, std::get<0>(s),
                       std::get<1>(s), std::get<2>(s), std::get<3>(s), std::get<4>(s));
    out += "| method | mask | seqlen |";
    for (int w : ws) out += fmt::format(" P={} |", w);
    out += "\n|---|---|---:|";
    for (size_t i = 0; i < ws.size(); ++i) out += "---:|";
    out += "\n";
    for (const auto& [rk, cells] : rows) {
      out += fmt::format("| {} | {} | {} |", std::get<0>(rk), std::get<1>(rk), std::get<2>(rk));
      for (int w : ws) {
        auto it = cells.find(w);
        out += " " + (it == cells.end() ? std::string("") : it->second) + " |";
      }
      out += "\n";
    }
    out += "\n";
  }
  if (detail) {
    out +=
        "### All cases\n\n| case | status | median step (ms) | p10-p90 (ms) | TFLOP/s per rank | "
        "exposed comm (ms) | peak RSS (MiB) |\n|---|---|---:|---:|---:|---:|---:|\n";
    for (const json& c : set.cases) {
      std::string range;
      if (c.value("status", "") == "ok") {
        const json& st = c["metrics"]["step_seconds"];
        range =
            fmt::format("{:.4g}-{:.4g}", st.value("p10", 0.0) * 1e3, st.value("p90", 0.0) * 1e3);
      }
      auto v = [&](const char* name) {
        auto x = metric_value(c, name);
        return x ? fmt::format("{:.4g}", *x) : std::string();
      };
      std::string status = c.value("status", "?");
      if (status != "ok") status += ": " + c.value("reason", "");
      out +=
          fmt::format("| {} | {} | {} | {} | {} | {} | {} |\n", case_label(c), status, v("step_ms"),
                      range, v("tflops_per_rank"), v("exposed_comm_ms"), v("peak_rss_mib"));
    }
  }
  return out;
}

}  // namespace cpb::reports
