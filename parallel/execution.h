// Execution: everything a CP schedule does to memory, and in what order, so one
// schedule (parallel/cp_common.cc, ring_allgather.cc, ...) runs unchanged on host
// tensors, on CUDA tensors, or on no data at all (a trace for the model).
// Decision: the ordering model is two queues per rank, compute and comm. Kernel
// calls, copies and merges go on the compute queue; collectives and p2p go on the
// comm queue. A comm op is always issued after the compute work queued before it
// (its inputs were produced there), and completing a request orders later compute
// work after it. Events mark points on a queue for timing.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>

#include "kernels/kernel.h"
#include "parallel/communicator.h"

namespace cpb {

class Execution;

// A work buffer from an execution: tracked in its memory accounting, freed when
// the handle dies. data() is null for an execution without memory (trace).
class ExecBuffer {
 public:
  ExecBuffer() = default;
  ExecBuffer(Execution* owner, void* data, std::size_t bytes)
      : owner_(owner), data_(data), bytes_(bytes) {}
  ExecBuffer(ExecBuffer&& o) noexcept { *this = std::move(o); }
  ExecBuffer& operator=(ExecBuffer&& o) noexcept;
  ExecBuffer(const ExecBuffer&) = delete;
  ExecBuffer& operator=(const ExecBuffer&) = delete;
  ~ExecBuffer() { reset(); }

  void* data() const { return data_; }
  float* f32() const { return static_cast<float*>(data_); }
  std::size_t bytes() const { return bytes_; }
  void reset();

 private:
  Execution* owner_ = nullptr;
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

enum class Queue { kCompute, kComm };

// A point on one queue, from record(); compared with another by elapsed().
struct Event {
  int id = -1;
  bool valid() const { return id >= 0; }
};

// Peak memory the execution's allocations reached (its own view: host bytes for
// host, tracked device bytes for cuda, modelled bytes for trace).
struct ExecMemory {
  int64_t current_bytes = 0;
  int64_t peak_bytes = 0;
  // Device executions: the driver's used bytes on the device (everything on it,
  // every process's), the highest seen at an allocation or now; 0 elsewhere.
  int64_t driver_peak_used_bytes = 0;
};

class Execution {
 public:
  virtual ~Execution() = default;

  // Where the tensors this execution works on live.
  virtual Device device() const = 0;
  virtual std::string name() const = 0;  // "host", "cuda", "trace"

  // --- Memory. Buffers come zeroed.
  virtual ExecBuffer allocate(std::size_t bytes) = 0;
  virtual ExecMemory memory() const = 0;
  virtual void reset_peak() = 0;

  // --- Harness transfers between host memory and this execution's buffers
  // (inputs in, results out for --verify), synchronous.
  virtual void upload(void* dst, const void* host_src, std::size_t bytes) = 0;
  virtual void download(void* host_dst, const void* src, std::size_t bytes) = 0;

  // --- Data movement on the compute queue.
  // dst[dt0 + i, dh0 + h, :] (=|+=) src[st0 + i, sh0 + h, :] for i < tokens, h < heads:
  // covers Ulysses packing (head slices), casts (dtypes differ) and fp32 accumulation (add).
  virtual void copy_rows(const TensorView& src, int64_t st0, int64_t sh0, const TensorView& dst,
                         int64_t dt0, int64_t dh0, int64_t tokens, int64_t heads, bool add) = 0;
  virtual void zero(const TensorView& t) = 0;
  virtual void fill(const LseView& l, float value) = 0;
  // acc := LSE-merge(acc, part) (kernels/lse_merge.h semantics).
  virtual void lse_merge(const TensorView& acc_out, const LseView& acc_lse,
                         const TensorView& part_out, const LseView& part_lse) = 0;

  // --- Kernel calls on the compute queue; their time adds to compute_seconds().
  virtual void forward(Kernel& k, const ForwardArgs& a) = 0;
  virtual void backward(Kernel& k, const BackwardArgs& a) = 0;
  // Kernel time since reset_compute(); may wait for queued work to finish.
  virtual double compute_seconds() = 0;
  virtual void reset_compute() = 0;

  // --- Communication on the comm queue (buffers are this execution's device).
  virtual std::unique_ptr<CommRequest> start_p2p(Communicator& c, std::span<const P2POp> ops) = 0;
  // Later compute work is ordered after the request; resets it.
  virtual void complete(std::unique_ptr<CommRequest>& r) = 0;
  virtual void all_to_all(Communicator& c, const void* send, void* recv,
                          std::size_t bytes_per_rank) = 0;
  virtual void all_gather(Communicator& c, const void* send, void* recv,
                          std::size_t bytes_per_rank) = 0;
  virtual void reduce_scatter_sum(Communicator& c, const float* send, float* recv,
                                  std::size_t count_per_rank) = 0;

  // --- Ordering and timing.
  virtual Event record(Queue q) = 0;
  virtual void wait(Queue waiter, Event e) = 0;      // waiter's later work runs after e
  virtual double elapsed(Event from, Event to) = 0;  // seconds; waits for `to`
  virtual void synchronize() = 0;                    // host waits for both queues

 protected:
  friend class ExecBuffer;
  virtual void release(void* data, std::size_t bytes) = 0;
};

// The checks every copy_rows implementation makes: same head_dim, both ranges in
// bounds, both tensors on `device`.
void check_copy_rows(const TensorView& src, int64_t st0, int64_t sh0, const TensorView& dst,
                     int64_t dt0, int64_t dh0, int64_t tokens, int64_t heads, Device device);

// Host tensors: today's CPU code, synchronous; queues are the calling thread.
std::unique_ptr<Execution> make_host_execution();
// CUDA tensors on GPU `device` (made current): a compute and a comm stream,
// events, small kernels for packing and merging. Null with `why` set where this
// build has no CUDA or the rank sees no GPU.
std::unique_ptr<Execution> make_cuda_execution(int device, std::string* why);
// How many GPUs this rank sees (0 without CUDA or a driver).
int visible_gpus();

}  // namespace cpb
