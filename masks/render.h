// Text views of a mask for `cpbench mask`: a downsampled picture and a slice list.
// The picture is exact, not sampled: each cell's state comes from the mask area
// inside it ('#' every pair visible, '+' some, '.' none), so a one-token diagonal
// never disappears at a coarse scale.
#pragma once

#include <cstdint>
#include <string>

#include "masks/mask.h"

namespace cpb {

// At most max_side x max_side cells (fewer when the mask is smaller); cell r covers
// rows [r*S_q/n, (r+1)*S_q/n), likewise for columns. One line per cell row, each ending
// in '\n'; row 0 (the first query) on top, key 0 on the left. max_side >= 1.
std::string render_ascii(const Mask& mask, int max_side);

// "S_q x S_k, N slices, area A, density D" then one line per slice (at most
// max_slices, then "... and K more"): ranges, kind (FULL, CAUSAL, INV_CAUSAL,
// BI_CAUSAL, BAND lo..hi) and area.
std::string describe(const Mask& mask, int max_slices = 32);

// The slice's kind in DESIGN.md's vocabulary, as describe() prints it.
std::string slice_kind(const MaskSlice& s);

}  // namespace cpb
