#include "reports/report.h"

#include "reports/fields.h"

namespace cpb::reports {

using nlohmann::json;

void to_json(json& j, const TimeStats& s) {
  j = json{{"iterations", s.iterations},
           {"median", s.median},
           {"mean", s.mean},
           {"min", s.min},
           {"max", s.max},
           {"p10", s.p10},
           {"p90", s.p90},
           {"cv", s.cv}};
  if (!s.samples.empty()) {
    j["samples"] = s.samples;
    j["samples_kind"] = "iteration";
  }
}

void to_json(json& j, const Provenance& p) {
  json hosts = json::array();
  for (const auto& h : p.hosts)
    hosts.push_back({{"hostname", h.hostname},
                     {"ranks", h.ranks},
                     {"cpu_model", h.cpu_model.empty() ? json(nullptr) : json(h.cpu_model)}});
  auto opt = [](const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); };
  json gpu = {{"models", p.gpu.models},
              {"driver_version", opt(p.gpu.driver_version)},
              {"cuda_runtime_version", opt(p.gpu.runtime_version)},
              {"nccl_version", opt(p.gpu.nccl_version)},
              {"note", p.gpu.note}};
  j = json{{"tool", {{"name", p.tool_name}, {"version", p.tool_version}}},
           {"git_commit", p.git_commit},
           {"git_dirty", p.git_dirty ? json(*p.git_dirty) : json(nullptr)},
           {"git_source", p.git_source},
           {"git_commit_runtime", opt(p.git_commit_runtime)},
           {"command_line", p.command_line},
           {"start_time_utc", p.start_time_utc},
           {"end_time_utc", p.end_time_utc},
           {"world_size", p.world_size},
           {"hosts", hosts},
           {"ranks_per_host", p.ranks_per_host},
           {"cpu_model", p.cpu_model},
           {"cpu_cores", p.cpu_cores},
           {"compiler", p.compiler},
           {"mpi_library", p.mpi_library},
           {"communicator", p.communicator},
           {"env", p.env},
           {"gpu", gpu}};
}

void to_json(json& j, const RankMetrics& r) {
  json ops = json::array();
  for (const auto& o : r.ops)
    ops.push_back({{"op", o.op},
                   {"calls", o.calls},
                   {"bytes_sent", o.bytes_sent},
                   {"bytes_received", o.bytes_received},
                   {"wait_seconds", o.wait_seconds}});
  j = json{{"rank", r.rank},
           {"hostname", r.hostname},
           {"step_seconds", r.step_seconds},
           {"ops", ops},
           {"peak_rss_reset", r.peak_rss_reset}};
  write_scalar_fields(j, r, rank_metric_fields());
  if (r.peak_device_bytes) j["peak_device_bytes"] = *r.peak_device_bytes;
  if (r.driver_peak_used_bytes) j["driver_peak_used_bytes"] = *r.driver_peak_used_bytes;
}

void to_json(json& j, const CaseMetrics& m) {
  // Scalars from the field table (reports/fields.h); structured fields here.
  j = json{{"step_seconds", m.step_seconds},
           {"expected_volume_formula", m.expected_volume_formula},
           {"ranks", m.ranks}};
  write_scalar_fields(j, m, case_metric_fields());
  if (m.peak_device_bytes_max) j["peak_device_bytes_max"] = *m.peak_device_bytes_max;
  if (m.driver_peak_used_bytes_max) j["driver_peak_used_bytes_max"] = *m.driver_peak_used_bytes_max;
}

void to_json(json& j, const Verification& v) {
  json tensors = json::array();
  for (const auto& t : v.tensors)
    tensors.push_back({{"tensor", t.tensor},
                       {"max_abs_error", t.max_abs_error},
                       {"max_rel_error", t.max_rel_error},
                       {"tolerance", t.tolerance},
                       {"passed", t.passed}});
  j = json{{"reference", v.reference}, {"passed", v.passed}, {"atol", v.atol},
           {"rtol", v.rtol},           {"tensors", tensors}, {"skipped_reason", v.skipped_reason}};
}

void to_json(json& j, const CaseResult& c) {
  j = json{{"id", c.id},
           {"params", c.params},
           {"status", c.status},
           {"reason", c.reason},
           {"wall_seconds", c.wall_seconds},
           {"metrics", c.metrics ? json(*c.metrics) : json(nullptr)},
           {"verification", c.verification ? json(*c.verification) : json(nullptr)}};
}

