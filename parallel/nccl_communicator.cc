#include "parallel/nccl_communicator.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>

namespace cpb {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}
int64_t as_i64(std::size_t n) { return static_cast<int64_t>(n); }

// Byte counts follow MpiCommunicator exactly, so reports compare backends: payload
// that leaves the rank ((P-1) blocks for all_to_all / all_gather / reduce_scatter),
// a ring's 2(P-1)/P for all_reduce, nothing for barrier or for sends to self.
void count(CommOpStats& s, int64_t sent, int64_t received, double seconds) {
  s.calls += 1;
  s.bytes_sent += sent;
  s.bytes_received += received;
  s.wait_seconds += seconds;
}

// Restores the caller's current device on scope exit: NCCL calls and our streams
// must run on the communicator's device, whatever the caller had selected.
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    CPB_CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != device) CPB_CUDA_CHECK(cudaSetDevice(device));
  }
  ~DeviceScope() { (void)cudaSetDevice(previous_); }

 private:
  int previous_ = 0;
};

// Per-request device staging for host p2p buffers: requests may be in flight
// together, so they cannot share the communicator's scratch. Its cudaFree
// synchronises the device: host buffers are the compatibility path, not the fast one.
class Scratch {
 public:
  explicit Scratch(std::size_t bytes) {
    if (bytes) CPB_CUDA_CHECK(cudaMalloc(&ptr_, bytes));
  }
  Scratch(Scratch&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)) {}
  Scratch(const Scratch&) = delete;
  ~Scratch() {
    if (ptr_) (void)cudaFree(ptr_);
  }
  void* get() const { return ptr_; }

 private:
  void* ptr_ = nullptr;
};

double timeout_from_env() {
  if (const char* v = std::getenv("CPB_COMM_TIMEOUT_S")) {
    char* end = nullptr;
    double s = std::strtod(v, &end);
    CPB_REQUIRE(end != v && *end == '\0' && s > 0,
                "CPB_COMM_TIMEOUT_S='{}' is not a positive number of seconds", v);
    return s;
  }
  return 600;
}

ncclRedOp_t to_nccl(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return ncclSum;
    case ReduceOp::kMax:
      return ncclMax;
    case ReduceOp::kMin:
      return ncclMin;
  }
  return ncclSum;
}

}  // namespace

namespace detail {
void raise_nccl_error(ncclResult_t res, const char* call, const char* file, int line) {
  raise_call_error(fmt::format("{} (code {})", ncclGetErrorString(res), static_cast<int>(res)),
                   call, file, line);
}
}  // namespace detail

std::string nccl_version() {
  int v = 0;
  CPB_NCCL_CHECK(ncclGetVersion(&v));
  // Since 2.9 the code is major*10000 + minor*100 + patch.
  return fmt::format("{}.{}.{}", v / 10000, (v / 100) % 100, v % 100);
}

// A posted p2p batch: the comm stream's event, plus host receive buffers to fill
// from their device staging once the event completed.
class NcclRequest final : public CommRequest {
 public:
  explicit NcclRequest(NcclCommunicator* comm) : comm_(comm) {
    DeviceScope scope(comm->device_);
    done_.emplace(false);
  }
  void wait() override {
    if (waited_) return;
    waited_ = true;
    auto t0 = Clock::now();
    comm_->wait_event(*done_, CommOp::kP2P);
    for (const Unstage& u : unstage_)
      CPB_CUDA_CHECK(cudaMemcpy(u.host, u.scratch.get(), u.bytes, cudaMemcpyDeviceToHost));
    comm_->stats_[CommOp::kP2P].wait_seconds += seconds_since(t0);
  }
  ~NcclRequest() override {
    // An unwaited request still owns staging the stream may be using.
    if (!waited_ && done_) (void)cudaEventSynchronize(done_->get());
  }

 private:
  friend class NcclCommunicator;
  struct Unstage {
    void* host;
    Scratch scratch;
    std::size_t bytes;
  };
  NcclCommunicator* comm_;
  std::optional<CudaEvent> done_;
  std::vector<Scratch> send_staging_;
  std::vector<Unstage> unstage_;
  bool waited_ = false;
};

