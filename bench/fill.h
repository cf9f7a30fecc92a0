// Deterministic test data by GLOBAL position: element (tensor, token, head, i) is a
// pure function of (seed, tensor id, global token, head, i) through a counter-based
// hash (SplitMix64 finaliser), so every rank generates exactly its own tokens, in any
// sharding, and the verification reference regenerates the identical full tensors.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/tensor.h"
#include "masks/mask.h"

namespace cpb::bench {

enum class FillTensor : uint64_t { kQ = 1, kK = 2, kV = 3, kDout = 4 };

// Uniform in [-1, 1), a function of its arguments only.
float fill_value(uint64_t seed, FillTensor tensor, int64_t token, int64_t head, int64_t i);

// Fills `t` (host, any dtype: values rounded to the storage type) whose local token
// r is the r-th global token of `ranges` concatenated.
void fill_tensor(const TensorView& t, uint64_t seed, FillTensor tensor,
                 const std::vector<Range>& ranges);

}  // namespace cpb::bench
