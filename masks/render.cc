#include "masks/render.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "common/errors.h"

namespace cpb {
namespace {

// Cell c covers [edges[c], edges[c+1]); n cells over `len` tokens, as even as integers allow.
std::vector<int64_t> cell_edges(int64_t len, int64_t n) {
  std::vector<int64_t> e(static_cast<size_t>(n) + 1);
  for (int64_t c = 0; c <= n; ++c) e[static_cast<size_t>(c)] = c * len / n;
  return e;
}

// Cell holding token t.
int64_t cell_of(const std::vector<int64_t>& edges, int64_t t) {
  return (std::upper_bound(edges.begin(), edges.end(), t) - edges.begin()) - 1;
}

std::string bound(int64_t b) {
  if (b >= kNoBound) return "+inf";
  if (b <= -kNoBound) return "-inf";
  return fmt::format("{}", b);
}

}  // namespace

std::string slice_kind(const MaskSlice& s) {
  const bool lo_open = s.diag_lo <= -kNoBound, hi_open = s.diag_hi >= kNoBound;
  const bool lo_causal = s.diag_lo == s.q_end - s.k_end;
  const bool hi_inv = s.diag_hi == s.q_begin - s.k_begin;
  if (lo_open && hi_open) return "FULL";
  if (lo_causal && hi_open) return "CAUSAL";
  if (lo_open && hi_inv) return "INV_CAUSAL";
  if (lo_causal && hi_inv) return "BI_CAUSAL";
  return fmt::format("BAND {} <= q-k <= {}", bound(s.diag_lo), bound(s.diag_hi));
}

std::string render_ascii(const Mask& mask, int max_side) {
  CPB_REQUIRE(max_side >= 1, "picture size {} must be >= 1", max_side);
  if (mask.seq_q <= 0 || mask.seq_k <= 0) return {};
  const int64_t nr = std::min<int64_t>(mask.seq_q, max_side);
  const int64_t nc = std::min<int64_t>(mask.seq_k, max_side);
  const auto re = cell_edges(mask.seq_q, nr), ce = cell_edges(mask.seq_k, nc);
  std::vector<int64_t> area(static_cast<size_t>(nr * nc), 0);

  for (const auto& s : mask.slices) {
    if (slice_area(s) == 0) continue;
    for (int64_t r = cell_of(re, s.q_begin); r <= cell_of(re, s.q_end - 1); ++r) {
      MaskSlice t = s;
      t.q_begin = std::max(s.q_begin, re[static_cast<size_t>(r)]);
      t.q_end = std::min(s.q_end, re[static_cast<size_t>(r) + 1]);
      // Keys any of these rows can see: q - diag_hi <= k <= q - diag_lo.
      int64_t k_lo = std::max(t.k_begin, t.q_begin - t.diag_hi);
      int64_t k_hi = std::min(t.k_end - 1, (t.q_end - 1) - t.diag_lo);
      if (k_lo > k_hi) continue;
      for (int64_t c = cell_of(ce, k_lo); c <= cell_of(ce, k_hi); ++c) {
        MaskSlice u = t;
        u.k_begin = std::max(t.k_begin, ce[static_cast<size_t>(c)]);
        u.k_end = std::min(t.k_end, ce[static_cast<size_t>(c) + 1]);
        area[static_cast<size_t>(r * nc + c)] += slice_area(u);
      }
    }
  }

  std::string out;
  out.reserve(static_cast<size_t>(nr * (nc + 1)));
  for (int64_t r = 0; r < nr; ++r) {
    int64_t rows = re[static_cast<size_t>(r) + 1] - re[static_cast<size_t>(r)];
    for (int64_t c = 0; c < nc; ++c) {
      int64_t cells = rows * (ce[static_cast<size_t>(c) + 1] - ce[static_cast<size_t>(c)]);
      int64_t a = area[static_cast<size_t>(r * nc + c)];
      CPB_CHECK(a <= cells, "overlapping slices in picture cell ({}, {})", r, c);
      out += a == 0 ? '.' : (a == cells ? '#' : '+');
    }
    out += '\n';
  }
  return out;
}

std::string describe(const Mask& mask, int max_slices) {
  const int64_t area = mask.area();
  std::string out = fmt::format("{} x {}, {} slices, area {}, density {:.6f}\n", mask.seq_q,
                                mask.seq_k, mask.slices.size(), area, mask.density());
  const size_t shown = std::min(mask.slices.size(), static_cast<size_t>(std::max(max_slices, 0)));
  for (size_t i = 0; i < shown; ++i) {
    const auto& s = mask.slices[i];
    out += fmt::format("  [{}] q [{}, {}) k [{}, {}) {} area {}\n", i, s.q_begin, s.q_end,
                       s.k_begin, s.k_end, slice_kind(s), slice_area(s));
  }
  if (shown < mask.slices.size())
    out += fmt::format("  ... and {} more\n", mask.slices.size() - shown);
  return out;
}

}  // namespace cpb
