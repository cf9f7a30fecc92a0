// cpu_flash: FlashAttention-2 on the host. Algorithm: the mask's block map at
// kBq x kBk tiles drives a tiled online softmax; EMPTY tiles are never touched,
// FULL tiles run with no mask test, PARTIAL tiles set hidden scores to -inf row
// by row from the slices touching them. Scores live in base 2 (Q is pre-scaled
// by scale * log2 e) so every exponential is one exp2.
// Parallelism (OpenMP): forward over (q head, q tile). Backward, atomics-free
// and deterministic: when kv heads divide among the threads, one pass per kv
// head (it owns its query heads' dQ); otherwise two passes, dK/dV over (kv head,
// k tile) with the column view, then dQ over (q head, q tile) with the row view,
// recomputing P (the FA2 trade: 7 GEMMs per tile pair instead of 5).
// Inputs are packed once per call into fp32 scratch (K transposed per tile, head
// dim padded to the SIMD width) so the GEMM micro-kernels see contiguous rows;
// that is also where bf16/fp16 storage is converted. Requirements: host
// tensors, heads_q % heads_kv == 0; any dtype, strides and head_dim.
// When it wins: the host kernel for CPU runs and CI; cost scales with the
// non-empty tiles, so sparse masks pay for their area (plus the diagonal).
// Measured speed: docs/perf/cpu.md.
#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <numeric>
#include <vector>

#include <omp.h>

#include "kernels/check_args.h"
#include "kernels/cpu_simd.h"
#include "kernels/kernel.h"
#include "masks/block_map.h"

