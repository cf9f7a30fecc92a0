// Synthetic schema-v1 reports for the compare/merge/table tests: built through the
// real report structs and writer (reports/report.h), so they pass validate_report()
// exactly like a run's output, with step-time samples we choose.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "reports/report.h"

namespace cpb::test {

inline double percentile_of(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  double pos = p * double(v.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(pos));
  size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - double(lo));
}

inline reports::TimeStats stats_of(const std::vector<double>& v) {
  reports::TimeStats s;
  s.iterations = static_cast<int64_t>(v.size());
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / double(v.size());
  double var = 0;
  for (double x : v) var += (x - s.mean) * (x - s.mean);
  s.cv = s.mean > 0 ? std::sqrt(var / double(v.size())) / s.mean : 0;
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  s.median = percentile_of(v, 0.5);
  s.p10 = percentile_of(v, 0.1);
  s.p90 = percentile_of(v, 0.9);
  return s;
}

// n samples around `center` seconds with relative spread `spread` (deterministic).
inline std::vector<double> samples(double center, double spread, int n = 20, int phase = 0) {
  std::vector<double> v;
  for (int i = 0; i < n; ++i)
    v.push_back(center * (1 + spread * std::sin(1.7 * (i + phase) + 0.3)));
  return v;
}

struct SynthCase {
  std::string method = "ring_p2p";
  std::string mask = "causal";
  int64_t seq = 4096;
  int world = 2;
  std::string status = "ok";
  std::vector<double> step;  // per-iteration samples (seconds)
  bool keep_samples = true;
  int64_t bytes_sent = 1 << 20;
  double flops = 1e12;
  double compute = 0.0;  // seconds; 0 = 80% of the median step
  double exposed = -1;   // seconds; -1 = 10% of the median step
  int64_t rss = 256 << 20;
};

inline nlohmann::json make_report(const std::vector<SynthCase>& cases, int world = 2,
                                  const std::string& host = "testhost") {
  reports::Report r;
  auto& p = r.provenance;
  p.tool_version = "0.1.0";
  p.git_commit = "0123456789abcdef0123456789abcdef01234567";
  p.git_dirty = false;
  p.git_source = "build";
  p.command_line = {"cpbench", "sweep", "synthetic.json"};
  p.start_time_utc = "2026-11-23T10:00:00Z";
  p.end_time_utc = "2026-11-23T10:05:00Z";
  p.world_size = world;
  reports::HostInfo h{.hostname = host, .ranks = {}};
  for (int i = 0; i < world; ++i) h.ranks.push_back(i);
  p.hosts = {h};
  p.ranks_per_host = world;
  p.cpu_model = "Synthetic CPU";
  p.cpu_cores = 2;
  p.compiler = "g++";
  p.mpi_library = "none";
  p.communicator = "self";
  r.config = {{"synthetic", true}};
  for (const SynthCase& s : cases) {
    reports::CaseResult c;
    c.params = {{"kernel", "cpu_flash"},
                {"mask", {{"kind", s.mask}}},
                {"seq", s.seq},
                {"heads_q", 8},
                {"heads_kv", 8},
                {"head_dim", 64},
                {"dtype", "fp32"},
                {"pass", "fwd"},
                {"warmup", 1},
                {"iters", static_cast<int64_t>(s.step.size())},
                {"seed", 0},
                {"verify", false},
                {"method", s.method},
                {"world_size", s.world},
                {"degrees", {{"ulysses", 1}, {"ring", s.world}, {"inner_ring", 1}}},
                {"placement", "contiguous"},
                {"sharding", "contiguous"},
                {"timeout_seconds", 60}};
    c.id = s.method + "/" + s.mask + "/S" + std::to_string(s.seq) + "/P" + std::to_string(s.world);
    c.status = s.status;
    if (s.status != "ok") c.reason = "synthetic " + s.status;
    c.wall_seconds = 1;
    if (s.status == "ok") {
      reports::CaseMetrics m;
      m.mask_area = s.seq * (s.seq + 1) / 2;
      m.mask_density = 0.5;
      m.flops = s.flops;
      m.step_seconds = stats_of(s.step);
      double med = m.step_seconds.median;
      m.tflops_total = s.flops / med / 1e12;
      m.tflops_per_rank = m.tflops_total / s.world;
      m.tflops_per_rank_mean_time = m.tflops_per_rank;
      m.compute_seconds = s.compute > 0 ? s.compute : 0.8 * med;
      m.comm_wait_seconds = s.exposed >= 0 ? s.exposed : 0.1 * med;
      m.exposed_comm_seconds = m.comm_wait_seconds;
      m.overlap_efficiency = m.compute_seconds / (m.compute_seconds + m.exposed_comm_seconds);
      m.harness_overhead_seconds = med - m.compute_seconds - m.exposed_comm_seconds;
      m.harness_overhead_fraction = m.harness_overhead_seconds / med;
      m.bytes_sent_max = s.bytes_sent;
      m.bytes_received_max = s.bytes_sent;
      m.expected_bytes_sent_max = s.bytes_sent;
      m.expected_bytes_received_max = s.bytes_sent;
      m.expected_volume_formula = "synthetic";
      m.peak_rss_bytes_max = s.rss;
      for (int i = 0; i < s.world; ++i) {
        reports::RankMetrics rm;
        rm.rank = i;
        rm.hostname = host;
        rm.step_seconds = m.step_seconds;
        rm.compute_seconds = m.compute_seconds;
        rm.comm_wait_seconds = m.comm_wait_seconds;
        rm.bytes_sent = s.bytes_sent;
        rm.bytes_received = s.bytes_sent;
        rm.expected_bytes_sent = s.bytes_sent;
        rm.expected_bytes_received = s.bytes_sent;
        rm.local_tokens = s.seq / s.world;
        rm.peak_rss_bytes = s.rss;
        m.ranks.push_back(rm);
      }
      c.metrics = m;
    }
    r.cases.push_back(c);
  }
  nlohmann::json j = r;
  // Per-iteration samples ride in step_seconds.samples (docs/sweeps.md).
  for (size_t i = 0; i < cases.size(); ++i)
    if (cases[i].status == "ok" && cases[i].keep_samples)
      j["cases"][i]["metrics"]["step_seconds"]["samples"] = cases[i].step;
  return j;
}

}  // namespace cpb::test
