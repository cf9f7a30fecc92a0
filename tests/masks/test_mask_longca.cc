// The LongCA-bench variants of the mask kinds (global_sliding_longca,
// prefix_lm_document_abs, shared_question_doclen, block_sparse_topk): exact shapes
// on small masks written out by hand, and every bad parameter named. The property
// suite (test_mask_properties.cc) also runs them against the oracle.
#include <gtest/gtest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "common/errors.h"
#include "masks/generators.h"
#include "masks/mask_spec.h"

namespace cpb {
namespace {

using nlohmann::json;

// Picture of a small mask, one string per query row, '#' visible.
std::vector<std::string> picture(const Mask& m) {
  std::vector<uint8_t> d = m.dense();
  std::vector<std::string> rows;
  for (int64_t i = 0; i < m.seq_q; ++i) {
    std::string r;
    for (int64_t j = 0; j < m.seq_k; ++j) r += d[size_t(i * m.seq_k + j)] ? '#' : '.';
    rows.push_back(r);
  }
  return rows;
}

// A histogram whose documents are all `len` tokens long (the last one cut to fit).
std::string fixed_length_doclen(int64_t len) {
  auto path = std::filesystem::temp_directory_path() /
              ("cpb_fixed_" + std::to_string(len) + "_" + std::to_string(::getpid()) + ".json");
  std::ofstream(path) << R"({"name": "fixed", "source": "test", "unit": "tokens", "bins": [)"
                      << R"({"lo": )" << len << R"(, "hi": )" << len + 1 << R"(, "p": 1}]})";
  return path.string();
}

struct FixedDoclen {
  std::string path;
  explicit FixedDoclen(int64_t len) : path(fixed_length_doclen(len)) {}
  ~FixedDoclen() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};

template <typename F>
void expect_input_error(F&& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "no InputError; wanted one mentioning " << needles.front();
  } catch (const InputError& e) {
    for (const auto& n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos)
          << "message '" << e.what() << "' lacks '" << n << "'";
  }
}

TEST(GlobalSlidingLongca, BottomRightCausalStrips) {
  // S = 8, G = 2, window 2: keys 0..1 seen only by rows with i - j >= 6; rows 0..1
  // see keys 2..i+6; the rest a bidirectional window on [2, 8).
  MaskSpec s = json::parse(R"({"kind": "global_sliding_longca", "global_tokens": 2,
                               "window": 2})")
                   .get<MaskSpec>();
  Mask m = make_mask(s, 8);
  EXPECT_EQ(picture(m), (std::vector<std::string>{"..#####.",  //
                                                  "..######",  //
                                                  "..###...",  //
                                                  "..####..",  //
                                                  "..#####.",  //
                                                  "...#####",  //
                                                  "#...####",  //
                                                  "##...###"}));
  EXPECT_EQ(m.area(), 38);
  EXPECT_EQ(m.slices.size(), 3u);
  // The symmetric kind with the same parameters is a different mask: full strips.
  s.kind = "global_sliding";
  EXPECT_EQ(make_mask(s, 8).area(), 2 * 8 + 6 * 2 + (3 + 4 + 5 + 5 + 4 + 3));
  // G = 0 is the bidirectional window alone; G = S is causal.
  s.kind = "global_sliding_longca";
  s.global_tokens = 0;
  s.window = 1;
  EXPECT_EQ(make_mask(s, 8).area(), 8 + 2 * 7);
  s.global_tokens = 8;
  EXPECT_EQ(make_mask(s, 8).area(), 36);
}

TEST(PrefixLmDocumentAbs, OneAbsolutePrefixForEveryDocument) {
  FixedDoclen five(5);
  MaskSpec s = default_mask_spec("prefix_lm_document_abs");
  s.doclen = five.path;
  s.prefix = 3;
  // S = 12: documents 5, 5, 2. A 5-token document: 3x3 prefix, rows 3 and 4 see 4 and
  // 5 keys; the 2-token document is shorter than the prefix, so bidirectional.
  ASSERT_EQ(document_lengths(s, 12), (std::vector<int64_t>{5, 5, 2}));
  Mask m = make_mask(s, 12);
  EXPECT_EQ(picture(m), (std::vector<std::string>{"###.........",  //
                                                  "###.........",  //
                                                  "###.........",  //
                                                  "####........",  //
                                                  "#####.......",  //
                                                  ".....###....",  //
                                                  ".....###....",  //
                                                  ".....###....",  //
                                                  ".....####...",  //
                                                  ".....#####..",  //
                                                  "..........##",  //
                                                  "..........##"}));
  EXPECT_EQ(m.area(), 2 * (9 + 4 + 5) + 4);
  s.prefix = 0;  // causal documents
  EXPECT_EQ(make_mask(s, 12).area(), 2 * 15 + 3);
  // The relative kind keeps its meaning: 0.6 of 5 tokens is 3, of 2 tokens 1.
  MaskSpec rel = default_mask_spec("prefix_lm_document");
  rel.doclen = five.path;
  rel.prefix_fraction = 0.6;
  EXPECT_EQ(make_mask(rel, 12).area(), 2 * (9 + 4 + 5) + 3);
}

