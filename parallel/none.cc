// none: no parallelism, the single-rank baseline every CP method is compared to.
// The kernel runs once over the whole sequence with the whole mask. No
// communication. Requires a world of exactly one rank.
#include "parallel/cp_common.h"
#include "parallel/cp_method.h"
#include "parallel/execution_heads.h"

namespace cpb {
namespace {

class NoneMethod : public CpMethod {
 public:
  std::string label() const override { return "single rank"; }
  bool runs_on(int world) const override { return world == 1; }
  CpLayout default_layout(int) const override { return {}; }

  Support supports(const CpProblem& problem) const override {
    if (problem.config.world != 1)
      return Support::no(
          fmt::format("method 'none' runs on exactly 1 rank, world is {}; use a CP method",
                      problem.config.world));
    if (!problem.mask) return Support::no("no mask given");
    for (const Mask& m : global_kv_masks(problem))
      if (m.seq_q != problem.shape.seq_q || m.seq_k != problem.shape.seq_k)
        return Support::no(fmt::format("mask is {}x{} but the problem is {}x{}", m.seq_q, m.seq_k,
                                       problem.shape.seq_q, problem.shape.seq_k));
    if (problem.head_masks && !problem.head_masks->uniform() &&
        static_cast<int64_t>(problem.head_masks->kv.size()) != problem.shape.heads_kv)
      return Support::no(fmt::format("{} per-head masks for Hkv={} KV heads",
                                     problem.head_masks->kv.size(), problem.shape.heads_kv));
    return Support::yes();
  }

  void setup(const CpProblem& problem, Communicator& world, Kernel& kernel,
             Execution& exec) override {
    Support s = supports(problem);
    CPB_REQUIRE(s.ok(), "{}", s.reason);
    CPB_REQUIRE(world.size() == 1, "method 'none' needs 1 rank, communicator has {}", world.size());
    problem_ = problem;
    kernel_ = &kernel;
    exec_ = &exec;
  }

  std::vector<Range> local_tokens() const override { return {{0, problem_.shape.seq_q}}; }

  void forward(CpTensors& t) override {
    forward_heads(*exec_, *kernel_,
                  {.q = t.q,
                   .k = t.k,
                   .v = t.v,
                   .mask = nullptr,
                   .out = t.out,
                   .lse = t.lse,
                   .scale = problem_.scale},
                  global_kv_masks(problem_));
  }

  void backward(CpTensors& t) override {
    backward_heads(*exec_, *kernel_,
                   {.q = t.q,
                    .k = t.k,
                    .v = t.v,
                    .mask = nullptr,
                    .out = t.out,
                    .dout = t.dout,
                    .lse = t.lse,
                    .dq = t.dq,
                    .dk = t.dk,
                    .dv = t.dv,
                    .scale = problem_.scale,
                    .accumulate = false},
                   global_kv_masks(problem_));
  }

  CommVolume expected_volume() const override {
    return {.formula = "0 (single rank, no communication)"};
  }
  CommStats comm_stats() const override { return {}; }
  void reset_comm_stats() override {}

 private:
  CpProblem problem_{};
  Kernel* kernel_ = nullptr;
  Execution* exec_ = nullptr;
};

}  // namespace

CPB_REGISTER_CP_METHOD(none, NoneMethod);

}  // namespace cpb
