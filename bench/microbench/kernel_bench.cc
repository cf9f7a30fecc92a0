// cpbench_kernel_bench: Google Benchmark cases for every host kernel in the
// registry x masks (full, causal, sliding window, documents) x fwd/bwd, plus an
// OpenBLAS sgemm peer doing the same FLOPs on the same shapes (per head
// Q K^T [S x S] then P V [S x D], same threads), so "fraction of sgemm rate" is
// measured in the same process on the same cores. FLOPs from mask area:
// fwd 4 * area * D * Hq, bwd 2.5x fwd (DESIGN.md). Fixed iteration counts.
// Extra flags (after Google Benchmark's): --seq --heads --kv-heads --dim --dtype
// --iters --bwd-iters --reference-seq. A summary of ratios goes to stderr, so
// --benchmark_format=json keeps stdout pure JSON.
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu_simd.h"
#include "kernels/kernel.h"
#include "masks/generators.h"
#include "masks/mask_spec.h"

namespace cpb {
namespace {

struct Options {
  int64_t seq = 4096, heads = 8, kv_heads = 8, dim = 128;
  DType dtype = DType::kF32;
  int64_t iters = 3, bwd_iters = 2, reference_seq = 256, pairs = 15;
};

const std::vector<std::string> kMasks = {"full", "causal", "sliding_window", "document",
                                         "causal_document"};

struct Storage {
  std::vector<uint16_t> half;  // bf16 / fp16
  std::vector<float> single;
  TensorView view;
  Storage(int64_t tokens, int64_t heads, int64_t dim, DType dtype, std::mt19937& rng,
          bool random = true) {
    const int64_t n = tokens * heads * dim;
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    void* data;
    if (dtype == DType::kF32) {
      single.resize(static_cast<size_t>(n));
      for (auto& x : single) x = random ? u(rng) : 0.f;
      data = single.data();
    } else {
      half.resize(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i)
        store_from_float(half.data(), dtype, i, random ? u(rng) : 0.f);
      data = half.data();
    }
    view = packed_view(data, dtype, Device::kCpu, tokens, heads, dim);
  }
};

// One attention problem: inputs, outputs and gradients for a shape and mask.
struct Problem {
  std::mt19937 rng{42};
  Storage q, k, v, out, dout, dq, dk, dv;
  std::vector<float> lse;
  Mask mask;
  Problem(int64_t s, const Options& o, const std::string& mask_kind)
      : q(s, o.heads, o.dim, o.dtype, rng),
        k(s, o.kv_heads, o.dim, o.dtype, rng),
        v(s, o.kv_heads, o.dim, o.dtype, rng),
        out(s, o.heads, o.dim, o.dtype, rng, false),
        dout(s, o.heads, o.dim, o.dtype, rng),
        dq(s, o.heads, o.dim, DType::kF32, rng, false),
        dk(s, o.kv_heads, o.dim, DType::kF32, rng, false),
        dv(s, o.kv_heads, o.dim, DType::kF32, rng, false),
        lse(static_cast<size_t>(s * o.heads)),
        mask(make_mask(example_mask_spec(mask_kind, s), s)) {}