namespace cpb {
namespace {

using simd::FloatBuffer;
using simd::kWidth;
using simd::VecF;

constexpr int64_t kBq = 64;  // query rows per tile
constexpr int64_t kBk = 64;  // keys per tile; a multiple of kWidth
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
constexpr float kInf = std::numeric_limits<float>::infinity();

static_assert(kBk % kWidth == 0, "score tiles are whole vectors");

struct Dims {
  int64_t sq, sk, hq, hkv, group, d, dp, nqt, nkt;
};

Dims dims_of(const TensorView& q, const TensorView& k, const TensorView& v, const Mask* mask) {
  check_attention_args("cpu_flash", Device::kCpu, q, k, v, mask);
  Dims x{};
  x.sq = q.tokens;
  x.sk = k.tokens;
  x.hq = q.heads;
  x.hkv = k.heads;
  x.group = q.heads / k.heads;
  x.d = q.head_dim;
  x.dp = simd::round_up(x.d, kWidth);
  x.nqt = (x.sq + kBq - 1) / kBq;
  x.nkt = (x.sk + kBk - 1) / kBk;
  return x;
}

// dst[0..d) = mul * t[token, head, :], converted to fp32.
void load_row(const TensorView& t, int64_t token, int64_t head, float mul, float* dst) {
  const int64_t off = t.offset(token, head);
  switch (t.dtype) {
    case DType::kF32: {
      const float* src = static_cast<const float*>(t.data) + off;
      for (int64_t i = 0; i < t.head_dim; ++i) dst[i] = mul * src[i];
      break;
    }
    case DType::kBF16: {
      const uint16_t* src = static_cast<const uint16_t*>(t.data) + off;
      for (int64_t i = 0; i < t.head_dim; ++i) dst[i] = mul * bf16_to_float(src[i]);
      break;
    }
    case DType::kF16: {
      const uint16_t* src = static_cast<const uint16_t*>(t.data) + off;
      for (int64_t i = 0; i < t.head_dim; ++i) dst[i] = mul * fp16_to_float(src[i]);
      break;
    }
  }
}

void store_row(const TensorView& t, int64_t token, int64_t head, const float* src) {
  const int64_t off = t.offset(token, head);
  if (t.dtype == DType::kF32) {
    std::copy(src, src + t.head_dim, static_cast<float*>(t.data) + off);
    return;
  }
  for (int64_t i = 0; i < t.head_dim; ++i) store_from_float(t.data, t.dtype, off + i, src[i]);
}

// Rows [r0, r1) of head `head` into dst[r * dp] fp32, padding (rows past
// t.tokens, columns past head_dim) written as zeros: the GEMMs run over it.
void pack_rows(const TensorView& t, int64_t head, float mul, int64_t dp, int64_t r0, int64_t r1,
               float* dst) {
  for (int64_t r = r0; r < r1; ++r) {
    float* row = dst + r * dp;
    const int64_t filled = r < t.tokens ? t.head_dim : 0;
    if (filled) load_row(t, r, head, mul, row);
    std::fill(row + filled, row + dp, 0.f);
  }
}

// K^T tile j of head `head`: [dp][kBk] at dst + j * dp * kBk, element (i, c) =
// t[j * kBk + c, head, i], padding zero.
void pack_transposed(const TensorView& t, int64_t head, int64_t dp, int64_t j, float* dst) {
  // One converted source row; head dims beyond 1024 take the heap.
  float stack_row[1024];
  std::vector<float> heap_row;
  float* buf = stack_row;
  if (dp > 1024) {
    heap_row.resize(static_cast<size_t>(dp));
    buf = heap_row.data();
  }
  float* tile = dst + j * dp * kBk;
  const int64_t cols = std::min(kBk, t.tokens - j * kBk);
  if (cols < kBk || t.head_dim < dp) std::fill(tile, tile + dp * kBk, 0.f);
  for (int64_t c = 0; c < cols; ++c) {
    load_row(t, j * kBk + c, head, 1.f, buf);
    for (int64_t i = 0; i < t.head_dim; ++i) tile[i * kBk + c] = buf[i];
  }
}

// Hide the scores a tile must not see: columns past the key range, and for a
// PARTIAL tile everything outside the slices touching it. A slice meets a row
// in one contiguous key interval, so each row costs O(#slices) plus a sweep.
void mask_tile(const Mask& mask, const BlockMap& bm, const TileRef& tile, int64_t q0, int64_t qn,
               int64_t k0, int64_t kn, float* s) {
  if (tile.state == TileState::kPartial) {
    alignas(64) uint8_t vis[kBk];
    for (int64_t r = 0; r < qn; ++r) {
      const int64_t q = q0 + r;
      std::fill(vis, vis + kBk, uint8_t{0});
      for (int32_t x = 0; x < tile.slice_count; ++x) {
        const MaskSlice& sl =
            mask.slices[static_cast<size_t>(bm.tile_slices[tile.slice_begin + x])];
        if (q < sl.q_begin || q >= sl.q_end) continue;
        const int64_t lo = std::max({sl.k_begin, q - sl.diag_hi, k0});
        const int64_t hi = std::min({sl.k_end, q - sl.diag_lo + 1, k0 + kn});
        for (int64_t k = lo; k < hi; ++k) vis[k - k0] = 1;
      }
      float* row = s + r * kBk;
      for (int64_t c = 0; c < kBk; ++c) row[c] = vis[c] ? row[c] : -kInf;
    }
  } else if (kn < kBk) {
    for (int64_t r = 0; r < qn; ++r) std::fill(s + r * kBk + kn, s + (r + 1) * kBk, -kInf);
  }
}

// Work items head by head, heaviest first within a head: dynamic scheduling then
// ends on small items so threads finish together (causal), while consecutive
// items share one head's K/V (4 MiB at S=4096, D=128), which stays in cache;
// a global heaviest-first order interleaves heads (~15% more time per causal
// tile in one profile).
std::vector<int64_t> heaviest_first(const std::vector<int64_t>& ptr, int64_t heads) {
  const int64_t n = static_cast<int64_t>(ptr.size()) - 1;
  std::vector<int64_t> items(static_cast<size_t>(n * heads));
  std::iota(items.begin(), items.end(), 0);
  auto work = [&](int64_t item) { return ptr[item % n + 1] - ptr[item % n]; };
  std::stable_sort(items.begin(), items.end(), [&](int64_t a, int64_t b) {
    return a / n != b / n ? a / n < b / n : work(a) > work(b);
  });
  return items;
}

class CpuFlashKernel : public Kernel {
 public:
  using Kernel::backward;
  using Kernel::forward;
  Support supports(const AttentionShape& shape) const override {
    if (shape.device != Device::kCpu) return Support::no("cpu_flash runs on the host only");
    if (shape.heads_kv <= 0 || shape.heads_q % shape.heads_kv != 0)
      return Support::no("heads_q must be a multiple of heads_kv");
    if (shape.head_dim <= 0) return Support::no("head_dim must be > 0");
    return Support::yes();
  }

