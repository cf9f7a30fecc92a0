// Warp-level tensor-core primitives for sm_80+: cp.async tile loads, ldmatrix
// fragment loads from swizzled shared memory, and mma.sync m16n8k16 (bf16/fp16 in,
// fp32 accumulate). Shared-memory tiles store 16-byte chunks XOR-swizzled by
// (row & 7), so the 8 row addresses of one ldmatrix phase hit 8 distinct bank
// groups; every tile row is at least 64 elements (8 chunks) wide for that reason.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace cpb::cuda {

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// Element offset of (row, col) in a swizzled tile with `kCols` elements per row.
template <int kCols>
__device__ __forceinline__ int swz(int row, int col) {
  return row * kCols + ((((col >> 3) ^ (row & 7))) << 3) + (col & 7);
}

// 16-byte global -> shared copy; `valid == false` writes zeros (tile tails).
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, bool valid) {
  int bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

template <typename T>
__device__ __forceinline__ void mma16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

// Two floats -> one register of two 16-bit values (low half = first).
template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  } else {
    __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  }
}

template <typename T>
__device__ __forceinline__ float2 unpack2(uint32_t v) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __bfloat1622float2(*reinterpret_cast<__nv_bfloat162*>(&v));
  } else {
    return __half22float2(*reinterpret_cast<__half2*>(&v));
  }
}

// ldmatrix lane addressing for a 16x16 block at (r0, c0) of a swizzled tile.
// A operand, tile stored [m][k]: regs come out as a0..a3 of mma's A fragment.
template <int kCols>
__device__ __forceinline__ uint32_t a_addr(const void* tile, int r0, int c0, int lane) {
  const auto* base = static_cast<const uint16_t*>(tile);
  return smem_addr(base + swz<kCols>(r0 + (lane & 15), c0 + ((lane >> 4) << 3)));
}
// B operand, tile stored [n][k] (non-transposed ldmatrix): regs {0,1} are n-tile
// r0..r0+7, regs {2,3} are n-tile r0+8..r0+15.
template <int kCols>
__device__ __forceinline__ uint32_t b_addr_nk(const void* tile, int r0, int c0, int lane) {
  const auto* base = static_cast<const uint16_t*>(tile);
  return smem_addr(base +
                   swz<kCols>(r0 + (lane & 7) + ((lane >> 4) << 3), c0 + (((lane >> 3) & 1) << 3)));
}
// B operand, tile stored [k][n] (transposed ldmatrix): k rows r0..r0+15, n cols
// c0..c0+15; regs {0,1} are n-tile c0, regs {2,3} are n-tile c0+8.
template <int kCols>
__device__ __forceinline__ uint32_t b_addr_kn(const void* tile, int r0, int c0, int lane) {
  const auto* base = static_cast<const uint16_t*>(tile);
  return smem_addr(base +
                   swz<kCols>(r0 + (lane & 7) + (((lane >> 3) & 1) << 3), c0 + ((lane >> 4) << 3)));
}
// A operand, tile stored [k][m] (transposed ldmatrix): k rows r0..r0+15, m cols c0..c0+15.
template <int kCols>
__device__ __forceinline__ uint32_t a_addr_km(const void* tile, int r0, int c0, int lane) {
  const auto* base = static_cast<const uint16_t*>(tile);
  return smem_addr(
      base + swz<kCols>(r0 + (lane & 7) + (((lane >> 4) & 1) << 3), c0 + (((lane >> 3) & 1) << 3)));
}

}  // namespace cpb::cuda
