// NcclCommunicator as a world of one (the one-GPU machine's configuration): every
// op on device buffers and on staged host buffers, aliasing, split, stats, and
// ordering after work on the caller's compute stream. Skips without a GPU.
#include "parallel/nccl_communicator.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "parallel/self_communicator.h"

namespace cpb {
namespace {

class NcclWorldOfOne : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device visible";
    comm_ = std::make_unique<NcclCommunicator>(0);
  }
  // Device copy of `host`, tracked by the allocator.
  template <typename T>
  DeviceBuffer upload(const std::vector<T>& host) {
    DeviceBuffer d(alloc_, host.size() * sizeof(T));
    CPB_CUDA_CHECK(cudaMemcpy(d.data(), host.data(), d.bytes(), cudaMemcpyHostToDevice));
    return d;
  }
  template <typename T>
  std::vector<T> download(const DeviceBuffer& d) {
    std::vector<T> host(d.bytes() / sizeof(T));
    CPB_CUDA_CHECK(cudaMemcpy(host.data(), d.data(), d.bytes(), cudaMemcpyDeviceToHost));
    return host;
  }
  static std::vector<float> iota(std::size_t n, float start) {
    std::vector<float> v(n);
    std::iota(v.begin(), v.end(), start);
    return v;
  }

  DeviceAllocator alloc_;
  std::unique_ptr<NcclCommunicator> comm_;
};

TEST_F(NcclWorldOfOne, Identity) {
  EXPECT_EQ(comm_->backend(), "nccl");
  EXPECT_EQ(comm_->rank(), 0);
  EXPECT_EQ(comm_->size(), 1);
  EXPECT_FALSE(nccl_version().empty());
}

TEST_F(NcclWorldOfOne, P2PToSelfOnDeviceAndHost) {
  const auto src = iota(1000, 1.0f);
  DeviceBuffer d_send = upload(src), d_recv = upload(std::vector<float>(1000, -1.0f));
  std::vector<float> h_send = iota(77, 5.0f), h_recv(77, -1.0f);
  std::vector<P2POp> ops = {
      {.kind = P2POp::kSend,
       .peer = 0,
       .data = d_send.data(),
       .bytes = d_send.bytes(),
       .device = Device::kCuda},
      {.kind = P2POp::kRecv,
       .peer = 0,
       .data = d_recv.data(),
       .bytes = d_recv.bytes(),
       .device = Device::kCuda},
      {.kind = P2POp::kSend,
       .peer = 0,
       .data = h_send.data(),
       .bytes = 77 * sizeof(float),
       .device = Device::kCpu},
      {.kind = P2POp::kRecv,
       .peer = 0,
       .data = h_recv.data(),
       .bytes = 77 * sizeof(float),
       .device = Device::kCpu},
  };
  auto req = comm_->start_p2p(ops);
  req->wait();
  EXPECT_EQ(download<float>(d_recv), src);
  EXPECT_EQ(h_recv, h_send);
  const CommOpStats& s = comm_->stats()[CommOp::kP2P];
  EXPECT_EQ(s.calls, 1);
  EXPECT_EQ(s.bytes_sent, 0);  // to self: nothing leaves the rank (MPI convention)
  EXPECT_EQ(s.bytes_received, 0);
}

TEST_F(NcclWorldOfOne, CollectivesOnDevice) {
  const auto src = iota(4096, 0.5f);
  DeviceBuffer in = upload(src), out = upload(std::vector<float>(4096, -1.0f));
  comm_->all_to_all(in.data(), out.data(), in.bytes(), Device::kCuda);
  EXPECT_EQ(download<float>(out), src);
  comm_->all_gather(in.data(), out.data(), in.bytes(), Device::kCuda);
  EXPECT_EQ(download<float>(out), src);
  CPB_CUDA_CHECK(cudaMemset(out.data(), 0xff, out.bytes()));
  comm_->reduce_scatter_sum(in.as<float>(), out.as<float>(), 4096, Device::kCuda);
  EXPECT_EQ(download<float>(out), src);
  // Aliased all_to_all (send == recv) and in-place all_gather.
  comm_->all_to_all(in.data(), in.data(), in.bytes(), Device::kCuda);
  comm_->all_gather(in.data(), in.data(), in.bytes(), Device::kCuda);
  EXPECT_EQ(download<float>(in), src);
  for (CommOp op : {CommOp::kAllToAll, CommOp::kAllGather, CommOp::kReduceScatter}) {
    EXPECT_GE(comm_->stats()[op].calls, 1) << to_string(op);
    EXPECT_EQ(comm_->stats()[op].bytes_sent, 0) << to_string(op);
  }
}

