// NcclCommunicator with several ranks, bootstrapped over MPI (one GPU per rank):
// exact data for every op and byte counts identical to the mpi backend's, op by
// op, so reports compare backends. Runs under mpirun (label gpu) and skips, on
// every rank alike, where the host has fewer GPUs than ranks.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "parallel/mpi_communicator.h"
#include "parallel/nccl_communicator.h"

namespace cpb {
namespace {

// Every rank must take the same decision, or some would wait in ncclCommInitRank.
bool all_ranks_have_a_gpu() {
  int p = 1, ok = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &p);
  ok = cuda_device_count() >= p ? 1 : 0;  // ctest runs every rank on one host
  MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return ok == 1;
}

std::unique_ptr<MpiCommunicator> dup_world() {
  MPI_Comm c;
  MPI_Comm_dup(MPI_COMM_WORLD, &c);
  return std::make_unique<MpiCommunicator>(c, /*owns_comm=*/true);
}

class NcclMpi : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!all_ranks_have_a_gpu()) GTEST_SKIP() << "fewer GPUs than ranks on this host";
    mpi_ = dup_world();
    nccl_ = std::make_unique<NcclCommunicator>(*mpi_);
    mpi_->reset_stats();  // the bootstrap's all_gathers are not part of the tests
    p_ = nccl_->size();
    r_ = nccl_->rank();
  }
  DeviceBuffer upload(const std::vector<float>& h) {
    DeviceBuffer d(alloc_, h.size() * sizeof(float));
    CPB_CUDA_CHECK(cudaMemcpy(d.data(), h.data(), d.bytes(), cudaMemcpyHostToDevice));
    return d;
  }
  std::vector<float> download(const DeviceBuffer& d) {
    std::vector<float> h(d.bytes() / sizeof(float));
    CPB_CUDA_CHECK(cudaMemcpy(h.data(), d.data(), d.bytes(), cudaMemcpyDeviceToHost));
    return h;
  }
  // Value that rank `r` puts at element `i` of block `b`.
  static float value(int r, int b, std::size_t i) {
    return static_cast<float>(r * 1000 + b * 100) + static_cast<float>(i % 97);
  }
  // Both backends saw the same op sequence: their counters must agree exactly.
  void expect_same_bytes(CommOp op) {
    EXPECT_EQ(nccl_->stats()[op].calls, mpi_->stats()[op].calls) << to_string(op);
    EXPECT_EQ(nccl_->stats()[op].bytes_sent, mpi_->stats()[op].bytes_sent) << to_string(op);
    EXPECT_EQ(nccl_->stats()[op].bytes_received, mpi_->stats()[op].bytes_received) << to_string(op);
  }

  DeviceAllocator alloc_;
  std::unique_ptr<MpiCommunicator> mpi_;
  std::unique_ptr<NcclCommunicator> nccl_;
  int p_ = 1, r_ = 0;
};

TEST_F(NcclMpi, RingP2PMatchesMpiBytes) {
  const std::size_t n = 1000 + 13 * r_;  // sizes differ per rank
  const int next = (r_ + 1) % p_, prev = (r_ + p_ - 1) % p_;
  const std::size_t n_prev = 1000 + 13 * prev;
  std::vector<float> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = value(r_, 0, i);
  for (Communicator* c :
       {static_cast<Communicator*>(nccl_.get()), static_cast<Communicator*>(mpi_.get())}) {
    const Device dev = c == nccl_.get() ? Device::kCuda : Device::kCpu;
    DeviceBuffer d_out = upload(out), d_in(alloc_, n_prev * sizeof(float));
    std::vector<float> h_in(n_prev, -1);
    void* in = dev == Device::kCuda ? d_in.data() : h_in.data();
    void* src = dev == Device::kCuda ? d_out.data() : out.data();
    std::vector<P2POp> ops = {
        {.kind = P2POp::kSend, .peer = next, .data = src, .bytes = n * 4, .device = dev},
        {.kind = P2POp::kRecv, .peer = prev, .data = in, .bytes = n_prev * 4, .device = dev}};
    c->start_p2p(ops)->wait();
    std::vector<float> got = dev == Device::kCuda ? download(d_in) : h_in;
    for (std::size_t i = 0; i < n_prev; ++i) ASSERT_EQ(got[i], value(prev, 0, i)) << i;
  }
  expect_same_bytes(CommOp::kP2P);
}

