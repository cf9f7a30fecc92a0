#include "reports/validate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <utility>

#include "reports/fields.h"
#include "reports/report.h"

namespace cpb::reports {
namespace {

using nlohmann::json;

enum class Kind { kString, kNumber, kInteger, kBool, kObject, kArray, kStringOrNull, kBoolOrNull };

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kString:
      return "a string";
    case Kind::kNumber:
      return "a number";
    case Kind::kInteger:
      return "an integer";
    case Kind::kBool:
      return "a boolean";
    case Kind::kObject:
      return "an object";
    case Kind::kArray:
      return "an array";
    case Kind::kStringOrNull:
      return "a string or null";
    case Kind::kBoolOrNull:
      return "a boolean or null";
  }
  return "?";
}

bool has_kind(const json& v, Kind k) {
  switch (k) {
    case Kind::kString:
      return v.is_string();
    case Kind::kNumber:
      return v.is_number() && std::isfinite(v.get<double>());
    case Kind::kInteger:
      return v.is_number_integer();
    case Kind::kBool:
      return v.is_boolean();
    case Kind::kObject:
      return v.is_object();
    case Kind::kArray:
      return v.is_array();
    case Kind::kStringOrNull:
      return v.is_string() || v.is_null();
    case Kind::kBoolOrNull:
      return v.is_boolean() || v.is_null();
  }
  return false;
}

class Checker {
 public:
  std::vector<std::string> problems;

  void fail(const std::string& where, const std::string& what) {
    problems.push_back(fmt::format("{}: {}", where, what));
  }

  // True when `obj[key]` exists and has kind `k`.
  bool field(const json& obj, const std::string& where, const char* key, Kind k) {
    if (!obj.is_object()) {
      fail(where, "expected an object");
      return false;
    }
    auto it = obj.find(key);
    if (it == obj.end()) {
      fail(where, fmt::format("missing field '{}'", key));
      return false;
    }
    if (!has_kind(*it, k)) {
      fail(fmt::format("{}.{}", where, key), fmt::format("expected {}", kind_name(k)));
      return false;
    }
    return true;
  }

  // Every scalar field of the table (reports/fields.h): present, of its type, in range.
  template <typename S>
  void scalar_fields(const json& obj, const std::string& where,
                     const std::vector<ScalarField<S>>& fields) {
    for (const auto& f : fields) {
      Kind k = std::holds_alternative<int64_t S::*>(f.member) ? Kind::kInteger : Kind::kNumber;
      if (!field(obj, where, f.name, k)) continue;
      double v = obj[f.name].template get<double>();
      if (v < f.min || v > f.max)
        fail(fmt::format("{}.{}", where, f.name),
             f.max == kUnbounded ? fmt::format("must be >= {}", f.min)
                                 : fmt::format("must be in [{}, {}]", f.min, f.max));
    }
  }

  void non_negative(const json& obj, const std::string& where, const char* key, Kind k) {
    if (field(obj, where, key, k) && obj[key].get<double>() < 0)
      fail(fmt::format("{}.{}", where, key), "must be >= 0");
  }

  void time_stats(const json& obj, const std::string& where) {
    if (!obj.is_object()) return fail(where, "expected an object");
    size_t before = problems.size();
    non_negative(obj, where, "iterations", Kind::kInteger);
    for (const char* k : {"median", "mean", "min", "max", "p10", "p90", "cv"})
      non_negative(obj, where, k, Kind::kNumber);
    if (problems.size() != before) return;
    double mn = obj["min"], p10 = obj["p10"], med = obj["median"], p90 = obj["p90"],
           mx = obj["max"], mean = obj["mean"];
    // Tolerate rounding in the last digit of the interpolation.
    auto le = [](double a, double b) { return a <= b + 1e-12 * std::max(1.0, std::abs(b)); };
    if (!(le(mn, p10) && le(p10, med) && le(med, p90) && le(p90, mx)))
      fail(where, "expected min <= p10 <= median <= p90 <= max");
    if (!(le(mn, mean) && le(mean, mx))) fail(where, "expected min <= mean <= max");
    if (obj["iterations"].get<int64_t>() < 1) fail(where, "iterations must be >= 1");
    if (obj.contains("samples")) samples(obj, where);
  }