  void forward(const ForwardArgs& a, const KernelContext&) override {
    const Dims x = dims_of(a.q, a.k, a.v, a.mask);
    CPB_CHECK(a.out.tokens == x.sq && a.out.heads == x.hq && a.out.head_dim == x.d,
              "out shape mismatch");
    const BlockMap bm = build_block_map(*a.mask, kBq, kBk);
    const int64_t dp = x.dp, nkt_rows = x.nkt * kBk;

    // K^T tiles and V rows per kv head, fp32.
    Scratch local;
    std::unique_lock lock(mutex_, std::try_to_lock);
    Scratch& sc = lock.owns_lock() ? scratch_ : local;
    FloatBuffer& kt = sc.buffers[0];
    FloatBuffer& vr = sc.buffers[1];
    kt.reserve(x.hkv * x.nkt * dp * kBk);
    vr.reserve(x.hkv * nkt_rows * dp);
    // Per (head, tile), so a single kv head (GQA) still packs on every thread.
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t h = 0; h < x.hkv; ++h)
      for (int64_t j = 0; j < x.nkt; ++j) {
        pack_transposed(a.k, h, dp, j, kt.get() + h * x.nkt * dp * kBk);
        pack_rows(a.v, h, 1.f, dp, j * kBk, (j + 1) * kBk, vr.get() + h * nkt_rows * dp);
      }

    const std::vector<int64_t> items = heaviest_first(bm.row_ptr, x.hq);
    const float qmul = a.scale * kLog2e;
#pragma omp parallel
    {
      FloatBuffer qs(kBq * dp), o(kBq * dp), s(kBq * kBk);
      float m[kBq], l[kBq];
#pragma omp for schedule(dynamic)
      for (size_t it = 0; it < items.size(); ++it) {
        const int64_t h = items[it] / x.nqt, qi = items[it] % x.nqt, hk = h / x.group;
        const int64_t q0 = qi * kBq, qn = std::min(kBq, x.sq - q0);
        for (int64_t r = 0; r < qn; ++r) load_row(a.q, q0 + r, h, qmul, qs.get() + r * dp);
        std::fill(o.get(), o.get() + kBq * dp, 0.f);
        std::fill(m, m + kBq, -kInf);
        std::fill(l, l + kBq, 0.f);
        for (int64_t t = bm.row_ptr[qi]; t < bm.row_ptr[qi + 1]; ++t) {
          const TileRef& tile = bm.rows[static_cast<size_t>(t)];
          const int64_t k0 = tile.index * kBk, kn = std::min(kBk, x.sk - k0);
          const float* ktile = kt.get() + (hk * x.nkt + tile.index) * dp * kBk;
          simd::gemm<false>(qn, kBk, dp, qs.get(), dp, 1, ktile, kBk, s.get(), kBk);
          mask_tile(*a.mask, bm, tile, q0, qn, k0, kn, s.get());
          online_softmax(qn, s.get(), m, l, o.get(), dp);
          simd::gemm<true>(qn, dp, kBk, s.get(), kBk, 1, vr.get() + (hk * nkt_rows + k0) * dp, dp,
                           o.get(), dp);
        }
        for (int64_t r = 0; r < qn; ++r) {
          float* orow = o.get() + r * dp;
          const bool seen = l[r] > 0.f;
          const float inv = seen ? 1.f / l[r] : 0.f;
          for (int64_t i = 0; i < x.d; ++i) orow[i] *= inv;
          store_row(a.out, q0 + r, h, orow);
          a.lse.data[(q0 + r) * a.lse.token_stride + h] =
              seen ? m[r] * kLn2 + std::log(l[r]) : -kInf;
        }
      }
    }
  }

