#include "bench/case_runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <new>
#include <optional>

#include "bench/fill.h"
#include "bench/memory.h"
#include "bench/stats.h"
#include "common/errors.h"
#include "kernels/kernel.h"
#include "masks/head_masks.h"
#include "masks/mask_spec.h"
#include "parallel/agree.h"
#include "parallel/cp_method.h"
#include "parallel/execution.h"
#include "parallel/execution_heads.h"

namespace cpb::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Agreement codes, ordered by severity (the worst one wins across ranks).
// Ordered by severity: agree() keeps the worst code over ranks.
enum Code { kOk = 0, kUnsupported = 1, kError = 2, kOom = 3 };

// Owning host tensor in THD layout. std::vector<float> storage keeps 16-byte alignment
// for every dtype.
struct HostTensor {
  std::vector<float> storage;
  TensorView view;
  HostTensor() = default;
  HostTensor(DType dtype, int64_t tokens, int64_t heads, int64_t dim) {
    size_t bytes = static_cast<size_t>(tokens * heads * dim) * dtype_size(dtype);
    storage.assign((bytes + 3) / 4 + 1, 0.f);
    view = packed_view(storage.data(), dtype, Device::kCpu, tokens, heads, dim);
  }
};

struct HostLse {
  std::vector<float> storage;
  LseView view;
  HostLse() = default;
  HostLse(int64_t tokens, int64_t heads) {
    storage.assign(static_cast<size_t>(tokens * heads) + 1, 0.f);
    view = {.data = storage.data(),
            .device = Device::kCpu,
            .tokens = tokens,
            .heads = heads,
            .token_stride = heads};
  }
};

// The five tensors of a case plus their inputs, for `tokens` tokens.
struct CaseBuffers {
  HostTensor q, k, v, out, dout, dq, dk, dv;
  HostLse lse;
  CaseBuffers(const CaseSpec& s, int64_t tokens)
      : q(s.dtype, tokens, s.heads_q, s.head_dim),
        k(s.dtype, tokens, s.heads_kv, s.head_dim),
        v(s.dtype, tokens, s.heads_kv, s.head_dim),
        out(s.dtype, tokens, s.heads_q, s.head_dim),
        dout(s.dtype, tokens, s.heads_q, s.head_dim),
        dq(DType::kF32, tokens, s.heads_q, s.head_dim),
        dk(DType::kF32, tokens, s.heads_kv, s.head_dim),
        dv(DType::kF32, tokens, s.heads_kv, s.head_dim),
        lse(tokens, s.heads_q) {}

  void fill(uint64_t seed, const std::vector<Range>& ranges) {
    fill_tensor(q.view, seed, FillTensor::kQ, ranges);
    fill_tensor(k.view, seed, FillTensor::kK, ranges);
    fill_tensor(v.view, seed, FillTensor::kV, ranges);
    fill_tensor(dout.view, seed, FillTensor::kDout, ranges);
  }

  CpTensors tensors() {
    return {.q = q.view,
            .k = k.view,
            .v = v.view,
            .out = out.view,
            .lse = lse.view,
            .dout = dout.view,
            .dq = dq.view,
            .dk = dk.view,
            .dv = dv.view};
  }
};

// The case's tensors where the execution works on them: the host buffers
// themselves for the host execution; otherwise copies in the execution's memory
// (so they count in its peak), inputs uploaded, results downloaded for --verify.
class ExecTensors {
 public:
  ExecTensors(Execution& x, CaseBuffers& h) : x_(x) {
    if (x.device() == Device::kCpu) {
      t_ = h.tensors();
      return;
    }
    t_ = {.q = mirror(h.q.view, true),
          .k = mirror(h.k.view, true),
          .v = mirror(h.v.view, true),
          .out = mirror(h.out.view, false),
          .lse = tensor_as_lse(mirror(lse_as_tensor(h.lse.view), false)),
          .dout = mirror(h.dout.view, true),
          .dq = mirror(h.dq.view, false),
          .dk = mirror(h.dk.view, false),
          .dv = mirror(h.dv.view, false)};
  }
  CpTensors& tensors() { return t_; }

