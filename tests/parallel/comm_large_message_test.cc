// Messages above INT_MAX bytes through the default chunking (MPI counts are int),
// and a bandwidth print for host and staged device buffers. Memory heavy (about
// 7 GiB per rank), so it runs only with CPB_TEST_LARGE_MESSAGES=1; otherwise skips.
#include <gtest/gtest.h>
#include <mpi.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <vector>

#include "parallel/device_copy.h"
#include "parallel/mpi_communicator.h"

#ifdef CPB_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace cpb {
namespace {

bool enabled() {
  const char* v = std::getenv("CPB_TEST_LARGE_MESSAGES");
  return v && std::string(v) == "1";
}

std::unique_ptr<Communicator> world_dup() {
  MPI_Comm comm;
  MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  return std::make_unique<MpiCommunicator>(comm, /*owns_comm=*/true);
}

uint8_t byte_at(int rank, std::size_t i) {
  return static_cast<uint8_t>((i * 2654435761u) >> 13) ^ rank;
}

TEST(LargeMessages, P2PAndAllGatherAboveIntMax) {
  if (!enabled()) GTEST_SKIP() << "set CPB_TEST_LARGE_MESSAGES=1";
  auto comm = world_dup();
  const int p = comm->size(), r = comm->rank();
  const std::size_t n = std::size_t{INT_MAX} + 3;
  std::vector<uint8_t> send(n), recv(n);
  for (std::size_t i = 0; i < n; ++i) send[i] = byte_at(r, i);
  const int next = (r + 1) % p, prev = (r + p - 1) % p;
  std::vector<P2POp> ops = {{.kind = P2POp::kSend, .peer = next, .data = send.data(), .bytes = n},
                            {.kind = P2POp::kRecv, .peer = prev, .data = recv.data(), .bytes = n}};
  comm->start_p2p(ops)->wait();
  std::size_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) bad += recv[i] != byte_at(prev, i);
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(comm->stats()[CommOp::kP2P].bytes_sent, p > 1 ? int64_t(n) : 0);
  recv = {};
  std::vector<uint8_t> gathered(n * p);
  comm->all_gather(send.data(), gathered.data(), n, Device::kCpu);
  bad = 0;
  for (int s = 0; s < p; ++s)
    for (std::size_t i = 0; i < n; i += 4099) bad += gathered[s * n + i] != byte_at(s, i);
  for (std::size_t i = n - 4096; i < n; ++i) bad += gathered[(p - 1) * n + i] != byte_at(p - 1, i);
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(comm->stats()[CommOp::kAllGather].bytes_received, int64_t(n) * (p - 1));
}

// Ring exchange of 256 MiB per rank, 5 repetitions: prints the best GB/s per rank.
TEST(LargeMessages, RingBandwidth) {
  if (!enabled()) GTEST_SKIP() << "set CPB_TEST_LARGE_MESSAGES=1";
  auto comm = world_dup();
  const int p = comm->size(), r = comm->rank();
  const std::size_t n = std::size_t{256} << 20;
  std::vector<Device> devices = {Device::kCpu};
#ifdef CPB_HAVE_CUDA
  int gpus = 0;
  if (cudaGetDeviceCount(&gpus) == cudaSuccess && gpus > 0) devices.push_back(Device::kCuda);
#endif
  for (Device dev : devices) {
    void *send = nullptr, *recv = nullptr;
    std::vector<uint8_t> hs, hr;
    if (dev == Device::kCpu) {
      hs.assign(n, 1);
      hr.assign(n, 0);
      send = hs.data();
      recv = hr.data();
    }
#ifdef CPB_HAVE_CUDA
    if (dev == Device::kCuda) {
      cudaMalloc(&send, n);
      cudaMalloc(&recv, n);
      cudaMemset(send, 1, n);
    }
#endif
    std::vector<P2POp> ops = {
        {.kind = P2POp::kSend, .peer = (r + 1) % p, .data = send, .bytes = n, .device = dev},
        {.kind = P2POp::kRecv, .peer = (r + p - 1) % p, .data = recv, .bytes = n, .device = dev}};
    double best = 1e30;
    for (int it = 0; it < 5; ++it) {
      comm->barrier();
      auto t0 = std::chrono::steady_clock::now();
      comm->start_p2p(ops)->wait();
      double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      comm->all_reduce(&t, 1, ReduceOp::kMax);
      best = std::min(best, t);
    }
    if (r == 0)
      std::printf("ring p2p P=%d %s buffers, %zu MiB per rank: best %.4f s, %.2f GB/s per rank\n",
                  p, dev == Device::kCpu ? "host" : "device (staged)", n >> 20, best,
                  n / best / 1e9);
#ifdef CPB_HAVE_CUDA
    if (dev == Device::kCuda) {
      cudaFree(send);
      cudaFree(recv);
    }
#endif
  }
}

}  // namespace
}  // namespace cpb
