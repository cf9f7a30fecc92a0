// Driver configuration: RunOptions is what the user asked for (comma lists allowed
// on the sweep axes); expand_cases() turns it into CaseSpecs, one fully resolved
// case each, validated before anything runs so bad input fails in a second with
// exit 2. `run` is a sweep of one config: plan_run() writes its options as a sweep
// config that the sweep planner expands (bench/sweep_config.h, PlanMode::kRun), and
// both commands turn a planned point into a CaseSpec with case_spec().
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bench/sweep_config.h"
#include "masks/mask_spec.h"
#include "parallel/cp_method.h"

namespace cpb::bench {

enum class Pass { kForward, kBackward, kForwardBackward };
std::string to_string(Pass p);
Pass parse_pass(const std::string& s);  // fwd | bwd | fwd+bwd; InputError otherwise

// Parallel degrees as the user wrote them: "u2r2", "u4", "r4", or "auto" (empty).
// Unset parts are derived per method from the world size (see resolve_degrees).
struct Degrees {
  std::optional<int> ulysses, ring;
  bool operator==(const Degrees&) const = default;
};
Degrees parse_degrees(const std::string& s);  // InputError naming the bad text
std::string to_string(const Degrees& d);

// Degrees a method gets on `world` ranks, read from the registry: the method's
// default_layout(world), with the given ulysses/ring on the axes it reads. A given
// value on an axis the method fixes (u2 for a method that always runs u = P) is
// kept only when it differs from the implied one, so the method's supports()
// reports the case unsupported; an agreeing value changes nothing (ids stay equal).
// Throws InputError for a method that is not registered.
void resolve_degrees(const std::string& method, int world, const Degrees& given, CpConfig& cfg);

// Compact layout of a case for ids and tables: "P<world>" then, when the method
// reads layout axes, "-" and its layout_tag ("P4-u2r2", "P8-u2r4w2-strided"). A
// layout the method cannot run (a contradicting --degrees) appends the full
// "-u<U>r<R>w<W>" so such a case never shares an id with the one it contradicts.
std::string layout_id(const std::string& method, const CpConfig& cfg);

// Mask parameters given on the command line; unset ones are not applied.
struct MaskParams {
  std::map<std::string, nlohmann::json> values;  // MaskSpec JSON key -> value
};

struct RunOptions {
  std::vector<std::string> kernels = {"cpu_flash"};
  std::vector<std::string> masks = {"causal"};
  MaskParams mask_params;
  std::vector<int64_t> seqs = {1024};
  std::vector<std::string> methods = {"none"};
  std::vector<std::string> shardings = {"contiguous"};
  int64_t heads_q = 8, heads_kv = 0;  // heads_kv 0 = heads_q
  int64_t head_dim = 64;
  std::string dtype = "fp32";
  std::string pass = "fwd+bwd";
  int warmup = 1, iters = 5;
  uint64_t seed = 0;
  std::optional<uint64_t> mask_seed;  // default: seed
  bool verify = false;
  std::string out;  // report path; "" = no file
  std::string degrees;
  // Unset: the method's own value. Given while no listed method reads the axis
  // (CpMethod::axes), expand_cases refuses it; methods that ignore it never see it.
  std::optional<int> inner_ring;
  std::optional<std::string> placement;
  double timeout_seconds = 600;  // per case, watchdog; <= 0 disables
  bool keep_samples = false;     // per-iteration step times into the report
  int repeat = 1;                // repetitions per case, samples pooled (as a sweep's)
  // The sweep's stopping rule (SweepRunOptions): 0 leaves a bound off.
  double min_time_s = 0, max_cv = 0;
  int max_repeat = 0;
  int mask_samples = 1;       // seeds per random mask, summarised per group (as a sweep's)
  std::string comm = "auto";  // world communicator backend

  nlohmann::json to_json() const;  // echoed into the report's config
};

// One case, fully resolved (mask spec built and checked, names checked).
struct CaseSpec {
  std::string kernel;
  MaskSpec mask;
  int64_t seq = 0;
  int64_t heads_q = 0, heads_kv = 0, head_dim = 0;
  DType dtype = DType::kF32;
  Pass pass = Pass::kForwardBackward;
  int warmup = 0, iters = 1;
  uint64_t seed = 0;
  bool verify = false;
  std::string method;
  CpConfig cp;  // world, degrees, inner ring, placement, sharding
  double timeout_seconds = 0;
  bool keep_samples = false;  // keep per-iteration step times in the report

  std::string id() const;  // stable, human-readable key
  nlohmann::json params_json() const;
};

// `run` as a sweep of one config: validates every value (names against the
// registries, sizes, Hq % Hkv, mask parameters against each kind, window <= S via
// make_mask), writes the options as that config (comma lists are axes; sizes, dtype,
// pass, measurement and --repeat are scalars; --degrees / --inner-ring / --placement
// its layout keys) and plans it with the sweep planner (PlanMode::kRun: methods x
// shardings x kernels x masks x seqs, in that nesting order, as a sweep orders them).
// Throws InputError naming the first bad value and what is allowed.
SweepConfig plan_run(const RunOptions& opt, int world);
// The cases of plan_run, as the runner takes them.
std::vector<CaseSpec> expand_cases(const RunOptions& opt, int world);

// The case parameters of a planned point (kernel, mask, sizes, dtype, pass, method,
// layout, sharding); the measurement fields (warmup, iters, seed, verify, timeout,
// keep_samples) are the caller's.
CaseSpec case_spec(const SweepCase& c);
// A planned point as the runner takes it: case_spec(c) measured as `run` says
// (samples are kept when repetitions will pool them).
CaseSpec case_spec(const SweepCase& c, const SweepRunOptions& run);

// The mask spec of `kind` with the command-line parameters it uses; a parameter
// that none of the listed kinds uses is rejected in expand_cases.
MaskSpec build_mask_spec(const std::string& kind, const MaskParams& params, uint64_t seed);

// "1024,4k,1M" -> {1024, 4096, 1048576} (k/K = 1024, m/M = 1024^2); InputError
// naming `flag` and the bad item otherwise (also for values < 1).
std::vector<int64_t> parse_size_list(const std::string& s, const std::string& flag);

// "a,b,c" -> {"a","b","c"}; empty items rejected with `what` named.
std::vector<std::string> split_list(const std::string& s, const std::string& what);

}  // namespace cpb::bench
