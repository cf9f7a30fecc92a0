// cuda_flash against cpu_reference on every mask kind (bf16 and fp16, head dims
// 64 and 128, GQA, odd lengths, strided views), plus shapes the kinds miss
// (S_q != S_k, one token, MQA, empty rows, an empty mask), the LSE-merge property
// and the block-map cache. Device tests skip when no GPU is visible; supports()
// is checked everywhere.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <tuple>

#include "common/cuda_runtime.h"
#include "kernels/cuda/cuda_flash.h"
#include "masks/generators.h"
#include "masks/mask_spec.h"
#include "tests/kernels_cuda/flash_case.h"

namespace cpb {
namespace {

#define CPB_SKIP_WITHOUT_GPU() \
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device visible (cudaGetDeviceCount)"

void expect_close(const testing::FlashCase& c) {
  auto gpu = KernelRegistry::instance().create("cuda_flash");
  auto ref = KernelRegistry::instance().create("cpu_reference");
  const testing::FlashCaseErrors e = testing::run_flash_case(c, *gpu, *ref);
  const testing::FlashTolerance tol = testing::flash_tolerance(c.dtype);
  EXPECT_LE(e.out, tol.out);
  EXPECT_LE(e.lse, tol.lse);
  EXPECT_TRUE(e.lse_empty_ok) << "rows without keys must have lse -inf and out 0";
  EXPECT_LE(e.dq, tol.grad);
  EXPECT_LE(e.dk, tol.grad);
  EXPECT_LE(e.dv, tol.grad);
  EXPECT_LE(e.accumulate, tol.grad) << "accumulate=true must add into dq/dk/dv";
}

TEST(CudaFlashSupports, SaysNoWithAReason) {
  CudaFlashKernel k;
  const AttentionShape ok{.seq_q = 64,
                          .seq_k = 64,
                          .heads_q = 4,
                          .heads_kv = 2,
                          .head_dim = 128,
                          .dtype = DType::kBF16,
                          .device = Device::kCuda};
  AttentionShape s = ok;
  s.dtype = DType::kF32;
  EXPECT_NE(k.supports(s).reason.find("fp32"), std::string::npos);
  s = ok;
  s.device = Device::kCpu;
  EXPECT_NE(k.supports(s).reason.find("CUDA"), std::string::npos);
  s = ok;
  s.head_dim = 96;
  EXPECT_NE(k.supports(s).reason.find("96"), std::string::npos);
  s = ok;
  s.heads_kv = 3;
  EXPECT_NE(k.supports(s).reason.find("multiple"), std::string::npos);
  if (cuda_device_count() > 0) {
    EXPECT_TRUE(k.supports(ok).ok()) << k.supports(ok).reason;
  } else {
    EXPECT_NE(k.supports(ok).reason.find("no CUDA device"), std::string::npos);
  }
}

using KindParam = std::tuple<DType, int64_t, std::string>;
class CudaFlashVsReference : public ::testing::TestWithParam<KindParam> {};

TEST_P(CudaFlashVsReference, ForwardAndBackward) {
  CPB_SKIP_WITHOUT_GPU();
  const auto& [dtype, head_dim, kind] = GetParam();
  const auto& kinds = mask_kinds();
  const auto idx = std::find_if(kinds.begin(), kinds.end(),
                                [&](const MaskKindInfo& k) { return k.name == kind; }) -
                   kinds.begin();
  const int64_t s = 300 + (idx % 3) * 37;  // odd lengths, never a tile multiple
  expect_close({.dtype = dtype,
                .seq_q = s,
                .seq_k = s,
                .heads_q = 4,
                .heads_kv = 2,
                .head_dim = head_dim,
                .mask = make_mask(example_mask_spec(kind, s, 7), s),
                .strided = idx % 2 == 1,
                .seed = static_cast<uint64_t>(100 + idx)});
}

std::vector<std::string> kind_names() {
  std::vector<std::string> names;
  for (const auto& k : mask_kinds()) names.push_back(k.name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(AllKinds, CudaFlashVsReference,
                         ::testing::Combine(::testing::Values(DType::kBF16, DType::kF16),
                                            ::testing::Values(int64_t{64}, int64_t{128}),
                                            ::testing::ValuesIn(kind_names())),
                         [](const ::testing::TestParamInfo<KindParam>& info) {
                           return std::string(to_string(std::get<0>(info.param))) + "_d" +
                                  std::to_string(std::get<1>(info.param)) + "_" +
                                  std::get<2>(info.param);
                         });

testing::FlashCase shaped(int64_t sq, int64_t sk, int64_t hq, int64_t hkv, Mask m) {
  return {.dtype = DType::kBF16,
          .seq_q = sq,
          .seq_k = sk,
          .heads_q = hq,
          .heads_kv = hkv,
          .head_dim = 128,
          .mask = std::move(m),
          .seed = 9};
}

TEST(CudaFlashShapes, RectangularCausalIsBottomRightAligned) {
  CPB_SKIP_WITHOUT_GPU();
  expect_close(shaped(200, 333, 4, 4, {200, 333, {causal_slice({0, 200}, {0, 333})}}));
}
TEST(CudaFlashShapes, MoreQueriesThanKeys) {
  CPB_SKIP_WITHOUT_GPU();
  expect_close(shaped(129, 65, 2, 1, {129, 65, {full_slice({0, 129}, {0, 65})}}));
}
TEST(CudaFlashShapes, SingleToken) {
  CPB_SKIP_WITHOUT_GPU();
  expect_close(shaped(1, 1, 1, 1, {1, 1, {full_slice({0, 1}, {0, 1})}}));
}
TEST(CudaFlashShapes, MultiQueryAttention) {
  CPB_SKIP_WITHOUT_GPU();
  expect_close(shaped(257, 257, 8, 1, {257, 257, {causal_slice({0, 257}, {0, 257})}}));
}
TEST(CudaFlashShapes, RowsWithoutKeys) {
  CPB_SKIP_WITHOUT_GPU();
  expect_close(shaped(300, 300, 2, 1, {300, 300, {full_slice({40, 100}, {0, 300})}}));
}
TEST(CudaFlashShapes, EmptyMask) {
  CPB_SKIP_WITHOUT_GPU();
  expect_close(shaped(130, 70, 2, 2, {130, 70, {}}));
}

class CudaFlashLseMerge : public ::testing::TestWithParam<std::string> {};
TEST_P(CudaFlashLseMerge, TwoHalvesMergedEqualOneCall) {
  CPB_SKIP_WITHOUT_GPU();
  const int64_t s = 411;
  auto gpu = KernelRegistry::instance().create("cuda_flash");
  double lse_err = 0;
  const double out_err =
      testing::lse_merge_case({.dtype = DType::kBF16,
                               .seq_q = s,
                               .seq_k = s,
                               .heads_q = 4,
                               .heads_kv = 1,
                               .head_dim = 128,
                               .mask = make_mask(example_mask_spec(GetParam(), s, 3), s),
                               .seed = 5},
                              *gpu, &lse_err);
  EXPECT_LE(out_err, testing::flash_tolerance(DType::kBF16).out);
  EXPECT_LE(lse_err, testing::flash_tolerance(DType::kBF16).lse);
}
INSTANTIATE_TEST_SUITE_P(Kinds, CudaFlashLseMerge,
                         ::testing::Values("causal", "causal_document", "sliding_window"));

TEST(CudaFlashBlockMapCache, RepeatedMaskIsUploadedOnce) {
  CPB_SKIP_WITHOUT_GPU();
  CudaFlashKernel k;
  auto ref = KernelRegistry::instance().create("cpu_reference");
  const testing::FlashCase c{.dtype = DType::kBF16,
                             .seq_q = 200,
                             .seq_k = 200,
                             .heads_q = 2,
                             .heads_kv = 2,
                             .head_dim = 64,
                             .mask = {200, 200, {causal_slice({0, 200}, {0, 200})}}};
  testing::run_flash_case(c, k, *ref);
  EXPECT_EQ(k.map_uploads(), 2);  // one forward map, one backward map
  testing::run_flash_case(c, k, *ref);
  EXPECT_EQ(k.map_uploads(), 2);
}

TEST(CudaFlashInput, RejectsMisalignedStrides) {
  CPB_SKIP_WITHOUT_GPU();
  CudaFlashKernel k;
  DeviceAllocator alloc;
  DeviceBuffer buf(alloc, 1 << 20);
  const Mask m{4, 4, {full_slice({0, 4}, {0, 4})}};
  TensorView q = packed_view(buf.data(), DType::kBF16, Device::kCuda, 4, 1, 64);
  q.token_stride = 68;  // not a multiple of 8 elements: rows lose 16-byte alignment
  const TensorView kv = packed_view(buf.data(), DType::kBF16, Device::kCuda, 4, 1, 64);
  const LseView lse{buf.as<float>(), Device::kCuda, 4, 1, 1};
  EXPECT_THROW(
      k.forward({.q = q, .k = kv, .v = kv, .mask = &m, .out = kv, .lse = lse, .scale = 0.125f}),
      InputError);
}

}  // namespace
}  // namespace cpb
