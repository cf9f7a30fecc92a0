// The world communicator and job-wide failure: which backend a run gets, how a
// rank names itself in messages, and how one rank stops the whole job. Kept free
// of <mpi.h> so GPU builds without MPI (and the driver) include it unconditionally.
// "auto" picks MPI only when built with it AND launched by an MPI launcher (or MPI
// is already initialised); a plain `./cpbench` gets the in-process self world.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "parallel/communicator.h"

namespace cpb {

// True when this build has the MPI backend.
bool built_with_mpi();
// True when this build has the NCCL backend (CUDA and NCCL found at configure time).
bool built_with_nccl();
// True when the environment says an MPI launcher (mpirun, mpiexec, srun --mpi)
// started this process.
bool launched_by_mpi();

// backend: "auto", "self", "mpi" or "nccl". The MPI world initialises MPI (with
// MPI_THREAD_MULTIPLE requested, so the watchdog thread may abort) unless the
// caller already did, and finalises it on destruction only if it initialised it:
// destroy every communicator split from it first. "nccl" (never chosen by "auto")
// is an NcclCommunicator bootstrapped over MPI under an MPI launch, else a world of
// one; it owns its bootstrap. Throws InputError for an unknown backend, "mpi" or
// "nccl" in a build without it, "self" under a multi-rank launch, and (from the
// NCCL constructor) a rank without a GPU or more ranks than GPUs on a host.
std::unique_ptr<Communicator> make_world_communicator(int* argc, char*** argv,
                                                      std::string_view backend = "auto");

// "[rank R@host]" with R the world rank (0 when not under MPI): prefix of every
// fatal message so a log of many ranks says who failed.
std::string rank_tag();

// Stops the whole job: MPI_Abort on MPI_COMM_WORLD when MPI is running, else
// _Exit(code). Flushes stdout/stderr first.
[[noreturn]] void abort_job(int code);

}  // namespace cpb