NcclCommunicator::NcclCommunicator(Communicator& bootstrap, int device)
    : rank_(bootstrap.rank()), size_(bootstrap.size()), timeout_s_(timeout_from_env()) {
  // Every rank learns every rank's host and GPU count first, so the checks below
  // fail on all ranks alike instead of leaving the others in ncclCommInitRank.
  struct Peer {
    char host[256];
    int32_t devices;
  };
  Peer me{};
  gethostname(me.host, sizeof(me.host) - 1);
  me.devices = cuda_device_count();
  std::vector<Peer> peers(static_cast<std::size_t>(size_));
  bootstrap.all_gather(&me, peers.data(), sizeof(Peer), Device::kCpu);
  int local_rank = 0;
  for (int r = 0; r < size_; ++r) {
    const Peer& p = peers[static_cast<std::size_t>(r)];
    CPB_REQUIRE(p.devices > 0, "nccl communicator: rank {} on {} sees no CUDA device", r, p.host);
    int on_host = 0, below = 0;
    for (int o = 0; o < size_; ++o) {
      if (std::strncmp(peers[static_cast<std::size_t>(o)].host, p.host, sizeof(p.host)) != 0)
        continue;
      ++on_host;
      if (o < r) ++below;
    }
    CPB_REQUIRE(device >= 0 || on_host <= p.devices,
                "nccl needs one GPU per rank, but {} ranks on {} share {} GPU(s); use the mpi "
                "communicator (it stages device buffers) to run several ranks per GPU",
                on_host, p.host, p.devices);
    if (r == rank_) local_rank = below;
  }
  device_ = device >= 0 ? device : local_rank;
  CPB_REQUIRE(device_ < me.devices, "{} CUDA device {} requested; {} visible", process_tag(),
              device_, me.devices);

  ncclUniqueId id{};
  if (rank_ == 0) CPB_NCCL_CHECK(ncclGetUniqueId(&id));
  std::vector<ncclUniqueId> ids(static_cast<std::size_t>(size_));
  bootstrap.all_gather(&id, ids.data(), sizeof(id), Device::kCpu);
  DeviceScope scope(device_);
  ncclComm_t comm = nullptr;
  CPB_NCCL_CHECK(ncclCommInitRank(&comm, size_, ids[0], rank_));
  init_from(comm);
}

NcclCommunicator::NcclCommunicator(int device) : device_(device), timeout_s_(timeout_from_env()) {
  const int devices = cuda_device_count();
  CPB_REQUIRE(device >= 0 && device < devices, "{} CUDA device {} requested; {} visible",
              process_tag(), device, devices);
  DeviceScope scope(device_);
  ncclComm_t comm = nullptr;
  CPB_NCCL_CHECK(ncclCommInitAll(&comm, 1, &device_));
  init_from(comm);
}

NcclCommunicator::NcclCommunicator(ncclComm_t comm, int device, double timeout_s)
    : device_(device), timeout_s_(timeout_s) {
  DeviceScope scope(device_);
  init_from(comm);
}

void NcclCommunicator::init_from(ncclComm_t comm) {
  comm_ = comm;
  CPB_NCCL_CHECK(ncclCommUserRank(comm_, &rank_));
  CPB_NCCL_CHECK(ncclCommCount(comm_, &size_));
  stream_.emplace();
  ready_.emplace(false);
}

NcclCommunicator::~NcclCommunicator() {
  if (!comm_) return;
  DeviceScope scope(device_);
  if (aborted_) {
    (void)ncclCommAbort(comm_);
    return;
  }
  // Finalize flushes queued work; destroy then frees without blocking on peers.
  (void)cudaStreamSynchronize(stream_->get());
  if (scratch_) (void)cudaFree(scratch_);
  (void)ncclCommFinalize(comm_);
  (void)ncclCommDestroy(comm_);
}

void* NcclCommunicator::scratch(std::size_t bytes) {
  if (bytes > scratch_bytes_) {
    if (scratch_) {
      stream_->synchronize();  // the previous op's staging may still be read
      CPB_CUDA_CHECK(cudaFree(scratch_));
      scratch_ = nullptr;
    }
    const std::size_t grown = std::max(bytes, 2 * scratch_bytes_);
    CPB_CUDA_CHECK(cudaMalloc(&scratch_, grown));
    scratch_bytes_ = grown;
  }
  return scratch_;
}

void NcclCommunicator::order_after_compute() {
  ready_->record(compute_stream_);
  CPB_CUDA_CHECK(cudaStreamWaitEvent(stream_->get(), ready_->get(), 0));
}

