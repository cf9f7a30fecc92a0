#include "kernels/lse_merge.h"

#include <cmath>
#include <limits>

#include "common/errors.h"

namespace cpb {

void lse_merge_into(TensorView acc_out, LseView acc_lse, TensorView part_out, LseView part_lse) {
  CPB_CHECK(acc_out.tokens == part_out.tokens && acc_out.heads == part_out.heads &&
                acc_out.head_dim == part_out.head_dim,
            "merge of mismatched shapes");
  CPB_CHECK(acc_out.device == Device::kCpu && part_out.device == Device::kCpu,
            "lse_merge_into takes host buffers");
  const float neg_inf = -std::numeric_limits<float>::infinity();
  const int64_t d = acc_out.head_dim;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < acc_out.tokens; ++t) {
    for (int64_t h = 0; h < acc_out.heads; ++h) {
      float& la = acc_lse.data[t * acc_lse.token_stride + h];
      float lb = part_lse.data[t * part_lse.token_stride + h];
      if (lb == neg_inf) continue;  // nothing to add
      float m = std::max(la, lb);
      float lse = m + std::log(std::exp(la - m) + std::exp(lb - m));  // la=-inf -> exp()=0
      float wa = la == neg_inf ? 0.f : std::exp(la - lse);
      float wb = std::exp(lb - lse);
      int64_t oa = acc_out.offset(t, h), ob = part_out.offset(t, h);
      for (int64_t i = 0; i < d; ++i) {
        float v = wa * load_as_float(acc_out.data, acc_out.dtype, oa + i) +
                  wb * load_as_float(part_out.data, part_out.dtype, ob + i);
        store_from_float(acc_out.data, acc_out.dtype, oa + i, v);
      }
      la = lse;
    }
  }
}

}  // namespace cpb
