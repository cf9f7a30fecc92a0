// Report schema v1 as plain structs: what one `cpbench` run measured, case by case,
// with the provenance needed to reproduce it. reports/SCHEMA.md documents every
// field (unit, convention); to_json() here is the only writer, from_json() reads the
// metrics back (scalars through reports/fields.h), validate_report() is the only
// reader-side check. Case parameters that belong to lower layers (the mask spec)
// are carried as JSON so reports/ depends on nothing below it.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cpb::reports {

inline constexpr int kSchemaVersion = 1;
inline constexpr const char* kSchemaName = "cpbench-report";

// Summary of a sample of durations in seconds (see SCHEMA.md "Statistics").
struct TimeStats {
  int64_t iterations = 0;
  double median = 0, mean = 0, min = 0, max = 0, p10 = 0, p90 = 0;
  double cv = 0;  // stdev / mean, population stdev; 0 when mean is 0
  // Per-iteration step times (s, max over ranks), kept only when asked: compare's
  // Mann-Whitney test needs the samples, not just their summary.
  std::vector<double> samples;

  bool operator==(const TimeStats&) const = default;
};

struct HostInfo {
  std::string hostname;
  std::vector<int> ranks;  // world ranks on this host
  std::string cpu_model;   // model name of this host's /proc/cpuinfo; "" when not gathered
};

// GPUs as the lead rank's process sees them. Plain data filled by bench/ (reports/
// stays free of CUDA and NCCL); nullopt fields are written as null with gpu_note.
struct GpuProvenance {
  std::vector<std::string> models;  // one per visible device, in device order
  std::optional<std::string> driver_version, runtime_version, nccl_version;  // "13.0", "2.21.5"
  std::string note;  // why a field is null, e.g. "not built with CUDA"
};

struct Provenance {
  std::string tool_name = "cpbench";
  std::string tool_version;
  std::string git_commit;         // 40 hex, or "unknown"
  std::optional<bool> git_dirty;  // nullopt when the source tree was not reachable
  std::string git_source;  // "build": commit and dirty flag baked in when the binary was built
  // Cross-check: the source tree's commit asked of git at run time (nullopt when unreachable).
  std::optional<std::string> git_commit_runtime;
  std::vector<std::string> command_line;
  std::string start_time_utc, end_time_utc;  // ISO-8601, e.g. 2026-11-23T10:57:21Z
  int world_size = 1;
  std::vector<HostInfo> hosts;
  int ranks_per_host = 1;  // max over hosts
  std::string cpu_model;
  int cpu_cores = 0;  // logical CPUs online on rank 0's host
  std::string compiler;
  std::string mpi_library;                 // "none" when built or run without MPI
  std::string communicator;                // backend name, e.g. "mpi", "self"
  std::map<std::string, std::string> env;  // OMPI_*, NCCL_*, CUDA_VISIBLE_DEVICES, OMP_NUM_THREADS
  GpuProvenance gpu;
};

struct OpBytes {
  std::string op;  // p2p, all_to_all, all_gather, reduce_scatter, all_reduce
  int64_t calls = 0;
  int64_t bytes_sent = 0, bytes_received = 0;
  double wait_seconds = 0;

  bool operator==(const OpBytes&) const = default;
};

// One rank's view of a case; values are per timed iteration (mean over iterations).
struct RankMetrics {
  int rank = 0;
  std::string hostname;
  TimeStats step_seconds;        // this rank's own iteration times
  double compute_seconds = 0;    // inside kernel calls
  double comm_wait_seconds = 0;  // blocked in communicator ops
  double overhead_seconds = 0;   // mean step - compute - comm wait
  int64_t bytes_sent = 0, bytes_received = 0;
  int64_t expected_bytes_sent = 0, expected_bytes_received = 0;
  std::vector<OpBytes> ops;  // only ops with calls > 0
  int64_t local_tokens = 0;
  int64_t area = 0;             // visible pairs of the mask rows this rank's queries own
  int64_t peak_rss_bytes = 0;   // VmHWM after the case
  bool peak_rss_reset = false;  // true when VmHWM was reset at the case start
  // CUDA cases only (absent from the JSON otherwise): tracked device bytes at peak
  // (the case's tensors + the kernel's scratch) and the driver's used-memory peak.
  std::optional<int64_t> peak_device_bytes;
  std::optional<int64_t> driver_peak_used_bytes;

