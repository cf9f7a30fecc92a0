// One correctness case for a GPU attention kernel against cpu_reference: random
// inputs, forward and backward on both, relative errors back. Shared by the gtest
// suite (asserts) and the device check driver (prints a table), so what the tests
// assert is exactly what the device run reports. Outputs are NaN-poisoned first,
// so an element the kernel never wrote shows up as a non-finite error.
#pragma once

#include <cstdint>

#include "kernels/kernel.h"
#include "kernels/tolerance.h"
#include "masks/mask.h"

namespace cpb::testing {

struct FlashCase {
  DType dtype = DType::kBF16;
  int64_t seq_q = 0, seq_k = 0, heads_q = 0, heads_kv = 0, head_dim = 0;
  Mask mask;             // seq_q x seq_k
  bool strided = false;  // q, out, dq as head slices of buffers twice as wide
  uint64_t seed = 1;
};

struct FlashCaseErrors {
  double out = 0;                 // ||out - ref|| / ||ref||
  double lse = 0;                 // max |lse - ref| over rows the reference sees keys in
  bool lse_empty_ok = true;       // lse is -inf and out 0 exactly on the reference's empty rows
  double dq = 0, dk = 0, dv = 0;  // relative L2 against the fp64 reference
  double accumulate = 0;  // worst relative L2 of a second accumulate=true call against 2x ref
  int64_t empty_rows = 0;
};

// Pass thresholds, from the one table's kGpuKernel row (kernels/tolerance.h):
// relative L2 for out and gradients (rtol), absolute for LSE (atol).
struct FlashTolerance {
  double out, lse, grad;
};
inline FlashTolerance flash_tolerance(DType t) {
  return {.out = tolerance(Comparison::kGpuKernel, t, Quantity::kOut).rtol,
          .lse = tolerance(Comparison::kGpuKernel, t, Quantity::kLse).atol,
          .grad = tolerance(Comparison::kGpuKernel, t, Quantity::kGrad).rtol};
}

FlashCaseErrors run_flash_case(const FlashCase& c, Kernel& gpu, Kernel& ref);

// LSE-merge property: forward over the first and second half of the keys,
// merged with lse_merge_into, against one forward over all keys. Returns the
// relative L2 error of the merged out (and max |lse| difference in *lse_err).
double lse_merge_case(const FlashCase& c, Kernel& gpu, double* lse_err);

}  // namespace cpb::testing
