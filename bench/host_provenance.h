// Provenance that only the driver can gather: every rank's CPU model (a collective,
// so hosts with different CPUs are each named) and the GPUs, driver, CUDA runtime
// and NCCL versions. They live in bench/ because reports/ must not see CUDA, NCCL
// or the communicator; reports::Provenance receives them as plain data.
#pragma once

#include <string>
#include <vector>

#include "parallel/communicator.h"
#include "reports/report.h"

namespace cpb {

// World rank as the launcher announced it, known before MPI starts: only rank 0
// prints parse errors and collects provenance.
int launcher_rank();

// The MPI library's version line ("none" in a build without MPI).
std::string mpi_library_version();

// One string per world rank (collective: every rank calls it at the same point).
std::vector<std::string> gather_strings(Communicator& world, const std::string& mine);

// GPU models visible to this process and the driver / runtime / NCCL versions;
// null versions with a note saying why in a build without CUDA or NCCL, or on a
// machine without a GPU.
reports::GpuProvenance local_gpu_provenance();

}  // namespace cpb
