// The field table (reports/fields.h) is the one definition of the report's scalar
// metrics: the writer writes exactly its fields, the validator checks each of them, and
// reports/SCHEMA.md documents each with the same unit, reduction over ranks and
// treatment of repetitions.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "reports/fields.h"
#include "reports/report.h"
#include "reports/validate.h"
#include "tests/compare/synthetic_report.h"

namespace cpb::reports {
namespace {

using nlohmann::json;

std::string schema_md() {
  std::ifstream in(std::string(CPB_SOURCE_DIR) + "/reports/SCHEMA.md");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The text from heading `from` to the next heading of level 2 or 3.
std::string section(const std::string& text, const std::string& from) {
  size_t b = text.find(from);
  if (b == std::string::npos) return "";
  size_t e = text.find("\n#", b + from.size());
  return text.substr(b, e == std::string::npos ? std::string::npos : e - b);
}

// Trimmed cells of the table row that names `name` in backticks; empty when none.
std::vector<std::string> row_of(const std::string& sec, const std::string& name) {
  std::istringstream lines(sec);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("|", 0) != 0 || line.find("`" + name + "`") == std::string::npos) continue;
    std::vector<std::string> cells;
    std::istringstream parts(line.substr(1));
    for (std::string c; std::getline(parts, c, '|');) {
      size_t b = c.find_first_not_of(' '), e = c.find_last_not_of(' ');
      cells.push_back(b == std::string::npos ? "" : c.substr(b, e - b + 1));
    }
    return cells;
  }
  return {};
}

template <typename S>
void expect_documented(const std::string& sec, const std::vector<ScalarField<S>>& fields) {
  ASSERT_FALSE(sec.empty());
  for (const auto& f : fields) {
    auto cells = row_of(sec, f.name);
    ASSERT_GE(cells.size(), 3u) << "SCHEMA.md has no row for `" << f.name << "`";
    EXPECT_EQ(cells[2], f.unit) << "unit of " << f.name;
    bool integer = std::holds_alternative<int64_t S::*>(f.member);
    EXPECT_EQ(cells[1].rfind(integer ? "int" : "float", 0), 0u) << "type of " << f.name;
  }
}

TEST(FieldTable, SchemaDocumentsEveryFieldWithItsUnitReductionsAndCompareKind) {
  const std::string md = schema_md();
  expect_documented(section(md, "### `metrics`\n"), case_metric_fields());
  expect_documented(section(md, "### `metrics.ranks[]`"), rank_metric_fields());
  const std::string red = section(md, "### Scalar metric fields");
  for (const auto& f : case_metric_fields()) {
    auto cells = row_of(red, f.name);
    ASSERT_EQ(cells.size(), 4u) << "no reduction row for " << f.name;
    EXPECT_EQ(cells[1], to_string(f.over_ranks)) << f.name;
    EXPECT_EQ(cells[2], to_string(f.over_repetitions())) << f.name;
    EXPECT_EQ(cells[3], to_string(f.judged)) << f.name;
  }
}

TEST(FieldTable, SchemaDefinesEveryPivotMetricAndCsvColumnOfTheTable) {
  const std::string tables = section(schema_md(), "## Tables (`cpbench report`)");
  ASSERT_FALSE(tables.empty());
  for (const auto& f : case_metric_fields()) {
    const std::string source = std::string("`metrics.") + f.name + "`";
    const std::string scaled = std::string("`metrics.") + f.name + " ";  // `metrics.x × 1e3`
    for (const char* shown : {f.table, f.csv}) {
      if (!shown) continue;
      auto cells = row_of(tables, shown);
      ASSERT_GE(cells.size(), 3u) << "SCHEMA.md \"Tables\" has no row for `" << shown << "`";
      const bool names_field =
          cells[2].find(source) != std::string::npos || cells[2].find(scaled) != std::string::npos;
      EXPECT_TRUE(names_field) << shown << " should say it shows " << source << ": " << cells[2];
    }
  }
}

TEST(FieldTable, TheWriterWritesExactlyTheTable) {
  json c = json(CaseMetrics{.ranks = {RankMetrics{}}});
  std::set<std::string> keys, want = {"step_seconds", "expected_volume_formula", "ranks"};
  for (auto& [k, v] : c.items()) keys.insert(k);
  for (const auto& f : case_metric_fields()) want.insert(f.name);
  EXPECT_EQ(keys, want);
  keys.clear();
  want = {"rank", "hostname", "step_seconds", "ops", "peak_rss_reset"};
  for (auto& [k, v] : c["ranks"][0].items()) keys.insert(k);
  for (const auto& f : rank_metric_fields()) want.insert(f.name);
  EXPECT_EQ(keys, want);
  // Integers stay integers.
  EXPECT_TRUE(c["mask_area"].is_number_integer());
  EXPECT_TRUE(c["ranks"][0]["area"].is_number_integer());
}

TEST(FieldTable, TheValidatorChecksEveryField) {
  const json good = test::make_report({{.step = {0.010, 0.011, 0.012}}});
  ASSERT_TRUE(validate_report(good).empty());
  auto problems = [](const json& doc) {
    std::string all;
    for (const auto& p : validate_report(doc)) all += p + "\n";
    return all;
  };
  for (const auto& f : case_metric_fields()) {
    json missing = good, low = good;
    missing["cases"][0]["metrics"].erase(f.name);
    EXPECT_NE(problems(missing).find(f.name), std::string::npos) << f.name;
    if (f.min == 0) {
      low["cases"][0]["metrics"][f.name] = -1;
      EXPECT_NE(problems(low).find(f.name), std::string::npos) << f.name;
    }
  }
  for (const auto& f : rank_metric_fields()) {
    json missing = good;
    missing["cases"][0]["metrics"]["ranks"][1].erase(f.name);
    EXPECT_NE(problems(missing).find(std::string("ranks[1]: missing field '") + f.name),
              std::string::npos)
        << f.name;
  }
}

}  // namespace
}  // namespace cpb::reports
