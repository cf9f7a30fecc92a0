// BlockMap: the mask seen at tile granularity (Bq x Bk), the form kernels consume.
// Each tile is EMPTY (never loaded), FULL (computed with no per-element test) or
// PARTIAL (per-element test against the few slices that touch it). Row view
// (forward, dQ) and column view (dK/dV) list only non-empty tiles, CSR-style,
// like FlexAttention's BlockMask, so a kernel's loop bound is the work it does.
#pragma once

#include <cstdint>
#include <vector>

#include "masks/mask.h"

namespace cpb {

enum class TileState : uint8_t { kEmpty = 0, kPartial = 1, kFull = 2 };

struct TileRef {
  int32_t index;  // the k-tile (row view) or q-tile (column view)
  TileState state;
  int32_t slice_begin;  // into BlockMap::tile_slices, valid when kPartial
  int32_t slice_count;
};

struct BlockMap {
  int64_t block_q = 0, block_k = 0;
  int64_t num_q_tiles = 0, num_k_tiles = 0;
  // Row view: tiles of q-tile i are rows[row_ptr[i] .. row_ptr[i+1]), sorted by k-tile.
  std::vector<int64_t> row_ptr;
  std::vector<TileRef> rows;
  // Column view: tiles of k-tile j are cols[col_ptr[j] .. col_ptr[j+1]), sorted by q-tile.
  std::vector<int64_t> col_ptr;
  std::vector<TileRef> cols;
  // Indices into the mask's slices, for PARTIAL tiles (shared by both views).
  std::vector<int32_t> tile_slices;

  int64_t count(TileState s) const;
  TileState state(int64_t qi, int64_t kj) const;  // O(log) lookup, tests and tools
};

BlockMap build_block_map(const Mask& mask, int64_t block_q, int64_t block_k);

}  // namespace cpb