  LseView lse_view() {
    return {.data = lse.data(),
            .device = Device::kCpu,
            .tokens = q.view.tokens,
            .heads = q.view.heads,
            .token_stride = q.view.heads};
  }
  ForwardArgs fwd(float scale) {
    return {.q = q.view,
            .k = k.view,
            .v = v.view,
            .mask = &mask,
            .out = out.view,
            .lse = lse_view(),
            .scale = scale};
  }
  BackwardArgs bwd(float scale) {
    return {.q = q.view,
            .k = k.view,
            .v = v.view,
            .mask = &mask,
            .out = out.view,
            .dout = dout.view,
            .lse = lse_view(),
            .dq = dq.view,
            .dk = dk.view,
            .dv = dv.view,
            .scale = scale,
            .accumulate = false};
  }
};

std::string shape_suffix(int64_t s, const Options& o) {
  return fmt::format("S:{}/Hq:{}/Hkv:{}/D:{}/{}", s, o.heads, o.kv_heads, o.dim,
                     to_string(o.dtype));
}

void set_counters(benchmark::State& state, double flops, const Mask& mask) {
  state.counters["TFLOPS"] =
      benchmark::Counter(flops / 1e12, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["density"] = mask.density();
  state.counters["threads"] = omp_get_max_threads();
}

void register_paired_causal(const std::string& kernel_name, int64_t s, const Options& o);

void register_kernel_cases(const std::string& kernel_name, int64_t s, const Options& o) {
  auto probe = KernelRegistry::instance().create(kernel_name);
  const AttentionShape shape{.seq_q = s,
                             .seq_k = s,
                             .heads_q = o.heads,
                             .heads_kv = o.kv_heads,
                             .head_dim = o.dim,
                             .dtype = o.dtype,
                             .device = Device::kCpu};
  if (!probe->supports(shape).ok()) return;
  for (const std::string& mask_kind : kMasks) {
    for (bool backward : {false, true}) {
      const std::string name = fmt::format("{}/{}/{}/{}", kernel_name, backward ? "bwd" : "fwd",
                                           mask_kind, shape_suffix(s, o));
      auto* b = benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& state) {
        auto kernel = KernelRegistry::instance().create(kernel_name);
        Problem p(s, o, mask_kind);
        const float scale = 1.f / std::sqrt(static_cast<float>(o.dim));
        kernel->forward(p.fwd(scale));  // warm-up; backward needs out and LSE
        if (backward) kernel->backward(p.bwd(scale));
        for (auto _ : state) {
          if (backward)
            kernel->backward(p.bwd(scale));
          else
            kernel->forward(p.fwd(scale));
        }
        const double fwd_flops =
            4.0 * static_cast<double>(p.mask.area()) * static_cast<double>(o.dim * o.heads);
        set_counters(state, backward ? 2.5 * fwd_flops : fwd_flops, p.mask);
      });
      b->Iterations(backward ? o.bwd_iters : o.iters)
          ->MeasureProcessCPUTime()
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  if (kernel_name != "cpu_reference") register_paired_causal(kernel_name, s, o);
}

// causal/full time measured in adjacent pairs (order alternating), so both
// calls of a pair see the same load on a shared machine; the median over pairs
// is robust to the load changing between the separate full and causal cases.
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0.0 : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

double cpu_now() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

void register_paired_causal(const std::string& kernel_name, int64_t s, const Options& o) {
  const std::string name =
      fmt::format("{}/fwd/causal_over_full_paired/{}", kernel_name, shape_suffix(s, o));
  auto* b = benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& state) {
    auto kernel = KernelRegistry::instance().create(kernel_name);
    Problem full(s, o, "full"), causal(s, o, "causal");
    const float scale = 1.f / std::sqrt(static_cast<float>(o.dim));
    kernel->forward(full.fwd(scale));
    kernel->forward(causal.fwd(scale));
    std::vector<double> wall, cpu;
    int64_t i = 0;
    for (auto _ : state) {
      double w[2], c[2];  // [0] full, [1] causal
      for (int k = 0; k < 2; ++k) {
        const int which = (i % 2) ^ k;
        const auto t0 = std::chrono::steady_clock::now();
        const double c0 = cpu_now();
        kernel->forward(which ? causal.fwd(scale) : full.fwd(scale));
        c[which] = cpu_now() - c0;
        w[which] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      }
      wall.push_back(w[1] / w[0]);
      cpu.push_back(c[1] / c[0]);
      ++i;
    }
    state.counters["ratio_wall_median"] = median(wall);
    state.counters["ratio_cpu_median"] = median(cpu);
    state.counters["ratio_wall_min"] = *std::min_element(wall.begin(), wall.end());
    state.counters["ratio_wall_max"] = *std::max_element(wall.begin(), wall.end());
    state.counters["threads"] = omp_get_max_threads();
  });
  b->Iterations(o.pairs)->MeasureProcessCPUTime()->UseRealTime()->Unit(benchmark::kMillisecond);
}

// The same FLOPs as a full-mask forward, as two OpenBLAS GEMMs per head on the
// same THD tensors: S = Q K^T (S x S, depth D), O = S V (S x D, depth S).
void register_sgemm(int64_t s, const Options& o) {
  const std::string name = fmt::format("sgemm_attention_shapes/{}", shape_suffix(s, o));
  auto* b = benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& state) {
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    const int64_t ld = o.heads * o.dim, ldkv = o.kv_heads * o.dim, group = o.heads / o.kv_heads;
    std::vector<float> q(static_cast<size_t>(s * ld)), k(static_cast<size_t>(s * ldkv)),
        v(static_cast<size_t>(s * ldkv)), out(static_cast<size_t>(s * ld)),
        scores(static_cast<size_t>(s * s));
    for (auto* t : {&q, &k, &v})
      for (auto& x : *t) x = u(rng);
    auto run = [&] {
      for (int64_t h = 0; h < o.heads; ++h) {
        const int64_t hk = h / group;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s, s, o.dim, 1.f, q.data() + h * o.dim,
                    ld, k.data() + hk * o.dim, ldkv, 0.f, scores.data(), s);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s, o.dim, s, 1.f, scores.data(), s,
                    v.data() + hk * o.dim, ldkv, 0.f, out.data() + h * o.dim, ld);
      }
    };
    run();  // warm-up
    for (auto _ : state) run();
    const double flops = 4.0 * double(s) * double(s) * double(o.dim * o.heads);
    state.counters["TFLOPS"] =
        benchmark::Counter(flops / 1e12, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["threads"] = omp_get_max_threads();
  });
  b->Iterations(o.iters)->MeasureProcessCPUTime()->UseRealTime()->Unit(benchmark::kMillisecond);
}