TEST_F(NcclMpi, CollectivesMatchDataAndMpiBytes) {
  const std::size_t n = 4099;  // floats per block, odd on purpose
  std::vector<float> blocks(n * p_);
  for (int b = 0; b < p_; ++b)
    for (std::size_t i = 0; i < n; ++i) blocks[b * n + i] = value(r_, b, i);
  DeviceBuffer send = upload(blocks), recv(alloc_, blocks.size() * sizeof(float));
  std::vector<float> h_recv(blocks.size());

  nccl_->all_to_all(send.data(), recv.data(), n * 4, Device::kCuda);
  mpi_->all_to_all(blocks.data(), h_recv.data(), n * 4, Device::kCpu);
  std::vector<float> got = download(recv);
  for (int b = 0; b < p_; ++b)
    for (std::size_t i = 0; i < n; i += 101) ASSERT_EQ(got[b * n + i], value(b, r_, i));
  EXPECT_EQ(got, h_recv);
  expect_same_bytes(CommOp::kAllToAll);

  nccl_->all_gather(send.data(), recv.data(), n * 4, Device::kCuda);  // block 0 of each
  mpi_->all_gather(blocks.data(), h_recv.data(), n * 4, Device::kCpu);
  got = download(recv);
  for (int b = 0; b < p_; ++b) ASSERT_EQ(got[b * n + 7], value(b, 0, 7));
  EXPECT_EQ(got, h_recv);
  expect_same_bytes(CommOp::kAllGather);

  nccl_->reduce_scatter_sum(send.as<float>(), recv.as<float>(), n, Device::kCuda);
  mpi_->reduce_scatter_sum(blocks.data(), h_recv.data(), n, Device::kCpu);
  got = download(recv);
  for (std::size_t i = 0; i < n; i += 37) {
    float sum = 0;
    for (int q = 0; q < p_; ++q) sum += value(q, r_, i);  // exact: small integers
    ASSERT_EQ(got[i], sum) << i;
    ASSERT_EQ(h_recv[i], sum) << i;
  }
  expect_same_bytes(CommOp::kReduceScatter);

  std::vector<double> x = {double(r_), -double(r_), 1.0}, y = x;
  nccl_->all_reduce(x.data(), 3, ReduceOp::kSum);
  mpi_->all_reduce(y.data(), 3, ReduceOp::kSum);
  EXPECT_EQ(x, y);
  EXPECT_EQ(x[2], double(p_));
  expect_same_bytes(CommOp::kAllReduce);

  nccl_->barrier();
  mpi_->barrier();
  expect_same_bytes(CommOp::kBarrier);
}

TEST_F(NcclMpi, SplitIntoRowsAndColumns) {
  int rows = 1;
  for (int d = 1; d * d <= p_; ++d)
    if (p_ % d == 0) rows = d;
  const int cols = p_ / rows;
  auto row = nccl_->split(r_ / cols, r_ % cols);
  auto col = nccl_->split(r_ % cols, r_ / cols);
  ASSERT_EQ(row->size(), cols);
  ASSERT_EQ(col->size(), rows);
  EXPECT_EQ(row->rank(), r_ % cols);
  EXPECT_EQ(col->rank(), r_ / cols);
  EXPECT_EQ(col->backend(), "nccl");
  std::vector<double> members = {double(r_)};
  row->all_reduce(members.data(), 1, ReduceOp::kSum);
  double expect = 0;
  for (int j = 0; j < cols; ++j) expect += (r_ / cols) * cols + j;
  EXPECT_EQ(members[0], expect);
  EXPECT_EQ(nccl_->stats()[CommOp::kAllReduce].calls, 0);  // sub-communicators count their own
}

// The checks before ncclCommInitRank are collective: where a rank cannot run NCCL,
// every rank gets the InputError (none is left waiting in the init).
TEST(NcclMpiBootstrap, UnusableGpusFailOnEveryRankAlike) {
  int p = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &p);
  int usable = cuda_device_count() >= p ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &usable, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (usable) GTEST_SKIP() << "every rank has its GPU here";
  auto mpi = dup_world();
  try {
    NcclCommunicator comm(*mpi);
    FAIL() << "NCCL communicator built without a GPU per rank";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_TRUE(msg.find("sees no CUDA device") != std::string::npos ||
                msg.find("one GPU per rank") != std::string::npos)
        << msg;
  }
  mpi->barrier();  // reached by every rank: nobody hangs in the bootstrap
}

}  // namespace
}  // namespace cpb
