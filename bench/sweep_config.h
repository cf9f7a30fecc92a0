// Sweep configs: a JSON file of per-axis value lists (kernel, method, mask, seqlen or
// tokens_per_rank, ...) expanded into the cartesian product of cases, then filtered by
// `exclude`/`only` rules. Layouts come from the CP method registry (each method's axes,
// sweep layouts and tag), so this file names no method.
// Decision: combinations that cannot exist by construction (a method that does not run
// at a world size, heads not a multiple of kv_heads) are dropped and counted, but an
// axis value that survives in NO combination is an InputError: it is a typo, not a
// sweep. Expansion is linear in the cases it makes, and a config whose product exceeds
// kMaxSweepCases is refused before anything is built. bench/configs/README.md
// documents every key.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "reports/pool.h"

namespace cpb {

// Largest product of a config's axes (before exclude/only rules) it may expand to.
inline constexpr int64_t kMaxSweepCases = 200000;

// One point of the sweep, already normalised through the method's registry entry:
// axes a method does not read carry its implied values (CpMethod::normalise), and a
// world of one rank has one shard, so its sharding is "contiguous": equal cases compare
// equal and are made once.
struct SweepCase {
  std::string kernel;
  std::string method;    // CP method name; "none" = single-rank kernel baseline
  std::string sharding;  // sharding name; "contiguous" on world 1
  int world = 1;         // ranks taking part (the first `world` ranks of the launch)
  int ulysses = 1;       // head-parallel degree
  int ring = 1;          // context-parallel degree
  int inner_ring = 1;    // inner ring width W (divides ring)
  std::string placement = "contiguous";  // contiguous | strided (methods reading it)
  nlohmann::json mask;                   // a MaskSpec as JSON (masks/mask_spec.h)
  int64_t seqlen = 0;
  int64_t tokens_per_rank = 0;  // set when the config gives tokens_per_rank (S = it x world)
  int64_t heads = 0;            // query heads Hq
  int64_t kv_heads = 0;         // key/value heads Hkv (Hq % Hkv == 0)
  int64_t head_dim = 0;
  std::string dtype;  // fp32 | bf16 | fp16
  std::string pass;   // fwd | bwd | fwd+bwd
  // mask_samples: cases that differ only in the mask seed share a group (an index into
  // SweepConfig::sample_groups); -1 when the case is not one of several samples.
  int sample_group = -1;

  // Canonical parameters (sorted keys); equal cases give equal JSON.
  nlohmann::json to_json() const;
  // Short human-readable label for progress lines: method, world and the layout tag,
  // sharding, kernel, the mask with its parameters (seed included), sizes.
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
// that check (unit tests of the pure parser; CP methods are always checked against
// the registry, since their layouts come from it). ranks_per_node: what the launcher
// says (0: unknown), used by degree rules when the config gives no ranks_per_node.
struct SweepNames {
  std::vector<std::string> kernels, methods, shardings, mask_kinds;
  int ranks_per_node = 0;
};

struct SweepConfig {
  std::string source;  // file name, for messages
  std::string name, description;
  SweepRunOptions run;
  nlohmann::json raw;  // the file as given, echoed into the report
  std::vector<SweepCase> cases;
  // Why product points were not turned into cases: reason -> count.
  std::map<std::string, int64_t> dropped;
  // mask_samples > 1: one entry per group of cases that differ only in the mask seed,
  // the seeds in order (cases[i].sample_group indexes this).
  struct SampleGroup {
    std::vector<uint64_t> seeds;
  };
  std::vector<SampleGroup> sample_groups;
  int mask_samples = 1;
};

// Evaluates a degree rule such as "min(world, ranks_per_node)": integers, the names in
// `vars`, + - * / % (division rounds down, % takes the divisor's sign), parentheses,
// min(...), max(...).
// InputError naming `text` for a syntax error, an unknown name (listing `vars`),
// division by zero or a result beyond int64.
int64_t eval_degree_rule(const std::string& text, const std::map<std::string, int64_t>& vars);

// The mask_samples summary of one group (reports/SCHEMA.md, "mask_samples"): its id (a
// sample's id with the seed written as "seed=*"), each sample's id, seed and status,
// and over the samples that ran ok the mean, population stdev, min and max of the
// median step time and of TFLOP/s per rank. `samples`: the group's case records as
// in the report, in seed order (at least one).
nlohmann::json summarise_mask_samples(const std::vector<nlohmann::json>& samples);

// How the planner treats layouts. kSweep enumerates: each method's sweep_layouts (or
// those the degree entries pick), only where it runs_on the world, one shard on world 1.
// kRun is `cpbench run`, a sweep of exactly what was asked: each method at its
// default_layout even where it cannot run (the runner records it unsupported, with the
// reason), shardings kept as given; its one `degrees` entry (integers: --degrees,
// --inner-ring) and `placement` apply as run's flags do (bench::resolve_degrees), and
// timeout_s 0 disables the watchdog.
enum class PlanMode { kSweep, kRun };

// Parses and expands; throws InputError naming `source`, the key and what is allowed.
SweepConfig parse_sweep_config(const nlohmann::json& j, const std::string& source,
                               const SweepNames& names = {}, PlanMode mode = PlanMode::kSweep);
// Reads `path` (InputError when unreadable or not JSON) and parses it.
SweepConfig load_sweep_config(const std::string& path, const SweepNames& names = {});

// The top-level keys a sweep config may hold, with a one-line description each, for
// error messages and the end of `cpbench sweep --help`.
const std::vector<std::pair<std::string, std::string>>& sweep_config_keys();

}  // namespace cpb

namespace cpb {

// Pooling repetitions and its progress live with the report fields they pool.
using reports::pool_progress;
using reports::pool_repetitions;
using reports::PoolProgress;

// True when no more repetitions are needed (see SweepRunOptions).
bool sweep_should_stop(const SweepRunOptions& run, const PoolProgress& p);

}  // namespace cpb
