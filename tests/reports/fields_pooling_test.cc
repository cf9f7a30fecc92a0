// The field table's "over repetitions" column (reports/fields.h) against what
// `sweep --repeat` really does (reports/pool.h pool_repetitions): two
// repetitions of one case differ in their step samples and in every field the
// table says is the first repetition's; the pooled case must keep the first's
// value of each such field and change each field the table says is recomputed,
// and still validate. A new field, or a change to pooling, that breaks the
// table's word fails here.
#include <gtest/gtest.h>

#include "reports/fields.h"
#include "reports/pool.h"
#include "reports/validate.h"
#include "tests/compare/synthetic_report.h"

namespace cpb::reports {
namespace {

using nlohmann::json;

// A value different from `v` inside the field's valid range.
json other_value(const json& v, double max) {
  if (v.is_number_integer()) return v.get<int64_t>() + 1;
  const double x = v.get<double>();
  return max <= 1 ? x * 0.5 : x + 1.0;
}

void set_step(json& metrics, const std::vector<double>& samples) {
  json& st = metrics["step_seconds"];
  st["samples"] = samples;
  st["iterations"] = samples.size();
  st["median"] = samples[samples.size() / 2];
  st["min"] = samples.front();
  st["max"] = samples.back();
  double mean = 0;
  for (double s : samples) mean += s / double(samples.size());
  st["mean"] = mean;
}

TEST(FieldTable, PoolingFollowsOverRepetitions) {
  const json report = test::make_report({{.step = {0.010, 0.011, 0.012}}});
  const json first = report["cases"][0];
  json second = first;
  set_step(second["metrics"], {0.020, 0.021, 0.022});
  for (const auto& f : case_metric_fields())
    if (f.over_repetitions() == OverRepetitions::kFirst)
      second["metrics"][f.name] = other_value(first["metrics"][f.name], f.max);
  for (json& rank : second["metrics"]["ranks"])
    for (const auto& f : rank_metric_fields()) rank[f.name] = other_value(rank[f.name], f.max);

  const json pooled = pool_repetitions({first, second}, false);
  const json& m = pooled.at("metrics");
  for (const auto& f : case_metric_fields()) {
    SCOPED_TRACE(f.name);
    ASSERT_TRUE(m.contains(f.name));
    if (f.over_repetitions() == OverRepetitions::kFirst)
      EXPECT_EQ(m[f.name], first["metrics"][f.name]) << "the table says: first repetition";
    else
      EXPECT_NE(m[f.name], first["metrics"][f.name]) << "the table says: recomputed";
  }
  for (size_t r = 0; r < first["metrics"]["ranks"].size(); ++r)
    for (const auto& f : rank_metric_fields()) {
      ASSERT_EQ(f.over_repetitions(), OverRepetitions::kFirst) << "pooling keeps ranks[] as is";
      EXPECT_EQ(m["ranks"][r][f.name], first["metrics"]["ranks"][r][f.name]) << f.name;
    }

  json doc = report;
  doc["cases"][0] = pooled;
  EXPECT_EQ(validate_report(doc), std::vector<std::string>{});
}

}  // namespace
}  // namespace cpb::reports