  bool operator==(const RankMetrics&) const = default;
};

struct CaseMetrics {
  int64_t mask_area = 0;
  double mask_density = 0;
  double flops = 0;                      // per step, per SCHEMA.md convention for the pass
  TimeStats step_seconds;                // per iteration: max over ranks
  double tflops_total = 0;               // flops / median step / 1e12
  double tflops_per_rank = 0;            // flops / (median step * P) / 1e12
  double tflops_per_rank_mean_time = 0;  // LongCA-bench comparable: mean over ranks of rank median
  double compute_seconds = 0;            // max over ranks
  double comm_wait_seconds = 0;          // max over ranks
  double exposed_comm_seconds = 0;       // max over ranks of comm wait
  double overlap_efficiency = 1;         // compute / (compute + exposed comm), slowest rank
  double harness_overhead_seconds = 0;   // max over ranks
  double harness_overhead_fraction = 0;  // overhead / median step
  double area_imbalance = 1;             // max/mean of per-rank area
  double time_imbalance = 1;             // max/mean of per-rank median step
  int64_t bytes_sent_max = 0, bytes_received_max = 0;
  int64_t expected_bytes_sent_max = 0, expected_bytes_received_max = 0;
  std::string expected_volume_formula;
  int64_t peak_rss_bytes_max = 0;
  std::optional<int64_t> peak_device_bytes_max;       // CUDA cases: max over ranks
  std::optional<int64_t> driver_peak_used_bytes_max;  // CUDA cases: max over ranks
  std::vector<RankMetrics> ranks;

  bool operator==(const CaseMetrics&) const = default;
};

struct TensorError {
  std::string tensor;  // out, lse, dq, dk, dv
  double max_abs_error = 0;
  double max_rel_error = 0;  // max_abs_error / max |reference|
  double tolerance = 0;      // atol + rtol * max |reference|
  bool passed = false;
};

struct Verification {
  std::string reference;  // kernel name of the oracle
  bool passed = false;
  double atol = 0, rtol = 0;
  std::vector<TensorError> tensors;
  std::string skipped_reason;  // non-empty: verification asked for but not done
};

struct CaseResult {
  std::string id;                      // stable key: method/kernel/mask/seq/...
  nlohmann::json params;               // see SCHEMA.md "Case parameters"
  std::string status;                  // ok | unsupported | error | timeout
  std::string reason;                  // empty when ok
  std::optional<CaseMetrics> metrics;  // present when status == ok
  std::optional<Verification> verification;
  double wall_seconds = 0;  // whole case on rank 0, setup and verification included
};

struct Report {
  Provenance provenance;
  nlohmann::json config;  // the run/sweep configuration as given
  std::vector<CaseResult> cases;
};

void to_json(nlohmann::json& j, const TimeStats& s);
void to_json(nlohmann::json& j, const Provenance& p);
void to_json(nlohmann::json& j, const RankMetrics& r);
void to_json(nlohmann::json& j, const CaseMetrics& m);
void to_json(nlohmann::json& j, const Verification& v);
void to_json(nlohmann::json& j, const CaseResult& c);
// Adds schema name/version, conventions and the summary block.
void to_json(nlohmann::json& j, const Report& r);

// Readers of what the writers above write, for code that needs the structs back (pooling,
// tests). Lenient: a field the JSON lacks keeps its default (a report written before the
// field existed); validate_report() is where a missing field is an error.
void from_json(const nlohmann::json& j, TimeStats& s);
void from_json(const nlohmann::json& j, OpBytes& o);
void from_json(const nlohmann::json& j, RankMetrics& r);
void from_json(const nlohmann::json& j, CaseMetrics& m);

// The conventions block every report carries (FLOP counting, units, statistics).
nlohmann::json conventions();

}  // namespace cpb::reports
