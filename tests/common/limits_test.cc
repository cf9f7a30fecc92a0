// Issue 11, items 5-7: the size limits of common/limits.h hold end to end (no
// product of allowed values overflows; the area and FLOPs at S = 4M and at the
// largest S are exact), every limit is named when exceeded, the CLI's number and
// UTF-8 checks (bench/cli_checks.h), and a watchdog timeout beyond int64
// nanoseconds does not fire at once.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <thread>

#include "bench/cli_checks.h"
#include "bench/options.h"
#include "bench/stats.h"
#include "common/errors.h"
#include "common/limits.h"
#include "masks/mask_spec.h"
#include "parallel/watchdog.h"

namespace cpb {
namespace {

using bench::RunOptions;

MaskSpec spec_of(const std::string& json_text) {
  return nlohmann::json::parse(json_text).get<MaskSpec>();
}

// 4 * area * D * Hq computed exactly in 128 bits.
unsigned __int128 exact_flops(int64_t area, int64_t d, int64_t h) {
  return static_cast<unsigned __int128>(4) * static_cast<unsigned __int128>(area) *
         static_cast<unsigned __int128>(d) * static_cast<unsigned __int128>(h);
}

void expect_close_to_exact(double flops, unsigned __int128 exact) {
  double e = static_cast<double>(exact);
  ASSERT_TRUE(std::isfinite(flops));
  EXPECT_LE(std::fabs(flops - e), e * 4e-16) << flops << " vs " << e;
}

TEST(Limits, AreaAndFlopsExactAt4M) {
  const int64_t S = int64_t{4} << 20;
  EXPECT_EQ(make_mask(spec_of(R"({"kind":"causal"})"), S).area(), S * (S + 1) / 2);
  EXPECT_EQ(make_mask(spec_of(R"({"kind":"full"})"), S).area(), S * S);
  const int64_t area = S * (S + 1) / 2;
  // Largest heads and head dim allowed at this S by the tensor-size limit.
  const int64_t h = kMaxHeads, d = kMaxTensorElements / S / h;
  expect_close_to_exact(bench::pass_flops(bench::Pass::kForward, area, d, h),
                        exact_flops(area, d, h));
  expect_close_to_exact(bench::pass_flops(bench::Pass::kForwardBackward, area, 128, 64),
                        exact_flops(area, 128, 64) * 7 / 2);
}

TEST(Limits, AreaExactAtLargestSeq) {
  const int64_t S = kMaxSeq;
  EXPECT_EQ(make_mask(spec_of(R"({"kind":"full"})"), S).area(), int64_t{1} << 60);
  EXPECT_EQ(make_mask(spec_of(R"({"kind":"causal"})"), S).area(), S / 2 * (S + 1));
  const int64_t w = 4096;
  EXPECT_EQ(make_mask(spec_of(R"({"kind":"causal_sliding_window","window":4096})"), S).area(),
            (w + 1) * S - w * (w + 1) / 2);
  expect_close_to_exact(bench::forward_flops(S * S, kMaxHeadDim, kMaxHeads),
                        exact_flops(S * S, kMaxHeadDim, kMaxHeads));
  EXPECT_THROW(make_mask(spec_of(R"({"kind":"causal"})"), S + 1), InputError);
}

// expand_cases throws an InputError containing every needle.
void expect_refused(const RunOptions& o, std::initializer_list<const char*> needles) {
  try {
    bench::expand_cases(o, 1);
    ADD_FAILURE() << "accepted; expected a message with '" << *needles.begin() << "'";
  } catch (const InputError& e) {
    for (const char* n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos)
          << "'" << e.what() << "' lacks '" << n << "'";
  }
}

TEST(Limits, EverySizeIsCheckedAndTheLimitNamed) {
  RunOptions base;
  base.heads_q = 2;
  base.head_dim = 16;
  base.seqs = {64};
  RunOptions o = base;
  o.seqs = {kMaxSeq + 1};
  expect_refused(o, {"--seq 1073741825", "1073741824"});
  o = base;
  o.heads_q = std::numeric_limits<int64_t>::max();
  expect_refused(o, {"--heads 9223372036854775807", "65536"});
  o = base;
  o.head_dim = kMaxHeadDim + 1;
  expect_refused(o, {"--head-dim 65537", "65536"});
  o = base;
  o.seqs = {kMaxSeq};
  o.heads_q = kMaxHeads;
  o.head_dim = kMaxHeadDim;
  expect_refused(o, {"elements per tensor", "1125899906842624"});
  o = base;
  o.iters = kMaxIterations + 1;
  expect_refused(o, {"--iters 1000001", "1000000"});
  o = base;
  o.warmup = -1;
  expect_refused(o, {"--warmup -1"});
  o = base;
  o.timeout_seconds = 1e10;
  expect_refused(o, {"--timeout 10000000000", "1e+06"});
  o = base;
  o.timeout_seconds = std::nan("");
  expect_refused(o, {"--timeout nan"});
  o = base;
  o.masks = {"block_causal_document"};
  o.mask_params.values["block"] = std::numeric_limits<int64_t>::max();
  expect_refused(o, {"block = 9223372036854775807", "[0, 1073741824]"});
  o = base;
  o.mask_seed = 5;
  expect_refused(o, {"--mask-seed 5", "causal", "causal_document"});

  // At the limits: accepted.
  o = base;
  o.seqs = {kMaxSeq};
  o.heads_q = 1;
  o.head_dim = 1;
  o.iters = kMaxIterations;
  o.timeout_seconds = kMaxTimeoutSeconds;
  EXPECT_EQ(bench::expand_cases(o, 1).size(), 1u);
  o = base;
  o.heads_q = kMaxHeads;
  o.head_dim = kMaxHeadDim;
  EXPECT_EQ(bench::expand_cases(o, 1).size(), 1u);
}

std::string checked(std::string v, bool is_float, bool is_unsigned) {
  std::string err = bench::check_number_text(v, is_float, is_unsigned);
  return err.empty() ? "ok:" + v : err;
}

TEST(CliChecks, NumbersAreCompleteDecimalAndInRange) {
  EXPECT_EQ(checked("42", false, false), "ok:42");
  EXPECT_EQ(checked("010", false, false), "ok:10");  // decimal, not octal
  EXPECT_EQ(checked("-007", false, false), "ok:-7");
  EXPECT_EQ(checked("000", false, true), "ok:0");
  EXPECT_EQ(checked("9223372036854775807", false, false), "ok:9223372036854775807");
  EXPECT_EQ(checked("18446744073709551615", false, true), "ok:18446744073709551615");
  EXPECT_NE(checked("9223372036854775808", false, false).find("out of range"), std::string::npos);
  EXPECT_NE(checked("18446744073709551616", false, true).find("out of range"), std::string::npos);
  EXPECT_NE(checked("-1", false, true).find("negative"), std::string::npos);
  for (const char* bad : {"", "0x10", "1e3", " 1", "1 ", "+1", "-", "1,2", "4k"})
    EXPECT_EQ(checked(bad, false, false).rfind("ok:", 0), std::string::npos) << bad;
  EXPECT_NE(checked("", false, false).find("empty"), std::string::npos);
  EXPECT_EQ(checked("1e3", true, false), "ok:1e3");
  EXPECT_EQ(checked("-2.5", true, false), "ok:-2.5");
  for (const char* bad : {"", "nan", "inf", "-inf", "1e400", "1e-400", "3s", " 1"})
    EXPECT_EQ(checked(bad, true, false).rfind("ok:", 0), std::string::npos) << bad;
}

TEST(CliChecks, Utf8) {
  EXPECT_TRUE(bench::is_utf8("plain/path.json"));
  EXPECT_TRUE(bench::is_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(bench::is_utf8("\xff"));
  EXPECT_FALSE(bench::is_utf8("\xc3"));              // truncated
  EXPECT_FALSE(bench::is_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(bench::is_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(bench::is_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_EQ(bench::escape_bytes("a\xff\n\\"), "a\\xff\\x0a\\x5c");
  EXPECT_NE(bench::escape_bytes(std::string(500, 'x')).find("(500 bytes)"), std::string::npos);
}

// 1e10 s in nanoseconds overflows int64: the deadline landed in the past and the
// watchdog fired at once. It now saturates.
TEST(Limits, WatchdogHugeTimeoutDoesNotFireAtOnce) {
  std::atomic<bool> fired{false};
  Watchdog dog([&](const std::string&) { fired = true; });
  dog.arm("huge", 1e10);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(fired);
  dog.disarm();
}

}  // namespace
}  // namespace cpb
