// Property tests over every mask kind on random sizes and parameters: the slices
// mean what masks/README.md says (independent oracle), are disjoint, and area,
// restrict (single and multi-range) and block_map agree with the dense mask.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <random>

#include "masks/block_map.h"
#include "masks/generators.h"
#include "masks/mask_spec.h"
#include "tests/masks/mask_test_util.h"

namespace cpb {
namespace {

using test::MaskOracle;

std::vector<std::string> kind_names() {
  std::vector<std::string> out;
  for (const auto& k : mask_kinds()) out.push_back(k.name);
  return out;
}

int64_t count(const std::vector<uint8_t>& m) { return std::count(m.begin(), m.end(), 1); }

// Equal dense masks, or the first (q, k) where they differ.
testing::AssertionResult same_dense(const std::vector<uint8_t>& got,
                                    const std::vector<uint8_t>& want, int64_t seq_k) {
  if (got.size() != want.size())
    return testing::AssertionFailure() << "sizes " << got.size() << " vs " << want.size();
  for (size_t x = 0; x < got.size(); ++x)
    if (got[x] != want[x])
      return testing::AssertionFailure()
             << "differ at q=" << int64_t(x) / seq_k << " k=" << int64_t(x) % seq_k << ": got "
             << int(got[x]) << ", want " << int(want[x]);
  return testing::AssertionSuccess();
}

// Random contiguous partition of [0, n) into pieces (some possibly empty).
std::vector<Range> random_partition(int64_t n, std::mt19937_64& rng) {
  int64_t pieces = 1 + int64_t(rng() % 5);
  std::vector<int64_t> cuts{0, n};
  for (int64_t p = 1; p < pieces; ++p) cuts.push_back(int64_t(rng() % uint64_t(n + 1)));
  std::sort(cuts.begin(), cuts.end());
  std::vector<Range> out;
  for (size_t i = 0; i + 1 < cuts.size(); ++i) out.push_back({cuts[i], cuts[i + 1]});
  return out;
}

// Zigzag shard of rank r among P: chunks r and 2P-1-r of 2P near-equal chunks.
std::vector<Range> zigzag(int64_t n, int64_t p, int64_t r) {
  auto edge = [&](int64_t c) { return c * n / (2 * p); };
  return {{edge(r), edge(r + 1)}, {edge(2 * p - 1 - r), edge(2 * p - r)}};
}

// Dense rows/cols of `full` picked by the concatenation of ranges.
std::vector<uint8_t> gather(const std::vector<uint8_t>& full, int64_t seq_k,
                            const std::vector<Range>& qs, const std::vector<Range>& ks) {
  std::vector<uint8_t> out;
  for (auto q : qs)
    for (int64_t i = q.begin; i < q.end; ++i)
      for (auto k : ks)
        for (int64_t j = k.begin; j < k.end; ++j) out.push_back(full[size_t(i * seq_k + j)]);
  return out;
}

void check_restrict(const Mask& m, const std::vector<uint8_t>& dense, std::vector<Range> qs,
                    std::vector<Range> ks) {
  Mask r = m.restrict(std::span<const Range>(qs), std::span<const Range>(ks));
  ASSERT_NO_THROW(r.validate());
  EXPECT_TRUE(same_dense(r.dense(), gather(dense, m.seq_k, qs, ks), r.seq_k));
  EXPECT_EQ(r.area(), count(r.dense()));
}

void check_block_map(const Mask& m, const std::vector<uint8_t>& dense, int64_t bq, int64_t bk) {
  SCOPED_TRACE(testing::Message() << "tiles " << bq << "x" << bk);
  BlockMap bm = build_block_map(m, bq, bk);
  ASSERT_EQ(bm.num_q_tiles, (m.seq_q + bq - 1) / bq);
  ASSERT_EQ(bm.num_k_tiles, (m.seq_k + bk - 1) / bk);
  ASSERT_EQ(bm.rows.size(), bm.cols.size());
  int64_t nonempty = 0;
  for (int64_t qi = 0; qi < bm.num_q_tiles; ++qi)
    for (int64_t kj = 0; kj < bm.num_k_tiles; ++kj) {
      int64_t q0 = qi * bq, q1 = std::min(q0 + bq, m.seq_q);
      int64_t k0 = kj * bk, k1 = std::min(k0 + bk, m.seq_k);
      int64_t seen = 0;
      for (int64_t i = q0; i < q1; ++i)
        for (int64_t j = k0; j < k1; ++j) seen += dense[size_t(i * m.seq_k + j)];
      TileState want = seen == 0                       ? TileState::kEmpty
                       : seen == (q1 - q0) * (k1 - k0) ? TileState::kFull
                                                       : TileState::kPartial;
      ASSERT_EQ(bm.state(qi, kj), want) << "tile " << qi << "," << kj;
      nonempty += want != TileState::kEmpty;
    }
  ASSERT_EQ(int64_t(bm.rows.size()), nonempty);
  // Row view sorted; PARTIAL tiles list exactly the slices that make them up.
  for (int64_t qi = 0; qi < bm.num_q_tiles; ++qi)
    for (int64_t x = bm.row_ptr[size_t(qi)]; x < bm.row_ptr[size_t(qi) + 1]; ++x) {
      const TileRef& t = bm.rows[size_t(x)];
      if (x > bm.row_ptr[size_t(qi)]) {
        ASSERT_LT(bm.rows[size_t(x) - 1].index, t.index);
      }
      if (t.state != TileState::kPartial) continue;
      int64_t q0 = qi * bq, q1 = std::min(q0 + bq, m.seq_q);
      int64_t k0 = int64_t(t.index) * bk, k1 = std::min(k0 + bk, m.seq_k);
      for (int64_t i = q0; i < q1; ++i)
        for (int64_t j = k0; j < k1; ++j) {
          bool any = false;
          for (int32_t s = 0; s < t.slice_count; ++s)
            any |= m.slices[size_t(bm.tile_slices[size_t(t.slice_begin + s)])].visible(i, j);
          ASSERT_EQ(any, dense[size_t(i * m.seq_k + j)] != 0) << i << "," << j;
        }
    }
  // Column view: the transpose of the row view, sorted by q-tile.
  for (int64_t kj = 0; kj < bm.num_k_tiles; ++kj)
    for (int64_t x = bm.col_ptr[size_t(kj)]; x < bm.col_ptr[size_t(kj) + 1]; ++x) {
      const TileRef& c = bm.cols[size_t(x)];
      if (x > bm.col_ptr[size_t(kj)]) {
        ASSERT_LT(bm.cols[size_t(x) - 1].index, c.index);
      }
      ASSERT_EQ(c.state, bm.state(c.index, kj));
      ASSERT_NE(c.state, TileState::kEmpty);
    }
}

class EveryKind : public testing::TestWithParam<std::string> {};

TEST_P(EveryKind, RandomCasesAgreeWithDenseOracle) {
  const std::string kind = GetParam();
  std::mt19937_64 rng(std::hash<std::string>{}(kind) ^ 0x5eed);
  for (int rep = 0; rep < 40; ++rep) {
    int64_t seq = 2 + int64_t(rng() % (rep < 10 ? 12 : 200));
    MaskSpec spec = test::random_spec(kind, seq, rng);
    nlohmann::json j = spec;
    SCOPED_TRACE(testing::Message() << "seq " << seq << " spec " << j.dump());
    Mask m = make_mask(spec, seq);
    ASSERT_NO_THROW(m.validate());
    std::vector<uint8_t> dense = m.dense();
    ASSERT_TRUE(same_dense(dense, MaskOracle(spec, seq).dense(), seq));
    ASSERT_EQ(m.area(), count(dense));

    // Random partitions of q and k: the pieces add up and agree elementwise.
    auto qs = random_partition(seq, rng), ks = random_partition(seq, rng);
    int64_t sum = 0;
    for (auto q : qs)
      for (auto k : ks) {
        check_restrict(m, dense, {q}, {k});
        sum += m.restrict(q, k).area();
      }
    ASSERT_EQ(sum, m.area());
    // Multi-range shards as zigzag sharding builds them, and arbitrary range lists.
    int64_t p = 1 + int64_t(rng() % 4);
    int64_t zsum = 0;
    for (int64_t r = 0; r < p; ++r) {
      auto mine = zigzag(seq, p, r);
      for (int64_t r2 = 0; r2 < p; ++r2) {
        auto theirs = zigzag(seq, p, r2);
        check_restrict(m, dense, mine, theirs);
        zsum += m.restrict(std::span<const Range>(mine), std::span<const Range>(theirs)).area();
      }
    }
    ASSERT_EQ(zsum, m.area());
    auto q_perm = random_partition(seq, rng);
    std::shuffle(q_perm.begin(), q_perm.end(), rng);
    check_restrict(m, dense, q_perm, random_partition(seq, rng));

    check_block_map(m, dense, 1 + int64_t(rng() % 17), 1 + int64_t(rng() % 17));
    check_block_map(m, dense, 16, 16);
    if (HasFatalFailure()) return;
  }
}

TEST_P(EveryKind, ExampleSpecIsValidAtManySizes) {
  for (int64_t seq : {2, 3, 17, 64, 333, 1024}) {
    MaskSpec spec = example_mask_spec(GetParam(), seq, 7);
    Mask m = make_mask(spec, seq);
    ASSERT_NO_THROW(m.validate());
    EXPECT_GT(m.area(), 0);
    if (seq <= 333) {
      EXPECT_TRUE(same_dense(m.dense(), MaskOracle(spec, seq).dense(), seq)) << seq;
    }
  }
}

TEST_P(EveryKind, JsonRoundTrip) {
  std::mt19937_64 rng(99);
  for (int rep = 0; rep < 5; ++rep) {
    MaskSpec spec = test::random_spec(GetParam(), 50, rng);
    nlohmann::json j = spec;
    EXPECT_EQ(j.at("kind"), GetParam());
    // Only "kind" plus the parameters the kind uses (an optional one such as
    // max_doc is written only when set, so it may be absent).
    const auto& params = find_mask_kind(GetParam()).params;
    EXPECT_LE(j.size(), 1 + params.size()) << j.dump();
    for (const auto& [key, value] : j.items())
      EXPECT_TRUE(key == "kind" || std::find(params.begin(), params.end(), key) != params.end())
          << key << " in " << j.dump();
    MaskSpec back = nlohmann::json::parse(j.dump()).get<MaskSpec>();
    EXPECT_EQ(back, spec) << j.dump();
  }
}

TEST_P(EveryKind, SameSpecSameMask) {
  std::mt19937_64 rng(5);
  MaskSpec spec = test::random_spec(GetParam(), 300, rng);
  EXPECT_EQ(make_mask(spec, 300).slices, make_mask(spec, 300).slices);
}

TEST_P(EveryKind, DocumentLengthsCoverTheSequence) {
  MaskSpec spec = example_mask_spec(GetParam(), 5000, 3);
  auto lengths = document_lengths(spec, 5000);
  int64_t sum = 0;
  for (int64_t l : lengths) {
    EXPECT_GE(l, 1);
    sum += l;
  }
  EXPECT_EQ(sum, 5000);
}

INSTANTIATE_TEST_SUITE_P(Masks, EveryKind, testing::ValuesIn(kind_names()),
                         [](const auto& info) { return info.param; });

// Seeded kinds change with the seed (and only with it).
TEST(MaskDeterminism, SeedChangesDocumentsAndBlocks) {
  for (std::string kind : {"document", "causal_document_long", "prefix_lm_document",
                           "block_causal_document", "causal_blockwise", "block_sparse"}) {
    MaskSpec a = example_mask_spec(kind, 100000, 1), b = example_mask_spec(kind, 100000, 2);
    if (kind == "block_sparse") a.block = b.block = 1000;
    EXPECT_EQ(make_mask(a, 100000).slices, make_mask(a, 100000).slices) << kind;
    EXPECT_NE(make_mask(a, 100000).slices, make_mask(b, 100000).slices) << kind;
  }
}

TEST(MaskShapes, SpotChecks) {
  // Bottom-right aligned causal on a square mask is j <= i.
  Mask c = make_mask(default_mask_spec("causal"), 5);
  EXPECT_EQ(c.area(), 15);
  // Bidirectional window 1 at S=5: 5 + 2*4 pairs; causal window 1: 5 + 4.
  MaskSpec w = default_mask_spec("sliding_window");
  w.window = 1;
  EXPECT_EQ(make_mask(w, 5).area(), 13);
  w.kind = "causal_sliding_window";
  EXPECT_EQ(make_mask(w, 5).area(), 9);
  // Global rows and columns: G=1, window 0 at S=4 -> row 0 (4) + column 0 (3) + diagonal (3).
  MaskSpec g = default_mask_spec("global_sliding");
  g.global_tokens = 1;
  EXPECT_EQ(make_mask(g, 4).area(), 10);
  g.kind = "causal_global_sliding";
  EXPECT_EQ(make_mask(g, 4).area(), 1 + 3 + 3);
  // Shared question: Q=2, 2 answers of 2: 3 (question) + 2*(2*2 + 3).
  MaskSpec sq = default_mask_spec("shared_question");
  sq.question = 2;
  sq.answers = 2;
  EXPECT_EQ(make_mask(sq, 6).area(), 3 + 2 * (4 + 3));
  EXPECT_EQ(document_lengths(sq, 7), (std::vector<int64_t>{2, 3, 2}));
  // Prefix LM: prefix 2 at S=4: 4 + rows 2,3 see 3 and 4 keys.
  MaskSpec pl = default_mask_spec("prefix_lm_causal");
  pl.prefix = 2;
  EXPECT_EQ(make_mask(pl, 4).area(), 4 + 3 + 4);
  pl.prefix = 0;
  EXPECT_EQ(make_mask(pl, 4).area(), 10);
  pl.prefix = 4;
  EXPECT_EQ(make_mask(pl, 4).area(), 16);
  // Block sparse with keep = 1 is full.
  MaskSpec bs = default_mask_spec("block_sparse");
  bs.keep = 1;
  bs.block = 3;
  EXPECT_EQ(make_mask(bs, 10).area(), 100);
  // ... and with a tiny keep, about the diagonal blocks only, never an empty row.
  bs.keep = 1e-9;
  EXPECT_EQ(make_mask(bs, 10).area(), 9 + 9 + 9 + 1);
}

}  // namespace
}  // namespace cpb
