// Everything that reads a scalar metric does it through the field table
// (reports/fields.h): every field survives write -> read, compare judges exactly the
// table's compared fields (plus the step time), and the pivot tables and CSV offer
// exactly the table's tabulated fields (plus the step time), each with a value.
#include <gtest/gtest.h>

#include "common/errors.h"
#include "reports/compare.h"
#include "reports/fields.h"
#include "reports/report.h"
#include "reports/tables.h"
#include "tests/compare/synthetic_report.h"

namespace cpb::reports {
namespace {

using nlohmann::json;

// A case whose every scalar field holds a value of its own (index-based, in range).
CaseMetrics distinct_metrics() {
  CaseMetrics m;
  m.step_seconds = test::stats_of({0.010, 0.011, 0.013});
  m.step_seconds.samples = {0.010, 0.011, 0.013};
  m.expected_volume_formula = "2 (P-1) L hk D es";
  m.peak_device_bytes_max = 123456789;
  double i = 0;
  for (const auto& f : case_metric_fields()) set_field(m, f, f.max <= 1 ? 0.01 * ++i : 1000 + ++i);
  for (int r = 0; r < 2; ++r) {
    RankMetrics rm{.rank = r, .hostname = "host" + std::to_string(r)};
    rm.step_seconds = test::stats_of({0.009 + r * 1e-3, 0.010});
    rm.ops = {
        {.op = "p2p", .calls = 3, .bytes_sent = 7, .bytes_received = 9, .wait_seconds = 1e-4}};
    rm.peak_rss_reset = r == 1;
    for (const auto& f : rank_metric_fields()) set_field(rm, f, 2000 + ++i);
    if (r == 0) rm.driver_peak_used_bytes = 42;
    m.ranks.push_back(rm);
  }
  return m;
}

TEST(FieldTable, EveryFieldSurvivesWriteThenRead) {
  const CaseMetrics m = distinct_metrics();
  const json j = m;
  const CaseMetrics back = j.get<CaseMetrics>();
  for (const auto& f : case_metric_fields())
    EXPECT_EQ(field_value(j, f), field_value(json(back), f)) << f.name;
  for (const auto& f : rank_metric_fields())
    EXPECT_EQ(field_value(j["ranks"][1], f), field_value(json(back)["ranks"][1], f)) << f.name;
  EXPECT_EQ(back, m);
  // And a writer's report: its metrics read back and written again give the same JSON.
  const json report = test::make_report({{.step = {0.010, 0.011, 0.012}, .keep_samples = false}});
  const json& metrics = report["cases"][0]["metrics"];
  EXPECT_EQ(json(metrics.get<CaseMetrics>()), metrics);
}

TEST(FieldTable, ReadingKeepsDefaultsForFieldsAReportPredates) {
  json j = json(distinct_metrics());
  j.erase("tflops_per_rank_mean_time");
  CaseMetrics back = j.get<CaseMetrics>();
  EXPECT_EQ(back.tflops_per_rank_mean_time, 0.0);
  EXPECT_EQ(back.flops, distinct_metrics().flops);
}

TEST(FieldTable, CompareJudgesExactlyTheTablesComparedFields) {
  std::vector<std::string> want = {"step"};
  for (Judged kind : {Judged::kFromStep, Judged::kGauge, Judged::kExact})
    for (const auto& f : case_metric_fields())
      if (f.judged == kind) want.push_back(f.name);
  EXPECT_EQ(compare_metric_names(), want);
  for (const auto& f : case_metric_fields()) {
    CompareOptions o;
    const std::string name = f.name;
    if (f.judged == Judged::kNotCompared) {
      EXPECT_THROW(add_metric_threshold(o, name + "=10%"), InputError) << name;
    } else if (f.judged == Judged::kExact) {
      EXPECT_THROW(add_metric_threshold(o, name + "=10%"), InputError) << name;
      EXPECT_NO_THROW(add_metric_threshold(o, name + "=off")) << name;
    } else {
      EXPECT_NO_THROW(add_metric_threshold(o, name + "=10%")) << name;
      EXPECT_DOUBLE_EQ(o.metric_thresholds[name], 0.10);
    }
  }
  // Every compared field gets its row when it moves (--all shows each one).
  json base = test::make_report({{.step = {0.010, 0.011, 0.012}}});
  json now = base;
  for (const auto& f : case_metric_fields()) {
    json& v = now["cases"][0]["metrics"][f.name];
    if (f.judged != Judged::kNotCompared)
      v = v.is_number_integer() ? json(v.get<int64_t>() * 2 + 1) : json(v.get<double>() * 2 + 1);
  }
  CompareOptions all;
  all.all_rows = true;
  Comparison c =
      compare_reports(report_set_from_json(base, "b"), report_set_from_json(now, "n"), all);
  ASSERT_EQ(c.cases.size(), 1u);
  std::vector<std::string> rows;
  for (const auto& mc : c.cases[0].metrics) rows.push_back(mc.metric);
  EXPECT_EQ(rows, want);
}

// An ok case where every tabulated field is present.
ReportSet one_case_set() {
  return report_set_from_json(test::make_report({{.step = {0.010, 0.011, 0.012}}}), "r.json");
}

TEST(FieldTable, TablesOfferExactlyTheTablesTabulatedFields) {
  std::vector<std::string> want = {"step_ms"}, got;
  for (const auto& f : case_metric_fields())
    if (f.table) want.push_back(f.table);
  for (const auto& m : table_metrics()) got.push_back(m.name);
  EXPECT_EQ(got, want);
  for (const auto& f : case_metric_fields())
    if (!f.table) {
      EXPECT_THROW(find_table_metric(f.name), InputError) << f.name;
    }
  const ReportSet set = one_case_set();
  for (const auto& name : want) {
    SCOPED_TRACE(name);
    const std::string md = render_markdown_tables(set, name);
    EXPECT_NE(md.find(find_table_metric(name).title), std::string::npos);
    EXPECT_EQ(md.find("n/a"), std::string::npos) << "no value read for the pivot:\n" << md;
  }
}

TEST(FieldTable, CsvHasAColumnPerTableCsvField) {
  const std::string csv = render_csv(one_case_set());
  const std::string header = csv.substr(0, csv.find('\n'));
  std::string want_tail;
  for (const auto& f : case_metric_fields())
    if (f.csv) want_tail += std::string(",") + f.csv;
  want_tail += ",verified";
  EXPECT_NE(header.find(",step_cv" + want_tail), std::string::npos) << header;
}

}  // namespace
}  // namespace cpb::reports