  // Results of the last iteration into `h` (same packed layout as the mirrors).
  void download_results(CaseBuffers& h) {
    if (x_.device() == Device::kCpu) return;
    x_.synchronize();
    for (auto [dev, host] :
         {std::pair{t_.out, h.out.view}, std::pair{t_.dq, h.dq.view}, std::pair{t_.dk, h.dk.view},
          std::pair{t_.dv, h.dv.view}, std::pair{lse_as_tensor(t_.lse), lse_as_tensor(h.lse.view)}})
      x_.download(host.data, dev.data, bytes_of(host));
  }

 private:
  static std::size_t bytes_of(const TensorView& t) {
    return static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype);
  }
  TensorView mirror(const TensorView& host, bool upload) {
    buffers_.push_back(x_.allocate(bytes_of(host)));
    TensorView d = host;
    d.data = buffers_.back().data();
    d.device = x_.device();
    if (upload) x_.upload(d.data, host.data, bytes_of(host));
    return d;
  }

  Execution& x_;
  std::vector<ExecBuffer> buffers_;
  CpTensors t_{};
};

// The GPU a rank uses: its communicator's own (NCCL), else the rank's index among
// the ranks on its host, modulo the GPUs it sees (several ranks may share one).
int pick_gpu(Communicator& world, const std::vector<std::string>& hostnames) {
  if (world.bound_gpu() >= 0) return world.bound_gpu();
  int local = 0;
  const int me = world.rank();
  if (me < static_cast<int>(hostnames.size()))
    for (int r = 0; r < me; ++r) local += hostnames[static_cast<size_t>(r)] == hostnames[me];
  const int devices = visible_gpus();
  return devices > 0 ? local % devices : 0;
}

// The execution a case's tensors need: host, or CUDA on this rank's GPU.
std::unique_ptr<Execution> make_execution(Device device, Communicator& world,
                                          const std::vector<std::string>& hostnames) {
  if (device == Device::kCpu) return make_host_execution();
  std::string why;
  auto x = make_cuda_execution(pick_gpu(world, hostnames), &why);
  CPB_CHECK(x, "rank {} cannot run a CUDA case: {}", world.rank(), why);
  return x;
}

bool runs_forward(Pass p) { return p != Pass::kBackward; }
bool runs_backward(Pass p) { return p != Pass::kForward; }

// Row-major fp32 copy of a tensor ([tokens, heads * dim]).
std::vector<float> to_f32(const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  for (int64_t r = 0; r < t.tokens; ++r)
    for (int64_t h = 0; h < t.heads; ++h)
      for (int64_t i = 0; i < t.head_dim; ++i)
        out[static_cast<size_t>((r * t.heads + h) * t.head_dim + i)] =
            load_as_float(t.data, t.dtype, t.offset(r, h) + i);
  return out;
}

std::vector<float> lse_to_f32(const LseView& l) {
  std::vector<float> out(static_cast<size_t>(l.tokens * l.heads));
  for (int64_t r = 0; r < l.tokens; ++r)
    for (int64_t h = 0; h < l.heads; ++h)
      out[static_cast<size_t>(r * l.heads + h)] = l.data[r * l.token_stride + h];
  return out;
}

// Every rank's rows, placed at their global token index: `ids` (gathered) says which
// global token each gathered row is.
std::vector<float> gather_global(Communicator& world, const std::vector<float>& local,
                                 int64_t row_elems, const std::vector<int64_t>& ids, int64_t seq) {
  std::vector<float> all(local.size() * static_cast<size_t>(world.size()));
  world.all_gather(local.data(), all.data(), local.size() * sizeof(float), Device::kCpu);
  std::vector<float> global(static_cast<size_t>(seq * row_elems));
  for (size_t row = 0; row < ids.size(); ++row)
    std::memcpy(&global[static_cast<size_t>(ids[row] * row_elems)],
                &all[row * static_cast<size_t>(row_elems)], sizeof(float) * row_elems);
  return global;
}

