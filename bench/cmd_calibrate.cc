// `cpbench calibrate`: measure this machine into the model's profile files.
// --kernel K: one rank; the kernel on full masks over a grid of sizes gives the
//   FULL-tile TFLOP/s by key length; causal, windowed and document masks (lower
//   tile densities, many PARTIAL tiles) at one size give the PARTIAL-tile cost.
// --comm: under mpirun; ping-pong between rank 0 and every other rank, all-to-all
//   and all-gather over message sizes; ranks on rank 0's host give the intra-node
//   link class, ranks on other hosts the inter-node class (latency = the small-
//   message time, bandwidth = the large-message rate). In a build with NCCL, when
//   every rank has a GPU of its own, the ping-pong is repeated over NCCL on device
//   buffers and the link classes are NCCL's (what GPU runs with --comm nccl take);
//   otherwise the file and stderr say that NCCL was not measured, and why.
// Decision: the fits are the simplest the model uses (a rate table, one factor,
// latency + bytes/bandwidth), and the raw measurements go into the file beside them.
#include <fmt/format.h>
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <tuple>

#ifdef CPB_HAVE_MPI
#include <mpi.h>

#include "parallel/mpi_communicator.h"
#endif
#ifdef CPB_HAVE_NCCL
#include "common/cuda_runtime.h"
#include "parallel/nccl_communicator.h"
#endif

#include "bench/fill.h"
#include "bench/model_commands.h"
#include "common/errors.h"
#include "kernels/kernel.h"
#include "masks/generators.h"
#include "masks/mask_spec.h"
#include "model/cost.h"
#include "model/profile.h"
#include "parallel/trace_execution.h"
#include "reports/atomic_write.h"
#include "reports/provenance.h"

namespace cpb::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct CalibrateArgs {
  std::string kernel;
  bool comm = false;
  std::string out;
  std::string name;
  int64_t heads = 8, head_dim = 64, block = 64, max_seq = 4096;
  std::string dtype = "fp32";
  int reps = 3;
  int ranks_per_node = 0;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Buffers of one kernel call of Sq query rows against Sk keys (host tensors).
struct CallBuffers {
  std::vector<std::byte> q, k, v, out, dout;
  std::vector<float> lse, dq, dk, dv;
  TensorView tq, tk, tv, tout, tdout, tdq, tdk, tdv;
  LseView tlse;
  CallBuffers(int64_t Sq, int64_t Sk, int64_t H, int64_t D, DType dt) {
    const std::size_t nq = Sq * H * D, nk = Sk * H * D, es = dtype_size(dt);
    for (auto* b : {&q, &out, &dout}) b->assign(nq * es, std::byte{0});
    for (auto* b : {&k, &v}) b->assign(nk * es, std::byte{0});
    lse.assign(Sq * H, 0.f);
    dq.assign(nq, 0.f);
    for (auto* b : {&dk, &dv}) b->assign(nk, 0.f);
    auto view = [&](void* p, DType t, int64_t S) {
      return packed_view(p, t, Device::kCpu, S, H, D);
    };
    tq = view(q.data(), dt, Sq);
    tk = view(k.data(), dt, Sk);
    tv = view(v.data(), dt, Sk);
    tout = view(out.data(), dt, Sq);
    tdout = view(dout.data(), dt, Sq);
    tdq = view(dq.data(), DType::kF32, Sq);
    tdk = view(dk.data(), DType::kF32, Sk);
    tdv = view(dv.data(), DType::kF32, Sk);
    tlse = {lse.data(), Device::kCpu, Sq, H, H};
    fill_tensor(tq, 1, FillTensor::kQ, {{0, Sq}});
    fill_tensor(tk, 1, FillTensor::kK, {{0, Sk}});
    fill_tensor(tv, 1, FillTensor::kV, {{0, Sk}});
    fill_tensor(tdout, 1, FillTensor::kDout, {{0, Sq}});
  }
};

// Seconds of one call, forward or backward. Each of `reps` samples (after a warm-up)
// repeats the call until it has run for at least 0.1 s and divides. Decision: when
// several ranks share a core (the oversubscribed validation runs), a call shorter
// than the scheduler's time slice can run whole inside one slice at an unshared
// core's speed, so single short calls measure another machine than long ones;
// batches see the same share of the core at every size. The median sample is kept,
// since on a shared core the fastest sample is the least shared one, not the norm.
double time_call(Kernel& k, const Mask& m, CallBuffers& b, bool bwd, int reps) {
  const ForwardArgs f{
      .q = b.tq, .k = b.tk, .v = b.tv, .mask = &m, .out = b.tout, .lse = b.tlse, .scale = 0.125f};
  const BackwardArgs g{.q = b.tq,
                       .k = b.tk,
                       .v = b.tv,
                       .mask = &m,
                       .out = b.tout,
                       .dout = b.tdout,
                       .lse = b.tlse,
                       .dq = b.tdq,
                       .dk = b.tdk,
                       .dv = b.tdv,
                       .scale = 0.125f,
                       .accumulate = false};
  const auto batch = [&](int64_t calls) {
    const auto t0 = Clock::now();
    for (int64_t i = 0; i < calls; ++i) bwd ? k.backward(g) : k.forward(f);
    return std::chrono::duration<double>(Clock::now() - t0).count() / double(calls);
  };
  k.forward(f);  // warm-up; also the out and lse the backward reads
  constexpr double kMinSampleSeconds = 0.1;
  const double first = batch(1);
  const auto calls =
      static_cast<int64_t>(std::clamp(std::ceil(kMinSampleSeconds / first), 1.0, 1e5));
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) t.push_back(batch(calls));
  return median(t);
}