void NcclCommunicator::wait_event(const CudaEvent& event, CommOp op) {
  auto t0 = Clock::now();
  // Poll rather than block: a dead peer shows up as an NCCL async error (or as
  // nothing at all), and either way this rank must fail, not hang the sweep.
  for (int spins = 0; !event.done(); ++spins) {
    ncclResult_t async = ncclSuccess;
    CPB_NCCL_CHECK(ncclCommGetAsyncError(comm_, &async));
    if (async != ncclSuccess && async != ncclInProgress) {
      aborted_ = true;
      detail::raise_nccl_error(async, "ncclCommGetAsyncError (while waiting)", __FILE__, __LINE__);
    }
    if (seconds_since(t0) > timeout_s_) {
      aborted_ = true;
      detail::raise_call_error(fmt::format("timed out after {} s (CPB_COMM_TIMEOUT_S)", timeout_s_),
                               fmt::format("wait on {}", to_string(op)).c_str(), __FILE__,
                               __LINE__);
    }
    if (spins > 1000) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

std::unique_ptr<CommRequest> NcclCommunicator::start_p2p(std::span<const P2POp> ops) {
  auto t0 = Clock::now();
  DeviceScope scope(device_);
  auto request = std::make_unique<NcclRequest>(this);
  CommOpStats& stats = stats_[CommOp::kP2P];
  int64_t sent = 0, received = 0;
  cudaStream_t s = stream_->get();
  order_after_compute();
  // Staging copies go on the comm stream before the group, so they are ordered
  // before the sends that read them.
  std::vector<void*> buffers(ops.size());
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const P2POp& op = ops[i];
    CPB_CHECK(op.peer >= 0 && op.peer < size_, "p2p peer {} outside [0, {})", op.peer, size_);
    buffers[i] = op.data;
    if (op.device == Device::kCpu && op.bytes > 0) {
      Scratch scratch(op.bytes);
      buffers[i] = scratch.get();
      if (op.kind == P2POp::kSend) {
        CPB_CUDA_CHECK(
            cudaMemcpyAsync(scratch.get(), op.data, op.bytes, cudaMemcpyHostToDevice, s));
        request->send_staging_.push_back(std::move(scratch));
      } else {
        request->unstage_.push_back({op.data, std::move(scratch), op.bytes});
      }
    }
    if (op.peer != rank_) (op.kind == P2POp::kSend ? sent : received) += as_i64(op.bytes);
  }
  CPB_NCCL_CHECK(ncclGroupStart());
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const P2POp& op = ops[i];
    if (op.kind == P2POp::kSend)
      CPB_NCCL_CHECK(ncclSend(buffers[i], op.bytes, ncclInt8, op.peer, comm_, s));
    else
      CPB_NCCL_CHECK(ncclRecv(buffers[i], op.bytes, ncclInt8, op.peer, comm_, s));
  }
  CPB_NCCL_CHECK(ncclGroupEnd());
  request->done_->record(s);
  count(stats, sent, received, seconds_since(t0));
  return request;
}

void NcclCommunicator::all_to_all(const void* send, void* recv, std::size_t bytes_per_rank,
                                  Device dev) {
  auto t0 = Clock::now();
  const std::size_t p = static_cast<std::size_t>(size_);
  const std::size_t total = bytes_per_rank * p;
  {
    DeviceScope scope(device_);
    cudaStream_t s = stream_->get();
    order_after_compute();
    const bool host = dev == Device::kCpu;
    // Staging for host buffers; a private copy of `send` when it aliases `recv`,
    // because grouped p2p gives no order between a block's send and its overwrite.
    const bool copy_in = host || send == recv;
    char* space = copy_in ? static_cast<char*>(scratch((host ? 2 : 1) * total)) : nullptr;
    const char* in = static_cast<const char*>(send);
    char* out = static_cast<char*>(recv);
    if (copy_in) {
      CPB_CUDA_CHECK(cudaMemcpyAsync(space, send, total, cudaMemcpyDefault, s));
      in = space;
    }
    if (host) out = space + total;
    CPB_NCCL_CHECK(ncclGroupStart());
    for (int r = 0; r < size_; ++r) {
      const std::size_t off = bytes_per_rank * static_cast<std::size_t>(r);
      CPB_NCCL_CHECK(ncclSend(in + off, bytes_per_rank, ncclInt8, r, comm_, s));
      CPB_NCCL_CHECK(ncclRecv(out + off, bytes_per_rank, ncclInt8, r, comm_, s));
    }
    CPB_NCCL_CHECK(ncclGroupEnd());
    if (host) CPB_CUDA_CHECK(cudaMemcpyAsync(recv, out, total, cudaMemcpyDeviceToHost, s));
    CudaEvent done(false);
    done.record(s);
    wait_event(done, CommOp::kAllToAll);
  }
  const int64_t b = as_i64(bytes_per_rank) * (size_ - 1);
  count(stats_[CommOp::kAllToAll], b, b, seconds_since(t0));
}

