// TensorView: a non-owning view of one rank's tokens in THD layout
// [tokens, heads, head_dim], head_dim contiguous. Strides are in elements so a
// view can be a head slice of a larger buffer (Ulysses) without a copy.
#pragma once

#include <cstdint>

#include "common/dtype.h"

namespace cpb {

struct TensorView {
  void* data = nullptr;
  DType dtype = DType::kF32;
  Device device = Device::kCpu;
  int64_t tokens = 0, heads = 0, head_dim = 0;
  int64_t token_stride = 0;  // elements between token t and t+1 (heads*head_dim when packed)
  int64_t head_stride = 0;   // elements between head h and h+1 (head_dim when packed)

  int64_t offset(int64_t t, int64_t h) const { return t * token_stride + h * head_stride; }
  int64_t numel() const { return tokens * heads * head_dim; }
  bool packed() const { return token_stride == heads * head_dim && head_stride == head_dim; }
};

inline TensorView packed_view(void* data, DType dtype, Device device, int64_t tokens, int64_t heads,
                              int64_t head_dim) {
  return {data, dtype, device, tokens, heads, head_dim, heads * head_dim, head_dim};
}

// LSE and other per-(token, head) fp32 values: [tokens, heads], contiguous. Same
// token-major order as THD so sharding, gathering and all-to-all treat it like a
// tensor with head_dim 1. Natural log; -inf for a row that sees no key.
struct LseView {
  float* data = nullptr;
  Device device = Device::kCpu;
  int64_t tokens = 0, heads = 0;
  int64_t token_stride = 0;  // elements; heads when packed
};

// An LSE seen as a tensor with head_dim 1 (and back), so copies, head slicing and
// all-to-all treat it like out.
inline TensorView lse_as_tensor(const LseView& l) {
  return {l.data, DType::kF32, l.device, l.tokens, l.heads, 1, l.token_stride, 1};
}
inline LseView tensor_as_lse(const TensorView& t) {
  return {static_cast<float*>(t.data), t.device, t.tokens, t.heads, t.token_stride};
}

}  // namespace cpb
