// Conformance of every Communicator backend: exact data and exact byte counts for
// every op, under real mpirun at several world sizes. Written against the
// interface only; a backend joins by one line in kBackends and one case in
// make_backend. "mpi_chunked" cuts every message into 8-byte MPI calls to exercise
// the > INT_MAX path on small data; "mpi_cuda" and "self_cuda" pass device buffers
// (MPI: staged through pinned memory) and skip where there is no GPU. "nccl" (host
// buffers, staged by the backend) and "nccl_cuda" (device buffers) bootstrap over
// MPI and skip on every rank alike unless each host has a GPU per rank on it.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdint>
#include <cstring>
#include <numeric>
#include <vector>

#include "parallel/device_copy.h"
#include "parallel/mpi_communicator.h"
#include "parallel/self_communicator.h"

#ifdef CPB_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif
#ifdef CPB_HAVE_NCCL
#include "parallel/nccl_communicator.h"
#endif

namespace cpb {
namespace {

bool gpu_present() {
#ifdef CPB_HAVE_CUDA
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
#else
  return false;
#endif
}

int world_size() {
  int p = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &p);
  return p;
}

// Host bytes with an optional device mirror: tests fill and check the host side,
// the communicator sees data() on the backend's device.
class Buffer {
 public:
  Buffer(std::size_t bytes, Device dev) : host_(bytes), dev_(dev) {
#ifdef CPB_HAVE_CUDA
    if (dev_ == Device::kCuda) cudaMalloc(&device_, bytes ? bytes : 1);
#endif
  }
  ~Buffer() {
#ifdef CPB_HAVE_CUDA
    if (device_) cudaFree(device_);
#endif
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  uint8_t* host() { return host_.data(); }
  std::size_t size() const { return host_.size(); }
  void* data() { return dev_ == Device::kCuda ? device_ : host_.data(); }
  void upload() {
    if (dev_ == Device::kCuda) copy_bytes(device_, dev_, host_.data(), Device::kCpu, size());
  }
  void download() {
    if (dev_ == Device::kCuda) copy_bytes(host_.data(), Device::kCpu, device_, dev_, size());
  }

 private:
  std::vector<uint8_t> host_;
  Device dev_;
  void* device_ = nullptr;
};

uint8_t pattern(int rank, int block, std::size_t i) {
  return static_cast<uint8_t>(rank * 131 + block * 31 + static_cast<int>(i) * 7 + 1);
}

void fill(uint8_t* p, std::size_t n, int rank, int block) {
  for (std::size_t i = 0; i < n; ++i) p[i] = pattern(rank, block, i);
}

// Index of the first byte that differs from the pattern, or -1.
int64_t first_mismatch(const uint8_t* p, std::size_t n, int rank, int block) {
  for (std::size_t i = 0; i < n; ++i)
    if (p[i] != pattern(rank, block, i)) return static_cast<int64_t>(i);
  return -1;
}

const std::vector<std::string> kBackends = {"self",     "self_cuda", "mpi",      "mpi_chunked",
                                            "mpi_cuda", "nccl",      "nccl_cuda"};

// NCCL needs one GPU per rank. Decided collectively (min over ranks) so every rank
// skips or none does: a rank that skipped alone would leave the others in a collective.
bool every_host_has_a_gpu_per_rank() {
  MPI_Comm host;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &host);
  int on_host = 1;
  MPI_Comm_size(host, &on_host);
  MPI_Comm_free(&host);
  int gpus = 0;
#ifdef CPB_HAVE_CUDA
  if (cudaGetDeviceCount(&gpus) != cudaSuccess) gpus = 0;
#endif
  int ok = gpus >= on_host ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return ok == 1;
}

// nullptr (with a reason) when the backend does not apply to this run.
std::unique_ptr<Communicator> make_backend(const std::string& name, Device* dev,
                                           std::string* skip) {
  *dev = Device::kCpu;
  if (name == "self" || name == "self_cuda") {
    if (world_size() != 1) {
      *skip = "self is a world of one";
      return nullptr;
    }
    if (name == "self_cuda") {
      if (!gpu_present()) {
        *skip = "no CUDA device";
        return nullptr;
      }
      *dev = Device::kCuda;
    }
    return std::make_unique<SelfCommunicator>();
  }
  if (name == "nccl" || name == "nccl_cuda") {
#ifdef CPB_HAVE_NCCL
    if (!every_host_has_a_gpu_per_rank()) {
      *skip = "nccl needs a GPU per rank on every host";
      return nullptr;
    }
    if (name == "nccl_cuda") *dev = Device::kCuda;
    MPI_Comm comm;
    MPI_Comm_dup(MPI_COMM_WORLD, &comm);
    MpiCommunicator bootstrap(comm, /*owns_comm=*/true);
    auto nccl = std::make_unique<NcclCommunicator>(bootstrap);
    // The tests' device buffers must live on the communicator's GPU.
    cudaSetDevice(nccl->device());
    return nccl;
#else
    *skip = "this build has no NCCL";
    return nullptr;
#endif
  }
  MpiOptions options;
  if (name == "mpi_chunked") options.max_chunk_bytes = 8;
  if (name == "mpi_cuda") {
    if (!gpu_present()) {
      *skip = "no CUDA device";
      return nullptr;
    }
    *dev = Device::kCuda;
    options.force_staging = true;
  }
  MPI_Comm comm;
  MPI_Comm_dup(MPI_COMM_WORLD, &comm);  // fresh stats and no interference between tests
  return std::make_unique<MpiCommunicator>(comm, /*owns_comm=*/true, options);
}

class CommConformance : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string skip;
    comm_ = make_backend(GetParam(), &dev_, &skip);
    if (!comm_) GTEST_SKIP() << skip;
    p_ = comm_->size();
    r_ = comm_->rank();
  }
  int next() const { return (r_ + 1) % p_; }
  int prev() const { return (r_ + p_ - 1) % p_; }
  int64_t others() const { return p_ - 1; }

  std::unique_ptr<Communicator> comm_;
  Device dev_ = Device::kCpu;
  int p_ = 1, r_ = 0;
};