// Which length a pass's rate follows, measured rather than assumed: calls of S/2
// query rows against S keys (full mask) at the table's two largest sizes, against the
// square table read at their keys (keys_per_row) and at their rows (seq_q). On this
// project's CPU kernel the forward follows the keys each row streams, while the
// backward streams every query row of the call for each key tile and follows the
// rows. The closer reading wins; keys_per_row where the table cannot tell them apart.
model::RateBy measure_rate_by(Kernel& k, const CalibrateArgs& a, DType dt,
                              const model::KernelEntry& e, double flop_per_tile,
                              nlohmann::json& raw) {
  const char* pass = e.backward ? "bwd" : "fwd";
  double by_keys = 0, by_rows = 0;
  int n = 0;
  for (std::size_t i = e.rates.size() >= 3 ? e.rates.size() - 2 : 1; i < e.rates.size(); ++i) {
    const int64_t S = e.rates[i].seq_k, rows = S / 2;
    CallBuffers b(rows, S, a.heads, a.head_dim, dt);
    const Mask m = make_mask(example_mask_spec("full", S), S).restrict(Range{0, rows}, Range{0, S});
    const TileCounts tc = count_tiles(m, a.block, a.block);
    const double t = time_call(k, m, b, e.backward, a.reps);
    const double tflops = tc.full * flop_per_tile / t / 1e12;
    ++n;
    by_keys += std::abs(std::log(tflops / model::rate_at(e.rates, S)));
    by_rows += std::abs(std::log(tflops / model::rate_at(e.rates, rows)));
    raw.push_back({{"pass", pass},
                   {"mask", "full"},
                   {"seq_q", rows},
                   {"seq", S},
                   {"full_tiles", tc.full},
                   {"partial_tiles", tc.partial},
                   {"seconds", t}});
    fmt::print(stderr, "calibrate {} {} full {} rows x {} keys: {:.3f} ms, {:.3f} TFLOP/s\n",
               a.kernel, pass, rows, S, t * 1e3, tflops);
  }
  if (n > 0) by_keys /= n, by_rows /= n;
  const model::RateBy by = by_rows < by_keys ? model::RateBy::kSeqQ : model::RateBy::kKeysPerRow;
  // The evidence goes into the file: scripts/perf/median_profile.py decides again from
  // the median of several processes' errors.
  raw.push_back({{"pass", pass},
                 {"rate_by_error", {{"keys_per_row", by_keys}, {"seq_q", by_rows}}},
                 {"rate_by", model::to_string(by)}});
  fmt::print(stderr,
             "calibrate {} {}: rate read at {} (mean |log error| of the table read at the keys "
             "{:.3f}, at the rows {:.3f})\n",
             a.kernel, pass, model::to_string(by), by_keys, by_rows);
  return by;
}