  // Optional per-iteration (or per-repetition) samples: a non-empty array of finite
  // numbers >= 0 whose min, median and max are the summary's (the summary is computed
  // from them, so a disagreement means one of the two was edited or corrupted).
  void samples(const json& obj, const std::string& where) {
    const json& s = obj["samples"];
    const std::string sw = where + ".samples";
    if (!s.is_array() || s.empty()) return fail(sw, "expected a non-empty array of numbers");
    std::vector<double> v;
    for (const json& x : s) {
      if (!has_kind(x, Kind::kNumber) || x.get<double>() < 0)
        return fail(sw, fmt::format("expected numbers >= 0, found {}", x.dump().substr(0, 40)));
      v.push_back(x.get<double>());
    }
    // "iteration": the summary is of exactly these samples. "repetition_median" (a sweep
    // whose repetitions kept no per-iteration times): the median is of these medians,
    // min and max are of every iteration, so they only bound the samples.
    const json kind = obj.value("samples_kind", json("iteration"));
    if (kind != "iteration" && kind != "repetition_median")
      return fail(where + ".samples_kind", "expected 'iteration' or 'repetition_median'");
    std::sort(v.begin(), v.end());
    // Median as the conventions define percentiles: linear interpolation at 0.5*(n-1).
    double pos = 0.5 * double(v.size() - 1);
    size_t lo = static_cast<size_t>(pos);
    double med = v[lo] + (lo + 1 < v.size() ? (pos - double(lo)) * (v[lo + 1] - v[lo]) : 0);
    auto close = [](double a, double b) {
      return std::abs(a - b) <= 1e-9 * std::max(std::abs(a), std::abs(b)) + 1e-15;
    };
    if (!close(obj["median"].get<double>(), med))
      fail(where + ".median",
           fmt::format("is {}, its samples give {}", obj["median"].get<double>(), med));
    const double mn = obj["min"].get<double>(), mx = obj["max"].get<double>();
    if (kind == "iteration") {
      if (!close(mn, v.front()))
        fail(where + ".min", fmt::format("is {}, its samples give {}", mn, v.front()));
      if (!close(mx, v.back()))
        fail(where + ".max", fmt::format("is {}, its samples give {}", mx, v.back()));
    } else if (mn > v.front() * (1 + 1e-9) || mx < v.back() * (1 - 1e-9)) {
      fail(where, "min and max must bound the repetition medians");
    }
  }
};

void check_provenance(Checker& c, const json& p) {
  const std::string w = "provenance";
  if (c.field(p, w, "tool", Kind::kObject)) {
    c.field(p["tool"], w + ".tool", "name", Kind::kString);
    c.field(p["tool"], w + ".tool", "version", Kind::kString);
  }
  c.field(p, w, "git_commit", Kind::kString);
  c.field(p, w, "git_dirty", Kind::kBoolOrNull);
  if (c.field(p, w, "git_source", Kind::kString) && p["git_source"] != "runtime" &&
      p["git_source"] != "build")
    c.fail(w + ".git_source", "expected 'runtime' or 'build'");
  // Optional (added within v1): checked when present, so older reports still pass.
  if (p.contains("git_commit_runtime")) c.field(p, w, "git_commit_runtime", Kind::kStringOrNull);
  if (p.contains("gpu") && c.field(p, w, "gpu", Kind::kObject)) {
    const json& g = p["gpu"];
    if (c.field(g, w + ".gpu", "models", Kind::kArray))
      for (const auto& m : g["models"])
        if (!m.is_string()) c.fail(w + ".gpu.models", "expected strings");
    for (const char* k : {"driver_version", "cuda_runtime_version", "nccl_version"})
      c.field(g, w + ".gpu", k, Kind::kStringOrNull);
    c.field(g, w + ".gpu", "note", Kind::kString);
  }
  if (c.field(p, w, "command_line", Kind::kArray))
    for (const auto& a : p["command_line"])
      if (!a.is_string()) c.fail(w + ".command_line", "expected strings");
  for (const char* k : {"start_time_utc", "end_time_utc"})
    if (c.field(p, w, k, Kind::kString)) {
      std::string t = p[k];
      // YYYY-MM-DDTHH:MM:SSZ
      if (t.size() != 20 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' ||
          t[16] != ':' || t[19] != 'Z')
        c.fail(fmt::format("{}.{}", w, k), fmt::format("'{}' is not YYYY-MM-DDTHH:MM:SSZ", t));
    }
  int world = 0;
  if (c.field(p, w, "world_size", Kind::kInteger)) world = p["world_size"];
  if (world < 1) c.fail(w + ".world_size", "must be >= 1");
  if (c.field(p, w, "hosts", Kind::kArray)) {
    int ranks = 0;
    for (size_t i = 0; i < p["hosts"].size(); ++i) {
      std::string hw = fmt::format("{}.hosts[{}]", w, i);
      const auto& h = p["hosts"][i];
      c.field(h, hw, "hostname", Kind::kString);
      if (c.field(h, hw, "ranks", Kind::kArray)) ranks += static_cast<int>(h["ranks"].size());
    }
    if (ranks != world)
      c.fail(w + ".hosts", fmt::format("list {} ranks, world_size is {}", ranks, world));
  }
  c.non_negative(p, w, "ranks_per_host", Kind::kInteger);
  c.field(p, w, "cpu_model", Kind::kString);
  c.non_negative(p, w, "cpu_cores", Kind::kInteger);
  c.field(p, w, "compiler", Kind::kString);
  c.field(p, w, "mpi_library", Kind::kString);
  c.field(p, w, "communicator", Kind::kString);
  if (c.field(p, w, "env", Kind::kObject))
    for (const auto& [k, v] : p["env"].items())
      if (!v.is_string()) c.fail(fmt::format("{}.env.{}", w, k), "expected a string");
}

