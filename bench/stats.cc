#include "bench/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/errors.h"

namespace cpb::bench {

double percentile(std::vector<double> sample, double p) {
  CPB_CHECK(!sample.empty(), "percentile of an empty sample");
  CPB_CHECK(p >= 0 && p <= 1, "percentile p={} outside [0, 1]", p);
  std::sort(sample.begin(), sample.end());
  double pos = p * static_cast<double>(sample.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(pos));
  size_t hi = std::min(lo + 1, sample.size() - 1);
  double frac = pos - static_cast<double>(lo);
  return sample[lo] + (sample[hi] - sample[lo]) * frac;
}

reports::TimeStats summarize(const std::vector<double>& s) {
  CPB_CHECK(!s.empty(), "statistics of an empty sample");
  reports::TimeStats t;
  t.iterations = static_cast<int64_t>(s.size());
  t.mean = std::accumulate(s.begin(), s.end(), 0.0) / static_cast<double>(s.size());
  t.min = *std::min_element(s.begin(), s.end());
  t.max = *std::max_element(s.begin(), s.end());
  t.median = percentile(s, 0.5);
  t.p10 = percentile(s, 0.1);
  t.p90 = percentile(s, 0.9);
  // Clamp the mean into [min, max]: summation rounding can push it out by an ulp.
  t.mean = std::clamp(t.mean, t.min, t.max);
  double var = 0;
  for (double x : s) var += (x - t.mean) * (x - t.mean);
  var /= static_cast<double>(s.size());
  t.cv = t.mean > 0 ? std::sqrt(var) / t.mean : 0;
  return t;
}

double imbalance(const std::vector<double>& values) {
  if (values.empty()) return 1;
  double mean =
      std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
  if (mean <= 0) return 1;
  return *std::max_element(values.begin(), values.end()) / mean;
}

}  // namespace cpb::bench
