// Sweep configs: a JSON file of per-axis value lists (kernel, method, mask, seqlen, ...)
// expanded into the cartesian product of cases, then filtered by `exclude`/`only` rules.
// Decision: combinations that cannot exist by construction (degrees whose product is not
// the world size, heads not a multiple of kv_heads) are dropped and counted, but an axis
// value that survives in NO combination is an InputError: it is a typo, not a sweep.
// bench/configs/README.md documents every key.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace cpb {

// One point of the sweep, already normalised: degrees that a method fixes are filled in
// (ulysses: ulysses = world; rings: ring = world; none: world 1), axes a method ignores
// are set to their defaults so equal cases compare equal and are run once.
struct SweepCase {
  std::string kernel;
  std::string method;    // CP method name; "none" = single-rank kernel baseline
  std::string sharding;  // sharding name; "contiguous" for methods that ignore it
  int world = 1;         // ranks taking part (the first `world` ranks of the launch)
  int ulysses = 1;       // head-parallel degree
  int ring = 1;          // context-parallel degree
  int inner_ring = 1;    // loongtrain inner ring width W (divides ring)
  std::string placement = "contiguous";  // contiguous | strided (usp, loongtrain)
  nlohmann::json mask;                   // a MaskSpec as JSON (masks/mask_spec.h)
  int64_t seqlen = 0;
  int64_t heads = 0;     // query heads Hq
  int64_t kv_heads = 0;  // key/value heads Hkv (Hq % Hkv == 0)
  int64_t head_dim = 0;
  std::string dtype;  // fp32 | bf16 | fp16
  std::string pass;   // fwd | bwd | fwd+bwd

  // Canonical parameters (sorted keys); equal cases give equal JSON.
  nlohmann::json to_json() const;
  // Short human-readable label for progress lines.
  std::string label() const;
  bool operator==(const SweepCase&) const = default;
};

// How every case of the sweep is measured (same for all cases).
struct SweepRunOptions {
  int warmup = 2;
  int iterations = 10;
  int repeat = 1;             // independent repetitions of each case; samples pooled
  uint64_t seed = 0;          // tensor data seed
  bool verify = false;        // compare against cpu_reference on gathered data
  double timeout_s = 300;     // watchdog per case
  bool keep_samples = false;  // keep per-iteration step times (max over ranks) in the report
  // Optional stopping rule: after each repetition stop once the pooled samples cover
  // min_time_s of timed steps AND their CV is at most max_cv, or at max_repeat.
  // 0 disables a bound. Decided from max-over-ranks times, so every rank agrees.
  double min_time_s = 0;
  double max_cv = 0;
  int max_repeat = 0;  // 0: `repeat`
};

// Names that exist in this build, for validating axis values; an empty list skips
// that check (unit tests of the pure parser).
struct SweepNames {
  std::vector<std::string> kernels, methods, shardings, mask_kinds;
};

struct SweepConfig {
  std::string source;  // file name, for messages
  std::string name, description;
  SweepRunOptions run;
  nlohmann::json raw;  // the file as given, echoed into the report
  std::vector<SweepCase> cases;
  // Why product points were not turned into cases: reason -> count.
  std::map<std::string, int64_t> dropped;
};

// Parses and expands; throws InputError naming `source`, the key and what is allowed.
SweepConfig parse_sweep_config(const nlohmann::json& j, const std::string& source,
                               const SweepNames& names = {});
// Reads `path` (InputError when unreadable or not JSON) and parses it.
SweepConfig load_sweep_config(const std::string& path, const SweepNames& names = {});

// The top-level keys a sweep config may hold, with a one-line description each, for
// error messages and `cpbench sweep --help-config`.
const std::vector<std::pair<std::string, std::string>>& sweep_config_keys();

}  // namespace cpb

namespace cpb {

// Pools the repetitions of one case (result JSON as the runner wrote it, all status
// ok) into one result: step_seconds summarises the pooled samples, metrics.repetitions
// keeps each repetition's summary, and throughput is recomputed from the pooled
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
// True when no more repetitions are needed (see SweepRunOptions).
bool sweep_should_stop(const SweepRunOptions& run, const PoolProgress& p);

}  // namespace cpb
