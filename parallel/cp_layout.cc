// The layout half of CpMethod: how a method's declared axes turn a user's layout
// into the one it runs, and the compact tag a case id carries. One place, so no
// caller outside parallel/ needs to know which method reads which degree.
#include <algorithm>

#include "parallel/cp_method.h"

namespace cpb {

std::string_view to_string(LayoutAxis a) {
  switch (a) {
    case LayoutAxis::kUlysses:
      return "ulysses";
    case LayoutAxis::kRing:
      return "ring";
    case LayoutAxis::kInnerRing:
      return "inner_ring";
    case LayoutAxis::kPlacement:
      return "placement";
  }
  return "?";
}

std::string_view to_string(Placement p) {
  return p == Placement::kStrided ? "strided" : "contiguous";
}

CpLayout CpMethod::normalise(const CpLayout& given, int world) const {
  CpLayout out = default_layout(world);
  const auto reads = axes();
  auto has = [&](LayoutAxis a) { return std::find(reads.begin(), reads.end(), a) != reads.end(); };
  if (has(LayoutAxis::kUlysses)) out.ulysses = given.ulysses;
  if (has(LayoutAxis::kRing)) out.ring = given.ring;
  if (has(LayoutAxis::kInnerRing)) out.inner_ring = given.inner_ring;
  if (has(LayoutAxis::kPlacement)) out.placement = given.placement;
  return out;
}

std::string CpMethod::layout_tag(const CpLayout& l) const {
  std::string tag;
  bool strided = false;
  for (LayoutAxis a : axes()) {
    switch (a) {
      case LayoutAxis::kUlysses:
        tag += fmt::format("u{}", l.ulysses);
        break;
      case LayoutAxis::kRing:
        tag += fmt::format("r{}", l.ring);
        break;
      case LayoutAxis::kInnerRing:
        tag += fmt::format("w{}", l.inner_ring);
        break;
      case LayoutAxis::kPlacement:
        strided = l.placement == Placement::kStrided;
        break;
    }
  }
  if (strided) tag += "-strided";
  return tag;
}

CpConfig make_config(const CpLayout& layout, int world, const std::string& sharding) {
  return {.world = world,
          .ulysses_degree = layout.ulysses,
          .ring_degree = layout.ring,
          .inner_ring = layout.inner_ring,
          .placement = layout.placement,
          .sharding = sharding};
}

std::vector<int> divisors(int n) {
  std::vector<int> out;
  for (int d = 1; d <= n; ++d)
    if (n % d == 0) out.push_back(d);
  return out;
}

}  // namespace cpb
