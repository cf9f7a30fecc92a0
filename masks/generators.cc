#include "masks/generators.h"

#include <algorithm>
#include <random>

#include "common/errors.h"
#include "masks/doclen.h"

namespace cpb {
namespace {

// Grids of block_sparse are drawn block by block; beyond this many blocks per side the
// draw and the slice list stop being cheap, so we ask for a bigger block instead.
constexpr int64_t kMaxSparseBlocksPerSide = 4096;

Range all(int64_t seq) { return {0, seq}; }

void require_window(const MaskSpec& s, int64_t seq) {
  CPB_REQUIRE(s.window >= 0 && s.window <= seq, "mask '{}': window = {} must be in [0, seq = {}]",
              s.kind, s.window, seq);
}

void require_fraction(const char* name, double v, const MaskSpec& s) {
  CPB_REQUIRE(v >= 0 && v <= 1, "mask '{}': {} = {} must be in [0, 1]", s.kind, name, v);
}

// Document lengths for the doclen-based kinds; the *_long kinds mix in long documents.
// A document longer than max_doc becomes pieces of max_doc tokens, the last shorter
// (same tokens, same order); max_doc 0 leaves the lengths as sampled.
std::vector<int64_t> cap_documents(const std::vector<int64_t>& lengths, int64_t max_doc) {
  if (max_doc <= 0) return lengths;
  std::vector<int64_t> out;
  for (int64_t len : lengths) {
    for (; len > max_doc; len -= max_doc) out.push_back(max_doc);
    out.push_back(len);
  }
  return out;
}

std::vector<int64_t> sample_documents(const MaskSpec& s, int64_t seq, bool long_mix) {
  DoclenHistogram h = load_doclen(s.doclen);
  std::mt19937_64 rng(s.seed);
  if (!long_mix) return cap_documents(sample_doc_lengths(h, seq, rng), s.max_doc);
  require_fraction("long_share", s.long_share, s);
  return cap_documents(sample_long_mix(h, seq, s.long_share, rng), s.max_doc);
}

std::vector<Range> to_ranges(const std::vector<int64_t>& lengths) {
  std::vector<Range> out;
  int64_t at = 0;
  for (int64_t len : lengths) {
    out.push_back({at, at + len});
    at += len;
  }
  return out;
}

Mask empty_mask(int64_t seq) { return Mask{.seq_q = seq, .seq_k = seq, .slices = {}}; }

// Keep only slices that hold at least one pair, so slice counts mean something.
void push(Mask& m, const MaskSlice& s) {
  if (slice_area(s) > 0) m.slices.push_back(s);
}

Mask make_full(const MaskSpec&, int64_t seq) {
  Mask m = empty_mask(seq);
  push(m, full_slice(all(seq), all(seq)));
  return m;
}

Mask make_causal(const MaskSpec&, int64_t seq) {
  Mask m = empty_mask(seq);
  push(m, causal_slice(all(seq), all(seq)));
  return m;
}

Mask make_sliding_window(const MaskSpec& s, int64_t seq) {
  require_window(s, seq);
  Mask m = empty_mask(seq);
  push(m, window_slice(all(seq), all(seq), s.window, s.window));
  return m;
}

Mask make_causal_sliding_window(const MaskSpec& s, int64_t seq) {
  require_window(s, seq);
  Mask m = empty_mask(seq);
  push(m, window_slice(all(seq), all(seq), s.window, 0));
  return m;
}

Mask make_documents(const MaskSpec& s, int64_t seq, bool causal, bool long_mix) {
  Mask m = empty_mask(seq);
  for (Range d : to_ranges(sample_documents(s, seq, long_mix)))
    push(m, causal ? causal_slice(d, d) : full_slice(d, d));
  return m;
}

Mask make_document(const MaskSpec& s, int64_t seq) { return make_documents(s, seq, false, false); }
Mask make_causal_document(const MaskSpec& s, int64_t seq) {
  return make_documents(s, seq, true, false);
}
Mask make_document_long(const MaskSpec& s, int64_t seq) {
  return make_documents(s, seq, false, true);
}
Mask make_causal_document_long(const MaskSpec& s, int64_t seq) {
  return make_documents(s, seq, true, true);
}

std::vector<int64_t> question_answer_lengths(const MaskSpec& s, int64_t seq) {
  CPB_REQUIRE(s.question >= 1 && s.question < seq,
              "mask 'shared_question': question = {} must be in [1, seq = {}) so answers remain",
              s.question, seq);
  int64_t rest = seq - s.question;
  CPB_REQUIRE(s.answers >= 1 && s.answers <= rest,
              "mask 'shared_question': answers = {} must be in [1, {}] (the {} tokens after the "
              "question, at least one each)",
              s.answers, rest, rest);
  // The first rest % answers answers get one token more than the others.
  std::vector<int64_t> out{s.question};
  for (int64_t a = 0; a < s.answers; ++a)
    out.push_back(rest / s.answers + (a < rest % s.answers ? 1 : 0));
  return out;
}

// Segment 0 is the question (causal); every later segment is an answer that sees the
// question in full and is causal on itself. One segment: the question alone.
Mask question_answer_mask(const std::vector<int64_t>& lengths, int64_t seq) {
  std::vector<Range> parts = to_ranges(lengths);
  Mask m = empty_mask(seq);
  Range question = parts[0];
  push(m, causal_slice(question, question));
  for (size_t a = 1; a < parts.size(); ++a) {
    push(m, full_slice(parts[a], question));
    push(m, causal_slice(parts[a], parts[a]));
  }
  return m;
}

Mask make_shared_question(const MaskSpec& s, int64_t seq) {
  return question_answer_mask(question_answer_lengths(s, seq), seq);
}

// LongCA-bench's shared question: question and answer lengths are consecutive draws
// from the document histogram (the first document is the question).
Mask make_shared_question_doclen(const MaskSpec& s, int64_t seq) {
  return question_answer_mask(sample_documents(s, seq, false), seq);
}

Mask make_causal_blockwise(const MaskSpec& s, int64_t seq) {
  std::vector<Range> docs = to_ranges(sample_documents(s, seq, false));
  Mask m = empty_mask(seq);
  for (Range d : docs) push(m, causal_slice(d, d));
  // The last document also sees every earlier token in full.
  Range last = docs.back();
  push(m, full_slice(last, {0, last.begin}));
  return m;
}

Mask make_prefix_lm_causal(const MaskSpec& s, int64_t seq) {
  CPB_REQUIRE(s.prefix >= 0 && s.prefix <= seq,
              "mask 'prefix_lm_causal': prefix = {} must be in [0, seq = {}]", s.prefix, seq);
  Mask m = empty_mask(seq);
  Range prefix{0, s.prefix}, rest{s.prefix, seq};
  push(m, full_slice(prefix, prefix));
  // Bottom-right aligned over keys [0, seq): row i sees keys j <= i, the prefix included.
  push(m, causal_slice(rest, all(seq)));
  return m;
}

// Per document: the first prefix_of(length) tokens bidirectional, the rest causal and
// seeing the whole prefix.
template <typename PrefixOf>
Mask make_prefix_documents(const MaskSpec& s, int64_t seq, PrefixOf prefix_of) {
  Mask m = empty_mask(seq);
  for (Range d : to_ranges(sample_documents(s, seq, false))) {
    int64_t p = std::clamp<int64_t>(prefix_of(d.size()), 0, d.size());
    Range prefix{d.begin, d.begin + p}, rest{d.begin + p, d.end};
    push(m, full_slice(prefix, prefix));
    push(m, causal_slice(rest, d));
  }
  return m;
}

Mask make_prefix_lm_document(const MaskSpec& s, int64_t seq) {
  require_fraction("prefix_fraction", s.prefix_fraction, s);
  return make_prefix_documents(
      s, seq, [&](int64_t len) { return static_cast<int64_t>(s.prefix_fraction * double(len)); });
}

// LongCA-bench's prefix-LM document: one absolute prefix length for every document; a
// document no longer than it is bidirectional as a whole.
Mask make_prefix_lm_document_abs(const MaskSpec& s, int64_t seq) {
  CPB_REQUIRE(s.prefix >= 0 && s.prefix <= seq,
              "mask 'prefix_lm_document_abs': prefix = {} must be in [0, seq = {}]", s.prefix, seq);
  return make_prefix_documents(s, seq, [&](int64_t len) { return std::min(s.prefix, len); });
}

void require_global_tokens(const MaskSpec& s, int64_t seq) {
  CPB_REQUIRE(s.global_tokens >= 0 && s.global_tokens <= seq,
              "mask '{}': global_tokens = {} must be in [0, seq = {}]", s.kind, s.global_tokens,
              seq);
}

Mask make_global_sliding_impl(const MaskSpec& s, int64_t seq, bool causal) {
  require_global_tokens(s, seq);
  require_window(s, seq);
  const int64_t g = s.global_tokens;
  Range globals{0, g}, rest{g, seq};
  Mask m = empty_mask(seq);
  if (causal) {
    push(m, causal_slice(globals, globals));  // a causal model's first rows: j <= i
  } else {
    push(m, full_slice(globals, all(seq)));  // global rows see every key
  }
  push(m, full_slice(rest, globals));  // every row sees the global columns
  push(m, window_slice(rest, rest, s.window, causal ? 0 : s.window));
  return m;
}

Mask make_global_sliding(const MaskSpec& s, int64_t seq) {
  return make_global_sliding_impl(s, seq, false);
}
Mask make_causal_global_sliding(const MaskSpec& s, int64_t seq) {
  return make_global_sliding_impl(s, seq, true);
}

// LongCA-bench's global+sliding (its distributed benchmark, built on MagiAttention
// slices): both global strips are bottom-right aligned CAUSAL slices, not full ones.
// Keys [0, G) seen by all rows: only the last G rows see them, as a triangle
// (i - j >= S - G). Rows [0, G) over keys [G, S): j - i <= S - G, so the global rows
// miss a triangle of the last keys. The rest is a bidirectional window on [G, S).
Mask make_global_sliding_longca(const MaskSpec& s, int64_t seq) {
  require_global_tokens(s, seq);
  require_window(s, seq);
  Range globals{0, s.global_tokens}, rest{s.global_tokens, seq};
  Mask m = empty_mask(seq);
  push(m, causal_slice(all(seq), globals));
  push(m, causal_slice(globals, rest));
  push(m, window_slice(rest, rest, s.window, s.window));
  return m;
}

Mask make_block_causal_document(const MaskSpec& s, int64_t seq) {
  CPB_REQUIRE(s.block >= 1, "mask 'block_causal_document': block = {} must be >= 1", s.block);
  Mask m = empty_mask(seq);
  for (Range d : to_ranges(sample_documents(s, seq, false))) {
    // Blocks start at the document's first token; the last one may be short.
    for (int64_t b = d.begin; b < d.end; b += s.block) {
      int64_t e = std::min(b + s.block, d.end);
      push(m, full_slice({b, e}, {d.begin, e}));
    }
  }
  return m;
}

// Blocks per side of a block_sparse grid; checks block and the grid size.
int64_t sparse_grid_side(const MaskSpec& s, int64_t seq) {
  CPB_REQUIRE(s.block >= 1, "mask '{}': block = {} must be >= 1", s.kind, s.block);
  const int64_t n = (seq + s.block - 1) / s.block;
  CPB_REQUIRE(n <= kMaxSparseBlocksPerSide,
              "mask '{}': block = {} gives {} blocks per side at seq = {}; at most {} allowed, so "
              "use block >= {}",
              s.kind, s.block, n, seq, kMaxSparseBlocksPerSide,
              (seq + kMaxSparseBlocksPerSide - 1) / kMaxSparseBlocksPerSide);
  return n;
}

// Runs of kept blocks in block row bi become one slice each.
void push_block_row(Mask& m, const MaskSpec& s, int64_t seq, int64_t bi,
                    const std::vector<bool>& kept) {
  const int64_t n = static_cast<int64_t>(kept.size());
  auto edge = [&](int64_t b) { return std::min(b * s.block, seq); };
  for (int64_t bj = 0; bj < n;) {
    if (!kept[static_cast<size_t>(bj)]) {
      ++bj;
      continue;
    }
    int64_t e = bj;
    while (e < n && kept[static_cast<size_t>(e)]) ++e;
    push(m, full_slice({edge(bi), edge(bi + 1)}, {edge(bj), edge(e)}));
    bj = e;
  }
}

Mask make_block_sparse(const MaskSpec& s, int64_t seq) {
  const int64_t n = sparse_grid_side(s, seq);
  CPB_REQUIRE(s.keep > 0 && s.keep <= 1, "mask 'block_sparse': keep = {} must be in (0, 1]",
              s.keep);
  std::mt19937_64 rng(s.seed);
  Mask m = empty_mask(seq);
  for (int64_t bi = 0; bi < n; ++bi) {
    // One draw per off-diagonal block, row-major, whatever keep is, so the stream of
    // draws (and so the mask) depends only on seed and grid size.
    std::vector<bool> kept(static_cast<size_t>(n));
    for (int64_t bj = 0; bj < n; ++bj)
      kept[static_cast<size_t>(bj)] = bi == bj || uniform_unit(rng) < s.keep;
    push_block_row(m, s, seq, bi, kept);
  }
  return m;
}

// Top-k per block row, as MagiAttention's block-sparse pattern (LongCA-bench's
// kernel benchmark) draws it: each query block row keeps exactly topk key blocks
// chosen uniformly without replacement (the top k of i.i.d. random scores), the
// diagonal block no more likely than any other. `seed` drives the draw.
Mask draw_block_sparse_topk(const MaskSpec& s, int64_t seq, uint64_t seed) {
  const int64_t n = sparse_grid_side(s, seq);
  CPB_REQUIRE(s.topk >= 1 && s.topk <= n,
              "mask 'block_sparse_topk': topk = {} must be in [1, {}] (key blocks per row at "
              "block = {}, seq = {})",
              s.topk, n, s.block, seq);
  std::mt19937_64 rng(seed);
  Mask m = empty_mask(seq);
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t bi = 0; bi < n; ++bi) {
    // Partial Fisher-Yates over 0..n-1: the first topk entries are the kept blocks.
    for (int64_t b = 0; b < n; ++b) order[static_cast<size_t>(b)] = b;
    std::vector<bool> kept(static_cast<size_t>(n));
    for (int64_t t = 0; t < s.topk; ++t) {
      int64_t pick = t + static_cast<int64_t>(uniform_index(rng, uint64_t(n - t)));
      std::swap(order[static_cast<size_t>(t)], order[static_cast<size_t>(pick)]);
      kept[static_cast<size_t>(order[static_cast<size_t>(t)])] = true;
    }
    push_block_row(m, s, seq, bi, kept);
  }
  return m;
}

// The shared pattern, and KV head 0's when per_head is set (make_head_masks).
Mask make_block_sparse_topk(const MaskSpec& s, int64_t seq) {
  return draw_block_sparse_topk(s, seq, s.seed);
}

// KV head g's own draw (per_head): head 0 keeps `seed`, so its pattern is the shared
// one; head g > 0 draws from a splitmix64 mix of seed and g, independent of the other
// heads' and of the grid size (any head can be built alone).
Mask make_block_sparse_topk_head(const MaskSpec& s, int64_t seq, int64_t kv_head) {
  if (kv_head == 0) return make_block_sparse_topk(s, seq);
  uint64_t z = s.seed + 0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(kv_head);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return draw_block_sparse_topk(s, seq, z ^ (z >> 31));
}

MaskSpec spec_of(const std::string& kind) {
  MaskSpec s;
  s.kind = kind;
  return s;
}

MaskSpec block_sparse_defaults() {
  MaskSpec s = spec_of("block_sparse");
  s.block = 128;
  s.keep = 0.5;
  return s;
}

MaskSpec with(MaskSpec s, const std::string& kind) {
  s.kind = kind;
  return s;
}

// Defaults shared by the document kinds: the Pile histogram (what LongCA-bench uses
// for its distributed runs), seed 0.
MaskSpec doc_defaults(const std::string& kind) {
  MaskSpec s = spec_of(kind);
  s.doclen = "pile";
  return s;
}

std::vector<MaskKindDef> build_table() {
  std::vector<MaskKindDef> t;
  t.push_back({"full", "every query sees every key", {}, {}, spec_of("full"), make_full});
  t.push_back({"causal", "j <= i (bottom-right aligned)", {}, {}, spec_of("causal"), make_causal});
  t.push_back({"sliding_window",
               "bidirectional window: |i - j| <= window",
               {"window"},
               {"window"},
               spec_of("sliding_window"),
               make_sliding_window});
  t.push_back({"causal_sliding_window",
               "causal window: 0 <= i - j <= window",
               {"window"},
               {"window"},
               spec_of("causal_sliding_window"),
               make_causal_sliding_window});
  t.push_back({"document",
               "varlen: full attention within each document (lengths from doclen, seed)",
               {"doclen", "seed"},
               {},
               doc_defaults("document"),
               make_document});
  t.push_back({"causal_document",
               "varlen: causal attention within each document",
               {"doclen", "seed"},
               {},
               doc_defaults("causal_document"),
               make_causal_document});
  MaskSpec long_defaults = doc_defaults("document_long");
  long_defaults.long_share = 0.6;
  t.push_back({"document_long",
               "document, with a long_share of tokens in long documents of 8K-30K tokens",
               {"doclen", "long_share", "seed"},
               {},
               long_defaults,
               make_document_long});
  t.push_back({"causal_document_long",
               "causal_document, with a long_share of tokens in long documents of 8K-30K tokens",
               {"doclen", "long_share", "seed"},
               {},
               with(long_defaults, "causal_document_long"),
               make_causal_document_long});
  t.push_back({"shared_question",
               "question [0, question) causal; `answers` answers each see the question in full "
               "and are causal on themselves",
               {"question", "answers"},
               {"question", "answers"},
               spec_of("shared_question"),
               make_shared_question});
  t.push_back({"shared_question_doclen",
               "shared_question with question and answer lengths drawn from doclen (LongCA-bench): "
               "the first document is the question",
               {"doclen", "seed"},
               {},
               doc_defaults("shared_question_doclen"),
               make_shared_question_doclen});
  t.push_back({"causal_blockwise",
               "documents causal on themselves; the last document also sees all before it",
               {"doclen", "seed"},
               {},
               doc_defaults("causal_blockwise"),
               make_causal_blockwise});
  t.push_back({"prefix_lm_causal",
               "prefix [0, prefix) bidirectional; later rows causal, seeing the prefix",
               {"prefix"},
               {"prefix"},
               spec_of("prefix_lm_causal"),
               make_prefix_lm_causal});
  MaskSpec prefix_doc = doc_defaults("prefix_lm_document");
  prefix_doc.prefix_fraction = 0.5;
  t.push_back({"prefix_lm_document",
               "per document: first prefix_fraction bidirectional, the rest causal",
               {"doclen", "prefix_fraction", "seed"},
               {},
               prefix_doc,
               make_prefix_lm_document});
  t.push_back({"prefix_lm_document_abs",
               "per document: first min(prefix, length) tokens bidirectional, the rest causal "
               "(one absolute prefix for every document, as LongCA-bench)",
               {"doclen", "prefix", "seed"},
               {"prefix"},
               doc_defaults("prefix_lm_document_abs"),
               make_prefix_lm_document_abs});
  t.push_back({"global_sliding",
               "global_tokens global rows and columns plus a bidirectional |i - j| <= window",
               {"global_tokens", "window"},
               {"global_tokens", "window"},
               spec_of("global_sliding"),
               make_global_sliding});
  t.push_back({"causal_global_sliding",
               "causal: j <= i and (j < global_tokens or i - j <= window) (attention sinks)",
               {"global_tokens", "window"},
               {"global_tokens", "window"},
               spec_of("causal_global_sliding"),
               make_causal_global_sliding});
  t.push_back({"global_sliding_longca",
               "LongCA-bench's global+sliding: |i - j| <= window on [G, S)^2, global strips "
               "bottom-right causal (i - j >= S - G for j < G; j - i <= S - G for i < G <= j)",
               {"global_tokens", "window"},
               {"global_tokens", "window"},
               spec_of("global_sliding_longca"),
               make_global_sliding_longca});
  MaskSpec block_doc = doc_defaults("block_causal_document");
  block_doc.block = 1024;
  t.push_back({"block_causal_document",
               "per document: query block b sees key blocks <= b in full (block tokens each)",
               {"doclen", "block", "seed"},
               {},
               block_doc,
               make_block_causal_document});
  t.push_back({"block_sparse",
               "random block x block tiles kept with probability keep (seeded); diagonal tiles "
               "always kept",
               {"block", "keep", "seed"},
               {},
               block_sparse_defaults(),
               make_block_sparse});
  MaskSpec topk_defaults = spec_of("block_sparse_topk");
  topk_defaults.block = 128;
  t.push_back({"block_sparse_topk",
               "random block x block tiles, exactly topk per block row (seeded), diagonal not "
               "guaranteed; one pattern for all heads, or one draw per KV head with per_head",
               {"block", "topk", "seed", "per_head"},
               {"topk"},
               topk_defaults,
               make_block_sparse_topk});
  t.back().make_head = make_block_sparse_topk_head;
  // Every kind that samples documents takes the optional cap on their length.
  for (MaskKindDef& k : t)
    if (std::find(k.params.begin(), k.params.end(), "doclen") != k.params.end())
      k.params.push_back("max_doc");
  return t;
}

}  // namespace

