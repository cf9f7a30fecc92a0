#include "masks/head_masks.h"

#include <algorithm>

#include "common/errors.h"
#include "common/limits.h"
#include "masks/generators.h"

namespace cpb {

HeadMasks HeadMasks::restrict(std::span<const Range> q_ranges,
                              std::span<const Range> k_ranges) const {
  HeadMasks out;
  out.kv.reserve(kv.size());
  for (const Mask& m : kv) out.kv.push_back(m.restrict(q_ranges, k_ranges));
  return out;
}

bool HeadMasks::empty() const {
  for (const Mask& m : kv)
    if (!m.slices.empty()) return false;
  return true;
}

double HeadMasks::head_pairs(int64_t heads_q, int64_t heads_kv) const {
  CPB_CHECK(heads_kv >= 1 && heads_q % heads_kv == 0, "Hq={} is not a multiple of Hkv={}", heads_q,
            heads_kv);
  if (uniform()) return static_cast<double>(kv[0].area()) * static_cast<double>(heads_q);
  CPB_CHECK(static_cast<int64_t>(kv.size()) == heads_kv, "{} head masks for Hkv={}", kv.size(),
            heads_kv);
  double sum = 0;
  for (const Mask& m : kv) sum += static_cast<double>(m.area());
  return sum * static_cast<double>(heads_q / heads_kv);
}

int64_t HeadMasks::mean_area() const {
  CPB_CHECK(!kv.empty(), "no head masks");
  // Quotients and remainders apart: a sum of areas near S^2 = 2^60 overflows int64.
  const int64_t n = static_cast<int64_t>(kv.size());
  int64_t quotient = 0, remainder = 0;
  for (const Mask& m : kv) {
    quotient += m.area() / n;
    remainder += m.area() % n;
  }
  return quotient + (remainder + n / 2) / n;
}

double HeadMasks::mean_density() const {
  CPB_CHECK(!kv.empty(), "no head masks");
  double sum = 0;
  for (const Mask& m : kv) sum += m.density();
  return sum / static_cast<double>(kv.size());
}

HeadMasks make_head_masks(const MaskSpec& spec, int64_t seq, int64_t heads_kv) {
  HeadMasks out;
  out.kv.push_back(make_mask(spec, seq));  // checks the kind, seq and every parameter
  if (!spec.per_head) return out;
  const MaskKindDef& def = find_mask_kind(spec.kind);
  CPB_REQUIRE(def.make_head, "mask '{}' has no per-head variant (per_head = true)", spec.kind);
  CPB_REQUIRE(heads_kv >= 1 && heads_kv <= kMaxHeads,
              "mask '{}' per head: heads_kv = {} must be in [1, {}]", spec.kind, heads_kv,
              kMaxHeads);
  // Every head's draw has about head 0's slice count (same grid and topk); many heads
  // of a fine grid would take minutes and gigabytes, so refuse them up front.
  const int64_t per_head = std::max<int64_t>(1, static_cast<int64_t>(out.kv[0].slices.size()));
  CPB_REQUIRE(per_head <= kMaxHeadMaskSlices / heads_kv,
              "mask '{}' per head: {} KV heads x {} slices a head is more than {} slices in all; "
              "use a larger block, a smaller topk or fewer KV heads",
              spec.kind, heads_kv, per_head, kMaxHeadMaskSlices);
  for (int64_t g = 1; g < heads_kv; ++g) out.kv.push_back(def.make_head(spec, seq, g));
  return out;
}

std::span<const Mask> kv_head_range(std::span<const Mask> all, int64_t first, int64_t count) {
  if (all.size() == 1) return all;
  CPB_CHECK(first >= 0 && count >= 0 && first + count <= static_cast<int64_t>(all.size()),
            "KV heads [{}, {}) of {} head masks", first, first + count, all.size());
  return all.subspan(static_cast<size_t>(first), static_cast<size_t>(count));
}

}  // namespace cpb