TEST_P(CommConformance, IdentityMatchesWorld) {
  int world_rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  EXPECT_EQ(p_, world_size());
  EXPECT_EQ(r_, world_rank);
  EXPECT_FALSE(comm_->backend().empty());
}

TEST_P(CommConformance, P2PRingBothDirections) {
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{13}, std::size_t{4099}}) {
    comm_->reset_stats();
    Buffer to_next(n, dev_), to_prev(n, dev_), from_prev(n, dev_), from_next(n, dev_);
    fill(to_next.host(), n, r_, 0);
    fill(to_prev.host(), n, r_, 1);
    to_next.upload();
    to_prev.upload();
    // With P = 2 both neighbours are one rank: MPI's per-peer ordering pairs the
    // first send with the first receive, which the posting order below relies on.
    std::vector<P2POp> ops = {
        {.kind = P2POp::kSend, .peer = next(), .data = to_next.data(), .bytes = n, .device = dev_},
        {.kind = P2POp::kSend, .peer = prev(), .data = to_prev.data(), .bytes = n, .device = dev_},
        {.kind = P2POp::kRecv,
         .peer = prev(),
         .data = from_prev.data(),
         .bytes = n,
         .device = dev_},
        {.kind = P2POp::kRecv,
         .peer = next(),
         .data = from_next.data(),
         .bytes = n,
         .device = dev_},
    };
    comm_->start_p2p(ops)->wait();
    from_prev.download();
    from_next.download();
    EXPECT_EQ(first_mismatch(from_prev.host(), n, prev(), 0), -1) << "n=" << n;
    EXPECT_EQ(first_mismatch(from_next.host(), n, next(), 1), -1) << "n=" << n;
    const CommOpStats& s = comm_->stats()[CommOp::kP2P];
    EXPECT_EQ(s.calls, 1);
    EXPECT_EQ(s.bytes_sent, p_ > 1 ? int64_t(2 * n) : 0);
    EXPECT_EQ(s.bytes_received, p_ > 1 ? int64_t(2 * n) : 0);
    EXPECT_GE(s.wait_seconds, 0.0);
    EXPECT_EQ(comm_->stats().bytes_sent(), s.bytes_sent);  // nothing counted elsewhere
  }
}