model::KernelEntry calibrate_pass(Kernel& k, const CalibrateArgs& a, DType dt, bool bwd,
                                  nlohmann::json& raw) {
  model::KernelEntry e{.kernel = a.kernel,
                       .dtype = dt,
                       .head_dim = a.head_dim,
                       .backward = bwd,
                       .block_q = a.block,
                       .block_k = a.block,
                       .parallel_units = omp_get_max_threads(),
                       .rate_by = model::RateBy::kKeysPerRow};
  const double flop_per_tile = (bwd ? 10.0 : 4.0) * a.block * a.block * a.head_dim * a.heads;
  const char* pass = bwd ? "bwd" : "fwd";
  // Full masks: every tile FULL, the rate by key length.
  for (int64_t S = 4 * a.block; S <= a.max_seq; S *= 2) {
    CallBuffers b(S, S, a.heads, a.head_dim, dt);
    const Mask m = make_mask(example_mask_spec("full", S), S);
    const TileCounts tc = count_tiles(m, a.block, a.block);
    const double t = time_call(k, m, b, bwd, a.reps);
    const double tflops = tc.full * flop_per_tile / t / 1e12;
    e.rates.push_back({S, tflops});
    raw.push_back({{"pass", pass},
                   {"mask", "full"},
                   {"seq", S},
                   {"full_tiles", tc.full},
                   {"partial_tiles", tc.partial},
                   {"seconds", t}});
    fmt::print(stderr, "calibrate {} {} full S={}: {:.3f} ms, {:.3f} TFLOP/s\n", a.kernel, pass, S,
               t * 1e3, tflops);
  }
  CPB_REQUIRE(!e.rates.empty(), "calibrate: --max-seq {} is below 4 tiles of {}", a.max_seq,
              a.block);
  // Lower densities at the largest size: what a PARTIAL tile costs in FULL tiles.
  const int64_t S = e.rates.back().seq_k;
  e.rate_by = measure_rate_by(k, a, dt, e, flop_per_tile, raw);
  CallBuffers b(S, S, a.heads, a.head_dim, dt);
  std::vector<double> factors;
  for (const char* kind : {"causal", "causal_sliding_window", "causal_document", "document"}) {
    const Mask m = make_mask(example_mask_spec(kind, S, 1), S);
    const TileCounts tc = count_tiles(m, a.block, a.block);
    const double t = time_call(k, m, b, bwd, a.reps);
    // In FULL tiles at the rate of the rows this mask has (the model reads it there).
    const int64_t key = model::rate_key(e, S, S, tc.full + tc.partial);
    const double tiles = t * model::rate_at(e.rates, key) * 1e12 / flop_per_tile;
    if (tc.partial > 0) factors.push_back(std::max(0.0, (tiles - tc.full) / tc.partial));
    raw.push_back({{"pass", pass},
                   {"mask", kind},
                   {"seq", S},
                   {"full_tiles", tc.full},
                   {"partial_tiles", tc.partial},
                   {"seconds", t}});
    fmt::print(stderr, "calibrate {} {} {} S={}: {:.3f} ms ({} full, {} partial tiles)\n", a.kernel,
               pass, kind, S, t * 1e3, tc.full, tc.partial);
  }
  e.partial_cost = factors.empty() ? 1.0 : median(factors);
  e.source = fmt::format("cpbench calibrate --kernel {} on this machine ({} threads)", a.kernel,
                         omp_get_max_threads());
  return e;
}