void check_metrics(Checker& c, const json& m, const std::string& w, int world) {
  c.scalar_fields(m, w, case_metric_fields());
  if (c.field(m, w, "step_seconds", Kind::kObject))
    c.time_stats(m["step_seconds"], w + ".step_seconds");
  c.field(m, w, "expected_volume_formula", Kind::kString);
  if (!c.field(m, w, "ranks", Kind::kArray)) return;
  const auto& ranks = m["ranks"];
  // Optional device-memory pairs: a case-level max needs the per-rank values and
  // must equal their maximum; a per-rank value alone is allowed.
  for (const auto& [max_key, rank_key] :
       {std::pair{"peak_device_bytes_max", "peak_device_bytes"},
        std::pair{"driver_peak_used_bytes_max", "driver_peak_used_bytes"}}) {
    for (size_t i = 0; i < ranks.size(); ++i)
      if (ranks[i].is_object() && ranks[i].contains(rank_key))
        c.non_negative(ranks[i], fmt::format("{}.ranks[{}]", w, i), rank_key, Kind::kInteger);
    if (!m.contains(max_key)) continue;
    if (!c.field(m, w, max_key, Kind::kInteger)) continue;
    int64_t most = -1;
    bool all = true;
    for (const auto& r : ranks) {
      if (r.is_object() && r.contains(rank_key) && r[rank_key].is_number_integer())
        most = std::max(most, r[rank_key].get<int64_t>());
      else
        all = false;
    }
    if (!all)
      c.fail(fmt::format("{}.{}", w, max_key),
             fmt::format("present but not every rank has '{}'", rank_key));
    else if (!ranks.empty() && m[max_key].get<int64_t>() != most)
      c.fail(fmt::format("{}.{}", w, max_key),
             fmt::format("is {}, the max over ranks' {} is {}", m[max_key].get<int64_t>(), rank_key,
                         most));
  }
  if (world > 0 && static_cast<int>(ranks.size()) != world)
    c.fail(w + ".ranks", fmt::format("has {} entries, world_size is {}", ranks.size(), world));
  for (size_t i = 0; i < ranks.size(); ++i) {
    std::string rw = fmt::format("{}.ranks[{}]", w, i);
    const auto& r = ranks[i];
    if (c.field(r, rw, "rank", Kind::kInteger) && r["rank"] != static_cast<int>(i))
      c.fail(rw + ".rank", fmt::format("expected {}", i));
    c.field(r, rw, "hostname", Kind::kString);
    if (c.field(r, rw, "step_seconds", Kind::kObject))
      c.time_stats(r["step_seconds"], rw + ".step_seconds");
    c.scalar_fields(r, rw, rank_metric_fields());
    c.field(r, rw, "peak_rss_reset", Kind::kBool);
    if (c.field(r, rw, "ops", Kind::kArray))
      for (size_t k = 0; k < r["ops"].size(); ++k) {
        std::string ow = fmt::format("{}.ops[{}]", rw, k);
        const auto& o = r["ops"][k];
        c.field(o, ow, "op", Kind::kString);
        for (const char* f : {"calls", "bytes_sent", "bytes_received"})
          c.non_negative(o, ow, f, Kind::kInteger);
        c.non_negative(o, ow, "wait_seconds", Kind::kNumber);
      }
  }
}

