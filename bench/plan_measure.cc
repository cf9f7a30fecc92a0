#include "bench/plan_measure.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>

#include "bench/case_runner.h"
#include "bench/launch.h"
#include "bench/predicted_report.h"
#include "bench/rank_failure.h"
#include "common/errors.h"
#include "common/limits.h"
#include "parallel/agree.h"
#include "parallel/watchdog.h"
#include "reports/atomic_write.h"

namespace cpb::bench {

void MeasureFlags::add(CLI::App* sub) {
  sub->add_option("--measure", top,
                  "under mpirun -np <--world>: run the top N for real and print predicted vs "
                  "measured (docs/model.md)")
      ->check(CLI::Range(0, 1000));
  given_with_measure = {
      sub->add_option("--warmup", warmup, "--measure: untimed iterations per case (default 1)")
          ->check(CLI::Range(int64_t{0}, kMaxIterations)),
      sub->add_option("--iters", iters, "--measure: timed iterations per case (default 3)")
          ->check(CLI::Range(int64_t{1}, kMaxIterations)),
      sub->add_option("--timeout", timeout_seconds,
                      "--measure: per-case watchdog in seconds, 0 disables (default 600)"),
      sub->add_option("--out", out,
                      "--measure: measured report (JSON); the predicted one goes beside it as "
                      "<stem>.predicted.json")};
}

void MeasureFlags::check() const {
  for (const CLI::Option* o : given_with_measure)
    CPB_REQUIRE(top > 0 || o->count() == 0,
                "plan: {} applies to --measure N, which is not given (the plan alone is "
                "written with --json)",
                o->get_name());
}

void check_measurable(const std::string& kernel, const AttentionShape& shape) {
  const auto& registry = KernelRegistry::instance();
  CPB_REQUIRE(registry.contains(kernel),
              "plan --measure: kernel '{}' (the profile's) is not a kernel of this build ({}); "
              "measure with one that runs here: --kernel cpu_flash and a --kernel-profile "
              "calibrated for it (cpbench calibrate --kernel cpu_flash)",
              kernel, fmt::join(registry.names(), ", "));
  const auto k = registry.create(kernel);
  AttentionShape cpu = shape, gpu = shape;
  cpu.device = Device::kCpu;
  gpu.device = Device::kCuda;
  const Support on_cpu = k->supports(cpu);
  if (on_cpu.ok()) return;
  const Support on_gpu = k->supports(gpu);
  CPB_REQUIRE(on_gpu.ok(),
              "plan --measure: kernel '{}' cannot run here (CPU: {}; GPU: {}); give a kernel "
              "that does, e.g. --kernel cpu_flash with a calibrated --kernel-profile",
              kernel, on_cpu.reason, on_gpu.reason);
}

std::string predicted_path(const std::string& measured_path) {
  const std::string ext = ".json";
  if (measured_path.size() > ext.size() &&
      measured_path.compare(measured_path.size() - ext.size(), ext.size(), ext) == 0)
    return measured_path.substr(0, measured_path.size() - ext.size()) + ".predicted.json";
  return measured_path + ".predicted.json";
}

namespace {

// One configuration to measure: the planner's candidate and its case.
struct Measured {
  const model::PlanCandidate* candidate;
  CaseSpec spec;
};

// The top flags.top ok candidates as cases of the problem, measured as `run` measures.
std::vector<Measured> top_cases(const PlanToMeasure& p, const MeasureFlags& f) {
  std::vector<Measured> top;
  for (const auto& c : *p.plan) {
    if (c.status != "ok" || static_cast<int>(top.size()) == f.top) continue;
    CaseSpec s = p.problem;
    s.method = c.method;
    s.cp = {.world = p.world,
            .ulysses_degree = c.layout.ulysses,
            .ring_degree = c.layout.ring,
            .inner_ring = c.layout.inner_ring,
            .placement = c.layout.placement,
            .sharding = c.sharding};
    s.warmup = f.warmup;
    s.iters = f.iters;
    s.timeout_seconds = f.timeout_seconds;
    s.verify = false;
    top.push_back({&c, std::move(s)});
  }
  return top;
}

// One row of the side-by-side table; measured < 0 when the case did not run ok.
struct Row {
  std::string config, status;
  double predicted = 0, measured = -1;
};

// Two predictions the model makes equal (the same schedule under two names): no
// ordering claim between them.
bool tie(double a, double b) { return std::abs(a - b) <= 1e-4 * std::max(a, b); }

// Whether measured rank `rank` is a place the model gave row i: its position, or any
// position of the rows it predicts equal.
bool same_place(const std::vector<Row>& rows, std::size_t i, int rank) {
  int first = 1, last = 0;
  for (const Row& o : rows) {
    if (o.measured < 0) continue;
    if (tie(o.predicted, rows[i].predicted))
      ++last;
    else if (o.predicted < rows[i].predicted)
      ++first, ++last;
  }
  return first <= rank && rank <= last;
}

// Measured rank (1 = fastest) of each ok row, 0 for the others.
std::vector<int> measured_ranks(const std::vector<Row>& rows) {
  std::vector<int> rank(rows.size(), 0);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].measured < 0) continue;
    rank[i] = 1;
    for (const Row& o : rows)
      if (o.measured >= 0 && o.measured < rows[i].measured) ++rank[i];
  }
  return rank;
}

