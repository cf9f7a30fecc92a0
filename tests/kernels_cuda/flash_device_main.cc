// cuda_flash_device: the kernel's own device driver, for machines without
// GoogleTest (the lent GPU image). `check` runs the same cases as the gtest suite
// against cpu_reference and prints one line per case with PASS/FAIL; `bench`
// times forward and backward on the shapes with CUDA events (median of
// fixed repeats) and prints TFLOP/s counted on the mask area. Exit status 1 when
// any check fails.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/cuda_runtime.h"
#include "kernels/cuda/cuda_flash.h"
#include "masks/generators.h"
#include "masks/mask_spec.h"
#include "tests/kernels_cuda/device_fill.h"
#include "tests/kernels_cuda/flash_case.h"

namespace cpb {
namespace {

int run_check() {
  auto ref = KernelRegistry::instance().create("cpu_reference");
  auto gpu = KernelRegistry::instance().create("cuda_flash");
  int failures = 0, cases = 0;
  auto report = [&](const std::string& name, const testing::FlashCase& c) {
    const testing::FlashCaseErrors e = testing::run_flash_case(c, *gpu, *ref);
    const testing::FlashTolerance tol = testing::flash_tolerance(c.dtype);
    const bool ok = e.out <= tol.out && e.lse <= tol.lse && e.lse_empty_ok && e.dq <= tol.grad &&
                    e.dk <= tol.grad && e.dv <= tol.grad && e.accumulate <= tol.grad;
    ++cases;
    failures += !ok;
    std::printf(
        "%-4s %-34s %s D=%3ld %4ldx%-4ld h=%ld/%ld%s out=%.1e lse=%.1e empty=%ld%s dq=%.1e "
        "dk=%.1e dv=%.1e acc=%.1e\n",
        ok ? "PASS" : "FAIL", name.c_str(), std::string(to_string(c.dtype)).c_str(),
        long(c.head_dim), long(c.seq_q), long(c.seq_k), long(c.heads_q), long(c.heads_kv),
        c.strided ? " strided" : "", e.out, e.lse, long(e.empty_rows),
        e.lse_empty_ok ? "" : "(BAD)", e.dq, e.dk, e.dv, e.accumulate);
    std::fflush(stdout);
  };

  for (DType dt : {DType::kBF16, DType::kF16})
    for (int64_t d : {64, 128}) {
      int i = 0;
      for (const auto& kind : mask_kinds()) {
        const int64_t s = 300 + (i % 3) * 37;  // odd lengths, not multiples of any tile
        testing::FlashCase c{.dtype = dt,
                             .seq_q = s,
                             .seq_k = s,
                             .heads_q = 4,
                             .heads_kv = 2,
                             .head_dim = d,
                             .mask = make_mask(example_mask_spec(kind.name, s, 7), s),
                             .strided = (i % 2) == 1,
                             .seed = uint64_t(100 + i)};
        report(kind.name, c);
        ++i;
      }
    }
  // Shapes the mask kinds do not reach: S_q != S_k, a single token, MQA, rows
  // with no key at all, a fully empty mask.
  const int64_t d = 128;
  auto shaped = [&](const char* name, int64_t sq, int64_t sk, int64_t hq, int64_t hkv, Mask m) {
    report(name, {.dtype = DType::kBF16,
                  .seq_q = sq,
                  .seq_k = sk,
                  .heads_q = hq,
                  .heads_kv = hkv,
                  .head_dim = d,
                  .mask = std::move(m),
                  .seed = 9});
  };
  shaped("causal_rect_200x333", 200, 333, 4, 4, {200, 333, {causal_slice({0, 200}, {0, 333})}});
  shaped("full_rect_129x65", 129, 65, 2, 1, {129, 65, {full_slice({0, 129}, {0, 65})}});
  shaped("full_1x1", 1, 1, 1, 1, {1, 1, {full_slice({0, 1}, {0, 1})}});
  shaped("mqa_causal_257", 257, 257, 8, 1, {257, 257, {causal_slice({0, 257}, {0, 257})}});
  shaped("empty_rows_rect", 300, 300, 2, 1, {300, 300, {full_slice({40, 100}, {0, 300})}});
  shaped("empty_mask", 130, 70, 2, 2, {130, 70, {}});
  shaped("window_global_coords", 300, 300, 2, 2,
         {300, 300, {window_slice({0, 300}, {0, 300}, 17, 5)}});

  for (const char* kind : {"causal", "causal_document", "sliding_window"}) {
    const int64_t s = 411;
    testing::FlashCase c{.dtype = DType::kBF16,
                         .seq_q = s,
                         .seq_k = s,
                         .heads_q = 4,
                         .heads_kv = 1,
                         .head_dim = 128,
                         .mask = make_mask(example_mask_spec(kind, s, 3), s),
                         .seed = 5};
    double lse_err = 0;
    const double out_err = testing::lse_merge_case(c, *gpu, &lse_err);
    const testing::FlashTolerance tol = testing::flash_tolerance(c.dtype);
    const bool ok = out_err <= tol.out && lse_err <= tol.lse;
    ++cases;
    failures += !ok;
    std::printf("%-4s lse_merge_%-24s out=%.1e lse=%.1e\n", ok ? "PASS" : "FAIL", kind, out_err,
                lse_err);
  }

  {  // A repeated mask must reuse its uploaded block map.
    CudaFlashKernel k;
    testing::FlashCase c{.dtype = DType::kBF16,
                         .seq_q = 200,
                         .seq_k = 200,
                         .heads_q = 2,
                         .heads_kv = 2,
                         .head_dim = 64,
                         .mask = {200, 200, {causal_slice({0, 200}, {0, 200})}}};
    auto r = KernelRegistry::instance().create("cpu_reference");
    testing::run_flash_case(c, k, *r);
    const int64_t first = k.map_uploads();
    testing::run_flash_case(c, k, *r);
    const bool ok = first == 2 && k.map_uploads() == 2;  // one forward map, one backward map
    ++cases;
    failures += !ok;
    std::printf("%-4s block_map_cache uploads after 1st=%ld 2nd=%ld\n", ok ? "PASS" : "FAIL",
                long(first), long(k.map_uploads()));
  }
  std::printf("check: %d cases, %d failed\n", cases, failures);
  return failures ? 1 : 0;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Times `fn` (enqueue only) with events: warm-up, then `reps` timed calls.
template <typename Fn>
double time_ms(Fn&& fn, int warmup, int reps) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> ms;
  cudaEvent_t a, b;
  CPB_CUDA_CHECK(cudaEventCreate(&a));
  CPB_CUDA_CHECK(cudaEventCreate(&b));
  for (int i = 0; i < reps; ++i) {
    CPB_CUDA_CHECK(cudaEventRecord(a, nullptr));
    fn();
    CPB_CUDA_CHECK(cudaEventRecord(b, nullptr));
    CPB_CUDA_CHECK(cudaEventSynchronize(b));
    float t = 0;
    CPB_CUDA_CHECK(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  CPB_CUDA_CHECK(cudaEventDestroy(a));
  CPB_CUDA_CHECK(cudaEventDestroy(b));
  return median(ms);
}

int run_bench(int argc, char** argv) {
  std::vector<int64_t> seqs = {16384, 32768};
  int reps = 5;
  std::string only;  // comma-separated mask names; empty = all
  for (int i = 2; i + 1 < argc; ++i) {
    if (!std::strcmp(argv[i], "--masks")) {
      only = std::string(",") + argv[++i] + ",";
    } else if (!std::strcmp(argv[i], "--seqs")) {
      seqs.clear();
      for (char* tok = std::strtok(argv[++i], ","); tok; tok = std::strtok(nullptr, ","))
        seqs.push_back(std::atoll(tok));
    } else if (!std::strcmp(argv[i], "--reps")) {
      reps = std::atoi(argv[++i]);
    }
  }
  const int64_t hq = 64, hkv = 8, d = 128;
  const DType dt = DType::kBF16;
  CudaFlashKernel kernel;
  DeviceAllocator alloc;
  std::printf("bench: bf16 D=%ld Hq=%ld Hkv=%ld device=%s\n", long(d), long(hq), long(hkv),
              cuda_device_info(0).name.c_str());
  for (int64_t s : seqs) {
    DeviceBuffer q(alloc, s * hq * d * 2), k(alloc, s * hkv * d * 2), v(alloc, s * hkv * d * 2),
        out(alloc, s * hq * d * 2), dout(alloc, s * hq * d * 2), lse(alloc, s * hq * 4),
        dq(alloc, s * hq * d * 4), dk(alloc, s * hkv * d * 4), dv(alloc, s * hkv * d * 4);
    testing::device_fill_random(q.data(), s * hq * d, true, 1, nullptr);
    testing::device_fill_random(k.data(), s * hkv * d, true, 2, nullptr);
    testing::device_fill_random(v.data(), s * hkv * d, true, 3, nullptr);
    testing::device_fill_random(dout.data(), s * hq * d, true, 4, nullptr);
    auto tv = [&](DeviceBuffer& b, int64_t h, DType t) {
      return packed_view(b.data(), t, Device::kCuda, s, h, d);
    };
    const LseView lv{lse.as<float>(), Device::kCuda, s, hq, hq};
    struct M {
      std::string name;
      MaskSpec spec;
    };
    std::vector<M> masks = {
        {"full", {.kind = "full"}},
        {"causal", {.kind = "causal"}},
        {"sliding_window_4k", {.kind = "sliding_window", .window = 4096}},
        {"causal_sliding_window_4k", {.kind = "causal_sliding_window", .window = 4096}},
        {"document_pile", {.kind = "document", .doclen = "pile", .seed = 1}},
        {"causal_document_pile", {.kind = "causal_document", .doclen = "pile", .seed = 1}}};
    for (const M& m : masks) {
      if (!only.empty() && only.find("," + m.name + ",") == std::string::npos) continue;
      MaskSpec spec = m.spec;
      const MaskSpec defaults = default_mask_spec(spec.kind);
      if (spec.doclen.empty()) spec.doclen = defaults.doclen;
      const Mask mask = make_mask(spec, s);
      const double area = static_cast<double>(mask.area());
      if (const char* dir = std::getenv("CPB_BENCH_DOC_DIR")) {
        // Segment lengths for anchors that rebuild the same mask (FlexAttention).
        const std::string path = std::string(dir) + "/" + m.name + "_" + std::to_string(s) + ".txt";
        if (FILE* f = std::fopen(path.c_str(), "w")) {
          for (int64_t len : document_lengths(spec, s)) std::fprintf(f, "%ld\n", long(len));
          std::fclose(f);
        }
      }
      const float scale = 1.f / std::sqrt(float(d));
      ForwardArgs fa{.q = tv(q, hq, dt),
                     .k = tv(k, hkv, dt),
                     .v = tv(v, hkv, dt),
                     .mask = &mask,
                     .out = tv(out, hq, dt),
                     .lse = lv,
                     .scale = scale};
      BackwardArgs ba{.q = fa.q,
                      .k = fa.k,
                      .v = fa.v,
                      .mask = &mask,
                      .out = fa.out,
                      .dout = tv(dout, hq, dt),
                      .lse = lv,
                      .dq = tv(dq, hq, DType::kF32),
                      .dk = tv(dk, hkv, DType::kF32),
                      .dv = tv(dv, hkv, DType::kF32),
                      .scale = scale,
                      .accumulate = false};
      const double fwd_ms = time_ms([&] { kernel.forward(fa); }, 2, reps);
      const double bwd_ms = time_ms([&] { kernel.backward(ba); }, 1, reps);
      const double fwd_flops = 4.0 * area * hq * d, bwd_flops = 2.5 * fwd_flops;
      std::printf(
          "RESULT impl=cuda_flash seq=%ld mask=%s density=%.4f fwd_ms=%.3f fwd_tflops=%.1f "
          "bwd_ms=%.3f bwd_tflops=%.1f\n",
          long(s), m.name.c_str(), mask.density(), fwd_ms, fwd_flops / fwd_ms / 1e9, bwd_ms,
          bwd_flops / bwd_ms / 1e9);
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace
}  // namespace cpb

int main(int argc, char** argv) {
  try {
    if (cpb::cuda_device_count() == 0) {
      std::printf("no CUDA device: nothing to do\n");
      return 0;
    }
    const std::string mode = argc > 1 ? argv[1] : "check";
    if (mode == "check") return cpb::run_check();
    if (mode == "bench") return cpb::run_bench(argc, argv);
    std::fprintf(stderr, "usage: %s check | bench [--seqs 16384,32768] [--reps N] [--masks a,b]\n",
                 argv[0]);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
