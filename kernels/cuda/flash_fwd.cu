// Forward flash attention (FA2 schedule) on tensor cores: one block of 8 warps
// per (128-query tile, query head); each warp owns 16 query rows, keeps its Q
// fragments, the fp32 output accumulator and the running max/sum in registers,
// and walks the tile's CSR list of non-empty 64-key tiles with K/V double
// buffered through cp.async. Scores use exp2 with the softmax scale folded into
// one FMA; LSE is written in natural log (-inf, out 0 for rows that see no key).
#include <cmath>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/flash_common.cuh"
#include "kernels/cuda/mma_sm80.cuh"

namespace cpb::cuda {
namespace {

constexpr int kFwdWarps = 8;
constexpr int kFwdThreads = kFwdWarps * 32;
static_assert(kFwdBlockQ == kFwdWarps * 16, "each warp owns 16 query rows");

template <int D>
constexpr int fwd_smem_bytes() {
  return (kFwdBlockQ + 4 * kFwdBlockK) * D * 2;  // Q + 2 stages of K and V, 16-bit
}

template <typename T, int D>
__global__ void __launch_bounds__(kFwdThreads, 1) flash_fwd_kernel(const FlashFwdParams p) {
  constexpr int kBq = kFwdBlockQ, kBk = kFwdBlockK, kChunks = D / 8;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* s_q = reinterpret_cast<T*>(smem_raw);
  T* s_k = s_q + kBq * D;      // [2][kBk][D]
  T* s_v = s_k + 2 * kBk * D;  // [2][kBk][D]

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  // Reverse order: under causal-like masks the last query tiles have the most
  // work, and starting them first shortens the tail.
  const int qt = p.map.num_q_tiles - 1 - static_cast<int>(blockIdx.x);
  const int h = blockIdx.y;
  const int hk = h / (p.heads_q / p.heads_kv);
  const int q0 = qt * kBq;
  const T* gq = static_cast<const T*>(p.q.data) + h * p.q.head_stride;
  const T* gk = static_cast<const T*>(p.k.data) + hk * p.k.head_stride;
  const T* gv = static_cast<const T*>(p.v.data) + hk * p.v.head_stride;
  const int rb = p.map.row_ptr[qt], re = p.map.row_ptr[qt + 1];

  auto load_kv = [&](int kt, int buf) {
    const int k0 = kt * kBk;
    T* dk = s_k + buf * kBk * D;
    T* dv = s_v + buf * kBk * D;
#pragma unroll
    for (int c = tid; c < kBk * kChunks; c += kFwdThreads) {
      const int r = c / kChunks, ch = c % kChunks, k = k0 + r;
      const bool ok = k < p.seq_k;
      const int64_t row = ok ? k : 0;
      cp_async16(smem_addr(dk + swz<D>(r, ch * 8)), gk + row * p.k.token_stride + ch * 8, ok);
      cp_async16(smem_addr(dv + swz<D>(r, ch * 8)), gv + row * p.v.token_stride + ch * 8, ok);
    }
  };

  if (rb < re) {
#pragma unroll
    for (int c = tid; c < kBq * kChunks; c += kFwdThreads) {
      const int r = c / kChunks, ch = c % kChunks, q = q0 + r;
      const bool ok = q < p.seq_q;
      const int64_t row = ok ? q : 0;
      cp_async16(smem_addr(s_q + swz<D>(r, ch * 8)), gq + row * p.q.token_stride + ch * 8, ok);
    }
    load_kv(p.map.rows[rb].x, 0);
  }
  cp_async_commit();

  const float sl2 = p.scale * kLog2e;
  const int g = lane >> 2, t4 = lane & 3;
  const int row0 = q0 + warp * 16 + g;  // this thread's rows: row0 and row0 + 8
  float acc[D / 8][4];
#pragma unroll
  for (int i = 0; i < D / 8; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
  uint32_t qf[D / 16][4];

  for (int it = rb; it < re; ++it) {
    const int buf = (it - rb) & 1;
    const int4 tile = p.map.rows[it];
    if (it + 1 < re) load_kv(p.map.rows[it + 1].x, buf ^ 1);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    if (it == rb) {
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk)
        ldmatrix_x4(qf[kk], a_addr<D>(s_q, warp * 16, kk * 16, lane));
    }
    const T* c_k = s_k + buf * kBk * D;
    const T* c_v = s_v + buf * kBk * D;

    float s[kBk / 8][4];
#pragma unroll
    for (int i = 0; i < kBk / 8; ++i) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
#pragma unroll
      for (int np = 0; np < kBk / 16; ++np) {
        uint32_t b[4];
        ldmatrix_x4(b, b_addr_nk<D>(c_k, np * 16, kk * 16, lane));
        mma16816<T>(s[2 * np], qf[kk], b[0], b[1]);
        mma16816<T>(s[2 * np + 1], qf[kk], b[2], b[3]);
      }
    }

    const int k0 = tile.x * kBk;
    if (tile.y != kTileFull || k0 + kBk > p.seq_k) {
#pragma unroll
      for (int nt = 0; nt < kBk / 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int q = row0 + (e >> 1) * 8, k = k0 + nt * 8 + 2 * t4 + (e & 1);
          const bool vis =
              k < p.seq_k && (tile.y == kTileFull || tile_visible(p.map, tile.z, tile.w, q, k));
          if (!vis) s[nt][e] = -INFINITY;
        }
    }

    // Online softmax over this tile for the thread's two rows.
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float mx = m[r];
#pragma unroll
      for (int nt = 0; nt < kBk / 8; ++nt) mx = fmaxf(mx, fmaxf(s[nt][2 * r], s[nt][2 * r + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      // A row with nothing visible yet keeps max -inf; subtract 0 instead so
      // exp2(-inf - (-inf)) never makes a NaN.
      const float base = mx == -INFINITY ? 0.f : mx * sl2;
      const float alpha = exp2f(m[r] * sl2 - base);
      m[r] = mx;
      float sum = 0.f;
#pragma unroll
      for (int nt = 0; nt < kBk / 8; ++nt) {
        s[nt][2 * r] = exp2f(fmaf(s[nt][2 * r], sl2, -base));
        s[nt][2 * r + 1] = exp2f(fmaf(s[nt][2 * r + 1], sl2, -base));
        sum += s[nt][2 * r] + s[nt][2 * r + 1];
      }
      l[r] = l[r] * alpha + sum;
#pragma unroll
      for (int dt = 0; dt < D / 8; ++dt) {
        acc[dt][2 * r] *= alpha;
        acc[dt][2 * r + 1] *= alpha;
      }
    }

    // O += P V, P re-packed from the score accumulators into A fragments.
#pragma unroll
    for (int kk = 0; kk < kBk / 16; ++kk) {
      uint32_t a[4] = {pack2<T>(s[2 * kk][0], s[2 * kk][1]), pack2<T>(s[2 * kk][2], s[2 * kk][3]),
                       pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                       pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int dp = 0; dp < D / 16; ++dp) {
        uint32_t b[4];
        ldmatrix_x4_trans(b, b_addr_kn<D>(c_v, kk * 16, dp * 16, lane));
        mma16816<T>(acc[2 * dp], a, b[0], b[1]);
        mma16816<T>(acc[2 * dp + 1], a, b[2], b[3]);
      }
    }
    __syncthreads();  // everyone is done with `buf` before it is refilled
  }
  cp_async_wait<0>();

  T* gout = static_cast<T*>(p.out.data) + h * p.out.head_stride;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float sum = l[r];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    const int q = row0 + r * 8;
    if (q >= p.seq_q) continue;
    const float inv = sum > 0.f ? 1.f / sum : 0.f;
    T* o = gout + static_cast<int64_t>(q) * p.out.token_stride;
#pragma unroll
    for (int dt = 0; dt < D / 8; ++dt)
      *reinterpret_cast<uint32_t*>(o + dt * 8 + 2 * t4) =
          pack2<T>(acc[dt][2 * r] * inv, acc[dt][2 * r + 1] * inv);
    if (t4 == 0)
      p.lse[static_cast<int64_t>(q) * p.lse_token_stride + h] =
          sum > 0.f ? (m[r] * sl2 + log2f(sum)) * kLn2 : -INFINITY;
  }
}

template <typename T, int D>
void launch_fwd(const FlashFwdParams& p, cudaStream_t stream) {
  constexpr int smem = fwd_smem_bytes<D>();
  auto kernel = flash_fwd_kernel<T, D>;
  CPB_CUDA_CORE_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  dim3 grid(p.map.num_q_tiles, p.heads_q);
  kernel<<<grid, kFwdThreads, smem, stream>>>(p);
  CPB_CUDA_CORE_CHECK_LAUNCH();
}

}  // namespace

bool flash_head_dim_supported(int head_dim) { return head_dim == 64 || head_dim == 128; }

void flash_forward(const FlashFwdParams& p, cudaStream_t stream) {
  if (p.seq_q == 0 || p.heads_q == 0) return;
  if (p.bf16) {
    if (p.head_dim == 64) return launch_fwd<__nv_bfloat16, 64>(p, stream);
    if (p.head_dim == 128) return launch_fwd<__nv_bfloat16, 128>(p, stream);
  } else {
    if (p.head_dim == 64) return launch_fwd<__half, 64>(p, stream);
    if (p.head_dim == 128) return launch_fwd<__half, 128>(p, stream);
  }
  throw std::runtime_error("flash_forward: unsupported head_dim " + std::to_string(p.head_dim));
}

}  // namespace cpb::cuda
