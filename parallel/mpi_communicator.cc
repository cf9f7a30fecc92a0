#include "parallel/mpi_communicator.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "common/errors.h"
#include "parallel/mpi_check.h"

#if defined(OPEN_MPI) && OPEN_MPI
#include <mpi-ext.h>
#endif

namespace cpb {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

int as_int(std::size_t n) {
  CPB_CHECK(n <= static_cast<std::size_t>(INT_MAX), "MPI count {} above INT_MAX", n);
  return static_cast<int>(n);
}

int64_t as_i64(std::size_t n) { return static_cast<int64_t>(n); }

// `len` contiguous bytes whose extent is `stride`: one block of a strided
// collective chunk, so block i starts at base + i * stride.
class StridedBytes {
 public:
  StridedBytes(std::size_t len, std::size_t stride) {
    MPI_Datatype block;
    CPB_MPI_CHECK(MPI_Type_contiguous(as_int(len), MPI_BYTE, &block));
    CPB_MPI_CHECK(MPI_Type_create_resized(block, 0, static_cast<MPI_Aint>(stride), &type_));
    CPB_MPI_CHECK(MPI_Type_commit(&type_));
    CPB_MPI_CHECK(MPI_Type_free(&block));
  }
  ~StridedBytes() { MPI_Type_free(&type_); }
  StridedBytes(const StridedBytes&) = delete;
  StridedBytes& operator=(const StridedBytes&) = delete;
  MPI_Datatype type() const { return type_; }

 private:
  MPI_Datatype type_;
};

class MpiRequest final : public CommRequest {
 public:
  explicit MpiRequest(CommOpStats* stats) : stats_(stats) {}
  ~MpiRequest() override {
    if (!done_) wait();
  }

  void wait() override {
    if (done_) return;
    auto t0 = Clock::now();
    if (!requests_.empty())
      CPB_MPI_CHECK(
          MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE));
    for (Unstage& u : unstage_)
      copy_bytes(u.device_dst, Device::kCuda, u.host.data(), Device::kCpu, u.bytes);
    stats_->wait_seconds += seconds_since(t0);
    done_ = true;
    unstage_.clear();
    send_staging_.clear();
  }

  struct Unstage {
    void* device_dst;
    PinnedPool::Buffer host;
    std::size_t bytes;
  };
  std::vector<MPI_Request> requests_;
  std::vector<Unstage> unstage_;
  std::vector<PinnedPool::Buffer> send_staging_;

 private:
  CommOpStats* stats_;
  bool done_ = false;
};

}  // namespace

bool MpiCommunicator::init(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) return false;
  int provided = 0;
  // Before MPI_Init nothing can be aborted collectively; a failure here is fatal anyway.
  if (MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS) {
    std::fprintf(stderr, "MPI_Init_thread failed\n");
    std::_Exit(1);
  }
  CPB_MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  return true;
}

MpiCommunicator::MpiCommunicator(MPI_Comm comm, bool owns_comm, MpiOptions options)
    : comm_(comm), owns_comm_(owns_comm), options_(options) {
  CPB_CHECK(options_.max_chunk_bytes >= 8 && options_.max_chunk_bytes <= std::size_t{INT_MAX},
            "max_chunk_bytes {} outside [8, INT_MAX]", options_.max_chunk_bytes);
  CPB_MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  CPB_MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
  CPB_MPI_CHECK(MPI_Comm_size(comm_, &size_));
#if defined(MPIX_CUDA_AWARE_SUPPORT) && MPIX_CUDA_AWARE_SUPPORT
  cuda_aware_ =
      device_copy_available() && !options_.force_staging && MPIX_Query_cuda_support() == 1;
#endif
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  if (owns_comm_) MPI_Comm_free(&comm_);
  if (finalize_on_destroy_) MPI_Finalize();
}