reports::TensorError compare(const std::string& name, const std::vector<float>& got,
                             const std::vector<float>& ref, Tolerance tol) {
  const double inf = std::numeric_limits<double>::infinity();
  double max_abs = 0, max_ref = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    double a = got[i], b = ref[i];
    if (std::isinf(b) && b < 0) {  // a row that sees no key: LSE must be -inf too
      if (!(std::isinf(a) && a < 0)) max_abs = inf;
      continue;
    }
    double e = std::abs(a - b);
    if (std::isnan(e)) e = inf;
    max_abs = std::max(max_abs, e);
    max_ref = std::max(max_ref, std::abs(b));
  }
  reports::TensorError t;
  t.tensor = name;
  t.max_abs_error = max_abs;
  t.max_rel_error = max_ref > 0 ? max_abs / max_ref : max_abs;
  t.tolerance = tol.bound(max_ref);
  t.passed = std::isfinite(max_abs) && max_abs <= t.tolerance;
  return t;
}

// Gathers out/lse (and dq/dk/dv) to every rank in global order; rank 0 runs the
// single-rank reference on the full sequence and compares.
reports::Verification verify(const CaseSpec& spec, const HeadMasks& masks, CaseBuffers& b,
                             const std::vector<Range>& ranges, Communicator& world) {
  const Tolerance tol = tolerance(Comparison::kCpMethod, spec.dtype, Quantity::kOut);
  reports::Verification v;
  v.reference = "cpu_reference";
  v.atol = tol.atol;
  v.rtol = tol.rtol;
  const int64_t n = b.q.view.tokens, S = spec.seq;
  std::vector<int64_t> my_ids;
  for (const auto& r : ranges)
    for (int64_t g = r.begin; g < r.end; ++g) my_ids.push_back(g);
  std::vector<int64_t> ids(my_ids.size() * static_cast<size_t>(world.size()));
  world.all_gather(my_ids.data(), ids.data(), my_ids.size() * sizeof(int64_t), Device::kCpu);
  std::vector<int> seen(static_cast<size_t>(S), 0);
  for (int64_t g : ids) {
    CPB_CHECK(g >= 0 && g < S, "shard token {} outside [0, {})", g, S);
    ++seen[static_cast<size_t>(g)];
  }
  CPB_CHECK(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; }),
            "the shards do not cover every token exactly once");

  const int64_t hq = spec.heads_q, hkv = spec.heads_kv, d = spec.head_dim;
  std::vector<std::pair<std::string, std::vector<float>>> got;
  got.emplace_back("out", gather_global(world, to_f32(b.out.view), hq * d, ids, S));
  got.emplace_back("lse", gather_global(world, lse_to_f32(b.lse.view), hq, ids, S));
  if (runs_backward(spec.pass)) {
    got.emplace_back("dq", gather_global(world, to_f32(b.dq.view), hq * d, ids, S));
    got.emplace_back("dk", gather_global(world, to_f32(b.dk.view), hkv * d, ids, S));
    got.emplace_back("dv", gather_global(world, to_f32(b.dv.view), hkv * d, ids, S));
  }
  (void)n;
  if (world.rank() != 0) return v;

  auto ref_kernel = KernelRegistry::instance().create("cpu_reference");
  CaseBuffers r(spec, S);
  r.fill(spec.seed, {{0, S}});
  float scale = 1.0f / std::sqrt(static_cast<float>(d));
  // One reference call per KV head where the mask differs per head, on host views.
  auto host = make_host_execution();
  forward_heads(*host, *ref_kernel,
                {.q = r.q.view,
                 .k = r.k.view,
                 .v = r.v.view,
                 .mask = nullptr,
                 .out = r.out.view,
                 .lse = r.lse.view,
                 .scale = scale},
                masks.kv);
  if (runs_backward(spec.pass))
    backward_heads(*host, *ref_kernel,
                   {.q = r.q.view,
                    .k = r.k.view,
                    .v = r.v.view,
                    .mask = nullptr,
                    .out = r.out.view,
                    .dout = r.dout.view,
                    .lse = r.lse.view,
                    .dq = r.dq.view,
                    .dk = r.dk.view,
                    .dv = r.dv.view,
                    .scale = scale,
                    .accumulate = false},
                   masks.kv);
  v.passed = true;
  for (auto& [name, values] : got) {
    std::vector<float> ref = name == "out"   ? to_f32(r.out.view)
                             : name == "lse" ? lse_to_f32(r.lse.view)
                             : name == "dq"  ? to_f32(r.dq.view)
                             : name == "dk"  ? to_f32(r.dk.view)
                                             : to_f32(r.dv.view);
    v.tensors.push_back(compare(name, values, ref, tol));
    v.passed = v.passed && v.tensors.back().passed;
  }
  return v;
}

