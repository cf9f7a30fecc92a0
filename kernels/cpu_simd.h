// Host SIMD building blocks for the CPU kernels: a register-blocked fp32 GEMM
// micro-kernel (C += A * B, B row-major with its columns in SIMD vectors, A read
// through two strides so A^T costs nothing) and a vectorised exp2. Written with
// GCC/Clang vector extensions, not intrinsics, so one source compiles to
// AVX-512, AVX2 or SSE; the register block is sized for the vector width.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>

namespace cpb::simd {

#if defined(__AVX512F__)
inline constexpr int kWidth = 16;  // floats per vector
inline constexpr int kNv = 4;      // vectors per micro-tile row (64 columns)
#elif defined(__AVX__)
inline constexpr int kWidth = 8;
inline constexpr int kNv = 2;
#else
inline constexpr int kWidth = 4;
inline constexpr int kNv = 2;
#endif
inline constexpr int kMr = 6;  // micro-tile rows: kMr * kNv accumulators stay in registers

using VecF = float __attribute__((vector_size(kWidth * 4)));
using VecI = int32_t __attribute__((vector_size(kWidth * 4)));

inline VecF load(const float* p) {
  VecF v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void store(float* p, VecF v) { std::memcpy(p, &v, sizeof(v)); }
// Brace-initialised, not VecF{} + x: IEEE forbids folding 0 + x (x may be -0), so
// that form costs an add before every broadcast.
inline VecF splat(float x) {
  return [x]<std::size_t... I>(std::index_sequence<I...>) { return VecF{((void)I, x)...}; }
  (std::make_index_sequence<kWidth>{});
}

inline float reduce_max(VecF v) {
  float m = v[0];
  for (int i = 1; i < kWidth; ++i) m = v[i] > m ? v[i] : m;
  return m;
}
inline float reduce_sum(VecF v) {
  float s = 0.f;
  for (int i = 0; i < kWidth; ++i) s += v[i];
  return s;
}

// 2^x, relative error ~2e-7 on [-126, 128]; x <= -127 (including -inf) gives
// exactly 0, which is how masked scores vanish. NaN inputs are not expected.
inline VecF exp2(VecF x) {
  const VecF lo = splat(-127.f), hi = splat(127.f);
  x = x < lo ? lo : x;
  x = x > hi ? hi : x;
  VecF t = x + 127.f;                         // in [0, 254]: truncation is floor
  VecI e = __builtin_convertvector(t, VecI);  // biased exponent of 2^floor(x)
  VecF f = t - __builtin_convertvector(e, VecF);
  // Minimax polynomial for 2^f on [0, 1).
  VecF p = splat(1.8775767e-3f);
  p = p * f + 8.9893397e-3f;
  p = p * f + 5.5826318e-2f;
  p = p * f + 2.4015361e-1f;
  p = p * f + 6.9315308e-1f;
  p = p * f + 9.9999994e-1f;
  VecF scale = reinterpret_cast<VecF>(e << 23);  // e == 0 gives +0.0
  return scale * p;
}

// C[MR x NV*kWidth] (+)= sum_k A(m, k) * B[k, :], A(m, k) = a[m * a_sm + k * a_sk].
template <int MR, int NV, bool kAccumulate>
inline void micro_kernel(int64_t depth, const float* __restrict a, int64_t a_sm, int64_t a_sk,
                         const float* __restrict b, int64_t ldb, float* __restrict c, int64_t ldc) {
  VecF acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = kAccumulate ? load(c + r * ldc + v * kWidth) : VecF{};
  for (int64_t k = 0; k < depth; ++k) {
    VecF bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = load(b + k * ldb + v * kWidth);
    const float* ak = a + k * a_sk;
    for (int r = 0; r < MR; ++r) {
      VecF av = splat(ak[r * a_sm]);
      for (int v = 0; v < NV; ++v) acc[r][v] += av * bv[v];
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) store(c + r * ldc + v * kWidth, acc[r][v]);
}

template <int NV, bool kAccumulate>
inline void gemm_columns(int64_t m, int64_t depth, const float* a, int64_t a_sm, int64_t a_sk,
                         const float* b, int64_t ldb, float* c, int64_t ldc) {
  int64_t r = 0;
  for (; r + kMr <= m; r += kMr)
    micro_kernel<kMr, NV, kAccumulate>(depth, a + r * a_sm, a_sm, a_sk, b, ldb, c + r * ldc, ldc);
  const float* ar = a + r * a_sm;
  float* cr = c + r * ldc;
  switch (m - r) {
    case 0:
      break;
    case 1:
      micro_kernel<1, NV, kAccumulate>(depth, ar, a_sm, a_sk, b, ldb, cr, ldc);
      break;
    case 2:
      micro_kernel<2, NV, kAccumulate>(depth, ar, a_sm, a_sk, b, ldb, cr, ldc);
      break;
    case 3:
      micro_kernel<3, NV, kAccumulate>(depth, ar, a_sm, a_sk, b, ldb, cr, ldc);
      break;
    case 4:
      micro_kernel<4, NV, kAccumulate>(depth, ar, a_sm, a_sk, b, ldb, cr, ldc);
      break;
    default:
      static_assert(kMr <= 6, "remainder cases cover kMr - 1 <= 5 rows");
      micro_kernel<5, NV, kAccumulate>(depth, ar, a_sm, a_sk, b, ldb, cr, ldc);
      break;
  }
}

// C[m x n] (+)= A[m x depth] * B[depth x n]; n must be a multiple of kWidth
// (callers pad head_dim and tile widths); B and C rows are contiguous.
template <bool kAccumulate>
inline void gemm(int64_t m, int64_t n, int64_t depth, const float* a, int64_t a_sm, int64_t a_sk,
                 const float* b, int64_t ldb, float* c, int64_t ldc) {
  int64_t col = 0;
  for (; col + kNv * kWidth <= n; col += kNv * kWidth)
    gemm_columns<kNv, kAccumulate>(m, depth, a, a_sm, a_sk, b + col, ldb, c + col, ldc);
  int64_t rest = (n - col) / kWidth;
  if constexpr (kNv > 3)
    if (rest == 3)
      gemm_columns<3, kAccumulate>(m, depth, a, a_sm, a_sk, b + col, ldb, c + col, ldc);
  if constexpr (kNv > 2)
    if (rest == 2)
      gemm_columns<2, kAccumulate>(m, depth, a, a_sm, a_sk, b + col, ldb, c + col, ldc);
  if (rest == 1) gemm_columns<1, kAccumulate>(m, depth, a, a_sm, a_sk, b + col, ldb, c + col, ldc);
}

inline int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

// 64-byte aligned, zero-initialised fp32 scratch.
struct FloatBuffer {
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float[], Free> data;
  int64_t size = 0;

  FloatBuffer() = default;
  explicit FloatBuffer(int64_t n) { resize(n); }
  void resize(int64_t n) {
    size_t bytes = static_cast<size_t>(round_up(n > 0 ? n : 1, 16)) * 4;
    data.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    std::memset(data.get(), 0, bytes);
    size = n;
  }
  // Grow-only, contents unspecified: for scratch that callers overwrite in full
  // and keep between calls (fresh pages would cost a page fault each).
  void reserve(int64_t n) {
    if (n > size || !data) resize(n);
  }
  float* get() const { return data.get(); }
};

}  // namespace cpb::simd
