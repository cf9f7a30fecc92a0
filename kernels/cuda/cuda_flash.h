// cuda_flash: the Kernel adapter over the CUDA flash core (flash_launch.h). It
// validates TensorViews, turns each Mask into device block maps (forward/dQ tiles
// 128x64, dK/dV tiles 64x128) and caches them by mask contents, so the ring steps
// of a CP method, which repeat a handful of masks, upload each one once. Work is
// enqueued on the context's stream (the execution's compute queue); callers
// synchronise as for any CUDA op.
#pragma once

#include <cstdint>
#include <list>
#include <vector>

#include "common/cuda_runtime.h"
#include "kernels/cuda/flash_launch.h"
#include "kernels/kernel.h"

namespace cpb {

class CudaFlashKernel : public Kernel {
 public:
  Support supports(const AttentionShape& shape) const override;
  using Kernel::backward;
  using Kernel::forward;
  void forward(const ForwardArgs& args, const KernelContext& ctx) override;
  void backward(const BackwardArgs& args, const KernelContext& ctx) override;
  // Block maps and backward scratch, from the kernel's own tracking allocator.
  KernelMemory memory() const override;

  // Block maps uploaded so far (a repeated mask must not add to it).
  int64_t map_uploads() const { return map_uploads_; }

 private:
  void check_qkv_out(const TensorView& q, const TensorView& k, const TensorView& v,
                     const TensorView& out) const;
  struct UploadedMap {
    int64_t seq_q = 0, seq_k = 0, block_q = 0, block_k = 0;
    uint64_t hash = 0;
    std::vector<MaskSlice> slices;
    DeviceBuffer buffer;
    cuda::DeviceBlockMap view;
  };
  const cuda::DeviceBlockMap& device_map(const Mask& mask, int block_q, int block_k,
                                         cudaStream_t stream);

  static constexpr std::size_t kMapCacheSize = 64;
  DeviceAllocator alloc_;        // declared first: destroyed after the buffers it owns
  std::list<UploadedMap> maps_;  // most recently used first
  DeviceBuffer delta_;           // backward scratch, grown on demand
  int64_t map_uploads_ = 0;
};

}  // namespace cpb
