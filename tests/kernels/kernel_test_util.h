// Test fixtures for attention kernels: owning THD buffers in any storage dtype,
// optionally with padded strides (so kernels are checked on non-packed views),
// and a Problem bundling q/k/v/out/lse/dout/grads for one shape. Values are
// drawn from a seeded generator so every failure reproduces.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/kernel.h"
#include "masks/mask.h"

namespace cpb::test {

struct Buffer {
  std::vector<uint8_t> bytes;
  TensorView view;

  float get(int64_t t, int64_t h, int64_t i) const {
    return load_as_float(view.data, view.dtype, view.offset(t, h) + i);
  }
  void set(int64_t t, int64_t h, int64_t i, float v) {
    store_from_float(view.data, view.dtype, view.offset(t, h) + i, v);
  }
  // View of tokens [begin, begin + n): what a ring step hands a kernel.
  TensorView tokens(int64_t begin, int64_t n) const {
    TensorView v = view;
    v.data = static_cast<uint8_t*>(view.data) +
             begin * view.token_stride * static_cast<int64_t>(dtype_size(view.dtype));
    v.tokens = n;
    return v;
  }
};

// Strided buffers pad both strides so a kernel that assumes packed data fails.
inline Buffer make_buffer(int64_t tokens, int64_t heads, int64_t d, DType dtype, bool strided) {
  Buffer b;
  const int64_t hs = strided ? d + 3 : d;
  const int64_t ts = strided ? heads * hs + 5 : heads * d;
  b.bytes.assign(static_cast<size_t>((tokens * ts + 8) * static_cast<int64_t>(dtype_size(dtype))),
                 0);
  b.view = TensorView{.data = b.bytes.data(),
                      .dtype = dtype,
                      .device = Device::kCpu,
                      .tokens = tokens,
                      .heads = heads,
                      .head_dim = d,
                      .token_stride = ts,
                      .head_stride = hs};
  return b;
}

inline void fill(Buffer& b, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  for (int64_t t = 0; t < b.view.tokens; ++t)
    for (int64_t h = 0; h < b.view.heads; ++h)
      for (int64_t i = 0; i < b.view.head_dim; ++i) b.set(t, h, i, dist(rng));
}

inline void fill_value(Buffer& b, float v) {
  for (int64_t t = 0; t < b.view.tokens; ++t)
    for (int64_t h = 0; h < b.view.heads; ++h)
      for (int64_t i = 0; i < b.view.head_dim; ++i) b.set(t, h, i, v);
}

struct Lse {
  std::vector<float> data;
  LseView view;
  Lse(int64_t tokens, int64_t heads)
      : data(static_cast<size_t>(tokens * heads), std::numeric_limits<float>::quiet_NaN()),
        view{.data = data.data(),
             .device = Device::kCpu,
             .tokens = tokens,
             .heads = heads,
             .token_stride = heads} {}
  LseView rows(int64_t begin, int64_t n) const {
    LseView v = view;
    v.data = const_cast<float*>(data.data()) + begin * view.token_stride;
    v.tokens = n;
    return v;
  }
  float at(int64_t t, int64_t h) const { return data[static_cast<size_t>(t * view.heads + h)]; }
};

struct Shape {
  int64_t sq, sk, hq, hkv, d;
  DType dtype = DType::kF32;
  bool strided = false;
};

// Everything one forward + backward call touches.
struct Problem {
  Shape shape;
  Buffer q, k, v, out, dout, dq, dk, dv;
  Lse lse;

  Problem(const Shape& s, uint32_t seed)
      : shape(s),
        q(make_buffer(s.sq, s.hq, s.d, s.dtype, s.strided)),
        k(make_buffer(s.sk, s.hkv, s.d, s.dtype, s.strided)),
        v(make_buffer(s.sk, s.hkv, s.d, s.dtype, s.strided)),
        out(make_buffer(s.sq, s.hq, s.d, s.dtype, s.strided)),
        dout(make_buffer(s.sq, s.hq, s.d, s.dtype, s.strided)),
        dq(make_buffer(s.sq, s.hq, s.d, DType::kF32, s.strided)),
        dk(make_buffer(s.sk, s.hkv, s.d, DType::kF32, s.strided)),
        dv(make_buffer(s.sk, s.hkv, s.d, DType::kF32, s.strided)),
        lse(s.sq, s.hq) {
    std::mt19937 rng(seed);
    // Scores of a few units: softmax neither uniform nor one-hot.
    fill(q, rng, -1.5f, 1.5f);
    fill(k, rng, -1.5f, 1.5f);
    fill(v, rng, -1.f, 1.f);
    fill(dout, rng, -1.f, 1.f);
  }

  float scale() const { return 1.f / std::sqrt(static_cast<float>(shape.d)); }

  AttentionShape attention_shape() const {
    return {.seq_q = shape.sq,
            .seq_k = shape.sk,
            .heads_q = shape.hq,
            .heads_kv = shape.hkv,
            .head_dim = shape.d,
            .dtype = shape.dtype,
            .device = Device::kCpu};
  }

  ForwardArgs forward_args(const Mask& mask) {
    return {.q = q.view,
            .k = k.view,
            .v = v.view,
            .mask = &mask,
            .out = out.view,
            .lse = lse.view,
            .scale = scale()};
  }

  BackwardArgs backward_args(const Mask& mask, bool accumulate) {
    return {.q = q.view,
            .k = k.view,
            .v = v.view,
            .mask = &mask,
            .out = out.view,
            .dout = dout.view,
            .lse = lse.view,
            .dq = dq.view,
            .dk = dk.view,
            .dv = dv.view,
            .scale = scale(),
            .accumulate = accumulate};
  }
};

// Largest |a - b| over a tensor, and the largest |b| (for relative bounds).
struct Diff {
  double max_abs = 0, ref_max = 0;
  bool finite = true;
};

inline Diff diff(const Buffer& a, const Buffer& b) {
  Diff d;
  for (int64_t t = 0; t < a.view.tokens; ++t)
    for (int64_t h = 0; h < a.view.heads; ++h)
      for (int64_t i = 0; i < a.view.head_dim; ++i) {
        const double x = a.get(t, h, i), y = b.get(t, h, i);
        if (!std::isfinite(x)) d.finite = false;
        d.max_abs = std::max(d.max_abs, std::abs(x - y));
        d.ref_max = std::max(d.ref_max, std::abs(y));
      }
  return d;
}

}  // namespace cpb::test