TEST_P(CommConformance, P2PAllPairsInOneBatch) {
  auto size_of = [](int src, int dst) { return std::size_t(5 + 3 * src + 7 * dst); };
  std::vector<std::unique_ptr<Buffer>> sends, recvs;
  std::vector<P2POp> ops;
  int64_t want_sent = 0, want_received = 0;
  for (int peer = 0; peer < p_; ++peer) {
    sends.push_back(std::make_unique<Buffer>(size_of(r_, peer), dev_));
    fill(sends.back()->host(), sends.back()->size(), r_, peer);
    sends.back()->upload();
    recvs.push_back(std::make_unique<Buffer>(size_of(peer, r_), dev_));
    ops.push_back({.kind = P2POp::kRecv,
                   .peer = peer,
                   .data = recvs.back()->data(),
                   .bytes = size_of(peer, r_),
                   .device = dev_});
    ops.push_back({.kind = P2POp::kSend,
                   .peer = peer,
                   .data = sends.back()->data(),
                   .bytes = size_of(r_, peer),
                   .device = dev_});
    if (peer != r_) {
      want_sent += int64_t(size_of(r_, peer));
      want_received += int64_t(size_of(peer, r_));
    }
  }
  comm_->start_p2p(ops)->wait();
  for (int peer = 0; peer < p_; ++peer) {
    recvs[peer]->download();
    EXPECT_EQ(first_mismatch(recvs[peer]->host(), recvs[peer]->size(), peer, r_), -1)
        << "from " << peer;
  }
  EXPECT_EQ(comm_->stats()[CommOp::kP2P].bytes_sent, want_sent);
  EXPECT_EQ(comm_->stats()[CommOp::kP2P].bytes_received, want_received);
}

// Two batches in flight at once, waited out of order: what a ring does when it
// posts the next block before computing on the current one.
TEST_P(CommConformance, P2PBatchesOverlap) {
  const std::size_t n = 1000;
  Buffer a_send(n, dev_), a_recv(n, dev_), b_send(n, dev_), b_recv(n, dev_);
  fill(a_send.host(), n, r_, 10);
  fill(b_send.host(), n, r_, 20);
  a_send.upload();
  b_send.upload();
  std::vector<P2POp> a = {
      {.kind = P2POp::kSend, .peer = next(), .data = a_send.data(), .bytes = n, .device = dev_},
      {.kind = P2POp::kRecv, .peer = prev(), .data = a_recv.data(), .bytes = n, .device = dev_}};
  std::vector<P2POp> b = {
      {.kind = P2POp::kSend, .peer = next(), .data = b_send.data(), .bytes = n, .device = dev_},
      {.kind = P2POp::kRecv, .peer = prev(), .data = b_recv.data(), .bytes = n, .device = dev_}};
  auto ra = comm_->start_p2p(a);
  auto rb = comm_->start_p2p(b);
  rb->wait();
  ra->wait();
  ra->wait();  // a second wait is a no-op
  a_recv.download();
  b_recv.download();
  EXPECT_EQ(first_mismatch(a_recv.host(), n, prev(), 10), -1);
  EXPECT_EQ(first_mismatch(b_recv.host(), n, prev(), 20), -1);
  EXPECT_EQ(comm_->stats()[CommOp::kP2P].calls, 2);
  EXPECT_EQ(comm_->stats()[CommOp::kP2P].bytes_sent, p_ > 1 ? int64_t(2 * n) : 0);
}

TEST_P(CommConformance, AllToAll) {
  for (std::size_t n : {std::size_t{1}, std::size_t{13}, std::size_t{1000}}) {
    for (bool in_place : {false, true}) {
      comm_->reset_stats();
      Buffer send(n * p_, dev_), recv(n * p_, dev_);
      for (int b = 0; b < p_; ++b) fill(send.host() + b * n, n, r_, b);
      send.upload();
      Buffer& out = in_place ? send : recv;
      comm_->all_to_all(send.data(), out.data(), n, dev_);
      out.download();
      for (int s = 0; s < p_; ++s)
        EXPECT_EQ(first_mismatch(out.host() + s * n, n, s, r_), -1)
            << "block from " << s << " n=" << n << " in_place=" << in_place;
      const CommOpStats& st = comm_->stats()[CommOp::kAllToAll];
      EXPECT_EQ(st.calls, 1);
      EXPECT_EQ(st.bytes_sent, others() * int64_t(n));
      EXPECT_EQ(st.bytes_received, others() * int64_t(n));
    }
  }
}

