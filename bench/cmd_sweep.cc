// `cpbench sweep config.json --out run.json`: every case of a JSON sweep config through
// the one runner `cpbench run` uses too (bench/plan_runner.h): rank 0 prints progress on
// stderr, journals each finished case (fsync'd) and builds the report from every
// finished case, so a sweep killed half-way keeps them and `--resume` skips them. A
// case runs only when its world size equals the launch size (one launch per world size,
// merged later with `cpbench report`; see docs/sweeps.md). This file holds what is the
// sweep's own: reading the config, the dry run, its progress lines and report config.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench/commands.h"
#include "bench/host_provenance.h"
#include "bench/launch.h"
#include "bench/plan_runner.h"
#include "bench/sweep_config.h"
#include "common/errors.h"
#include "kernels/kernel.h"
#include "parallel/agree.h"
#include "parallel/cp_method.h"
#include "parallel/sharding.h"
#include "parallel/world.h"

namespace cpb::bench {
namespace {

using nlohmann::json;

struct SweepArgs {
  std::string config, comm = "auto";
  LaunchFiles files;
  int repeat = 0;  // 0: the config's
  bool keep_samples = false;
  bool dry_run = false;
};

// Ranks per node as the launcher says (Open MPI, MPICH, Slurm); 0 when unknown. Degree
// rules read it when the config gives no ranks_per_node.
int launcher_ranks_per_node() {
  for (const char* var : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"})
    if (const char* v = std::getenv(var); v && std::atoi(v) > 0) return std::atoi(v);
  return 0;
}

std::string fmt_duration(double s) {
  if (s < 120) return fmt::format("{:.1f}s", s);
  if (s < 7200) return fmt::format("{:.1f}min", s / 60);
  return fmt::format("{:.1f}h", s / 3600);
}

std::string result_line(const json& r) {
  std::string status = r.value("status", "?");
  if (status != "ok") return fmt::format("{}: {}", status, r.value("reason", ""));
  const json& m = r["metrics"];
  const json& st = m["step_seconds"];
  std::string v;
  if (r.contains("verification") && r["verification"].is_object()) {
    const json& ver = r["verification"];
    v = !ver.value("skipped_reason", "").empty() ? ", verify skipped"
        : ver.value("passed", false)             ? ", verify PASS"
                                                 : ", verify FAIL";
  }
  return fmt::format(
      "ok: median {:.4g} ms (p10 {:.4g}, p90 {:.4g}, cv {:.1f}%, n={}), {:.3f} "
      "TFLOP/s/rank, exposed comm {:.3g} ms{}",
      st.value("median", 0.0) * 1e3, st.value("p10", 0.0) * 1e3, st.value("p90", 0.0) * 1e3,
      st.value("cv", 0.0) * 100, st.value("iterations", 0), m.value("tflops_per_rank", 0.0),
      m.value("exposed_comm_seconds", 0.0) * 1e3, v);
}

// The config as the command line adjusts it (--repeat, --keep-samples).
SweepConfig load_config(const SweepArgs& args) {
  SweepNames names{.kernels = KernelRegistry::instance().names(),
                   .methods = CpMethodRegistry::instance().names(),
                   .shardings = ShardingRegistry::instance().names(),
                   .mask_kinds = {},
                   .ranks_per_node = launcher_ranks_per_node()};
  SweepConfig cfg = load_sweep_config(args.config, names);
  if (args.repeat > 0) {
    cfg.run.repeat = args.repeat;
    cfg.run.max_repeat = std::max(cfg.run.max_repeat, args.repeat);
  }
  if (args.keep_samples) cfg.run.keep_samples = true;
  return cfg;
}

void print_dry_run(const SweepConfig& cfg) {
  for (size_t i = 0; i < cfg.cases.size(); ++i)
    fmt::print("{:>4}/{} {}\n", i + 1, cfg.cases.size(), cfg.cases[i].label());
  for (const auto& [why, n] : cfg.dropped) fmt::print("dropped {}: {}\n", n, why);
  if (!cfg.sample_groups.empty())
    fmt::print("mask samples: {} group(s) of {} seeds, each also reported as one summary\n",
               cfg.sample_groups.size(), cfg.mask_samples);
}

std::string other_worlds_text(const std::map<int, int>& other_worlds) {
  std::vector<std::string> parts;
  for (const auto& [w, n] : other_worlds) parts.push_back(fmt::format("{} at world {}", n, w));
  return fmt::format("{}", fmt::join(parts, ", "));
}

json report_config(const SweepArgs& args, const SweepConfig& cfg, const LaunchPlan& plan,
                   int world) {
  return {{"sweep", cfg.raw},
          {"sweep_file", args.config},
          {"journal", args.files.journal_path()},
          {"world_size", world},
          {"run",
           {{"warmup", cfg.run.warmup},
            {"iterations", cfg.run.iterations},
            {"repeat", cfg.run.repeat},
            {"max_repeat", cfg.run.max_repeat},
            {"min_time_s", cfg.run.min_time_s},
            {"max_cv", cfg.run.max_cv},
            {"keep_samples", cfg.run.keep_samples}}},
          {"cases_other_world_sizes", cfg.cases.size() - plan.specs.size()}};
}

// The sweep's lines, on stderr: the plan, one progress line per case, the summary.
Voice sweep_voice(const SweepArgs& args, const SweepConfig& cfg, const LaunchPlan& plan,
                  const Communicator& world) {
  Voice v;
  v.start = [&](size_t cases, size_t done, const std::string& journal) {
    fmt::print(stderr, "cpbench sweep '{}': {} case(s) on {} rank(s) ({}){}{}; journal {}\n",
               cfg.name.empty() ? args.config : cfg.name, cases, world.size(), world.backend(),
               done ? fmt::format(", {} already done (resume)", done) : "",
               plan.other_worlds.empty()
                   ? ""
                   : fmt::format(", skipping cases of other world sizes ({}: launch with "
                                 "that many ranks)",
                                 other_worlds_text(plan.other_worlds)),
               journal);
  };
  v.case_done = [&](size_t i, const json& result, const Progress& at) {
    double eta = at.elapsed_s / double(at.ran) * double(at.to_run - at.ran);
    fmt::print(stderr, "[{}/{}] {} | {} | elapsed {}, ETA {}\n", i + 1, at.total, plan.labels[i],
               result_line(result), fmt_duration(at.elapsed_s), fmt_duration(eta));
  };
  v.end = [&](const json& doc, double elapsed_s) {
    const json& summary = doc["summary"];
    fmt::print(stderr,
               "cpbench sweep: {} case(s) in {}: {} ok, {} unsupported, {} error, {} timeout; "
               "report {}\n",
               summary["cases"].get<int>(), fmt_duration(elapsed_s), summary["ok"].get<int>(),
               summary["unsupported"].get<int>(), summary["error"].get<int>(),
               summary["timeout"].get<int>(), args.files.out);
  };
  return v;
}

int run_sweep(const SweepArgs& args, const std::vector<std::string>& command_line, int* argc,
              char*** argv) {
  SweepConfig cfg = load_config(args);
  CPB_REQUIRE(!args.files.out.empty() || args.dry_run, "cpbench sweep needs --out report.json");
  if (args.dry_run) {
    if (launcher_rank() == 0) print_dry_run(cfg);
    return 0;
  }
  // Writing the report or the journal over an input would destroy it.
  args.files.check_not_inputs({{args.config, "sweep config"}});
  int exit_code = 0;
  {
    Launch launch = Launch::start(command_line, argc, argv, args.comm);
    const int P = launch.world->size();
    LaunchPlan plan = plan_launch(cfg, P);
    if (plan.specs.empty())  // the same on every rank: agreed like any other stop
      raise_if_any(*launch.world, 2,
                   fmt::format("{}: no case has world {} (the launch size); world sizes in the "
                               "config: {}",
                               args.config, P, fmt::join(plan.other_worlds, ", ")));
    plan.journal_extra = {{"sweep", cfg.name}};
    plan.report_config = report_config(args, cfg, plan, P);
    exit_code = run_launch(launch, plan, args.files, sweep_voice(args, cfg, plan, *launch.world));
  }  // the world (and MPI) ends here, on every rank
  return exit_code;
}

}  // namespace

void add_sweep_command(CLI::App& app, const std::vector<std::string>& command_line, int* argc,
                       char*** argv) {
  auto args = std::make_shared<SweepArgs>();
  auto* sub = app.add_subcommand(
      "sweep", "run every case of a JSON sweep config (bench/configs/README.md), journaled");
  sub->add_option("config", args->config, "sweep config (JSON)")->required();
  {  // `cpbench sweep --help` ends with every config key (bench/configs/README.md)
    std::string keys = "\nConfig keys:\n";
    for (const auto& [key, what] : sweep_config_keys())
      keys += fmt::format("  {:<18} {}\n", key, what);
    sub->footer(keys);
  }
  sub->add_option("--out", args->files.out, "report path (JSON)");
  sub->add_option("--journal", args->files.journal, "journal path (default <out>.jsonl)");
  sub->add_option("--resume", args->files.resume,
                  "journal of an interrupted sweep: its finished cases are kept, not re-run");
  sub->add_flag("--allow-new-cases", args->files.allow_new_cases,
                "--resume: accept a config that adds cases (run settings must be the same)");
  // >= 1: an explicit 0 or negative count would otherwise fall back to the config's.
  sub->add_option("--repeat", args->repeat, "repetitions per case (overrides the config)")
      ->check(CLI::Range(1, std::numeric_limits<int>::max()));
  sub->add_flag("--keep-samples", args->keep_samples,
                "keep per-iteration step times in the report (overrides the config)");
  sub->add_flag("--dry-run", args->dry_run, "print the expanded cases and exit");
  sub->add_option("--comm", args->comm,
                  "communicator backend: auto | self | mpi | nccl (default auto)");
  sub->callback(
      [args, command_line, argc, argv] { std::exit(run_sweep(*args, command_line, argc, argv)); });
}

}  // namespace cpb::bench