// Per-rank figures shipped to every rank in one all_gather (doubles hold byte counts
// exactly up to 2^53).
struct RankRow {
  double median, mean, min, max, p10, p90, cv, iterations;
  double compute, wait;
  double sent, received, exp_sent, exp_received;
  double tokens, area, rss, rss_reset;
  double op_calls[6], op_sent[6], op_received[6], op_wait[6];
  double on_device, device_peak, driver_peak;  // CUDA path: tracked and driver's peak bytes
};
constexpr int kOps = static_cast<int>(CommOp::kCount);
static_assert(kOps == 6, "RankRow holds one slot per CommOp");

std::string describe_exception(const std::exception& e) {
  if (dynamic_cast<const InputError*>(&e)) return fmt::format("input error: {}", e.what());
  return e.what();
}

// "kernel 'x': why", unless the reason already names it.
std::string named(const char* noun, const std::string& name, const std::string& why) {
  if (why.find("'" + name + "'") != std::string::npos) return why;
  return fmt::format("{} '{}': {}", noun, name, why);
}

// What a case builds and measures, shared by its phases. The execution is
// declared before the method: the method's work buffers come from it and die first.
struct CaseState {
  Mask mask;
  HeadMasks head_masks;  // the mask of every KV head (one entry unless per_head)
  std::unique_ptr<Kernel> kernel;
  std::unique_ptr<Execution> exec;
  std::unique_ptr<CpMethod> method;
  CpProblem problem{};
  bool reset_ok = false;
  std::vector<Range> ranges;
  std::unique_ptr<CaseBuffers> buf;
  std::vector<double> times, compute;  // this rank's step and kernel seconds per iteration
  CommStats comm;
  double device_peak = 0, driver_peak = 0;  // device cases: tracked and driver's peak bytes
  bool on_gpu() const { return problem.shape.device != Device::kCpu; }
};

// A phase's outcome on this rank before the ranks agree: kOk, or a code and why.
struct Outcome {
  int code = kOk;
  std::string reason;
};

template <typename F>
Outcome guarded(F&& phase) {
  try {
    return phase();
  } catch (const std::bad_alloc& e) {
    return {kOom, fmt::format("out of memory: {}", e.what())};
  } catch (const std::exception& e) {
    return {kError, describe_exception(e)};
  }
}