  void backward(const BackwardArgs& a, const KernelContext&) override {
    const Dims x = dims_of(a.q, a.k, a.v, a.mask);
    CPB_CHECK(a.dq.dtype == DType::kF32 && a.dk.dtype == DType::kF32 && a.dv.dtype == DType::kF32,
              "gradients are fp32 accumulators");
    CPB_CHECK(a.dq.tokens == x.sq && a.dq.heads == x.hq && a.dk.tokens == x.sk &&
                  a.dk.heads == x.hkv && a.dv.tokens == x.sk && a.dv.heads == x.hkv &&
                  a.out.tokens == x.sq && a.dout.tokens == x.sq && a.out.heads == x.hq &&
                  a.dout.heads == x.hq,
              "backward tensor shapes do not match q {}x{} / k {}x{}", x.sq, x.hq, x.sk, x.hkv);
    const BlockMap bm = build_block_map(*a.mask, kBq, kBk);
    const int64_t dp = x.dp, sq_rows = x.nqt * kBq, sk_rows = x.nkt * kBk;
    const float qmul = a.scale * kLog2e;

    // Per q head: Q * scale * log2e and dO as [sq_rows][dp], LSE in base 2 (+inf
    // for rows that saw no key, so exp2(s - lse) is 0, not inf or NaN) and
    // D = rowsum(dout * out). Per kv head: K^T and V^T tiles, K rows.
    Scratch local;
    std::unique_lock lock(mutex_, std::try_to_lock);
    Scratch& sc = lock.owns_lock() ? scratch_ : local;
    FloatBuffer& qs = sc.buffers[0];
    FloatBuffer& dos = sc.buffers[1];
    FloatBuffer& lse2 = sc.buffers[2];
    FloatBuffer& dsum = sc.buffers[3];
    FloatBuffer& kt = sc.buffers[4];
    FloatBuffer& vt = sc.buffers[5];
    FloatBuffer& kr = sc.buffers[6];
    qs.reserve(x.hq * sq_rows * dp);
    dos.reserve(x.hq * sq_rows * dp);
    lse2.reserve(x.hq * sq_rows);
    dsum.reserve(x.hq * sq_rows);
    kt.reserve(x.hkv * x.nkt * dp * kBk);
    vt.reserve(x.hkv * x.nkt * dp * kBk);
    kr.reserve(x.hkv * sk_rows * dp);
#pragma omp parallel
    {
      std::vector<float> orow(static_cast<size_t>(dp));
#pragma omp for collapse(2) schedule(static) nowait
      for (int64_t h = 0; h < x.hq; ++h)
        for (int64_t qi = 0; qi < x.nqt; ++qi) {
          const int64_t r0 = qi * kBq, r1 = r0 + kBq;
          pack_rows(a.q, h, qmul, dp, r0, r1, qs.get() + h * sq_rows * dp);
          pack_rows(a.dout, h, 1.f, dp, r0, r1, dos.get() + h * sq_rows * dp);
          for (int64_t r = r0; r < r1; ++r) {
            float& l2 = lse2.get()[h * sq_rows + r];
            if (r >= x.sq) {
              l2 = kInf;
              dsum.get()[h * sq_rows + r] = 0.f;
              continue;
            }
            const float lse = a.lse.data[r * a.lse.token_stride + h];
            l2 = lse == -kInf ? kInf : lse * kLog2e;
            load_row(a.out, r, h, 1.f, orow.data());
            const float* dorow = dos.get() + (h * sq_rows + r) * dp;
            double acc = 0;
            for (int64_t i = 0; i < x.d; ++i)
              acc += double(dorow[i]) * orow[static_cast<size_t>(i)];
            dsum.get()[h * sq_rows + r] = static_cast<float>(acc);
          }
        }
#pragma omp for collapse(2) schedule(static)
      for (int64_t h = 0; h < x.hkv; ++h)
        for (int64_t kj = 0; kj < x.nkt; ++kj) {
          pack_transposed(a.k, h, dp, kj, kt.get() + h * x.nkt * dp * kBk);
          pack_transposed(a.v, h, dp, kj, vt.get() + h * x.nkt * dp * kBk);
          pack_rows(a.k, h, 1.f, dp, kj * kBk, (kj + 1) * kBk, kr.get() + h * sk_rows * dp);
        }
    }

    // Scores -> P (base 2, global LSE) -> dS = P * (dP - D) for one tile pair.
    auto tile_ds = [&](const TileRef& tile, int64_t h, int64_t qi, int64_t kj, float* s,
                       float* dpm) {
      const int64_t hk = h / x.group, q0 = qi * kBq, qn = std::min(kBq, x.sq - q0);
      const int64_t k0 = kj * kBk, kn = std::min(kBk, x.sk - k0);
      const float* qtile = qs.get() + (h * sq_rows + q0) * dp;
      const float* dotile = dos.get() + (h * sq_rows + q0) * dp;
      const int64_t toff = (hk * x.nkt + kj) * dp * kBk;
      simd::gemm<false>(qn, kBk, dp, qtile, dp, 1, kt.get() + toff, kBk, s, kBk);
      mask_tile(*a.mask, bm, tile, q0, qn, k0, kn, s);
      simd::gemm<false>(qn, kBk, dp, dotile, dp, 1, vt.get() + toff, kBk, dpm, kBk);
      for (int64_t r = 0; r < qn; ++r) {
        const VecF lr = simd::splat(lse2.get()[h * sq_rows + q0 + r]);
        const VecF dr = simd::splat(dsum.get()[h * sq_rows + q0 + r]);
        float* srow = s + r * kBk;
        float* dprow = dpm + r * kBk;
        for (int64_t c = 0; c < kBk; c += kWidth) {
          const VecF p = simd::exp2(simd::load(srow + c) - lr);
          simd::store(srow + c, p);                                  // P
          simd::store(dprow + c, p * (simd::load(dprow + c) - dr));  // dS
        }
      }
      return qn;
    };

    auto write_grad = [&](const TensorView& g, int64_t token, int64_t head, const float* src,
                          float mul) {
      float* dst = static_cast<float*>(g.data) + g.offset(token, head);
      if (a.accumulate)
        for (int64_t i = 0; i < x.d; ++i) dst[i] += mul * src[i];
      else
        for (int64_t i = 0; i < x.d; ++i) dst[i] = mul * src[i];
    };

    // dV = P^T dO and dK = scale * dS^T Q for k tile kj of kv head hk; with
    // dq_acc, also dQ += dS K into [hq][sq_rows][dp] (the caller owns those rows).
    auto dkdv_tile = [&](int64_t hk, int64_t kj, float* s, float* dpm, float* dk, float* dv,
                         float* dq_acc) {
      const int64_t k0 = kj * kBk, kn = std::min(kBk, x.sk - k0);
      std::fill(dk, dk + kBk * dp, 0.f);
      std::fill(dv, dv + kBk * dp, 0.f);
      for (int64_t t = bm.col_ptr[kj]; t < bm.col_ptr[kj + 1]; ++t) {
        const TileRef& tile = bm.cols[static_cast<size_t>(t)];
        const int64_t qi = tile.index, q0 = qi * kBq;
        for (int64_t h = hk * x.group; h < (hk + 1) * x.group; ++h) {
          const int64_t qn = tile_ds(tile, h, qi, kj, s, dpm);
          simd::gemm<true>(kn, dp, qn, s, 1, kBk, dos.get() + (h * sq_rows + q0) * dp, dp, dv, dp);
          simd::gemm<true>(kn, dp, qn, dpm, 1, kBk, qs.get() + (h * sq_rows + q0) * dp, dp, dk, dp);
          if (dq_acc)
            simd::gemm<true>(qn, dp, kBk, dpm, kBk, 1, kr.get() + (hk * sk_rows + k0) * dp, dp,
                             dq_acc + (h * sq_rows + q0) * dp, dp);
        }
      }
      // Q carried scale * log2(e); ln 2 takes the log2(e) back out.
      for (int64_t c = 0; c < kn; ++c) {
        write_grad(a.dk, k0 + c, hk, dk + c * dp, kLn2);
        write_grad(a.dv, k0 + c, hk, dv + c * dp, 1.f);
      }
    };

    if (x.hkv % omp_get_max_threads() == 0) {
      // Enough kv heads for every thread (and the same mask on each, so equal
      // work): one pass per kv head, which owns its query heads' dQ rows, so dQ
      // needs no recomputation (5 GEMMs per tile pair instead of 7).
      FloatBuffer& dq_acc = sc.buffers[7];
      dq_acc.reserve(x.hq * sq_rows * dp);
#pragma omp parallel
      {
        FloatBuffer s(kBq * kBk), dpm(kBq * kBk), dk(kBk * dp), dv(kBk * dp);
#pragma omp for schedule(dynamic)
        for (int64_t hk = 0; hk < x.hkv; ++hk) {
          float* dq_rows = dq_acc.get() + hk * x.group * sq_rows * dp;
          std::fill(dq_rows, dq_rows + x.group * sq_rows * dp, 0.f);
          for (int64_t kj = 0; kj < x.nkt; ++kj)
            dkdv_tile(hk, kj, s.get(), dpm.get(), dk.get(), dv.get(), dq_acc.get());
          for (int64_t h = hk * x.group; h < (hk + 1) * x.group; ++h)
            for (int64_t r = 0; r < x.sq; ++r)
              write_grad(a.dq, r, h, dq_acc.get() + (h * sq_rows + r) * dp, a.scale);
        }
      }
      return;
    }

    const std::vector<int64_t> kv_items = heaviest_first(bm.col_ptr, x.hkv);
    const std::vector<int64_t> q_items = heaviest_first(bm.row_ptr, x.hq);
#pragma omp parallel
    {
      FloatBuffer s(kBq * kBk), dpm(kBq * kBk), acc_a(std::max(kBq, kBk) * dp), acc_b(kBk * dp);
      // Pass 1: dK, dV per (kv head, k tile).
#pragma omp for schedule(dynamic) nowait
      for (size_t it = 0; it < kv_items.size(); ++it)
        dkdv_tile(kv_items[it] / x.nkt, kv_items[it] % x.nkt, s.get(), dpm.get(), acc_a.get(),
                  acc_b.get(), nullptr);
        // Pass 2: dQ = scale * dS K, per (q head, q tile), recomputing dS.
#pragma omp for schedule(dynamic)
      for (size_t it = 0; it < q_items.size(); ++it) {
        const int64_t h = q_items[it] / x.nqt, qi = q_items[it] % x.nqt, hk = h / x.group;
        const int64_t q0 = qi * kBq, qn = std::min(kBq, x.sq - q0);
        float* dq = acc_a.get();
        std::fill(dq, dq + kBq * dp, 0.f);
        for (int64_t t = bm.row_ptr[qi]; t < bm.row_ptr[qi + 1]; ++t) {
          const TileRef& tile = bm.rows[static_cast<size_t>(t)];
          tile_ds(tile, h, qi, tile.index, s.get(), dpm.get());
          simd::gemm<true>(qn, dp, kBk, dpm.get(), kBk, 1,
                           kr.get() + (hk * sk_rows + tile.index * kBk) * dp, dp, dq, dp);
        }
        for (int64_t r = 0; r < qn; ++r) write_grad(a.dq, q0 + r, h, dq + r * dp, a.scale);
      }
    }
  }

