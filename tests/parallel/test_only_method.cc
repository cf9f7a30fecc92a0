// test_echo: a CP method that exists only in tests, to show that adding a method
// is one file plus one CMake line. It is the head-parallel x ring schedule of
// parallel/cp_common.h under its own name, label and layout declaration: degrees
// u (Ulysses) x r (one ring) = P, contiguous placement, default all ring. Nothing
// in tests/ or bench/ names it; the registry-driven CP suite (cp_methods_test),
// `cpbench list` and `--dry-run` sweeps pick it up because this object is linked
// in (tests/parallel/CMakeLists.txt, cpb_test_methods).
#include "parallel/cp_common.h"

namespace cpb {
namespace {

class TestEchoMethod : public HybridCpMethod {
 public:
  std::string label() const override { return "Test echo"; }
  std::vector<LayoutAxis> axes() const override {
    return {LayoutAxis::kUlysses, LayoutAxis::kRing};
  }
  CpLayout default_layout(int world) const override { return {.ring = world}; }
  // Every Ulysses x ring split of the world, all-ring first.
  std::vector<CpLayout> sweep_layouts(int world) const override {
    std::vector<CpLayout> out;
    for (int u : divisors(world)) out.push_back({.ulysses = u, .ring = world / u});
    return out;
  }

 protected:
  Support layout(const CpConfig& c, HybridLayout* out) const override {
    *out = {.heads = c.ulysses_degree, .ring = c.ring_degree, .inner = c.ring_degree};
    return Support::yes();
  }
};

}  // namespace

CPB_REGISTER_CP_METHOD(test_echo, TestEchoMethod);

}  // namespace cpb
