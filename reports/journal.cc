#include "reports/journal.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdint>

#include "common/errors.h"
#include "reports/atomic_write.h"
#include "reports/report.h"
#include "reports/validate.h"

namespace cpb::reports {
namespace {

using nlohmann::json;

constexpr size_t kShownDifferences = 6;

std::string short_dump(const json& v) {
  std::string s = v.is_null() ? "(absent)" : dump_json(v);
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

std::string first_differences(const std::vector<std::string>& diffs) {
  std::vector<std::string> shown(diffs.begin(),
                                 diffs.begin() + std::min(diffs.size(), kShownDifferences));
  return fmt::format("{}{}", fmt::join(shown, "; "),
                     diffs.size() > kShownDifferences
                         ? fmt::format("; and {} more", diffs.size() - kShownDifferences)
                         : "");
}

}  // namespace

std::string config_hash(const json& config) {
  // FNV-1a over the canonical dump: nlohmann objects are sorted maps, so equal
  // configurations give equal text whatever the key order of the file.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : dump_json(config)) {
    h ^= ch;
    h *= 1099511628211ull;
  }
  return fmt::format("fnv1a64:{:016x}", h);
}

json journal_header(const json& config, const json& extra) {
  json h = extra;
  h["journal"] = "cpbench";
  h["schema_version"] = kSchemaVersion;
  h["config"] = config;
  h["config_hash"] = config_hash(config);
  return h;
}

std::vector<std::string> config_differences(const json& was, const json& now,
                                            const std::string& prefix) {
  std::vector<std::string> out;
  if (was.is_object() && now.is_object()) {
    json keys = json::object();
    for (auto& [k, v] : was.items()) keys[k] = true;
    for (auto& [k, v] : now.items()) keys[k] = true;
    for (auto& [k, unused] : keys.items()) {
      json a = was.contains(k) ? was[k] : json();
      json b = now.contains(k) ? now[k] : json();
      auto sub = config_differences(a, b, prefix.empty() ? k : prefix + "." + k);
      out.insert(out.end(), sub.begin(), sub.end());
    }
    return out;
  }
  if (was != now)
    out.push_back(fmt::format("{}: {} -> {}", prefix.empty() ? "(config)" : prefix, short_dump(was),
                              short_dump(now)));
  return out;
}

ResumeJournal read_resume_journal(const std::string& path, int world_size) {
  std::vector<json> records = Journal::read(path);
  // A launch that failed before its header line leaves an empty file: nothing in it
  // says which configuration it belongs to, so it is not something to resume.
  if (records.empty())
    CPB_INPUT_ERROR(
        "journal '{}' is empty: it holds no header and no case, so there is nothing to resume; "
        "run without --resume (or delete the file)",
        path);
  ResumeJournal out;
  for (size_t i = 0; i < records.size(); ++i) {
    const json& r = records[i];
    if (r.contains("journal")) {
      if (r.value("schema_version", json()) != kSchemaVersion)
        CPB_INPUT_ERROR("journal '{}' record {}: schema_version {} (this build writes {})", path,
                        i + 1, r.value("schema_version", json()).dump(), kSchemaVersion);
      if (r.contains("world_size") && r["world_size"] != world_size)
        CPB_INPUT_ERROR("journal '{}' was written by a launch of {} ranks; this one has {}", path,
                        r["world_size"].dump(), world_size);
      out.headers.push_back(r);
      continue;
    }
    auto problems = validate_case(r, world_size, fmt::format("record {}", i + 1));
    if (!problems.empty())
      CPB_INPUT_ERROR("journal '{}' record {} is not a valid case: {}", path, i + 1,
                      first_differences(problems));
    out.cases.push_back(r);
  }
  return out;
}

void check_resume_config(const std::string& path, const ResumeJournal& journal, const json& config,
                         bool allow_new_cases, const std::vector<std::string>& settings_keys) {
  // The last header is the configuration the journal was last run under and must be
  // this one; earlier headers (before an --allow-new-cases resume) must share the
  // settings, which that resume already checked and this one checks again.
  for (size_t i = 0; i < journal.headers.size(); ++i) {
    const json& h = journal.headers[i];
    const bool settings_only = allow_new_cases || i + 1 < journal.headers.size();
    if (!h.contains("config") || !h.contains("config_hash")) {
      if (settings_only) continue;  // the done cases' params are still checked
      CPB_INPUT_ERROR(
          "journal '{}' records no configuration (written by `cpbench run` or an older "
          "cpbench), so resuming it could mix settings; run without --resume, or pass "
          "--allow-new-cases to resume with every done case's parameters checked",
          path);
    }
    if (h["config_hash"] == config_hash(config) && h["config"] == config) continue;
    std::vector<std::string> diffs;
    if (settings_only) {
      for (const auto& key : settings_keys) {
        json::json_pointer p(key);
        json a = h["config"].contains(p) ? h["config"][p] : json();
        json b = config.contains(p) ? config[p] : json();
        auto d = config_differences(a, b, key.substr(1));
        diffs.insert(diffs.end(), d.begin(), d.end());
      }
      if (diffs.empty()) continue;
      CPB_INPUT_ERROR(
          "journal '{}' was written under other run settings than this launch "
          "(--allow-new-cases adds cases, it never changes how done ones were measured): {}",
          path, first_differences(diffs));
    }
    diffs = config_differences(h["config"], config);
    if (diffs.empty()) diffs.push_back("config_hash differs from the recorded configuration");
    CPB_INPUT_ERROR(
        "journal '{}' was written under another configuration than this launch: {} (resume "
        "with the same config and flags; --allow-new-cases accepts added cases only)",
        path, first_differences(diffs));
  }
}

void check_done_case(const std::string& path, const json& record, const json& planned) {
  const json& got = record.contains("params") ? record["params"] : json::object();
  std::vector<std::string> diffs;
  for (auto& [k, v] : planned.items()) {
    json was = got.contains(k) ? got[k] : json();
    auto d = config_differences(was, v, k);
    diffs.insert(diffs.end(), d.begin(), d.end());
  }
  if (!diffs.empty())
    CPB_INPUT_ERROR(
        "journal '{}': done case '{}' was measured with other parameters than this launch "
        "plans: {}",
        path, record.value("id", "?"), first_differences(diffs));
}

}  // namespace cpb::reports
