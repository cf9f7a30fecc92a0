#include "bench/fill.h"

#include "common/errors.h"

namespace cpb::bench {
namespace {

uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

float fill_value(uint64_t seed, FillTensor tensor, int64_t token, int64_t head, int64_t i) {
  uint64_t h = mix(seed ^ (static_cast<uint64_t>(tensor) << 56));
  h = mix(h ^ static_cast<uint64_t>(token));
  h = mix(h ^ (static_cast<uint64_t>(head) << 32) ^ static_cast<uint64_t>(i));
  // Top 24 bits -> [0, 1) exactly representable in fp32, then [-1, 1).
  return static_cast<float>(h >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

void fill_tensor(const TensorView& t, uint64_t seed, FillTensor tensor,
                 const std::vector<Range>& ranges) {
  CPB_CHECK(t.device == Device::kCpu, "fill_tensor takes host tensors");
  std::vector<int64_t> global;
  global.reserve(static_cast<size_t>(t.tokens));
  for (const auto& r : ranges)
    for (int64_t g = r.begin; g < r.end; ++g) global.push_back(g);
  CPB_CHECK(static_cast<int64_t>(global.size()) == t.tokens, "ranges hold {} tokens, tensor has {}",
            global.size(), t.tokens);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < t.tokens; ++r)
    for (int64_t h = 0; h < t.heads; ++h)
      for (int64_t i = 0; i < t.head_dim; ++i)
        store_from_float(t.data, t.dtype, t.offset(r, h) + i,
                         fill_value(seed, tensor, global[static_cast<size_t>(r)], h, i));
}

}  // namespace cpb::bench
