// CUDA execution: CP schedules on device tensors of the current GPU. Kernels,
// copies and merges go on a compute stream; communication is issued from the
// host on the communicator's own path (NCCL's stream, or MPI staged through
// pinned host buffers, or CUDA-aware MPI).
// Decision: before every comm op the host waits for the compute stream. Staged
// MPI reads the device buffer from the host, so it needs the producer finished,
// and one rule that is right for every backend beats a per-backend one. It costs
// a launch gap, not overlap: a ring posts hop i+1, then queues kernel i, then
// waits for the hop, so the transfer runs while kernel i does.
#include <algorithm>
#include <limits>
#include <vector>

#include "common/cuda_runtime.h"
#include "parallel/cuda/exec_kernels.h"
#include "parallel/execution.h"

namespace cpb {
namespace {

int elem_type(DType t) {
  switch (t) {
    case DType::kBF16:
      return cuda::kElemBF16;
    case DType::kF16:
      return cuda::kElemF16;
    case DType::kF32:
      return cuda::kElemF32;
  }
  CPB_CHECK(false, "dtype {} has no device element type", to_string(t));
}

cuda::RowView rows(const TensorView& t) {
  return {t.data, elem_type(t.dtype), t.token_stride, t.head_stride};
}

// One grid block per row: the launch needs the row count to fit a grid dimension.
void check_rows(int64_t tokens, int64_t heads) {
  CPB_CHECK(tokens * heads < std::numeric_limits<int>::max(), "{} x {} rows exceed one kernel grid",
            tokens, heads);
}

class CudaExecution final : public Execution {
 public:
  CudaExecution() = default;
  ~CudaExecution() override { (void)cudaDeviceSynchronize(); }

  Device device() const override { return Device::kCuda; }
  std::string name() const override { return "cuda"; }

  ExecBuffer allocate(std::size_t bytes) override {
    if (bytes == 0) return ExecBuffer(this, nullptr, 0);
    void* p = alloc_.allocate(bytes);  // DeviceOutOfMemory -> case status "oom"
    CPB_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, compute()));
    return ExecBuffer(this, p, bytes);
  }
  ExecMemory memory() const override {
    const DeviceMemoryStats s = alloc_.stats();
    return {.current_bytes = s.current_bytes,
            .peak_bytes = s.peak_bytes,
            .driver_peak_used_bytes =
                std::max(s.driver_peak_used_bytes, driver_memory_view().used_bytes())};
  }
  void reset_peak() override { alloc_.reset_peak(); }

