// HeadMasks: a mask that may differ per attention head, as one Mask per KV head.
// Decision: the unit is the KV head (the Hq/Hkv query heads that share one K, V),
// not the query head: NSA and MoBA select blocks per KV-head group so the group's
// K/V loads serve every query head in it, and a kernel call restricted to one KV
// head is a plain GQA call that owns its dK/dV head (no accumulation across calls).
// One entry = the same mask for every head (every kind but a per_head spec).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "masks/mask.h"
#include "masks/mask_spec.h"

namespace cpb {

struct HeadMasks {
  std::vector<Mask> kv;  // [Hkv] masks over one S_q x S_k plane, or [1] for every head

  bool uniform() const { return kv.size() == 1; }
  // The mask KV head g sees (entry 0 when uniform).
  const Mask& of_kv_head(int64_t g) const { return kv[uniform() ? 0 : static_cast<size_t>(g)]; }
  // Every entry restricted as Mask::restrict does.
  HeadMasks restrict(std::span<const Range> q_ranges, std::span<const Range> k_ranges) const;
  // True when no entry has a visible pair.
  bool empty() const;
  // Visible (query head, query, key) triples over `heads_q` query heads split into
  // `heads_kv` KV groups (heads_q % heads_kv == 0; a uniform mask: area * heads_q),
  // as a double: the FLOP count's factor, and past int64 at S = 2^30 with many heads.
  double head_pairs(int64_t heads_q, int64_t heads_kv) const;
  // Mean over the entries (KV heads, so over query heads too) of each one's area,
  // rounded to the nearest pair, and the exact mean density: a per-head mask's
  // mask_area and mask_density (reports/SCHEMA.md). A uniform one's area and density.
  int64_t mean_area() const;
  double mean_density() const;
};

// Most slices the per-head masks of one case may hold together (about 800 MB): a
// per-head spec whose heads_kv x (head 0's slices) exceeds it is an input error.
inline constexpr int64_t kMaxHeadMaskSlices = int64_t{1} << 24;

// The masks of `spec` for a case with `heads_kv` KV heads: one per KV head when
// spec.per_head is set (KV head 0's draw is make_mask(spec, seq)), else the one mask.
// Throws InputError naming a bad heads_kv, a kind without a per-head variant, or a
// total over kMaxHeadMaskSlices.
HeadMasks make_head_masks(const MaskSpec& spec, int64_t seq, int64_t heads_kv);

// The entries for KV heads [first, first + count) of `all` (all of a uniform one):
// what a rank holding those KV heads (Ulysses) passes to its kernel calls.
std::span<const Mask> kv_head_range(std::span<const Mask> all, int64_t first, int64_t count);

}  // namespace cpb
