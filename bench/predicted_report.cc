#include "bench/predicted_report.h"

#include <fmt/format.h>

#include <algorithm>

#include "bench/stats.h"
#include "common/errors.h"
#include "masks/head_masks.h"
#include "masks/mask_spec.h"
#include "parallel/cp_method.h"
#include "parallel/sharding.h"
#include "reports/provenance.h"
#include "reports/validate.h"

namespace cpb::bench {
namespace {

reports::TimeStats one_value(double s) {
  return {.iterations = 1, .median = s, .mean = s, .min = s, .max = s, .p10 = s, .p90 = s};
}

// The report's per-rank block of one rank's prediction.
reports::RankMetrics rank_metrics(const model::RankPrediction& r, const model::Topology& topo) {
  reports::RankMetrics rm;
  rm.rank = r.rank;
  rm.hostname = fmt::format("model-node{}", topo.node_of(r.rank));
  rm.step_seconds = one_value(r.step_seconds);
  rm.compute_seconds = r.compute_seconds;
  rm.comm_wait_seconds = r.exposed_comm_seconds;
  rm.overhead_seconds = r.step_seconds - r.compute_seconds - r.exposed_comm_seconds;
  rm.bytes_sent = r.bytes_sent;
  rm.bytes_received = r.bytes_received;
  rm.expected_bytes_sent = r.expected_bytes_sent;
  rm.expected_bytes_received = r.expected_bytes_received;
  rm.peak_device_bytes = r.peak_memory_bytes;
  rm.local_tokens = r.local_tokens;
  rm.area = r.area;
  return rm;
}

reports::CaseMetrics case_metrics(const CaseSpec& spec, const HeadMasks& masks,
                                  const model::Prediction& p, const model::Topology& topo) {
  reports::CaseMetrics m;
  const int P = spec.cp.world;
  // As the case runner: per-head masks give mean area and density, FLOPs the exact sum.
  m.mask_area = masks.mean_area();
  m.mask_density = masks.mean_density();
  m.flops = case_flops(spec.pass, masks, spec.head_dim, spec.heads_q, spec.heads_kv);
  m.step_seconds = one_value(p.step_seconds);
  m.tflops_total = p.step_seconds > 0 ? m.flops / p.step_seconds / 1e12 : 0;
  m.tflops_per_rank = m.tflops_total / P;
  m.compute_seconds = p.compute_seconds;
  m.comm_wait_seconds = p.exposed_comm_seconds;
  m.exposed_comm_seconds = p.exposed_comm_seconds;
  m.overlap_efficiency = p.overlap_efficiency;
  m.time_imbalance = p.time_imbalance;
  std::vector<int64_t> areas;
  double mean_step = 0;
  for (const model::RankPrediction& r : p.ranks) {
    reports::RankMetrics rm = rank_metrics(r, topo);
    areas.push_back(r.area);
    m.harness_overhead_seconds = std::max(m.harness_overhead_seconds, rm.overhead_seconds);
    if (r.step_seconds > 0)
      m.harness_overhead_fraction =
          std::max(m.harness_overhead_fraction, rm.overhead_seconds / r.step_seconds);
    m.bytes_sent_max = std::max(m.bytes_sent_max, r.bytes_sent);
    m.bytes_received_max = std::max(m.bytes_received_max, r.bytes_received);
    m.expected_bytes_sent_max = std::max(m.expected_bytes_sent_max, r.expected_bytes_sent);
    m.expected_bytes_received_max =
        std::max(m.expected_bytes_received_max, r.expected_bytes_received);
    mean_step += r.step_seconds / P;
    m.ranks.push_back(std::move(rm));
  }
  m.tflops_per_rank_mean_time = mean_step > 0 ? m.flops / (mean_step * P) / 1e12 : 0;
  m.area_imbalance = cpb::imbalance(areas);
  m.peak_device_bytes_max = p.peak_memory_bytes;
  return m;
}

}  // namespace

reports::CaseResult predict_case(const CaseSpec& spec, const model::ModelInputs& base) {
  reports::CaseResult res;
  res.id = spec.id();
  res.params = spec.params_json();
  // Per-head masks (block_sparse_topk per_head) reach the trace, which then records
  // one kernel call per KV head with its own area and tiles.
  const HeadMasks masks = make_head_masks(spec.mask, spec.seq, spec.heads_kv);
  const CpProblem problem{.shape = {.seq_q = spec.seq,
                                    .seq_k = spec.seq,
                                    .heads_q = spec.heads_q,
                                    .heads_kv = spec.heads_kv,
                                    .head_dim = spec.head_dim,
                                    .dtype = spec.dtype},
                          .mask = &masks.kv[0],
                          .scale = 1.0f,
                          .config = spec.cp,
                          .head_masks = &masks};
  const Support s = CpMethodRegistry::instance().create(spec.method)->supports(problem);
  if (!s.ok()) {
    res.status = "unsupported";
    res.reason = s.reason;
    return res;
  }
  model::ModelInputs in = base;
  in.kernel = spec.kernel;
  in.forward = spec.pass != Pass::kBackward;
  in.backward = spec.pass != Pass::kForward;
  const model::Prediction p = model::predict(spec.method, problem, in);
  res.status = "ok";
  res.metrics = case_metrics(spec, masks, p, *base.topology);
  return res;
}

nlohmann::json predicted_report(const PredictedReportInputs& in) {
  const model::KernelProfile& kp = *in.kernels;
  const model::Topology& topo = *in.topology;
  const model::ModelInputs inputs{.kernels = &kp, .kernel = "", .topology = &topo};
  reports::Report report;
  report.provenance = reports::collect_local_provenance(in.command_line);
  std::vector<std::string> hosts;
  for (int r = 0; r < in.world; ++r) hosts.push_back(fmt::format("model-node{}", topo.node_of(r)));
  reports::assign_hosts(report.provenance, hosts);
  report.provenance.communicator = "model";
  report.config = in.config;
  for (const auto& spec : in.specs) {
    reports::CaseResult r = predict_case(spec, inputs);
    if (in.progress)
      fmt::print(
          in.progress, "{} {}: {}\n", r.status, r.id,
          r.metrics ? fmt::format("{:.3f} ms", r.metrics->step_seconds.median * 1e3) : r.reason);
    report.cases.push_back(std::move(r));
  }
  report.provenance.end_time_utc = reports::utc_now_iso8601();
  nlohmann::json j = report;
  j["provenance"]["model"] = {{"predicted", true},
                              {"kernel_profile", kp.path},
                              {"kernel_profile_name", kp.name},
                              {"topology", topo.path},
                              {"topology_name", topo.name},
                              {"ranks_per_node", topo.ranks_per_node}};
  for (auto& c : j["cases"]) c["predicted"] = true;
  const auto problems = reports::validate_report(j);
  CPB_CHECK(problems.empty(), "predicted report fails its own schema: {}", problems.front());
  return j;
}

}  // namespace cpb::bench
