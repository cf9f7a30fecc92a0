// MaskSpec: a mask as plain, JSON-round-tripping data (it goes into every report)
// plus the generators that turn it into slices for a sequence length. Parameters a
// kind does not use stay at their defaults and are omitted from its JSON.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "masks/mask.h"

namespace cpb {

struct MaskSpec {
  std::string kind = "full";   // one of mask_kinds()
  int64_t window = 0;          // sliding windows: |i-j| <= window, or 0 <= i-j <= window
  int64_t global_tokens = 0;   // global_sliding: G sink tokens, global rows and columns
  int64_t prefix = 0;          // prefix_lm_causal, prefix_lm_document_abs: prefix length
  double prefix_fraction = 0;  // prefix_lm_document: prefix share of each document
  int64_t question = 0;        // shared_question: question span length
  int64_t answers = 0;         // shared_question: number of answers splitting the rest
  int64_t block = 0;           // block_causal_document, block_sparse: block size in tokens
  double keep = 0;             // block_sparse: kept fraction of blocks, (0, 1]
  int64_t topk = 0;            // block_sparse_topk: key blocks kept per query block row
  std::string doclen;          // document kinds: histogram name (pile, prolong64k, ...) or file
  double long_share = 0;       // *_long kinds: share of tokens in long documents
  uint64_t seed = 0;           // document lengths and block_sparse(_topk) draws
  // Document kinds: longest document in tokens; a longer sampled one is cut into pieces
  // of max_doc (the last shorter). 0: no cap. Written to JSON only when set, so a spec
  // without it keeps its JSON (and case ids).
  int64_t max_doc = 0;
  // block_sparse_topk: one draw per KV head instead of one for every head (masks/
  // head_masks.h). Written to JSON only when set.
  bool per_head = false;

  bool operator==(const MaskSpec&) const = default;
};

// All kinds, e.g. "full", "causal", "sliding_window", "causal_sliding_window",
// "document", "causal_document", ... with a one-line description each.
struct MaskKindInfo {
  std::string name;
  std::string description;
};
const std::vector<MaskKindInfo>& mask_kinds();

// Throws InputError naming the bad parameter (unknown kind, window > S, ...).
Mask make_mask(const MaskSpec& spec, int64_t seq);

void to_json(nlohmann::json& j, const MaskSpec& spec);
void from_json(const nlohmann::json& j, MaskSpec& spec);  // rejects unknown keys

}  // namespace cpb
