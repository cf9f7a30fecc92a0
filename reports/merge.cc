// Reading and merging reports. Validation reuses validate_report() for schema-v1
// documents; a merged document is checked source by source through the same case
// validator, so a hand-edited merge is held to the same rules.
#include "reports/merge.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <fstream>
#include <map>

#include "common/errors.h"
#include "common/input_file.h"
#include "reports/atomic_write.h"
#include "reports/report.h"
#include "reports/validate.h"

namespace cpb::reports {
namespace {

using nlohmann::json;

// Run controls: they change how long a case is measured, not what is measured.
const char* const kRunControls[] = {"warmup",          "iters",      "iterations",   "seed",
                                    "verify",          "repeat",     "keep_samples", "timeout_s",
                                    "timeout_seconds", "min_time_s", "max_cv",       "max_repeat"};

[[noreturn]] void invalid(const std::string& name, const std::vector<std::string>& problems) {
  std::vector<std::string> first(problems.begin(),
                                 problems.begin() + std::min<size_t>(problems.size(), 5));
  CPB_INPUT_ERROR("'{}' is not a valid report ({} problem{}): {}{}", name, problems.size(),
                  problems.size() == 1 ? "" : "s", fmt::join(first, "; "),
                  problems.size() > 5 ? "; ..." : "");
}

}  // namespace

ReportSet report_set_from_json(const json& doc, const std::string& name) {
  if (!doc.is_object() || !doc.contains("schema") || !doc["schema"].is_string())
    CPB_INPUT_ERROR("'{}' is not a cpbench report: no \"schema\" field (expected \"{}\" or \"{}\")",
                    name, kSchemaName, kMergedSchemaName);
  std::string schema = doc["schema"];
  if (schema != kSchemaName && schema != kMergedSchemaName)
    CPB_INPUT_ERROR("'{}' has schema \"{}\"; expected \"{}\" or \"{}\"", name, schema, kSchemaName,
                    kMergedSchemaName);
  json version = doc.value("schema_version", json());
  if (version != kSchemaVersion)
    CPB_INPUT_ERROR("'{}' has schema_version {}; this build reads version {} only", name,
                    version.dump(), kSchemaVersion);
  ReportSet set;
  if (schema == kSchemaName) {
    auto problems = validate_report(doc);
    if (!problems.empty()) invalid(name, problems);
    set.sources.push_back(json{{"file", name},
                               {"provenance", doc["provenance"]},
                               {"config", doc["config"]},
                               {"conventions", doc["conventions"]}});
    for (json c : doc["cases"]) {
      c["source"] = 0;
      set.cases.push_back(std::move(c));
    }
    return set;
  }
  std::vector<std::string> problems;
  if (!doc.contains("sources") || !doc["sources"].is_array() || doc["sources"].empty())
    problems.push_back("sources: expected a non-empty array");
  if (!doc.contains("cases") || !doc["cases"].is_array())
    problems.push_back("cases: expected an array");
  if (!problems.empty()) invalid(name, problems);
  for (const json& s : doc["sources"]) {
    if (!s.is_object() || !s.contains("provenance") || !s["provenance"].is_object())
      problems.push_back("sources[]: expected objects with a provenance");
    set.sources.push_back(s);
  }
  for (size_t i = 0; i < doc["cases"].size(); ++i) {
    const json& c = doc["cases"][i];
    std::string where = fmt::format("cases[{}]", i);
    if (!c.is_object() || !c.contains("source") || !c["source"].is_number_integer() ||
        c["source"].get<int64_t>() < 0 || c["source"].get<size_t>() >= set.sources.size()) {
      problems.push_back(where + ".source: expected an index into sources");
      continue;
    }
    auto p = validate_case(c, case_world(c), where);
    problems.insert(problems.end(), p.begin(), p.end());
    set.cases.push_back(c);
  }
  if (!problems.empty()) invalid(name, problems);
  return set;
}

bool is_journal_text(const std::string& text) {
  auto j = json::parse(text.substr(0, text.find('\n')), nullptr, /*allow_exceptions=*/false);
  return j.is_object() && j.value("journal", "") == "cpbench";
}

ReportSet report_set_from_journal(const std::string& path) {
  std::vector<json> records = Journal::read(path);
  ReportSet set;
  // The header stands in for a provenance block: a journal has no end time or hosts.
  json header = records.empty() ? json::object() : records.front();
  if (header.value("schema_version", json()) != kSchemaVersion)
    CPB_INPUT_ERROR("journal '{}' has schema_version {}; this build reads version {} only", path,
                    header.value("schema_version", json()).dump(), kSchemaVersion);
  set.sources.push_back(json{{"file", path}, {"provenance", header}, {"from_journal", true}});
  std::map<std::string, size_t> by_id;  // a resumed journal may hold a case twice: last wins
  std::vector<std::string> problems;
  for (size_t i = 1; i < records.size(); ++i) {
    json c = records[i];
    if (c.is_object() && c.contains("journal")) continue;  // a resumed sweep's header
    auto p = validate_case(c, case_world(c), fmt::format("record {}", i + 1));
    if (!p.empty()) {
      problems.insert(problems.end(), p.begin(), p.end());
      continue;
    }
    c["source"] = 0;
    std::string id = c.value("id", "");
    auto it = by_id.find(id);
    if (it != by_id.end()) {
      set.cases[it->second] = std::move(c);
    } else {
      by_id[id] = set.cases.size();
      set.cases.push_back(std::move(c));
    }
  }
  if (!problems.empty()) invalid(path, problems);
  return set;
}

ReportSet read_report_set(const std::string& path) {
  // A regular file of bounded size only: /dev/zero or a FIFO is refused at once.
  const std::string text = read_input_file(path, "report");
  if (is_journal_text(text)) return report_set_from_journal(path);
  return report_set_from_json(parse_json_text(text, path), path);
}

OnDuplicate parse_on_duplicate(const std::string& s) {
  if (s == "keep-first") return OnDuplicate::kKeepFirst;
  if (s == "keep-last") return OnDuplicate::kKeepLast;
  if (s == "error") return OnDuplicate::kError;
  CPB_INPUT_ERROR("unknown duplicate policy '{}'; allowed: keep-first, keep-last, error", s);
}

MergeResult merge_report_sets(const std::vector<ReportSet>& inputs, OnDuplicate policy) {
  MergeResult out;
  std::map<std::string, size_t> index;  // case key -> position in out.set.cases
  for (const ReportSet& in : inputs) {
    size_t offset = out.set.sources.size();
    out.set.sources.insert(out.set.sources.end(), in.sources.begin(), in.sources.end());
    for (json c : in.cases) {
      c["source"] = c.value("source", 0) + static_cast<int>(offset);
      std::string key = case_key(c);
      auto it = index.find(key);
      if (it == index.end()) {
        index[key] = out.set.cases.size();
        out.set.cases.push_back(std::move(c));
        continue;
      }
      const json& kept = out.set.cases[it->second];
      std::string from = out.set.sources[kept["source"].get<size_t>()].value("file", "?");
      std::string also = out.set.sources[c["source"].get<size_t>()].value("file", "?");
      if (policy == OnDuplicate::kError)
        CPB_INPUT_ERROR(
            "case '{}' is in both '{}' and '{}'; pass --on-duplicate keep-first|keep-last to "
            "choose one",
            case_label(c), from, also);
      if (policy == OnDuplicate::kKeepLast) {
        out.notes.push_back(
            fmt::format("duplicate case '{}': kept '{}', dropped '{}'", case_label(c), also, from));
        out.set.cases[it->second] = std::move(c);
      } else {
        out.notes.push_back(
            fmt::format("duplicate case '{}': kept '{}', dropped '{}'", case_label(c), from, also));
      }
    }
  }
  return out;
}

json to_json(const ReportSet& set) {
  json summary = {{"cases", set.cases.size()},
                  {"ok", 0},
                  {"unsupported", 0},
                  {"error", 0},
                  {"timeout", 0},
                  {"oom", 0}};
  for (const json& c : set.cases) {
    std::string s = c.value("status", "");
    if (summary.contains(s)) summary[s] = summary[s].get<int>() + 1;
  }
  return json{{"schema", kMergedSchemaName},
              {"schema_version", kSchemaVersion},
              {"sources", set.sources},
              {"cases", set.cases},
              {"summary", summary}};
}

std::string case_key(const json& c) {
  json p = c.value("params", json::object());
  for (const char* k : kRunControls) p.erase(k);
  p.erase("world");
  p["world_size"] = case_world(c);
  return p.dump();
}

std::string case_key(const json& c, const std::set<std::string>& keys) {
  json p = json::object();
  const json all = c.value("params", json::object());
  for (auto& [k, v] : all.items())
    if (keys.count(k)) p[k] = v;
  for (const char* k : kRunControls) p.erase(k);
  p.erase("world");
  p["world_size"] = case_world(c);
  return p.dump();
}

std::set<std::string> common_param_keys(const ReportSet& set) {
  std::set<std::string> keys;
  bool first = true;
  for (const json& c : set.cases) {
    std::set<std::string> mine;
    const json params = c.value("params", json::object());  // items() must not outlive it
    for (auto& [k, v] : params.items()) mine.insert(k);
    if (first) {
      keys = std::move(mine);
      first = false;
    } else {
      std::set<std::string> both;
      for (const auto& k : keys)
        if (mine.count(k)) both.insert(k);
      keys = std::move(both);
    }
  }
  return keys;
}

int case_world(const json& c) {
  const json p = c.value("params", json::object());
  for (const char* k : {"world_size", "world"})
    if (p.contains(k) && p[k].is_number_integer()) return p[k].get<int>();
  if (p.contains("degrees") && p["degrees"].is_object()) {
    const json& d = p["degrees"];
    int u = d.value("ulysses", 1), r = d.value("ring", 1);
    return std::max(1, u) * std::max(1, r);
  }
  return 1;
}

std::string mask_label(const json& mask) {
  if (!mask.is_object()) return mask.is_string() ? mask.get<std::string>() : mask.dump();
  std::string kind = mask.value("kind", "?");
  std::vector<std::string> parts;
  for (auto& [k, v] : mask.items()) {
    if (k == "kind") continue;
    parts.push_back(fmt::format("{}={}", k, v.is_string() ? v.get<std::string>() : v.dump()));
  }
  if (parts.empty()) return kind;
  return fmt::format("{}({})", kind, fmt::join(parts, ","));
}

namespace {

// The layout part of a label, as the method declared it: params.layout without its
// "P<world>" head ("u2r4w2-strided", "" for a method with no degrees), so this file
// never names a method. Reports written before params.layout show every degree.
std::string layout_label(const json& p) {
  if (p.contains("layout") && p["layout"].is_string()) {
    const std::string id = p["layout"].get<std::string>();
    const size_t dash = id.find('-');
    return dash == std::string::npos ? "" : id.substr(dash + 1);
  }
  if (!p.contains("degrees") || !p["degrees"].is_object()) return "";
  const json& d = p["degrees"];
  std::string out =
      fmt::format("u{}r{}w{}", d.value("ulysses", 1), d.value("ring", 1), d.value("inner_ring", 1));
  if (p.value("placement", "") == "strided") out += "-strided";
  return out;
}

}  // namespace

std::string case_label(const json& c) {
  const json p = c.value("params", json::object());
  auto s = [&](const char* k) {
    return p.contains(k) && p[k].is_string() ? p[k].get<std::string>() : std::string("?");
  };
  auto i = [&](const char* k) { return p.contains(k) ? p[k].dump() : std::string("?"); };
  const std::string layout = layout_label(p);
  return fmt::format("{} P={}{}{} {} {} {} S={} H={}/{} D={} {} {}", s("method"), case_world(c),
                     layout.empty() ? "" : " ", layout, s("sharding"), s("kernel"),
                     mask_label(p.value("mask", json())), i("seq"), i("heads_q"), i("heads_kv"),
                     i("head_dim"), s("dtype"), s("pass"));
}

}  // namespace cpb::reports
