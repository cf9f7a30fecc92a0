// `cpbench compare base.json new.json`: the regression check CI runs. Exit 0 when no
// case regressed beyond noise, 1 when one did (or a case went missing under
// --fail-on-missing), 2 for unreadable or mismatched reports (InputError). More runs of
// each side (--base-run, --new-run: same config, separate processes) give compare the
// run-level noise that iterations of one run cannot (reports/compare.h).
#include <fmt/format.h>

#include <cstdlib>
#include <memory>

#include "bench/commands.h"
#include "common/errors.h"
#include "reports/atomic_write.h"
#include "reports/compare.h"

namespace cpb::bench {
namespace {

struct CompareArgs {
  std::string base, now, threshold = "5%", format = "text", markdown_out;
  std::vector<std::string> metric_thresholds, base_more, new_more;
  double alpha = 0.01;
  bool fail_on_missing = false;
  bool all_rows = false;
  std::string normalize;
};

int run_compare(const CompareArgs& a) {
  reports::CompareOptions o;
  o.threshold = reports::parse_fraction(a.threshold, "--threshold");
  for (const auto& m : a.metric_thresholds) reports::add_metric_threshold(o, m);
  CPB_REQUIRE(a.alpha > 0 && a.alpha < 1, "--alpha {} must be in (0, 1)", a.alpha);
  o.alpha = a.alpha;
  o.fail_on_missing = a.fail_on_missing;
  o.all_rows = a.all_rows;
  if (!a.normalize.empty()) o.normalize_by = reports::parse_normalize(a.normalize);
  CPB_REQUIRE(a.format == "text" || a.format == "md", "--format '{}': allowed text, md", a.format);
  std::vector<reports::ReportSet> base{reports::read_report_set(a.base)};
  std::vector<reports::ReportSet> now{reports::read_report_set(a.now)};
  for (const auto& f : a.base_more) base.push_back(reports::read_report_set(f));
  for (const auto& f : a.new_more) now.push_back(reports::read_report_set(f));
  if (!a.markdown_out.empty()) {
    std::vector<std::pair<std::string, std::string>> inputs{{a.base, "base"}, {a.now, "new"}};
    for (const auto& f : a.base_more) inputs.push_back({f, "--base-run"});
    for (const auto& f : a.new_more) inputs.push_back({f, "--new-run"});
    reports::require_not_an_input(a.markdown_out, "--markdown-out", inputs);
  }
  auto c = reports::compare_runs(base, now, o, a.base, a.now);
  fmt::print("{}", a.format == "md" ? reports::render_markdown(c) : reports::render_text(c));
  if (!a.markdown_out.empty())
    reports::write_file_atomic(a.markdown_out, reports::render_markdown(c));
  return c.failed ? 1 : 0;
}

}  // namespace

void add_compare_command(CLI::App& app) {
  auto a = std::make_shared<CompareArgs>();
  auto* sub = app.add_subcommand(
      "compare", "compare two reports case by case; exit 1 on a regression beyond noise");
  sub->add_option("base", a->base, "baseline report (or merged report)")->required();
  sub->add_option("new", a->now, "new report (or merged report)")->required();
  sub->add_option("--threshold", a->threshold,
                  "relative change of the median step time that counts: 5% or 0.05 (a bare "
                  "number >= 1 is refused as ambiguous; default 5%)");
  sub->add_option("--base-run", a->base_more,
                  "another run of the base (same config, its own process; repeatable): "
                  "run-level noise and test");
  sub->add_option("--new-run", a->new_more,
                  "another run of the new side (same config, its own process; repeatable)");
  sub->add_option("--metric-threshold", a->metric_thresholds,
                  "name=x per metric, e.g. step=10%, peak_rss_bytes_max=20%, bytes_sent_max=off "
                  "(repeatable)");
  sub->add_option("--alpha", a->alpha, "one-sided significance level (default 0.01)");
  sub->add_flag("--fail-on-missing", a->fail_on_missing,
                "a baseline case absent from the new report fails the check");
  sub->add_option("--normalize", a->normalize,
                  "key=value[,...]: scale new times by the base/new ratio of these peer cases "
                  "(machine speed), e.g. method=none");
  sub->add_flag("--all", a->all_rows, "table: every metric of every case, not only what moved");
  sub->add_option("--format", a->format, "text | md (default text)");
  sub->add_option("--markdown-out", a->markdown_out, "also write the Markdown table to this file");
  sub->callback([a] { std::exit(run_compare(*a)); });
}

}  // namespace cpb::bench
