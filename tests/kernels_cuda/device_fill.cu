#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/cuda/cuda_check.h"
#include "tests/kernels_cuda/device_fill.h"

namespace cpb::testing {
namespace {

__device__ uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

template <typename T>
__global__ void fill_kernel(T* data, int64_t count, uint64_t seed) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count;
       i += int64_t{gridDim.x} * blockDim.x) {
    const float u = static_cast<float>(mix64(seed * 0x9e3779b97f4a7c15ull + i) >> 40) * 0x1p-24f;
    data[i] = static_cast<T>((2.f * u - 1.f) * 1.7320508f);
  }
}

}  // namespace

void device_fill_random(void* data, int64_t count, bool bf16, uint64_t seed, cudaStream_t stream) {
  if (count == 0) return;
  if (bf16)
    fill_kernel<<<1024, 256, 0, stream>>>(static_cast<__nv_bfloat16*>(data), count, seed);
  else
    fill_kernel<<<1024, 256, 0, stream>>>(static_cast<__half*>(data), count, seed);
  CPB_CUDA_CORE_CHECK_LAUNCH();
}

}  // namespace cpb::testing
