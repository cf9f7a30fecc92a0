// compare: regressions are flagged only beyond noise, exact metrics exactly; merge and
// tables read the same synthetic reports.
#include <gtest/gtest.h>

#include "common/errors.h"
#include "reports/compare.h"
#include "reports/merge.h"
#include "reports/tables.h"
#include "reports/validate.h"
#include "tests/compare/synthetic_report.h"

namespace cpb {
namespace {

using reports::CompareOptions;
using reports::Verdict;
using test::make_report;
using test::samples;
using test::SynthCase;

reports::ReportSet set_of(const nlohmann::json& doc, const std::string& name = "r.json") {
  return reports::report_set_from_json(doc, name);
}

const reports::MetricChange* find_metric(const reports::CaseComparison& c, const std::string& m) {
  for (const auto& x : c.metrics)
    if (x.metric == m) return &x;
  return nullptr;
}

TEST(Compare, SyntheticReportsAreValid) {
  auto doc = make_report({{.step = samples(0.010, 0.01)}});
  EXPECT_TRUE(reports::validate_report(doc).empty()) << reports::validate_report(doc)[0];
}

TEST(Compare, TenPercentSlowdownWithTightSamplesIsCaught) {
  auto base = set_of(make_report({{.step = samples(0.010, 0.01)}}));
  auto now = set_of(make_report({{.step = samples(0.011, 0.01, 20, 5)}}));
  auto c = reports::compare_reports(base, now, {});
  ASSERT_EQ(c.cases.size(), 1u);
  const auto* step = find_metric(c.cases[0], "step");
  ASSERT_NE(step, nullptr);
  EXPECT_EQ(step->test, "mann-whitney");
  EXPECT_NEAR(step->change, 0.10, 0.01);
  EXPECT_LT(step->p_value, 1e-6);
  EXPECT_EQ(step->verdict, Verdict::kRegressed);
  EXPECT_TRUE(c.failed);
  EXPECT_EQ(c.regressions, 1);
  EXPECT_NE(reports::render_markdown(c).find("REGRESSED"), std::string::npos);
  EXPECT_NE(reports::render_text(c).find("FAIL"), std::string::npos);
}

TEST(Compare, ThreePercentNoiseIsNotARegression) {
  auto base = set_of(make_report({{.step = samples(0.010, 0.03)}}));
  for (double shift : {1.03, 0.97}) {
    auto now = set_of(make_report({{.step = samples(0.010 * shift, 0.03, 20, 3)}}));
    auto c = reports::compare_reports(base, now, {});
    ASSERT_EQ(c.cases.size(), 1u);
    EXPECT_EQ(find_metric(c.cases[0], "step")->verdict, Verdict::kSame) << shift;
    EXPECT_FALSE(c.failed) << shift;
  }
}

TEST(Compare, LargeShiftInsideLargeNoiseIsNoise) {
  // 8% slower median but a 40% spread: the rank test cannot tell them apart.
  auto base = set_of(make_report({{.step = samples(0.010, 0.40, 6)}}));
  auto now = set_of(make_report({{.step = samples(0.0108, 0.40, 6)}}));
  auto c = reports::compare_reports(base, now, {});
  const auto* step = find_metric(c.cases[0], "step");
  EXPECT_GT(step->change, 0.05);
  EXPECT_EQ(step->verdict, Verdict::kNoise);
  EXPECT_FALSE(c.failed);
}

TEST(Compare, ImprovementIsNotAFailure) {
  auto base = set_of(make_report({{.step = samples(0.010, 0.01)}}));
  auto now = set_of(make_report({{.step = samples(0.008, 0.01)}}));
  auto c = reports::compare_reports(base, now, {});
  EXPECT_EQ(find_metric(c.cases[0], "step")->verdict, Verdict::kImproved);
  EXPECT_FALSE(c.failed);
}

TEST(Compare, WithoutSamplesUsesNonOverlappingP10P90) {
  auto base = set_of(make_report({{.step = samples(0.010, 0.01), .keep_samples = false}}));
  auto slow = set_of(make_report({{.step = samples(0.011, 0.01), .keep_samples = false}}));
  auto c = reports::compare_reports(base, slow, {});
  const auto* step = find_metric(c.cases[0], "step");
  EXPECT_EQ(step->test, "p10-p90");
  EXPECT_EQ(step->verdict, Verdict::kRegressed);
  // Same 10% shift with p10-p90 ranges that overlap: noise.
  auto wide_base = set_of(make_report({{.step = samples(0.010, 0.2), .keep_samples = false}}));
  auto wide_new = set_of(make_report({{.step = samples(0.011, 0.2), .keep_samples = false}}));
  auto w = reports::compare_reports(wide_base, wide_new, {});
  EXPECT_EQ(find_metric(w.cases[0], "step")->verdict, Verdict::kNoise);
  EXPECT_FALSE(w.failed);
}

TEST(Compare, PerMetricThresholdLoosensStep) {
  auto base = set_of(make_report({{.step = samples(0.010, 0.01)}}));
  auto now = set_of(make_report({{.step = samples(0.011, 0.01)}}));
  CompareOptions o;
  reports::add_metric_threshold(o, "step=20%");
  EXPECT_DOUBLE_EQ(o.metric_thresholds["step"], 0.20);
  EXPECT_FALSE(reports::compare_reports(base, now, o).failed);
  // A gauge is judged only when given a threshold.
  auto mem = set_of(make_report({{.step = samples(0.010, 0.01), .rss = 512 << 20}}));
  EXPECT_FALSE(reports::compare_reports(base, mem, {}).failed);
  CompareOptions m;
  reports::add_metric_threshold(m, "peak_rss_bytes_max=10%");
  EXPECT_TRUE(reports::compare_reports(base, mem, m).failed);
}

TEST(Compare, MissingCaseIsReported) {
  auto base = set_of(make_report(
      {{.step = samples(0.010, 0.01)}, {.mask = "full", .step = samples(0.020, 0.01)}}));
  auto now = set_of(make_report({{.step = samples(0.010, 0.01)}}));
  auto c = reports::compare_reports(base, now, {});
  ASSERT_EQ(c.missing.size(), 1u);
  EXPECT_NE(c.missing[0].find("full"), std::string::npos);
  EXPECT_FALSE(c.failed);
  EXPECT_NE(reports::render_markdown(c).find("Missing from new"), std::string::npos);
  CompareOptions strict;
  strict.fail_on_missing = true;
  EXPECT_TRUE(reports::compare_reports(base, now, strict).failed);
  // And the other way round: a case only in new is listed, not failed.
  auto c2 = reports::compare_reports(now, base, strict);
  EXPECT_EQ(c2.added.size(), 1u);
  EXPECT_FALSE(c2.failed);
}

TEST(Compare, BytesChangeIsCaughtExactly) {
  auto base = set_of(make_report({{.step = samples(0.010, 0.01)}}));
  auto now = set_of(make_report({{.step = samples(0.010, 0.01), .bytes_sent = (1 << 20) + 64}}));
  auto c = reports::compare_reports(base, now, {});
  const auto* b = find_metric(c.cases[0], "bytes_sent_max");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->test, "exact");
  EXPECT_EQ(b->verdict, Verdict::kRegressed);
  EXPECT_TRUE(c.failed);
  // FLOPs too.
  auto f = set_of(make_report({{.step = samples(0.010, 0.01), .flops = 2e12}}));
  EXPECT_TRUE(reports::compare_reports(base, f, {}).failed);
}

TEST(Compare, StatusOkToErrorIsARegression) {
  auto base = set_of(make_report({{.step = samples(0.010, 0.01)}}));
  auto now = set_of(make_report({{.status = "error", .step = {}}}));
  auto c = reports::compare_reports(base, now, {});
  ASSERT_EQ(c.cases.size(), 1u);
  EXPECT_TRUE(c.cases[0].regressed);
  EXPECT_TRUE(c.failed);
  // error -> ok is an improvement.
  EXPECT_FALSE(reports::compare_reports(now, base, {}).failed);
}

TEST(Compare, RunControlsDoNotBreakMatching) {
  auto base = make_report({{.step = samples(0.010, 0.01, 20)}});
  auto now = make_report({{.step = samples(0.010, 0.01, 10)}});  // other iteration count
  auto c = reports::compare_reports(set_of(base), set_of(now), {});
  EXPECT_EQ(c.cases.size(), 1u);
  EXPECT_TRUE(c.missing.empty());
}

TEST(Compare, SchemaVersionMismatchNamesTheFile) {
  auto doc = make_report({{.step = samples(0.010, 0.01)}});
  doc["schema_version"] = 2;
  try {
    reports::report_set_from_json(doc, "new-run.json");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("new-run.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("schema_version 2"), std::string::npos) << e.what();
  }
  nlohmann::json other = {{"schema", "something-else"}, {"schema_version", 1}};
  EXPECT_THROW(reports::report_set_from_json(other, "x.json"), InputError);
}

TEST(Compare, ThresholdParsing) {
  EXPECT_DOUBLE_EQ(reports::parse_fraction("5%", "t"), 0.05);
  EXPECT_DOUBLE_EQ(reports::parse_fraction("0.5", "t"), 0.5);
  EXPECT_THROW(reports::parse_fraction("five", "t"), InputError);
  EXPECT_THROW(reports::parse_fraction("-1%", "t"), InputError);
  CompareOptions o;
  EXPECT_THROW(reports::add_metric_threshold(o, "nosuch=5%"), InputError);
  EXPECT_THROW(reports::add_metric_threshold(o, "step"), InputError);
  EXPECT_THROW(reports::add_metric_threshold(o, "flops=5%"), InputError);
  reports::add_metric_threshold(o, "flops=off");
  EXPECT_LT(o.metric_thresholds["flops"], 0);
}

TEST(MannWhitney, ExactSmallSamples) {
  // All of y above all of x: U = n*m, p = 1 / C(n+m, n).
  EXPECT_NEAR(reports::mann_whitney_greater({1, 2, 3}, {4, 5, 6}), 1.0 / 20, 1e-12);
  EXPECT_NEAR(reports::mann_whitney_greater({4, 5, 6}, {1, 2, 3}), 1.0, 1e-12);
  EXPECT_NEAR(reports::mann_whitney_min_p(3, 3), 1.0 / 20, 1e-12);
  // x = {1, 3}, y = {2, 4}: U(y > x) = 3 of 4 pairs; P(U >= 3) = 2 / 6.
  EXPECT_NEAR(reports::mann_whitney_greater({1, 3}, {2, 4}), 2.0 / 6, 1e-12);
}

TEST(MannWhitney, NormalApproximationWithTies) {
  std::vector<double> x(30, 1.0), y(30, 1.0);
  EXPECT_GT(reports::mann_whitney_greater(x, y), 0.4);  // identical samples: no evidence
  for (int i = 0; i < 30; ++i) y[i] = i < 15 ? 1.0 : 2.0;
  EXPECT_LT(reports::mann_whitney_greater(x, y), 1e-4);
}

TEST(Merge, ConcatenatesAndTagsSources) {
  auto a = set_of(make_report({{.world = 2, .step = samples(0.010, 0.01)}}, 2), "p2.json");
  auto b = set_of(make_report({{.world = 4, .step = samples(0.006, 0.01)}}, 4), "p4.json");
  auto m = reports::merge_report_sets({a, b}, reports::OnDuplicate::kError);
  ASSERT_EQ(m.set.cases.size(), 2u);
  ASSERT_EQ(m.set.sources.size(), 2u);
  EXPECT_EQ(m.set.cases[1]["source"], 1);
  // The merged document reads back (validated case by case).
  auto doc = reports::to_json(m.set);
  auto again = reports::report_set_from_json(doc, "merged.json");
  EXPECT_EQ(again.cases.size(), 2u);
  EXPECT_EQ(doc["summary"]["ok"], 2);
  // Duplicates: error by policy, else one kept with a note.
  EXPECT_THROW(reports::merge_report_sets({a, a}, reports::OnDuplicate::kError), InputError);
  auto kept = reports::merge_report_sets({a, a}, reports::OnDuplicate::kKeepFirst);
  EXPECT_EQ(kept.set.cases.size(), 1u);
  EXPECT_EQ(kept.notes.size(), 1u);
}

TEST(Tables, MarkdownPivotsWorldSizeAndCsvHasOneRowPerCase) {
  auto a = set_of(make_report({{.world = 2, .step = samples(0.010, 0.01)},
                               {.mask = "full", .world = 2, .step = samples(0.020, 0.01)}},
                              2),
                  "p2.json");
  auto b = set_of(make_report({{.world = 4, .step = samples(0.006, 0.01)},
                               {.mask = "full", .world = 4, .status = "unsupported", .step = {}}},
                              4),
                  "p4.json");
  auto m = reports::merge_report_sets({a, b}, reports::OnDuplicate::kError).set;
  std::string md = reports::render_markdown_tables(m, "tflops_per_rank", true);
  EXPECT_NE(md.find("| method | mask | seqlen | P=2 | P=4 |"), std::string::npos) << md;
  EXPECT_NE(md.find("unsupported"), std::string::npos) << md;
  EXPECT_NE(md.find("ring_p2p / contiguous"), std::string::npos) << md;
  // 1e12 FLOPs / 10.01 ms (median of the samples) / 2 ranks = 49.94 TFLOP/s per rank.
  EXPECT_NE(md.find("| 49.94 |"), std::string::npos) << md;
  std::string csv = reports::render_csv(m);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5);  // header + 4 cases
  EXPECT_EQ(csv.rfind("source,method,world,", 0), 0u);
  EXPECT_THROW(reports::render_markdown_tables(m, "nosuch"), InputError);
}

}  // namespace
}  // namespace cpb

