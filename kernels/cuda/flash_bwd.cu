// Backward flash attention (FA2 schedule) on tensor cores. A pre-kernel computes
// delta = rowsum(dout * out) in fp32 (and zeroes dq unless accumulating). The main
// kernel runs one block of 8 warps per (128-key tile, KV head): each warp owns 16
// keys and keeps their dK/dV in fp32 registers across every query tile of the
// tile's CSR column list and every query head of the GQA group, so dK/dV need no
// atomics; dQ is reduced through shared memory (dS^T) and added to the fp32 dq
// with atomicAdd. P is recomputed from the global LSE the caller passes in.
#include <cmath>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/flash_common.cuh"
#include "kernels/cuda/mma_sm80.cuh"

namespace cpb::cuda {
namespace {

constexpr int kBwdWarps = 8;
constexpr int kBwdThreads = kBwdWarps * 32;
static_assert(kBwdBlockK == kBwdWarps * 16, "each warp owns 16 keys");
static_assert(kBwdBlockQ == 64, "dQ warp layout assumes 4 x 16 query rows");

template <int D>
constexpr int bwd_smem_bytes() {
  // K, V, 2 stages of Q and dO, dS^T (16-bit), 2 stages of lse and delta (fp32).
  return (2 * kBwdBlockK * D + 4 * kBwdBlockQ * D + kBwdBlockK * kBwdBlockQ) * 2 +
         4 * kBwdBlockQ * 4;
}

// delta[q, h] = sum_d dout * out; one warp per (token, head) row.
template <typename T, int D>
__global__ void flash_bwd_pre_kernel(const FlashBwdParams p) {
  const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
  if (row >= p.seq_q * p.heads_q) return;
  const int q = row / p.heads_q, h = row % p.heads_q;
  const T* o = static_cast<const T*>(p.out.data) + q * p.out.token_stride + h * p.out.head_stride;
  const T* g =
      static_cast<const T*>(p.dout.data) + q * p.dout.token_stride + h * p.dout.head_stride;
  float sum = 0.f;
  for (int d = 2 * lane; d < D; d += 64) {
    const float2 a = unpack2<T>(*reinterpret_cast<const uint32_t*>(o + d));
    const float2 b = unpack2<T>(*reinterpret_cast<const uint32_t*>(g + d));
    sum += a.x * b.x + a.y * b.y;
  }
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
  if (lane == 0) p.delta[row] = sum;
  if (!p.accumulate) {
    float* dq = static_cast<float*>(p.dq.data) + q * p.dq.token_stride + h * p.dq.head_stride;
    for (int d = lane; d < D; d += 32) dq[d] = 0.f;
  }
}

template <typename T, int D>
__global__ void __launch_bounds__(kBwdThreads, 1) flash_bwd_kernel(const FlashBwdParams p) {
  constexpr int kBq = kBwdBlockQ, kBk = kBwdBlockK, kChunks = D / 8;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* s_k = reinterpret_cast<T*>(smem_raw);
  T* s_v = s_k + kBk * D;
  T* s_q = s_v + kBk * D;                                     // [2][kBq][D]
  T* s_do = s_q + 2 * kBq * D;                                // [2][kBq][D]
  T* s_ds = s_do + 2 * kBq * D;                               // [kBk][kBq], dS^T
  float* s_lse = reinterpret_cast<float*>(s_ds + kBk * kBq);  // [2][kBq], log2 domain
  float* s_delta = s_lse + 2 * kBq;                           // [2][kBq]

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int kt = blockIdx.x, hk = blockIdx.y;
  const int group = p.heads_q / p.heads_kv;
  const int k0 = kt * kBk;
  const int cb = p.map.col_ptr[kt], ntiles = p.map.col_ptr[kt + 1] - cb;
  const int nwork = ntiles * group;  // (query head in group) x (query tile in the column list)

  {
    const T* gk = static_cast<const T*>(p.k.data) + hk * p.k.head_stride;
    const T* gv = static_cast<const T*>(p.v.data) + hk * p.v.head_stride;
#pragma unroll
    for (int c = tid; c < kBk * kChunks; c += kBwdThreads) {
      const int r = c / kChunks, ch = c % kChunks, k = k0 + r;
      const bool ok = k < p.seq_k;
      const int64_t row = ok ? k : 0;
      cp_async16(smem_addr(s_k + swz<D>(r, ch * 8)), gk + row * p.k.token_stride + ch * 8, ok);
      cp_async16(smem_addr(s_v + swz<D>(r, ch * 8)), gv + row * p.v.token_stride + ch * 8, ok);
    }
  }

  auto load_q = [&](int w, int buf) {
    const int gi = w / ntiles;
    const int qt = p.map.cols[cb + w % ntiles].x;
    const int h = hk * group + gi, q0 = qt * kBq;
    const T* gq = static_cast<const T*>(p.q.data) + h * p.q.head_stride;
    const T* gdo = static_cast<const T*>(p.dout.data) + h * p.dout.head_stride;
    T* dq = s_q + buf * kBq * D;
    T* ddo = s_do + buf * kBq * D;
#pragma unroll
    for (int c = tid; c < kBq * kChunks; c += kBwdThreads) {
      const int r = c / kChunks, ch = c % kChunks, q = q0 + r;
      const bool ok = q < p.seq_q;
      const int64_t row = ok ? q : 0;
      cp_async16(smem_addr(dq + swz<D>(r, ch * 8)), gq + row * p.q.token_stride + ch * 8, ok);
      cp_async16(smem_addr(ddo + swz<D>(r, ch * 8)), gdo + row * p.dout.token_stride + ch * 8, ok);
    }
    if (tid < kBq) {
      const int q = q0 + tid;
      float lse = INFINITY, delta = 0.f;
      if (q < p.seq_q) {
        lse = p.lse[static_cast<int64_t>(q) * p.lse_token_stride + h];
        delta = p.delta[static_cast<int64_t>(q) * p.heads_q + h];
      }
      // A row that saw no key (lse -inf) has P = 0 everywhere: +inf makes exp2 give 0.
      s_lse[buf * kBq + tid] = lse == -INFINITY ? INFINITY : lse * kLog2e;
      s_delta[buf * kBq + tid] = delta;
    }
  };

  if (nwork > 0) load_q(0, 0);
  cp_async_commit();

  const float sl2 = p.scale * kLog2e;
  const int g = lane >> 2, t4 = lane & 3;
  const int key_row = k0 + warp * 16 + g;  // this thread's keys: key_row and key_row + 8
  float dk[D / 8][4], dv[D / 8][4];
#pragma unroll
  for (int i = 0; i < D / 8; ++i)
#pragma unroll
    for (int e = 0; e < 4; ++e) dk[i][e] = dv[i][e] = 0.f;

  for (int w = 0; w < nwork; ++w) {
    const int buf = w & 1;
    if (w + 1 < nwork) load_q(w + 1, buf ^ 1);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    const int4 tile = p.map.cols[cb + w % ntiles];
    const int h = hk * group + w / ntiles, q0 = tile.x * kBq;
    const T* c_q = s_q + buf * kBq * D;
    const T* c_do = s_do + buf * kBq * D;
    const float* c_lse = s_lse + buf * kBq;
    const float* c_delta = s_delta + buf * kBq;

    // S^T = K Q^T for this warp's 16 keys x kBq queries.
    float st[kBq / 8][4];
#pragma unroll
    for (int i = 0; i < kBq / 8; ++i) st[i][0] = st[i][1] = st[i][2] = st[i][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t a[4];
      ldmatrix_x4(a, a_addr<D>(s_k, warp * 16, kk * 16, lane));
#pragma unroll
      for (int np = 0; np < kBq / 16; ++np) {
        uint32_t b[4];
        ldmatrix_x4(b, b_addr_nk<D>(c_q, np * 16, kk * 16, lane));
        mma16816<T>(st[2 * np], a, b[0], b[1]);
        mma16816<T>(st[2 * np + 1], a, b[2], b[3]);
      }
    }
    // P^T = exp(S^T * scale - lse), masked elements 0.
    const bool need_mask = tile.y != kTileFull || k0 + kBk > p.seq_k;
#pragma unroll
    for (int nt = 0; nt < kBq / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int qc = nt * 8 + 2 * t4 + (e & 1);
        float pv = exp2f(fmaf(st[nt][e], sl2, -c_lse[qc]));
        if (need_mask) {
          const int k = key_row + (e >> 1) * 8, q = q0 + qc;
          const bool vis =
              k < p.seq_k && (tile.y == kTileFull || tile_visible(p.map, tile.z, tile.w, q, k));
          if (!vis) pv = 0.f;
        }
        st[nt][e] = pv;
      }

      // dV += P^T dO.
#pragma unroll
    for (int kk = 0; kk < kBq / 16; ++kk) {
      uint32_t a[4] = {pack2<T>(st[2 * kk][0], st[2 * kk][1]),
                       pack2<T>(st[2 * kk][2], st[2 * kk][3]),
                       pack2<T>(st[2 * kk + 1][0], st[2 * kk + 1][1]),
                       pack2<T>(st[2 * kk + 1][2], st[2 * kk + 1][3])};
#pragma unroll
      for (int dp = 0; dp < D / 16; ++dp) {
        uint32_t b[4];
        ldmatrix_x4_trans(b, b_addr_kn<D>(c_do, kk * 16, dp * 16, lane));
        mma16816<T>(dv[2 * dp], a, b[0], b[1]);
        mma16816<T>(dv[2 * dp + 1], a, b[2], b[3]);
      }
    }

    // dP^T = V dO^T, then dS^T = P^T * (dP^T - delta) * scale.
    float ds[kBq / 8][4];
#pragma unroll
    for (int i = 0; i < kBq / 8; ++i) ds[i][0] = ds[i][1] = ds[i][2] = ds[i][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t a[4];
      ldmatrix_x4(a, a_addr<D>(s_v, warp * 16, kk * 16, lane));
#pragma unroll
      for (int np = 0; np < kBq / 16; ++np) {
        uint32_t b[4];
        ldmatrix_x4(b, b_addr_nk<D>(c_do, np * 16, kk * 16, lane));
        mma16816<T>(ds[2 * np], a, b[0], b[1]);
        mma16816<T>(ds[2 * np + 1], a, b[2], b[3]);
      }
    }
#pragma unroll
    for (int nt = 0; nt < kBq / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int qc = nt * 8 + 2 * t4 + (e & 1);
        ds[nt][e] = st[nt][e] * (ds[nt][e] - c_delta[qc]) * p.scale;
      }

      // dK += dS^T Q; dS^T also goes to shared memory for dQ.
#pragma unroll
    for (int kk = 0; kk < kBq / 16; ++kk) {
      uint32_t a[4] = {pack2<T>(ds[2 * kk][0], ds[2 * kk][1]),
                       pack2<T>(ds[2 * kk][2], ds[2 * kk][3]),
                       pack2<T>(ds[2 * kk + 1][0], ds[2 * kk + 1][1]),
                       pack2<T>(ds[2 * kk + 1][2], ds[2 * kk + 1][3])};
      const int r = warp * 16 + g, c = kk * 16 + 2 * t4;
      *reinterpret_cast<uint32_t*>(s_ds + swz<kBq>(r, c)) = a[0];
      *reinterpret_cast<uint32_t*>(s_ds + swz<kBq>(r + 8, c)) = a[1];
      *reinterpret_cast<uint32_t*>(s_ds + swz<kBq>(r, c + 8)) = a[2];
      *reinterpret_cast<uint32_t*>(s_ds + swz<kBq>(r + 8, c + 8)) = a[3];
#pragma unroll
      for (int dp = 0; dp < D / 16; ++dp) {
        uint32_t b[4];
        ldmatrix_x4_trans(b, b_addr_kn<D>(c_q, kk * 16, dp * 16, lane));
        mma16816<T>(dk[2 * dp], a, b[0], b[1]);
        mma16816<T>(dk[2 * dp + 1], a, b[2], b[3]);
      }
    }
    __syncthreads();

    // dQ (kBq x D) += dS (kBq x kBk) K: warps tile it 4 (rows) x 2 (columns).
    {
      const int wm = warp & 3, wn = warp >> 2;
      constexpr int kCols = D / 2;
      float dqa[kCols / 8][4];
#pragma unroll
      for (int i = 0; i < kCols / 8; ++i) dqa[i][0] = dqa[i][1] = dqa[i][2] = dqa[i][3] = 0.f;
#pragma unroll
      for (int kk = 0; kk < kBk / 16; ++kk) {
        uint32_t a[4];
        ldmatrix_x4_trans(a, a_addr_km<kBq>(s_ds, kk * 16, wm * 16, lane));
#pragma unroll
        for (int dp = 0; dp < kCols / 16; ++dp) {
          uint32_t b[4];
          ldmatrix_x4_trans(b, b_addr_kn<D>(s_k, kk * 16, wn * kCols + dp * 16, lane));
          mma16816<T>(dqa[2 * dp], a, b[0], b[1]);
          mma16816<T>(dqa[2 * dp + 1], a, b[2], b[3]);
        }
      }
      float* gdq = static_cast<float*>(p.dq.data) + h * p.dq.head_stride;
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int q = q0 + wm * 16 + g + r * 8;
        if (q >= p.seq_q) continue;
        float* row = gdq + static_cast<int64_t>(q) * p.dq.token_stride + wn * kCols + 2 * t4;
#pragma unroll
        for (int nt = 0; nt < kCols / 8; ++nt) {
          atomicAdd(row + nt * 8, dqa[nt][2 * r]);
          atomicAdd(row + nt * 8 + 1, dqa[nt][2 * r + 1]);
        }
      }
    }
    __syncthreads();  // s_ds and `buf` are reused by the next work item
  }
  cp_async_wait<0>();

