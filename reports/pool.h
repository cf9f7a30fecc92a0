// Pooling the repetitions of one case (`sweep --repeat`, the stopping rule) into one
// result. Decision: the step time is pooled from the samples; every scalar field follows
// its row of the field table (reports/fields.h): recomputed from the pooled case when the
// row has a recompute function, else the first repetition's value, so a new metric states
// its pooling in the one place it is defined.
#pragma once

#include <nlohmann/json.hpp>

#include <vector>

namespace cpb::reports {

// Pools the repetitions of one case (result JSON as the runner wrote it, all status
// ok) into one result: step_seconds summarises the pooled samples, metrics.repetitions
// keeps each repetition's summary, and the table's recomputed fields follow the pooled
// median. Samples are per-iteration step times when the runner recorded them
// (step_seconds.samples), else one median per repetition; samples_kind says which.
// Other metrics are the first repetition's.
nlohmann::json pool_repetitions(const std::vector<nlohmann::json>& reps, bool keep_samples);

// Timed seconds and CV of the pooled samples so far, for the stopping rule.
struct PoolProgress {
  int repetitions = 0;
  double timed_seconds = 0;  // sum of iterations x mean step over repetitions
  double cv = 0;             // of the pooled samples
};
PoolProgress pool_progress(const std::vector<nlohmann::json>& reps);

}  // namespace cpb::reports
