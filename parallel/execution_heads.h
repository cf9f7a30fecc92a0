// Kernel calls under masks that may differ per KV head (masks/head_masks.h), issued
// through an Execution. Decision: the kernel interface keeps one mask per call;
// where the masks differ, the call is split here into one call per KV head (its
// Hq/Hkv query heads and its K, V head as strided head-slice views, no copy), so
// no kernel and no execution (host, cuda, trace) learns about head sets, and the
// trace records each head's call with its own area and tiles.
#pragma once

#include <span>

#include "kernels/kernel.h"
#include "masks/mask.h"
#include "parallel/execution.h"

namespace cpb {

// Heads [first, first + count) of `t` (a view: same data, same strides).
TensorView head_slice(const TensorView& t, int64_t first, int64_t count);
LseView head_slice(const LseView& l, int64_t first, int64_t count);

// `masks` holds one mask for every head (size 1: a single call, as x.forward with
// that mask) or one per KV head of a.k (size a.k.heads). a.mask is ignored. A KV
// head whose mask is empty gets no kernel call: its out rows are zeroed and its LSE
// set to -inf (forward); backward adds nothing (accumulate) or zeroes its dq, dk, dv.
void forward_heads(Execution& x, Kernel& k, const ForwardArgs& a, std::span<const Mask> masks);
void backward_heads(Execution& x, Kernel& k, const BackwardArgs& a, std::span<const Mask> masks);

}  // namespace cpb
