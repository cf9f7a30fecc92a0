// Replay on hand-made traces with round numbers (one tile = 1 us, 1 GB/s links,
// no latency), the cost model's pieces, and the profile files' error paths.
#include <gtest/gtest.h>

#include "common/errors.h"
#include "model/cost.h"
#include "model/replay.h"

namespace cpb::model {
namespace {

using nlohmann::json;

KernelProfile unit_kernels() {
  // 4 * 16 * 16 * D(16) * H(1) = 16384 FLOP per tile at 0.016384 TFLOP/s = 1 us.
  json e = {{"kernel", "k"},     {"dtype", "bf16"},
            {"head_dim", 16},    {"pass", "fwd"},
            {"block", {16, 16}}, {"launch_us", 0},
            {"partial_cost", 2}, {"tflops_by_seq_k", {{16, 0.016384}}}};
  json b = e;
  b["pass"] = "bwd";
  b["tflops_by_seq_k"] = {{16, 0.04096}};  // 2.5x the FLOPs at 2.5x the rate: 1 us too
  json p = {{"schema", "cpbench-kernel-profile"},
            {"version", 1},
            {"name", "unit"},
            {"memory_bandwidth_GBps", 1e9},
            {"entries", {e, b}}};
  return parse_kernel_profile(p, "unit");
}

Topology unit_topology(int ranks_per_node) {
  json t = {{"schema", "cpbench-topology"},
            {"version", 1},
            {"name", "unit"},
            {"ranks_per_node", ranks_per_node},
            {"intra_node", {{"latency_us", 0}, {"bandwidth_GBps", 2}}},
            {"inter_node", {{"latency_us", 0}, {"bandwidth_GBps", 1}}},
            {"nics_per_node", 1}};
  return parse_topology(t, "unit");
}

// A trace of P ranks with empty op lists; tests append ops.
Trace empty_trace(int P) {
  Trace t;
  t.problem.shape = {
      .seq_q = 16, .seq_k = 16, .heads_q = 1, .heads_kv = 1, .head_dim = 16, .dtype = DType::kBF16};
  t.ranks.resize(P);
  for (int r = 0; r < P; ++r) t.ranks[r].rank = r;
  return t;
}

void kernel(RankTrace& r, int64_t tiles) {
  r.kernels.push_back({.seq_q = 16,
                       .seq_k = 16,
                       .area = 256 * tiles,
                       .full_tiles = tiles,
                       .heads_q = 1,
                       .heads_kv = 1,
                       .head_dim = 16,
                       .dtype = DType::kBF16});
  r.ops.push_back({.kind = TraceKind::kForward, .id = static_cast<int32_t>(r.kernels.size() - 1)});
}

void exchange(RankTrace& r, int peer, int64_t bytes, int id) {
  TraceOp op{.kind = TraceKind::kP2P, .queue = Queue::kComm, .id = id, .group = 7};
  op.first = static_cast<int32_t>(r.transfers.size());
  r.transfers.push_back({.peer = peer, .send = true, .bytes = bytes});
  r.transfers.push_back({.peer = peer, .send = false, .bytes = bytes});
  op.count = 2;
  r.ops.push_back(op);
}

// Every op so far is the forward pass (the tests replay the forward only).
Prediction replay_forward(Trace& t, int ranks_per_node) {
  for (auto& r : t.ranks) r.backward_begin = r.ops.size();
  return replay(t, unit_kernels(), "k", unit_topology(ranks_per_node), {.backward = false});
}

void complete(RankTrace& r, int id) { r.ops.push_back({.kind = TraceKind::kComplete, .id = id}); }

TEST(Replay, TransferOverlapsTheKernelAndTheRestIsExposed) {
  Trace t = empty_trace(2);
  for (int r = 0; r < 2; ++r) {
    exchange(t.ranks[r], 1 - r, 2'000'000, 0);  // 2 ms at 1 GB/s
    kernel(t.ranks[r], 1000);                   // 1 ms
    complete(t.ranks[r], 0);
  }
  const Prediction p = replay_forward(t, 1);
  EXPECT_NEAR(p.step_seconds, 2e-3, 1e-12);
  EXPECT_NEAR(p.compute_seconds, 1e-3, 1e-12);
  EXPECT_NEAR(p.exposed_comm_seconds, 1e-3, 1e-12);
  EXPECT_NEAR(p.overlap_efficiency, 0.5, 1e-9);
  EXPECT_NEAR(p.time_imbalance, 1.0, 1e-12);
}

TEST(Replay, ALateSenderDelaysItsPeer) {
  Trace t = empty_trace(2);
  kernel(t.ranks[1], 3000);  // rank 1 posts at 3 ms
  for (int r = 0; r < 2; ++r) {
    exchange(t.ranks[r], 1 - r, 2'000'000, 0);
    kernel(t.ranks[r], 1000);
    complete(t.ranks[r], 0);
  }
  const Prediction p = replay_forward(t, 2);
  // Same node: 2 GB/s, 1 ms transfer from 3 ms; rank 0 computed 1 ms then waited.
  EXPECT_NEAR(p.ranks[0].step_seconds, 4e-3, 1e-12);
  EXPECT_NEAR(p.ranks[0].exposed_comm_seconds, 3e-3, 1e-12);
  EXPECT_NEAR(p.ranks[1].step_seconds, 4e-3, 1e-12);
  EXPECT_NEAR(p.ranks[1].exposed_comm_seconds, 0, 1e-12);
}

TEST(Replay, RingAllGatherAcrossNodesRunsAtTheNicShare) {
  Trace t = empty_trace(4);
  t.groups[3] = {0, 1, 2, 3};
  for (auto& r : t.ranks)
    r.ops.push_back(
        {.kind = TraceKind::kAllGather, .queue = Queue::kComm, .group = 3, .bytes = 1'000'000});
  // Two nodes of two ranks, one NIC each: both ranks of a node cross at once, so
  // each gets half a NIC: 3 steps x 1 MB at 0.5 GB/s = 6 ms.
  const Prediction p = replay_forward(t, 2);
  EXPECT_NEAR(p.step_seconds, 6e-3, 1e-12);
  EXPECT_NEAR(p.exposed_comm_seconds, 6e-3, 1e-12);
}

TEST(Replay, AMessageNobodySendsIsAnError) {
  Trace t = empty_trace(2);
  exchange(t.ranks[0], 1, 10, 0);
  complete(t.ranks[0], 0);
  EXPECT_THROW(replay_forward(t, 1), InternalError);
}

TEST(Replay, ASendNobodyReceivesStalls) {
  Trace t = empty_trace(2);
  TraceOp op{.kind = TraceKind::kP2P, .queue = Queue::kComm, .id = 0, .group = 7, .count = 1};
  t.ranks[0].transfers.push_back({.peer = 1, .send = true, .bytes = 10});
  t.ranks[0].ops.push_back(op);
  complete(t.ranks[0], 0);
  EXPECT_THROW(replay_forward(t, 1), InternalError);
}

// Messages on one channel pair in order (the n-th send is the n-th receive), each
// with its own size: 1 MB then 3 MB at 1 GB/s across nodes, posted back to back on
// the comm queue, which is serial.
TEST(Replay, MessagesOfOneChannelPairInOrder) {
  Trace t = empty_trace(2);
  for (int r = 0; r < 2; ++r) {
    exchange(t.ranks[r], 1 - r, 1'000'000, 0);
    exchange(t.ranks[r], 1 - r, 3'000'000, 1);
    complete(t.ranks[r], 0);
    complete(t.ranks[r], 1);
  }
  const Prediction p = replay_forward(t, 1);
  EXPECT_NEAR(p.step_seconds, 4e-3, 1e-12);
}

// A kernel's own scratch counts in the peak where it lands on the bytes live then.
TEST(Replay, PeakMemoryHoldsTheKernelScratch) {
  Trace t = empty_trace(1);
  t.ranks[0].memory.peak_bytes = 5000;
  kernel(t.ranks[0], 1);
  t.ranks[0].kernels.back().live_bytes = 4000;
  t.ranks[0].kernels.back().heads_q = 2;  // GQA: 2 query heads on 1 KV head
  KernelProfile k = unit_kernels();
  for (KernelEntry& e : k.entries)
    e.scratch = {.per_q_head = 10, .per_k_kv_head_gqa = 100, .per_k_q_head_gqa = 1};
  t.ranks[0].backward_begin = t.ranks[0].ops.size();
  const Prediction p = replay(t, k, "k", unit_topology(1), {.backward = false});
  // 16 rows x (10 x 2 query heads) + 16 keys x (100 x 1 KV head + 1 x 2 query heads)
  EXPECT_EQ(p.peak_memory_bytes, 4000 + 320 + 1632);
  EXPECT_EQ(bound(t, k, "k", {.backward = false}).peak_memory_bytes, 4000 + 320 + 1632);
  t.ranks[0].kernels.back().live_bytes = 100;  // the allocations' own peak is higher
  EXPECT_EQ(replay(t, k, "k", unit_topology(1), {.backward = false}).peak_memory_bytes, 5000);
}

TEST(Replay, BoundIsTheBusiestComputeQueue) {
  Trace t = empty_trace(2);
  for (int r = 0; r < 2; ++r) {
    exchange(t.ranks[r], 1 - r, 2'000'000, 0);
    kernel(t.ranks[r], 1000 + 500 * r);
    complete(t.ranks[r], 0);
  }
  for (auto& r : t.ranks) r.backward_begin = r.ops.size();
  const Bound b = bound(t, unit_kernels(), "k", {.backward = false});
  EXPECT_NEAR(b.compute_queue_seconds, 1.5e-3, 1e-12);
  EXPECT_LE(b.compute_queue_seconds, replay_forward(t, 1).step_seconds);
}

TEST(Cost, PartialTilesAndDeviceFill) {
  const KernelProfile k = unit_kernels();
  const KernelEntry& e = k.find("k", DType::kBF16, 16, false);
  KernelCall c{.seq_q = 16,
               .seq_k = 16,
               .full_tiles = 3,
               .partial_tiles = 2,
               .heads_q = 1,
               .head_dim = 16,
               .dtype = DType::kBF16};
  EXPECT_NEAR(kernel_seconds(e, c), 7e-6, 1e-15);  // 3 + 2 x partial_cost 2
  KernelEntry wide = e;
  wide.parallel_units = 4;  // one q-tile x one head fills a quarter of the device
  EXPECT_NEAR(kernel_seconds(wide, c), 28e-6, 1e-15);
}

// rate_by keys_per_row: a call is read at the keys its rows visit, (FULL + PARTIAL)
// / q-tiles x block_k, clamped to [block_k, S_k]; a full-mask call (every tile of a
// row visited) reads at S_k as before, and seq_k entries ignore the tiles.
TEST(Cost, RateKeyIsTheKeysARowVisits) {
  KernelEntry e;
  e.block_q = e.block_k = 64;
  e.rates = {{256, 1.0}, {4096, 4.0}};
  EXPECT_EQ(rate_key(e, 1024, 4096, 16 * 64), 4096);  // seq_k: the tiles do not matter
  e.rate_by = RateBy::kKeysPerRow;
  EXPECT_EQ(rate_key(e, 1024, 4096, 16 * 64), 4096);  // full: 64 tiles per q-tile row
  EXPECT_EQ(rate_key(e, 1024, 4096, 16 * 4), 256);    // 4 tiles a row: 256 keys
  EXPECT_EQ(rate_key(e, 1024, 4096, 1), 64);          // under one tile a row: block_k
  e.rate_by = RateBy::kSeqQ;                          // the call's query rows, whatever the mask
  EXPECT_EQ(rate_key(e, 1024, 4096, 16 * 64), 1024);
  EXPECT_EQ(rate_key(e, 1024, 4096, 1), 1024);
  EXPECT_NEAR(rate_at(e.rates, 1024), 2.5, 1e-12);     // linear in log S between points
  EXPECT_NEAR(rate_at(e.rates, 1 << 20), 4.0, 1e-12);  // flat past the end
}

TEST(Profiles, ShippedOnesLoadAndNameWhatIsMissing) {
  const KernelProfile k = load_kernel_profile("h100_flash");
  EXPECT_NO_THROW(k.find("fa3", DType::kBF16, 128, true));
  try {
    k.find("fa3", DType::kF16, 128, false);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("dtype fp16"), std::string::npos) << e.what();
  }
  const Topology t = load_topology("h100_8x_ndr400");
  EXPECT_NO_THROW(t.check_world(64));
  EXPECT_THROW(t.check_world(12), InputError);
  try {
    load_topology("no_such_profile");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_profile"), std::string::npos);
  }
}

TEST(Profiles, BadFieldsAreNamed) {
  json p = {{"schema", "cpbench-topology"}, {"version", 1}, {"name", "x"}, {"ranks_per_node", 8}};
  try {
    parse_topology(p, "x.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("intra_node"), std::string::npos) << e.what();
  }
  json k = {{"schema", "cpbench-topology"}, {"version", 1}};
  EXPECT_THROW(parse_kernel_profile(k, "k.json"), InputError);  // wrong schema
  json kp = to_json(unit_kernels());
  kp["entries"][0]["scratch_bytes"] = {{"per_token", 4}};
  try {
    parse_kernel_profile(kp, "k.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("per_token"), std::string::npos) << e.what();
  }
  kp = to_json(unit_kernels());
  kp["entries"][0]["rate_by"] = "keys";
  try {
    parse_kernel_profile(kp, "k.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("rate_by 'keys'"), std::string::npos) << e.what();
  }
  for (const char* by : {"keys_per_row", "seq_q", "seq_k"}) {  // written back as read
    kp["entries"][0]["rate_by"] = by;
    EXPECT_EQ(to_json(parse_kernel_profile(kp, "k.json"))["entries"][0]["rate_by"], by);
  }
  Topology fixed = unit_topology(4);
  fixed.nodes = 2;
  EXPECT_THROW(fixed.check_world(4), InputError);
  EXPECT_NO_THROW(fixed.check_world(8));
}

}  // namespace
}  // namespace cpb::model
