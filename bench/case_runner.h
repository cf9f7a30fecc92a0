// The case runner: one CaseSpec on every rank of `world`, collectively. It asks the
// method and kernel whether they can run the case (no -> status "unsupported", the
// same on every rank), builds this rank's shard filled by global index, warms up,
// times a FIXED number of iterations (barrier before each; a step's time is the max
// over ranks), gathers per-rank metrics, and optionally verifies against a
// single-rank cpu_reference run on rank 0. Every phase ends in an agreement, so an
// exception on one rank becomes status "error" on all of them instead of a hang.
#pragma once

#include <string>
#include <vector>

#include "bench/options.h"
#include "kernels/tolerance.h"
#include "parallel/communicator.h"
#include "parallel/watchdog.h"
#include "reports/report.h"

namespace cpb::bench {

// Verification is refused (skipped with this reason) above these sizes: the fp64
// reference is O(S^2 * H * D) on one rank, and the gather holds the full tensors.
inline constexpr int64_t kVerifyMaxSeq = 16384;
inline constexpr double kVerifyMaxFlops = 5e10;  // fwd+bwd FLOPs of the reference

// --verify passes iff max|x - ref| <= atol + rtol * max|ref| per tensor, with the
// CP row of the one tolerance table the test suites use (kernels/tolerance.h).

struct RunContext {
  Communicator* world = nullptr;
  std::vector<std::string> hostnames;  // one per world rank
  Watchdog* watchdog = nullptr;        // null: no time limit
};

// Collective over ctx.world. The returned result is complete on rank 0 (per-rank
// metrics and verification live there); other ranks get status and reason only.
reports::CaseResult run_case(const CaseSpec& spec, RunContext& ctx);

}  // namespace cpb::bench
