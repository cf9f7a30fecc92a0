// cpu_reference: the oracle. Naive attention in fp64 with the mask tested per
// (query, key) pair through Mask::visible, so its only job is to be obviously
// right: every other kernel is tested against it. O(S_q * S_k * H * D) time,
// single-threaded over rows except for an OpenMP loop over heads; any storage
// dtype and any strides. Use at small and medium sizes only.
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/check_args.h"
#include "kernels/kernel.h"

namespace cpb {
namespace {

double load(const TensorView& t, int64_t token, int64_t head, int64_t i) {
  return load_as_float(t.data, t.dtype, t.offset(token, head) + i);
}

// The keys query row `q` sees, in increasing order.
std::vector<int64_t> visible_keys(const Mask& mask, int64_t q) {
  std::vector<int64_t> keys;
  for (int64_t k = 0; k < mask.seq_k; ++k)
    if (mask.visible(q, k)) keys.push_back(k);
  return keys;
}

void check_common(const TensorView& q, const TensorView& k, const TensorView& v, const Mask* mask) {
  check_attention_args("cpu_reference", Device::kCpu, q, k, v, mask);
}

class CpuReferenceKernel : public Kernel {
 public:
  using Kernel::backward;
  using Kernel::forward;
  Support supports(const AttentionShape& shape) const override {
    if (shape.device != Device::kCpu) return Support::no("cpu_reference runs on the host only");
    if (shape.heads_kv <= 0 || shape.heads_q % shape.heads_kv != 0)
      return Support::no("heads_q must be a multiple of heads_kv");
    return Support::yes();
  }

  void forward(const ForwardArgs& a, const KernelContext&) override {
    check_common(a.q, a.k, a.v, a.mask);
    const int64_t hq = a.q.heads, group = a.q.heads / a.k.heads, d = a.q.head_dim;
    const double neg_inf = -std::numeric_limits<double>::infinity();
#pragma omp parallel for schedule(dynamic)
    for (int64_t t = 0; t < a.q.tokens; ++t) {
      std::vector<int64_t> keys = visible_keys(*a.mask, t);
      std::vector<double> s(keys.size()), o(static_cast<size_t>(d));
      for (int64_t h = 0; h < hq; ++h) {
        const int64_t hk = h / group;
        double m = neg_inf;
        for (size_t j = 0; j < keys.size(); ++j) {
          double dot = 0;
          for (int64_t i = 0; i < d; ++i) dot += load(a.q, t, h, i) * load(a.k, keys[j], hk, i);
          s[j] = dot * a.scale;
          m = std::max(m, s[j]);
        }
        double l = 0;
        std::fill(o.begin(), o.end(), 0.0);
        for (size_t j = 0; j < keys.size(); ++j) {
          double p = std::exp(s[j] - m);
          l += p;
          for (int64_t i = 0; i < d; ++i) o[i] += p * load(a.v, keys[j], hk, i);
        }
        for (int64_t i = 0; i < d; ++i)
          store_from_float(a.out.data, a.out.dtype, a.out.offset(t, h) + i,
                           keys.empty() ? 0.f : static_cast<float>(o[i] / l));
        a.lse.data[t * a.lse.token_stride + h] = keys.empty()
                                                     ? -std::numeric_limits<float>::infinity()
                                                     : static_cast<float>(m + std::log(l));
      }
    }
  }

  // dS_ij = P_ij (dP_ij - D_i) with P from the given (global) LSE and
  // D_i = rowsum(dout * out) from the given (global) out: exactly what a ring
  // step needs, since neither depends on the keys this call sees.
  void backward(const BackwardArgs& a, const KernelContext&) override {
    check_common(a.q, a.k, a.v, a.mask);
    const int64_t hq = a.q.heads, hkv = a.k.heads, group = hq / hkv, d = a.q.head_dim;
    const int64_t sq = a.q.tokens, sk = a.k.tokens;
    std::vector<double> dq(static_cast<size_t>(sq * hq * d), 0.0);
    std::vector<double> dk(static_cast<size_t>(sk * hkv * d), 0.0);
    std::vector<double> dv(static_cast<size_t>(sk * hkv * d), 0.0);
    // Parallel over kv heads: each owns its dk/dv slice and its query heads' dq.
#pragma omp parallel for schedule(dynamic)
    for (int64_t hk = 0; hk < hkv; ++hk) {
      for (int64_t t = 0; t < sq; ++t) {
        std::vector<int64_t> keys = visible_keys(*a.mask, t);
        for (int64_t h = hk * group; h < (hk + 1) * group; ++h) {
          const double lse = a.lse.data[t * a.lse.token_stride + h];
          if (std::isinf(lse) && lse < 0) continue;  // a row that sees no key anywhere
          double di = 0;
          for (int64_t i = 0; i < d; ++i) di += load(a.dout, t, h, i) * load(a.out, t, h, i);
          for (int64_t key : keys) {
            double s = 0, dp = 0;
            for (int64_t i = 0; i < d; ++i) {
              s += load(a.q, t, h, i) * load(a.k, key, hk, i);
              dp += load(a.dout, t, h, i) * load(a.v, key, hk, i);
            }
            const double p = std::exp(s * a.scale - lse);
            const double ds = p * (dp - di) * a.scale;
            double* dqr = &dq[static_cast<size_t>((t * hq + h) * d)];
            double* dkr = &dk[static_cast<size_t>((key * hkv + hk) * d)];
            double* dvr = &dv[static_cast<size_t>((key * hkv + hk) * d)];
            for (int64_t i = 0; i < d; ++i) {
              dqr[i] += ds * load(a.k, key, hk, i);
              dkr[i] += ds * load(a.q, t, h, i);
              dvr[i] += p * load(a.dout, t, h, i);
            }
          }
        }
      }
    }
    auto write = [&](const TensorView& g, const std::vector<double>& src, int64_t heads) {
      CPB_CHECK(g.dtype == DType::kF32, "gradients are fp32 accumulators");
      float* base = static_cast<float*>(g.data);
      for (int64_t t = 0; t < g.tokens; ++t)
        for (int64_t h = 0; h < heads; ++h)
          for (int64_t i = 0; i < d; ++i) {
            float v = static_cast<float>(src[static_cast<size_t>((t * heads + h) * d + i)]);
            float& dst = base[g.offset(t, h) + i];
            dst = a.accumulate ? dst + v : v;
          }
    };
    write(a.dq, dq, hq);
    write(a.dk, dk, hkv);
    write(a.dv, dv, hkv);
  }
};

}  // namespace

CPB_REGISTER_KERNEL(cpu_reference, CpuReferenceKernel);

}  // namespace cpb
