// Every registered CP method against a single-rank cpu_reference run, under real
// mpirun: methods come from CpMethodRegistry (whatever is linked in, test-only
// ones included), layouts from each method's sweep_layouts(), refusals from its
// declared axes, so a new method is tested without an edit here. Each rank runs
// the method on its shard, the outputs (out, lse, dq, dk, dv) are gathered to
// rank 0 in global token order and compared within the tolerance table's CP row
// (kernels/tolerance.h, as --verify); every rank checks that its measured bytes
// equal expected_volume() exactly. Only EXPECT (never ASSERT) inside a case, so no rank leaves a
// collective early. Sizes are tiny: P = 8 runs oversubscribed on 2 cores.
#include <gtest/gtest.h>
#include <mpi.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/tolerance.h"
#include "masks/generators.h"
#include "masks/head_masks.h"
#include "masks/mask_spec.h"
#include "parallel/cp_method.h"
#include "parallel/mpi_communicator.h"

namespace cpb {
namespace {

struct Case {
  std::string method;
  CpConfig config;  // world filled in by run_case
  std::string mask_kind = "causal";
  int64_t seq = 96, heads_q = 8, heads_kv = 2, head_dim = 16;
  DType dtype = DType::kF32;
  bool strided = false;   // local tensors as padded (non-packed) views
  bool per_head = false;  // the mask spec's per_head: one mask per KV head

