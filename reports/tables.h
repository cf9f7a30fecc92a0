// Tables from (merged) reports: Markdown pivots for reading, CSV rows for other tools.
// Decision: the Markdown view pivots world size into columns (method x mask x seqlen
// rows, one table per kernel/shape/dtype/pass setting) because scaling across world
// sizes is what a CP sweep is read for; CSV stays one flat row per case.
#pragma once

#include <string>
#include <vector>

#include "reports/merge.h"

namespace cpb::reports {

// Values a pivot cell can show.
struct TableMetric {
  std::string name;   // tflops_per_rank, tflops_total, step_ms, exposed_comm_ms, ...
  std::string title;  // column-group heading with unit
};
const std::vector<TableMetric>& table_metrics();
const TableMetric& find_table_metric(const std::string& name);  // InputError when unknown

// One row per case, every parameter and headline metric, RFC 4180 quoting.
std::string render_csv(const ReportSet& set);
// Pivot tables (see above) followed, when `detail`, by one row per case.
std::string render_markdown_tables(const ReportSet& set,
                                   const std::string& metric = "tflops_per_rank",
                                   bool detail = false);

}  // namespace cpb::reports
