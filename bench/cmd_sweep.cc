// `cpbench sweep config.json --out run.json`: every case of a JSON sweep config through
// the case runner, collectively. Rank 0 prints progress on stderr, appends each
// finished case to the journal (fsync'd) and assembles the final report from the
// journal, so a sweep killed half-way keeps every finished case and `--resume`
// skips them. A case runs only when its world size equals the launch size (one
// launch per world size, merged later with `cpbench report`; see docs/sweeps.md).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#ifdef CPB_HAVE_MPI
#include <mpi.h>
#endif

#include "bench/case_runner.h"
#include "bench/commands.h"
#include "bench/host_provenance.h"
#include "bench/launch.h"
#include "bench/options.h"
#include "bench/rank_failure.h"
#include "bench/sweep_config.h"
#include "common/errors.h"
#include "kernels/kernel.h"
#include "masks/mask_spec.h"
#include "parallel/agree.h"
#include "parallel/cp_method.h"
#include "parallel/sharding.h"
#include "parallel/watchdog.h"
#include "parallel/world.h"
#include "reports/atomic_write.h"
#include "reports/journal.h"
#include "reports/provenance.h"
#include "reports/validate.h"

namespace cpb::bench {
namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

struct SweepArgs {
  std::string config, out, journal, resume, comm = "auto";
  int repeat = 0;  // 0: the config's
  bool keep_samples = false;
  bool dry_run = false;
  bool allow_new_cases = false;  // --resume: accept added cases (settings must match)
};

// A planned point as the runner takes it: case_spec() (shared with `run`) plus the
// config's measurement options.
CaseSpec to_spec(const SweepCase& c, const SweepRunOptions& r) {
  CaseSpec s = case_spec(c);
  s.warmup = r.warmup;
  s.iters = r.iterations;
  s.seed = r.seed;
  s.verify = r.verify;
  s.timeout_seconds = r.timeout_s;
  // Repetitions are pooled from per-iteration samples, so every pooled statistic
  // (median, p10, p90, cv) is over the same population as iterations/min/max.
  s.keep_samples = r.keep_samples || r.repeat > 1 || r.max_repeat > 1;
  return s;
}

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

// Case records of a journal (lines with an id and a status), validated; InputError
// naming the file and the record for anything unreadable (reports/journal.h).
std::vector<json> journal_cases(const std::string& path, int world) {
  return reports::read_resume_journal(path, world).cases;
}

// What a resumed journal must have been written under (reports/journal.h): the sweep
// as given, the effective run settings (command-line overrides applied) and the launch
// size. With --allow-new-cases only kSettingsKeys must match.
json sweep_identity(const SweepConfig& cfg, int world) {
  return {{"sweep", cfg.raw},
          {"world_size", world},
          {"run",
           {{"warmup", cfg.run.warmup},
            {"iterations", cfg.run.iterations},
            {"repeat", cfg.run.repeat},
            {"max_repeat", cfg.run.max_repeat},
            {"min_time_s", cfg.run.min_time_s},
            {"max_cv", cfg.run.max_cv},
            {"seed", cfg.run.seed},
            {"verify", cfg.run.verify},
            {"timeout_s", cfg.run.timeout_s},
            {"keep_samples", cfg.run.keep_samples}}}};
}
const std::vector<std::string> kSettingsKeys = {"/run", "/world_size", "/sweep/name"};

// Rank 0's resume checks: the journal's configuration, then (with --allow-new-cases)
// every done case that this launch plans again must carry the same parameters.
std::vector<json> resume_cases(const SweepArgs& args, const json& identity,
                               const std::vector<CaseSpec>& specs, int world) {
  reports::ResumeJournal j = reports::read_resume_journal(args.resume, world);
  reports::check_resume_config(args.resume, j, identity, args.allow_new_cases, kSettingsKeys);
  std::map<std::string, const CaseSpec*> planned;
  for (const auto& s : specs) planned[s.id()] = &s;
  for (const json& r : j.cases)
    if (auto it = planned.find(r.value("id", "")); it != planned.end())
      reports::check_done_case(args.resume, r, it->second->params_json());
  return j.cases;
}

// Phase 1: the config as the command line adjusts it (--repeat, --keep-samples).
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

// The cases of this launch size (as planned points and as runner specs); the rest
// belong to launches of other sizes.
struct LaunchCases {
  std::vector<SweepCase> cases;
  std::vector<CaseSpec> specs;
  std::map<int, int> other_worlds;  // world size -> cases
  std::string other_worlds_text() const {
    std::vector<std::string> parts;
    for (const auto& [w, n] : other_worlds) parts.push_back(fmt::format("{} at world {}", n, w));
    return fmt::format("{}", fmt::join(parts, ", "));
  }
};

LaunchCases launch_cases(const SweepConfig& cfg, int world) {
  LaunchCases l;
  for (const auto& c : cfg.cases) {
    if (c.world == world) {
      l.cases.push_back(c);
      l.specs.push_back(to_spec(c, cfg.run));
    } else {
      ++l.other_worlds[c.world];
    }
  }
  return l;
}

// Phase 2, collective: rank 0 owns the files (checks --out, reads the resume journal);
// any failure there is agreed so every rank stops with its message. Returns the
// finished cases by id (last record wins) and which planned cases they cover, the
// same on every rank.
std::map<std::string, json> resume_or_start(const SweepArgs& args, const SweepConfig& cfg,
                                            const LaunchCases& l, Communicator& world,
                                            std::vector<double>& skip) {
  const int P = world.size();
  std::string problem;
  int problem_code = 2;  // the exit status `problem` calls for (rank_failure.h)
  if (l.cases.empty())
    problem = fmt::format(
        "{}: no case has world {} (the launch size); world sizes in the "
        "config: {}",
        args.config, P, fmt::join(l.other_worlds, ", "));
  std::vector<json> done_records;
  if (world.rank() == 0 && problem.empty()) {
    try {
      reports::check_writable(args.out);
      if (!args.resume.empty())
        done_records = resume_cases(args, sweep_identity(cfg, P), l.specs, P);
    } catch (const std::exception& e) {  // any failure here is rank 0's alone: agree it
      problem = e.what();
      problem_code = exit_code_of(e);
    }
  }
  raise_if_any(world, problem.empty() ? 0 : problem_code, problem);
  std::map<std::string, json> done;  // id -> record, last one wins
  for (const auto& r : done_records) done[r["id"].get<std::string>()] = r;
  skip.assign(l.specs.size(), 0);
  for (size_t i = 0; i < l.specs.size(); ++i) skip[i] = done.count(l.specs[i].id()) ? 1 : 0;
  world.all_reduce(skip.data(), skip.size(), ReduceOp::kMax);
  world.reset_stats();
  return done;
}

// One case with its repetitions, collectively: runs until rank 0's stopping rule says
// enough (it decides for everyone) or a repetition fails (that fails the case). The
// pooled result on rank 0; the status record on the others.
json run_repetitions(const CaseSpec& spec, RunContext& ctx, const SweepRunOptions& run) {
  const int rank = ctx.world->rank();
  std::vector<json> reps;
  json result;
  for (;;) {
    reports::CaseResult r = run_case(spec, ctx);
    // All ranks know the status; metrics live on rank 0.
    if (r.status != "ok") return json(r);
    if (rank != 0) result = json(r);
    double stop = 0;
    if (rank == 0) {
      reps.push_back(json(r));
      stop = sweep_should_stop(run, pool_progress(reps)) ? 1 : 0;
    }
    ctx.world->all_reduce(&stop, 1, ReduceOp::kMax);  // rank 0 decides for everyone
    if (stop != 0) break;
  }
  return rank == 0 ? pool_repetitions(reps, run.keep_samples) : result;
}

bool verification_failed(const json& c) {
  return c.contains("verification") && c["verification"].is_object() &&
         c["verification"].value("skipped_reason", "").empty() &&
         !c["verification"].value("passed", false);
}

// Phase 4, rank 0: the report is what the journal holds (finished cases, resumed
// ones included, in config order), with its summary and the mask sample groups.
// `worst` rises to 1 when a case in it failed.
json build_report(const SweepArgs& args, const SweepConfig& cfg, const LaunchCases& l,
                  const std::string& journal_path, reports::Provenance prov, int world_size,
                  int* worst) {
  std::map<std::string, json> by_id;
  for (const auto& r : journal_cases(journal_path, world_size))
    by_id[r["id"].get<std::string>()] = r;
  reports::Report report;
  report.provenance = std::move(prov);
  report.config = {{"sweep", cfg.raw},
                   {"sweep_file", args.config},
                   {"journal", journal_path},
                   {"world_size", world_size},
                   {"run",
                    {{"warmup", cfg.run.warmup},
                     {"iterations", cfg.run.iterations},
                     {"repeat", cfg.run.repeat},
                     {"max_repeat", cfg.run.max_repeat},
                     {"min_time_s", cfg.run.min_time_s},
                     {"max_cv", cfg.run.max_cv},
                     {"keep_samples", cfg.run.keep_samples}}},
                   {"cases_other_world_sizes", cfg.cases.size() - l.cases.size()}};
  json doc = report;
  json out_cases = json::array();
  json summary = {{"cases", 0},   {"ok", 0},  {"unsupported", 0},        {"error", 0},
                  {"timeout", 0}, {"oom", 0}, {"verification_failed", 0}};
  std::map<int, std::vector<json>> groups;  // mask sample group -> its records
  for (size_t i = 0; i < l.specs.size(); ++i) {
    auto it = by_id.find(l.specs[i].id());
    if (it == by_id.end()) continue;
    const json& c = it->second;
    out_cases.push_back(c);
    std::string st = c.value("status", "");
    if (summary.contains(st)) summary[st] = summary[st].get<int>() + 1;
    if (verification_failed(c))
      summary["verification_failed"] = summary["verification_failed"].get<int>() + 1;
    if (l.cases[i].sample_group >= 0) groups[l.cases[i].sample_group].push_back(c);
  }
  summary["cases"] = out_cases.size();
  // Resumed cases count too: the exit status describes the whole report.
  if (summary["error"].get<int>() + summary["timeout"].get<int>() + summary["oom"].get<int>() > 0)
    *worst = std::max(*worst, 1);
  doc["cases"] = out_cases;
  for (const auto& [g, records] : groups)
    doc["mask_samples"].push_back(summarise_mask_samples(records));
  doc["summary"] = summary;
  return doc;
}

int run_sweep(const SweepArgs& args, const std::vector<std::string>& command_line, int* argc,
              char*** argv) {
  SweepConfig cfg = load_config(args);
  CPB_REQUIRE(!args.out.empty() || args.dry_run, "cpbench sweep needs --out report.json");
  const std::string journal_path = !args.journal.empty()  ? args.journal
                                   : !args.resume.empty() ? args.resume
                                                          : args.out + ".jsonl";
  if (args.dry_run) {
    if (launcher_rank() == 0) print_dry_run(cfg);
    return 0;
  }
  // Writing the report or the journal over an input would destroy it.
  reports::require_not_an_input(args.out, "--out",
                                {{journal_path, "journal"},
                                 {args.resume, "--resume journal"},
                                 {args.config, "sweep config"}});
  reports::require_not_an_input(journal_path, "journal", {{args.config, "sweep config"}});

  int exit_code = 0;
  {
    Launch launch = Launch::start(command_line, argc, argv, args.comm);
    Communicator& world = *launch.world;
    const int rank = world.rank(), P = world.size();
    const LaunchCases todo = launch_cases(cfg, P);
    std::vector<double> skip;
    const std::map<std::string, json> done = resume_or_start(args, cfg, todo, world, skip);
    const std::vector<CaseSpec>& specs = todo.specs;

    // Rank 0 writes the journal (the header, then into a new journal the resumed cases,
    // so it alone rebuilds the report); a failure stops every rank with its message.
    LaunchJournal journal;
    if (rank == 0) {
      std::vector<json> carried;
      bool append = !args.resume.empty() && args.resume == journal_path;
      if (!append)
        for (const auto& [id, r] : done) carried.push_back(r);
      journal.open(journal_path, append,
                   reports::journal_header(sweep_identity(cfg, P),
                                           {{"start_time_utc", launch.prov.start_time_utc},
                                            {"command_line", command_line},
                                            {"world_size", P},
                                            {"sweep", cfg.name}}),
                   carried);
      int n_skip = static_cast<int>(std::count(skip.begin(), skip.end(), 1.0));
      fmt::print(stderr, "cpbench sweep '{}': {} case(s) on {} rank(s) ({}){}{}; journal {}\n",
                 cfg.name.empty() ? args.config : cfg.name, specs.size(), P, world.backend(),
                 n_skip ? fmt::format(", {} already done (resume)", n_skip) : "",
                 todo.other_worlds.empty()
                     ? ""
                     : fmt::format(", skipping cases of other world sizes ({}: launch with "
                                   "that many ranks)",
                                   todo.other_worlds_text()),
                 journal_path);
    }
    journal.agree(world);

    InFlight in_flight;
    Watchdog dog([&](const std::string& m) { in_flight.on_timeout(rank, journal, m); });
    launch.ctx.watchdog = &dog;
    const auto start = SteadyClock::now();
    size_t to_run = static_cast<size_t>(std::count(skip.begin(), skip.end(), 0.0)), ran = 0;
    for (size_t i = 0; i < specs.size(); ++i) {
      if (skip[i] != 0) continue;
      if (rank == 0) in_flight.set(specs[i]);
      json result = run_repetitions(specs[i], launch.ctx, cfg.run);
      ++ran;
      std::string status = result.value("status", "?");
      if (status == "error" || status == "timeout" || status == "oom")
        exit_code = std::max(exit_code, 1);
      if (rank == 0 && verification_failed(result))
        exit_code = std::max(exit_code, 1);  // a case that did not pass; 3 is a write failure
      if (rank == 0) {
        in_flight.clear();
        journal.append(result, fmt::format("case {} of {} ran but is not journaled: {}", i + 1,
                                           specs.size(), result.value("id", "?")));
        double elapsed = std::chrono::duration<double>(SteadyClock::now() - start).count();
        double eta = elapsed / double(ran) * double(to_run - ran);
        fmt::print(stderr, "[{}/{}] {} | {} | elapsed {}, ETA {}\n", i + 1, specs.size(),
                   todo.cases[i].label(), result_line(result), fmt_duration(elapsed),
                   fmt_duration(eta));
      }
      journal.agree(world);
    }

    if (rank == 0) {
      launch.finish_provenance();
      json doc = build_report(args, cfg, todo, journal_path, launch.prov, P, &exit_code);
      write_report(args.out, doc, journal_path);
      const json& summary = doc["summary"];
      double elapsed = std::chrono::duration<double>(SteadyClock::now() - start).count();
      fmt::print(stderr,
                 "cpbench sweep: {} case(s) in {}: {} ok, {} unsupported, {} error, {} timeout; "
                 "report {}\n",
                 summary["cases"].get<int>(), fmt_duration(elapsed), summary["ok"].get<int>(),
                 summary["unsupported"].get<int>(), summary["error"].get<int>(),
                 summary["timeout"].get<int>(), args.out);
    }
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
  sub->add_option("--out", args->out, "report path (JSON)");
  sub->add_option("--journal", args->journal, "journal path (default <out>.jsonl)");
  sub->add_option("--resume", args->resume,
                  "journal of an interrupted sweep: its finished cases are kept, not re-run");
  sub->add_flag("--allow-new-cases", args->allow_new_cases,
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