 private:
  // Packed inputs, kept between calls so large buffers are not page-faulted in
  // again on every call. A call that finds them in use (the same object called
  // from two threads at once) packs into its own.
  struct Scratch {
    FloatBuffer buffers[8];
  };
  std::mutex mutex_;
  Scratch scratch_;

  // One k tile of the online softmax, base 2: s holds scores on entry and P on
  // exit; m/l are the running max and sum; o rows are rescaled when m grows.
  static void online_softmax(int64_t qn, float* s, float* m, float* l, float* o, int64_t dp) {
    for (int64_t r = 0; r < qn; ++r) {
      float* row = s + r * kBk;
      VecF mx = simd::load(row);
      for (int64_t c = kWidth; c < kBk; c += kWidth) {
        const VecF v = simd::load(row + c);
        mx = v > mx ? v : mx;
      }
      const float m_new = std::max(m[r], simd::reduce_max(mx));
      if (m_new == -kInf) {  // nothing seen yet: P = 0, no rescale
        std::fill(row, row + kBk, 0.f);
        continue;
      }
      const VecF mv = simd::splat(m_new);
      VecF sum{};
      for (int64_t c = 0; c < kBk; c += kWidth) {
        const VecF p = simd::exp2(simd::load(row + c) - mv);
        simd::store(row + c, p);
        sum += p;
      }
      if (m_new != m[r]) {
        const float alpha = std::exp2(m[r] - m_new);  // 0 when m was -inf
        float* orow = o + r * dp;
        for (int64_t i = 0; i < dp; ++i) orow[i] *= alpha;
        l[r] *= alpha;
      }
      l[r] += simd::reduce_sum(sum);
      m[r] = m_new;
    }
  }
};

}  // namespace

CPB_REGISTER_KERNEL(cpu_flash, CpuFlashKernel);

}  // namespace cpb
