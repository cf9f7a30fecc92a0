// Plain launch interface of the CUDA flash-attention core: raw device pointers,
// element strides and an uploaded block map, nothing else. It stays free of fmt
// and the Kernel interface so the device code builds with nvcc alone; the
// adapter in cuda_flash.cc turns TensorView/Mask into these structs.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace cpb::cuda {

// Tile sizes the block maps must be built with (rows x cols of the score tile).
inline constexpr int kFwdBlockQ = 128, kFwdBlockK = 64;
inline constexpr int kBwdBlockQ = 64, kBwdBlockK = 128;

// A masks/block_map.h BlockMap on the device. Tile refs are int4 {tile index,
// state (0 empty, 1 partial, 2 full), slice_begin, slice_count}; slices are int4
// pairs {q_begin, q_end, k_begin, k_end} {diag_lo, diag_hi, 0, 0} with unbounded
// diagonals clamped to +-2^30 (sequences are far shorter).
struct DeviceBlockMap {
  int num_q_tiles = 0, num_k_tiles = 0;
  const int* row_ptr = nullptr;      // [num_q_tiles + 1]
  const int4* rows = nullptr;        // row view, sorted by k tile
  const int* col_ptr = nullptr;      // [num_k_tiles + 1]
  const int4* cols = nullptr;        // column view, sorted by q tile
  const int* tile_slices = nullptr;  // slice indices of PARTIAL tiles
  const int4* slices = nullptr;      // [2 * num_slices]
};

// A [tokens, heads, head_dim] view; head_dim is contiguous, strides in elements.
struct DevTensor {
  void* data = nullptr;
  int64_t token_stride = 0, head_stride = 0;
};

struct FlashFwdParams {
  DevTensor q, k, v, out;  // bf16 or fp16
  float* lse = nullptr;    // [seq_q, heads_q] fp32, natural log
  int64_t lse_token_stride = 0;
  int seq_q = 0, seq_k = 0, heads_q = 0, heads_kv = 0, head_dim = 0;
  bool bf16 = true;
  float scale = 1.f;
  DeviceBlockMap map;  // built with kFwdBlockQ x kFwdBlockK
};

struct FlashBwdParams {
  DevTensor q, k, v, out, dout;  // bf16 or fp16
  const float* lse = nullptr;    // global LSE [seq_q, heads_q]
  int64_t lse_token_stride = 0;
  DevTensor dq, dk, dv;    // fp32
  float* delta = nullptr;  // scratch [seq_q * heads_q] fp32: rowsum(dout * out)
  int seq_q = 0, seq_k = 0, heads_q = 0, heads_kv = 0, head_dim = 0;
  bool bf16 = true;
  float scale = 1.f;
  bool accumulate = false;
  DeviceBlockMap map;  // built with kBwdBlockQ x kBwdBlockK
};

// Head dims the core is instantiated for.
bool flash_head_dim_supported(int head_dim);

// Enqueue on `stream`; launch errors throw (CPB_CUDA_CORE_CHECK).
void flash_forward(const FlashFwdParams& p, cudaStream_t stream);
void flash_backward(const FlashBwdParams& p, cudaStream_t stream);

}  // namespace cpb::cuda