void check_verification(Checker& c, const json& v, const std::string& w) {
  c.field(v, w, "reference", Kind::kString);
  c.field(v, w, "passed", Kind::kBool);
  c.non_negative(v, w, "atol", Kind::kNumber);
  c.non_negative(v, w, "rtol", Kind::kNumber);
  c.field(v, w, "skipped_reason", Kind::kString);
  if (!c.field(v, w, "tensors", Kind::kArray)) return;
  bool all = true;
  for (size_t i = 0; i < v["tensors"].size(); ++i) {
    std::string tw = fmt::format("{}.tensors[{}]", w, i);
    const auto& t = v["tensors"][i];
    if (c.field(t, tw, "tensor", Kind::kString)) {
      std::string name = t["tensor"];
      if (name != "out" && name != "lse" && name != "dq" && name != "dk" && name != "dv")
        c.fail(tw + ".tensor", fmt::format("'{}' is not one of out, lse, dq, dk, dv", name));
    }
    // Errors may be +inf (a -inf LSE where the reference has a finite one): JSON has no
    // infinity, so the writer stores null and the check accepts it as a failure.
    for (const char* k : {"max_abs_error", "max_rel_error"})
      if (!t.contains(k) || !(t[k].is_null() || (t[k].is_number() && t[k].get<double>() >= 0)))
        c.fail(fmt::format("{}.{}", tw, k), "expected a number >= 0 or null (infinite)");
    c.non_negative(t, tw, "tolerance", Kind::kNumber);
    if (c.field(t, tw, "passed", Kind::kBool)) all = all && t["passed"].get<bool>();
  }
  if (v.contains("passed") && v["passed"].is_boolean() && v.value("skipped_reason", "") == "" &&
      v["passed"].get<bool>() != (all && !v["tensors"].empty()))
    c.fail(w + ".passed", "disagrees with the per-tensor results");
}

void check_case(Checker& c, const json& cs, int world, const std::string& w) {
  if (!cs.is_object()) return c.fail(w, "expected an object");
  if (c.field(cs, w, "id", Kind::kString) && cs["id"].get<std::string>().empty())
    c.fail(w + ".id", "must not be empty");
  if (c.field(cs, w, "params", Kind::kObject)) {
    const auto& p = cs["params"];
    std::string pw = w + ".params";
    for (const char* k : {"kernel", "method", "dtype", "pass", "sharding", "placement"})
      c.field(p, pw, k, Kind::kString);
    c.field(p, pw, "mask", Kind::kObject);
    for (const char* k : {"seq", "heads_q", "heads_kv", "head_dim", "warmup", "iters", "seed"})
      c.non_negative(p, pw, k, Kind::kInteger);
    // The case's own world size must be the one its rank entries are counted against.
    if (p.contains("world_size") && c.field(p, pw, "world_size", Kind::kInteger)) {
      int64_t cw = p["world_size"].get<int64_t>();
      if (cw < 1)
        c.fail(pw + ".world_size", "must be >= 1");
      else if (world > 0 && cw != world)
        c.fail(pw + ".world_size", fmt::format("is {}, the report's world_size is {}", cw, world));
      else if (world <= 0)
        world = static_cast<int>(std::min<int64_t>(cw, 1 << 20));
    }
    if (c.field(p, pw, "degrees", Kind::kObject))
      for (const char* k : {"ulysses", "ring", "inner_ring"})
        c.non_negative(p["degrees"], pw + ".degrees", k, Kind::kInteger);
  }
  std::string status;
  if (c.field(cs, w, "status", Kind::kString)) {
    status = cs["status"];
    if (status != "ok" && status != "unsupported" && status != "error" && status != "timeout" &&
        status != "oom")
      c.fail(w + ".status",
             fmt::format("'{}' is not one of ok, unsupported, error, timeout, oom", status));
  }
  if (c.field(cs, w, "reason", Kind::kString) && status != "ok" && !status.empty() &&
      cs["reason"].get<std::string>().empty())
    c.fail(w + ".reason", fmt::format("empty for status '{}'", status));
  c.non_negative(cs, w, "wall_seconds", Kind::kNumber);
  if (!cs.contains("metrics")) {
    c.fail(w, "missing field 'metrics'");
  } else if (status == "ok") {
    if (cs["metrics"].is_object())
      check_metrics(c, cs["metrics"], w + ".metrics", world);
    else
      c.fail(w + ".metrics", "expected an object for status 'ok'");
  } else if (!cs["metrics"].is_null()) {
    c.fail(w + ".metrics", "expected null unless status is 'ok'");
  }
  if (!cs.contains("verification"))
    c.fail(w, "missing field 'verification'");
  else if (!cs["verification"].is_null())
    check_verification(c, cs["verification"], w + ".verification");
}

}  // namespace

