// gtest main for tests run under real mpirun: every rank runs every test, and the
// process exit code is the max over ranks, so an assertion failing on any rank
// fails the ctest. Only rank 0 prints the full log; other ranks print their
// failures with their rank tag. A watchdog bounds the whole binary: a rank that
// left a test early (failed ASSERT) and skipped a collective would otherwise hang.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>
#include <cstdlib>

#include "parallel/mpi_communicator.h"
#include "parallel/watchdog.h"
#include "parallel/world.h"

namespace {

class RankFailurePrinter : public testing::EmptyTestEventListener {
 public:
  void OnTestPartResult(const testing::TestPartResult& r) override {
    if (!r.failed()) return;
    std::fprintf(stderr, "%s %s:%d: failure\n%s\n", cpb::rank_tag().c_str(),
                 r.file_name() ? r.file_name() : "?", r.line_number(), r.summary());
  }
};

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  cpb::MpiCommunicator::init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) {
    auto& listeners = testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailurePrinter);
  }
  double limit = 240;  // cpb_add_mpi_test sets it to the ctest TIMEOUT - 20, so our message wins
  if (const char* s = std::getenv("CPB_TEST_WATCHDOG_S")) limit = std::atof(s);
  int failed = 0;
  {
    cpb::Watchdog dog;
    cpb::Watchdog::Scope scope(dog, argv[0], limit);
    failed = RUN_ALL_TESTS();
  }
  int failed_here = failed;
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0 && failed && !failed_here)
    std::fprintf(stderr, "FAILED on another rank: see the [rank R@host] lines above\n");
  MPI_Finalize();
  return failed;
}