// Phase 1: build the problem and ask whether it can run. Pure functions of the
// spec and world size, but agreed anyway so no rank can go on alone.
Outcome plan_case(const CaseSpec& spec, Communicator& world, CaseState& c, nlohmann::json& params) {
  c.head_masks = make_head_masks(spec.mask, spec.seq, spec.heads_kv);
  c.mask = c.head_masks.kv[0];
  c.kernel = KernelRegistry::instance().create(spec.kernel);
  c.method = CpMethodRegistry::instance().create(spec.method);
  AttentionShape shape{.seq_q = spec.seq,
                       .seq_k = spec.seq,
                       .heads_q = spec.heads_q,
                       .heads_kv = spec.heads_kv,
                       .head_dim = spec.head_dim,
                       .dtype = spec.dtype,
                       .device = Device::kCpu};
  c.problem = {.shape = shape,
               .mask = &c.mask,
               .scale = 1.0f / std::sqrt(static_cast<float>(spec.head_dim)),
               .config = spec.cp,
               .head_masks = &c.head_masks};
  // A kernel's device is the one it accepts: host first, else CUDA (cuda_flash).
  Support ks = c.kernel->supports(shape);
  if (!ks.ok()) {
    AttentionShape gpu = shape;
    gpu.device = Device::kCuda;
    if (Support kg = c.kernel->supports(gpu); kg.ok()) {
      shape = gpu;
      c.problem.shape = gpu;
      ks = kg;
    } else if (kg.reason != ks.reason) {
      ks = Support::no(fmt::format("on cpu: {}; on cuda: {}", ks.reason, kg.reason));
    }
  }
  if (!ks.ok()) return {kUnsupported, named("kernel", spec.kernel, ks.reason)};
  params["device"] = shape.device == Device::kCuda ? "cuda" : "cpu";
  if (Support ms = c.method->supports(c.problem); !ms.ok())
    return {kUnsupported, named("method", spec.method, ms.reason)};
  if (int64_t(spec.cp.ulysses_degree) * spec.cp.ring_degree != world.size())
    return {kUnsupported,
            fmt::format("degrees u{} x r{} = {} do not match the world size {}",
                        spec.cp.ulysses_degree, spec.cp.ring_degree,
                        int64_t(spec.cp.ulysses_degree) * spec.cp.ring_degree, world.size())};
  return {};
}

// Phase 2: set up, fill, warm up, then the fixed number of timed iterations.
Outcome measure_case(const CaseSpec& spec, RunContext& ctx, CaseState& c, nlohmann::json& params) {
  Communicator& world = *ctx.world;
  c.reset_ok = reset_peak_rss();
  c.exec = make_execution(c.problem.shape.device, world, ctx.hostnames);
  if (c.on_gpu()) params["device_transport"] = world.device_transport();
  c.method->setup(c.problem, world, *c.kernel, *c.exec);
  c.ranges = c.method->local_tokens();
  int64_t n = 0;
  for (const auto& r : c.ranges) n += r.size();
  c.buf = std::make_unique<CaseBuffers>(spec, n);
  c.buf->fill(spec.seed, c.ranges);
  ExecTensors tensors(*c.exec, *c.buf);
  if (c.on_gpu() && !spec.verify) c.buf.reset();  // the host copy only serves to compare results
  CpTensors& t = tensors.tensors();
  if (spec.pass == Pass::kBackward) c.method->forward(t);  // out + LSE for backward, untimed
  for (int i = 0; i < spec.warmup; ++i) {
    if (runs_forward(spec.pass)) c.method->forward(t);
    if (runs_backward(spec.pass)) c.method->backward(t);
  }
  c.method->reset_comm_stats();
  c.times.reserve(static_cast<size_t>(spec.iters));
  for (int i = 0; i < spec.iters; ++i) {
    c.exec->synchronize();  // every rank's queues idle before the barrier: steps start together
    world.barrier();
    c.exec->reset_compute();
    const Event start = c.exec->record(Queue::kCompute);
    if (runs_forward(spec.pass)) c.method->forward(t);
    if (runs_backward(spec.pass)) c.method->backward(t);
    const Event stop = c.exec->record(Queue::kCompute);
    c.times.push_back(c.exec->elapsed(start, stop));
    c.compute.push_back(c.exec->compute_seconds());
  }
  c.comm = c.method->comm_stats();
  if (c.on_gpu()) {
    // Tracked: the case's tensors and the method's buffers (the execution's
    // allocator) plus the kernel's own scratch and block maps, each at its peak.
    const ExecMemory xm = c.exec->memory();
    const KernelMemory km = c.kernel->memory();
    c.device_peak = double(xm.peak_bytes + km.device_peak_bytes);
    c.driver_peak = double(std::max(xm.driver_peak_used_bytes, km.driver_peak_used_bytes));
    if (spec.verify) tensors.download_results(*c.buf);
  }
  return {};
}