void print_table(const std::vector<Row>& rows, const MeasureFlags& f, int world,
                 const std::string& backend) {
  fmt::print("\nmeasured on {} ranks ({} communicator), {} warm-up + {} timed iterations each\n\n",
             world, backend, f.warmup, f.iters);
  fmt::print("{:>3}  {:<34} {:>12} {:>12} {:>8} {:>7}  {}\n", "#", "configuration", "predicted ms",
             "measured ms", "error", "meas #", "same place");
  const std::vector<int> rank = measured_ranks(rows);
  int agree = 0, pairs = 0;
  std::vector<double> errors;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    if (r.measured < 0) {
      fmt::print("{:>3}  {:<34} {:>12.3f} {:>12} {:>8} {:>7}  -\n", i + 1, r.config,
                 r.predicted * 1e3, r.status, "-", "-");
      continue;
    }
    const double err = 100.0 * (r.predicted - r.measured) / r.measured;
    errors.push_back(std::abs(err));
    fmt::print("{:>3}  {:<34} {:>12.3f} {:>12.3f} {:>+7.1f}% {:>7}  {}\n", i + 1, r.config,
               r.predicted * 1e3, r.measured * 1e3, err, rank[i],
               same_place(rows, i, rank[i]) ? "yes" : "no");
    for (std::size_t j = 0; j < i; ++j) {
      if (rows[j].measured < 0 || tie(rows[j].predicted, r.predicted)) continue;
      ++pairs;
      agree += rows[j].measured <= r.measured;
    }
  }
  std::sort(errors.begin(), errors.end());
  const std::size_t n = errors.size();
  if (n > 0)
    fmt::print(
        "\nmedian |error| {:.1f}%, worst {:.1f}%; pairs the measurement orders as the "
        "model: {} of {} (pairs it predicts equal left out)\n",
        n % 2 ? errors[n / 2] : (errors[n / 2 - 1] + errors[n / 2]) / 2, errors.back(), agree,
        pairs);
  fmt::print(
      "error = (predicted - measured) / measured; measured = median over iterations of "
      "the step time (max over ranks)\n");
}

// Rank 0 checks both outputs; every rank learns at once whether they can be written.
void check_outputs(Communicator& world, const std::string& out) {
  std::string problem;
  int code = 0;
  if (world.rank() == 0 && !out.empty()) {
    try {
      reports::check_writable(out);
      reports::check_writable(predicted_path(out));
    } catch (const std::exception& e) {
      problem = e.what();
      code = exit_code_of(e);
    }
  }
  raise_if_any(world, code, problem);
}

