// Provenance: where and from what a report came (tool, commit, command, machine,
// environment). Collected once per process before the communicator starts (it may
// run `git`, and forking after MPI_Init is best avoided); the per-host table is
// filled later from the hostnames every rank reports.
#pragma once

#include <string>
#include <vector>

#include "reports/report.h"

namespace cpb::reports {

// Current time, UTC, ISO-8601 with second resolution: 2026-11-23T10:57:21Z.
std::string utc_now_iso8601();

std::string local_hostname();

// `model name` of this host's /proc/cpuinfo, or "unknown".
std::string local_cpu_model();

// Tool version, git commit and dirty flag (baked in when the binary was built; the
// source tree's current commit is kept beside it as a cross-check), command line, start time, CPU
// model and core count, compiler, relevant environment variables.
Provenance collect_local_provenance(const std::vector<std::string>& command_line);

// Environment variables a report keeps: OMPI_*, NCCL_*, CUDA_VISIBLE_DEVICES,
// OMP_NUM_THREADS (and the other OMP_* controls).
bool is_relevant_env(const std::string& name);

// hosts / ranks_per_host / world_size from one hostname per world rank; each host's
// cpu_model from its first rank's entry of cpu_model_per_rank when that is given.
void assign_hosts(Provenance& p, const std::vector<std::string>& hostname_per_rank,
                  const std::vector<std::string>& cpu_model_per_rank = {});

}  // namespace cpb::reports
