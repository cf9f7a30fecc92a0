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

const std::vector<ScalarField<CaseMetrics>>& case_metric_fields() {
  using C = CaseMetrics;
  constexpr auto kWhole = OverRanks::kWhole, kMax = OverRanks::kMax;
  constexpr auto kRecomputed = OverRepetitions::kRecomputed, kFirst = OverRepetitions::kFirst;
  static const std::vector<ScalarField<C>> fields = {
      {"mask_area", &C::mask_area, "pairs", 0, kUnbounded, kWhole, kFirst},
      {"mask_density", &C::mask_density, "—", 0, 1, kWhole, kFirst},
      {"flops", &C::flops, "FLOP", 0, kUnbounded, kWhole, kFirst},
      {"tflops_total", &C::tflops_total, "TFLOP/s", 0, kUnbounded, kWhole, kRecomputed},
      {"tflops_per_rank", &C::tflops_per_rank, "TFLOP/s", 0, kUnbounded, kWhole, kRecomputed},
      {"tflops_per_rank_mean_time", &C::tflops_per_rank_mean_time, "TFLOP/s", 0, kUnbounded, kWhole,
       kFirst},
      {"compute_seconds", &C::compute_seconds, "s", 0, kUnbounded, kMax, kFirst},
      {"comm_wait_seconds", &C::comm_wait_seconds, "s", 0, kUnbounded, kMax, kFirst},
      {"exposed_comm_seconds", &C::exposed_comm_seconds, "s", 0, kUnbounded, kMax, kFirst},
      {"overlap_efficiency", &C::overlap_efficiency, "0..1", 0, 1, OverRanks::kSlowestRank, kFirst},
      // Overhead can be slightly negative when timers disagree by a few microseconds.
      {"harness_overhead_seconds", &C::harness_overhead_seconds, "s", -kUnbounded, kUnbounded, kMax,
       kFirst},
      {"harness_overhead_fraction", &C::harness_overhead_fraction, "—", -kUnbounded, kUnbounded,
       kMax, kRecomputed},
      {"area_imbalance", &C::area_imbalance, "—", 0, kUnbounded, OverRanks::kMaxOverMean, kFirst},
      {"time_imbalance", &C::time_imbalance, "—", 0, kUnbounded, OverRanks::kMaxOverMean, kFirst},
      {"bytes_sent_max", &C::bytes_sent_max, "B", 0, kUnbounded, kMax, kFirst},
      {"bytes_received_max", &C::bytes_received_max, "B", 0, kUnbounded, kMax, kFirst},
      {"expected_bytes_sent_max", &C::expected_bytes_sent_max, "B", 0, kUnbounded, kMax, kFirst},
      {"expected_bytes_received_max", &C::expected_bytes_received_max, "B", 0, kUnbounded, kMax,
       kFirst},
      {"peak_rss_bytes_max", &C::peak_rss_bytes_max, "B", 0, kUnbounded, kMax, kFirst},
  };
  return fields;
}

const std::vector<ScalarField<RankMetrics>>& rank_metric_fields() {
  using R = RankMetrics;
  constexpr auto kThis = OverRanks::kThisRank;
  constexpr auto kFirst = OverRepetitions::kFirst;
  static const std::vector<ScalarField<R>> fields = {
      {"compute_seconds", &R::compute_seconds, "s", 0, kUnbounded, kThis, kFirst},
      {"comm_wait_seconds", &R::comm_wait_seconds, "s", 0, kUnbounded, kThis, kFirst},
      // mean step - compute - comm wait: slightly negative from timer granularity.
      {"overhead_seconds", &R::overhead_seconds, "s", -kUnbounded, kUnbounded, kThis, kFirst},
      {"bytes_sent", &R::bytes_sent, "B", 0, kUnbounded, kThis, kFirst},
      {"bytes_received", &R::bytes_received, "B", 0, kUnbounded, kThis, kFirst},
      {"expected_bytes_sent", &R::expected_bytes_sent, "B", 0, kUnbounded, kThis, kFirst},
      {"expected_bytes_received", &R::expected_bytes_received, "B", 0, kUnbounded, kThis, kFirst},
      {"local_tokens", &R::local_tokens, "tokens", 0, kUnbounded, kThis, kFirst},
      {"area", &R::area, "pairs", 0, kUnbounded, kThis, kFirst},
      {"peak_rss_bytes", &R::peak_rss_bytes, "B", 0, kUnbounded, kThis, kFirst},
  };
  return fields;
}

}  // namespace cpb::reports
