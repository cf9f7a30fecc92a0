#include "masks/mask.h"

#include <algorithm>

#include "common/errors.h"

namespace cpb {
namespace {

// Sum over the integers x in [x0, x1] of clamp(x, 0, w). x1 - x0 is at most a
// sequence length, so no term overflows even when x is near kNoBound.
int64_t clamped_sum(int64_t x0, int64_t x1, int64_t w) {
  if (x1 < x0 || w <= 0) return 0;
  int64_t sum = 0;
  int64_t lo = std::max<int64_t>(x0, 1), hi = std::min(x1, w);
  if (hi >= lo) sum += (lo + hi) * (hi - lo + 1) / 2;
  int64_t top = std::max(x0, w + 1);
  if (x1 >= top) sum += w * (x1 - top + 1);
  return sum;
}

// Pairs of the slice's rectangle with q - k <= t: row q sees keys k >= q - t,
// i.e. clamp(k_end - q + t, 0, |k|) of them.
int64_t pairs_below_diag(const MaskSlice& s, int64_t t) {
  int64_t w = s.k_end - s.k_begin;
  return clamped_sum(s.k_end + t - (s.q_end - 1), s.k_end + t - s.q_begin, w);
}

// Drop band bounds that do not cut the rectangle, so a band that covers the
// whole rectangle reads as FULL (+-kNoBound) whatever produced it.
MaskSlice canonical(MaskSlice s) {
  int64_t min_diff = s.q_begin - (s.k_end - 1);
  int64_t max_diff = (s.q_end - 1) - s.k_begin;
  if (s.diag_lo <= min_diff) s.diag_lo = -kNoBound;
  if (s.diag_hi >= max_diff) s.diag_hi = kNoBound;
  return s;
}

int64_t shift_bound(int64_t bound, int64_t delta) {
  return (bound == kNoBound || bound == -kNoBound) ? bound : bound + delta;
}

// Slice clipped to rows q and keys k, still in global coordinates.
MaskSlice clip(const MaskSlice& s, Range q, Range k) {
  MaskSlice c = s;
  c.q_begin = std::max(s.q_begin, q.begin);
  c.q_end = std::min(s.q_end, q.end);
  c.k_begin = std::max(s.k_begin, k.begin);
  c.k_end = std::min(s.k_end, k.end);
  return c;
}

bool rect_empty(const MaskSlice& s) { return s.q_end <= s.q_begin || s.k_end <= s.k_begin; }

}  // namespace

MaskSlice full_slice(Range q, Range k) { return {q.begin, q.end, k.begin, k.end}; }

MaskSlice causal_slice(Range q, Range k) {
  // k - k.begin <= q - q.begin + |k| - |q|  <=>  q - k >= q.end - k.end
  return canonical({q.begin, q.end, k.begin, k.end, q.end - k.end, kNoBound});
}

MaskSlice inv_causal_slice(Range q, Range k) {
  // k - k.begin >= q - q.begin  <=>  q - k <= q.begin - k.begin
  return canonical({q.begin, q.end, k.begin, k.end, -kNoBound, q.begin - k.begin});
}

MaskSlice bi_causal_slice(Range q, Range k) {
  return canonical({q.begin, q.end, k.begin, k.end, q.end - k.end, q.begin - k.begin});
}

MaskSlice window_slice(Range q, Range k, int64_t left, int64_t right) {
  CPB_REQUIRE(left >= 0 && right >= 0, "window bounds must be >= 0, got left={} right={}", left,
              right);
  return canonical({q.begin, q.end, k.begin, k.end, -right, left});
}

int64_t slice_area(const MaskSlice& s) {
  if (rect_empty(s) || s.diag_lo > s.diag_hi) return 0;
  int64_t rect = (s.q_end - s.q_begin) * (s.k_end - s.k_begin);
  int64_t below_hi = s.diag_hi >= kNoBound ? rect : pairs_below_diag(s, s.diag_hi);
  int64_t below_lo = s.diag_lo <= -kNoBound ? 0 : pairs_below_diag(s, s.diag_lo - 1);
  return below_hi - below_lo;
}

int64_t Mask::area() const {
  int64_t total = 0;
  for (const auto& s : slices) total += slice_area(s);
  return total;
}

bool Mask::visible(int64_t q, int64_t k) const {
  for (const auto& s : slices)
    if (s.visible(q, k)) return true;
  return false;
}

Mask Mask::restrict(Range q, Range k) const {
  const Range qs[] = {q};
  const Range ks[] = {k};
  return restrict(std::span<const Range>(qs), std::span<const Range>(ks));
}

Mask Mask::restrict(std::span<const Range> q_ranges, std::span<const Range> k_ranges) const {
  Mask out;
  for (const auto& r : q_ranges) out.seq_q += r.size();
  for (const auto& r : k_ranges) out.seq_k += r.size();
  // Shards of many ranges (striped, balanced) against many slices: each slice looks
  // up only the key ranges its rows can reach (binary search over the ranges sorted
  // by begin) instead of trying all of them; the hits are then emitted in the order
  // of the plain q-range x k-range x slice loop, so the result is the same.
  std::vector<int64_t> k_off(k_ranges.size() + 1, 0);
  std::vector<size_t> by_begin(k_ranges.size());
  for (size_t i = 0; i < k_ranges.size(); ++i) {
    k_off[i + 1] = k_off[i] + k_ranges[i].size();
    by_begin[i] = i;
  }
  std::sort(by_begin.begin(), by_begin.end(),
            [&](size_t a, size_t b) { return k_ranges[a].begin < k_ranges[b].begin; });
  bool disjoint = true;
  for (size_t i = 1; i < by_begin.size(); ++i)
    disjoint &= k_ranges[by_begin[i]].begin >= k_ranges[by_begin[i - 1]].end;
  std::vector<std::pair<size_t, size_t>> hits;  // (k range, slice)
  int64_t q_off = 0;
  for (const auto& qr : q_ranges) {
    hits.clear();
    for (size_t si = 0; si < slices.size(); ++si) {
      const MaskSlice& s = slices[si];
      const int64_t qb = std::max(s.q_begin, qr.begin), qe = std::min(s.q_end, qr.end);
      if (qb >= qe) continue;
      const int64_t k_lo = std::max(s.k_begin, qb - s.diag_hi);
      const int64_t k_hi = std::min(s.k_end - 1, (qe - 1) - s.diag_lo);
      if (k_lo > k_hi) continue;
      auto it = by_begin.begin();
      if (disjoint)
        it = std::partition_point(by_begin.begin(), by_begin.end(),
                                  [&](size_t i) { return k_ranges[i].end <= k_lo; });
      for (; it != by_begin.end() && (!disjoint || k_ranges[*it].begin <= k_hi); ++it)
        hits.push_back({*it, si});
    }
    std::sort(hits.begin(), hits.end());
    for (auto [ki, si] : hits) {
      const Range& kr = k_ranges[ki];
      MaskSlice c = clip(slices[si], qr, kr);
      if (rect_empty(c) || slice_area(c) == 0) continue;
      // local = global - range.begin + offset; q - k shifts by the difference.
      int64_t dq = q_off - qr.begin, dk = k_off[ki] - kr.begin;
      MaskSlice local{c.q_begin + dq,
                      c.q_end + dq,
                      c.k_begin + dk,
                      c.k_end + dk,
                      shift_bound(c.diag_lo, dq - dk),
                      shift_bound(c.diag_hi, dq - dk)};
      out.slices.push_back(canonical(local));
    }
    q_off += qr.size();
  }
  return out;
}

std::vector<uint8_t> Mask::dense() const {
  std::vector<uint8_t> m(static_cast<size_t>(seq_q * seq_k), 0);
  for (const auto& s : slices)
    for (int64_t q = s.q_begin; q < s.q_end; ++q) {
      int64_t k0 = std::max(s.k_begin, q - s.diag_hi);
      int64_t k1 = std::min(s.k_end - 1, q - s.diag_lo);
      for (int64_t k = k0; k <= k1; ++k) m[static_cast<size_t>(q * seq_k + k)] = 1;
    }
  return m;
}

void Mask::validate() const {
  for (size_t i = 0; i < slices.size(); ++i) {
    const auto& a = slices[i];
    CPB_CHECK(a.q_begin >= 0 && a.q_end <= seq_q && a.k_begin >= 0 && a.k_end <= seq_k,
              "slice {} [{},{})x[{},{}) leaves the {}x{} plane", i, a.q_begin, a.q_end, a.k_begin,
              a.k_end, seq_q, seq_k);
    for (size_t j = i + 1; j < slices.size(); ++j) {
      const auto& b = slices[j];
      MaskSlice both = clip(a, {b.q_begin, b.q_end}, {b.k_begin, b.k_end});
      both.diag_lo = std::max(a.diag_lo, b.diag_lo);
      both.diag_hi = std::min(a.diag_hi, b.diag_hi);
      CPB_CHECK(slice_area(both) == 0, "slices {} and {} overlap", i, j);
    }
  }
}

}  // namespace cpb
