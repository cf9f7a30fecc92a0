// Document-length histograms and the seeded sampler that packs documents into a
// sequence (the varlen masks). Sampling uses std::mt19937_64 (its output is fixed
// by the C++ standard) plus our own integer mappings, never std::*_distribution,
// so a seed gives the same documents with every standard library.
// A builtin name (pile, prolong64k, prolong512k) resolves to
// $CPB_DATA_DIR/doclen/<name>.json (env var, else the compiled-in data dir).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace cpb {

// One bin: document lengths in [lo, hi) tokens drawn with probability p.
struct DoclenBin {
  int64_t lo = 0;
  int64_t hi = 0;  // exclusive
  double p = 0;
};

struct DoclenHistogram {
  std::string name;
  std::string description;
  std::string source;  // citation of where the figures come from
  std::string unit = "tokens";
  std::vector<DoclenBin> bins;  // ascending, non-overlapping; p sums to 1 within 0.5%
};

// Data directory: env var CPB_DATA_DIR if set and non-empty, else the build's CPB_DATA_DIR.
std::string data_dir();
// Names of the histogram files shipped in data_dir()/doclen (without .json), sorted.
std::vector<std::string> builtin_doclens();
// A name without '/' and without a ".json" suffix is a builtin; anything else a path.
// Throws InputError for an unknown builtin (listing the builtins) or a missing file.
std::string resolve_doclen_path(const std::string& name_or_path);

// Strict parse: unknown keys, wrong types, lo < 0, lo >= hi, unsorted or overlapping
// bins, p < 0, or a sum of p off 1 by more than 0.005 throw InputError naming `origin`
// (the file) and the bin index.
DoclenHistogram parse_doclen(const nlohmann::json& j, const std::string& origin);
DoclenHistogram load_doclen(const std::string& name_or_path);

// Seeded draws shared by all generators (exposed for tests).
// Uniform integer in [0, n), n >= 1: rejection sampling on 64-bit words (no modulo bias).
uint64_t uniform_index(std::mt19937_64& rng, uint64_t n);
// Uniform double in [0, 1) from the top 53 bits of one word.
double uniform_unit(std::mt19937_64& rng);

// Sample documents until `total` tokens are covered: pick a bin with probability p
// (normalised), then a length uniform over the integers of [max(lo, 1), hi); the last
// document is cut to what is left. Sum is exactly `total`; every length >= 1.
std::vector<int64_t> sample_doc_lengths(const DoclenHistogram& h, int64_t total,
                                        std::mt19937_64& rng);

// The *_long kinds (LongCA-bench's "long" variant): floor(long_share * total) tokens go
// to long documents of length uniform in [kLongDocMin, kLongDocMax] (last one cut), the
// rest is sampled from `h`, then all documents are shuffled (Fisher-Yates, same rng).
inline constexpr int64_t kLongDocMin = 8 * 1024;
inline constexpr int64_t kLongDocMax = 30 * 1024;
std::vector<int64_t> sample_long_mix(const DoclenHistogram& h, int64_t total, double long_share,
                                     std::mt19937_64& rng);

}  // namespace cpb
