// The flags that say what a case is, one definition for `run`, `model` and `plan`:
// the same names, defaults, checks and help (two copies had drifted: `model
// --kv-heads 0` was read as "left out" while `run` refused it). What only one
// command has (run's iterations and launch flags, model's single --kernel) stays
// with that command. Header-only, as bench/mask_flags.h.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

#include "bench/mask_flags.h"
#include "bench/options.h"
#include "common/limits.h"

namespace cpb::bench {

// CLI11 would wrap a negative into an unsigned seed (-1 -> 2^64-1): refuse it instead.
inline CLI::Validator non_negative() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        return s.find('-') == std::string::npos ? "" : "'" + s + "' is negative; seeds are >= 0";
      },
      "SEED >= 0", "non_negative");
}

struct CaseFlags {
  RunOptions opt;  // sizes, dtype, pass and degrees are read straight into it
  std::string masks = "causal", seqs = "1024", methods = "none", shardings = "contiguous",
              placement;
  MaskFlags mask_flags;
  uint64_t mask_seed = 0;
  int inner_ring = 1;
  // Optional flags reach the case only when given (a method's own default otherwise).
  CLI::Option *mask_seed_opt = nullptr, *inner_ring_opt = nullptr, *placement_opt = nullptr;

  // --mask, the mask parameter flags, --mask-seed, --seq, --heads, --kv-heads,
  // --head-dim, --dtype, --pass.
  void add_shape(CLI::App& app) {
    app.add_option("--mask", masks, "mask kind(s), comma list (default causal)");
    mask_flags.add(app);
    mask_seed_opt =
        app.add_option("--mask-seed", mask_seed, "document sampling seed (default: --seed, or 0)")
            ->check(non_negative());
    app.add_option("--seq", seqs, "sequence length(s) S, comma list, k/M suffixes (default 1024)");
    app.add_option("--heads", opt.heads_q, "query heads Hq (default 8)");
    // Left out, Hkv = Hq; an explicit 0 is refused rather than read as "left out".
    app.add_option("--kv-heads", opt.heads_kv, "key/value heads Hkv (default Hq)")
        ->check(CLI::Range(int64_t{1}, kMaxHeads));
    app.add_option("--head-dim", opt.head_dim, "head dim D (default 64)");
    app.add_option("--dtype", opt.dtype, "fp32 | bf16 | fp16 (default fp32)");
    app.add_option("--pass", opt.pass, "fwd | bwd | fwd+bwd (default fwd+bwd)");
  }

  // --method and --sharding; with `layout` also --degrees, --inner-ring, --placement.
  // Without it (plan, which enumerates layouts itself) the two lists only filter.
  void add_layout(CLI::App& app, bool layout) {
    app.add_option("--method", methods,
                   layout ? "CP method(s), comma list (default none)" : "only these methods");
    app.add_option(
        "--sharding", shardings,
        layout ? "sharding(s), comma list (default contiguous)" : "only these shardings");
    if (!layout) return;
    app.add_option("--degrees", opt.degrees, "u<U>r<R>, e.g. u2r2, u4, r4 (default auto)");
    // Given while no listed method reads it: exit 2 (plan_run).
    inner_ring_opt = app.add_option(
        "--inner-ring", inner_ring,
        "inner ring width W, for methods with a double ring (default: the method's)");
    placement_opt = app.add_option("--placement", placement,
                                   "contiguous | strided, for 2-D methods (default: the method's)");
  }

  // The options as given, lists split; values are checked where the cases are planned.
  RunOptions options() const {
    RunOptions o = opt;
    o.masks = split_list(masks, "--mask");
    o.seqs = parse_size_list(seqs, "--seq");
    o.methods = split_list(methods, "--method");
    o.shardings = split_list(shardings, "--sharding");
    o.mask_params = mask_flags.params();
    if (mask_seed_opt && mask_seed_opt->count()) o.mask_seed = mask_seed;
    if (inner_ring_opt && inner_ring_opt->count()) o.inner_ring = inner_ring;
    if (placement_opt && placement_opt->count()) o.placement = placement;
    return o;
  }
};

}  // namespace cpb::bench