const std::vector<MaskKindDef>& mask_kind_table() {
  static const std::vector<MaskKindDef> table = build_table();
  return table;
}

const MaskKindDef& find_mask_kind(const std::string& kind) {
  for (const auto& def : mask_kind_table())
    if (def.name == kind) return def;
  std::vector<std::string> names;
  for (const auto& def : mask_kind_table()) names.push_back(def.name);
  CPB_INPUT_ERROR("unknown mask kind '{}'; allowed: {}", kind, fmt::join(names, ", "));
}

MaskSpec default_mask_spec(const std::string& kind) { return find_mask_kind(kind).defaults; }

MaskSpec example_mask_spec(const std::string& kind, int64_t seq, uint64_t seed) {
  CPB_REQUIRE(seq >= 1, "sequence length {} must be >= 1", seq);
  MaskSpec s = default_mask_spec(kind);
  const auto& params = find_mask_kind(kind).params;
  auto uses = [&](const char* p) {
    return std::find(params.begin(), params.end(), p) != params.end();
  };
  if (uses("seed")) s.seed = seed;
  if (uses("window")) s.window = std::max<int64_t>(1, seq / 8);
  if (uses("global_tokens")) s.global_tokens = std::max<int64_t>(1, seq / 16);
  if (uses("prefix")) s.prefix = seq / 3;
  if (uses("question")) {
    CPB_REQUIRE(seq >= 2, "mask 'shared_question' needs seq >= 2, got {}", seq);
    s.question = std::clamp<int64_t>(seq / 4, 1, seq - 1);
    s.answers = std::min<int64_t>(3, seq - s.question);
  }
  if (kind == "block_sparse" || uses("topk")) s.block = std::max<int64_t>(1, (seq + 15) / 16);
  if (uses("topk")) s.topk = std::max<int64_t>(1, (seq + s.block - 1) / s.block / 4);
  if (kind == "block_causal_document") s.block = std::max<int64_t>(1, seq / 32);
  s.window = std::min(s.window, seq);
  s.global_tokens = std::min(s.global_tokens, seq);
  return s;
}

std::vector<int64_t> document_lengths(const MaskSpec& spec, int64_t seq) {
  CPB_REQUIRE(seq >= 1, "sequence length {} must be >= 1", seq);
  const auto& def = find_mask_kind(spec.kind);
  if (spec.kind == "shared_question") return question_answer_lengths(spec, seq);
  if (std::find(def.params.begin(), def.params.end(), "doclen") == def.params.end()) return {seq};
  bool long_mix = std::find(def.params.begin(), def.params.end(), "long_share") != def.params.end();
  return sample_documents(spec, seq, long_mix);
}

}  // namespace cpb
