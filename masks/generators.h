// Mask generators: one table row per kind ties its name to a description, the
// MaskSpec fields it reads (exactly the keys its JSON may hold), its defaults and
// the function that emits its slices. Adding a kind is one function and one row.
// Parameters with no sensible size-independent default (window, global_tokens,
// prefix, question, answers, topk) are required in JSON; the others default per kind.
// A kind whose pattern can differ per head (block_sparse_topk) also gives make_head,
// which masks/head_masks.h calls once per KV head.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "masks/mask.h"
#include "masks/mask_spec.h"

namespace cpb {

struct MaskKindDef {
  std::string name;
  std::string description;
  std::vector<std::string> params;    // MaskSpec fields the kind reads, in JSON order
  std::vector<std::string> required;  // subset of params that JSON must give
  MaskSpec defaults;                  // kind set; params with defaults filled, others 0
  Mask (*make)(const MaskSpec& spec, int64_t seq);
  // Kinds with a per-head variant (MaskSpec::per_head): KV head g's mask; null for the
  // others. make(spec, seq) is KV head 0's.
  Mask (*make_head)(const MaskSpec& spec, int64_t seq, int64_t kv_head) = nullptr;
};

const std::vector<MaskKindDef>& mask_kind_table();
// Throws InputError naming the kind and listing the allowed ones.
const MaskKindDef& find_mask_kind(const std::string& kind);

// The kind's defaults (see masks/README.md); required parameters stay 0.
MaskSpec default_mask_spec(const std::string& kind);
// A representative, valid spec of `kind` for sequence length `seq` (window seq/8,
// prefix seq/3, topk a quarter of the blocks, ...): what tests and demos use to cover
// every kind. shared_question needs seq >= 2; every other kind works from seq = 1.
MaskSpec example_mask_spec(const std::string& kind, int64_t seq, uint64_t seed = 0);

// The segments a kind splits [0, seq) into, in order: its documents for the document
// kinds (what a varlen kernel's cu_seqlens would hold), question then answers for the
// shared_question kinds, {seq} for the others. Sums to seq.
std::vector<int64_t> document_lengths(const MaskSpec& spec, int64_t seq);

}  // namespace cpb
