#include "masks/block_map.h"

#include <algorithm>

#include "common/errors.h"

namespace cpb {
namespace {

struct TileHit {
  int64_t k_tile;
  int32_t slice;
  int64_t area;
};

}  // namespace

BlockMap build_block_map(const Mask& mask, int64_t block_q, int64_t block_k) {
  CPB_REQUIRE(block_q > 0 && block_k > 0, "tile sizes must be > 0, got {}x{}", block_q, block_k);
  BlockMap bm;
  bm.block_q = block_q;
  bm.block_k = block_k;
  bm.num_q_tiles = (mask.seq_q + block_q - 1) / block_q;
  bm.num_k_tiles = (mask.seq_k + block_k - 1) / block_k;

  // Bucket slices by the q-tiles they span, so each tile row is built alone.
  std::vector<std::vector<int32_t>> slices_of_row(static_cast<size_t>(bm.num_q_tiles));
  for (size_t i = 0; i < mask.slices.size(); ++i) {
    const auto& s = mask.slices[i];
    if (slice_area(s) == 0) continue;
    for (int64_t t = s.q_begin / block_q; t <= (s.q_end - 1) / block_q; ++t)
      slices_of_row[static_cast<size_t>(t)].push_back(static_cast<int32_t>(i));
  }

  bm.row_ptr.assign(static_cast<size_t>(bm.num_q_tiles) + 1, 0);
  std::vector<TileHit> hits;
  for (int64_t qi = 0; qi < bm.num_q_tiles; ++qi) {
    int64_t q0 = qi * block_q, q1 = std::min(q0 + block_q, mask.seq_q);
    hits.clear();
    for (int32_t si : slices_of_row[static_cast<size_t>(qi)]) {
      MaskSlice s = mask.slices[static_cast<size_t>(si)];
      s.q_begin = std::max(s.q_begin, q0);
      s.q_end = std::min(s.q_end, q1);
      // Keys any of these rows can see: q - hi <= k <= q - lo.
      int64_t k_lo = std::max(s.k_begin, s.q_begin - s.diag_hi);
      int64_t k_hi = std::min(s.k_end - 1, (s.q_end - 1) - s.diag_lo);
      for (int64_t kj = k_lo / block_k; k_lo <= k_hi && kj <= k_hi / block_k; ++kj) {
        MaskSlice t = s;
        t.k_begin = std::max(s.k_begin, kj * block_k);
        t.k_end = std::min(s.k_end, (kj + 1) * block_k);
        int64_t a = slice_area(t);
        if (a > 0) hits.push_back({kj, si, a});
      }
    }
    std::sort(hits.begin(), hits.end(), [](const TileHit& a, const TileHit& b) {
      return a.k_tile != b.k_tile ? a.k_tile < b.k_tile : a.slice < b.slice;
    });
    for (size_t h = 0; h < hits.size();) {
      size_t e = h;
      int64_t area = 0;
      while (e < hits.size() && hits[e].k_tile == hits[h].k_tile) area += hits[e++].area;
      int64_t kj = hits[h].k_tile;
      int64_t tile_area = (q1 - q0) * (std::min((kj + 1) * block_k, mask.seq_k) - kj * block_k);
      CPB_CHECK(area <= tile_area, "overlapping slices in tile ({}, {})", qi, kj);
      TileRef ref{static_cast<int32_t>(kj),
                  area == tile_area ? TileState::kFull : TileState::kPartial,
                  static_cast<int32_t>(bm.tile_slices.size()), 0};
      if (ref.state == TileState::kPartial) {
        for (size_t x = h; x < e; ++x) bm.tile_slices.push_back(hits[x].slice);
        ref.slice_count = static_cast<int32_t>(e - h);
      }
      bm.rows.push_back(ref);
      h = e;
    }
    bm.row_ptr[static_cast<size_t>(qi) + 1] = static_cast<int64_t>(bm.rows.size());
  }

  // Column view by counting sort; rows are visited in order so each column
  // comes out sorted by q-tile.
  bm.col_ptr.assign(static_cast<size_t>(bm.num_k_tiles) + 1, 0);
  for (const auto& r : bm.rows) ++bm.col_ptr[static_cast<size_t>(r.index) + 1];
  for (size_t j = 0; j < static_cast<size_t>(bm.num_k_tiles); ++j)
    bm.col_ptr[j + 1] += bm.col_ptr[j];
  bm.cols.resize(bm.rows.size());
  std::vector<int64_t> fill(bm.col_ptr.begin(), bm.col_ptr.end() - 1);
  for (int64_t qi = 0; qi < bm.num_q_tiles; ++qi)
    for (int64_t x = bm.row_ptr[static_cast<size_t>(qi)];
         x < bm.row_ptr[static_cast<size_t>(qi) + 1]; ++x) {
      TileRef c = bm.rows[static_cast<size_t>(x)];
      int64_t kj = c.index;
      c.index = static_cast<int32_t>(qi);
      bm.cols[static_cast<size_t>(fill[static_cast<size_t>(kj)]++)] = c;
    }
  return bm;
}

int64_t BlockMap::count(TileState s) const {
  if (s == TileState::kEmpty) return num_q_tiles * num_k_tiles - static_cast<int64_t>(rows.size());
  return std::count_if(rows.begin(), rows.end(), [s](const TileRef& r) { return r.state == s; });
}

TileState BlockMap::state(int64_t qi, int64_t kj) const {
  auto b = rows.begin() + row_ptr[static_cast<size_t>(qi)];
  auto e = rows.begin() + row_ptr[static_cast<size_t>(qi) + 1];
  auto it = std::lower_bound(b, e, kj, [](const TileRef& r, int64_t k) { return r.index < k; });
  return (it != e && it->index == kj) ? it->state : TileState::kEmpty;
}

}  // namespace cpb