std::vector<std::string> validate_case(const nlohmann::json& c, int world_size,
                                       const std::string& where) {
  Checker checker;
  check_case(checker, c, world_size, where);
  return checker.problems;
}

std::vector<std::string> validate_report(const nlohmann::json& r) {
  Checker c;
  if (!r.is_object()) {
    c.fail("report", "expected a JSON object");
    return c.problems;
  }
  if (c.field(r, "report", "schema", Kind::kString) && r["schema"] != kSchemaName)
    c.fail("report.schema", fmt::format("expected '{}'", kSchemaName));
  if (c.field(r, "report", "schema_version", Kind::kInteger) &&
      r["schema_version"] != kSchemaVersion)
    c.fail("report.schema_version",
           fmt::format("{} is not supported; this validator reads version {}",
                       r["schema_version"].dump(), kSchemaVersion));
  int world = 0;
  if (c.field(r, "report", "provenance", Kind::kObject)) {
    check_provenance(c, r["provenance"]);
    if (r["provenance"].contains("world_size") && r["provenance"]["world_size"].is_number_integer())
      world = r["provenance"]["world_size"];
  }
  c.field(r, "report", "conventions", Kind::kObject);
  c.field(r, "report", "config", Kind::kObject);
  if (!c.field(r, "report", "cases", Kind::kArray)) return c.problems;
  std::map<std::string, int> counts;
  int verify_failed = 0;
  std::set<std::string> ids;
  for (size_t i = 0; i < r["cases"].size(); ++i) {
    const auto& cs = r["cases"][i];
    check_case(c, cs, world, fmt::format("cases[{}]", i));
    if (cs.is_object() && cs.contains("status") && cs["status"].is_string()) counts[cs["status"]]++;
    if (cs.is_object() && cs.contains("id") && cs["id"].is_string() && !ids.insert(cs["id"]).second)
      c.fail(fmt::format("cases[{}].id", i),
             fmt::format("duplicate id '{}'", cs["id"].get<std::string>()));
    if (cs.is_object() && cs.contains("verification") && cs["verification"].is_object()) {
      const auto& v = cs["verification"];
      if (v.value("skipped_reason", "") == "" && !v.value("passed", false)) ++verify_failed;
    }
  }
  if (c.field(r, "report", "summary", Kind::kObject)) {
    const auto& s = r["summary"];
    if (c.field(s, "summary", "cases", Kind::kInteger) && s["cases"] != r["cases"].size())
      c.fail("summary.cases",
             fmt::format("says {}, report has {}", s["cases"].dump(), r["cases"].size()));
    for (const char* k : {"ok", "unsupported", "error", "timeout"})
      if (c.field(s, "summary", k, Kind::kInteger) && s[k] != counts[k])
        c.fail(fmt::format("summary.{}", k),
               fmt::format("says {}, cases have {}", s[k].dump(), counts[k]));
    // `oom` came after the first v1 reports: optional, but must agree when present.
    if (s.contains("oom") && (!s["oom"].is_number_integer() || s["oom"] != counts["oom"]))
      c.fail("summary.oom", fmt::format("says {}, cases have {}", s["oom"].dump(), counts["oom"]));
    if (c.field(s, "summary", "verification_failed", Kind::kInteger) &&
        s["verification_failed"] != verify_failed)
      c.fail("summary.verification_failed",
             fmt::format("says {}, cases have {}", s["verification_failed"].dump(), verify_failed));
  }
  // Optional (sweeps with mask_samples): each group names cases of this report.
  if (r.contains("mask_samples") && c.field(r, "report", "mask_samples", Kind::kArray))
    for (size_t i = 0; i < r["mask_samples"].size(); ++i) {
      const json& g = r["mask_samples"][i];
      std::string w = fmt::format("mask_samples[{}]", i);
      if (!g.is_object() || !g.contains("case_ids") || !g["case_ids"].is_array() ||
          !g.contains("id") || !g["id"].is_string())
        c.fail(w, "expected an object with an id and case_ids");
      else
        for (const json& id : g["case_ids"])
          if (!id.is_string() || !ids.count(id.get<std::string>()))
            c.fail(w + ".case_ids", fmt::format("{} is not the id of a case", id.dump()));
    }
  return c.problems;
}

}  // namespace cpb::reports