namespace {

// Reads j[key] into `out` when present and not null; absent keeps the default.
template <typename T>
void read_if(const json& j, const char* key, T& out) {
  if (j.is_object() && j.contains(key) && !j[key].is_null()) j[key].get_to(out);
}

template <typename T>
void read_if(const json& j, const char* key, std::optional<T>& out) {
  if (j.is_object() && j.contains(key) && !j[key].is_null()) out = j[key].get<T>();
}

}  // namespace

void from_json(const json& j, TimeStats& s) {
  read_if(j, "iterations", s.iterations);
  read_if(j, "median", s.median);
  read_if(j, "mean", s.mean);
  read_if(j, "min", s.min);
  read_if(j, "max", s.max);
  read_if(j, "p10", s.p10);
  read_if(j, "p90", s.p90);
  read_if(j, "cv", s.cv);
  read_if(j, "samples", s.samples);
}

void from_json(const json& j, OpBytes& o) {
  read_if(j, "op", o.op);
  read_if(j, "calls", o.calls);
  read_if(j, "bytes_sent", o.bytes_sent);
  read_if(j, "bytes_received", o.bytes_received);
  read_if(j, "wait_seconds", o.wait_seconds);
}

void from_json(const json& j, RankMetrics& r) {
  read_if(j, "rank", r.rank);
  read_if(j, "hostname", r.hostname);
  read_if(j, "step_seconds", r.step_seconds);
  read_if(j, "ops", r.ops);
  read_if(j, "peak_rss_reset", r.peak_rss_reset);
  read_scalar_fields(j, r, rank_metric_fields());
  read_if(j, "peak_device_bytes", r.peak_device_bytes);
  read_if(j, "driver_peak_used_bytes", r.driver_peak_used_bytes);
}

void from_json(const json& j, CaseMetrics& m) {
  read_if(j, "step_seconds", m.step_seconds);
  read_if(j, "expected_volume_formula", m.expected_volume_formula);
  read_if(j, "ranks", m.ranks);
  read_scalar_fields(j, m, case_metric_fields());
  read_if(j, "peak_device_bytes_max", m.peak_device_bytes_max);
  read_if(j, "driver_peak_used_bytes_max", m.driver_peak_used_bytes_max);
}

json conventions() {
  return json{
      {"time_unit", "s"},
      {"bytes_unit", "B"},
      {"flops_forward", "4 * mask_area * head_dim * heads_q"},
      {"flops_backward", "2.5 * flops_forward"},
      {"flops_forward_backward", "3.5 * flops_forward"},
      {"step_time", "per iteration, max over ranks of the rank's wall time (barrier before each)"},
      {"tflops_per_rank", "flops / (median step_seconds * world_size) / 1e12"},
      {"tflops_per_rank_mean_time",
       "flops / (mean over ranks of the rank's median step * world_size) / 1e12 "
       "(LongCA-bench comparable)"},
      {"percentiles", "linear interpolation between order statistics (p at rank p*(n-1))"},
      {"cv", "population stdev / mean"},
      {"exposed_comm", "time blocked in communicator ops (comm_wait_seconds)"},
      {"overlap_efficiency", "compute / (compute + exposed comm) on the slowest rank"},
      {"memory",
       "peak resident set size (VmHWM) in bytes; CUDA cases also peak_device_bytes (tracked "
       "allocations) and driver_peak_used_bytes (cudaMemGetInfo used)"},
      {"step_time_cuda", "CUDA cases: device time between CUDA events around the step"}};
}

void to_json(json& j, const Report& r) {
  int ok = 0, unsupported = 0, error = 0, timeout = 0, oom = 0, verify_failed = 0;
  for (const auto& c : r.cases) {
    ok += c.status == "ok";
    unsupported += c.status == "unsupported";
    error += c.status == "error";
    timeout += c.status == "timeout";
    oom += c.status == "oom";
    verify_failed +=
        c.verification && c.verification->skipped_reason.empty() && !c.verification->passed;
  }
  j = json{{"schema", kSchemaName},
           {"schema_version", kSchemaVersion},
           {"provenance", r.provenance},
           {"conventions", conventions()},
           {"config", r.config},
           {"cases", r.cases},
           {"summary",
            {{"cases", static_cast<int>(r.cases.size())},
             {"ok", ok},
             {"unsupported", unsupported},
             {"error", error},
             {"timeout", timeout},
             {"oom", oom},
             {"verification_failed", verify_failed}}}};
}

}  // namespace cpb::reports
