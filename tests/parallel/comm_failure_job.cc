// A job that fails on purpose, for comm_failure_test.sh:
//   stall <timeout_s> <rank>  that rank sleeps past its watchdog while the others
//                              wait in a barrier (their watchdogs are 5x longer);
//   mpi_error <rank>          that rank makes an MPI call with an invalid peer;
//   die <rank>                that rank is killed by a signal (SIGKILL) mid-case.
// Each must stop the whole job quickly with a message naming the rank.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "parallel/mpi_check.h"
#include "parallel/watchdog.h"
#include "parallel/world.h"

int main(int argc, char** argv) {
  auto world = cpb::make_world_communicator(&argc, &argv, "mpi");
  const std::string mode = argc > 1 ? argv[1] : "";
  const int rank = world->rank();
  if (mode == "stall" && argc == 4) {
    const double timeout = std::atof(argv[2]);
    const int stalled = std::atoi(argv[3]) % world->size();
    cpb::Watchdog dog;
    cpb::Watchdog::Scope scope(dog, "stall_case", rank == stalled ? timeout : 5 * timeout);
    if (rank == stalled) sleep(60);
    world->barrier();
  } else if (mode == "mpi_error" && argc == 3) {
    const int failing = std::atoi(argv[2]) % world->size();
    world->barrier();
    int value = 1;
    if (rank == failing)
      CPB_MPI_CHECK(MPI_Send(&value, 1, MPI_INT, world->size() + 5, 0, MPI_COMM_WORLD));
    world->barrier();
  } else if (mode == "die" && argc == 3) {
    const int dying = std::atoi(argv[2]) % world->size();
    cpb::Watchdog dog;
    cpb::Watchdog::Scope scope(dog, "die_case", 30);  // the launcher must act long before
    world->barrier();
    if (rank == dying) raise(SIGKILL);
    world->barrier();
  } else {
    std::fprintf(stderr, "usage: %s stall <timeout_s> <rank> | mpi_error <rank> | die <rank>\n",
                 argv[0]);
    return 2;
  }
  std::printf("%s job finished without failing\n", cpb::rank_tag().c_str());
  return 0;
}
