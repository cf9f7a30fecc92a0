// Kernel: single-device attention, forward and backward, over local tensors and
// a local mask. It knows nothing of ranks: ring steps compose through the LSE
// (forward) and through backward() taking the *global* out and LSE, with fp32
// gradient accumulators that `accumulate` adds into.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/registry.h"
#include "kernels/tensor.h"
#include "masks/mask.h"

namespace cpb {

struct AttentionShape {
  int64_t seq_q = 0, seq_k = 0;
  int64_t heads_q = 0, heads_kv = 0;  // heads_q % heads_kv == 0 (GQA)
  int64_t head_dim = 0;
  DType dtype = DType::kF32;  // storage of q, k, v, out, dout
  Device device = Device::kCpu;
};

// Empty reason = supported.
struct Support {
  std::string reason;
  bool ok() const { return reason.empty(); }
  static Support yes() { return {}; }
  static Support no(std::string why) { return {std::move(why)}; }
};

struct ForwardArgs {
  TensorView q;      // [seq_q, heads_q, head_dim]
  TensorView k, v;   // [seq_k, heads_kv, head_dim]
  const Mask* mask;  // seq_q x seq_k, local coordinates
  TensorView out;    // [seq_q, heads_q, head_dim], normalised over the keys seen
  LseView lse;       // [seq_q, heads_q] fp32, natural log, -inf when no key seen
  float scale;       // softmax scale, usually 1/sqrt(head_dim)
};

struct BackwardArgs {
  TensorView q, k, v;
  const Mask* mask;
  TensorView out;     // global (merged) output for these queries
  TensorView dout;    // [seq_q, heads_q, head_dim]
  LseView lse;        // global (merged) LSE for these queries
  TensorView dq;      // fp32 [seq_q, heads_q, head_dim]
  TensorView dk, dv;  // fp32 [seq_k, heads_kv, head_dim]
  float scale;
  bool accumulate;  // add into dq/dk/dv instead of overwriting
};

// Where a kernel call runs, handed in by the execution that issues it (parallel/
// execution.h). Host kernels run on the calling thread and ignore it; a CUDA
// kernel enqueues its work on `stream` and never synchronises the device.
struct KernelContext {
  void* stream = nullptr;  // cudaStream_t of the compute queue; null = legacy default stream
};

// Memory a kernel holds of its own (block-map caches, backward scratch), beside
// the tensors it is given: part of a case's device memory.
struct KernelMemory {
  int64_t device_peak_bytes = 0;       // tracked device allocations, high-water mark
  int64_t driver_peak_used_bytes = 0;  // driver's used bytes sampled at those allocations
};

class Kernel {
 public:
  static constexpr const char* kRegistryNoun = "kernel";
  virtual ~Kernel() = default;
  virtual Support supports(const AttentionShape& shape) const = 0;
  virtual void forward(const ForwardArgs& args, const KernelContext& ctx) = 0;
  virtual void backward(const BackwardArgs& args, const KernelContext& ctx) = 0;
  virtual KernelMemory memory() const { return {}; }

  // Default context (calling thread / legacy stream): single-kernel tests and tools.
  void forward(const ForwardArgs& args) { forward(args, KernelContext{}); }
  void backward(const BackwardArgs& args) { backward(args, KernelContext{}); }
};

using KernelRegistry = Registry<Kernel>;

// In a kernel's .cc:  CPB_REGISTER_KERNEL(cpu_flash, CpuFlashKernel);
#define CPB_REGISTER_KERNEL(name, Type)                                                   \
  static const bool cpb_registered_kernel_##name = ::cpb::KernelRegistry::instance().add( \
      #name, [] { return std::unique_ptr<::cpb::Kernel>(new Type()); })

}  // namespace cpb