// Copy bandwidth of this host (the model's cost of copies and merges).
double memory_bandwidth() {
  std::vector<char> src(64 << 20, 1), dst(64 << 20);
  std::vector<double> t;
  for (int r = 0; r < 4; ++r) {
    const auto t0 = Clock::now();
    std::copy(src.begin(), src.end(), dst.begin());
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return 2.0 * src.size() / median(t);  // read + write
}

int calibrate_kernel(const CalibrateArgs& a) {
  auto k = KernelRegistry::instance().create(a.kernel);
  const DType dt = parse_dtype(a.dtype);
  const Support s = k->supports({.seq_q = a.max_seq,
                                 .seq_k = a.max_seq,
                                 .heads_q = a.heads,
                                 .heads_kv = a.heads,
                                 .head_dim = a.head_dim,
                                 .dtype = dt});
  CPB_REQUIRE(s.ok(), "calibrate: kernel {} cannot run {} D={}: {}", a.kernel, a.dtype, a.head_dim,
              s.reason);
  model::KernelProfile p;
  p.name = a.name.empty() ? fmt::format("{}_{}", a.kernel, reports::local_hostname()) : a.name;
  p.device = reports::local_cpu_model();
  p.memory_bandwidth = memory_bandwidth();
  nlohmann::json raw = nlohmann::json::array();
  p.entries.push_back(calibrate_pass(*k, a, dt, false, raw));
  p.entries.push_back(calibrate_pass(*k, a, dt, true, raw));
  p.sources = {fmt::format("measured by cpbench calibrate --kernel {} on {} ({}), {} UTC", a.kernel,
                           reports::local_hostname(), p.device, reports::utc_now_iso8601())};
  nlohmann::json j = model::to_json(p);
  j["measurements"] = raw;
  reports::write_json_atomic(a.out, j);
  fmt::print(stderr, "wrote {}\n", a.out);
  return 0;
}

#ifdef CPB_HAVE_MPI
// Seconds of one exchange of `bytes` between ranks 0 and `peer` (half a round trip).
double ping_pong(int peer, int64_t bytes, std::vector<char>& buf, int reps) {
  int me = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &me);
  std::vector<double> t;
  for (int r = 0; r < reps + 1; ++r) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime();
    if (me == 0) {
      MPI_Send(buf.data(), static_cast<int>(bytes), MPI_BYTE, peer, 0, MPI_COMM_WORLD);
      MPI_Recv(buf.data(), static_cast<int>(bytes), MPI_BYTE, peer, 0, MPI_COMM_WORLD,
               MPI_STATUS_IGNORE);
    } else if (me == peer) {
      MPI_Recv(buf.data(), static_cast<int>(bytes), MPI_BYTE, 0, 0, MPI_COMM_WORLD,
               MPI_STATUS_IGNORE);
      MPI_Send(buf.data(), static_cast<int>(bytes), MPI_BYTE, 0, 0, MPI_COMM_WORLD);
    }
    if (r > 0) t.push_back((MPI_Wtime() - t0) / 2);
  }
  return median(t);
}

// Ping-pong points by link class, over one backend; `reason` says why it was not measured.
struct LinkPoints {
  std::vector<std::pair<int64_t, double>> intra, inter;
  std::string reason;
};

#ifdef CPB_HAVE_NCCL
// ping_pong() over a Communicator on device buffers (the NCCL path).
double device_ping_pong(Communicator& c, int peer, std::size_t bytes, void* buf, int reps) {
  const int other = c.rank() == 0 ? peer : 0;
  const P2POp send{P2POp::kSend, other, buf, bytes, Device::kCuda};
  const P2POp recv{P2POp::kRecv, other, buf, bytes, Device::kCuda};
  std::vector<double> t;
  for (int r = 0; r < reps + 1; ++r) {
    c.barrier();
    const auto t0 = Clock::now();
    if (c.rank() == 0) {
      c.start_p2p({&send, 1})->wait();
      c.start_p2p({&recv, 1})->wait();
    } else if (c.rank() == peer) {
      c.start_p2p({&recv, 1})->wait();
      c.start_p2p({&send, 1})->wait();
    }
    if (r > 0) t.push_back(std::chrono::duration<double>(Clock::now() - t0).count() / 2);
  }
  return median(t);
}

// Collective. The NCCL constructor checks every rank's GPUs together, so a launch
// without one GPU per rank gives the same reason on every rank, and none waits.
LinkPoints nccl_points(int intra_peer, int inter_peer, const std::vector<int64_t>& sizes, int reps,
                       nlohmann::json& raw) {
  LinkPoints pts;
  MpiCommunicator boot(MPI_COMM_WORLD, /*owns_comm=*/false);
  std::unique_ptr<NcclCommunicator> nccl;  // destroyed before its bootstrap
  try {
    nccl = std::make_unique<NcclCommunicator>(boot);
  } catch (const InputError& e) {
    pts.reason = e.what();
    return pts;
  }
  CPB_CUDA_CHECK(cudaSetDevice(nccl->device()));
  DeviceAllocator alloc;
  DeviceBuffer buf(alloc, static_cast<std::size_t>(sizes.back()));
  for (int64_t b : sizes)
    for (auto [peer, cls, out] : {std::tuple{intra_peer, "intra", &pts.intra},
                                  std::tuple{inter_peer, "inter", &pts.inter}}) {
      if (peer <= 0) continue;
      out->push_back(
          {b, device_ping_pong(*nccl, peer, static_cast<std::size_t>(b), buf.data(), reps)});
      raw.push_back({{"op", "ping_pong"},
                     {"backend", "nccl"},
                     {"class", cls},
                     {"bytes", b},
                     {"seconds", out->back().second}});
    }
  return pts;
}
#else
LinkPoints nccl_points(int, int, const std::vector<int64_t>&, int, nlohmann::json&) {
  return {.intra = {}, .inter = {}, .reason = "this build has no NCCL (built without CUDA/NCCL)"};
}
#endif

