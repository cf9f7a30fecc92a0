// Watchdog in process (expiry recorded, not aborting), and the world factory's
// choices outside mpirun. The job-stopping behaviour under mpirun is tested by
// comm_failure_test.sh with comm_failure_job.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "common/errors.h"
#include "parallel/watchdog.h"
#include "parallel/world.h"

namespace cpb {
namespace {

using namespace std::chrono_literals;

struct Recorder {
  std::mutex mutex;
  std::vector<std::string> messages;
  Watchdog::OnExpire callback() {
    return [this](const std::string& m) {
      std::lock_guard<std::mutex> lock(mutex);
      messages.push_back(m);
    };
  }
  std::vector<std::string> get() {
    std::lock_guard<std::mutex> lock(mutex);
    return messages;
  }
};

// Deadlines and sleeps leave a loaded machine (MPI ranks oversubscribing 2 cores) room
// to wake a thread late: the expiry is awaited, not assumed after a fixed sleep, and a
// deadline that must not pass is 800 ms beyond the next re-arm, not 100 ms.
TEST(Watchdog, FiresOnceWithRankAndCase) {
  Recorder rec;
  Watchdog dog(rec.callback());
  const auto t0 = std::chrono::steady_clock::now();
  dog.arm("ring_p2p causal S=1024", 0.2);
  for (int i = 0; i < 1000 && rec.get().empty(); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 200ms);  // not before its deadline
  std::this_thread::sleep_for(600ms);
  const auto got = rec.get();
  ASSERT_EQ(got.size(), 1u);  // fires once, not again every period
  EXPECT_NE(got[0].find("[rank "), std::string::npos) << got[0];
  EXPECT_NE(got[0].find("watchdog: case 'ring_p2p causal S=1024' exceeded 0.2 s"),
            std::string::npos)
      << got[0];
}

TEST(Watchdog, DisarmAndRearmCancelTheDeadline) {
  Recorder rec;
  Watchdog dog(rec.callback());
  dog.arm("a", 1.0);
  std::this_thread::sleep_for(100ms);
  dog.disarm();
  dog.arm("b", 1.0);  // restarts the countdown
  std::this_thread::sleep_for(200ms);
  dog.arm("c", 1.0);
  std::this_thread::sleep_for(200ms);
  {
    Watchdog::Scope scope(dog, "d", 1.0);
    std::this_thread::sleep_for(100ms);
  }
  std::this_thread::sleep_for(1200ms);  // past every deadline, all cancelled
  EXPECT_TRUE(rec.get().empty());
  dog.arm("zero disables", 0);
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(rec.get().empty());
}

TEST(Watchdog, ScopeDisarmsWhenTheCaseThrows) {
  Recorder rec;
  Watchdog dog(rec.callback());
  try {
    Watchdog::Scope scope(dog, "throws", 0.2);
    throw InputError("bad case");
  } catch (const InputError&) {
  }
  std::this_thread::sleep_for(400ms);
  EXPECT_TRUE(rec.get().empty());
}

TEST(Watchdog, DestroyWhileArmedDoesNotFire) {
  Recorder rec;
  {
    Watchdog dog(rec.callback());
    dog.arm("x", 0.3);
  }
  std::this_thread::sleep_for(500ms);
  EXPECT_TRUE(rec.get().empty());
}

TEST(World, AutoOutsideALauncherIsSelf) {
  if (launched_by_mpi()) GTEST_SKIP() << "run under an MPI launcher";
  int argc = 0;
  char** argv = nullptr;
  auto world = make_world_communicator(&argc, &argv, "auto");
  EXPECT_EQ(world->backend(), "self");
  EXPECT_EQ(world->size(), 1);
  EXPECT_EQ(world->rank(), 0);
  EXPECT_EQ(make_world_communicator(&argc, &argv, "self")->backend(), "self");
}

TEST(World, RejectsUnknownBackend) {
  int argc = 0;
  char** argv = nullptr;
  try {
    make_world_communicator(&argc, &argv, "tcp");
    FAIL() << "no throw";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'tcp'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("auto, self, mpi"), std::string::npos) << e.what();
  }
  if (!built_with_mpi()) {
    EXPECT_THROW(make_world_communicator(&argc, &argv, "mpi"), InputError);
  }
}

TEST(World, RankTagNamesRankAndHost) {
  const std::string tag = rank_tag();
  EXPECT_EQ(tag.rfind("[rank ", 0), 0u) << tag;
  EXPECT_NE(tag.find('@'), std::string::npos) << tag;
  EXPECT_EQ(tag.back(), ']') << tag;
}

}  // namespace
}  // namespace cpb
