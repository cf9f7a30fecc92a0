// case_label (reports/merge.h) names no method: the layout part is the tag the
// method declared (params.layout after "P<world>"), and a report written before
// params.layout shows every degree, whatever the method is called.
#include <gtest/gtest.h>

#include "reports/merge.h"

namespace cpb::reports {
namespace {

using nlohmann::json;

json make_case(const std::string& method, json extra) {
  json p = {{"method", method},
            {"world_size", 4},
            {"sharding", "zigzag"},
            {"kernel", "cpu_flash"},
            {"mask", {{"kind", "causal"}}},
            {"seq", 256},
            {"heads_q", 8},
            {"heads_kv", 2},
            {"head_dim", 16},
            {"dtype", "fp32"},
            {"pass", "fwd"}};
  p.update(extra);
  return {{"params", p}};
}

TEST(CaseLabel, ShowsTheDeclaredLayoutTag) {
  EXPECT_EQ(case_label(make_case("any_name", {{"layout", "P4-u2r2-strided"}})),
            "any_name P=4 u2r2-strided zigzag cpu_flash causal S=256 H=8/2 D=16 fp32 fwd");
  EXPECT_EQ(case_label(make_case("flat", {{"layout", "P4"}})),
            "flat P=4 zigzag cpu_flash causal S=256 H=8/2 D=16 fp32 fwd");
}

TEST(CaseLabel, ReportsWithoutLayoutShowEveryDegree) {
  const json old = make_case(
      "loongtrain",
      {{"degrees", {{"ulysses", 2}, {"ring", 2}, {"inner_ring", 1}}}, {"placement", "strided"}});
  EXPECT_EQ(case_label(old),
            "loongtrain P=4 u2r2w1-strided zigzag cpu_flash causal S=256 H=8/2 D=16 fp32 fwd");
  EXPECT_EQ(case_label(make_case("none", json::object())),
            "none P=4 zigzag cpu_flash causal S=256 H=8/2 D=16 fp32 fwd");
}

}  // namespace
}  // namespace cpb::reports
