// CPB_MPI_CHECK(call): every MPI call goes through it. Communicators are switched
// to MPI_ERRORS_RETURN so the failure reaches us: we print
// `[rank R@host] file:line: 'call' -> <MPI error string>` and MPI_Abort the whole
// job, because one rank exiting alone would leave the others hanging in collectives.
#pragma once

#include <mpi.h>

namespace cpb::detail {
[[noreturn]] void mpi_fail(const char* call, int code, const char* file, int line);
}  // namespace cpb::detail

#define CPB_MPI_CHECK(call)                                            \
  do {                                                                 \
    int cpb_mpi_rc_ = (call);                                          \
    if (cpb_mpi_rc_ != MPI_SUCCESS)                                    \
      ::cpb::detail::mpi_fail(#call, cpb_mpi_rc_, __FILE__, __LINE__); \
  } while (0)