  float* gdk = static_cast<float*>(p.dk.data) + hk * p.dk.head_stride;
  float* gdv = static_cast<float*>(p.dv.data) + hk * p.dv.head_stride;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int k = key_row + r * 8;
    if (k >= p.seq_k) continue;
    float* rk = gdk + static_cast<int64_t>(k) * p.dk.token_stride + 2 * t4;
    float* rv = gdv + static_cast<int64_t>(k) * p.dv.token_stride + 2 * t4;
#pragma unroll
    for (int dt = 0; dt < D / 8; ++dt) {
      float2 vk = make_float2(dk[dt][2 * r], dk[dt][2 * r + 1]);
      float2 vv = make_float2(dv[dt][2 * r], dv[dt][2 * r + 1]);
      if (p.accumulate) {
        const float2 ok = *reinterpret_cast<const float2*>(rk + dt * 8);
        const float2 ov = *reinterpret_cast<const float2*>(rv + dt * 8);
        vk.x += ok.x, vk.y += ok.y, vv.x += ov.x, vv.y += ov.y;
      }
      *reinterpret_cast<float2*>(rk + dt * 8) = vk;
      *reinterpret_cast<float2*>(rv + dt * 8) = vv;
    }
  }
}

template <typename T, int D>
void launch_bwd(const FlashBwdParams& p, cudaStream_t stream) {
  constexpr int kPreWarps = 8;
  const int rows = p.seq_q * p.heads_q;
  if (rows > 0) {
    flash_bwd_pre_kernel<T, D>
        <<<(rows + kPreWarps - 1) / kPreWarps, kPreWarps * 32, 0, stream>>>(p);
    CPB_CUDA_CORE_CHECK_LAUNCH();
  }
  if (p.seq_k == 0) return;
  constexpr int smem = bwd_smem_bytes<D>();
  auto kernel = flash_bwd_kernel<T, D>;
  CPB_CUDA_CORE_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  dim3 grid(p.map.num_k_tiles, p.heads_kv);
  kernel<<<grid, kBwdThreads, smem, stream>>>(p);
  CPB_CUDA_CORE_CHECK_LAUNCH();
}

}  // namespace

void flash_backward(const FlashBwdParams& p, cudaStream_t stream) {
  if (p.bf16) {
    if (p.head_dim == 64) return launch_bwd<__nv_bfloat16, 64>(p, stream);
    if (p.head_dim == 128) return launch_bwd<__nv_bfloat16, 128>(p, stream);
  } else {
    if (p.head_dim == 64) return launch_bwd<__half, 64>(p, stream);
    if (p.head_dim == 128) return launch_bwd<__half, 128>(p, stream);
  }
  throw std::runtime_error("flash_backward: unsupported head_dim " + std::to_string(p.head_dim));
}

}  // namespace cpb::cuda