// Phase 3: this rank's figures to every rank; `step` gets the per-iteration step
// times (max over ranks).
std::vector<RankRow> gather_rank_rows(const CaseSpec& spec, Communicator& world, CaseState& c,
                                      std::vector<double>* step) {
  const int P = world.size();
  const double iters = spec.iters;
  *step = c.times;
  world.all_reduce(step->data(), step->size(), ReduceOp::kMax);
  reports::TimeStats mine = summarize(c.times);
  CommVolume expected = c.method->expected_volume();
  int64_t exp_sent = 0, exp_received = 0;
  if (runs_forward(spec.pass)) {
    exp_sent += expected.forward_bytes_sent;
    exp_received += expected.forward_bytes_received;
  }
  if (runs_backward(spec.pass)) {
    exp_sent += expected.backward_bytes_sent;
    exp_received += expected.backward_bytes_received;
  }
  double compute_mean = 0;
  for (double x : c.compute) compute_mean += x / iters;
  RankRow row{
      .median = mine.median,
      .mean = mine.mean,
      .min = mine.min,
      .max = mine.max,
      .p10 = mine.p10,
      .p90 = mine.p90,
      .cv = mine.cv,
      .iterations = iters,
      .compute = compute_mean,
      // Host: time blocked in communication. Device: the host blocks
      // while kernels still run, so exposed communication comes from the
      // compute queue's events instead: step time not spent in kernels.
      .wait = c.on_gpu() ? std::max(0.0, mine.mean - compute_mean) : c.comm.wait_seconds() / iters,
      .sent = double(c.comm.bytes_sent()) / iters,
      .received = double(c.comm.bytes_received()) / iters,
      .exp_sent = double(exp_sent),
      .exp_received = double(exp_received),
      .tokens = 0,
      .area = 0,
      .rss = double(peak_rss_bytes()),
      .rss_reset = c.reset_ok ? 1.0 : 0.0,
      .op_calls = {},
      .op_sent = {},
      .op_received = {},
      .op_wait = {},
      .on_device = c.on_gpu() ? 1.0 : 0.0,
      .device_peak = c.device_peak,
      .driver_peak = c.driver_peak};
  for (const auto& r : c.ranges) row.tokens += double(r.size());
  row.area = double(c.head_masks
                        .restrict(std::span<const Range>(c.ranges),
                                  std::span<const Range>(std::vector<Range>{{0, spec.seq}}))
                        .mean_area());
  for (int op = 0; op < kOps; ++op) {
    const CommOpStats& s = c.comm.ops[static_cast<size_t>(op)];
    row.op_calls[op] = double(s.calls) / iters;
    row.op_sent[op] = double(s.bytes_sent) / iters;
    row.op_received[op] = double(s.bytes_received) / iters;
    row.op_wait[op] = s.wait_seconds / iters;
  }
  std::vector<RankRow> rows(static_cast<size_t>(P));
  world.all_gather(&row, rows.data(), sizeof(RankRow), Device::kCpu);
  return rows;
}

// Phase 4: collective verification against cpu_reference; the ranks' agreement.
Agreement verify_case(const CaseSpec& spec, Communicator& world, CaseState& c,
                      reports::CaseResult& res) {
  reports::Verification v;
  double ref_flops =
      pass_flops(Pass::kForwardBackward, c.head_masks.mean_area(), spec.head_dim, spec.heads_q);
  if (spec.seq > kVerifyMaxSeq || ref_flops > kVerifyMaxFlops) {
    v.reference = "cpu_reference";
    v.skipped_reason =
        fmt::format("too large to verify: S={} (limit {}), reference {:.3g} FLOPs (limit {:.3g})",
                    spec.seq, kVerifyMaxSeq, ref_flops, kVerifyMaxFlops);
  } else {
    const Outcome o = guarded([&] {
      v = verify(spec, c.head_masks, *c.buf, c.ranges, world);
      return Outcome{};
    });
    if (Agreement a = agree(world, o.code, "verification: " + o.reason); a.code != kOk) return a;
    // Rank 0 decides; everyone learns it (other ranks contribute the neutral 1).
    double passed = world.rank() != 0 || v.passed ? 1 : 0;
    world.all_reduce(&passed, 1, ReduceOp::kMin);
    if (world.rank() != 0) v.passed = passed != 0;
  }
  res.verification = v;
  return {};
}

