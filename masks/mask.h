// Mask: which (query, key) pairs attend, as a union of disjoint slices, each a
// rectangle of the S_q x S_k plane cut by a diagonal band lo <= q - k <= hi.
// Every DESIGN slice type (FULL, CAUSAL bottom-right aligned, INV_CAUSAL,
// BI_CAUSAL, sliding windows) is such a band, so area, restriction and block maps
// are exact closed-form arithmetic and nothing ever materialises S x S.
// Ranges are half-open [begin, end); coordinates are token indices.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

namespace cpb {

inline constexpr int64_t kNoBound = std::numeric_limits<int64_t>::max() / 4;

struct Range {
  int64_t begin = 0;
  int64_t end = 0;  // exclusive
  int64_t size() const { return end - begin; }
  bool operator==(const Range&) const = default;
};

// One slice: visible(q, k) <=> q in [q_begin, q_end) and k in [k_begin, k_end)
// and diag_lo <= q - k <= diag_hi. Unbounded sides use -kNoBound / +kNoBound.
struct MaskSlice {
  int64_t q_begin = 0, q_end = 0;
  int64_t k_begin = 0, k_end = 0;
  int64_t diag_lo = -kNoBound;
  int64_t diag_hi = kNoBound;

  bool operator==(const MaskSlice&) const = default;
  bool visible(int64_t q, int64_t k) const {
    return q >= q_begin && q < q_end && k >= k_begin && k < k_end && q - k >= diag_lo &&
           q - k <= diag_hi;
  }
};

// Slice constructors in the vocabulary of DESIGN.md. Causal is bottom-right
// aligned (FlashAttention/MagiAttention): the last query row sees the last key.
MaskSlice full_slice(Range q, Range k);
MaskSlice causal_slice(Range q, Range k);      // k - k_begin <= (q - q_begin) + (|k| - |q|)
MaskSlice inv_causal_slice(Range q, Range k);  // top-left aligned: k - k_begin >= q - q_begin
MaskSlice bi_causal_slice(Range q, Range k);   // both of the above
// Window in global coordinates: visible iff -right <= q - k <= left (left: keys
// before the query, right: keys after it), clipped to the rectangle.
MaskSlice window_slice(Range q, Range k, int64_t left, int64_t right);

// Number of visible pairs in one slice, O(1).
int64_t slice_area(const MaskSlice& s);

struct Mask {
  int64_t seq_q = 0;
  int64_t seq_k = 0;
  std::vector<MaskSlice> slices;  // pairwise disjoint (checked by validate())

  // Visible pairs; exact, O(#slices).
  int64_t area() const;
  double density() const {
    return seq_q && seq_k ? static_cast<double>(area()) / (double(seq_q) * double(seq_k)) : 0.0;
  }
  bool visible(int64_t q, int64_t k) const;

  // Sub-mask seen by queries `q` and keys `k`, in local coordinates (query q.begin
  // becomes row 0). Empty slices are dropped.
  Mask restrict(Range q, Range k) const;
  // Same for a shard made of several token ranges concatenated in order (zigzag,
  // striped, balanced shards): local row r is the r-th token of the concatenation.
  Mask restrict(std::span<const Range> q_ranges, std::span<const Range> k_ranges) const;

  // Row-major S_q x S_k 0/1 matrix. Small sizes only (tests, pictures).
  std::vector<uint8_t> dense() const;

  // Throws InternalError when slices overlap or leave the S_q x S_k plane.
  // O(#slices^2) worst case on overlapping bounding boxes: for tests and generators.
  void validate() const;
};

}  // namespace cpb
