#include "tests/kernels_cuda/flash_case.h"

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "common/cuda_runtime.h"
#include "kernels/lse_merge.h"

namespace cpb::testing {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// A [tokens, heads, head_dim] tensor on host and device; `widen` > 1 makes it
// the first `heads` heads of a buffer with widen*heads heads (non-packed strides).
struct Pair {
  DType dtype;
  int64_t tokens, heads, head_dim, token_stride;
  std::vector<uint8_t> host;
  DeviceBuffer dev;

  Pair(DeviceAllocator& alloc, DType t, int64_t n, int64_t h, int64_t d, int widen = 1)
      : dtype(t),
        tokens(n),
        heads(h),
        head_dim(d),
        token_stride(widen * h * d),
        host(static_cast<size_t>(std::max<int64_t>(n * token_stride, 1)) * dtype_size(t)),
        dev(alloc, host.size()) {}
  TensorView view(void* base, Device where) const {
    return {base, dtype, where, tokens, heads, head_dim, token_stride, head_dim};
  }
  TensorView h() { return view(host.data(), Device::kCpu); }
  TensorView d() { return view(dev.data(), Device::kCuda); }
  void fill_random(std::mt19937_64& rng) {
    std::normal_distribution<float> dist(0.f, 1.f);
    for (size_t i = 0; i < host.size() / dtype_size(dtype); ++i)
      store_from_float(host.data(), dtype, static_cast<int64_t>(i), dist(rng));
  }
  void fill(float v) {
    for (size_t i = 0; i < host.size() / dtype_size(dtype); ++i)
      store_from_float(host.data(), dtype, static_cast<int64_t>(i), v);
  }
  void upload() {
    CPB_CUDA_CHECK(cudaMemcpy(dev.data(), host.data(), host.size(), cudaMemcpyHostToDevice));
  }
  std::vector<uint8_t> download() const {
    std::vector<uint8_t> out(host.size());
    CPB_CUDA_CHECK(cudaMemcpy(out.data(), dev.data(), out.size(), cudaMemcpyDeviceToHost));
    return out;
  }
  float at(const std::vector<uint8_t>& buf, int64_t t, int64_t hh, int64_t i) const {
    return load_as_float(buf.data(), dtype, t * token_stride + hh * head_dim + i);
  }
};

struct Lse {
  int64_t tokens, heads;
  std::vector<float> host;
  DeviceBuffer dev;
  Lse(DeviceAllocator& alloc, int64_t n, int64_t h)
      : tokens(n),
        heads(h),
        host(static_cast<size_t>(std::max<int64_t>(n * h, 1)), kNaN),
        dev(alloc, host.size() * 4) {}
  LseView h() { return {host.data(), Device::kCpu, tokens, heads, heads}; }
  LseView d() { return {dev.as<float>(), Device::kCuda, tokens, heads, heads}; }
  void upload() {
    CPB_CUDA_CHECK(cudaMemcpy(dev.data(), host.data(), host.size() * 4, cudaMemcpyHostToDevice));
  }
  std::vector<float> download() const {
    std::vector<float> out(host.size());
    CPB_CUDA_CHECK(cudaMemcpy(out.data(), dev.data(), out.size() * 4, cudaMemcpyDeviceToHost));
    return out;
  }
};

// ||got - scale*ref|| / ||scale*ref||; NaN anywhere gives +inf.
double rel_l2(const Pair& p, const std::vector<uint8_t>& got, const std::vector<uint8_t>& ref,
              double scale = 1.0) {
  double num = 0, den = 0;
  for (int64_t t = 0; t < p.tokens; ++t)
    for (int64_t h = 0; h < p.heads; ++h)
      for (int64_t i = 0; i < p.head_dim; ++i) {
        const double g = p.at(got, t, h, i), r = scale * p.at(ref, t, h, i);
        if (!std::isfinite(g)) return std::numeric_limits<double>::infinity();
        num += (g - r) * (g - r);
        den += r * r;
      }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

}  // namespace

FlashCaseErrors run_flash_case(const FlashCase& c, Kernel& gpu, Kernel& ref) {
  DeviceAllocator alloc;
  std::mt19937_64 rng(c.seed);
  const int widen = c.strided ? 2 : 1;
  Pair q(alloc, c.dtype, c.seq_q, c.heads_q, c.head_dim, widen);
  Pair k(alloc, c.dtype, c.seq_k, c.heads_kv, c.head_dim);
  Pair v(alloc, c.dtype, c.seq_k, c.heads_kv, c.head_dim);
  Pair out(alloc, c.dtype, c.seq_q, c.heads_q, c.head_dim, widen);
  Pair dout(alloc, c.dtype, c.seq_q, c.heads_q, c.head_dim);
  Pair dq(alloc, DType::kF32, c.seq_q, c.heads_q, c.head_dim, widen);
  Pair dk(alloc, DType::kF32, c.seq_k, c.heads_kv, c.head_dim);
  Pair dv(alloc, DType::kF32, c.seq_k, c.heads_kv, c.head_dim);
  Lse lse(alloc, c.seq_q, c.heads_q);
  for (Pair* p : {&q, &k, &v, &dout}) {
    p->fill_random(rng);
    p->upload();
  }
  const float scale = 1.f / std::sqrt(static_cast<float>(c.head_dim));
  FlashCaseErrors err;

  // Forward: reference on host, kernel on device into NaN-poisoned outputs.
  ref.forward({.q = q.h(),
               .k = k.h(),
               .v = v.h(),
               .mask = &c.mask,
               .out = out.h(),
               .lse = lse.h(),
               .scale = scale});
  const std::vector<uint8_t> out_ref = out.host;
  const std::vector<float> lse_ref = lse.host;
  {
    Pair poison(alloc, c.dtype, c.seq_q, c.heads_q, c.head_dim, widen);
    poison.fill(kNaN);
    CPB_CUDA_CHECK(
        cudaMemcpy(out.dev.data(), poison.host.data(), poison.host.size(), cudaMemcpyHostToDevice));
    std::vector<float> nan_lse(lse.host.size(), kNaN);
    CPB_CUDA_CHECK(
        cudaMemcpy(lse.dev.data(), nan_lse.data(), nan_lse.size() * 4, cudaMemcpyHostToDevice));
  }
  gpu.forward({.q = q.d(),
               .k = k.d(),
               .v = v.d(),
               .mask = &c.mask,
               .out = out.d(),
               .lse = lse.d(),
               .scale = scale});
  CPB_CUDA_CHECK(cudaDeviceSynchronize());
  const std::vector<uint8_t> out_gpu = out.download();
  const std::vector<float> lse_gpu = lse.download();
  err.out = rel_l2(out, out_gpu, out_ref);
  for (int64_t t = 0; t < c.seq_q; ++t)
    for (int64_t h = 0; h < c.heads_q; ++h) {
      const float r = lse_ref[static_cast<size_t>(t * c.heads_q + h)];
      const float g = lse_gpu[static_cast<size_t>(t * c.heads_q + h)];
      if (std::isinf(r) && r < 0) {
        ++err.empty_rows;
        bool zero = std::isinf(g) && g < 0;
        for (int64_t i = 0; i < c.head_dim; ++i) zero = zero && out.at(out_gpu, t, h, i) == 0.f;
        err.lse_empty_ok = err.lse_empty_ok && zero;
      } else {
        const double d =
            std::isfinite(g) ? std::fabs(double(g) - r) : std::numeric_limits<double>::infinity();
        err.lse = std::max(err.lse, d);
      }
    }

  // Backward from the reference's out and LSE, as a ring step would pass the
  // global ones; both kernels see identical inputs.
  out.host = out_ref;
  out.upload();
  lse.host = lse_ref;
  lse.upload();
  for (Pair* g : {&dq, &dk, &dv}) {
    g->fill(kNaN);
    g->upload();
  }
  BackwardArgs ha{.q = q.h(),
                  .k = k.h(),
                  .v = v.h(),
                  .mask = &c.mask,
                  .out = out.h(),
                  .dout = dout.h(),
                  .lse = lse.h(),
                  .dq = dq.h(),
                  .dk = dk.h(),
                  .dv = dv.h(),
                  .scale = scale,
                  .accumulate = false};
  ref.backward(ha);
  BackwardArgs da{.q = q.d(),
                  .k = k.d(),
                  .v = v.d(),
                  .mask = &c.mask,
                  .out = out.d(),
                  .dout = dout.d(),
                  .lse = lse.d(),
                  .dq = dq.d(),
                  .dk = dk.d(),
                  .dv = dv.d(),
                  .scale = scale,
                  .accumulate = false};
  gpu.backward(da);
  CPB_CUDA_CHECK(cudaDeviceSynchronize());
  err.dq = rel_l2(dq, dq.download(), dq.host);
  err.dk = rel_l2(dk, dk.download(), dk.host);
  err.dv = rel_l2(dv, dv.download(), dv.host);
  da.accumulate = true;
  gpu.backward(da);
  CPB_CUDA_CHECK(cudaDeviceSynchronize());
  err.accumulate =
      std::max({rel_l2(dq, dq.download(), dq.host, 2.0), rel_l2(dk, dk.download(), dk.host, 2.0),
                rel_l2(dv, dv.download(), dv.host, 2.0)});
  return err;
}

double lse_merge_case(const FlashCase& c, Kernel& gpu, double* lse_err) {
  DeviceAllocator alloc;
  std::mt19937_64 rng(c.seed);
  const int64_t half = c.seq_k / 2;
  Pair q(alloc, c.dtype, c.seq_q, c.heads_q, c.head_dim);
  Pair k(alloc, c.dtype, c.seq_k, c.heads_kv, c.head_dim);
  Pair v(alloc, c.dtype, c.seq_k, c.heads_kv, c.head_dim);
  for (Pair* p : {&q, &k, &v}) {
    p->fill_random(rng);
    p->upload();
  }
  const float scale = 1.f / std::sqrt(static_cast<float>(c.head_dim));
  auto run = [&](int64_t k0, int64_t k1, std::vector<uint8_t>* out_host,
                 std::vector<float>* lse_host) {
    const Mask m = c.mask.restrict(Range{0, c.seq_q}, Range{k0, k1});
    const auto es = static_cast<int64_t>(dtype_size(c.dtype));
    TensorView kv = k.d(), vv = v.d();
    kv.data = static_cast<char*>(kv.data) + k0 * kv.token_stride * es;
    vv.data = static_cast<char*>(vv.data) + k0 * vv.token_stride * es;
    kv.tokens = vv.tokens = k1 - k0;
    Pair out(alloc, c.dtype, c.seq_q, c.heads_q, c.head_dim);
    Lse lse(alloc, c.seq_q, c.heads_q);
    gpu.forward(
        {.q = q.d(), .k = kv, .v = vv, .mask = &m, .out = out.d(), .lse = lse.d(), .scale = scale});
    CPB_CUDA_CHECK(cudaDeviceSynchronize());
    *out_host = out.download();
    *lse_host = lse.download();
  };
  std::vector<uint8_t> o_all, o_a, o_b;
  std::vector<float> l_all, l_a, l_b;
  run(0, c.seq_k, &o_all, &l_all);
  run(0, half, &o_a, &l_a);
  run(half, c.seq_k, &o_b, &l_b);
  Pair shape(alloc, c.dtype, c.seq_q, c.heads_q, c.head_dim);
  auto tv = [&](std::vector<uint8_t>& b) { return shape.view(b.data(), Device::kCpu); };
  auto lv = [&](std::vector<float>& l) {
    return LseView{l.data(), Device::kCpu, c.seq_q, c.heads_q, c.heads_q};
  };
  lse_merge_into(tv(o_a), lv(l_a), tv(o_b), lv(l_b));
  double worst = 0;
  for (size_t i = 0; i < l_all.size() && c.seq_q > 0; ++i) {
    if (std::isinf(l_all[i]) && std::isinf(l_a[i]) && l_all[i] < 0 && l_a[i] < 0) continue;
    worst = std::max(worst, std::fabs(double(l_all[i]) - l_a[i]));
  }
  *lse_err = worst;
  return rel_l2(shape, o_a, o_all);
}

}  // namespace cpb::testing
