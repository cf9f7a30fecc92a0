#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>

#include "parallel/cuda/exec_kernels.h"

namespace cpb::cuda {
namespace {

constexpr int kThreads = 128;

__device__ inline float load(const void* p, int type, int64_t i) {
  switch (type) {
    case kElemBF16:
      return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    case kElemF16:
      return __half2float(static_cast<const __half*>(p)[i]);
    default:
      return static_cast<const float*>(p)[i];
  }
}

__device__ inline void store(void* p, int type, int64_t i, float v) {
  switch (type) {
    case kElemBF16:
      static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16(v);
      break;
    case kElemF16:
      static_cast<__half*>(p)[i] = __float2half(v);
      break;
    default:
      static_cast<float*>(p)[i] = v;
  }
}

// One block per (token, head) row, threads over head_dim.
__global__ void copy_rows_kernel(RowView src, int64_t st0, int64_t sh0, RowView dst, int64_t dt0,
                                 int64_t dh0, int64_t heads, int64_t head_dim, bool add) {
  const int64_t row = blockIdx.x, i = row / heads, h = row % heads;
  const int64_t so = (st0 + i) * src.token_stride + (sh0 + h) * src.head_stride;
  const int64_t dof = (dt0 + i) * dst.token_stride + (dh0 + h) * dst.head_stride;
  for (int64_t x = threadIdx.x; x < head_dim; x += blockDim.x) {
    float v = load(src.data, src.type, so + x);
    if (add) v += load(dst.data, dst.type, dof + x);
    store(dst.data, dst.type, dof + x, v);
  }
}

__global__ void zero_rows_kernel(RowView dst, int64_t heads, int64_t head_dim) {
  const int64_t row = blockIdx.x, i = row / heads, h = row % heads;
  const int64_t o = i * dst.token_stride + h * dst.head_stride;
  for (int64_t x = threadIdx.x; x < head_dim; x += blockDim.x)
    store(dst.data, dst.type, o + x, 0.f);
}

__global__ void fill_lse_kernel(float* lse, int64_t n, int64_t heads, int64_t stride, float value) {
  const int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k < n) lse[(k / heads) * stride + k % heads] = value;
}

// Stable pairwise merge; a side at -inf contributes nothing, two empty sides stay
// empty (no NaN from (-inf) - (-inf)).
__global__ void lse_merge_kernel(RowView acc, float* acc_lse, int64_t acc_stride, RowView part,
                                 const float* part_lse, int64_t part_stride, int64_t heads,
                                 int64_t head_dim) {
  const int64_t row = blockIdx.x, t = row / heads, h = row % heads;
  float* la_p = acc_lse + t * acc_stride + h;
  const float la = *la_p, lb = part_lse[t * part_stride + h];
  if (lb == -INFINITY) return;
  const float m = fmaxf(la, lb);
  const float lse = m + logf(expf(la - m) + expf(lb - m));
  const float wa = la == -INFINITY ? 0.f : expf(la - lse), wb = expf(lb - lse);
  const int64_t oa = t * acc.token_stride + h * acc.head_stride;
  const int64_t ob = t * part.token_stride + h * part.head_stride;
  for (int64_t x = threadIdx.x; x < head_dim; x += blockDim.x)
    store(acc.data, acc.type, oa + x,
          wa * load(acc.data, acc.type, oa + x) + wb * load(part.data, part.type, ob + x));
  __syncthreads();  // every thread read `la` before it is replaced
  if (threadIdx.x == 0) *la_p = lse;
}

int threads_for(int64_t head_dim) { return head_dim >= kThreads ? kThreads : 32; }

}  // namespace

// Grids are one block per row: rows <= 2^31 - 1 is checked by the caller.
void copy_rows(RowView src, int64_t st0, int64_t sh0, RowView dst, int64_t dt0, int64_t dh0,
               int64_t tokens, int64_t heads, int64_t head_dim, bool add, cudaStream_t stream) {
  if (tokens * heads == 0) return;
  copy_rows_kernel<<<unsigned(tokens * heads), threads_for(head_dim), 0, stream>>>(
      src, st0, sh0, dst, dt0, dh0, heads, head_dim, add);
}

void zero_rows(RowView dst, int64_t tokens, int64_t heads, int64_t head_dim, cudaStream_t stream) {
  if (tokens * heads == 0) return;
  zero_rows_kernel<<<unsigned(tokens * heads), threads_for(head_dim), 0, stream>>>(dst, heads,
                                                                                   head_dim);
}

void fill_lse(float* lse, int64_t tokens, int64_t heads, int64_t token_stride, float value,
              cudaStream_t stream) {
  const int64_t n = tokens * heads;
  if (n == 0) return;
  fill_lse_kernel<<<unsigned((n + 255) / 256), 256, 0, stream>>>(lse, n, heads, token_stride,
                                                                 value);
}

void lse_merge(RowView acc_out, float* acc_lse, int64_t acc_lse_stride, RowView part_out,
               const float* part_lse, int64_t part_lse_stride, int64_t tokens, int64_t heads,
               int64_t head_dim, cudaStream_t stream) {
  if (tokens * heads == 0) return;
  lse_merge_kernel<<<unsigned(tokens * heads), threads_for(head_dim), 0, stream>>>(
      acc_out, acc_lse, acc_lse_stride, part_out, part_lse, part_lse_stride, heads, head_dim);
}

}  // namespace cpb::cuda
