// Reading reports back, and merging several into one document (e.g. one report per
// node count). Decision: a merged document is not a schema-v1 report (its cases come
// from runs of different world sizes, which one provenance block cannot describe); it
// is a "cpbench-merged-report" that keeps every source's provenance and tags each case
// with the index of its source. Every reader here accepts both kinds.
#pragma once

#include <nlohmann/json.hpp>

#include <set>
#include <string>
#include <vector>

namespace cpb::reports {

inline constexpr const char* kMergedSchemaName = "cpbench-merged-report";

// Cases of one or more reports. sources[i] = {file, provenance, config, conventions};
// each case is the report's case object plus "source": index into sources.
struct ReportSet {
  std::vector<nlohmann::json> sources;
  std::vector<nlohmann::json> cases;
};

// Reads a schema-v1 report or a merged document. InputError naming `path` when it is
// unreadable, of another schema or version, or fails validate_report().
// A run or sweep journal (<report>.jsonl, first line the cpbench journal header) is
// read too: its case lines (last record of an id wins), its header as the provenance.
ReportSet read_report_set(const std::string& path);
// The journal half of read_report_set(); InputError naming the file and line/record.
ReportSet report_set_from_journal(const std::string& path);
// Same for a document already in memory; `name` is used in messages.
ReportSet report_set_from_json(const nlohmann::json& doc, const std::string& name);

enum class OnDuplicate { kKeepFirst, kKeepLast, kError };
OnDuplicate parse_on_duplicate(const std::string& s);  // keep-first | keep-last | error

struct MergeResult {
  ReportSet set;
  std::vector<std::string> notes;  // one line per duplicate dropped
};
// Concatenates cases in input order; cases with equal case_key() are duplicates.
MergeResult merge_report_sets(const std::vector<ReportSet>& inputs, OnDuplicate policy);

nlohmann::json to_json(const ReportSet& set);  // the merged document

// Parameters that identify a case across runs: its params without run controls
// (warmup, iters, seed, ...) plus its world size. Canonical dump, sorted keys.
std::string case_key(const nlohmann::json& c);
// Same, over only the params in `keys` (compare matches on the params both reports
// have, so a report from before a param was added still matches).
std::string case_key(const nlohmann::json& c, const std::set<std::string>& keys);
// Params present in every case of `set`.
std::set<std::string> common_param_keys(const ReportSet& set);
// World size of a case: params.world_size when present, else ulysses x ring degree.
int case_world(const nlohmann::json& c);
// Short label for tables and messages: "usp P=4 u2r2 zigzag cpu_flash causal S=8192 H=8/8
// D=128 fp32 fwd", the layout part as params.layout carries the method's own tag (none
// for a method without degrees), so no method is named here.
std::string case_label(const nlohmann::json& c);
// The mask as a short name: its kind plus the parameters given, e.g. "sliding_window(w=512)".
std::string mask_label(const nlohmann::json& mask);

}  // namespace cpb::reports
