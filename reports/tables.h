// Tables from (merged) reports: Markdown pivots for reading, CSV rows for other tools.
// Decision: the Markdown view pivots world size into columns (method x mask x seqlen
// rows, one table per kernel/shape/dtype/pass setting) because scaling across world
// sizes is what a CP sweep is read for; CSV stays one flat row per case.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "reports/merge.h"

namespace cpb::reports {

// Values a pivot cell can show: step_ms (the median of step_seconds), then every field
// of the field table with a `table` name (reports/fields.h), in the table's order.
struct TableMetric {
  std::string name;   // tflops_per_rank, tflops_total, step_ms, exposed_comm_ms, ...
  std::string title;  // column-group heading with unit
};
const std::vector<TableMetric>& table_metrics();
const TableMetric& find_table_metric(const std::string& name);  // InputError when unknown

// Row label of a pivot: the method's registry name, the degrees that tell its layouts
// apart, placement when strided, and the sharding. No method is named here: a degree
// is shown for a method iff its cases take two values of it at one world size (a
// layout the user chose, e.g. usp's Ulysses degree in a sweep over splits); a degree
// with one value per world (ulysses = P for ulysses, u = min(P, 8) by a rule) is
// implied and left out, so such a method stays one row across world sizes. The ring
// degree is never shown next to the Ulysses degree (U x R = P).
class MethodLabeler {
 public:
  explicit MethodLabeler(const std::vector<nlohmann::json>& cases);
  std::string operator()(const nlohmann::json& params) const;

 private:
  std::map<std::string, std::set<std::string>> varying_;  // method -> degree keys
};

// One row per case, every parameter and headline metric, RFC 4180 quoting.
std::string render_csv(const ReportSet& set);
// LongCA-bench's distributed CSV (longca_bench/dist_attn/run_benchmark.py): its columns
// first, in its order (baseline, masktype, world_size, wd, ulysses, ring, mean_tflops,
// mean_peak_mems), then ours that tell rows apart. Cases that differ only in the mask
// seed (mask samples) are one row: TFLOP/s and memory are means over them, as LongCA
// averages over its 30 masks. A group with a sample that did not run ok shows its
// status instead of numbers: OOM for oom. Columns defined in reports/SCHEMA.md.
std::string render_longca_csv(const ReportSet& set);
// Pivot tables (see above) followed, when `detail`, by one row per case.
std::string render_markdown_tables(const ReportSet& set,
                                   const std::string& metric = "tflops_per_rank",
                                   bool detail = false);

}  // namespace cpb::reports
