// Device helpers shared by the forward and backward flash kernels: the
// per-element mask test of PARTIAL tiles (the slices listed for the tile, each a
// rectangle cut by a diagonal band) and head-dim dispatch. FULL tiles never call
// the test; EMPTY tiles are absent from the CSR lists, so never loaded.
#pragma once

#include <cuda_runtime.h>

#include "kernels/cuda/flash_launch.h"

namespace cpb::cuda {

inline constexpr float kLog2e = 1.4426950408889634f;
inline constexpr float kLn2 = 0.6931471805599453f;
inline constexpr int kTileFull = 2;

// visible(q, k) for a PARTIAL tile whose slices are tile_slices[begin, begin + count).
__device__ __forceinline__ bool tile_visible(const DeviceBlockMap& map, int begin, int count, int q,
                                             int k) {
  for (int i = 0; i < count; ++i) {
    const int s = __ldg(map.tile_slices + begin + i);
    const int4 r = __ldg(map.slices + 2 * s);
    const int4 d = __ldg(map.slices + 2 * s + 1);
    const int diff = q - k;
    if (q >= r.x && q < r.y && k >= r.z && k < r.w && diff >= d.x && diff <= d.y) return true;
  }
  return false;
}

}  // namespace cpb::cuda