TEST_P(CommConformance, AllGather) {
  for (std::size_t n : {std::size_t{1}, std::size_t{13}, std::size_t{1000}}) {
    for (bool in_place : {false, true}) {
      comm_->reset_stats();
      Buffer send(n, dev_), recv(n * p_, dev_);
      fill(send.host(), n, r_, 3);
      if (in_place) fill(recv.host() + r_ * n, n, r_, 3);
      send.upload();
      recv.upload();
      const void* src = in_place
                            ? static_cast<const void*>(static_cast<uint8_t*>(recv.data()) + r_ * n)
                            : send.data();
      comm_->all_gather(src, recv.data(), n, dev_);
      recv.download();
      for (int s = 0; s < p_; ++s)
        EXPECT_EQ(first_mismatch(recv.host() + s * n, n, s, 3), -1)
            << "block of " << s << " n=" << n << " in_place=" << in_place;
      const CommOpStats& st = comm_->stats()[CommOp::kAllGather];
      EXPECT_EQ(st.calls, 1);
      EXPECT_EQ(st.bytes_sent, others() * int64_t(n));
      EXPECT_EQ(st.bytes_received, others() * int64_t(n));
    }
  }
}

TEST_P(CommConformance, ReduceScatterSum) {
  // Small integers: every partial sum is exact in fp32, whatever the reduction order.
  auto value = [](int rank, int block, std::size_t i) {
    return float((rank + 1) * (block + 1) + int(i % 7));
  };
  for (std::size_t count : {std::size_t{1}, std::size_t{5}, std::size_t{300}}) {
    comm_->reset_stats();
    Buffer send(count * p_ * sizeof(float), dev_), recv(count * sizeof(float), dev_);
    auto* in = reinterpret_cast<float*>(send.host());
    for (int b = 0; b < p_; ++b)
      for (std::size_t i = 0; i < count; ++i) in[b * count + i] = value(r_, b, i);
    send.upload();
    comm_->reduce_scatter_sum(static_cast<const float*>(send.data()),
                              static_cast<float*>(recv.data()), count, dev_);
    recv.download();
    const auto* out = reinterpret_cast<const float*>(recv.host());
    int mismatches = 0;
    for (std::size_t i = 0; i < count; ++i) {
      float want = 0;
      for (int s = 0; s < p_; ++s) want += value(s, r_, i);
      mismatches += out[i] != want;
    }
    EXPECT_EQ(mismatches, 0) << "count=" << count;
    const CommOpStats& st = comm_->stats()[CommOp::kReduceScatter];
    EXPECT_EQ(st.calls, 1);
    EXPECT_EQ(st.bytes_sent, others() * int64_t(count * 4));
    EXPECT_EQ(st.bytes_received, others() * int64_t(count * 4));
  }
}

TEST_P(CommConformance, AllReduceSumMaxMin) {
  const int64_t bytes = 2 * others() * 3 * 8 / p_;
  double v[3] = {double(r_), double(r_ * r_), -double(r_)};
  comm_->all_reduce(v, 3, ReduceOp::kSum);
  double sum = p_ * (p_ - 1) / 2.0, sum_sq = (p_ - 1) * p_ * (2.0 * p_ - 1) / 6.0;
  EXPECT_EQ(v[0], sum);
  EXPECT_EQ(v[1], sum_sq);
  EXPECT_EQ(v[2], -sum);
  double m[2] = {double(r_), -double(r_)};
  comm_->all_reduce(m, 2, ReduceOp::kMax);
  EXPECT_EQ(m[0], p_ - 1);
  EXPECT_EQ(m[1], 0);
  double n[2] = {double(r_), -double(r_)};
  comm_->all_reduce(n, 2, ReduceOp::kMin);
  EXPECT_EQ(n[0], 0);
  EXPECT_EQ(n[1], -(p_ - 1));
  const CommOpStats& st = comm_->stats()[CommOp::kAllReduce];
  EXPECT_EQ(st.calls, 3);
  EXPECT_EQ(st.bytes_sent, bytes + 2 * (2 * others() * 2 * 8 / p_));
  EXPECT_EQ(st.bytes_received, st.bytes_sent);
}

