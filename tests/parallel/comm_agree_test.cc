// Collective agreement and the world factory under real mpirun.
#include <gtest/gtest.h>
#include <mpi.h>

#include "common/errors.h"
#include "parallel/agree.h"
#include "parallel/mpi_communicator.h"
#include "parallel/world.h"

namespace cpb {
namespace {

std::unique_ptr<Communicator> world_dup() {
  MPI_Comm comm;
  MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  return std::make_unique<MpiCommunicator>(comm, /*owns_comm=*/true);
}

TEST(Agree, AllOkWhenEveryRankIsOk) {
  auto comm = world_dup();
  Agreement a = agree(*comm, 0, "");
  EXPECT_EQ(a.code, 0);
  EXPECT_EQ(a.rank, -1);
  EXPECT_EQ(a.reason, "");
  EXPECT_EQ(comm->stats()[CommOp::kAllReduce].calls, 1);  // the cheap path
  EXPECT_EQ(comm->stats()[CommOp::kAllGather].calls, 0);
  EXPECT_TRUE(all_ok(*comm, true));
}

TEST(Agree, WorstCodeAndLowestReportingRankWin) {
  auto comm = world_dup();
  const int p = comm->size(), r = comm->rank();
  // Last rank reports 2 ("unsupported"), every odd rank 1 ("error"): all agree on 2.
  int code = r == p - 1 ? 2 : (r % 2 == 1 ? 1 : 0);
  std::string reason = code ? fmt::format("rank {} says code {}", r, code) : "";
  Agreement a = agree(*comm, code, reason);
  EXPECT_EQ(a.code, 2);
  EXPECT_EQ(a.rank, p - 1);
  EXPECT_EQ(a.reason, fmt::format("rank {} says code 2", p - 1));
  // Two ranks with the worst code: the lower one's reason is kept.
  if (p >= 3) {
    int c = r >= 1 ? 3 : 0;
    Agreement b = agree(*comm, c, fmt::format("from {}", r));
    EXPECT_EQ(b.code, 3);
    EXPECT_EQ(b.rank, 1);
    EXPECT_EQ(b.reason, "from 1");
  }
  EXPECT_FALSE(all_ok(*comm, r != 0));
  EXPECT_FALSE(all_ok(*comm, r != p - 1));
}

TEST(Agree, LongReasonIsTruncated) {
  auto comm = world_dup();
  std::string longer(2 * kMaxReasonBytes, 'x');
  Agreement a = agree(*comm, 1, longer);
  EXPECT_EQ(a.rank, 0);
  EXPECT_EQ(a.reason.size(), kMaxReasonBytes);
}

// A failure on one rank outside a case (rank 0's journal, say): every rank throws the
// same AgreedError, with the failing rank's status and message, none waits.
TEST(Agree, RaiseIfAnyThrowsTheFailingRanksErrorOnEveryRank) {
  auto comm = world_dup();
  const int p = comm->size(), r = comm->rank();
  EXPECT_NO_THROW(raise_if_any(*comm, 0, ""));
  const int failing = p - 1;
  try {
    raise_if_any(*comm, r == failing ? 3 : 0, r == failing ? "disk full" : "");
    ADD_FAILURE() << "rank " << r << " did not throw";
  } catch (const AgreedError& e) {
    EXPECT_EQ(e.exit_code(), 3);
    EXPECT_EQ(std::string(e.what()),
              failing == 0 ? std::string("disk full") : fmt::format("rank {}: disk full", failing));
  }
  // The worst status wins: a write failure (3) over bad input (2).
  if (p >= 2) {
    try {
      raise_if_any(*comm, r == 0 ? 2 : (r == 1 ? 3 : 0), fmt::format("from {}", r));
      ADD_FAILURE() << "rank " << r << " did not throw";
    } catch (const AgreedError& e) {
      EXPECT_EQ(e.exit_code(), 3);
      EXPECT_EQ(std::string(e.what()), "rank 1: from 1");
    }
  }
}

TEST(World, AutoUnderMpirunIsMpi) {
  int argc = 0;
  char** argv = nullptr;
  auto world = make_world_communicator(&argc, &argv, "auto");
  int p = 0, r = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &p);
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  EXPECT_EQ(world->backend(), "mpi");
  EXPECT_EQ(world->size(), p);
  EXPECT_EQ(world->rank(), r);
  world->barrier();
  if (p > 1)
    EXPECT_THROW(make_world_communicator(&argc, &argv, "self"), InputError);
  else
    EXPECT_EQ(make_world_communicator(&argc, &argv, "self")->backend(), "self");
}

}  // namespace
}  // namespace cpb
