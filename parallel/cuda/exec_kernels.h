// Device kernels of the CUDA execution (parallel/cuda_execution.cc): strided row
// copies with cast and accumulate (Ulysses packing, fp32 gradient sums), fills,
// and the LSE merge of ring steps. Plain C++ so nvcc builds it without fmt.
// Decision: dtypes are passed as runtime codes and switched on per element; the
// rows are short (head_dim) and these ops are a small share of a CP step.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace cpb::cuda {

enum ElemType : int { kElemF32 = 0, kElemBF16 = 1, kElemF16 = 2 };

// A [tokens, heads, head_dim] view with element strides (head_dim contiguous).
struct RowView {
  void* data;
  int type;  // ElemType
  int64_t token_stride, head_stride;
};

// dst[dt0 + i, dh0 + h, x] (=|+=) src[st0 + i, sh0 + h, x], converting through fp32.
void copy_rows(RowView src, int64_t st0, int64_t sh0, RowView dst, int64_t dt0, int64_t dh0,
               int64_t tokens, int64_t heads, int64_t head_dim, bool add, cudaStream_t stream);
// dst[i, h, x] = 0.
void zero_rows(RowView dst, int64_t tokens, int64_t heads, int64_t head_dim, cudaStream_t stream);
// lse[i * token_stride + h] = value.
void fill_lse(float* lse, int64_t tokens, int64_t heads, int64_t token_stride, float value,
              cudaStream_t stream);
// acc := merge(acc, part) over [tokens, heads] (kernels/lse_merge.h semantics).
void lse_merge(RowView acc_out, float* acc_lse, int64_t acc_lse_stride, RowView part_out,
               const float* part_lse, int64_t part_lse_stride, int64_t tokens, int64_t heads,
               int64_t head_dim, cudaStream_t stream);

}  // namespace cpb::cuda