std::unique_ptr<CommRequest> MpiCommunicator::start_p2p(std::span<const P2POp> ops) {
  auto t0 = Clock::now();
  CommOpStats& stats = stats_[CommOp::kP2P];
  auto request = std::make_unique<MpiRequest>(&stats);
  const std::size_t chunk = options_.max_chunk_bytes;
  for (const P2POp& op : ops) {
    CPB_CHECK(op.peer >= 0 && op.peer < size_, "p2p peer {} outside [0, {})", op.peer, size_);
    char* buffer = static_cast<char*>(op.data);
    if (staged(op.device) && op.bytes > 0) {
      PinnedPool::Buffer host = pinned_.acquire(op.bytes);
      if (op.kind == P2POp::kSend) {
        copy_bytes(host.data(), Device::kCpu, op.data, Device::kCuda, op.bytes);
        buffer = static_cast<char*>(host.data());
        request->send_staging_.push_back(std::move(host));
      } else {
        buffer = static_cast<char*>(host.data());
        request->unstage_.push_back({op.data, std::move(host), op.bytes});
      }
    }
    // Chunks of one message go out in order on the same (peer, tag): MPI's
    // non-overtaking rule matches them with the receiver's chunks in order.
    for (std::size_t off = 0; off < op.bytes || (off == 0 && op.bytes == 0); off += chunk) {
      int len = as_int(std::min(chunk, op.bytes - off));
      MPI_Request r;
      if (op.kind == P2POp::kSend)
        CPB_MPI_CHECK(MPI_Isend(buffer + off, len, MPI_BYTE, op.peer, 0, comm_, &r));
      else
        CPB_MPI_CHECK(MPI_Irecv(buffer + off, len, MPI_BYTE, op.peer, 0, comm_, &r));
      request->requests_.push_back(r);
      if (op.bytes == 0) break;
    }
    if (op.peer != rank_)
      (op.kind == P2POp::kSend ? stats.bytes_sent : stats.bytes_received) += as_i64(op.bytes);
  }
  stats.calls += 1;
  stats.wait_seconds += seconds_since(t0);  // posting can block (staging copies, eager sends)
  return request;
}

void MpiCommunicator::all_to_all(const void* send, void* recv, std::size_t bytes_per_rank,
                                 Device dev) {
  auto t0 = Clock::now();
  const std::size_t total = bytes_per_rank * static_cast<std::size_t>(size_);
  const char* in = static_cast<const char*>(send);
  char* out = static_cast<char*>(recv);
  PinnedPool::Buffer send_host, recv_host;
  std::vector<char> copy;
  if (staged(dev)) {
    send_host = pinned_.acquire(total);
    recv_host = pinned_.acquire(total);
    copy_bytes(send_host.data(), Device::kCpu, send, Device::kCuda, total);
    in = static_cast<const char*>(send_host.data());
    out = static_cast<char*>(recv_host.data());
  } else if (send == recv) {
    copy.assign(in, in + total);  // MPI forbids aliased buffers
    in = copy.data();
  }
  if (bytes_per_rank <= options_.max_chunk_bytes) {
    int n = as_int(bytes_per_rank);
    CPB_MPI_CHECK(MPI_Alltoall(in, n, MPI_BYTE, out, n, MPI_BYTE, comm_));
  } else {
    for (std::size_t off = 0; off < bytes_per_rank; off += options_.max_chunk_bytes) {
      StridedBytes block(std::min(options_.max_chunk_bytes, bytes_per_rank - off), bytes_per_rank);
      CPB_MPI_CHECK(MPI_Alltoall(in + off, 1, block.type(), out + off, 1, block.type(), comm_));
    }
  }
  if (staged(dev)) copy_bytes(recv, Device::kCuda, out, Device::kCpu, total);
  CommOpStats& s = stats_[CommOp::kAllToAll];
  s.calls += 1;
  s.bytes_sent += as_i64(bytes_per_rank) * (size_ - 1);
  s.bytes_received += as_i64(bytes_per_rank) * (size_ - 1);
  s.wait_seconds += seconds_since(t0);
}

void MpiCommunicator::all_gather(const void* send, void* recv, std::size_t bytes_per_rank,
                                 Device dev) {
  auto t0 = Clock::now();
  const std::size_t total = bytes_per_rank * static_cast<std::size_t>(size_);
  char* own_block = static_cast<char*>(recv) + bytes_per_rank * static_cast<std::size_t>(rank_);
  const char* in = static_cast<const char*>(send);
  char* out = static_cast<char*>(recv);
  PinnedPool::Buffer send_host, recv_host;
  if (staged(dev)) {
    send_host = pinned_.acquire(bytes_per_rank);
    recv_host = pinned_.acquire(total);
    copy_bytes(send_host.data(), Device::kCpu, send, Device::kCuda, bytes_per_rank);
    in = static_cast<const char*>(send_host.data());
    out = static_cast<char*>(recv_host.data());
  }
  // In place (send is our own block of recv): MPI_IN_PLACE, which takes no send buffer.
  const bool in_place = !staged(dev) && send == own_block;
  if (bytes_per_rank <= options_.max_chunk_bytes) {
    int n = as_int(bytes_per_rank);
    CPB_MPI_CHECK(
        MPI_Allgather(in_place ? MPI_IN_PLACE : in, n, MPI_BYTE, out, n, MPI_BYTE, comm_));
  } else {
    for (std::size_t off = 0; off < bytes_per_rank; off += options_.max_chunk_bytes) {
      std::size_t len = std::min(options_.max_chunk_bytes, bytes_per_rank - off);
      StridedBytes block(len, bytes_per_rank);
      CPB_MPI_CHECK(MPI_Allgather(in_place ? MPI_IN_PLACE : in + off, as_int(len), MPI_BYTE,
                                  out + off, 1, block.type(), comm_));
    }
  }
  if (staged(dev)) copy_bytes(recv, Device::kCuda, out, Device::kCpu, total);
  CommOpStats& s = stats_[CommOp::kAllGather];
  s.calls += 1;
  s.bytes_sent += as_i64(bytes_per_rank) * (size_ - 1);
  s.bytes_received += as_i64(bytes_per_rank) * (size_ - 1);
  s.wait_seconds += seconds_since(t0);
}