void NcclCommunicator::all_gather(const void* send, void* recv, std::size_t bytes_per_rank,
                                  Device dev) {
  auto t0 = Clock::now();
  const std::size_t total = bytes_per_rank * static_cast<std::size_t>(size_);
  {
    DeviceScope scope(device_);
    cudaStream_t s = stream_->get();
    order_after_compute();
    const bool host = dev == Device::kCpu;
    const void* in = send;
    void* out = recv;
    if (host) {
      // Stage into our own block of the output: NCCL's in-place form.
      char* space = static_cast<char*>(scratch(total));
      char* own = space + bytes_per_rank * rank_;
      CPB_CUDA_CHECK(cudaMemcpyAsync(own, send, bytes_per_rank, cudaMemcpyHostToDevice, s));
      in = own;
      out = space;
    }
    CPB_NCCL_CHECK(ncclAllGather(in, out, bytes_per_rank, ncclInt8, comm_, s));
    if (host) CPB_CUDA_CHECK(cudaMemcpyAsync(recv, out, total, cudaMemcpyDeviceToHost, s));
    CudaEvent done(false);
    done.record(s);
    wait_event(done, CommOp::kAllGather);
  }
  const int64_t b = as_i64(bytes_per_rank) * (size_ - 1);
  count(stats_[CommOp::kAllGather], b, b, seconds_since(t0));
}

void NcclCommunicator::reduce_scatter_sum(const float* send, float* recv,
                                          std::size_t count_per_rank, Device dev) {
  auto t0 = Clock::now();
  const std::size_t total = count_per_rank * static_cast<std::size_t>(size_);
  {
    DeviceScope scope(device_);
    cudaStream_t s = stream_->get();
    order_after_compute();
    const bool host = dev == Device::kCpu;
    const float* in = send;
    float* out = recv;
    if (host) {
      float* space = static_cast<float*>(scratch(total * sizeof(float)));
      CPB_CUDA_CHECK(
          cudaMemcpyAsync(space, send, total * sizeof(float), cudaMemcpyHostToDevice, s));
      in = space;
      out = space + count_per_rank * rank_;  // in place
    }
    CPB_NCCL_CHECK(ncclReduceScatter(in, out, count_per_rank, ncclFloat32, ncclSum, comm_, s));
    if (host)
      CPB_CUDA_CHECK(
          cudaMemcpyAsync(recv, out, count_per_rank * sizeof(float), cudaMemcpyDeviceToHost, s));
    CudaEvent done(false);
    done.record(s);
    wait_event(done, CommOp::kReduceScatter);
  }
  const int64_t b = as_i64(count_per_rank * sizeof(float)) * (size_ - 1);
  count(stats_[CommOp::kReduceScatter], b, b, seconds_since(t0));
}

void NcclCommunicator::all_reduce(double* data, std::size_t n, ReduceOp op) {
  auto t0 = Clock::now();
  {
    // Host doubles go through NCCL itself (no second transport to bootstrap and
    // keep alive); these are metrics-sized, so the two small copies do not matter.
    DeviceScope scope(device_);
    cudaStream_t s = stream_->get();
    if (n) {
      void* space = scratch(n * sizeof(double));
      CPB_CUDA_CHECK(cudaMemcpyAsync(space, data, n * sizeof(double), cudaMemcpyHostToDevice, s));
      CPB_NCCL_CHECK(ncclAllReduce(space, space, n, ncclFloat64, to_nccl(op), comm_, s));
      CPB_CUDA_CHECK(cudaMemcpyAsync(data, space, n * sizeof(double), cudaMemcpyDeviceToHost, s));
    }
    CudaEvent done(false);
    done.record(s);
    wait_event(done, CommOp::kAllReduce);
  }
  const int64_t b = 2 * as_i64(n * sizeof(double)) * (size_ - 1) / size_;
  count(stats_[CommOp::kAllReduce], b, b, seconds_since(t0));
}

void NcclCommunicator::barrier() {
  auto t0 = Clock::now();
  {
    // NCCL has no barrier: a one-element all-reduce every rank must join, after
    // the compute stream's work, then the host waits for it.
    DeviceScope scope(device_);
    cudaStream_t s = stream_->get();
    order_after_compute();
    void* one = scratch(sizeof(float));
    CPB_CUDA_CHECK(cudaMemsetAsync(one, 0, sizeof(float), s));
    CPB_NCCL_CHECK(ncclAllReduce(one, one, 1, ncclFloat32, ncclSum, comm_, s));
    CudaEvent done(false);
    done.record(s);
    wait_event(done, CommOp::kBarrier);
  }
  count(stats_[CommOp::kBarrier], 0, 0, seconds_since(t0));
}

std::unique_ptr<Communicator> NcclCommunicator::split(int color, int key) {
  CPB_CHECK(color >= 0, "split color {} must be >= 0", color);
  DeviceScope scope(device_);
  // ncclCommSplit is collective over this communicator: finish queued work first.
  stream_->synchronize();
  ncclComm_t sub = nullptr;
  CPB_NCCL_CHECK(ncclCommSplit(comm_, color, key, &sub, nullptr));
  CPB_CHECK(sub != nullptr, "ncclCommSplit returned no communicator for color {}", color);
  auto out = std::unique_ptr<NcclCommunicator>(new NcclCommunicator(sub, device_, timeout_s_));
  out->compute_stream_ = compute_stream_;
  return out;
}

}  // namespace cpb