  std::string name() const {
    return fmt::format("{} U={} R={} W={} {} sharding={} mask={}{} S={} Hq={} Hkv={} D={} {}{}",
                       method, config.ulysses_degree, config.ring_degree, config.inner_ring,
                       config.placement == Placement::kContiguous ? "contiguous" : "strided",
                       config.sharding, mask_kind, per_head ? " per_head" : "", seq, heads_q,
                       heads_kv, head_dim, to_string(dtype), strided ? " strided" : "");
  }
};

// Host tensor in a storage dtype, packed THD.
// Host tensor in a storage dtype, THD; `strided` pads both strides so a method
// that assumes packed views fails.
struct HostTensor {
  std::vector<std::byte> bytes;
  TensorView view;
  HostTensor(int64_t tokens, int64_t heads, int64_t d, DType dt, bool strided = false) {
    const int64_t hs = strided ? d + 2 : d, ts = strided ? heads * hs + 3 : heads * d;
    bytes.resize((tokens * ts + 4) * dtype_size(dt));
    view = {bytes.data(), dt, Device::kCpu, tokens, heads, d, ts, hs};
  }
};

struct Lse {
  std::vector<float> data;
  LseView view;
  Lse(int64_t tokens, int64_t heads, bool strided = false)
      : data(tokens * (heads + strided), std::numeric_limits<float>::quiet_NaN()),
        view{data.data(), Device::kCpu, tokens, heads, heads + strided} {}
  std::vector<float> values() const {
    std::vector<float> out;
    for (int64_t t = 0; t < view.tokens; ++t)
      for (int64_t h = 0; h < view.heads; ++h) out.push_back(data[t * view.token_stride + h]);
    return out;
  }
};

void fill(HostTensor& t, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  for (int64_t i = 0; i < t.view.numel(); ++i)
    store_from_float(t.view.data, t.view.dtype, i, dist(rng));
}

// Rows of `global` at the tokens `ranges` (in order) -> packed local tensor.
void take_rows(const HostTensor& global, const std::vector<Range>& ranges, HostTensor& local) {
  const TensorView &g = global.view, &l = local.view;
  int64_t r = 0;
  for (const Range& range : ranges)
    for (int64_t t = range.begin; t < range.end; ++t, ++r)
      for (int64_t h = 0; h < g.heads; ++h)
        for (int64_t x = 0; x < g.head_dim; ++x)
          store_from_float(l.data, l.dtype, l.offset(r, h) + x,
                           load_as_float(g.data, g.dtype, g.offset(t, h) + x));
}

Communicator& world() {
  static MpiCommunicator comm(MPI_COMM_WORLD, false);
  return comm;
}

std::unique_ptr<Kernel> method_kernel(const AttentionShape& shape) {
  // The fast host kernel where it runs the case; the oracle otherwise.
  if (KernelRegistry::instance().contains("cpu_flash")) {
    auto k = KernelRegistry::instance().create("cpu_flash");
    if (k->supports(shape).ok()) return k;
  }
  return KernelRegistry::instance().create("cpu_reference");
}

// Same value on every rank? (all-gather of a hash)
bool same_everywhere(const std::string& s) {
  const uint64_t h = std::hash<std::string>{}(s);
  std::vector<uint64_t> all(world().size());
  world().all_gather(&h, all.data(), sizeof h, Device::kCpu);
  for (uint64_t x : all)
    if (x != h) return false;
  return true;
}

// Compares `got` with `ref` as --verify does (kernels/tolerance.h, kCpMethod): the
// largest error within the bound for the tensor's largest |ref|; -inf (a row that
// sees no key) must match exactly.
void compare(const char* what, const std::vector<float>& got, const std::vector<float>& ref,
             DType dtype, Quantity quantity, const std::string& name) {
  ASSERT_EQ(got.size(), ref.size());
  const Tolerance tol = tolerance(Comparison::kCpMethod, dtype, quantity);
  int bad_inf = 0;
  double max_err = 0, max_ref = 0;
  std::size_t worst = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const float r = ref[i], g = got[i];
    if (std::isinf(r)) {
      if (g != r && bad_inf++ < 3)
        ADD_FAILURE() << name << ": " << what << "[" << i << "] = " << g << ", reference " << r;
      continue;
    }
    const double err = std::isfinite(g) ? std::fabs(double(g) - r) : HUGE_VAL;
    if (err > max_err) max_err = err, worst = i;
    max_ref = std::max<double>(max_ref, std::fabs(r));
  }
  EXPECT_EQ(bad_inf, 0) << name << ": " << what << " has " << bad_inf << " wrong -inf rows";
  EXPECT_TRUE(tol.accepts(max_err, max_ref))
      << name << ": " << what << " max abs err " << max_err << " at [" << worst << "] (got "
      << got[worst] << ", reference " << ref[worst] << ") > bound " << tol.bound(max_ref);
}

std::vector<float> as_floats(const TensorView& v) {
  std::vector<float> out;
  for (int64_t t = 0; t < v.tokens; ++t)
    for (int64_t h = 0; h < v.heads; ++h)
      for (int64_t x = 0; x < v.head_dim; ++x)
        out.push_back(load_as_float(v.data, v.dtype, v.offset(t, h) + x));
  return out;
}

// Single-rank cpu_reference results over the whole sequence and mask, as floats.
struct Reference {
  std::vector<float> out, lse, dq, dk, dv;
};

// Heads [first, first + count) of a host view (same data and strides).
TensorView heads_of(TensorView t, int64_t first, int64_t count) {
  t.data = static_cast<std::byte*>(t.data) + first * t.head_stride * int64_t(dtype_size(t.dtype));
  t.heads = count;
  return t;
}
LseView heads_of(LseView l, int64_t first, int64_t count) {
  l.data += first;
  l.heads = count;
  return l;
}

// The reference of `c`'s problem, computed once: it depends on the mask, shape and
// dtype only (inputs come from fixed seeds), never on the method, layout or
// sharding, and the suites cross those with every mask (a per-process memo keeps
// the suite's time to the methods' own).
// With per-KV-head masks the reference runs once per KV head on head-slice views
// (its Hq/Hkv query heads and its K, V head), written here apart from the methods'
// own splitting (parallel/execution_heads.h).
const Reference& reference(const Case& c, const HeadMasks& masks, const HostTensor& q,
                           const HostTensor& k, const HostTensor& v, const HostTensor& dout,
                           float scale) {
  static std::map<std::string, Reference> memo;
  const std::string key =
      fmt::format("{}{} S={} Hq={} Hkv={} D={} {}", c.mask_kind, c.per_head ? " per_head" : "",
                  c.seq, c.heads_q, c.heads_kv, c.head_dim, to_string(c.dtype));
  if (auto it = memo.find(key); it != memo.end()) return it->second;
  const int64_t S = c.seq, hq = c.heads_q, hk = c.heads_kv, d = c.head_dim;
  HostTensor rout(S, hq, d, c.dtype), rdq(S, hq, d, DType::kF32), rdk(S, hk, d, DType::kF32),
      rdv(S, hk, d, DType::kF32);
  Lse rlse(S, hq);
  auto kernel = KernelRegistry::instance().create("cpu_reference");
  const int64_t groups = masks.uniform() ? 1 : hk, kvh = hk / groups, qh = hq / groups;
  for (int64_t g = 0; g < groups; ++g) {
    const Mask& mask = masks.kv[static_cast<size_t>(g)];
    kernel->forward({.q = heads_of(q.view, g * qh, qh),
                     .k = heads_of(k.view, g * kvh, kvh),
                     .v = heads_of(v.view, g * kvh, kvh),
                     .mask = &mask,
                     .out = heads_of(rout.view, g * qh, qh),
                     .lse = heads_of(rlse.view, g * qh, qh),
                     .scale = scale});
    kernel->backward({.q = heads_of(q.view, g * qh, qh),
                      .k = heads_of(k.view, g * kvh, kvh),
                      .v = heads_of(v.view, g * kvh, kvh),
                      .mask = &mask,
                      .out = heads_of(rout.view, g * qh, qh),
                      .dout = heads_of(dout.view, g * qh, qh),
                      .lse = heads_of(rlse.view, g * qh, qh),
                      .dq = heads_of(rdq.view, g * qh, qh),
                      .dk = heads_of(rdk.view, g * kvh, kvh),
                      .dv = heads_of(rdv.view, g * kvh, kvh),
                      .scale = scale,
                      .accumulate = false});
  }
  return memo[key] = {as_floats(rout.view), rlse.data, as_floats(rdq.view), as_floats(rdk.view),
                      as_floats(rdv.view)};
}

// Runs one case on every rank. Returns the agreed support reason ("" = ran).
std::string run_case(Case c) {
  const int P = world().size();
  c.config.world = P;
  const std::string name = c.name();
  SCOPED_TRACE(name);
  MaskSpec spec = example_mask_spec(c.mask_kind, c.seq, 7);
  spec.per_head = c.per_head;
  const HeadMasks masks = make_head_masks(spec, c.seq, c.heads_kv);
  const Mask& mask = masks.kv[0];
  const AttentionShape shape{.seq_q = c.seq,
                             .seq_k = c.seq,
                             .heads_q = c.heads_q,
                             .heads_kv = c.heads_kv,
                             .head_dim = c.head_dim,
                             .dtype = c.dtype,
                             .device = Device::kCpu};
  const CpProblem problem{.shape = shape,
                          .mask = &mask,
                          .scale = 1.f / std::sqrt(static_cast<float>(c.head_dim)),
                          .config = c.config,
                          .head_masks = c.per_head ? &masks : nullptr};
  auto exec = make_host_execution();  // outlives the method's buffers
  auto method = CpMethodRegistry::instance().create(c.method);
  const Support support = method->supports(problem);
  EXPECT_TRUE(same_everywhere(support.reason)) << name << ": ranks disagree on support";
  if (!support.ok()) return support.reason;

  const int64_t S = c.seq, hq = c.heads_q, hk = c.heads_kv, d = c.head_dim;
  HostTensor q(S, hq, d, c.dtype), k(S, hk, d, c.dtype), v(S, hk, d, c.dtype),
      dout(S, hq, d, c.dtype);
  fill(q, 1, -1.5f, 1.5f);
  fill(k, 2, -1.5f, 1.5f);
  fill(v, 3, -1.f, 1.f);
  fill(dout, 4, -1.f, 1.f);

  auto kernel = method_kernel(shape);
  method->setup(problem, world(), *kernel, *exec);
  const std::vector<Range> mine = method->local_tokens();
  int64_t L = 0;
  for (const Range& r : mine) L += r.size();
  EXPECT_EQ(L * P, S) << name;

  const bool st = c.strided;
  HostTensor lq(L, hq, d, c.dtype, st), lk(L, hk, d, c.dtype, st), lv(L, hk, d, c.dtype, st),
      ldout(L, hq, d, c.dtype, st), lout(L, hq, d, c.dtype, st), ldq(L, hq, d, DType::kF32, st),
      ldk(L, hk, d, DType::kF32, st), ldv(L, hk, d, DType::kF32, st);
  Lse llse(L, hq, st);
  take_rows(q, mine, lq);
  take_rows(k, mine, lk);
  take_rows(v, mine, lv);
  take_rows(dout, mine, ldout);
  CpTensors t{.q = lq.view,
              .k = lk.view,
              .v = lv.view,
              .out = lout.view,
              .lse = llse.view,
              .dout = ldout.view,
              .dq = ldq.view,
              .dk = ldk.view,
              .dv = ldv.view};

  method->reset_comm_stats();
  exec->reset_compute();
  method->forward(t);
  const CommStats fwd = method->comm_stats();
  method->reset_comm_stats();
  method->backward(t);
  const CommStats bwd = method->comm_stats();
  const CommVolume vol = method->expected_volume();
  EXPECT_EQ(fwd.bytes_sent(), vol.forward_bytes_sent) << name << "\n" << vol.formula;
  EXPECT_EQ(fwd.bytes_received(), vol.forward_bytes_received) << name << "\n" << vol.formula;
  EXPECT_EQ(bwd.bytes_sent(), vol.backward_bytes_sent) << name << "\n" << vol.formula;
  EXPECT_EQ(bwd.bytes_received(), vol.backward_bytes_received) << name << "\n" << vol.formula;
  EXPECT_GE(exec->compute_seconds(), 0.0);

  // Gather [token ids | out | lse | dq | dk | dv] of every rank as floats.
  std::vector<float> pack;
  for (const Range& r : mine)
    for (int64_t x = r.begin; x < r.end; ++x) pack.push_back(static_cast<float>(x));
  for (const TensorView& tv : {lout.view, ldq.view, ldk.view, ldv.view}) {
    auto f = as_floats(tv);
    pack.insert(pack.end(), f.begin(), f.end());
  }
  const std::vector<float> lse_values = llse.values();
  pack.insert(pack.end(), lse_values.begin(), lse_values.end());
  std::vector<float> all(pack.size() * P);
  world().all_gather(pack.data(), all.data(), pack.size() * sizeof(float), Device::kCpu);
  if (world().rank() != 0) return "";

  const Reference& ref = reference(c, masks, q, k, v, dout, problem.scale);

  // Scatter the gathered rows to global order.
  std::vector<float> gout(S * hq * d), glse(S * hq), gdq(S * hq * d), gdk(S * hk * d),
      gdv(S * hk * d);
  std::vector<int> seen(S, 0);
  for (int r = 0; r < P; ++r) {
    const float* p = all.data() + r * pack.size();
    const float* ids = p;
    const float* o = ids + L;
    const float* dq_ = o + L * hq * d;
    const float* dk_ = dq_ + L * hq * d;
    const float* dv_ = dk_ + L * hk * d;
    const float* ls = dv_ + L * hk * d;
    for (int64_t i = 0; i < L; ++i) {
      const int64_t g = static_cast<int64_t>(ids[i]);
      seen[g]++;
      std::copy(o + i * hq * d, o + (i + 1) * hq * d, gout.begin() + g * hq * d);
      std::copy(dq_ + i * hq * d, dq_ + (i + 1) * hq * d, gdq.begin() + g * hq * d);
      std::copy(dk_ + i * hk * d, dk_ + (i + 1) * hk * d, gdk.begin() + g * hk * d);
      std::copy(dv_ + i * hk * d, dv_ + (i + 1) * hk * d, gdv.begin() + g * hk * d);
      std::copy(ls + i * hq, ls + (i + 1) * hq, glse.begin() + g * hq);
    }
  }
  for (int64_t g = 0; g < S; ++g) EXPECT_EQ(seen[g], 1) << name << ": token " << g;
  compare("out", gout, ref.out, c.dtype, Quantity::kOut, name);
  compare("lse", glse, ref.lse, c.dtype, Quantity::kLse, name);
  compare("dq", gdq, ref.dq, c.dtype, Quantity::kGrad, name);
  compare("dk", gdk, ref.dk, c.dtype, Quantity::kGrad, name);
  compare("dv", gdv, ref.dv, c.dtype, Quantity::kGrad, name);
  return "";
}

const std::vector<std::string> kShardings = {"contiguous", "zigzag", "striped", "balanced"};

// Every registered method that runs on `world` ranks: the suite names no method,
// so a method linked in (tests' own test_echo included) is tested without edits here.
std::vector<std::string> methods_on(int world) {
  std::vector<std::string> out;
  for (const std::string& name : CpMethodRegistry::instance().names())
    if (CpMethodRegistry::instance().create(name)->runs_on(world)) out.push_back(name);
  return out;
}

bool reads(const CpMethod& m, LayoutAxis axis) {
  const auto a = m.axes();
  return std::find(a.begin(), a.end(), axis) != a.end();
}

// How far a layout spreads: head-parallel, ring, and an inner ring narrower than the ring.
int spread(const CpLayout& l) {
  return (l.ulysses > 1) + (l.ring > 1) + (l.inner_ring > 1 && l.inner_ring < l.ring);
}

// The layout the wide suites run a method in: of the layouts a sweep enumerates,
// the first that uses the most of head parallelism, ring and inner ring at world P.
CpLayout widest_layout(const std::string& method, int P) {
  const auto m = CpMethodRegistry::instance().create(method);
  std::vector<CpLayout> layouts = m->sweep_layouts(P);
  CpLayout best = m->default_layout(P);
  for (const CpLayout& l : layouts)
    if (spread(l) > spread(best)) best = l;
  return best;
}

// A case of `method` in its widest layout, with heads every degree of P divides.
Case wide_case(const std::string& method, int P, const std::string& sharding) {
  Case c{.method = method, .config = make_config(widest_layout(method, P), P, sharding)};
  if (8 % P) c.heads_q = 6, c.heads_kv = 3;  // P = 3: Ulysses cannot split Hq=8
  return c;
}

class CpMethods : public testing::Test {
 protected:
  void SetUp() override { omp_set_num_threads(1); }  // P ranks share 2 cores
};

// The suite really is the registry's: at least the built-in methods, plus test_echo
// (tests/parallel/test_only_method.cc) from nothing but its object file being linked.
TEST_F(CpMethods, SuiteEnumeratesTheRegistry) {
  const auto names = CpMethodRegistry::instance().names();
  EXPECT_NE(std::find(names.begin(), names.end(), "test_echo"), names.end());
  for (const std::string& name : names) {
    const auto m = CpMethodRegistry::instance().create(name);
    EXPECT_FALSE(m->label().empty()) << name;
    const int P = world().size();
    if (!m->runs_on(P)) continue;
    EXPECT_FALSE(m->sweep_layouts(P).empty()) << name;
    for (const CpLayout& l : m->sweep_layouts(P))
      EXPECT_EQ(m->normalise(l, P), l) << name << " sweeps a layout it does not read";
  }
}

// Every method x sharding x mask kind, fp32, GQA Hq=8 / Hkv=2.
TEST_F(CpMethods, EveryMethodShardingAndMaskMatchesReference) {
  const int P = world().size();
  int ran = 0, total = 0;
  for (const auto& method : methods_on(P))
    for (const auto& sharding : kShardings)
      for (const auto& kind : mask_kind_table()) {
        Case c = wide_case(method, P, sharding);
        c.mask_kind = kind.name;
        std::string why = run_case(c);
        ++total;
        if (why.empty())
          ++ran;
        else
          ADD_FAILURE() << c.name() << " unexpectedly unsupported: " << why;
      }
  EXPECT_EQ(ran, total);
}

// Per-KV-head block-sparse top-k (each KV head its own draw): every method x
// sharding, GQA Hq=8 / Hkv=2 (Ulysses at P = 4, 8 replicates KV heads, so a rank's
// one KV head must carry its global head's mask), and MHA (every head its own).
TEST_F(CpMethods, PerHeadMaskMatchesReference) {
  const int P = world().size();
  for (const auto& method : methods_on(P)) {
    for (const auto& sharding : kShardings) {
      Case c = wide_case(method, P, sharding);
      c.mask_kind = "block_sparse_topk";
      c.per_head = true;
      const std::string why = run_case(c);
      EXPECT_TRUE(why.empty()) << c.name() << " unexpectedly unsupported: " << why;
    }
    Case mha = wide_case(method, P, "zigzag");
    mha.mask_kind = "block_sparse_topk";
    mha.per_head = true;
    mha.heads_kv = mha.heads_q;
    const std::string why = run_case(mha);
    EXPECT_TRUE(why.empty()) << mha.name() << " unexpectedly unsupported: " << why;
  }
  // Not vacuous: the heads of this suite's mask really differ.
  MaskSpec spec = example_mask_spec("block_sparse_topk", 96, 7);
  spec.per_head = true;
  const HeadMasks masks = make_head_masks(spec, 96, 2);
  EXPECT_NE(masks.kv[0].slices, masks.kv[1].slices);
}

// GQA and head-count edge cases, including Hkv < Ulysses degree (replicated KV
// heads) and head counts no degree divides (must be refused with the reason).
TEST_F(CpMethods, HeadConfigurations) {
  const int P = world().size();
  const std::pair<int, int> heads[] = {{8, 8}, {8, 2}, {8, 1}, {6, 3}, {6, 1}};
  for (const auto& method : methods_on(P))
    for (auto [hq, hk] : heads) {
      Case c = wide_case(method, P, "zigzag");
      c.mask_kind = "causal_document";
      c.heads_q = hq, c.heads_kv = hk, c.head_dim = 32;
      const int U = c.config.ulysses_degree;
      const bool expect_ok = hq % U == 0 && (hk % U == 0 || U % hk == 0);
      std::string why = run_case(c);
      EXPECT_EQ(why.empty(), expect_ok) << c.name() << ": " << why;
      if (!expect_ok) {
        EXPECT_NE(why.find(hq % U ? "Hq=" : "Hkv="), std::string::npos) << why;
      }
    }
}

// Every layout a sweep enumerates for each method (all degree splits, every
// inner ring width where read), both placements where the method reads one.
TEST_F(CpMethods, EverySweepLayoutAndPlacement) {
  const int P = world().size();
  for (const auto& method : methods_on(P)) {
    const auto m = CpMethodRegistry::instance().create(method);
    std::vector<Placement> placements = {Placement::kContiguous};
    if (reads(*m, LayoutAxis::kPlacement)) placements.push_back(Placement::kStrided);
    for (CpLayout l : m->sweep_layouts(P))
      for (Placement pl : placements)
        for (int hk : {8, 1}) {
          l.placement = pl;
          Case c{.method = method,
                 .config = make_config(l, P, "zigzag"),
                 .mask_kind = "causal_document",
                 .heads_kv = hk};
          if (8 % l.ulysses) c.heads_q = 6, c.heads_kv = 3;  // P = 3
          std::string why = run_case(c);
          EXPECT_TRUE(why.empty()) << c.name() << ": " << why;
        }
  }
}

// bf16 / fp16 storage: partial outputs round at every ring step, so a looser
// tolerance.
TEST_F(CpMethods, HalfPrecisionMatchesReference) {
  const int P = world().size();
  for (const auto& method : methods_on(P))
    for (const std::string kind : {"causal", "document", "sliding_window"})
      for (DType dt : {DType::kBF16, DType::kF16}) {
        Case c = wide_case(method, P, "zigzag");
        c.mask_kind = kind, c.dtype = dt;
        std::string why = run_case(c);
        EXPECT_TRUE(why.empty()) << c.name() << ": " << why;
      }
}

// Cases a method cannot run are refused with the reason, the same on every rank.
// Each rule is stated over what the method declares (runs_on, axes, layouts).
TEST_F(CpMethods, UnsupportedCasesSayWhy) {
  const int P = world().size();
  auto refused = [&](Case c, const std::string& needle) {
    std::string why = run_case(c);
    EXPECT_FALSE(why.empty()) << c.name() << " should be unsupported";
    EXPECT_NE(why.find(needle), std::string::npos)
        << c.name() << ": '" << why << "' lacks '" << needle << "'";
  };
  for (const std::string& method : CpMethodRegistry::instance().names()) {
    const auto m = CpMethodRegistry::instance().create(method);
    if (!m->runs_on(P)) {  // e.g. the single-rank baseline on P > 1 ranks
      refused(Case{.method = method, .config = make_config({}, P, "contiguous")}, "");
      continue;
    }
    const CpLayout def = widest_layout(method, P);
    auto make = [&](CpLayout l, int64_t seq = 96, int64_t hq = 8, int64_t hk = 2) {
      return Case{.method = method,
                  .config = make_config(l, P, "contiguous"),
                  .seq = seq,
                  .heads_q = hq,
                  .heads_kv = hk};
    };
    const int U = def.ulysses;
    if (P > 1) {
      // S not divisible by the zigzag chunk count 2P.
      Case c = make(def, 2 * P * 6 + 1, 8 % P ? 6 : 8, 8 % P ? 3 : 2);
      c.config.sharding = "zigzag";
      refused(c, fmt::format("S={}", c.seq));
    }
    if (reads(*m, LayoutAxis::kUlysses) && reads(*m, LayoutAxis::kRing))
      refused(make({.ulysses = P, .ring = 2}), "is not the world size");
    if (reads(*m, LayoutAxis::kInnerRing) && P % 3 != 0)
      refused(make({.ulysses = 1, .ring = P, .inner_ring = 3}), "does not divide");
    if (U > 1 && 7 % U != 0) refused(make(def, 96, 7, 7), "Hq=7");
    // 3 KV heads can be neither split over nor replicated across degree U.
    if (U > 1 && 24 % U == 0 && 3 % U != 0 && U % 3 != 0) refused(make(def, 96, 24, 3), "Hkv=3");
    if (m->runs_on(2)) {  // a multi-rank method shards the sequence: it names a bad sharding
      Case bad = make(def);
      if (8 % P) bad.heads_q = 6, bad.heads_kv = 3;
      bad.config.sharding = "no_such_sharding";
      refused(bad, "no_such_sharding");
    }
  }
}

// Other sizes (S 48 and 240, D 16 and 32) and strided (non-packed) local views.
TEST_F(CpMethods, SizesAndStridedViews) {
  const int P = world().size();
  for (const auto& method : methods_on(P))
    for (int64_t seq : {48, 240})
      for (int64_t d : {16, 32})
        for (bool strided : {false, true}) {
          Case c = wide_case(method, P, seq == 48 ? "balanced" : "zigzag");
          c.mask_kind = strided ? "causal_sliding_window" : "causal_document";
          c.seq = seq, c.head_dim = d, c.strided = strided;
          std::string why = run_case(c);
          EXPECT_TRUE(why.empty()) << c.name() << ": " << why;
        }
}

}  // namespace
}  // namespace cpb
