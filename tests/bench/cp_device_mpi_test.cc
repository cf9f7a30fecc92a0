// Every CP method on device tensors, under real mpirun (label gpu): the ranks
// share the machine's GPUs (several on one GPU over staged MPI), run cuda_flash
// through the CUDA execution, and verify out, lse, dq, dk, dv against the
// single-rank cpu_reference (gathered to the host), for every sharding and the
// causal, document and sliding-window masks, bf16 with GQA. Skips (on every rank
// alike) where a rank sees no GPU.
#include <gtest/gtest.h>
#include <mpi.h>

#include <string>

#include "bench/case_runner.h"
#include "bench/options.h"
#include "parallel/cp_method.h"
#include "parallel/mpi_communicator.h"
#include "parallel/sharding.h"

namespace cpb::bench {
namespace {

MpiCommunicator& world() {
  static MpiCommunicator w(MPI_COMM_WORLD, /*owns_comm=*/false);
  return w;
}

bool every_rank_has_a_gpu() {
  double gpus = visible_gpus();
  world().all_reduce(&gpus, 1, ReduceOp::kMin);
  return gpus > 0;
}

std::vector<std::string> hostnames() {
  // One host: the ranks share its GPUs by local index.
  return std::vector<std::string>(static_cast<size_t>(world().size()), "localhost");
}

TEST(CpOnDevice, EveryMethodAndShardingVerifies) {
  if (!every_rank_has_a_gpu()) GTEST_SKIP() << "a rank sees no CUDA device";
  const int P = world().size();
  RunContext ctx{.world = &world(), .hostnames = hostnames()};
  int ran = 0;
  for (const std::string& method : CpMethodRegistry::instance().names()) {
    auto m = CpMethodRegistry::instance().create(method);
    if (!m->runs_on(P)) continue;
    for (const std::string& sharding : ShardingRegistry::instance().names())
      for (const char* mask : {"causal", "causal_document", "causal_sliding_window"}) {
        RunOptions o;
        o.kernels = {"cuda_flash"};
        o.methods = {method};
        o.shardings = {sharding};
        o.masks = {mask};
        if (std::string(mask) == "causal_sliding_window") o.mask_params.values["window"] = 200;
        o.seqs = {1024};
        o.heads_q = 8;
        o.heads_kv = 2;  // GQA; Ulysses at P=4 replicates KV heads
        o.head_dim = 64;
        o.dtype = "bf16";
        o.warmup = 1;
        o.iters = 2;
        o.verify = true;
        for (const CaseSpec& c : expand_cases(o, P)) {
          auto r = run_case(c, ctx);
          const std::string name = fmt::format("{} {} {} P={}", method, sharding, mask, P);
          if (r.status == "unsupported") continue;  // e.g. a sharding that cannot split
          EXPECT_EQ(r.status, "ok") << name << ": " << r.reason;
          ++ran;
          if (world().rank() != 0 || r.status != "ok") continue;
          ASSERT_TRUE(r.verification) << name;
          EXPECT_TRUE(r.verification->passed) << name;
          for (const auto& t : r.verification->tensors)
            EXPECT_TRUE(t.passed) << name << " " << t.tensor << " err " << t.max_abs_error
                                  << " tol " << t.tolerance;
          ASSERT_TRUE(r.metrics);
          EXPECT_EQ(r.params.value("device", ""), "cuda") << name;
          // Same formulas on device as on host: measured bytes are exact.
          EXPECT_EQ(r.metrics->bytes_sent_max, r.metrics->expected_bytes_sent_max) << name;
          ASSERT_TRUE(r.metrics->peak_device_bytes_max) << name;
        }
      }
  }
  EXPECT_GT(ran, 0);
}

}  // namespace
}  // namespace cpb::bench