TEST(SharedQuestionDoclen, LengthsFromTheHistogram) {
  FixedDoclen four(4);
  MaskSpec s = default_mask_spec("shared_question_doclen");
  s.doclen = four.path;
  // S = 10: question 4, answers 4 and 2, each seeing the question in full.
  ASSERT_EQ(document_lengths(s, 10), (std::vector<int64_t>{4, 4, 2}));
  Mask m = make_mask(s, 10);
  EXPECT_EQ(picture(m), (std::vector<std::string>{"#.........",  //
                                                  "##........",  //
                                                  "###.......",  //
                                                  "####......",  //
                                                  "#####.....",  //
                                                  "######....",  //
                                                  "#######...",  //
                                                  "########..",  //
                                                  "####....#.",  //
                                                  "####....##"}));
  EXPECT_EQ(m.area(), 10 + (16 + 10) + (8 + 3));
  // The same segments given explicitly make the same mask.
  MaskSpec ex = default_mask_spec("shared_question");
  ex.question = 4;
  ex.answers = 1;
  EXPECT_EQ(make_mask(ex, 8).area(), make_mask(s, 8).area());
  // One document longer than the sequence: the question alone, causal.
  FixedDoclen long_docs(50);
  s.doclen = long_docs.path;
  EXPECT_EQ(make_mask(s, 10).area(), 55);
}

TEST(BlockSparseTopk, ExactlyTopkBlocksPerRowNoGuaranteedDiagonal) {
  MaskSpec s =
      json::parse(R"({"kind": "block_sparse_topk", "block": 8, "topk": 3})").get<MaskSpec>();
  bool some_diagonal_dropped = false;
  for (uint64_t seed = 0; seed < 8; ++seed) {
    s.seed = seed;
    Mask m = make_mask(s, 64);  // 8 x 8 blocks of 8 x 8
    EXPECT_EQ(m.area(), 8 * 3 * 64);
    std::vector<uint8_t> d = m.dense();
    for (int64_t bi = 0; bi < 8; ++bi) {
      int kept = 0;
      for (int64_t bj = 0; bj < 8; ++bj) {
        // A block is all visible or all hidden.
        int seen = 0;
        for (int64_t i = bi * 8; i < bi * 8 + 8; ++i)
          for (int64_t j = bj * 8; j < bj * 8 + 8; ++j) seen += d[size_t(i * 64 + j)];
        ASSERT_TRUE(seen == 0 || seen == 64) << bi << "," << bj;
        kept += seen == 64;
        if (bi == bj && seen == 0) some_diagonal_dropped = true;
      }
      EXPECT_EQ(kept, 3) << "seed " << seed << " block row " << bi;
    }
  }
  EXPECT_TRUE(some_diagonal_dropped);
  // topk = number of blocks is full; a short last block counts as a block.
  s.topk = 8;
  EXPECT_EQ(make_mask(s, 64).area(), 64 * 64);
  s.topk = 1;
  Mask one = make_mask(s, 60);  // blocks 8 x 7 and a 4-token last block
  int64_t area = one.area();
  EXPECT_GE(area, 7 * 8 * 4 + 4 * 4);
  EXPECT_LE(area, 7 * 8 * 8 + 4 * 8);
}

TEST(LongcaKinds, BadValuesAreNamed) {
  struct Case {
    const char* text;
    int64_t seq;
    std::vector<std::string> needles;
  } cases[] = {
      {R"({"kind": "global_sliding_longca", "global_tokens": 101, "window": 1})",
       100,
       {"global_sliding_longca", "global_tokens = 101"}},
      {R"({"kind": "global_sliding_longca", "global_tokens": -1, "window": 1})",
       100,
       {"global_tokens = -1"}},
      {R"({"kind": "global_sliding_longca", "global_tokens": 1, "window": 200})",
       100,
       {"window = 200"}},
      {R"({"kind": "prefix_lm_document_abs", "prefix": -1})", 100, {"prefix = -1"}},
      {R"({"kind": "prefix_lm_document_abs", "prefix": 101})", 100, {"prefix = 101"}},
      {R"({"kind": "block_sparse_topk", "topk": 0})", 100, {"topk = 0", "[1, 1]"}},
      {R"({"kind": "block_sparse_topk", "block": 10, "topk": 11})", 100, {"topk = 11", "[1, 10]"}},
      {R"({"kind": "block_sparse_topk", "block": 0, "topk": 1})",
       100,
       {"block_sparse_topk", "block = 0"}},
      {R"({"kind": "block_sparse_topk", "block": 1, "topk": 1})", 10000, {"block >= 3"}},
      {R"({"kind": "shared_question_doclen", "doclen": "nonesuch"})", 100, {"'nonesuch'"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    expect_input_error([&] { make_mask(json::parse(c.text).get<MaskSpec>(), c.seq); }, c.needles);
  }
  // Required keys and keys of the other variant.
  expect_input_error([] { json::parse(R"({"kind": "block_sparse_topk"})").get<MaskSpec>(); },
                     {"missing required key 'topk'"});
  expect_input_error([] { json::parse(R"({"kind": "prefix_lm_document_abs"})").get<MaskSpec>(); },
                     {"missing required key 'prefix'"});
  expect_input_error(
      [] {
        json::parse(R"({"kind": "block_sparse_topk", "topk": 2, "keep": 0.5})").get<MaskSpec>();
      },
      {"unknown key 'keep'"});
  expect_input_error(
      [] { json::parse(R"({"kind": "shared_question_doclen", "question": 3})").get<MaskSpec>(); },
      {"unknown key 'question'"});
  expect_input_error(
      [] { json::parse(R"({"kind": "block_sparse_topk", "topk": "3"})").get<MaskSpec>(); },
      {"'topk'", "integer"});
}

}  // namespace
}  // namespace cpb