// Latency and bandwidth from the smallest and the largest message.
model::LinkClass fit(const std::vector<std::pair<int64_t, double>>& pts) {
  const auto& small = pts.front();
  const auto& big = pts.back();
  const double bw = double(big.first - small.first) / std::max(1e-9, big.second - small.second);
  return {.latency = small.second, .bandwidth = bw};
}

// Ping-pong from rank 0 to one rank on its host and one on another, over sizes.
LinkPoints mpi_points(int intra_peer, int inter_peer, const std::vector<int64_t>& sizes, int reps,
                      nlohmann::json& raw) {
  LinkPoints pts;
  std::vector<char> buf(sizes.back());
  for (int64_t b : sizes)
    for (auto [peer, cls, points] : {std::tuple{intra_peer, "intra", &pts.intra},
                                     std::tuple{inter_peer, "inter", &pts.inter}}) {
      if (peer <= 0) continue;
      points->push_back({b, ping_pong(peer, b, buf, reps)});
      raw.push_back(
          {{"op", "ping_pong"}, {"class", cls}, {"bytes", b}, {"seconds", points->back().second}});
    }
  return pts;
}

// Collectives over the world, recorded for the model's checks (docs/model.md).
void record_collectives(int P, int reps, nlohmann::json& raw) {
  for (int64_t b : {int64_t{1024}, int64_t{1} << 20}) {
    std::vector<char> s(b * P), r(b * P);
    for (const char* op : {"all_to_all", "all_gather"}) {
      std::vector<double> t;
      for (int i = 0; i < reps + 1; ++i) {
        MPI_Barrier(MPI_COMM_WORLD);
        const double t0 = MPI_Wtime();
        if (std::string(op) == "all_to_all")
          MPI_Alltoall(s.data(), static_cast<int>(b), MPI_BYTE, r.data(), static_cast<int>(b),
                       MPI_BYTE, MPI_COMM_WORLD);
        else
          MPI_Allgather(s.data(), static_cast<int>(b), MPI_BYTE, r.data(), static_cast<int>(b),
                        MPI_BYTE, MPI_COMM_WORLD);
        double dt = MPI_Wtime() - t0, mx = 0;
        MPI_Allreduce(&dt, &mx, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        if (i > 0) t.push_back(mx);
      }
      raw.push_back({{"op", op}, {"ranks", P}, {"bytes_per_rank", b}, {"seconds", median(t)}});
    }
  }
}

// Rank 0: the topology profile from the points (NCCL's when measured, else MPI's).
void write_comm_profile(const CalibrateArgs& a, int P, int same, const std::string& host0,
                        const std::vector<int64_t>& sizes, const LinkPoints& mpi,
                        const LinkPoints& nccl, nlohmann::json raw) {
  // GPU runs move device buffers: NCCL's links when it was measured, else MPI's.
  const LinkPoints& links = nccl.reason.empty() ? nccl : mpi;
  if (!nccl.reason.empty())
    fmt::print(stderr, "calibrate --comm: NCCL not measured: {}\n", nccl.reason);
  model::Topology t;
  t.name =
      a.name.empty() ? fmt::format("{}_{}", nccl.reason.empty() ? "nccl" : "mpi", host0) : a.name;
  t.ranks_per_node = a.ranks_per_node > 0 ? a.ranks_per_node : same;
  t.intra = links.intra.empty() ? model::LinkClass{1e-6, 1e10} : fit(links.intra);
  t.inter = links.inter.empty() ? t.intra : fit(links.inter);
  t.nics_per_node = 1;
  t.sources = {fmt::format(
      "measured by cpbench calibrate --comm with {} MPI ranks ({} on {}), {} UTC; ping-pong "
      "half round trips: latency = the {}-byte time, bandwidth = the slope to {} bytes{}",
      P, same, host0, reports::utc_now_iso8601(), sizes.front(), sizes.back(),
      links.inter.empty() ? "; no rank on another host: inter_node copies intra_node" : "")};
  t.sources.push_back(
      nccl.reason.empty()
          ? "link classes from the same ping-pong over NCCL on device buffers; "
            "the MPI figures are under measurements"
          : fmt::format("link classes from MPI; NCCL not measured: {}", nccl.reason));
  nlohmann::json j = model::to_json(t);
  j["measurements"] = std::move(raw);
  reports::write_json_atomic(a.out, j);
  fmt::print(stderr, "wrote {}\n", a.out);
}

int calibrate_comm(const CalibrateArgs& a) {
  int init = 0;
  MPI_Initialized(&init);
  if (!init) MPI_Init(nullptr, nullptr);
  int me = 0, P = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &me);
  MPI_Comm_size(MPI_COMM_WORLD, &P);
  CPB_REQUIRE(P >= 2, "calibrate --comm needs at least 2 ranks (mpirun -np 2 ...), got {}", P);
  // Which ranks share rank 0's host.
  char host[MPI_MAX_PROCESSOR_NAME] = {};
  int len = 0;
  MPI_Get_processor_name(host, &len);
  std::vector<char> all(static_cast<std::size_t>(P) * MPI_MAX_PROCESSOR_NAME);
  MPI_Allgather(host, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all.data(), MPI_MAX_PROCESSOR_NAME,
                MPI_CHAR, MPI_COMM_WORLD);
  auto host_of = [&](int r) { return std::string(&all[r * MPI_MAX_PROCESSOR_NAME]); };
  int same = 0;
  for (int r = 0; r < P; ++r) same += host_of(r) == host_of(0);
  int intra_peer = -1, inter_peer = -1;
  for (int r = 1; r < P; ++r) {
    if (host_of(r) == host_of(0) && intra_peer < 0) intra_peer = r;
    if (host_of(r) != host_of(0) && inter_peer < 0) inter_peer = r;
  }
  const std::vector<int64_t> sizes = {8, 1024, 65536, 1 << 20, 8 << 20};
  nlohmann::json raw = nlohmann::json::array();
  const LinkPoints mpi = mpi_points(intra_peer, inter_peer, sizes, a.reps, raw);
  record_collectives(P, a.reps, raw);
  const LinkPoints nccl = nccl_points(intra_peer, inter_peer, sizes, a.reps, raw);
  if (me == 0) write_comm_profile(a, P, same, host_of(0), sizes, mpi, nccl, std::move(raw));
  MPI_Barrier(MPI_COMM_WORLD);
  if (!init) MPI_Finalize();
  return 0;
}
#endif