// The classic yardstick: one square sgemm, N = seq, on the same threads.
void register_square_sgemm(int64_t n, const Options& o) {
  const std::string name = fmt::format("sgemm_square/N:{}", n);
  auto* b = benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& state) {
    std::mt19937 rng(2);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    std::vector<float> a(static_cast<size_t>(n * n)), bm(a.size()), c(a.size());
    for (auto* t : {&a, &bm})
      for (auto& x : *t) x = u(rng);
    auto run = [&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.f, a.data(), n, bm.data(),
                  n, 0.f, c.data(), n);
    };
    run();
    for (auto _ : state) run();
    state.counters["TFLOPS"] = benchmark::Counter(2.0 * double(n) * double(n) * double(n) / 1e12,
                                                  benchmark::Counter::kIsIterationInvariantRate);
    state.counters["threads"] = omp_get_max_threads();
  });
  b->Iterations(o.iters)->MeasureProcessCPUTime()->UseRealTime()->Unit(benchmark::kMillisecond);
}

// Measured FMA peak: independent vector FMA chains on every OpenMP thread, the
// same vector width and FMA form the cpu_flash micro-kernels compile to.
void register_fma_peak(const Options& o) {
  auto* b = benchmark::RegisterBenchmark("fma_peak", [](benchmark::State& state) {
    constexpr int kChains = 24;  // > FMA latency x issue width, in registers
    constexpr int64_t kSteps = 20'000'000;
    auto run = [] {
      float total = 0.f;
#pragma omp parallel reduction(+ : total)
      {
        simd::VecF acc[kChains];
        for (int c = 0; c < kChains; ++c) acc[c] = simd::splat(0.001f * static_cast<float>(c));
        const simd::VecF x = simd::splat(0.999999f), y = simd::splat(1e-7f);
        for (int64_t i = 0; i < kSteps; ++i) {
#pragma GCC unroll 24
          for (int c = 0; c < kChains; ++c) acc[c] = acc[c] * x + y;
        }
        for (int c = 0; c < kChains; ++c) total += simd::reduce_sum(acc[c]);
      }
      return total;
    };
    benchmark::DoNotOptimize(run());
    for (auto _ : state) benchmark::DoNotOptimize(run());
    const double flops = 2.0 * simd::kWidth * kChains * double(kSteps) * omp_get_max_threads();
    state.counters["TFLOPS"] =
        benchmark::Counter(flops / 1e12, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["threads"] = omp_get_max_threads();
  });
  b->Iterations(o.iters)->MeasureProcessCPUTime()->UseRealTime()->Unit(benchmark::kMillisecond);
}

// Forwards every run to the reporter the user asked for and keeps the TFLOP/s
// and times, for the ratio summary.
class RecordingReporter : public benchmark::BenchmarkReporter {
 public:
  explicit RecordingReporter(std::unique_ptr<benchmark::BenchmarkReporter> inner)
      : inner_(std::move(inner)) {}
  bool ReportContext(const Context& context) override { return inner_->ReportContext(context); }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.run_type != Run::RT_Iteration || r.error_occurred) continue;
      auto it = r.counters.find("TFLOPS");
      const double tflops = it == r.counters.end() ? 0.0 : double(it->second);
      const double time = r.GetAdjustedRealTime(), cpu = r.GetAdjustedCPUTime();
      std::map<std::string, double> counters;
      for (const auto& [k, c] : r.counters) counters[k] = c.value;
      Result res{tflops, time, cpu, std::move(counters)};
      auto [slot, fresh] = results_.try_emplace(r.run_name.function_name, res);
      if (!fresh && time < slot->second.time) slot->second = std::move(res);  // best of reps
    }
    inner_->ReportRuns(runs);
  }
  void Finalize() override { inner_->Finalize(); }

  struct Result {
    double tflops, time, cpu_time;  // best repetition; times in the benchmark's unit
    std::map<std::string, double> counters;
  };
  const std::map<std::string, Result>& results() const { return results_; }

 private:
  std::unique_ptr<benchmark::BenchmarkReporter> inner_;
  std::map<std::string, Result> results_;
};

