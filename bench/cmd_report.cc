// `cpbench report a.json b.json ...`: merge reports (e.g. one per launch size) and
// print tables: Markdown pivots (method x mask x seqlen rows, world size columns), one
// CSV row per case, or LongCA-bench's CSV (one row per case up to the mask seed). --out
// writes the merged document that plots and compare read.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "bench/commands.h"
#include "common/errors.h"
#include "reports/atomic_write.h"
#include "reports/merge.h"
#include "reports/tables.h"

namespace cpb::bench {
namespace {

struct ReportArgs {
  std::vector<std::string> inputs;
  std::string format = "md", metric = "tflops_per_rank", out, on_duplicate = "keep-first";
  bool detail = false;
};

int run_report(const ReportArgs& a) {
  CPB_REQUIRE(a.format == "md" || a.format == "csv" || a.format == "longca-csv",
              "--format '{}': allowed md, csv, longca-csv", a.format);
  reports::find_table_metric(a.metric);  // reject a bad --metric before reading files
  auto policy = reports::parse_on_duplicate(a.on_duplicate);
  for (const auto& f : a.inputs) reports::require_not_an_input(a.out, "--out", {{f, "input"}});
  if (!a.out.empty()) reports::check_writable(a.out);  // before any note is printed
  std::vector<reports::ReportSet> sets;
  for (const auto& f : a.inputs) sets.push_back(reports::read_report_set(f));
  auto merged = reports::merge_report_sets(sets, policy);
  for (const auto& n : merged.notes) fmt::print(stderr, "cpbench report: {}\n", n);
  if (!a.out.empty()) reports::write_json_atomic(a.out, reports::to_json(merged.set));
  if (a.format == "csv") {
    fmt::print("{}", reports::render_csv(merged.set));
  } else if (a.format == "longca-csv") {
    fmt::print("{}", reports::render_longca_csv(merged.set));
  } else {
    fmt::print("{}", reports::render_markdown_tables(merged.set, a.metric, a.detail));
  }
  return 0;
}

}  // namespace

void add_report_command(CLI::App& app) {
  auto a = std::make_shared<ReportArgs>();
  auto* sub = app.add_subcommand("report", "merge reports and print Markdown or CSV tables");
  sub->add_option("reports", a->inputs, "report(s), merged report(s) or run/sweep journal(s)")
      ->required();
  sub->add_option("--format", a->format,
                  "md | csv | longca-csv (LongCA-bench's columns, mask samples averaged; "
                  "default md)");
  std::vector<std::string> metrics;
  for (const auto& m : reports::table_metrics()) metrics.push_back(m.name);
  sub->add_option(
      "--metric", a->metric,
      fmt::format("md pivot cell: {} (default tflops_per_rank)", fmt::join(metrics, ", ")));
  sub->add_flag("--detail", a->detail, "md: add one row per case after the pivots");
  sub->add_option("--out", a->out, "write the merged document (JSON) here");
  sub->add_option("--on-duplicate", a->on_duplicate,
                  "same case in two inputs: keep-first | keep-last | error (default keep-first)");
  sub->callback([a] { std::exit(run_report(*a)); });
}

}  // namespace cpb::bench
