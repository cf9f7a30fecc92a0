// The CUDA execution against the host execution (label gpu): the same copy
// (head-slice packing, cast, fp32 accumulate), zero, fill and LSE merge on the
// same inputs must give the same bytes (copies) or the same values within fp32
// rounding (merge). Skips where no GPU is visible; the no-GPU answer of
// make_cuda_execution is checked there instead.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "parallel/execution.h"

namespace cpb {
namespace {

bool has_gpu() { return visible_gpus() > 0; }

// A host tensor with padded strides (so the strided paths run) and its device twin.
struct Twin {
  std::vector<std::byte> host;
  TensorView h, d;
  ExecBuffer buf;
  Twin(Execution& gpu, DType dt, int64_t tokens, int64_t heads, int64_t dim, bool padded,
       uint32_t seed) {
    const int64_t hs = padded ? dim + 8 : dim, ts = padded ? heads * hs + 16 : heads * hs;
    const std::size_t bytes = std::size_t(tokens * ts) * dtype_size(dt);
    host.resize(bytes);
    h = {host.data(), dt, Device::kCpu, tokens, heads, dim, ts, hs};
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-2.f, 2.f);
    for (int64_t i = 0; i < tokens * ts; ++i) store_from_float(host.data(), dt, i, u(rng));
    buf = gpu.allocate(bytes);
    d = h;
    d.data = buf.data();
    d.device = Device::kCuda;
    gpu.upload(d.data, h.data, bytes);
  }
  std::vector<std::byte> device_bytes(Execution& gpu) const {
    std::vector<std::byte> out(host.size());
    gpu.download(out.data(), d.data, out.size());
    return out;
  }
};

TEST(CudaExecution, WithoutGpuSaysWhy) {
  if (has_gpu()) GTEST_SKIP() << "a CUDA device is visible (this checks the no-GPU answer)";
  std::string why;
  EXPECT_EQ(make_cuda_execution(0, &why), nullptr);
  EXPECT_FALSE(why.empty());
}

TEST(CudaExecution, CopiesMatchTheHost) {
  if (!has_gpu()) GTEST_SKIP() << "no CUDA device visible";
  auto gpu = make_cuda_execution(0, nullptr);
  auto cpu = make_host_execution();
  struct Case {
    DType src, dst;
    bool add, padded;
  };
  for (Case c : {Case{DType::kBF16, DType::kBF16, false, false},  // packing: pitched copy
                 Case{DType::kBF16, DType::kBF16, false, true},   // strided rows: kernel
                 Case{DType::kF32, DType::kBF16, false, false},   // cast down
                 Case{DType::kBF16, DType::kF32, true, true},     // accumulate into fp32
                 Case{DType::kF16, DType::kF32, false, true}}) {
    Twin src(*gpu, c.src, 37, 6, 64, c.padded, 1), dst(*gpu, c.dst, 40, 4, 64, c.padded, 2);
    // Heads 2..4 of tokens 3..32 into heads 1..3 of tokens 5..34.
    cpu->copy_rows(src.h, 3, 2, dst.h, 5, 1, 30, 3, c.add);
    gpu->copy_rows(src.d, 3, 2, dst.d, 5, 1, 30, 3, c.add);
    EXPECT_EQ(dst.device_bytes(*gpu), dst.host)
        << to_string(c.src) << "->" << to_string(c.dst) << " add " << c.add;
  }
}

TEST(CudaExecution, ZeroAndFillMatchTheHost) {
  if (!has_gpu()) GTEST_SKIP() << "no CUDA device visible";
  auto gpu = make_cuda_execution(0, nullptr);
  auto cpu = make_host_execution();
  for (bool padded : {false, true}) {
    Twin t(*gpu, DType::kF32, 33, 5, 16, padded, 3);
    cpu->zero(t.h);
    gpu->zero(t.d);
    EXPECT_EQ(t.device_bytes(*gpu), t.host) << "padded " << padded;
  }
  Twin l(*gpu, DType::kF32, 50, 3, 1, true, 4);
  const float ninf = -std::numeric_limits<float>::infinity();
  cpu->fill(tensor_as_lse(l.h), ninf);
  gpu->fill(tensor_as_lse(l.d), ninf);
  EXPECT_EQ(l.device_bytes(*gpu), l.host);
}

TEST(CudaExecution, LseMergeMatchesTheHost) {
  if (!has_gpu()) GTEST_SKIP() << "no CUDA device visible";
  auto gpu = make_cuda_execution(0, nullptr);
  auto cpu = make_host_execution();
  const int64_t T = 64, H = 4, D = 128;
  Twin acc(*gpu, DType::kF32, T, H, D, false, 5), part(*gpu, DType::kBF16, T, H, D, true, 6);
  Twin la(*gpu, DType::kF32, T, H, 1, false, 7), lb(*gpu, DType::kF32, T, H, 1, false, 8);
  // Empty rows on either side and on both (must stay -inf, no NaN).
  const float ninf = -std::numeric_limits<float>::infinity();
  auto* a = reinterpret_cast<float*>(la.host.data());
  auto* b = reinterpret_cast<float*>(lb.host.data());
  for (int64_t t = 0; t < T; ++t) {
    if (t % 5 == 0) a[t * H] = ninf;
    if (t % 7 == 0) b[t * H + 1] = ninf;
    if (t % 11 == 0) a[t * H + 2] = b[t * H + 2] = ninf;
  }
  gpu->upload(la.d.data, la.host.data(), la.host.size());
  gpu->upload(lb.d.data, lb.host.data(), lb.host.size());
  cpu->lse_merge(acc.h, tensor_as_lse(la.h), part.h, tensor_as_lse(lb.h));
  gpu->lse_merge(acc.d, tensor_as_lse(la.d), part.d, tensor_as_lse(lb.d));
  auto out = acc.device_bytes(*gpu), lse = la.device_bytes(*gpu);
  auto close = [](float x, float y) {
    if (std::isinf(y)) return x == y;
    return std::abs(x - y) <= 1e-5f + 1e-5f * std::abs(y);
  };
  for (int64_t i = 0; i < T * H * D; ++i)
    ASSERT_TRUE(close(reinterpret_cast<float*>(out.data())[i],
                      reinterpret_cast<float*>(acc.host.data())[i]))
        << "out " << i;
  for (int64_t i = 0; i < T * H; ++i)
    ASSERT_TRUE(close(reinterpret_cast<float*>(lse.data())[i], a[i])) << "lse " << i;
}

TEST(CudaExecution, KernelTimeAndEventsAreOrdered) {
  if (!has_gpu()) GTEST_SKIP() << "no CUDA device visible";
  auto gpu = make_cuda_execution(0, nullptr);
  const Event e0 = gpu->record(Queue::kCompute);
  Twin t(*gpu, DType::kF32, 1024, 8, 128, false, 9);
  gpu->zero(t.d);
  const Event e1 = gpu->record(Queue::kCompute);
  EXPECT_GE(gpu->elapsed(e0, e1), 0.0);
  EXPECT_EQ(gpu->compute_seconds(), 0.0);  // no kernel call yet
  EXPECT_GT(gpu->memory().peak_bytes, 0);
}

}  // namespace
}  // namespace cpb