// One rank's row as the report's per-rank metrics.
reports::RankMetrics rank_metrics(const RankRow& x, int r, const RunContext& ctx) {
  reports::RankMetrics rm{
      .rank = r,
      .hostname = r < static_cast<int>(ctx.hostnames.size()) ? ctx.hostnames[r] : "unknown",
      .step_seconds = {.iterations = static_cast<int64_t>(x.iterations),
                       .median = x.median,
                       .mean = x.mean,
                       .min = x.min,
                       .max = x.max,
                       .p10 = x.p10,
                       .p90 = x.p90,
                       .cv = x.cv},
      .compute_seconds = x.compute,
      .comm_wait_seconds = x.wait,
      .overhead_seconds = x.mean - x.compute - x.wait,
      .bytes_sent = std::llround(x.sent),
      .bytes_received = std::llround(x.received),
      .expected_bytes_sent = std::llround(x.exp_sent),
      .expected_bytes_received = std::llround(x.exp_received),
      .ops = {},
      .local_tokens = std::llround(x.tokens),
      .area = std::llround(x.area),
      .peak_rss_bytes = std::llround(x.rss),
      .peak_rss_reset = x.rss_reset != 0,
      .peak_device_bytes = std::nullopt,
      .driver_peak_used_bytes = std::nullopt};
  if (x.on_device != 0) {
    rm.peak_device_bytes = std::llround(x.device_peak);
    rm.driver_peak_used_bytes = std::llround(x.driver_peak);
  }
  for (int op = 0; op < kOps; ++op)
    if (x.op_calls[op] > 0)
      rm.ops.push_back({.op = std::string(to_string(static_cast<CommOp>(op))),
                        .calls = std::llround(x.op_calls[op]),
                        .bytes_sent = std::llround(x.op_sent[op]),
                        .bytes_received = std::llround(x.op_received[op]),
                        .wait_seconds = x.op_wait[op]});
  return rm;
}

// Folds one rank's metrics into the case's max-over-ranks fields (reports/fields.h).
void fold_rank(reports::CaseMetrics& m, const reports::RankMetrics& rm) {
  if (rm.peak_device_bytes) {
    m.peak_device_bytes_max = std::max(m.peak_device_bytes_max.value_or(0), *rm.peak_device_bytes);
    m.driver_peak_used_bytes_max =
        std::max(m.driver_peak_used_bytes_max.value_or(0), *rm.driver_peak_used_bytes);
  }
  m.compute_seconds = std::max(m.compute_seconds, rm.compute_seconds);
  m.comm_wait_seconds = std::max(m.comm_wait_seconds, rm.comm_wait_seconds);
  // Overhead can be a few microseconds negative (timer granularity): a max that
  // starts at 0 would hide that, so start from rank 0's value.
  m.harness_overhead_seconds = rm.rank == 0
                                   ? rm.overhead_seconds
                                   : std::max(m.harness_overhead_seconds, rm.overhead_seconds);
  m.bytes_sent_max = std::max(m.bytes_sent_max, rm.bytes_sent);
  m.bytes_received_max = std::max(m.bytes_received_max, rm.bytes_received);
  m.expected_bytes_sent_max = std::max(m.expected_bytes_sent_max, rm.expected_bytes_sent);
  m.expected_bytes_received_max =
      std::max(m.expected_bytes_received_max, rm.expected_bytes_received);
  m.peak_rss_bytes_max = std::max(m.peak_rss_bytes_max, rm.peak_rss_bytes);
}

