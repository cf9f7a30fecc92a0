// Host execution: CP schedules on host tensors, synchronously on the calling
// thread. Both queues are that thread, so ordering is program order; events are
// steady-clock time points; kernel time is the wall time of the kernel calls.
// This is the code every CP test runs through (the oracle of the schedule logic).
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "common/errors.h"
#include "kernels/lse_merge.h"
#include "parallel/execution.h"

namespace cpb {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kAlign = 64;  // a cache line; >= what any SIMD load needs

void copy_rows_host(const TensorView& src, int64_t st0, int64_t sh0, const TensorView& dst,
                    int64_t dt0, int64_t dh0, int64_t tokens, int64_t heads, bool add) {
  const int64_t d = src.head_dim;
  const bool raw = !add && src.dtype == dst.dtype;
  const std::size_t es = dtype_size(src.dtype);
  for (int64_t i = 0; i < tokens; ++i) {
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t so = src.offset(st0 + i, sh0 + h), dof = dst.offset(dt0 + i, dh0 + h);
      if (raw) {
        std::memcpy(static_cast<std::byte*>(dst.data) + dof * es,
                    static_cast<const std::byte*>(src.data) + so * es, d * es);
        continue;
      }
      if (add && src.dtype == DType::kF32 && dst.dtype == DType::kF32) {
        // fp32 accumulation (ring dK/dV sums): the hot case, kept a plain loop.
        const float* in = static_cast<const float*>(src.data) + so;
        float* acc = static_cast<float*>(dst.data) + dof;
        for (int64_t x = 0; x < d; ++x) acc[x] += in[x];
        continue;
      }
      for (int64_t x = 0; x < d; ++x) {
        float v = load_as_float(src.data, src.dtype, so + x);
        if (add) v += load_as_float(dst.data, dst.dtype, dof + x);
        store_from_float(dst.data, dst.dtype, dof + x, v);
      }
    }
  }
}

class HostExecution final : public Execution {
 public:
  Device device() const override { return Device::kCpu; }
  std::string name() const override { return "host"; }

  ExecBuffer allocate(std::size_t bytes) override {
    if (bytes == 0) return ExecBuffer(this, nullptr, 0);
    const std::size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
    void* p = std::aligned_alloc(kAlign, rounded);
    if (!p) throw std::bad_alloc();
    std::memset(p, 0, rounded);
    mem_.current_bytes += int64_t(bytes);
    mem_.peak_bytes = std::max(mem_.peak_bytes, mem_.current_bytes);
    return ExecBuffer(this, p, bytes);
  }
  ExecMemory memory() const override { return mem_; }
  void reset_peak() override { mem_.peak_bytes = mem_.current_bytes; }

  void upload(void* dst, const void* host_src, std::size_t bytes) override {
    if (bytes) std::memcpy(dst, host_src, bytes);
  }
  void download(void* host_dst, const void* src, std::size_t bytes) override {
    if (bytes) std::memcpy(host_dst, src, bytes);
  }

  void copy_rows(const TensorView& src, int64_t st0, int64_t sh0, const TensorView& dst,
                 int64_t dt0, int64_t dh0, int64_t tokens, int64_t heads, bool add) override {
    check_copy_rows(src, st0, sh0, dst, dt0, dh0, tokens, heads, device());
    copy_rows_host(src, st0, sh0, dst, dt0, dh0, tokens, heads, add);
  }

  void zero(const TensorView& t) override {
    const std::size_t es = dtype_size(t.dtype);
    for (int64_t i = 0; i < t.tokens; ++i)
      for (int64_t h = 0; h < t.heads; ++h)
        std::memset(static_cast<std::byte*>(t.data) + t.offset(i, h) * es, 0, t.head_dim * es);
  }

  void fill(const LseView& l, float value) override {
    for (int64_t i = 0; i < l.tokens; ++i)
      for (int64_t h = 0; h < l.heads; ++h) l.data[i * l.token_stride + h] = value;
  }

  void lse_merge(const TensorView& acc_out, const LseView& acc_lse, const TensorView& part_out,
                 const LseView& part_lse) override {
    lse_merge_into(acc_out, acc_lse, part_out, part_lse);
  }

  void forward(Kernel& k, const ForwardArgs& a) override {
    timed([&] { k.forward(a, KernelContext{}); });
  }
  void backward(Kernel& k, const BackwardArgs& a) override {
    timed([&] { k.backward(a, KernelContext{}); });
  }
  double compute_seconds() override { return compute_seconds_; }
  void reset_compute() override { compute_seconds_ = 0; }

  std::unique_ptr<CommRequest> start_p2p(Communicator& c, std::span<const P2POp> ops) override {
    return c.start_p2p(ops);
  }
  void complete(std::unique_ptr<CommRequest>& r) override {
    if (r) r->wait();
    r.reset();
  }
  void all_to_all(Communicator& c, const void* send, void* recv, std::size_t bytes) override {
    c.all_to_all(send, recv, bytes, Device::kCpu);
  }
  void all_gather(Communicator& c, const void* send, void* recv, std::size_t bytes) override {
    c.all_gather(send, recv, bytes, Device::kCpu);
  }
  void reduce_scatter_sum(Communicator& c, const float* send, float* recv,
                          std::size_t count) override {
    c.reduce_scatter_sum(send, recv, count, Device::kCpu);
  }

  Event record(Queue) override {
    events_.push_back(Clock::now());
    return {static_cast<int>(events_.size()) - 1};
  }
  void wait(Queue, Event) override {}  // one thread: program order already holds
  double elapsed(Event from, Event to) override {
    CPB_CHECK(from.valid() && to.valid() && to.id < int(events_.size()), "bad event");
    return std::chrono::duration<double>(events_[to.id] - events_[from.id]).count();
  }
  void synchronize() override {}

 protected:
  void release(void* data, std::size_t bytes) override {
    std::free(data);
    mem_.current_bytes -= int64_t(bytes);
  }

 private:
  template <typename F>
  void timed(F&& f) {
    const auto t0 = Clock::now();
    f();
    compute_seconds_ += std::chrono::duration<double>(Clock::now() - t0).count();
  }

  ExecMemory mem_;
  double compute_seconds_ = 0;
  std::vector<Clock::time_point> events_;
};

}  // namespace

std::unique_ptr<Execution> make_host_execution() { return std::make_unique<HostExecution>(); }

}  // namespace cpb
