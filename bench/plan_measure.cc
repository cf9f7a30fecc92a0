#include "bench/plan_measure.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>

#include "bench/launch.h"
#include "bench/plan_runner.h"
#include "bench/predicted_report.h"
#include "bench/rank_failure.h"
#include "common/errors.h"
#include "common/limits.h"
#include "parallel/agree.h"
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

// Rank 0 checks the predicted report's path (run_launch checks --out); every rank
// learns at once whether it can be written.
void check_predicted_output(Communicator& world, const std::string& out) {
  std::string problem;
  int code = 0;
  if (world.rank() == 0 && !out.empty()) {
    try {
      reports::check_writable(predicted_path(out));
    } catch (const std::exception& e) {
      problem = e.what();
      code = exit_code_of(e);
    }
  }
  raise_if_any(world, code, problem);
}

// The top cases as one launch of the runner `run` and `sweep` use (bench/plan_runner.h):
// journal, watchdog and report as theirs; one repetition of f.warmup + f.iters each.
LaunchPlan launch_plan(const std::vector<Measured>& top, const MeasureFlags& f,
                       const nlohmann::json& config) {
  LaunchPlan plan;
  for (const auto& t : top) {
    plan.specs.push_back(t.spec);
    plan.labels.push_back(t.candidate->describe());
    plan.sample_groups.push_back(-1);
  }
  plan.run = {.warmup = f.warmup,
              .iterations = f.iters,
              .repeat = 1,
              .seed = 0,
              .verify = false,
              .timeout_s = f.timeout_seconds,
              .keep_samples = false,
              .min_time_s = 0,
              .max_cv = 0,
              .max_repeat = 1};
  plan.identity = config;
  plan.report_config = config;
  return plan;
}

std::vector<Row> side_by_side(const std::vector<Measured>& top, const nlohmann::json& measured,
                              const nlohmann::json& predicted) {
  std::vector<Row> rows;
  for (std::size_t i = 0; i < top.size(); ++i) {
    Row r{.config = top[i].candidate->describe(), .status = "missing"};
    for (const auto& c : predicted["cases"])
      if (c["id"] == top[i].spec.id() && c["status"] == "ok")
        r.predicted = c["metrics"]["step_seconds"]["median"].get<double>();
    for (const auto& c : measured["cases"])
      if (c["id"] == top[i].spec.id()) {
        r.status = c["status"].get<std::string>();
        if (r.status == "ok") r.measured = c["metrics"]["step_seconds"]["median"].get<double>();
      }
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace

int measure_plan(const PlanToMeasure& p, const MeasureFlags& f) {
  const std::vector<Measured> top = top_cases(p, f);
  if (top.empty()) return 1;  // every rank planned the same: none launches
  // The measured report, its journal and the predicted report beside it may not
  // overwrite a profile or the plan; checked on every rank before the launch.
  LaunchFiles files;
  files.out = f.out;
  const std::vector<std::pair<std::string, std::string>> inputs = {
      {p.kernels->path, "--kernel-profile"},
      {p.topology->path, "--topology"},
      {p.json_out, "--json"}};
  files.check_not_inputs(inputs);
  if (!f.out.empty()) {
    auto others = inputs;
    others.push_back({f.out, "--out"});
    others.push_back({files.journal_path(), "journal"});
    reports::require_not_an_input(predicted_path(f.out), "predicted report", others);
  }
  Launch launch = Launch::start(p.command_line, nullptr, nullptr, "auto");
  Communicator& world = *launch.world;
  CPB_REQUIRE(world.size() == p.world,
              "plan --measure: --world {} but this launch has {} rank(s); measure under "
              "mpirun -np {} (or plan for --world {})",
              p.world, world.size(), p.world, world.size());
  check_predicted_output(world, f.out);
  const nlohmann::json config = {{"plan_measure",
                                  {{"world", p.world},
                                   {"top", f.top},
                                   {"kernel_profile", p.kernels->path},
                                   {"topology", p.topology->path},
                                   {"problem", p.problem.params_json()}}},
                                 {"world_size", p.world}};
  nlohmann::json measured;  // rank 0: the report run_launch built
  const Voice voice{.start = {},
                    .case_done =
                        [](size_t, const nlohmann::json& r, const Progress&) {
                          fmt::print(stderr, "measured: {} {}\n", r.value("status", "?"),
                                     r.value("id", "?"));
                        },
                    .end = [&](const nlohmann::json& doc, double) { measured = doc; }};
  const int exit_code = run_launch(launch, launch_plan(top, f, config), files, voice);
  if (world.rank() != 0) return exit_code;

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
    reports::write_json_atomic(predicted_path(f.out), predicted);
    fmt::print("reports: {} (measured), {} (predicted)\n", f.out, predicted_path(f.out));
  }
  return exit_code;
}

}  // namespace cpb::bench
