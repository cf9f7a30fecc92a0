#include "masks/doclen.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include "common/errors.h"

#ifndef CPB_DATA_DIR
#define CPB_DATA_DIR "data"
#endif

namespace cpb {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

int64_t get_int(const json& bin, const char* key, const std::string& origin, size_t index) {
  if (!bin.contains(key)) CPB_INPUT_ERROR("{}: bin {}: missing key '{}'", origin, index, key);
  const json& v = bin.at(key);
  if (!v.is_number_integer())
    CPB_INPUT_ERROR("{}: bin {}: '{}' must be an integer, got {}", origin, index, key, v.dump());
  return v.get<int64_t>();
}

std::string get_string(const json& j, const char* key, const std::string& origin, bool required) {
  if (!j.contains(key)) {
    if (required) CPB_INPUT_ERROR("{}: missing key '{}'", origin, key);
    return {};
  }
  if (!j.at(key).is_string())
    CPB_INPUT_ERROR("{}: '{}' must be a string, got {}", origin, key, j.at(key).dump());
  return j.at(key).get<std::string>();
}

}  // namespace

std::string data_dir() {
  const char* env = std::getenv("CPB_DATA_DIR");
  return (env && *env) ? std::string(env) : std::string(CPB_DATA_DIR);
}

std::vector<std::string> builtin_doclens() {
  std::vector<std::string> names;
  std::error_code ec;
  fs::path dir = fs::path(data_dir()) / "doclen";
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.is_regular_file() && entry.path().extension() == ".json")
      names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string resolve_doclen_path(const std::string& name_or_path) {
  CPB_REQUIRE(!name_or_path.empty(),
              "doclen is empty; allowed: a builtin histogram ({}) or a path to a histogram file",
              fmt::join(builtin_doclens(), ", "));
  bool is_path = name_or_path.find('/') != std::string::npos || ends_with(name_or_path, ".json");
  if (!is_path) {
    fs::path p = fs::path(data_dir()) / "doclen" / (name_or_path + ".json");
    std::error_code ec;  // the throwing overload made a too-long name an internal error
    if (!fs::is_regular_file(p, ec))
      CPB_INPUT_ERROR("unknown doclen histogram '{}'; builtins in {}: {} (or give a file path)",
                      name_or_path, (fs::path(data_dir()) / "doclen").string(),
                      fmt::join(builtin_doclens(), ", "));
    return p.string();
  }
  std::error_code ec;
  CPB_REQUIRE(fs::is_regular_file(name_or_path, ec),
              "doclen file '{}' does not exist or is not a regular file{}", name_or_path,
              ec ? " (" + ec.message() + ")" : std::string());
  return name_or_path;
}

DoclenHistogram parse_doclen(const json& j, const std::string& origin) {
  CPB_REQUIRE(j.is_object(), "{}: a doclen histogram must be a JSON object", origin);
  static constexpr const char* kKeys[] = {"name", "description", "source", "unit", "bins"};
  for (const auto& [key, value] : j.items())
    if (std::find_if(std::begin(kKeys), std::end(kKeys), [&](const char* k) { return key == k; }) ==
        std::end(kKeys))
      CPB_INPUT_ERROR("{}: unknown key '{}'; allowed: {}", origin, key, fmt::join(kKeys, ", "));

  DoclenHistogram h;
  h.name = get_string(j, "name", origin, true);
  h.description = get_string(j, "description", origin, false);
  h.source = get_string(j, "source", origin, true);
  h.unit = get_string(j, "unit", origin, true);
  CPB_REQUIRE(h.unit == "tokens", "{}: unit '{}' not supported; allowed: tokens", origin, h.unit);
  CPB_REQUIRE(j.contains("bins") && j.at("bins").is_array() && !j.at("bins").empty(),
              "{}: 'bins' must be a non-empty array of {{\"lo\", \"hi\", \"p\"}} objects", origin);

  double sum = 0;
  const json& bins = j.at("bins");
  for (size_t i = 0; i < bins.size(); ++i) {
    const json& b = bins[i];
    CPB_REQUIRE(b.is_object(), "{}: bin {} must be an object {{\"lo\", \"hi\", \"p\"}}, got {}",
                origin, i, b.dump());
    for (const auto& [key, value] : b.items())
      CPB_REQUIRE(key == "lo" || key == "hi" || key == "p",
                  "{}: bin {}: unknown key '{}'; allowed: lo, hi, p", origin, i, key);
    DoclenBin bin;
    bin.lo = get_int(b, "lo", origin, i);
    bin.hi = get_int(b, "hi", origin, i);
    CPB_REQUIRE(b.contains("p"), "{}: bin {}: missing key 'p'", origin, i);
    CPB_REQUIRE(b.at("p").is_number(), "{}: bin {}: 'p' must be a number, got {}", origin, i,
                b.at("p").dump());
    bin.p = b.at("p").get<double>();
    CPB_REQUIRE(bin.lo >= 0, "{}: bin {}: lo = {} must be >= 0", origin, i, bin.lo);
    CPB_REQUIRE(bin.lo < bin.hi, "{}: bin {}: lo = {} must be < hi = {}", origin, i, bin.lo,
                bin.hi);
    CPB_REQUIRE(bin.hi > 1, "{}: bin {}: [{}, {}) holds no length >= 1", origin, i, bin.lo, bin.hi);
    CPB_REQUIRE(std::isfinite(bin.p) && bin.p >= 0, "{}: bin {}: p = {} must be >= 0", origin, i,
                bin.p);
    if (!h.bins.empty())
      CPB_REQUIRE(bin.lo >= h.bins.back().hi,
                  "{}: bin {}: [{}, {}) overlaps or precedes bin {} [{}, {}); bins must ascend",
                  origin, i, bin.lo, bin.hi, i - 1, h.bins.back().lo, h.bins.back().hi);
    sum += bin.p;
    h.bins.push_back(bin);
  }
  CPB_REQUIRE(std::abs(sum - 1.0) <= 0.005, "{}: probabilities sum to {}, must be 1 within 0.005",
              origin, sum);
  return h;
}