TEST_F(NcclWorldOfOne, CollectivesOnStagedHostBuffers) {
  const auto src = iota(333, 2.0f);
  std::vector<float> out(333, -1.0f);
  comm_->all_to_all(src.data(), out.data(), 333 * sizeof(float), Device::kCpu);
  EXPECT_EQ(out, src);
  std::fill(out.begin(), out.end(), -1.0f);
  comm_->all_gather(src.data(), out.data(), 333 * sizeof(float), Device::kCpu);
  EXPECT_EQ(out, src);
  std::fill(out.begin(), out.end(), -1.0f);
  comm_->reduce_scatter_sum(src.data(), out.data(), 333, Device::kCpu);
  EXPECT_EQ(out, src);
}

TEST_F(NcclWorldOfOne, AllReduceBarrierAndWaitTime) {
  std::vector<double> v = {1.5, -2.0, 1e300};
  for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMax, ReduceOp::kMin}) {
    std::vector<double> w = v;
    comm_->all_reduce(w.data(), w.size(), op);
    EXPECT_EQ(w, v);
  }
  comm_->barrier();
  EXPECT_EQ(comm_->stats()[CommOp::kAllReduce].calls, 3);
  EXPECT_EQ(comm_->stats()[CommOp::kBarrier].calls, 1);
  EXPECT_GT(comm_->stats().wait_seconds(), 0.0);
  comm_->reset_stats();
  EXPECT_EQ(comm_->stats()[CommOp::kBarrier].calls, 0);
}

TEST_F(NcclWorldOfOne, SplitGivesAWorkingSubCommunicator) {
  auto sub = comm_->split(/*color=*/3, /*key=*/0);
  ASSERT_NE(sub, nullptr);
  EXPECT_EQ(sub->backend(), "nccl");
  EXPECT_EQ(sub->size(), 1);
  std::vector<double> x = {4.0};
  sub->all_reduce(x.data(), 1, ReduceOp::kSum);
  EXPECT_EQ(x[0], 4.0);
  EXPECT_THROW(comm_->split(-1, 0), InternalError);
}

TEST_F(NcclWorldOfOne, OrdersAfterTheComputeStream) {
  // A slow producer on a separate stream writes the send buffer; the comm stream
  // must wait for it, so the receiver sees the final value, not the stale one.
  CudaStream compute;
  comm_->set_compute_stream(compute.get());
  const std::size_t n = 64 << 20;  // 256 MiB of floats: a copy long enough to race
  DeviceBuffer big_src = upload(std::vector<float>(n, 3.0f));
  DeviceBuffer send = upload(std::vector<float>(n, 1.0f)), recv(alloc_, n * sizeof(float));
  for (int i = 0; i < 4; ++i)
    CPB_CUDA_CHECK(cudaMemcpyAsync(send.data(), big_src.data(), send.bytes(),
                                   cudaMemcpyDeviceToDevice, compute.get()));
  comm_->all_gather(send.data(), recv.data(), send.bytes(), Device::kCuda);
  std::vector<float> got = download<float>(recv);
  EXPECT_EQ(got.front(), 3.0f);
  EXPECT_EQ(got.back(), 3.0f);
}

TEST_F(NcclWorldOfOne, BootstrapOverAHostCommunicator) {
  // The same path multi-rank runs take (id by all_gather), with the self world.
  SelfCommunicator self;
  NcclCommunicator comm(self);
  EXPECT_EQ(comm.size(), 1);
  EXPECT_EQ(comm.device(), 0);
  std::vector<double> x = {1.0, 2.0};
  comm.all_reduce(x.data(), 2, ReduceOp::kMax);
  EXPECT_EQ(x, (std::vector<double>{1.0, 2.0}));
}

TEST(NcclCommunicator, NoGpuIsAnInputError) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a GPU is visible";
  SelfCommunicator self;
  EXPECT_THROW(NcclCommunicator comm(self), InputError);
}

}  // namespace
}  // namespace cpb