// Phase 5 (rank 0): the case's metrics from every rank's row.
reports::CaseMetrics case_metrics(const CaseSpec& spec, RunContext& ctx, CaseState& c,
                                  const std::vector<RankRow>& rows,
                                  const std::vector<double>& step) {
  const int P = ctx.world->size();
  reports::CaseMetrics m;
  // Per-head masks: area and density are the mean over heads; FLOPs the exact sum.
  m.mask_area = c.head_masks.mean_area();
  m.mask_density = c.head_masks.mean_density();
  m.flops = case_flops(spec.pass, c.head_masks, spec.head_dim, spec.heads_q, spec.heads_kv);
  m.step_seconds = summarize(step);
  if (spec.keep_samples) m.step_seconds.samples = step;
  double med = m.step_seconds.median;
  m.tflops_total = med > 0 ? m.flops / med / 1e12 : 0;
  m.tflops_per_rank = m.tflops_total / P;
  double mean_rank_median = 0;
  std::vector<double> rank_medians, rank_areas;
  for (const auto& r : rows) {
    mean_rank_median += r.median / P;
    rank_medians.push_back(r.median);
    rank_areas.push_back(r.area);
  }
  m.tflops_per_rank_mean_time = mean_rank_median > 0 ? m.flops / (mean_rank_median * P) / 1e12 : 0;
  m.area_imbalance = imbalance(rank_areas);
  m.time_imbalance = imbalance(rank_medians);
  m.expected_volume_formula = c.method->expected_volume().formula;
  int slowest = 0;
  for (int r = 0; r < P; ++r) {
    const RankRow& x = rows[static_cast<size_t>(r)];
    if (x.median > rows[static_cast<size_t>(slowest)].median) slowest = r;
    m.ranks.push_back(rank_metrics(x, r, ctx));
    fold_rank(m, m.ranks.back());
  }
  m.exposed_comm_seconds = m.comm_wait_seconds;
  const auto& slow = m.ranks[static_cast<size_t>(slowest)];
  double busy = slow.compute_seconds + slow.comm_wait_seconds;
  m.overlap_efficiency = busy > 0 ? slow.compute_seconds / busy : 1;
  // Overhead comes from per-rank means, so its fraction is taken of the same
  // rank's mean step: dividing by the median would let outlier iterations inflate it.
  m.harness_overhead_fraction = 0;
  for (const auto& rm : m.ranks)
    if (rm.step_seconds.mean > 0)
      m.harness_overhead_fraction =
          std::max(m.harness_overhead_fraction, rm.overhead_seconds / rm.step_seconds.mean);
  return m;
}

}  // namespace

reports::CaseResult run_case(const CaseSpec& spec, RunContext& ctx) {
  Communicator& world = *ctx.world;
  const auto case_start = Clock::now();
  reports::CaseResult res;
  res.id = spec.id();
  res.params = spec.params_json();
  res.status = "ok";
  {
    std::map<std::string, int> per_host;
    for (const auto& h : ctx.hostnames) ++per_host[h];
    int most = 0;
    for (const auto& [host, n] : per_host) most = std::max(most, n);
    res.params["ranks_per_host"] = std::max(most, 1);
  }
  std::optional<Watchdog::Scope> dog;
  if (ctx.watchdog) dog.emplace(*ctx.watchdog, res.id, spec.timeout_seconds);

  auto finish = [&](const Agreement& a) {
    res.status = a.code == kUnsupported ? "unsupported" : a.code == kOom ? "oom" : "error";
    res.reason = a.code >= kError && world.size() > 1 ? fmt::format("rank {}: {}", a.rank, a.reason)
                                                      : a.reason;
    res.metrics.reset();
    res.wall_seconds = seconds_since(case_start);
    return res;
  };
  auto agreed = [&](const Outcome& o) { return agree(world, o.code, o.reason); };

  CaseState c;
  if (Agreement a = agreed(guarded([&] { return plan_case(spec, world, c, res.params); }));
      a.code != kOk)
    return finish(a);
  if (Agreement a = agreed(guarded([&] { return measure_case(spec, ctx, c, res.params); }));
      a.code != kOk)
    return finish(a);
  std::vector<double> step;
  const std::vector<RankRow> rows = gather_rank_rows(spec, world, c, &step);
  if (spec.verify)
    if (Agreement a = verify_case(spec, world, c, res); a.code != kOk) return finish(a);
  if (world.rank() == 0) res.metrics = case_metrics(spec, ctx, c, rows, step);
  res.wall_seconds = seconds_since(case_start);
  return res;
}

}  // namespace cpb::bench