void print_summary(const std::map<std::string, RecordingReporter::Result>& res, int64_t s,
                   const Options& o) {
  const std::string sfx = shape_suffix(s, o);
  auto find = [&](const std::string& name) -> const RecordingReporter::Result* {
    auto it = res.find(name);
    return it == res.end() ? nullptr : &it->second;
  };
  const auto* gemm = find("sgemm_attention_shapes/" + sfx);
  const auto* square = find(fmt::format("sgemm_square/N:{}", s));
  const auto* peak = find("fma_peak");
  std::fprintf(stderr, "\n# cpbench_kernel_bench summary (%d threads, OpenBLAS core %s)\n",
               omp_get_max_threads(), openblas_get_corename());
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  std::fprintf(stderr,
               "# best repetition of each case; load average at the end %.2f %.2f %.2f "
               "(a loaded machine slows wall time; process CPU time is less affected)\n",
               load[0], load[1], load[2]);
  std::fprintf(stderr, "# x peer: rate ratio on wall time [and on process CPU time]\n");
  if (peak) std::fprintf(stderr, "fma_peak: %.4f TFLOP/s\n", peak->tflops);
  for (const auto* peer : {gemm, square})
    if (peer)
      std::fprintf(stderr, "%s: %.4f TFLOP/s\n",
                   peer == gemm ? "sgemm_attention_shapes" : "sgemm_square", peer->tflops);
  for (const std::string& kernel : KernelRegistry::instance().names()) {
    for (const char* dir : {"fwd", "bwd"}) {
      const auto* full = find(fmt::format("{}/{}/full/{}", kernel, dir, sfx));
      if (!full) continue;
      std::fprintf(stderr, "%s %s full: %.4f TFLOP/s", kernel.c_str(), dir, full->tflops);
      for (const auto* peer : {gemm, square}) {
        if (!peer || peer->tflops <= 0) continue;
        // Same FLOP count for the attention-shaped peer; rates otherwise.
        const double wall = full->tflops / peer->tflops;
        const double cpu = wall * (full->time / full->cpu_time) / (peer->time / peer->cpu_time);
        std::fprintf(stderr, " = %.3f [%.3f] x %s", wall, cpu,
                     peer == gemm ? "sgemm_attention_shapes" : "sgemm_square");
      }
      if (peak && peak->tflops > 0)
        std::fprintf(stderr, " = %.3f x fma_peak", full->tflops / peak->tflops);
      const auto* causal = find(fmt::format("{}/{}/causal/{}", kernel, dir, sfx));
      if (causal && full->time > 0)
        std::fprintf(stderr, "; causal/full time = %.3f [%.3f]", causal->time / full->time,
                     causal->cpu_time / full->cpu_time);
      std::fprintf(stderr, "\n");
    }
    if (const auto* paired = find(fmt::format("{}/fwd/causal_over_full_paired/{}", kernel, sfx))) {
      auto at = [&](const char* k) {
        auto it = paired->counters.find(k);
        return it == paired->counters.end() ? 0.0 : it->second;
      };
      std::fprintf(stderr,
                   "%s fwd causal/full time, adjacent pairs: median %.3f [%.3f] (min %.3f, "
                   "max %.3f)\n",
                   kernel.c_str(), at("ratio_wall_median"), at("ratio_cpu_median"),
                   at("ratio_wall_min"), at("ratio_wall_max"));
    }
  }
}

