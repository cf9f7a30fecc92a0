// Sample statistics and FLOP accounting for the driver. Percentiles interpolate
// linearly between order statistics (p at position p*(n-1), numpy's default) so
// p10/p90 exist for any n >= 1; CV uses the population stdev. FLOPs follow the
// convention every report states: fwd 4*area*D*Hq, bwd 2.5x fwd, fwd+bwd 3.5x.
#pragma once

#include <cstdint>
#include <vector>

#include "bench/options.h"
#include "masks/head_masks.h"
#include "reports/report.h"

namespace cpb::bench {

// p in [0, 1] of an unsorted sample (copied and sorted); sample must be non-empty.
double percentile(std::vector<double> sample, double p);

reports::TimeStats summarize(const std::vector<double>& seconds);

// Forward FLOPs: two GEMMs (QK^T and PV), 2 FLOPs per multiply-add each, over the
// visible pairs only.
inline double forward_flops(int64_t area, int64_t head_dim, int64_t heads_q) {
  return 4.0 * static_cast<double>(area) * static_cast<double>(head_dim) *
         static_cast<double>(heads_q);
}

// Backward = 2.5x forward (five GEMMs against two; recomputing P is not counted).
inline double pass_flops(Pass pass, int64_t area, int64_t head_dim, int64_t heads_q) {
  double f = forward_flops(area, head_dim, heads_q);
  switch (pass) {
    case Pass::kForward:
      return f;
    case Pass::kBackward:
      return 2.5 * f;
    case Pass::kForwardBackward:
      return 3.5 * f;
  }
  return f;
}

// max / mean of non-negative values; 1 for an all-zero or empty sample.
double imbalance(const std::vector<double>& values);

// A case's FLOPs over its masks: one mask for every head gives pass_flops of its
// area; per-head masks the exact sum over heads. Measured (case runner) and
// predicted (cpbench model) reports both count with it, so their TFLOP/s pair up.
inline double case_flops(Pass pass, const HeadMasks& masks, int64_t head_dim, int64_t heads_q,
                         int64_t heads_kv) {
  return masks.uniform() ? pass_flops(pass, masks.mean_area(), head_dim, heads_q)
                         : pass_flops(pass, 1, head_dim, 1) * masks.head_pairs(heads_q, heads_kv);
}

}  // namespace cpb::bench
