// "Close enough": the one table of tolerances for an attention result against the
// cpu_reference oracle, read by `cpbench run --verify` (bench/case_runner.cc) and by
// every suite that checks a kernel or a CP method (tests/kernels, tests/parallel,
// tests/kernels_cuda). Decision: one bound per tensor, not per element,
//   max_i |got_i - ref_i| <= atol + rtol * max_i |ref_i|   (Tolerance::accepts)
// over the reference's finite elements, with -inf (a row that sees no key) matched
// exactly; only the GPU kernel suite measures a relative L2 norm (see kGpuKernel).
#pragma once

#include "common/dtype.h"

namespace cpb {

struct Tolerance {
  double atol = 0, rtol = 0;
  // The largest error accepted in a tensor whose largest |reference| is `max_ref`.
  double bound(double max_ref) const { return atol + rtol * max_ref; }
  bool accepts(double max_abs_error, double max_ref) const {
    return max_abs_error <= bound(max_ref);  // false on NaN
  }
};

// What is compared decides how much rounding the result has been through.
enum class Comparison {
  // One host kernel call against cpu_reference on the same inputs: fp32
  // accumulation order and exp2 approximation; one rounding of a 16-bit output.
  kKernel,
  // A CP method's outputs gathered from P ranks (run --verify, the CP suite):
  // partial outputs merge through the LSE, and round to the storage dtype, at
  // every ring step.
  kCpMethod,
  // A GPU kernel against cpu_reference (tests/kernels_cuda): rtol bounds the
  // relative L2 error ||got - ref|| / ||ref|| of out and gradients, atol the
  // largest |LSE error|. bf16 keeps 8 mantissa bits (P is rounded to it before
  // P V), fp16 11.
  kGpuKernel,
};

// Which tensor: the output, its log-sum-exp (fp32 whatever the storage), or a
// gradient (dq, dk, dv: fp32 accumulators).
enum class Quantity { kOut, kLse, kGrad };

// The table. kCpMethod is --verify's (run at up to S = 16K, on GPUs for 16-bit
// dtypes); kKernel is tests/kernels' max(1, max|ref|)-relative bounds halved into
// atol = rtol, never looser; kGpuKernel is tests/kernels_cuda's.
constexpr Tolerance tolerance(Comparison c, DType dt, Quantity q) {
  const bool f32 = dt == DType::kF32, bf16 = dt == DType::kBF16;
  switch (c) {
    case Comparison::kKernel:
      // Gradients come from the same (16-bit) inputs on both sides: fp32 vs fp64 only.
      if (q == Quantity::kGrad) return {5e-5, 5e-5};
      if (q == Quantity::kLse) return {1e-5, 1e-5};
      return f32 ? Tolerance{1e-5, 1e-5} : bf16 ? Tolerance{5e-3, 5e-3} : Tolerance{1e-3, 1e-3};
    case Comparison::kCpMethod:
      return f32 ? Tolerance{1e-5, 1e-3} : bf16 ? Tolerance{1e-3, 3e-2} : Tolerance{1e-4, 1e-2};
    case Comparison::kGpuKernel:
      if (q == Quantity::kLse) return {bf16 ? 2e-2 : 5e-3, 0};
      if (q == Quantity::kGrad) return {0, bf16 ? 4e-2 : 1e-2};
      return {0, bf16 ? 2e-2 : 5e-3};
  }
  return {};
}

}  // namespace cpb