// The cases through run_case, journaled and under the watchdog as `run` runs them.
// Complete on rank 0 only (the case runner's convention).
std::vector<reports::CaseResult> run_cases(const std::vector<Measured>& top, Launch& launch,
                                           const std::string& journal_path,
                                           const std::vector<std::string>& command_line) {
  Communicator& world = *launch.world;
  const int rank = world.rank();
  LaunchJournal journal;
  if (rank == 0 && !journal_path.empty())
    journal.open(journal_path, /*append=*/false,
                 {{"journal", "cpbench"},
                  {"schema_version", reports::kSchemaVersion},
                  {"start_time_utc", launch.prov.start_time_utc},
                  {"command_line", command_line},
                  {"world_size", world.size()}});
  journal.agree(world);
  InFlight in_flight;
  Watchdog dog([&](const std::string& m) { in_flight.on_timeout(rank, journal, m); });
  launch.ctx.watchdog = &dog;
  std::vector<reports::CaseResult> results;
  for (const auto& t : top) {
    if (rank == 0) in_flight.set(t.spec);
    reports::CaseResult r = run_case(t.spec, launch.ctx);
    if (rank == 0) {
      in_flight.clear();
      fmt::print(stderr, "measured: {} {}\n", r.status, r.id);
      journal.append(nlohmann::json(r));
    }
    results.push_back(std::move(r));
    journal.agree(world);
  }
  launch.ctx.watchdog = nullptr;
  return results;
}

std::vector<Row> side_by_side(const std::vector<Measured>& top,
                              const std::vector<reports::CaseResult>& measured,
                              const nlohmann::json& predicted) {
  std::vector<Row> rows;
  for (std::size_t i = 0; i < top.size(); ++i) {
    const nlohmann::json& pc = predicted["cases"][i];
    Row r{.config = top[i].candidate->describe(), .status = measured[i].status};
    if (pc["status"] == "ok") r.predicted = pc["metrics"]["step_seconds"]["median"].get<double>();
    if (measured[i].status == "ok") r.measured = measured[i].metrics->step_seconds.median;
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace

int measure_plan(const PlanToMeasure& p, const MeasureFlags& f) {
  const std::vector<Measured> top = top_cases(p, f);
  if (top.empty()) return 1;  // every rank planned the same: none launches
  Launch launch = Launch::start(p.command_line, nullptr, nullptr, "auto");
  Communicator& world = *launch.world;
  CPB_REQUIRE(world.size() == p.world,
              "plan --measure: --world {} but this launch has {} rank(s); measure under "
              "mpirun -np {} (or plan for --world {})",
              p.world, world.size(), p.world, world.size());
  check_outputs(world, f.out);
  world.reset_stats();
  const std::string journal_path = f.out.empty() ? "" : f.out + ".jsonl";
  std::vector<reports::CaseResult> measured = run_cases(top, launch, journal_path, p.command_line);
  int exit_code = 0;
  for (const auto& r : measured)
    if (r.status == "error" || r.status == "oom") exit_code = 1;
  if (world.rank() != 0) return exit_code;

  const nlohmann::json config = {{"plan_measure",
                                  {{"world", p.world},
                                   {"top", f.top},
                                   {"kernel_profile", p.kernels->path},
                                   {"topology", p.topology->path},
                                   {"problem", p.problem.params_json()}}},
                                 {"world_size", p.world}};
  std::vector<CaseSpec> specs;
  for (const auto& t : top) specs.push_back(t.spec);
  const nlohmann::json predicted = predicted_report({.specs = specs,
                                                     .kernels = p.kernels,
                                                     .topology = p.topology,
                                                     .world = p.world,
                                                     .config = config,
                                                     .command_line = p.command_line});
  print_table(side_by_side(top, measured, predicted), f, p.world, world.backend());
  if (!f.out.empty()) {
    launch.finish_provenance();
    reports::Report report{.provenance = launch.prov, .config = config, .cases = measured};
    write_report(f.out, nlohmann::json(report), journal_path);
    reports::write_json_atomic(predicted_path(f.out), predicted);
    fmt::print("reports: {} (measured), {} (predicted)\n", f.out, predicted_path(f.out));
  }
  return exit_code;
}

}  // namespace cpb::bench
