#include "tests/masks/mask_test_util.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "masks/doclen.h"
#include "masks/generators.h"

namespace cpb::test {

namespace {
// A file that lives as long as the test process.
struct TempFile {
  std::filesystem::path path;
  TempFile(const std::string& name, const std::string& text)
      : path(std::filesystem::temp_directory_path() /
             (name + "_" + std::to_string(::getpid()) + ".json")) {
    std::ofstream(path) << text;
  }
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};
}  // namespace

const std::string& short_doclen_path() {
  static const TempFile file("cpb_short_docs",
                             R"({"name": "short", "source": "test", "unit": "tokens", "bins": [
      {"lo": 0, "hi": 4, "p": 0.3}, {"lo": 4, "hi": 16, "p": 0.4},
      {"lo": 16, "hi": 48, "p": 0.3}]})");
  static const std::string path = file.path.string();
  return path;
}

namespace {
int64_t pick(std::mt19937_64& rng, int64_t lo, int64_t hi) {  // inclusive
  return lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + 1));
}
double unit(std::mt19937_64& rng) { return double(rng() >> 11) * 0x1.0p-53; }
}  // namespace

MaskSpec random_spec(const std::string& kind, int64_t seq, std::mt19937_64& rng) {
  MaskSpec s = default_mask_spec(kind);
  s.seed = rng();
  s.doclen = rng() % 4 == 0 ? "pile" : short_doclen_path();
  s.window = rng() % 5 == 0 ? seq : pick(rng, 0, seq);
  s.global_tokens = pick(rng, 0, seq);
  s.prefix = pick(rng, 0, seq);
  const double fractions[] = {0.0, 1.0, 0.5, unit(rng), unit(rng)};
  s.prefix_fraction = fractions[rng() % 5];
  s.long_share = fractions[rng() % 5];
  if (kind == "shared_question") {
    s.question = pick(rng, 1, seq - 1);
    s.answers = pick(rng, 1, seq - s.question);
  }
  s.block = pick(rng, 1, seq + 3);
  s.topk = pick(rng, 1, (seq + s.block - 1) / s.block);
  const double keeps[] = {1.0, 0.5, 0.1, 1.0 - unit(rng)};
  s.keep = keeps[rng() % 4];
  if (s.keep <= 0) s.keep = 1.0;
  // Clear what the kind does not use, so to_json/from_json round-trips exactly.
  MaskSpec clean = default_mask_spec(kind);
  for (const auto& p : find_mask_kind(kind).params) {
    if (p == "window") clean.window = s.window;
    if (p == "global_tokens") clean.global_tokens = s.global_tokens;
    if (p == "prefix") clean.prefix = s.prefix;
    if (p == "prefix_fraction") clean.prefix_fraction = s.prefix_fraction;
    if (p == "question") clean.question = s.question;
    if (p == "answers") clean.answers = s.answers;
    if (p == "block") clean.block = s.block;
    if (p == "keep") clean.keep = s.keep;
    if (p == "topk") clean.topk = s.topk;
    if (p == "doclen") clean.doclen = s.doclen;
    if (p == "long_share") clean.long_share = s.long_share;
    if (p == "seed") clean.seed = s.seed;
  }
  return clean;
}

