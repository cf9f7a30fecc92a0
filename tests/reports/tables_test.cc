// Tables: pivot row labels from the cases' degrees (no method named in reports/), the
// tflops_per_rank_mean_time metric (stored or recomputed), and LongCA-bench's CSV
// (its columns first, mask samples averaged, OOM as a value).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sstream>

#include "common/errors.h"
#include "reports/tables.h"

namespace cpb {
namespace {

using nlohmann::json;

struct Spec {
  std::string method = "ring_p2p";
  int world = 2, ulysses = 1, ring = 2;
  std::string pass = "fwd";
  json mask = {{"kind", "causal"}};
  std::string status = "ok";
  std::vector<double> rank_medians = {0.010, 0.020};  // one per rank, s
  std::vector<int64_t> rank_rss = {100, 300};         // B
  double flops = 1e12;
  bool with_mean_time_field = true;
};

json make_case(const Spec& s) {
  json p = {{"method", s.method},
            {"kernel", "cpu_flash"},
            {"sharding", "zigzag"},
            {"placement", "contiguous"},
            {"mask", s.mask},
            {"seq", 1024 * s.world},
            {"heads_q", 8},
            {"heads_kv", 8},
            {"head_dim", 64},
            {"dtype", "fp32"},
            {"pass", s.pass},
            {"world_size", s.world},
            {"degrees", {{"ulysses", s.ulysses}, {"ring", s.ring}, {"inner_ring", 1}}}};
  json c = {{"params", p}, {"status", s.status}, {"reason", ""}, {"source", 0}};
  if (s.status != "ok") return c;
  json ranks = json::array();
  double sum = 0, max = 0;
  for (size_t r = 0; r < s.rank_medians.size(); ++r) {
    ranks.push_back({{"rank", r},
                     {"step_seconds", {{"median", s.rank_medians[r]}}},
                     {"peak_rss_bytes", s.rank_rss[r]}});
    sum += s.rank_medians[r];
    max = std::max(max, s.rank_medians[r]);
  }
  json m = {{"flops", s.flops},
            {"step_seconds", {{"median", max}}},
            {"tflops_per_rank", s.flops / (max * s.world) / 1e12},
            {"ranks", ranks}};
  if (s.with_mean_time_field) m["tflops_per_rank_mean_time"] = s.flops / sum / 1e12;
  c["metrics"] = m;
  return c;
}

reports::ReportSet set_of(const std::vector<Spec>& specs) {
  reports::ReportSet set;
  set.sources.push_back({{"file", "r.json"}});
  for (const auto& s : specs) set.cases.push_back(make_case(s));
  return set;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

TEST(TableMetric, MeanTimeTflopsStoredOrRecomputed) {
  // Medians 10 and 20 ms on 2 ranks: 1e12 / (15 ms x 2) = 33.33 TFLOP/s per rank,
  // against 1e12 / (20 ms x 2) = 25 from the max-over-ranks step.
  Spec a;
  auto md = reports::render_markdown_tables(set_of({a}), "tflops_per_rank_mean_time");
  EXPECT_NE(md.find("| 33.33 |"), std::string::npos) << md;
  EXPECT_NE(md.find("mean-over-ranks time"), std::string::npos) << md;
  a.with_mean_time_field = false;  // an older report: recomputed from the ranks
  md = reports::render_markdown_tables(set_of({a}), "tflops_per_rank_mean_time");
  EXPECT_NE(md.find("| 33.33 |"), std::string::npos) << md;
  EXPECT_NE(reports::render_markdown_tables(set_of({a}), "tflops_per_rank").find("| 25 |"),
            std::string::npos);
  EXPECT_EQ(reports::find_table_metric("tflops_per_rank_mean_time").name,
            "tflops_per_rank_mean_time");
  EXPECT_THROW(reports::find_table_metric("tflops_mean"), InputError);
}

TEST(TableRows, DegreesImpliedByTheWorldStayOneRow) {
  // usp with u = min(P, 2) by a rule (one layout per world): one row over P = 2, 4, 8.
  // usp with two splits at P = 4: u tells them apart; ring is never shown beside u.
  auto set = set_of({{.method = "usp", .world = 2, .ulysses = 2, .ring = 1},
                     {.method = "usp", .world = 4, .ulysses = 2, .ring = 2},
                     {.method = "usp", .world = 8, .ulysses = 2, .ring = 4},
                     {.method = "ulysses", .world = 2, .ulysses = 2, .ring = 1},
                     {.method = "ulysses", .world = 4, .ulysses = 4, .ring = 1}});
  std::string md = reports::render_markdown_tables(set, "tflops_per_rank");
  EXPECT_NE(md.find("| usp / zigzag | causal |"), std::string::npos) << md;
  EXPECT_NE(md.find("| ulysses / zigzag | causal |"), std::string::npos) << md;
  EXPECT_EQ(md.find("u="), std::string::npos) << md;
  set = set_of({{.method = "usp", .world = 4, .ulysses = 1, .ring = 4},
                {.method = "usp", .world = 4, .ulysses = 4, .ring = 1}});
  md = reports::render_markdown_tables(set, "tflops_per_rank");
  EXPECT_NE(md.find("| usp u=1 / zigzag |"), std::string::npos) << md;
  EXPECT_NE(md.find("| usp u=4 / zigzag |"), std::string::npos) << md;
  EXPECT_EQ(md.find("r="), std::string::npos) << md;
}

TEST(LongcaCsv, ColumnsMeansOverMaskSamplesAndOom) {
  json s0 = {{"kind", "causal_document_long"}, {"seed", 0}};
  json s1 = {{"kind", "causal_document_long"}, {"seed", 1}};
  auto set = set_of({
      // Two mask samples of one case: means of 33.33 and 1e12 / (250 ms x 2) / 1e12 = 2.
      {.mask = s0},
      {.mask = s1, .rank_medians = {0.25, 0.25}, .rank_rss = {200, 200}},
      // The same case in bwd: another row.
      {.pass = "bwd", .mask = s0},
      // OOM: a row whose values say OOM.
      {.method = "ulysses", .world = 2, .ulysses = 2, .ring = 1, .mask = s0, .status = "oom"},
  });
  auto rows = lines(reports::render_longca_csv(set));
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].rfind("baseline,masktype,world_size,wd,ulysses,ring,mean_tflops,"
                          "mean_peak_mems,",
                          0),
            0u)
      << rows[0];
  // (33.333 + 2) / 2 = 17.6667; memory: mean over ranks (200, 200) then over samples.
  EXPECT_EQ(rows[1].rfind("ring_p2p,causal_document_long,2,fwd,1,2,17.6667,200,", 0), 0u)
      << rows[1];
  EXPECT_NE(rows[1].find(",0 1,2,"), std::string::npos) << rows[1];  // seeds, samples
  EXPECT_NE(rows[1].find(",rss"), std::string::npos) << rows[1];
  EXPECT_EQ(rows[2].rfind("ring_p2p,causal_document_long,2,bwd,1,2,33.3333,200,", 0), 0u)
      << rows[2];
  EXPECT_EQ(rows[3].rfind("ulysses,causal_document_long,2,fwd,2,1,OOM,OOM,", 0), 0u) << rows[3];
}

TEST(LongcaCsv, AnyFailedSampleMarksTheRow) {
  json s0 = {{"kind", "document_long"}, {"seed", 0}};
  json s1 = {{"kind", "document_long"}, {"seed", 1}};
  auto rows =
      lines(reports::render_longca_csv(set_of({{.mask = s0}, {.mask = s1, .status = "oom"}})));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_NE(rows[1].find(",OOM,OOM,"), std::string::npos) << rows[1];
  rows = lines(reports::render_longca_csv(set_of({{.mask = s0, .status = "unsupported"}})));
  EXPECT_NE(rows[1].find(",unsupported,unsupported,"), std::string::npos) << rows[1];
}

}  // namespace
}  // namespace cpb
