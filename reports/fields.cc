#include "reports/fields.h"

namespace cpb::reports {

const char* to_string(OverRanks r) {
  switch (r) {
    case OverRanks::kMax:
      return "max over ranks";
    case OverRanks::kMaxOverMean:
      return "max/mean over ranks";
    case OverRanks::kSlowestRank:
      return "slowest rank";
    case OverRanks::kWhole:
      return "whole case";
    case OverRanks::kThisRank:
      return "this rank";
  }
  return "?";
}

const char* to_string(OverRepetitions r) {
  return r == OverRepetitions::kRecomputed ? "recomputed from the pooled median"
                                           : "first repetition";
}

const char* to_string(Judged j) {
  switch (j) {
    case Judged::kNotCompared:
      return "—";
    case Judged::kExact:
      return "exact";
    case Judged::kGauge:
      return "gauge";
    case Judged::kFromStep:
      return "from step";
  }
  return "?";
}

namespace {

// Recomputed over pooled repetitions: `m` holds the pooled step_seconds and the first
// repetition's other fields (reports/pool.h).
double tflops_total(const CaseMetrics& m) {
  const double med = m.step_seconds.median;
  return med > 0 ? m.flops / med / 1e12 : 0.0;
}

double tflops_per_rank(const CaseMetrics& m) {
  const double med = m.step_seconds.median, world = double(m.ranks.size());
  return med > 0 && world > 0 ? m.flops / med / 1e12 / world : 0.0;
}

double harness_overhead_fraction(const CaseMetrics& m) {
  const double med = m.step_seconds.median;
  return med > 0 ? m.harness_overhead_seconds / med : m.harness_overhead_fraction;
}

}  // namespace

// Row order is the order compare's rows (by kind), the pivot metrics and the CSV columns
// take: work, throughput, time split, traffic, memory, balance.
const std::vector<ScalarField<CaseMetrics>>& case_metric_fields() {
  using C = CaseMetrics;
  constexpr auto kWhole = OverRanks::kWhole;
  constexpr double kMs = 1e3, kMiB = 1.0 / (1 << 20);
  static const std::vector<ScalarField<C>> fields = {
      {.name = "flops",
       .member = &C::flops,
       .unit = "FLOP",
       .over_ranks = kWhole,
       .format = "{:.0f}",
       .judged = Judged::kExact},
      {.name = "mask_area",
       .member = &C::mask_area,
       .unit = "pairs",
       .over_ranks = kWhole,
       .format = "{:.0f}",
       .judged = Judged::kExact},
      {.name = "mask_density",
       .member = &C::mask_density,
       .unit = "—",
       .max = 1,
       .over_ranks = kWhole},
      {.name = "tflops_per_rank",
       .member = &C::tflops_per_rank,
       .unit = "TFLOP/s",
       .over_ranks = kWhole,
       .recompute = tflops_per_rank,
       .judged = Judged::kFromStep,
       .higher_is_better = true,
       .table = "tflops_per_rank",
       .table_title = "TFLOP/s per rank",
       .csv = "tflops_per_rank"},
      {.name = "tflops_per_rank_mean_time",
       .member = &C::tflops_per_rank_mean_time,
       .unit = "TFLOP/s",
       .over_ranks = kWhole,
       .table = "tflops_per_rank_mean_time",
       .table_title = "TFLOP/s per rank, mean-over-ranks time (LongCA-bench)"},
      {.name = "tflops_total",
       .member = &C::tflops_total,
       .unit = "TFLOP/s",
       .over_ranks = kWhole,
       .recompute = tflops_total,
       .table = "tflops_total",
       .table_title = "TFLOP/s total",
       .csv = "tflops_total"},
      {.name = "compute_seconds",
       .member = &C::compute_seconds,
       .unit = "s",
       .scale = kMs,
       .format = "{:.4g} ms",
       .judged = Judged::kGauge,
       .csv = "compute_s"},
      {.name = "comm_wait_seconds", .member = &C::comm_wait_seconds, .unit = "s"},
      {.name = "exposed_comm_seconds",
       .member = &C::exposed_comm_seconds,
       .unit = "s",
       .scale = kMs,
       .format = "{:.4g} ms",
       .judged = Judged::kGauge,
       .table = "exposed_comm_ms",
       .table_title = "exposed communication (ms)",
       .csv = "exposed_comm_s"},
      {.name = "overlap_efficiency",
       .member = &C::overlap_efficiency,
       .unit = "0..1",
       .max = 1,
       .over_ranks = OverRanks::kSlowestRank,
       .table = "overlap_efficiency",
       .table_title = "overlap efficiency",
       .csv = "overlap_efficiency"},
      // Overhead can be slightly negative when timers disagree by a few microseconds.
      {.name = "harness_overhead_seconds",
       .member = &C::harness_overhead_seconds,
       .unit = "s",
       .min = -kUnbounded},
      {.name = "harness_overhead_fraction",
       .member = &C::harness_overhead_fraction,
       .unit = "—",
       .min = -kUnbounded,
       .recompute = harness_overhead_fraction},
      {.name = "bytes_sent_max",
       .member = &C::bytes_sent_max,
       .unit = "B",
       .format = "{:.0f}",
       .judged = Judged::kExact,
       .csv = "bytes_sent_max"},
      {.name = "bytes_received_max",
       .member = &C::bytes_received_max,
       .unit = "B",
       .format = "{:.0f}",
       .judged = Judged::kExact,
       .csv = "bytes_received_max"},
      {.name = "expected_bytes_sent_max",
       .member = &C::expected_bytes_sent_max,
       .unit = "B",
       .format = "{:.0f}",
       .judged = Judged::kExact},
      {.name = "expected_bytes_received_max",
       .member = &C::expected_bytes_received_max,
       .unit = "B",
       .format = "{:.0f}",
       .judged = Judged::kExact},
      {.name = "peak_rss_bytes_max",
       .member = &C::peak_rss_bytes_max,
       .unit = "B",
       .scale = kMiB,
       .format = "{:.1f} MiB",
       .judged = Judged::kGauge,
       .table = "peak_rss_mib",
       .table_title = "peak RSS per rank (MiB)",
       .csv = "peak_rss_bytes_max"},
      {.name = "area_imbalance",
       .member = &C::area_imbalance,
       .unit = "—",
       .over_ranks = OverRanks::kMaxOverMean,
       .csv = "area_imbalance"},
      {.name = "time_imbalance",
       .member = &C::time_imbalance,
       .unit = "—",
       .over_ranks = OverRanks::kMaxOverMean,
       .csv = "time_imbalance"},
  };
  return fields;
}

const std::vector<ScalarField<RankMetrics>>& rank_metric_fields() {
  using R = RankMetrics;
  constexpr auto kThis = OverRanks::kThisRank;
  static const std::vector<ScalarField<R>> fields = {
      {.name = "compute_seconds", .member = &R::compute_seconds, .unit = "s", .over_ranks = kThis},
      {.name = "comm_wait_seconds",
       .member = &R::comm_wait_seconds,
       .unit = "s",
       .over_ranks = kThis},
      // mean step - compute - comm wait: slightly negative from timer granularity.
      {.name = "overhead_seconds",
       .member = &R::overhead_seconds,
       .unit = "s",
       .min = -kUnbounded,
       .over_ranks = kThis},
      {.name = "bytes_sent", .member = &R::bytes_sent, .unit = "B", .over_ranks = kThis},
      {.name = "bytes_received", .member = &R::bytes_received, .unit = "B", .over_ranks = kThis},
      {.name = "expected_bytes_sent",
       .member = &R::expected_bytes_sent,
       .unit = "B",
       .over_ranks = kThis},
      {.name = "expected_bytes_received",
       .member = &R::expected_bytes_received,
       .unit = "B",
       .over_ranks = kThis},
      {.name = "local_tokens", .member = &R::local_tokens, .unit = "tokens", .over_ranks = kThis},
      {.name = "area", .member = &R::area, .unit = "pairs", .over_ranks = kThis},
      {.name = "peak_rss_bytes", .member = &R::peak_rss_bytes, .unit = "B", .over_ranks = kThis},
  };
  return fields;
}

const ScalarField<CaseMetrics>* find_case_field(const std::string& name) {
  for (const auto& f : case_metric_fields())
    if (name == f.name) return &f;
  return nullptr;
}

}  // namespace cpb::reports
