// common/cuda_runtime: error messages name rank, host, file:line and the call;
// the tracking allocator's peak follows live bytes; the event timer measures.
#include "common/cuda_runtime.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace cpb {
namespace {

#define SKIP_WITHOUT_GPU() \
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device visible"

TEST(CudaCheck, MessageNamesRankHostFileLineAndCall) {
  // A call that fails with or without a GPU: device ordinal far past any machine.
  try {
    CPB_CUDA_CHECK(cudaSetDevice(100000));
    FAIL() << "cudaSetDevice(100000) succeeded";
  } catch (const InternalError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind("[rank ", 0), 0u) << msg;
    EXPECT_NE(msg.find("@"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cuda_runtime_test.cc:"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'cudaSetDevice(100000)' -> cudaError"), std::string::npos) << msg;
  }
  (void)cudaGetLastError();
}

TEST(CudaCheck, ProcessTagReadsLauncherRank) {
  setenv("OMPI_COMM_WORLD_RANK", "7", 1);
  EXPECT_EQ(process_tag().rfind("[rank 7@", 0), 0u) << process_tag();
  unsetenv("OMPI_COMM_WORLD_RANK");
}

TEST(DeviceAllocator, PeakFollowsLiveBytes) {
  SKIP_WITHOUT_GPU();
  DeviceAllocator alloc;
  {
    DeviceBuffer a(alloc, 1 << 20);
    DeviceBuffer b(alloc, 3 << 20);
    EXPECT_EQ(alloc.stats().current_bytes, 4 << 20);
    b.reset();
    DeviceBuffer c(alloc, 1 << 20);
    EXPECT_EQ(alloc.stats().current_bytes, 2 << 20);
    EXPECT_EQ(alloc.stats().peak_bytes, 4 << 20);
    EXPECT_EQ(alloc.stats().allocations, 3);
    DeviceBuffer moved = std::move(c);
    EXPECT_EQ(moved.bytes(), std::size_t{1} << 20);
    EXPECT_EQ(c.data(), nullptr);
  }
  EXPECT_EQ(alloc.stats().current_bytes, 0);
  EXPECT_EQ(alloc.stats().peak_bytes, 4 << 20);
  alloc.reset_peak();
  EXPECT_EQ(alloc.stats().peak_bytes, 0);
  // The driver sees at least what we hold (it also sees the CUDA context).
  DeviceBuffer d(alloc, 64 << 20);
  DriverMemoryView view = driver_memory_view();
  EXPECT_GT(view.total_bytes, 0);
  EXPECT_GE(view.used_bytes(), 64 << 20);
  EXPECT_GE(alloc.stats().driver_peak_used_bytes, 64 << 20);
}

TEST(DeviceAllocator, OutOfMemoryIsAnErrorNamingTheDriverView) {
  SKIP_WITHOUT_GPU();
  DeviceAllocator alloc;
  const auto total = static_cast<std::size_t>(driver_memory_view().total_bytes);
  try {
    (void)alloc.allocate(total * 4);
    FAIL() << "allocated 4x the device's memory";
  } catch (const InternalError& e) {
    EXPECT_NE(std::string(e.what()).find("driver:"), std::string::npos) << e.what();
  }
  EXPECT_EQ(alloc.stats().current_bytes, 0);
}

TEST(DeviceAllocator, ForeignPointerIsRejected) {
  SKIP_WITHOUT_GPU();
  DeviceAllocator alloc;
  int on_stack = 0;
  EXPECT_THROW(alloc.deallocate(&on_stack), InternalError);
}

TEST(CudaEventTimer, MeasuresDeviceWork) {
  SKIP_WITHOUT_GPU();
  DeviceAllocator alloc;
  CudaStream stream;
  const std::size_t bytes = 256 << 20;
  DeviceBuffer a(alloc, bytes), b(alloc, bytes);
  CudaEventTimer timer;
  timer.start(stream.get());
  for (int i = 0; i < 4; ++i)
    CPB_CUDA_CHECK(
        cudaMemcpyAsync(b.data(), a.data(), bytes, cudaMemcpyDeviceToDevice, stream.get()));
  timer.stop(stream.get());
  const double s = timer.seconds();
  // 2 GiB moved (read + write): more than 0.1 ms on any GPU, less than 10 s.
  EXPECT_GT(s, 1e-4);
  EXPECT_LT(s, 10.0);
  const CudaDeviceInfo info = cuda_device_info(0);
  EXPECT_FALSE(info.name.empty());
  EXPECT_GT(info.multiprocessors, 0);
}

}  // namespace
}  // namespace cpb
