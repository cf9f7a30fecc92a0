// Resuming from a journal: which configuration wrote it, and whether this launch may
// append to it. Decision: the header line carries the configuration itself plus a
// canonical hash of it, and --resume under any other configuration is an input error
// naming what differs, so a report never mixes cases measured under different
// settings. `--allow-new-cases` relaxes this to "the run settings and the sweep name are
// the same, and every case already done would be planned with the same parameters":
// cases may be added, done ones are never re-labelled.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace cpb::reports {

// "fnv1a64:<16 hex>" of the canonical (sorted-key, compact) dump of `config`.
std::string config_hash(const nlohmann::json& config);

// The header line a run or sweep journal starts with; `config` is what must match on
// resume ({"sweep": ..., "run": ..., "world_size": P} for a sweep).
nlohmann::json journal_header(const nlohmann::json& config, const nlohmann::json& extra);

// "path: was -> now" for every leaf where two configurations differ (objects are
// walked, arrays and scalars compared whole), in key order.
std::vector<std::string> config_differences(const nlohmann::json& was, const nlohmann::json& now,
                                            const std::string& prefix = "");

// A journal read for --resume: its header line(s) and its case records (validated
// with validate_case; the last record of an id wins when the caller indexes them).
struct ResumeJournal {
  std::vector<nlohmann::json> headers;
  std::vector<nlohmann::json> cases;
};
// InputError naming `path` for an empty file, a non-journal, a bad record, another
// schema version or another world size.
ResumeJournal read_resume_journal(const std::string& path, int world_size);

// InputError naming `path` and the differences when the journal was written under
// another configuration than `config`. With allow_new_cases only the keys in
// `settings_keys` (run settings, sweep name, world size) must match; the caller then
// checks done cases with check_done_case().
void check_resume_config(const std::string& path, const ResumeJournal& journal,
                         const nlohmann::json& config, bool allow_new_cases,
                         const std::vector<std::string>& settings_keys);

// With allow_new_cases: InputError when a done case's recorded params differ from the
// params it would be planned with now (only keys `planned` has are compared).
void check_done_case(const std::string& path, const nlohmann::json& record,
                     const nlohmann::json& planned);

}  // namespace cpb::reports