int64_t parse_int(const char* arg, const char* flag) {
  char* end = nullptr;
  const long long v = std::strtoll(arg, &end, 10);
  CPB_REQUIRE(end && *end == '\0' && v > 0, "{} must be a positive integer, got '{}'", flag, arg);
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    const auto eq = a.find('=');
    CPB_REQUIRE(a.rfind("--", 0) == 0 && eq != std::string::npos,
                "unknown argument '{}'; allowed: --seq= --heads= --kv-heads= --dim= --dtype= "
                "--iters= --bwd-iters= --reference-seq= --pairs= and --benchmark_* flags",
                a);
    const std::string key = a.substr(0, eq), val = a.substr(eq + 1);
    if (key == "--dtype")
      o.dtype = parse_dtype(val);
    else if (key == "--seq")
      o.seq = parse_int(val.c_str(), "--seq");
    else if (key == "--heads")
      o.heads = parse_int(val.c_str(), "--heads");
    else if (key == "--kv-heads")
      o.kv_heads = parse_int(val.c_str(), "--kv-heads");
    else if (key == "--dim")
      o.dim = parse_int(val.c_str(), "--dim");
    else if (key == "--iters")
      o.iters = parse_int(val.c_str(), "--iters");
    else if (key == "--bwd-iters")
      o.bwd_iters = parse_int(val.c_str(), "--bwd-iters");
    else if (key == "--pairs")
      o.pairs = parse_int(val.c_str(), "--pairs");
    else if (key == "--reference-seq")
      o.reference_seq = parse_int(val.c_str(), "--reference-seq");
    else
      CPB_INPUT_ERROR("unknown flag '{}'", key);
  }
  CPB_REQUIRE(o.heads % o.kv_heads == 0, "--heads {} must be a multiple of --kv-heads {}", o.heads,
              o.kv_heads);
  return o;
}

}  // namespace
}  // namespace cpb

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);  // removes the --benchmark_* flags
  cpb::Options o;
  try {
    o = cpb::parse(argc, argv);
  } catch (const cpb::InputError& e) {
    std::fprintf(stderr, "cpbench_kernel_bench: %s\n", e.what());
    return 2;
  }
  openblas_set_num_threads(omp_get_max_threads());  // the peer gets the same threads

  benchmark::AddCustomContext("openblas_core", openblas_get_corename());
  benchmark::AddCustomContext("omp_threads", std::to_string(omp_get_max_threads()));
  cpb::register_fma_peak(o);
  cpb::register_sgemm(o.seq, o);
  cpb::register_square_sgemm(o.seq, o);
  for (const std::string& name : cpb::KernelRegistry::instance().names())
    cpb::register_kernel_cases(name, name == "cpu_reference" ? o.reference_seq : o.seq, o);

  // The reporter --benchmark_format asked for, wrapped to keep the results.
  cpb::RecordingReporter reporter(
      std::unique_ptr<benchmark::BenchmarkReporter>(benchmark::CreateDefaultDisplayReporter()));
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  cpb::print_summary(reporter.results(), o.seq, o);
  return 0;
}