  void upload(void* dst, const void* host_src, std::size_t bytes) override {
    if (!bytes) return;
    CPB_CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, compute()));
    compute_.synchronize();
  }
  void download(void* host_dst, const void* src, std::size_t bytes) override {
    if (!bytes) return;
    CPB_CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, compute()));
    compute_.synchronize();
  }

  void copy_rows(const TensorView& src, int64_t st0, int64_t sh0, const TensorView& dst,
                 int64_t dt0, int64_t dh0, int64_t tokens, int64_t heads, bool add) override {
    check_copy_rows(src, st0, sh0, dst, dt0, dh0, tokens, heads, device());
    if (tokens == 0 || heads == 0) return;
    const int64_t d = src.head_dim;
    if (!add && src.dtype == dst.dtype && src.head_stride == d && dst.head_stride == d) {
      // A head slice of every token is one contiguous span: a pitched copy.
      const std::size_t es = dtype_size(src.dtype);
      CPB_CUDA_CHECK(cudaMemcpy2DAsync(
          static_cast<std::byte*>(dst.data) + dst.offset(dt0, dh0) * es, dst.token_stride * es,
          static_cast<const std::byte*>(src.data) + src.offset(st0, sh0) * es,
          src.token_stride * es, heads * d * es, tokens, cudaMemcpyDeviceToDevice, compute()));
      return;
    }
    check_rows(tokens, heads);
    cuda::copy_rows(rows(src), st0, sh0, rows(dst), dt0, dh0, tokens, heads, d, add, compute());
    CPB_CUDA_CHECK_LAUNCH();
  }

  void zero(const TensorView& t) override {
    if (t.tokens == 0 || t.heads == 0) return;
    const std::size_t es = dtype_size(t.dtype);
    if (t.head_stride == t.head_dim) {
      CPB_CUDA_CHECK(cudaMemset2DAsync(t.data, t.token_stride * es, 0, t.heads * t.head_dim * es,
                                       t.tokens, compute()));
      return;
    }
    check_rows(t.tokens, t.heads);
    cuda::zero_rows(rows(t), t.tokens, t.heads, t.head_dim, compute());
    CPB_CUDA_CHECK_LAUNCH();
  }

  void fill(const LseView& l, float value) override {
    cuda::fill_lse(l.data, l.tokens, l.heads, l.token_stride, value, compute());
    CPB_CUDA_CHECK_LAUNCH();
  }

  void lse_merge(const TensorView& acc_out, const LseView& acc_lse, const TensorView& part_out,
                 const LseView& part_lse) override {
    CPB_CHECK(acc_out.tokens == part_out.tokens && acc_out.heads == part_out.heads &&
                  acc_out.head_dim == part_out.head_dim,
              "merge of mismatched shapes");
    check_rows(acc_out.tokens, acc_out.heads);
    cuda::lse_merge(rows(acc_out), acc_lse.data, acc_lse.token_stride, rows(part_out),
                    part_lse.data, part_lse.token_stride, acc_out.tokens, acc_out.heads,
                    acc_out.head_dim, compute());
    CPB_CUDA_CHECK_LAUNCH();
  }

  void forward(Kernel& k, const ForwardArgs& a) override {
    timed([&] { k.forward(a, KernelContext{.stream = compute()}); });
  }
  void backward(Kernel& k, const BackwardArgs& a) override {
    timed([&] { k.backward(a, KernelContext{.stream = compute()}); });
  }
  double compute_seconds() override {
    double s = 0;
    for (int i = 0; i < used_; i += 2)
      s += seconds_between(*kernel_events_[i], *kernel_events_[i + 1]);
    return s;
  }
  void reset_compute() override { used_ = 0; }

  std::unique_ptr<CommRequest> start_p2p(Communicator& c, std::span<const P2POp> ops) override {
    inputs_ready();
    return c.start_p2p(ops);
  }
  void complete(std::unique_ptr<CommRequest>& r) override {
    // Returns once the data is in place on the device (NCCL: its stream is done;
    // staged MPI: copied back), so compute queued after this sees it.
    if (r) r->wait();
    r.reset();
  }
  void all_to_all(Communicator& c, const void* send, void* recv, std::size_t bytes) override {
    inputs_ready();
    c.all_to_all(send, recv, bytes, Device::kCuda);
  }
  void all_gather(Communicator& c, const void* send, void* recv, std::size_t bytes) override {
    inputs_ready();
    c.all_gather(send, recv, bytes, Device::kCuda);
  }
  void reduce_scatter_sum(Communicator& c, const float* send, float* recv,
                          std::size_t count) override {
    inputs_ready();
    c.reduce_scatter_sum(send, recv, count, Device::kCuda);
  }

  Event record(Queue q) override {
    events_.push_back(std::make_unique<CudaEvent>(true));
    events_.back()->record(stream(q));
    return {static_cast<int>(events_.size()) - 1};
  }
  void wait(Queue waiter, Event e) override {
    CPB_CHECK(e.valid() && e.id < int(events_.size()), "bad event");
    CPB_CUDA_CHECK(cudaStreamWaitEvent(stream(waiter), events_[e.id]->get(), 0));
  }
  double elapsed(Event from, Event to) override {
    CPB_CHECK(from.valid() && to.valid() && to.id < int(events_.size()), "bad event");
    return seconds_between(*events_[from.id], *events_[to.id]);
  }
  void synchronize() override {
    compute_.synchronize();
    comm_.synchronize();
  }

 protected:
  void release(void* data, std::size_t) override {
    // The buffer may still be read by queued work: cudaFree waits for the device.
    alloc_.deallocate(data);
  }

 private:
  cudaStream_t compute() const { return compute_.get(); }
  cudaStream_t stream(Queue q) const { return q == Queue::kCompute ? compute_.get() : comm_.get(); }
  void inputs_ready() { compute_.synchronize(); }

  static double seconds_between(const CudaEvent& a, const CudaEvent& b) {
    b.synchronize();
    float ms = 0;
    CPB_CUDA_CHECK(cudaEventElapsedTime(&ms, a.get(), b.get()));
    return ms * 1e-3;
  }

  // Start/stop events around each kernel call, reused across iterations.
  template <typename F>
  void timed(F&& f) {
    while (int(kernel_events_.size()) < used_ + 2)
      kernel_events_.push_back(std::make_unique<CudaEvent>(true));
    kernel_events_[used_]->record(compute());
    f();
    kernel_events_[used_ + 1]->record(compute());
    used_ += 2;
  }

  DeviceAllocator alloc_;  // declared first: destroyed after the streams' work
  CudaStream compute_, comm_;
  std::vector<std::unique_ptr<CudaEvent>> kernel_events_;
  int used_ = 0;
  std::vector<std::unique_ptr<CudaEvent>> events_;
};

}  // namespace

std::unique_ptr<Execution> make_cuda_execution(int device, std::string* why) {
  const int n = cuda_device_count();
  if (device < 0 || device >= n) {
    if (why)
      *why = n == 0 ? std::string("this rank sees no CUDA device")
                    : fmt::format("GPU {} asked, this rank sees {}", device, n);
    return nullptr;
  }
  // Streams and events belong to the device current when they are made.
  CPB_CUDA_CHECK(cudaSetDevice(device));
  return std::make_unique<CudaExecution>();
}

int visible_gpus() { return cuda_device_count(); }

}  // namespace cpb