namespace cpb {
namespace {

TEST(Compare, NoCaseInCommonIsAnInputErrorNamingBothFiles) {
  // Disjoint case sets used to print "0 matched case(s) ... PASS" and exit 0.
  auto base = set_of(make_report({{.mask = "full", .step = samples(0.010, 0.01)}}));
  auto now = set_of(make_report({{.mask = "causal", .step = samples(0.010, 0.01)}}));
  try {
    reports::compare_reports(base, now, {}, "a.json", "b.json");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("no case in common"), std::string::npos) << msg;
    EXPECT_NE(msg.find("a.json"), std::string::npos) << msg;
    EXPECT_NE(msg.find("b.json"), std::string::npos) << msg;
  }
}

TEST(Compare, NormalizeByPeersCancelsMachineSpeed) {
  // The new machine is 2x slower on everything: a raw compare fails, normalised by the
  // single-rank peer it passes; a real 20% loss of ring_p2p relative to its peer fails.
  auto base = test::make_report({{.method = "none", .world = 2, .step = test::samples(0.010, 0.01)},
                                 {.world = 2, .step = test::samples(0.006, 0.01)}});
  auto slow = test::make_report({{.method = "none", .world = 2, .step = test::samples(0.020, 0.01)},
                                 {.world = 2, .step = test::samples(0.012, 0.01)}});
  auto worse =
      test::make_report({{.method = "none", .world = 2, .step = test::samples(0.020, 0.01)},
                         {.world = 2, .step = test::samples(0.0144, 0.01)}});
  auto b = reports::report_set_from_json(base, "b"), s = reports::report_set_from_json(slow, "s"),
       w = reports::report_set_from_json(worse, "w");
  EXPECT_TRUE(reports::compare_reports(b, s, {}).failed);
  reports::CompareOptions o;
  o.normalize_by = reports::parse_normalize("method=none");
  auto c = reports::compare_reports(b, s, o);
  EXPECT_FALSE(c.failed);
  EXPECT_NEAR(c.time_scale, 0.5, 0.01);
  EXPECT_EQ(c.normalize_peers, 1);
  EXPECT_TRUE(reports::compare_reports(b, w, o).failed);
  EXPECT_THROW(reports::parse_normalize("method"), InputError);
  o.normalize_by = reports::parse_normalize("method=nosuch");
  EXPECT_THROW(reports::compare_reports(b, s, o), InputError);
}

}  // namespace
}  // namespace cpb

