// The case runner's CUDA path: a tiny cuda_flash case through run_case (device
// tensors from the tracking allocator, event-timed steps, device memory in the
// report, results copied back and verified against cpu_reference). Tests that need
// a GPU skip without one; the no-GPU behaviour (status unsupported with the reason)
// is tested where there is none, so every machine runs half of this file.
#include <gtest/gtest.h>

#include <string>

#include "bench/case_runner.h"
#include "bench/options.h"
#include "common/cuda_runtime.h"
#include "parallel/cp_method.h"
#include "parallel/self_communicator.h"
#include "reports/validate.h"

namespace cpb::bench {
namespace {

RunOptions flash_case() {
  RunOptions o;
  o.kernels = {"cuda_flash"};
  o.masks = {"causal"};
  o.seqs = {320};  // not a multiple of the 128/64 tiles: partial last tiles
  o.heads_q = 4;
  o.heads_kv = 2;  // GQA
  o.head_dim = 64;
  o.dtype = "bf16";
  o.warmup = 1;
  o.iters = 3;
  o.verify = true;
  return o;
}

class CudaCase : public ::testing::Test {
 protected:
  SelfCommunicator world_;
  RunContext ctx_{.world = &world_, .hostnames = {"localhost"}};

  reports::CaseResult run(const RunOptions& o) {
    auto cases = expand_cases(o, 1);
    EXPECT_EQ(cases.size(), 1u);
    return run_case(cases.at(0), ctx_);
  }
  static std::vector<std::string> problems(const reports::CaseResult& r) {
    return reports::validate_case(nlohmann::json::parse(nlohmann::json(r).dump()), 1);
  }
  static bool has_gpu() { return cuda_device_count() > 0; }
};

TEST_F(CudaCase, FlashVerifiesThroughTheRunner) {
  if (!has_gpu()) GTEST_SKIP() << "no CUDA device visible";
  for (const char* mask : {"causal", "causal_document"}) {
    RunOptions o = flash_case();
    o.masks = {mask};
    auto r = run(o);
    ASSERT_EQ(r.status, "ok") << mask << ": " << r.reason;
    EXPECT_EQ(r.params["device"], "cuda");
    ASSERT_TRUE(r.verification);
    EXPECT_TRUE(r.verification->skipped_reason.empty());
    EXPECT_TRUE(r.verification->passed) << mask;
    ASSERT_EQ(r.verification->tensors.size(), 5u);
    for (const auto& t : r.verification->tensors) EXPECT_TRUE(t.passed) << mask << " " << t.tensor;
    ASSERT_TRUE(r.metrics);
    const auto& m = *r.metrics;
    EXPECT_EQ(m.step_seconds.iterations, 3);
    EXPECT_GT(m.step_seconds.median, 0);
    ASSERT_EQ(m.ranks.size(), 1u);
    // Every case tensor is a tracked allocation: bf16 q, k, v, out, dout; fp32 dq,
    // dk, dv, lse. The kernel's block maps and scratch come on top.
    const int64_t S = 320, hq = 4, hkv = 2, d = 64;
    const int64_t tensors = S * d * (2 * (3 * hq + 2 * hkv) + 4 * (hq + 2 * hkv)) + S * hq * 4;
    ASSERT_TRUE(m.ranks[0].peak_device_bytes);
    ASSERT_TRUE(m.ranks[0].driver_peak_used_bytes);
    EXPECT_GE(*m.ranks[0].peak_device_bytes, tensors);
    EXPECT_GE(*m.ranks[0].driver_peak_used_bytes, *m.ranks[0].peak_device_bytes);
    EXPECT_EQ(m.peak_device_bytes_max, m.ranks[0].peak_device_bytes);
    auto p = problems(r);
    EXPECT_TRUE(p.empty()) << p.at(0);
  }
}

TEST_F(CudaCase, ForwardOnlyFp16VerifiesOutAndLse) {
  if (!has_gpu()) GTEST_SKIP() << "no CUDA device visible";
  RunOptions o = flash_case();
  o.pass = "fwd";
  o.dtype = "fp16";
  o.heads_kv = 4;
  o.head_dim = 128;
  auto r = run(o);
  ASSERT_EQ(r.status, "ok") << r.reason;
  ASSERT_TRUE(r.verification);
  EXPECT_EQ(r.verification->tensors.size(), 2u);
  EXPECT_TRUE(r.verification->passed);
}

// Every CP method runs on device tensors through the CUDA execution (a world of
// one here; tests/bench/cp_device_mpi_test.cc runs P = 1, 2, 4).
TEST_F(CudaCase, CpMethodsRunOnDeviceTensors) {
  if (!has_gpu()) GTEST_SKIP() << "no CUDA device visible";
  for (const std::string& method : CpMethodRegistry::instance().names()) {
    RunOptions o = flash_case();
    o.methods = {method};
    auto r = run(o);
    ASSERT_EQ(r.status, "ok") << method << ": " << r.reason;
    EXPECT_EQ(r.params["device"], "cuda");
    ASSERT_TRUE(r.verification);
    EXPECT_TRUE(r.verification->passed) << method;
    EXPECT_TRUE(problems(r).empty());
  }
}

TEST_F(CudaCase, WithoutGpuFlashIsUnsupportedWithTheReason) {
  if (has_gpu()) GTEST_SKIP() << "a CUDA device is visible (this checks the no-GPU answer)";
  auto r = run(flash_case());
  EXPECT_EQ(r.status, "unsupported");
  EXPECT_NE(r.reason.find("no CUDA device visible"), std::string::npos) << r.reason;
  EXPECT_FALSE(r.params.contains("device"));
  EXPECT_FALSE(r.metrics);
  EXPECT_FALSE(r.verification);
  EXPECT_TRUE(problems(r).empty());
}

// Host kernels keep the host path: no device fields in their report.
TEST_F(CudaCase, HostKernelHasNoDeviceFields) {
  RunOptions o;
  o.kernels = {"cpu_flash"};
  o.seqs = {64};
  o.heads_q = 2;
  o.head_dim = 16;
  o.warmup = 0;
  o.iters = 1;
  auto r = run(o);
  ASSERT_EQ(r.status, "ok") << r.reason;
  EXPECT_EQ(r.params["device"], "cpu");
  ASSERT_TRUE(r.metrics);
  EXPECT_FALSE(r.metrics->peak_device_bytes_max);
  EXPECT_FALSE(r.metrics->ranks.at(0).peak_device_bytes);
  nlohmann::json j = r;
  EXPECT_FALSE(j["metrics"].contains("peak_device_bytes_max"));
  EXPECT_FALSE(j["metrics"]["ranks"][0].contains("driver_peak_used_bytes"));
}

}  // namespace
}  // namespace cpb::bench
