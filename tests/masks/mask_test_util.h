// Test helpers for masks: a short-document histogram (so small sequences hold many
// documents), random specs per kind, and an independent visible(i, j) oracle written
// from the formulas of masks/README.md rather than from the generators' slices.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "masks/mask_spec.h"

namespace cpb::test {

// Path of a histogram with documents of 1..47 tokens, written once per process.
const std::string& short_doclen_path();

// A valid random spec of `kind` for sequence length seq (seq >= 2 for shared_question).
MaskSpec random_spec(const std::string& kind, int64_t seq, std::mt19937_64& rng);

// Oracle for visible(i, j): segments come from document_lengths(spec, seq).
class MaskOracle {
 public:
  MaskOracle(const MaskSpec& spec, int64_t seq);
  bool visible(int64_t i, int64_t j) const;
  std::vector<uint8_t> dense() const;

 private:
  MaskSpec spec_;
  int64_t seq_;
  std::vector<int64_t> seg_of_;     // segment (document) index of each token
  std::vector<int64_t> seg_begin_;  // first token of each segment
  std::vector<uint8_t> kept_;       // block_sparse: kept blocks, row-major
  int64_t blocks_ = 0;
};

}  // namespace cpb::test
