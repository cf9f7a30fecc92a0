// Every registered kernel against cpu_reference, forward and backward, over mask
// shapes built from slices (full, causal in all alignments, windows, documents,
// gaps that leave rows and columns empty, global + window), GQA ratios 1/4/8,
// head dims 64/128 and an odd one, lengths that are not tile multiples, packed
// and strided views, fp32/bf16/fp16 storage. The suites take their kernel list
// from the registry, so a new kernel is tested here without touching this file;
// kernels whose supports() says no on this machine (e.g. CUDA) are skipped.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "kernels/kernel.h"
#include "kernels/lse_merge.h"
#include "kernels/tolerance.h"
#include "masks/generators.h"
#include "masks/mask_spec.h"
#include "tests/kernels/kernel_test_util.h"

namespace cpb::test {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Document boundaries at fixed fractions of the sequence, some of length 1.
std::vector<Range> documents(int64_t s) {
  std::vector<int64_t> cuts = {0, s * 2 / 7, s * 2 / 7 + 1, s * 3 / 5, s * 4 / 5, s};
  std::vector<Range> docs;
  for (size_t i = 0; i + 1 < cuts.size(); ++i)
    if (cuts[i + 1] > cuts[i]) docs.push_back({cuts[i], cuts[i + 1]});
  return docs;
}

struct MaskCase {
  std::string name;
  std::function<Mask(int64_t, int64_t)> make;  // (seq_q, seq_k) -> mask
  bool square_only = false;
};

const std::vector<MaskCase>& mask_cases() {
  static const std::vector<MaskCase> cases = {
      {"full",
       [](int64_t sq, int64_t sk) {
         return Mask{sq, sk, {full_slice({0, sq}, {0, sk})}};
       }},
      {"causal",
       [](int64_t sq, int64_t sk) {
         return Mask{sq, sk, {causal_slice({0, sq}, {0, sk})}};
       }},
      {"inv_causal",
       [](int64_t sq, int64_t sk) {
         return Mask{sq, sk, {inv_causal_slice({0, sq}, {0, sk})}};
       }},
      {"bi_causal",
       [](int64_t sq, int64_t sk) {
         return Mask{sq, sk, {bi_causal_slice({0, sq}, {0, sk})}};
       }},
      {"causal_window",
       [](int64_t sq, int64_t sk) {
         return Mask{sq, sk, {window_slice({0, sq}, {0, sk}, 37, 0)}};
       }},
      {"window",
       [](int64_t sq, int64_t sk) {
         return Mask{sq, sk, {window_slice({0, sq}, {0, sk}, 29, 29)}};
       }},
      {"document",
       [](int64_t s, int64_t) {
         Mask m{s, s, {}};
         for (Range d : documents(s)) m.slices.push_back(full_slice(d, d));
         return m;
       },
       true},
      {"causal_document",
       [](int64_t s, int64_t) {
         Mask m{s, s, {}};
         for (Range d : documents(s)) m.slices.push_back(causal_slice(d, d));
         return m;
       },
       true},
      // Rows [a, b) and keys [a, b) belong to no slice: empty rows and columns.
      {"gaps",
       [](int64_t s, int64_t) {
         const int64_t a = s / 3, b = s / 2;
         return Mask{s, s, {full_slice({0, a}, {0, a}), causal_slice({b, s}, {b, s})}};
       },
       true},
      {"global_window",
       [](int64_t s, int64_t) {
         const int64_t g = 5;
         return Mask{s,
                     s,
                     {full_slice({0, g}, {0, s}), full_slice({g, s}, {0, g}),
                      window_slice({g, s}, {g, s}, 23, 0)}};
       },
       true},
      {"empty",
       [](int64_t sq, int64_t sk) {
         return Mask{sq, sk, {}};
       }},
  };
  return cases;
}

struct Case {
  std::string mask;
  Shape shape;
};

std::vector<Case> cases() {
  const std::vector<Shape> square = {
      {.sq = 131, .sk = 131, .hq = 4, .hkv = 4, .d = 64},
      {.sq = 200, .sk = 200, .hq = 8, .hkv = 2, .d = 128, .dtype = DType::kBF16, .strided = true},
      {.sq = 77, .sk = 77, .hq = 8, .hkv = 1, .d = 40, .strided = true},
  };
  const std::vector<Shape> rect = {
      {.sq = 150, .sk = 90, .hq = 2, .hkv = 1, .d = 64},   // bottom-right causal: empty rows
      {.sq = 70, .sk = 190, .hq = 4, .hkv = 2, .d = 128},  // queries at the end of the keys
      {.sq = 65, .sk = 129, .hq = 2, .hkv = 2, .d = 32, .dtype = DType::kF16},
      {.sq = 20, .sk = 70, .hq = 2, .hkv = 1, .d = 1030},  // head_dim past any stack buffer
  };
  std::vector<Case> out;
  for (const MaskCase& m : mask_cases()) {
    for (const Shape& s : square) out.push_back({m.name, s});
    if (!m.square_only)
      for (const Shape& s : rect) out.push_back({m.name, s});
  }
  return out;
}

Mask build(const std::string& name, int64_t sq, int64_t sk) {
  for (const MaskCase& m : mask_cases())
    if (m.name == name) {
      Mask mask = m.make(sq, sk);
      mask.validate();
      return mask;
    }
  ADD_FAILURE() << "no mask case " << name;
  return {};
}

std::vector<std::string> kernels_under_test() {
  std::vector<std::string> names = KernelRegistry::instance().names();
  std::erase(names, "cpu_reference");  // the oracle itself
  return names;
}

std::string dtype_name(DType t) { return std::string(to_string(t)); }

// "Close enough" is the one table's kKernel row (kernels/tolerance.h), per tensor.
Tolerance out_tol(DType t) { return tolerance(Comparison::kKernel, t, Quantity::kOut); }
// Gradients come from the same 16-bit inputs on both sides: fp32 vs fp64 only.
const Tolerance kGradTol = tolerance(Comparison::kKernel, DType::kF32, Quantity::kGrad);

void expect_close(const Diff& d, Tolerance tol, const std::string& what) {
  EXPECT_TRUE(d.finite) << what << " has non-finite values";
  EXPECT_TRUE(tol.accepts(d.max_abs, d.ref_max))
      << what << ": max abs err " << d.max_abs << " > bound " << tol.bound(d.ref_max)
      << " (ref max " << d.ref_max << ")";
}

// a must equal factor * b.
Diff diff_scaled(const Buffer& a, const Buffer& b, double factor) {
  Diff d;
  for (int64_t t = 0; t < a.view.tokens; ++t)
    for (int64_t h = 0; h < a.view.heads; ++h)
      for (int64_t i = 0; i < a.view.head_dim; ++i) {
        const double x = a.get(t, h, i), y = factor * b.get(t, h, i);
        if (!std::isfinite(x)) d.finite = false;
        d.max_abs = std::max(d.max_abs, std::abs(x - y));
        d.ref_max = std::max(d.ref_max, std::abs(y));
      }
  return d;
}

// LSE is fp32 whatever the storage: -inf exactly where the reference row sees no
// key, elsewhere within the table's LSE bound.
void expect_lse(const Lse& got, const Lse& ref, int64_t sq, int64_t hq) {
  Diff d;
  for (int64_t t = 0; t < sq; ++t)
    for (int64_t h = 0; h < hq; ++h) {
      const float r = ref.at(t, h), g = got.at(t, h);
      if (r == kNegInf) {
        ASSERT_EQ(g, kNegInf) << "row " << t << " head " << h << " sees no key";
        continue;
      }
      if (!std::isfinite(g)) d.finite = false;
      d.max_abs = std::max(d.max_abs, std::abs(double(g) - r));
      d.ref_max = std::max(d.ref_max, double(std::abs(r)));
    }
  expect_close(d, tolerance(Comparison::kKernel, DType::kF32, Quantity::kLse), "lse");
}

class KernelVsReference : public testing::TestWithParam<std::tuple<std::string, Case>> {};

TEST_P(KernelVsReference, ForwardAndBackward) {
  const auto& [kernel_name, c] = GetParam();
  auto kernel = KernelRegistry::instance().create(kernel_name);
  auto reference = KernelRegistry::instance().create("cpu_reference");
  Problem got(c.shape, 7), ref(c.shape, 7);
  if (Support s = kernel->supports(got.attention_shape()); !s.ok()) GTEST_SKIP() << s.reason;
  const Mask mask = build(c.mask, c.shape.sq, c.shape.sk);

  reference->forward(ref.forward_args(mask));
  kernel->forward(got.forward_args(mask));
  expect_close(diff(got.out, ref.out), out_tol(c.shape.dtype), "out");
  expect_lse(got.lse, ref.lse, c.shape.sq, c.shape.hq);
  for (int64_t t = 0; t < c.shape.sq; ++t)
    for (int64_t h = 0; h < c.shape.hq; ++h)
      if (ref.lse.at(t, h) == kNegInf) {
        for (int64_t i = 0; i < c.shape.d; ++i) {
          ASSERT_EQ(got.out.get(t, h, i), 0.f) << "empty row " << t << " must output 0";
        }
      }

  // Backward from the same (reference) out and LSE, as a ring step would get.
  std::copy(ref.out.bytes.begin(), ref.out.bytes.end(), got.out.bytes.begin());
  std::copy(ref.lse.data.begin(), ref.lse.data.end(), got.lse.data.begin());
  reference->backward(ref.backward_args(mask, false));
  // Overwrite mode must ignore what the accumulators held before.
  fill_value(got.dq, std::numeric_limits<float>::quiet_NaN());
  fill_value(got.dk, std::numeric_limits<float>::quiet_NaN());
  fill_value(got.dv, std::numeric_limits<float>::quiet_NaN());
  kernel->backward(got.backward_args(mask, false));
  expect_close(diff(got.dq, ref.dq), kGradTol, "dq");
  expect_close(diff(got.dk, ref.dk), kGradTol, "dk");
  expect_close(diff(got.dv, ref.dv), kGradTol, "dv");
  for (int64_t t = 0; t < c.shape.sq; ++t)
    for (int64_t h = 0; h < c.shape.hq; ++h)
      if (ref.lse.at(t, h) == kNegInf) {
        for (int64_t i = 0; i < c.shape.d; ++i) {
          ASSERT_EQ(got.dq.get(t, h, i), 0.f) << "row " << t << " sees no key: dq must be 0";
        }
      }
  // Accumulate mode adds: a second call doubles the gradients.
  kernel->backward(got.backward_args(mask, true));
  expect_close(diff_scaled(got.dq, ref.dq, 2), kGradTol, "dq accumulated");
  expect_close(diff_scaled(got.dk, ref.dk, 2), kGradTol, "dk accumulated");
  expect_close(diff_scaled(got.dv, ref.dv, 2), kGradTol, "dv accumulated");
}

std::string case_name(const testing::TestParamInfo<std::tuple<std::string, Case>>& info) {
  const auto& [k, c] = info.param;
  const Shape& s = c.shape;
  std::string n = k + "_" + c.mask + "_q" + std::to_string(s.sq) + "k" + std::to_string(s.sk) +
                  "h" + std::to_string(s.hq) + "x" + std::to_string(s.hkv) + "d" +
                  std::to_string(s.d) + "_" + dtype_name(s.dtype) + (s.strided ? "_strided" : "");
  return n;
}

INSTANTIATE_TEST_SUITE_P(Registry, KernelVsReference,
                         testing::Combine(testing::ValuesIn(kernels_under_test()),
                                          testing::ValuesIn(cases())),
                         case_name);

// Every generator kind (masks/mask_spec.h) through make_mask, as the driver
// builds them: the slice-built cases above pin edge cases, these pin coverage.
class KernelOnMaskKinds : public testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(KernelOnMaskKinds, MatchesReference) {
  const auto& [kernel_name, kind] = GetParam();
  const Shape shape{.sq = 193, .sk = 193, .hq = 4, .hkv = 1, .d = 64};
  auto kernel = KernelRegistry::instance().create(kernel_name);
  auto reference = KernelRegistry::instance().create("cpu_reference");
  Problem got(shape, 17), ref(shape, 17);
  if (Support s = kernel->supports(got.attention_shape()); !s.ok()) GTEST_SKIP() << s.reason;
  const Mask mask = make_mask(example_mask_spec(kind, shape.sq, /*seed=*/5), shape.sq);
  reference->forward(ref.forward_args(mask));
  kernel->forward(got.forward_args(mask));
  expect_close(diff(got.out, ref.out), out_tol(shape.dtype), "out");
  expect_lse(got.lse, ref.lse, shape.sq, shape.hq);
  reference->backward(ref.backward_args(mask, false));
  std::copy(ref.out.bytes.begin(), ref.out.bytes.end(), got.out.bytes.begin());
  std::copy(ref.lse.data.begin(), ref.lse.data.end(), got.lse.data.begin());
  kernel->backward(got.backward_args(mask, false));
  expect_close(diff(got.dq, ref.dq), kGradTol, "dq");
  expect_close(diff(got.dk, ref.dk), kGradTol, "dk");
  expect_close(diff(got.dv, ref.dv), kGradTol, "dv");
}

std::vector<std::string> kind_names() {
  std::vector<std::string> names;
  for (const MaskKindInfo& k : mask_kinds()) names.push_back(k.name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(
    Registry, KernelOnMaskKinds,
    testing::Combine(testing::ValuesIn(kernels_under_test()), testing::ValuesIn(kind_names())),
    [](const testing::TestParamInfo<std::tuple<std::string, std::string>>& info) {
      return std::get<0>(info.param) + "_" + std::get<1>(info.param);
    });

// Ring CP relies on these two: forward over two key halves merged by LSE equals
// one call; backward over two key halves with the global out/LSE, dQ
// accumulated, dK/dV per half, equals one call. Split off the tile grid, with
// rows that see keys in one half only and rows that see none.
class KernelComposes : public testing::TestWithParam<std::string> {};

constexpr Shape kSplitShape{.sq = 160, .sk = 160, .hq = 4, .hkv = 2, .d = 64};
constexpr int64_t kSplit = 83;

TEST_P(KernelComposes, LseMergeOfKeyHalvesEqualsFullCall) {
  auto kernel = KernelRegistry::instance().create(GetParam());
  Problem full(kSplitShape, 11), a(kSplitShape, 11), b(kSplitShape, 11);
  if (Support s = kernel->supports(full.attention_shape()); !s.ok()) GTEST_SKIP() << s.reason;
  const Mask mask = build("gaps", kSplitShape.sq, kSplitShape.sk);
  kernel->forward(full.forward_args(mask));

  const Mask ma = mask.restrict(Range{0, kSplitShape.sq}, Range{0, kSplit});
  const Mask mb = mask.restrict(Range{0, kSplitShape.sq}, Range{kSplit, kSplitShape.sk});
  ForwardArgs fa = a.forward_args(ma);
  fa.k = a.k.tokens(0, kSplit);
  fa.v = a.v.tokens(0, kSplit);
  kernel->forward(fa);
  ForwardArgs fb = b.forward_args(mb);
  fb.k = b.k.tokens(kSplit, kSplitShape.sk - kSplit);
  fb.v = b.v.tokens(kSplit, kSplitShape.sk - kSplit);
  kernel->forward(fb);
  lse_merge_into(a.out.view, a.lse.view, b.out.view, b.lse.view);

  expect_close(diff(a.out, full.out), out_tol(kSplitShape.dtype), "merged out");
  expect_lse(a.lse, full.lse, kSplitShape.sq, kSplitShape.hq);
}

TEST_P(KernelComposes, BackwardOverKeyHalvesEqualsFullCall) {
  auto kernel = KernelRegistry::instance().create(GetParam());
  Problem full(kSplitShape, 13), ring(kSplitShape, 13);
  if (Support s = kernel->supports(full.attention_shape()); !s.ok()) GTEST_SKIP() << s.reason;
  const Mask mask = build("causal_document", kSplitShape.sq, kSplitShape.sk);
  kernel->forward(full.forward_args(mask));
  kernel->backward(full.backward_args(mask, false));
  std::copy(full.out.bytes.begin(), full.out.bytes.end(), ring.out.bytes.begin());
  std::copy(full.lse.data.begin(), full.lse.data.end(), ring.lse.data.begin());

  const Range halves[2] = {{0, kSplit}, {kSplit, kSplitShape.sk}};
  for (int step = 0; step < 2; ++step) {
    const Range kr = halves[step];
    const Mask part = mask.restrict(Range{0, kSplitShape.sq}, kr);
    BackwardArgs args = ring.backward_args(part, /*accumulate=*/step > 0);
    args.k = ring.k.tokens(kr.begin, kr.size());
    args.v = ring.v.tokens(kr.begin, kr.size());
    args.dk = ring.dk.tokens(kr.begin, kr.size());
    args.dv = ring.dv.tokens(kr.begin, kr.size());
    // accumulate=true also adds the second half's dK/dV, into its zeroed slice.
    kernel->backward(args);
  }
  expect_close(diff(ring.dq, full.dq), kGradTol, "dq");
  expect_close(diff(ring.dk, full.dk), kGradTol, "dk");
  expect_close(diff(ring.dv, full.dv), kGradTol, "dv");
}

// A ring step may hand a kernel an empty key shard: every row is empty.
TEST_P(KernelComposes, ZeroKeysGiveEmptyRows) {
  auto kernel = KernelRegistry::instance().create(GetParam());
  const Shape shape{.sq = 70, .sk = 0, .hq = 2, .hkv = 1, .d = 64};
  Problem p(shape, 19);
  if (Support s = kernel->supports(p.attention_shape()); !s.ok()) GTEST_SKIP() << s.reason;
  const Mask mask{shape.sq, 0, {}};
  kernel->forward(p.forward_args(mask));
  fill_value(p.dq, 1.f);
  kernel->backward(p.backward_args(mask, /*accumulate=*/true));
  for (int64_t t = 0; t < shape.sq; ++t)
    for (int64_t h = 0; h < shape.hq; ++h) {
      EXPECT_EQ(p.lse.at(t, h), kNegInf);
      for (int64_t i = 0; i < shape.d; ++i) {
        EXPECT_EQ(p.out.get(t, h, i), 0.f);
        EXPECT_EQ(p.dq.get(t, h, i), 1.f);  // accumulate adds nothing
      }
    }
}

INSTANTIATE_TEST_SUITE_P(Registry, KernelComposes,
                         testing::ValuesIn(KernelRegistry::instance().names()),
                         [](const testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace cpb::test
