// trace_method: runs a registered CP method's unmodified schedule on P simulated
// ranks (one thread each, TraceCommunicator + TraceExecution) and collects every
// rank's trace. The kernel is never called: the trace execution records the call.
#include <exception>
#include <thread>

#include "common/errors.h"
#include "parallel/cp_common.h"
#include "parallel/sharding.h"
#include "parallel/trace_communicator.h"
#include "parallel/trace_execution.h"

namespace cpb {
namespace {

// Stands in for the kernel a method is built with; a trace never runs it.
class UncalledKernel final : public Kernel {
 public:
  Support supports(const AttentionShape&) const override { return Support::yes(); }
  void forward(const ForwardArgs&, const KernelContext&) override {
    CPB_CHECK(false, "a trace must not run a kernel");
  }
  void backward(const BackwardArgs&, const KernelContext&) override {
    CPB_CHECK(false, "a trace must not run a kernel");
  }
};

// Visible pairs of the mask rows `rows` own; with per-head masks the mean over KV
// heads, rounded, as the case runner reports a rank's area (reports/SCHEMA.md).
int64_t area_of(const CpProblem& problem, const std::vector<Range>& rows) {
  const Range all[] = {{0, problem.shape.seq_k}};
  HeadMasks mine;
  for (const Mask& m : global_kv_masks(problem))
    mine.kv.push_back(m.restrict(std::span<const Range>(rows), std::span<const Range>(all)));
  return mine.mean_area();
}

void trace_rank(const std::string& name, const CpProblem& problem, const TraceOptions& o,
                TraceWorld& world, TileCache& tiles, RankTrace& rt) {
  auto exec = make_trace_execution(&rt, o, &tiles);
  auto comm = world.communicator(rt.rank);
  auto method = CpMethodRegistry::instance().create(name);
  UncalledKernel kernel;
  method->setup(problem, *comm, kernel, *exec);
  const std::vector<Range> local = method->local_tokens();
  rt.local_tokens = total_tokens(local);
  rt.area = area_of(problem, local);

  // The driver's tensors, as the case runner holds them: q, k, v, out, dout in the
  // storage dtype, the LSE and the three gradients in fp32.
  const AttentionShape& sh = problem.shape;
  const int64_t L = rt.local_tokens, d = sh.head_dim, es = dtype_size(sh.dtype);
  auto buf = [&](int64_t n) { return exec->allocate(static_cast<std::size_t>(n)); };
  ExecBuffer q = buf(L * sh.heads_q * d * es), k = buf(L * sh.heads_kv * d * es),
             v = buf(L * sh.heads_kv * d * es), out = buf(L * sh.heads_q * d * es),
             lse = buf(L * sh.heads_q * 4), dout = buf(L * sh.heads_q * d * es),
             dq = buf(L * sh.heads_q * d * 4), dk = buf(L * sh.heads_kv * d * 4),
             dv = buf(L * sh.heads_kv * d * 4);
  auto view = [&](int64_t h, DType dt) { return packed_view(nullptr, dt, Device::kCpu, L, h, d); };
  CpTensors t{.q = view(sh.heads_q, sh.dtype),
              .k = view(sh.heads_kv, sh.dtype),
              .v = view(sh.heads_kv, sh.dtype),
              .out = view(sh.heads_q, sh.dtype),
              .lse = LseView{nullptr, Device::kCpu, L, sh.heads_q, sh.heads_q},
              .dout = view(sh.heads_q, sh.dtype),
              .dq = view(sh.heads_q, DType::kF32),
              .dk = view(sh.heads_kv, DType::kF32),
              .dv = view(sh.heads_kv, DType::kF32)};

  method->reset_comm_stats();
  rt.forward_begin = rt.ops.size();
  if (o.forward || o.backward) method->forward(t);  // backward needs the forward's state
  rt.forward_stats = method->comm_stats();
  method->reset_comm_stats();
  rt.backward_begin = rt.ops.size();
  if (o.backward) method->backward(t);
  rt.backward_stats = method->comm_stats();
  rt.expected = method->expected_volume();
}

}  // namespace

Trace trace_method(const std::string& name, const CpProblem& problem, const TraceOptions& o) {
  auto probe = CpMethodRegistry::instance().create(name);  // InputError naming an unknown method
  const Support s = probe->supports(problem);
  CPB_REQUIRE(s.ok(), "{} cannot run this case: {}", name, s.reason);
  const int P = problem.config.world;
  // The shard plan depends on the mask and P only: made once here (unless the caller
  // made it, as the planner does for all its candidates), not once per simulated rank.
  ShardPlan plan;
  CpProblem shared = problem;
  if (!shared.shard_plan) {
    plan = make_shard_plan(problem.config.sharding, *problem.mask, P);
    shared.shard_plan = &plan;
  }
  Trace trace{.method = name, .problem = problem, .options = o, .ranks = {}, .groups = {}};
  trace.ranks.resize(P);
  TraceWorld world(P);
  TileCache tiles(o.block_q, o.block_k);
  std::vector<std::exception_ptr> errors(P);
  {
    std::vector<std::jthread> threads;
    threads.reserve(P);
    for (int r = 0; r < P; ++r)
      threads.emplace_back([&, r] {
        try {
          trace.ranks[r].rank = r;
          trace_rank(name, shared, o, world, tiles, trace.ranks[r]);
        } catch (...) {
          errors[r] = std::current_exception();
          world.fail();
        }
      });
  }
  // The first failure is the cause; the others are ranks released from split().
  for (auto& e : errors)
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const InternalError& ie) {
        if (std::string(ie.what()).find("abandoned") == std::string::npos) throw;
      }
    }
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  for (auto& rt : trace.ranks) {
    trace.groups.merge(rt.groups);
    rt.groups.clear();
  }
  return trace;
}

}  // namespace cpb
