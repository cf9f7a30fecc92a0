// Merging partial attention results over disjoint key sets (ring steps):
//   lse = m + log(exp(lse_a - m) + exp(lse_b - m)),  m = max(lse_a, lse_b)
//   out = exp(lse_a - lse) * out_a + exp(lse_b - lse) * out_b
// A side with lse = -inf contributes nothing; two empty sides stay empty
// (lse = -inf, out = 0) instead of producing NaN from (-inf) - (-inf).
#pragma once

#include "kernels/tensor.h"

namespace cpb {

// acc := merge(acc, part), elementwise over [tokens, heads]. CPU buffers; out
// tensors of any storage dtype (merging happens in fp32).
void lse_merge_into(TensorView acc_out, LseView acc_lse, TensorView part_out, LseView part_lse);

}  // namespace cpb