DoclenHistogram load_doclen(const std::string& name_or_path) {
  std::string path = resolve_doclen_path(name_or_path);
  std::ifstream in(path);
  CPB_REQUIRE(in.good(), "cannot read doclen file '{}'", path);
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for 1e400
    CPB_INPUT_ERROR("{}: malformed JSON: {}", path, e.what());
  }
  return parse_doclen(j, path);
}

uint64_t uniform_index(std::mt19937_64& rng, uint64_t n) {
  CPB_CHECK(n >= 1, "uniform_index over an empty range");
  // Accept words below the largest multiple of n, so every residue is equally likely.
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  const uint64_t limit = max - (max % n + 1) % n;
  uint64_t x;
  do x = rng();
  while (x > limit);
  return x % n;
}

double uniform_unit(std::mt19937_64& rng) { return double(rng() >> 11) * 0x1.0p-53; }

std::vector<int64_t> sample_doc_lengths(const DoclenHistogram& h, int64_t total,
                                        std::mt19937_64& rng) {
  CPB_CHECK(!h.bins.empty(), "empty histogram '{}'", h.name);
  std::vector<double> cumulative;
  double acc = 0;
  for (const auto& b : h.bins) cumulative.push_back(acc += b.p);
  CPB_CHECK(acc > 0, "histogram '{}' has zero mass", h.name);

  std::vector<int64_t> lengths;
  for (int64_t covered = 0; covered < total;) {
    double u = uniform_unit(rng) * acc;
    size_t bin = static_cast<size_t>(std::upper_bound(cumulative.begin(), cumulative.end(), u) -
                                     cumulative.begin());
    bin = std::min(bin, h.bins.size() - 1);
    // Zero-probability bins are never chosen by upper_bound except through rounding at
    // the end; step back to a bin that has mass.
    while (h.bins[bin].p == 0 && bin > 0) --bin;
    int64_t lo = std::max<int64_t>(h.bins[bin].lo, 1), hi = h.bins[bin].hi;
    int64_t len = lo + static_cast<int64_t>(uniform_index(rng, static_cast<uint64_t>(hi - lo)));
    len = std::min(len, total - covered);
    lengths.push_back(len);
    covered += len;
  }
  return lengths;
}

std::vector<int64_t> sample_long_mix(const DoclenHistogram& h, int64_t total, double long_share,
                                     std::mt19937_64& rng) {
  CPB_CHECK(long_share >= 0 && long_share <= 1, "long_share {} outside [0, 1]", long_share);
  int64_t long_tokens = static_cast<int64_t>(std::floor(long_share * double(total)));
  long_tokens = std::clamp<int64_t>(long_tokens, 0, total);
  std::vector<int64_t> lengths = sample_doc_lengths(h, total - long_tokens, rng);
  for (int64_t covered = 0; covered < long_tokens;) {
    int64_t len = kLongDocMin + static_cast<int64_t>(uniform_index(
                                    rng, static_cast<uint64_t>(kLongDocMax - kLongDocMin + 1)));
    len = std::min(len, long_tokens - covered);
    lengths.push_back(len);
    covered += len;
  }
  for (size_t i = lengths.size(); i > 1; --i)
    std::swap(lengths[i - 1], lengths[uniform_index(rng, i)]);
  return lengths;
}

}  // namespace cpb