void MpiCommunicator::reduce_scatter_sum(const float* send, float* recv, std::size_t count_per_rank,
                                         Device dev) {
  auto t0 = Clock::now();
  const std::size_t p = static_cast<std::size_t>(size_);
  const std::size_t total = count_per_rank * p;
  const float* in = send;
  float* out = recv;
  PinnedPool::Buffer send_host, recv_host;
  if (staged(dev)) {
    send_host = pinned_.acquire(total * sizeof(float));
    recv_host = pinned_.acquire(count_per_rank * sizeof(float));
    copy_bytes(send_host.data(), Device::kCpu, send, Device::kCuda, total * sizeof(float));
    in = static_cast<const float*>(send_host.data());
    out = static_cast<float*>(recv_host.data());
  }
  const std::size_t chunk = options_.max_chunk_bytes / sizeof(float);
  if (count_per_rank <= chunk) {
    CPB_MPI_CHECK(
        MPI_Reduce_scatter_block(in, out, as_int(count_per_rank), MPI_FLOAT, MPI_SUM, comm_));
  } else {
    // Predefined reductions need predefined (contiguous) types, so each chunk of
    // every block is packed into one contiguous buffer first.
    std::vector<float> packed(chunk * p);
    for (std::size_t off = 0; off < count_per_rank; off += chunk) {
      std::size_t len = std::min(chunk, count_per_rank - off);
      for (std::size_t b = 0; b < p; ++b)
        std::memcpy(packed.data() + b * len, in + b * count_per_rank + off, len * sizeof(float));
      CPB_MPI_CHECK(MPI_Reduce_scatter_block(packed.data(), out + off, as_int(len), MPI_FLOAT,
                                             MPI_SUM, comm_));
    }
  }
  if (staged(dev))
    copy_bytes(recv, Device::kCuda, out, Device::kCpu, count_per_rank * sizeof(float));
  CommOpStats& s = stats_[CommOp::kReduceScatter];
  s.calls += 1;
  s.bytes_sent += as_i64(count_per_rank * sizeof(float)) * (size_ - 1);
  s.bytes_received += as_i64(count_per_rank * sizeof(float)) * (size_ - 1);
  s.wait_seconds += seconds_since(t0);
}

void MpiCommunicator::all_reduce(double* data, std::size_t count, ReduceOp op) {
  auto t0 = Clock::now();
  MPI_Op mpi_op = op == ReduceOp::kSum ? MPI_SUM : op == ReduceOp::kMax ? MPI_MAX : MPI_MIN;
  const std::size_t chunk = options_.max_chunk_bytes / sizeof(double);
  for (std::size_t off = 0; off < count; off += chunk)
    CPB_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, data + off, as_int(std::min(chunk, count - off)),
                                MPI_DOUBLE, mpi_op, comm_));
  CommOpStats& s = stats_[CommOp::kAllReduce];
  s.calls += 1;
  int64_t bytes = 2 * as_i64(count * sizeof(double)) * (size_ - 1) / size_;
  s.bytes_sent += bytes;
  s.bytes_received += bytes;
  s.wait_seconds += seconds_since(t0);
}

void MpiCommunicator::barrier() {
  auto t0 = Clock::now();
  CPB_MPI_CHECK(MPI_Barrier(comm_));
  stats_[CommOp::kBarrier].calls += 1;
  stats_[CommOp::kBarrier].wait_seconds += seconds_since(t0);
}

std::unique_ptr<Communicator> MpiCommunicator::split(int color, int key) {
  CPB_CHECK(color >= 0, "split color {} must be >= 0", color);
  MPI_Comm sub;
  CPB_MPI_CHECK(MPI_Comm_split(comm_, color, key, &sub));
  return std::make_unique<MpiCommunicator>(sub, /*owns_comm=*/true, options_);
}

}  // namespace cpb