TEST_P(CommConformance, BarrierCountsNoBytes) {
  comm_->barrier();
  comm_->barrier();
  EXPECT_EQ(comm_->stats()[CommOp::kBarrier].calls, 2);
  EXPECT_EQ(comm_->stats().bytes_sent(), 0);
  EXPECT_EQ(comm_->stats().bytes_received(), 0);
  comm_->reset_stats();
  EXPECT_EQ(comm_->stats()[CommOp::kBarrier].calls, 0);
}

// 2-D groups as USP / LoongTrain build them: rows of `cols` consecutive ranks and
// columns of stride `cols`. Each group gathers its members' world ranks.
TEST_P(CommConformance, SplitIntoRowsAndColumns) {
  int rows = 1;
  for (int d = 1; d * d <= p_; ++d)
    if (p_ % d == 0) rows = d;
  const int cols = p_ / rows;
  auto row = comm_->split(r_ / cols, r_ % cols);
  auto col = comm_->split(r_ % cols, r_ / cols);
  ASSERT_EQ(row->size(), cols);
  ASSERT_EQ(col->size(), rows);
  EXPECT_EQ(row->rank(), r_ % cols);
  EXPECT_EQ(col->rank(), r_ / cols);
  EXPECT_EQ(row->backend(), comm_->backend());

  std::vector<int32_t> row_members(cols), col_members(rows);
  Buffer mine(4, dev_), row_buf(4 * cols, dev_), col_buf(4 * rows, dev_);
  std::memcpy(mine.host(), &r_, 4);
  mine.upload();
  row->all_gather(mine.data(), row_buf.data(), 4, dev_);
  col->all_gather(mine.data(), col_buf.data(), 4, dev_);
  row_buf.download();
  col_buf.download();
  std::memcpy(row_members.data(), row_buf.host(), 4 * cols);
  std::memcpy(col_members.data(), col_buf.host(), 4 * rows);
  for (int j = 0; j < cols; ++j) EXPECT_EQ(row_members[j], (r_ / cols) * cols + j);
  for (int i = 0; i < rows; ++i) EXPECT_EQ(col_members[i], i * cols + r_ % cols);

  // A ring inside each column, as the outer ring of LoongTrain.
  const std::size_t n = 77;
  Buffer out(n, dev_), in(n, dev_);
  fill(out.host(), n, r_, 5);
  out.upload();
  int c = col->rank(), q = col->size();
  std::vector<P2POp> ops = {
      {.kind = P2POp::kSend, .peer = (c + 1) % q, .data = out.data(), .bytes = n, .device = dev_},
      {.kind = P2POp::kRecv,
       .peer = (c + q - 1) % q,
       .data = in.data(),
       .bytes = n,
       .device = dev_}};
  col->start_p2p(ops)->wait();
  in.download();
  int from_world = ((c + q - 1) % q) * cols + r_ % cols;
  EXPECT_EQ(first_mismatch(in.host(), n, from_world, 5), -1);

  // Sub-communicators count their own traffic; the parent saw none of it.
  EXPECT_EQ(row->stats()[CommOp::kAllGather].bytes_received, int64_t(4) * (cols - 1));
  EXPECT_EQ(col->stats()[CommOp::kP2P].bytes_sent, rows > 1 ? int64_t(n) : 0);
  EXPECT_EQ(comm_->stats()[CommOp::kAllGather].calls, 0);
  EXPECT_EQ(comm_->stats()[CommOp::kP2P].calls, 0);
}

TEST_P(CommConformance, SplitOrdersByKeyAndGroupsByColor) {
  auto reversed = comm_->split(0, p_ - 1 - r_);
  EXPECT_EQ(reversed->size(), p_);
  EXPECT_EQ(reversed->rank(), p_ - 1 - r_);
  auto parity = comm_->split(r_ % 2, r_);
  EXPECT_EQ(parity->size(), r_ % 2 == 0 ? (p_ + 1) / 2 : p_ / 2);
  EXPECT_EQ(parity->rank(), r_ / 2);
  double one = 1;
  parity->all_reduce(&one, 1, ReduceOp::kSum);
  EXPECT_EQ(one, parity->size());
}

INSTANTIATE_TEST_SUITE_P(Backends, CommConformance, testing::ValuesIn(kBackends),
                         [](const testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace cpb