int run_calibrate(const CalibrateArgs& a) {
  CPB_REQUIRE(a.comm != !a.kernel.empty(), "calibrate: give exactly one of --kernel K or --comm");
  CPB_REQUIRE(!a.out.empty(), "calibrate: --out is required");
  CPB_REQUIRE(a.block > 0 && a.heads > 0 && a.head_dim > 0 && a.reps >= 1,
              "calibrate: --block, --heads, --head-dim and --reps must be >= 1");
  reports::check_writable(a.out);
  if (!a.kernel.empty()) return calibrate_kernel(a);
#ifdef CPB_HAVE_MPI
  return calibrate_comm(a);
#else
  CPB_INPUT_ERROR("calibrate --comm needs a build with MPI");
#endif
}

}  // namespace

void add_calibrate_command(CLI::App& app, int*, char***) {
  auto a = std::make_shared<CalibrateArgs>();
  auto* sub = app.add_subcommand("calibrate", "measure this machine into a model profile");
  sub->add_option("--kernel", a->kernel, "kernel to measure (one rank)");
  sub->add_flag("--comm", a->comm, "measure MPI links (run under mpirun, 2+ ranks)");
  sub->add_option("--out", a->out, "profile to write (JSON)")->required();
  sub->add_option("--name", a->name, "profile name (default: kernel or mpi, and the host)");
  sub->add_option("--heads", a->heads, "kernel: heads (default 8)");
  sub->add_option("--head-dim", a->head_dim, "kernel: head dim (default 64)");
  sub->add_option("--dtype", a->dtype, "kernel: fp32 | bf16 | fp16 (default fp32)");
  sub->add_option("--block", a->block, "kernel: tile the profile counts in (default 64)");
  sub->add_option("--max-seq", a->max_seq, "kernel: largest S of the grid (default 4096)");
  sub->add_option("--reps", a->reps, "timed repetitions per point (default 3)");
  sub->add_option("--ranks-per-node", a->ranks_per_node,
                  "comm: ranks per node to write (default: ranks on rank 0's host)");
  sub->callback([a] { std::exit(run_calibrate(*a)); });
}

}  // namespace cpb::bench
