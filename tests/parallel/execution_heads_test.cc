// parallel/execution_heads.h: a kernel call split per KV head equals one call per
// head written by hand; a KV head with an empty mask gets out 0, LSE -inf and zero
// gradients (or keeps its accumulators) without a kernel call; one mask = one call.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "common/errors.h"
#include "kernels/kernel.h"
#include "masks/generators.h"
#include "masks/mask_spec.h"
#include "parallel/execution_heads.h"

namespace cpb {
namespace {

constexpr int64_t S = 24, Hq = 4, Hkv = 2, D = 8;

struct Buf {
  std::vector<float> data;
  TensorView view;
  Buf(int64_t heads, float fill) : data(size_t(S * heads * D), fill) {
    view = packed_view(data.data(), DType::kF32, Device::kCpu, S, heads, D);
  }
};

struct Problem {
  Buf q{Hq, 0}, k{Hkv, 0}, v{Hkv, 0}, dout{Hq, 0};
  Problem() {
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> u(-1, 1);
    for (Buf* b : {&q, &k, &v, &dout})
      for (float& x : b->data) x = u(rng);
  }
};

// What a split call writes; prefilled with 7 so a head it leaves untouched shows.
struct Outputs {
  Buf out{Hq, 7}, dq{Hq, 7}, dk{Hkv, 7}, dv{Hkv, 7};
  std::vector<float> lse = std::vector<float>(size_t(S * Hq), 7);
  LseView lse_view() { return {lse.data(), Device::kCpu, S, Hq, Hq}; }
};

void run(Kernel& kern, Execution& x, Problem& p, Outputs& o, std::span<const Mask> masks) {
  forward_heads(x, kern,
                {.q = p.q.view,
                 .k = p.k.view,
                 .v = p.v.view,
                 .mask = nullptr,
                 .out = o.out.view,
                 .lse = o.lse_view(),
                 .scale = 0.35f},
                masks);
  backward_heads(x, kern,
                 {.q = p.q.view,
                  .k = p.k.view,
                  .v = p.v.view,
                  .mask = nullptr,
                  .out = o.out.view,
                  .dout = p.dout.view,
                  .lse = o.lse_view(),
                  .dq = o.dq.view,
                  .dk = o.dk.view,
                  .dv = o.dv.view,
                  .scale = 0.35f,
                  .accumulate = false},
                 masks);
}

TEST(ExecutionHeads, SplitCallsEqualPerHeadCallsAndEmptyHeadsAreZero) {
  auto kern = KernelRegistry::instance().create("cpu_reference");
  auto x = make_host_execution();
  Problem p;
  const Mask causal = make_mask(default_mask_spec("causal"), S);
  const Mask empty{.seq_q = S, .seq_k = S, .slices = {}};
  // Uniform: both KV heads under causal, one call.
  Outputs all;
  run(*kern, *x, p, all, std::span<const Mask>(&causal, 1));
  // Per head: KV head 0 causal (same numbers as above for its heads), KV head 1 empty.
  const std::vector<Mask> masks = {causal, empty};
  Outputs split;
  run(*kern, *x, p, split, masks);
  for (int64_t t = 0; t < S; ++t) {
    for (int64_t h = 0; h < Hq; ++h) {
      const bool seen = h < Hq / Hkv;  // query heads of KV head 0
      const float lse = split.lse[size_t(t * Hq + h)];
      if (seen) {
        EXPECT_EQ(lse, all.lse[size_t(t * Hq + h)]);
      } else {
        EXPECT_EQ(lse, -std::numeric_limits<float>::infinity());
      }
      for (int64_t e = 0; e < D; ++e) {
        const size_t i = size_t((t * Hq + h) * D + e);
        EXPECT_EQ(split.out.data[i], seen ? all.out.data[i] : 0.f);
        EXPECT_EQ(split.dq.data[i], seen ? all.dq.data[i] : 0.f);
      }
    }
    for (int64_t e = 0; e < D; ++e) {
      const size_t h0 = size_t(t * Hkv * D + e), h1 = h0 + size_t(D);
      EXPECT_EQ(split.dk.data[h0], all.dk.data[h0]);
      EXPECT_EQ(split.dv.data[h0], all.dv.data[h0]);
      EXPECT_EQ(split.dk.data[h1], 0.f);
      EXPECT_EQ(split.dv.data[h1], 0.f);
    }
  }
}

TEST(ExecutionHeads, HeadSlicesAreViews) {
  Buf b(Hq, 0);
  const TensorView s = head_slice(b.view, 2, 2);
  EXPECT_EQ(s.heads, 2);
  EXPECT_EQ(s.data, b.data.data() + 2 * D);
  EXPECT_EQ(s.token_stride, b.view.token_stride);
  // A view without data (trace execution) stays without data.
  TensorView none = b.view;
  none.data = nullptr;
  EXPECT_EQ(head_slice(none, 1, 1).data, nullptr);
  EXPECT_THROW(head_slice(b.view, 3, 2), InternalError);
}

}  // namespace
}  // namespace cpb
