// The oracle checked against mathematics, not against another kernel: an
// independent fp64 forward on the dense mask, and central finite differences of
// L = sum(dout * out) in fp64 for every input element on tiny sizes (GQA, a row
// that sees no key, a key no row sees).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/kernel.h"
#include "tests/kernels/kernel_test_util.h"

namespace cpb::test {
namespace {

struct Inputs {  // fp64 copies, [tokens][heads][d]
  std::vector<double> q, k, v, dout;
};

std::vector<double> to_double(const Buffer& b) {
  std::vector<double> x;
  for (int64_t t = 0; t < b.view.tokens; ++t)
    for (int64_t h = 0; h < b.view.heads; ++h)
      for (int64_t i = 0; i < b.view.head_dim; ++i) x.push_back(b.get(t, h, i));
  return x;
}

// out (fp64, [sq][hq][d]) from the dense mask; independent of cpu_reference.
std::vector<double> dense_forward(const Shape& s, const std::vector<uint8_t>& dense,
                                  const Inputs& in, double scale) {
  std::vector<double> out(static_cast<size_t>(s.sq * s.hq * s.d), 0.0);
  const int64_t group = s.hq / s.hkv;
  for (int64_t t = 0; t < s.sq; ++t)
    for (int64_t h = 0; h < s.hq; ++h) {
      const int64_t hk = h / group;
      std::vector<double> w(static_cast<size_t>(s.sk), 0.0);
      double m = -INFINITY, l = 0;
      for (int64_t j = 0; j < s.sk; ++j) {
        if (!dense[static_cast<size_t>(t * s.sk + j)]) continue;
        double dot = 0;
        for (int64_t i = 0; i < s.d; ++i)
          dot += in.q[static_cast<size_t>((t * s.hq + h) * s.d + i)] *
                 in.k[static_cast<size_t>((j * s.hkv + hk) * s.d + i)];
        w[static_cast<size_t>(j)] = dot * scale;
        m = std::max(m, dot * scale);
      }
      if (m == -INFINITY) continue;
      for (int64_t j = 0; j < s.sk; ++j)
        if (dense[static_cast<size_t>(t * s.sk + j)]) {
          w[static_cast<size_t>(j)] = std::exp(w[static_cast<size_t>(j)] - m);
          l += w[static_cast<size_t>(j)];
        } else {
          w[static_cast<size_t>(j)] = 0;
        }
      for (int64_t j = 0; j < s.sk; ++j)
        for (int64_t i = 0; i < s.d; ++i)
          out[static_cast<size_t>((t * s.hq + h) * s.d + i)] +=
              w[static_cast<size_t>(j)] / l * in.v[static_cast<size_t>((j * s.hkv + hk) * s.d + i)];
    }
  return out;
}

double loss(const Shape& s, const std::vector<uint8_t>& dense, const Inputs& in, double scale) {
  const std::vector<double> out = dense_forward(s, dense, in, scale);
  double l = 0;
  for (size_t i = 0; i < out.size(); ++i) l += out[i] * in.dout[i];
  return l;
}

constexpr Shape kTiny{.sq = 6, .sk = 7, .hq = 4, .hkv = 2, .d = 3};

// Row 0 sees nothing; key 6 is seen by no row.
Mask tiny_mask() {
  Mask m{kTiny.sq, kTiny.sk, {causal_slice({1, 6}, {0, 5}), full_slice({4, 6}, {5, 6})}};
  m.validate();
  return m;
}

TEST(CpuReference, ForwardMatchesDenseFp64) {
  auto ref = KernelRegistry::instance().create("cpu_reference");
  Problem p(kTiny, 3);
  const Mask mask = tiny_mask();
  ref->forward(p.forward_args(mask));
  const Inputs in{to_double(p.q), to_double(p.k), to_double(p.v), to_double(p.dout)};
  const std::vector<double> out = dense_forward(kTiny, mask.dense(), in, p.scale());
  const std::vector<double> got = to_double(p.out);
  for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(got[i], out[i], 1e-6) << i;
  for (int64_t h = 0; h < kTiny.hq; ++h) EXPECT_EQ(p.lse.at(0, h), -INFINITY);
}

TEST(CpuReference, BackwardMatchesCentralFiniteDifferences) {
  auto ref = KernelRegistry::instance().create("cpu_reference");
  Problem p(kTiny, 5);
  const Mask mask = tiny_mask();
  const std::vector<uint8_t> dense = mask.dense();
  ref->forward(p.forward_args(mask));
  ref->backward(p.backward_args(mask, false));

  Inputs in{to_double(p.q), to_double(p.k), to_double(p.v), to_double(p.dout)};
  const double eps = 1e-6, scale = p.scale();
  struct Target {
    const char* name;
    std::vector<double>* x;
    const Buffer* grad;
  };
  for (Target target :
       {Target{"q", &in.q, &p.dq}, Target{"k", &in.k, &p.dk}, Target{"v", &in.v, &p.dv}}) {
    const std::vector<double> analytic = to_double(*target.grad);
    ASSERT_EQ(analytic.size(), target.x->size());
    for (size_t i = 0; i < target.x->size(); ++i) {
      const double x0 = (*target.x)[i];
      (*target.x)[i] = x0 + eps;
      const double up = loss(kTiny, dense, in, scale);
      (*target.x)[i] = x0 - eps;
      const double down = loss(kTiny, dense, in, scale);
      (*target.x)[i] = x0;
      const double numeric = (up - down) / (2 * eps);
      EXPECT_NEAR(analytic[i], numeric, 2e-6 * std::max(1.0, std::abs(numeric)))
          << "d" << target.name << "[" << i << "]";
    }
  }
  // Key 6 is seen by no row; query row 0 sees no key: exact zeros.
  for (int64_t h = 0; h < kTiny.hkv; ++h)
    for (int64_t i = 0; i < kTiny.d; ++i) {
      EXPECT_EQ(p.dk.get(6, h, i), 0.f);
      EXPECT_EQ(p.dv.get(6, h, i), 0.f);
    }
  for (int64_t h = 0; h < kTiny.hq; ++h)
    for (int64_t i = 0; i < kTiny.d; ++i) EXPECT_EQ(p.dq.get(0, h, i), 0.f);
}

}  // namespace
}  // namespace cpb::test
