// Shape checks every kernel runs on its arguments before touching memory: one
// place, so kernels agree on what a malformed call is (an internal error: the
// driver validates user input long before a kernel sees it).
#pragma once

#include "kernels/tensor.h"
#include "masks/mask.h"

namespace cpb {

// Throws InternalError naming `kernel` unless q, k, v live on `device` and agree
// with each other and with the mask (tokens, GQA head ratio, head_dim).
void check_attention_args(const char* kernel, Device device, const TensorView& q,
                          const TensorView& k, const TensorView& v, const Mask* mask);

}  // namespace cpb
