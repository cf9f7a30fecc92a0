// The trace pieces that need no schedule: the trace communicator (split sees every
// simulated rank, bytes follow the backends' convention) and count_tiles (the
// same FULL/PARTIAL counts as build_block_map, on every mask kind).
#include <gtest/gtest.h>

#include <thread>

#include "masks/block_map.h"
#include "masks/generators.h"
#include "masks/mask_spec.h"
#include "parallel/trace_communicator.h"
#include "parallel/trace_execution.h"

namespace cpb {
namespace {

TEST(TraceCommunicator, SplitSeesEveryRankAndOrdersByKey) {
  const int P = 6;
  TraceWorld world(P);
  std::vector<int> size(P), rank(P), first(P);
  std::vector<std::jthread> threads;
  for (int r = 0; r < P; ++r)
    threads.emplace_back([&, r] {
      auto w = world.communicator(r);
      auto sub = w->split(r % 2, -r);  // reverse order inside each color
      auto* t = dynamic_cast<TraceCommunicator*>(sub.get());
      size[r] = sub->size();
      rank[r] = sub->rank();
      first[r] = t->world_rank(0);
    });
  threads.clear();
  for (int r = 0; r < P; ++r) {
    EXPECT_EQ(size[r], 3);
    EXPECT_EQ(rank[r], 2 - r / 2) << r;  // keys -r: the highest world rank comes first
    EXPECT_EQ(first[r], r % 2 == 0 ? 4 : 5);
  }
}

TEST(TraceCommunicator, CountsBytesLikeTheBackends) {
  TraceWorld world(1);
  auto w = world.communicator(0);
  // One rank alone: collectives move nothing; p2p to itself is not counted.
  w->all_gather(nullptr, nullptr, 100, Device::kCpu);
  EXPECT_EQ(w->stats().bytes_sent(), 0);
  TraceWorld four(4);
  std::vector<CommStats> stats(4);
  std::vector<std::jthread> threads;
  for (int r = 0; r < 4; ++r)
    threads.emplace_back([&, r] {
      auto c = four.communicator(r);
      c->all_to_all(nullptr, nullptr, 10, Device::kCpu);
      c->all_gather(nullptr, nullptr, 10, Device::kCpu);
      c->reduce_scatter_sum(nullptr, nullptr, 10, Device::kCpu);
      P2POp ops[] = {{P2POp::kSend, (r + 1) % 4, nullptr, 7},
                     {P2POp::kRecv, (r + 3) % 4, nullptr, 7}};
      c->start_p2p(ops)->wait();
      stats[r] = c->stats();
    });
  threads.clear();
  for (const auto& s : stats) {
    EXPECT_EQ(s[CommOp::kAllToAll].bytes_sent, 30);
    EXPECT_EQ(s[CommOp::kAllGather].bytes_received, 30);
    EXPECT_EQ(s[CommOp::kReduceScatter].bytes_sent, 120);
    EXPECT_EQ(s[CommOp::kP2P].bytes_sent, 7);
    EXPECT_EQ(s[CommOp::kP2P].bytes_received, 7);
  }
}

TEST(TraceCommunicator, FailedRankReleasesSplit) {
  TraceWorld world(2);
  std::jthread waiter([&] {
    auto c = world.communicator(0);
    EXPECT_THROW(c->split(0, 0), InternalError);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  world.fail();
}

TEST(CountTiles, MatchesBlockMapOnEveryMaskKind) {
  for (const auto& kind : mask_kinds()) {
    for (int64_t seq : {2, 97, 512, 1000}) {
      const Mask m = make_mask(example_mask_spec(kind.name, seq, 3), seq);
      for (auto [bq, bk] : {std::pair<int64_t, int64_t>{16, 16}, {64, 32}, {128, 128}}) {
        const BlockMap bm = build_block_map(m, bq, bk);
        const TileCounts c = count_tiles(m, bq, bk);
        EXPECT_EQ(c.full, bm.count(TileState::kFull)) << kind.name << " S=" << seq << " " << bq;
        EXPECT_EQ(c.partial, bm.count(TileState::kPartial))
            << kind.name << " S=" << seq << " " << bq;
      }
    }
  }
}

// The trace reuses one scratch for every kernel call of a rank: counts through a
// scratch that saw other masks (larger, smaller, other tiles) equal fresh counts.
TEST(CountTiles, ReusedScratchEqualsFreshCounts) {
  TileScratch scratch;
  for (const auto& kind : mask_kinds())
    for (int64_t seq : {1000, 97, 512, 2})
      for (auto [bq, bk] : {std::pair<int64_t, int64_t>{128, 128}, {16, 16}, {64, 32}}) {
        const Mask m = make_mask(example_mask_spec(kind.name, seq, 5), seq);
        const TileCounts fresh = count_tiles(m, bq, bk);
        const TileCounts reused = count_tiles(m, bq, bk, scratch);
        EXPECT_EQ(reused.full, fresh.full) << kind.name << " S=" << seq << " " << bq;
        EXPECT_EQ(reused.partial, fresh.partial) << kind.name << " S=" << seq << " " << bq;
      }
}

// The trace's shared cache gives each mask's own counts and area, one entry per
// distinct content (equal masks from different objects and ranks share it).
TEST(CountTiles, CacheEqualsCountingEachMask) {
  TileCache cache(64, 32);
  TileScratch scratch;
  std::size_t distinct = 0;
  for (const auto& kind : mask_kinds())
    for (int64_t seq : {97, 512, 1000}) {
      const Mask m = make_mask(example_mask_spec(kind.name, seq, 5), seq);
      const Mask copy = m;
      const std::size_t before = cache.size();
      const TileCache::Entry& e = cache.get(m, scratch);
      const TileCounts fresh = count_tiles(m, 64, 32);
      EXPECT_EQ(e.tiles.full, fresh.full) << kind.name << " S=" << seq;
      EXPECT_EQ(e.tiles.partial, fresh.partial) << kind.name << " S=" << seq;
      EXPECT_EQ(e.area, m.area()) << kind.name << " S=" << seq;
      EXPECT_EQ(&cache.get(copy, scratch), &e) << kind.name << " S=" << seq;
      distinct += cache.size() - before;
    }
  EXPECT_EQ(cache.size(), distinct);
  EXPECT_GT(distinct, 10u);
}

TEST(CountTiles, RestrictedShardMasks) {
  const Mask m = make_mask(example_mask_spec("causal_document", 4096, 1), 4096);
  const std::vector<Range> q = {{0, 256}, {3840, 4096}}, k = {{1024, 1536}};
  const Mask r = m.restrict(q, k);
  const BlockMap bm = build_block_map(r, 64, 64);
  const TileCounts c = count_tiles(r, 64, 64);
  EXPECT_EQ(c.full, bm.count(TileState::kFull));
  EXPECT_EQ(c.partial, bm.count(TileState::kPartial));
}

}  // namespace
}  // namespace cpb
