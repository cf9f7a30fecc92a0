// Limits on the sizes a user can ask for, and why (docs/cli.md, "Limits"). Every
// size read from a flag is checked against these before any arithmetic, so no
// product below overflows int64 and no value is silently clamped:
//   mask area              <= S^2               <= 2^60  (int64, exact)
//   one tensor's elements  S * H * D            <= 2^50  (its bytes <= 2^53)
//   FLOPs (double)         4 * area * D * Hq    <= 2^2 * 2^60 * 2^32 = 2^94, finite;
//                          exact below 2^53, within 2^-53 relative above.
// The sweep config (bench/sweep_config.cc) applies the same values to its keys.
#pragma once

#include <cstdint>

namespace cpb {

// Sequence length S in tokens: 2^30, as the CUDA kernels (int32 device indices).
// S^2 <= 2^60 keeps every mask area, and a sum of a few, inside int64.
inline constexpr int64_t kMaxSeq = int64_t{1} << 30;

// Query heads, key/value heads and head dim, each 2^16.
inline constexpr int64_t kMaxHeads = int64_t{1} << 16;
inline constexpr int64_t kMaxHeadDim = int64_t{1} << 16;

// Elements of one Q/K/V/O tensor, S * H * D: 2^50 is 4 PiB at fp32, beyond any
// machine, so such a case is refused up front (exit 2) instead of failing its
// allocation; and the byte counts of a few such tensors still fit int64.
inline constexpr int64_t kMaxTensorElements = int64_t{1} << 50;

// Warm-up and timed iterations per case (each timed one keeps a sample in memory).
inline constexpr int64_t kMaxIterations = 1000000;

// Per-case watchdog: 10^6 s (11.6 days). Longer is no watchdog at all; the
// nanosecond deadline must also fit int64 (2^63 ns is 292 years).
inline constexpr double kMaxTimeoutSeconds = 1e6;

// `cpbench mask --max-side`: the picture is side x side characters on stdout.
inline constexpr int64_t kMaxPictureSide = 1024;

}  // namespace cpb
