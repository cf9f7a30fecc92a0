#include "parallel/world.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "common/errors.h"
#include "parallel/self_communicator.h"

#ifdef CPB_HAVE_MPI
#include "parallel/mpi_check.h"
#include "parallel/mpi_communicator.h"
#endif
#ifdef CPB_HAVE_NCCL
#include "parallel/nccl_communicator.h"
#endif

namespace cpb {
namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

// World size announced by the launcher (Open MPI, PMIx, MPICH/Hydra, Slurm PMI).
int launcher_world_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS"}) {
    int n = env_int(name, 0);
    if (n > 0) return n;
  }
  return 0;
}

#ifdef CPB_HAVE_MPI
bool mpi_running() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}
#endif

}  // namespace

bool built_with_mpi() {
#ifdef CPB_HAVE_MPI
  return true;
#else
  return false;
#endif
}

bool launched_by_mpi() {
  for (const char* name :
       {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MPI_LOCALNRANKS"})
    if (std::getenv(name)) return true;
  return false;
}

bool built_with_nccl() {
#ifdef CPB_HAVE_NCCL
  return true;
#else
  return false;
#endif
}

std::unique_ptr<Communicator> make_world_communicator(int* argc, char*** argv,
                                                      std::string_view backend) {
  CPB_REQUIRE(backend == "auto" || backend == "self" || backend == "mpi" || backend == "nccl",
              "unknown communicator backend '{}'; allowed: auto, self, mpi, nccl", backend);
  if (backend == "nccl") {
#ifdef CPB_HAVE_NCCL
    // Bootstrap as "auto" would run (MPI under an MPI launch, else the world of
    // one); the NCCL world then carries the driver's collectives too.
    CPB_REQUIRE(built_with_mpi() || launcher_world_size() <= 1,
                "communicator 'nccl' under a launch of {} ranks needs MPI to bootstrap, and this "
                "build has none; run one rank (a world of one GPU)",
                launcher_world_size());
    std::unique_ptr<Communicator> boot = make_world_communicator(argc, argv, "auto");
    auto world = std::make_unique<NcclCommunicator>(*boot);
    world->own_bootstrap(std::move(boot));
    return world;
#else
    CPB_INPUT_ERROR(
        "communicator 'nccl' requested but this build has no NCCL (configure found no nccl.h "
        "and libnccl; set NCCL_ROOT); allowed: auto, self{}",
        built_with_mpi() ? ", mpi" : "");
#endif
  }
  bool want_mpi = backend == "mpi";
  if (backend == "auto") {
#ifdef CPB_HAVE_MPI
    want_mpi = launched_by_mpi() || mpi_running();
#endif
  }
  if (backend == "self")
    CPB_REQUIRE(launcher_world_size() <= 1,
                "communicator 'self' under a launch of {} ranks would run {} separate worlds; "
                "use 'auto' or 'mpi'",
                launcher_world_size(), launcher_world_size());
  if (!want_mpi) return std::make_unique<SelfCommunicator>();
#ifdef CPB_HAVE_MPI
  bool initialised_here = MpiCommunicator::init(argc, argv);
  auto world = std::make_unique<MpiCommunicator>(MPI_COMM_WORLD, /*owns_comm=*/false);
  world->set_finalize_on_destroy(initialised_here);
  return world;
#else
  (void)argc;
  (void)argv;
  CPB_INPUT_ERROR("communicator 'mpi' requested but this build has no MPI; allowed: auto, self{}",
                  built_with_nccl() ? ", nccl" : "");
#endif
}

std::string rank_tag() {
  int rank = -1;
#ifdef CPB_HAVE_MPI
  if (mpi_running()) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
#endif
  if (rank < 0) {
    rank = 0;
    for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"}) {
      int r = env_int(name, -1);
      if (r >= 0) {
        rank = r;
        break;
      }
    }
  }
  char host[256] = "?";
  gethostname(host, sizeof(host) - 1);
  host[sizeof(host) - 1] = '\0';
  return fmt::format("[rank {}@{}]", rank, host);
}

void abort_job(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
#ifdef CPB_HAVE_MPI
  if (mpi_running()) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::_Exit(code);
}

#ifdef CPB_HAVE_MPI
namespace detail {
void mpi_fail(const char* call, int code, const char* file, int line) {
  char text[MPI_MAX_ERROR_STRING] = "";
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS)
    std::snprintf(text, sizeof text, "MPI error %d", code);
  std::fprintf(stderr, "%s %s:%d: '%s' -> %s\n", rank_tag().c_str(), file, line, call, text);
  abort_job(1);
}
}  // namespace detail
#endif

}  // namespace cpb