namespace cpb {
namespace {

TEST(Compare, ParamAddedLaterDoesNotBreakMatching) {
  auto base = test::make_report({{.step = test::samples(0.010, 0.01)}});
  auto now = test::make_report({{.step = test::samples(0.010, 0.01)}});
  now["cases"][0]["params"]["device"] = "cpu";  // a param newer reports carry
  auto c = reports::compare_reports(reports::report_set_from_json(base, "b"),
                                    reports::report_set_from_json(now, "n"), {});
  EXPECT_EQ(c.cases.size(), 1u);
  EXPECT_TRUE(c.missing.empty());
  ASSERT_EQ(c.notes.size(), 1u);
  EXPECT_NE(c.notes[0].find("new only: device"), std::string::npos) << c.notes[0];
  EXPECT_NE(reports::render_text(c).find("device"), std::string::npos);
}

// Issue 11 item 8: iterations of one run share its machine load. A whole-run shift
// smaller than the run's own p10-p90 spread is noise, even when a rank test over the
// iterations calls it significant (two runs of one binary on a shared machine).
TEST(Compare, WholeRunShiftWithinTheRunsOwnSpreadIsNoise) {
  auto base = set_of(make_report({{.step = samples(0.010, 0.06, 20)}}));
  auto now = set_of(make_report({{.step = samples(0.0107, 0.06, 20, 3)}}));
  auto c = reports::compare_reports(base, now, {});
  const auto* step = find_metric(c.cases[0], "step");
  ASSERT_NE(step, nullptr);
  EXPECT_EQ(step->test, "mann-whitney");
  EXPECT_LT(step->p_value, 0.01);  // the iteration test alone would call it a regression
  EXPECT_GT(step->change, 0.05);
  EXPECT_GT(step->threshold, step->change);
  EXPECT_EQ(step->threshold_from, "run p10-p90 spread");
  EXPECT_EQ(step->verdict, Verdict::kNoise);
  EXPECT_FALSE(c.failed);
  // The output states the threshold and the test each verdict used.
  std::string text = reports::render_text(c);
  EXPECT_NE(text.find("thr "), std::string::npos) << text;
  EXPECT_NE(text.find("run p10-p90 spread"), std::string::npos) << text;
  EXPECT_NE(text.find("slower by more than 5.0%"), std::string::npos) << text;
}

// Runs in separate processes (--base-run / --new-run): the run medians are the samples.
TEST(Compare, RunLevelNoiseFromRepeatedRuns) {
  auto run = [](double median, int phase) {
    return set_of(make_report({{.step = samples(median, 0.005, 20, phase)}}));
  };
  std::vector<reports::ReportSet> base = {run(0.0100, 0), run(0.0106, 1), run(0.0097, 2)};
  std::vector<reports::ReportSet> same = {run(0.0107, 3), run(0.0102, 4), run(0.0105, 5)};
  // One run a side: 7% slower with tight iterations is a regression...
  EXPECT_TRUE(reports::compare_reports(base[0], same[0], {}).failed);
  // ...but not against the spread the base shows across its own runs.
  auto c = reports::compare_runs(base, same, {});
  const auto* step = find_metric(c.cases[0], "step");
  EXPECT_EQ(step->test, "run ranges");  // 3 + 3 runs cannot reach alpha 0.01
  EXPECT_NE(step->verdict, Verdict::kRegressed);
  EXPECT_FALSE(c.failed);
  EXPECT_NE(step->threshold_from.find("between-run spread"), std::string::npos);
  std::vector<reports::ReportSet> slow = {run(0.0130, 3), run(0.0132, 4), run(0.0129, 5)};
  auto r = reports::compare_runs(base, slow, {});
  EXPECT_EQ(find_metric(r.cases[0], "step")->verdict, Verdict::kRegressed);
  EXPECT_TRUE(r.failed);
  // Five runs a side: a rank test over the run medians.
  for (int i = 0; i < 2; ++i) {
    base.push_back(run(0.0101 + 0.0002 * i, 6 + i));
    slow.push_back(run(0.0131 + 0.0002 * i, 8 + i));
  }
  auto m = reports::compare_runs(base, slow, {});
  const auto* ms = find_metric(m.cases[0], "step");
  EXPECT_EQ(ms->test, "runs mann-whitney");
  EXPECT_EQ(ms->verdict, Verdict::kRegressed);
  EXPECT_NE(reports::render_text(m).find("5 base x 5 new runs"), std::string::npos);
}

// `--threshold 5` read as 500% hid every regression: a bare number >= 1 is ambiguous.
TEST(Compare, BareThresholdOfOneOrMoreIsRefused) {
  for (const char* t : {"5", "1", "50", "1.5"}) {
    try {
      reports::parse_fraction(t, "--threshold");
      ADD_FAILURE() << t << " accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("ambiguous"), std::string::npos) << e.what();
    }
  }
  EXPECT_DOUBLE_EQ(reports::parse_fraction("5%", "t"), 0.05);
  EXPECT_DOUBLE_EQ(reports::parse_fraction("500%", "t"), 5.0);
  EXPECT_DOUBLE_EQ(reports::parse_fraction("0.05", "t"), 0.05);
  CompareOptions o;
  EXPECT_THROW(reports::add_metric_threshold(o, "step=10"), InputError);
}

}  // namespace
}  // namespace cpb