MaskOracle::MaskOracle(const MaskSpec& spec, int64_t seq) : spec_(spec), seq_(seq) {
  int64_t at = 0;
  for (int64_t len : document_lengths(spec, seq)) {
    seg_begin_.push_back(at);
    for (int64_t t = 0; t < len; ++t) seg_of_.push_back(int64_t(seg_begin_.size()) - 1);
    at += len;
  }
  if (spec.kind == "block_sparse_topk") {
    // The documented draw: per block row, a partial Fisher-Yates over 0..n-1 whose
    // first topk entries are the kept blocks.
    blocks_ = (seq + spec.block - 1) / spec.block;
    std::mt19937_64 rng(spec.seed);
    kept_.assign(static_cast<size_t>(blocks_ * blocks_), 0);
    for (int64_t a = 0; a < blocks_; ++a) {
      std::vector<int64_t> order(static_cast<size_t>(blocks_));
      for (int64_t b = 0; b < blocks_; ++b) order[size_t(b)] = b;
      for (int64_t t = 0; t < spec.topk; ++t) {
        int64_t pick = t + int64_t(uniform_index(rng, uint64_t(blocks_ - t)));
        std::swap(order[size_t(t)], order[size_t(pick)]);
        kept_[size_t(a * blocks_ + order[size_t(t)])] = 1;
      }
    }
  }
  if (spec.kind == "block_sparse") {
    // The documented draw order: one draw per off-diagonal block, row-major.
    blocks_ = (seq + spec.block - 1) / spec.block;
    std::mt19937_64 rng(spec.seed);
    kept_.resize(static_cast<size_t>(blocks_ * blocks_));
    for (int64_t a = 0; a < blocks_; ++a)
      for (int64_t b = 0; b < blocks_; ++b) {
        bool keep = a == b;
        if (a != b) keep = uniform_unit(rng) < spec.keep;
        kept_[static_cast<size_t>(a * blocks_ + b)] = keep;
      }
  }
}

bool MaskOracle::visible(int64_t i, int64_t j) const {
  const std::string& k = spec_.kind;
  const int64_t d = i - j;
  const bool same = seg_of_[size_t(i)] == seg_of_[size_t(j)];
  const int64_t start = seg_begin_[size_t(seg_of_[size_t(i)])];
  if (k == "full") return true;
  if (k == "causal") return j <= i;
  if (k == "sliding_window") return std::abs(d) <= spec_.window;
  if (k == "causal_sliding_window") return d >= 0 && d <= spec_.window;
  if (k == "document" || k == "document_long") return same;
  if (k == "causal_document" || k == "causal_document_long") return same && j <= i;
  if (k == "shared_question" || k == "shared_question_doclen") {
    // Segment 0 is the question, the others answers.
    if (seg_of_[size_t(i)] == 0) return j <= i;
    return seg_of_[size_t(j)] == 0 || (same && j <= i);
  }
  if (k == "causal_blockwise") {
    bool last = seg_of_[size_t(i)] == int64_t(seg_begin_.size()) - 1;
    return (same && j <= i) || (last && j < start);
  }
  if (k == "prefix_lm_causal")
    return (i < spec_.prefix && j < spec_.prefix) || (i >= spec_.prefix && j <= i);
  if (k == "prefix_lm_document" || k == "prefix_lm_document_abs") {
    if (!same) return false;
    int64_t len = (seg_of_[size_t(i)] + 1 < int64_t(seg_begin_.size())
                       ? seg_begin_[size_t(seg_of_[size_t(i)] + 1)]
                       : seq_) -
                  start;
    int64_t p = k == "prefix_lm_document_abs"
                    ? std::min(spec_.prefix, len)
                    : static_cast<int64_t>(std::floor(spec_.prefix_fraction * double(len)));
    int64_t li = i - start, lj = j - start;
    return (li < p && lj < p) || (li >= p && lj <= li);
  }
  if (k == "global_sliding")
    return i < spec_.global_tokens || j < spec_.global_tokens || std::abs(d) <= spec_.window;
  if (k == "global_sliding_longca") {
    const int64_t g = spec_.global_tokens;
    if (j < g) return i - j >= seq_ - g;
    if (i < g) return j - i <= seq_ - g;
    return std::abs(d) <= spec_.window;
  }
  if (k == "causal_global_sliding") return j <= i && (j < spec_.global_tokens || d <= spec_.window);
  if (k == "block_causal_document")
    return same && (j - start) / spec_.block <= (i - start) / spec_.block;
  if (k == "block_sparse" || k == "block_sparse_topk")
    return kept_[size_t((i / spec_.block) * blocks_ + j / spec_.block)] != 0;
  throw std::logic_error("the oracle has no formula for mask kind '" + k + "'");
}

std::vector<uint8_t> MaskOracle::dense() const {
  std::vector<uint8_t> m(size_t(seq_ * seq_));
  for (int64_t i = 0; i < seq_; ++i)
    for (int64_t j = 0; j < seq_; ++j) m[size_t(i * seq_ + j)] = visible(i, j);
  return m;
}

}  // namespace cpb::test
