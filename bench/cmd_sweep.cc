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

int run_sweep(const SweepArgs& args, const std::vector<std::string>& command_line, int* argc,
              char*** argv) {
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
  CPB_REQUIRE(!args.out.empty() || args.dry_run, "cpbench sweep needs --out report.json");
  const std::string journal_path = !args.journal.empty()  ? args.journal
                                   : !args.resume.empty() ? args.resume
                                                          : args.out + ".jsonl";
  const bool lead = launcher_rank() == 0;
  if (!args.dry_run) {
    // Writing the report or the journal over an input would destroy it.
    reports::require_not_an_input(args.out, "--out",
                                  {{journal_path, "journal"},
                                   {args.resume, "--resume journal"},
                                   {args.config, "sweep config"}});
    reports::require_not_an_input(journal_path, "journal", {{args.config, "sweep config"}});
  }

  if (args.dry_run) {
    if (lead) {
      for (size_t i = 0; i < cfg.cases.size(); ++i)
        fmt::print("{:>4}/{} {}\n", i + 1, cfg.cases.size(), cfg.cases[i].label());
      for (const auto& [why, n] : cfg.dropped) fmt::print("dropped {}: {}\n", n, why);
      if (!cfg.sample_groups.empty())
        fmt::print("mask samples: {} group(s) of {} seeds, each also reported as one summary\n",
                   cfg.sample_groups.size(), cfg.mask_samples);
    }
    return 0;
  }

  reports::Provenance prov;
  if (lead) prov = reports::collect_local_provenance(command_line);
  int exit_code = 0;
  {
    std::unique_ptr<Communicator> world = make_world_communicator(argc, argv, args.comm);
    prov.mpi_library = mpi_library_version();
    const int rank = world->rank(), P = world->size();
    RunContext ctx{.world = world.get(),
                   .hostnames = gather_strings(*world, reports::local_hostname())};
    // Collective: every rank names its CPU so each host in the report gets its own.
    const std::vector<std::string> cpu_models = gather_strings(*world, reports::local_cpu_model());

    // Cases of this launch size; the rest belong to another launch.
    std::vector<SweepCase> cases;
    std::map<int, int> other_worlds;  // world size -> cases
    auto worlds_text = [&] {
      std::vector<std::string> parts;
      for (const auto& [w, n] : other_worlds) parts.push_back(fmt::format("{} at world {}", n, w));
      return fmt::format("{}", fmt::join(parts, ", "));
    };
    for (const auto& c : cfg.cases) {
      if (c.world == P)
        cases.push_back(c);
      else
        ++other_worlds[c.world];
    }
    std::string problem;
    int problem_code = 2;  // the exit status `problem` calls for (rank_failure.h)
    if (cases.empty())
      problem = fmt::format(
          "{}: no case has world {} (the launch size); world sizes in the "
          "config: {}",
          args.config, P, fmt::join(other_worlds, ", "));
    // Rank 0 owns the files: check them, read the resume journal, tell everyone.
    std::vector<json> done_records;
    if (rank == 0 && problem.empty()) {
      try {
        reports::check_writable(args.out);
        if (!args.resume.empty()) {
          std::vector<CaseSpec> planned;
          for (const auto& c : cases) planned.push_back(to_spec(c, cfg.run));
          done_records = resume_cases(args, sweep_identity(cfg, P), planned, P);
        }
      } catch (const std::exception& e) {  // any failure here is rank 0's alone: agree it
        problem = e.what();
        problem_code = exit_code_of(e);
      }
    }
    raise_if_any(*world, problem.empty() ? 0 : problem_code, problem);
    // Rank 0 writes the journal; when that fails (disk full: exit 3, or anything else),
    // every rank stops here with rank 0's message instead of waiting in the next case's
    // collectives for a rank that left.
    std::string write_problem;
    int write_code = 0;
    auto stop_on_write_failure = [&] { raise_if_any(*world, write_code, write_problem); };

    std::vector<CaseSpec> specs;
    for (const auto& c : cases) specs.push_back(to_spec(c, cfg.run));
    std::map<std::string, json> done;  // id -> record, last one wins
    for (const auto& r : done_records) done[r["id"].get<std::string>()] = r;
    std::vector<double> skip(specs.size(), 0);
    for (size_t i = 0; i < specs.size(); ++i) skip[i] = done.count(specs[i].id()) ? 1 : 0;
    world->all_reduce(skip.data(), skip.size(), ReduceOp::kMax);
    world->reset_stats();

    reports::Journal journal;
    if (rank == 0) {
      bool append = !args.resume.empty() && args.resume == journal_path;
      try {
        journal = reports::Journal(journal_path, /*truncate=*/!append);
        journal.append(reports::journal_header(sweep_identity(cfg, P),
                                               {{"start_time_utc", prov.start_time_utc},
                                                {"command_line", command_line},
                                                {"world_size", P},
                                                {"sweep", cfg.name}}));
        // Carry resumed cases into a new journal so it alone rebuilds the report.
        if (!append)
          for (const auto& [id, r] : done) journal.append(r);
      } catch (const std::exception& e) {
        write_problem = e.what();
        write_code = exit_code_of(e);
        // A new journal without its header line resumes nothing: do not leave it.
        std::error_code ec;
        if (!append && journal.is_open() && std::filesystem::file_size(journal_path, ec) == 0)
          std::filesystem::remove(journal_path, ec);
      }
      int n_skip = static_cast<int>(std::count(skip.begin(), skip.end(), 1.0));
      fmt::print(stderr, "cpbench sweep '{}': {} case(s) on {} rank(s) ({}){}{}; journal {}\n",
                 cfg.name.empty() ? args.config : cfg.name, specs.size(), P, world->backend(),
                 n_skip ? fmt::format(", {} already done (resume)", n_skip) : "",
                 other_worlds.empty()
                     ? ""
                     : fmt::format(", skipping cases of other world sizes ({}: launch with "
                                   "that many ranks)",
                                   worlds_text()),
                 journal_path);
    }
    stop_on_write_failure();

    // A case past its timeout stops the job (a rank stuck in a collective cannot be
    // freed otherwise), but first rank 0 journals it as "timeout", so a resumed sweep
    // skips it and goes on. Other ranks give rank 0 a moment to write.
    struct InFlight {
      std::mutex mutex;
      json record;  // the case running now, as a timeout record
    } in_flight;
    Watchdog dog([&](const std::string& message) {
      if (rank == 0) {
        std::lock_guard<std::mutex> lock(in_flight.mutex);
        if (!in_flight.record.is_null()) {
          in_flight.record["reason"] = message;
          try {
            journal.append(in_flight.record);
          } catch (const std::exception& e) {
            fmt::print(stderr, "{} could not journal the timeout: {}\n", rank_tag(), e.what());
          }
        }
      } else {
        std::this_thread::sleep_for(std::chrono::seconds(2));
      }
      fmt::print(stderr, "{}\n", message);  // it starts with this rank's tag
      abort_job_bounded(kWatchdogExitCode, kAbortGraceSeconds);
    });
    ctx.watchdog = &dog;
    const auto start = SteadyClock::now();
    size_t to_run = static_cast<size_t>(std::count(skip.begin(), skip.end(), 0.0)), ran = 0;
    for (size_t i = 0; i < specs.size(); ++i) {
      if (skip[i] != 0) continue;
      if (rank == 0) {
        reports::CaseResult t;
        t.id = specs[i].id();
        t.params = specs[i].params_json();
        t.status = "timeout";
        t.reason = "watchdog";
        t.wall_seconds = specs[i].timeout_seconds;
        std::lock_guard<std::mutex> lock(in_flight.mutex);
        in_flight.record = json(t);
      }
      std::vector<json> reps;
      json result;
      for (;;) {
        reports::CaseResult r = run_case(specs[i], ctx);
        // All ranks know the status; metrics live on rank 0.
        if (r.status != "ok") {
          result = json(r);
          reps.clear();  // a failed repetition fails the case
          break;
        }
        if (rank != 0) result = json(r);
        double stop = 0;
        if (rank == 0) {
          reps.push_back(json(r));
          stop = sweep_should_stop(cfg.run, pool_progress(reps)) ? 1 : 0;
        }
        world->all_reduce(&stop, 1, ReduceOp::kMax);  // rank 0 decides for everyone
        if (stop != 0) break;
      }
      if (rank == 0 && !reps.empty()) result = pool_repetitions(reps, cfg.run.keep_samples);
      ++ran;
      std::string status = result.value("status", "?");
      if (status == "error" || status == "timeout" || status == "oom")
        exit_code = std::max(exit_code, 1);
      if (rank == 0 && result.contains("verification") && result["verification"].is_object() &&
          result["verification"].value("skipped_reason", "").empty() &&
          !result["verification"].value("passed", false))
        exit_code = std::max(exit_code, 1);  // a case that did not pass; 3 is a write failure
      if (rank == 0) {
        {
          std::lock_guard<std::mutex> lock(in_flight.mutex);
          in_flight.record = json();
        }
        try {
          journal.append(result);
        } catch (const std::exception& e) {
          write_problem = fmt::format("{} (case {} of {} ran but is not journaled: {})", e.what(),
                                      i + 1, specs.size(), result.value("id", "?"));
          write_code = exit_code_of(e);
        }
        double elapsed = std::chrono::duration<double>(SteadyClock::now() - start).count();
        double eta = elapsed / double(ran) * double(to_run - ran);
        fmt::print(stderr, "[{}/{}] {} | {} | elapsed {}, ETA {}\n", i + 1, specs.size(),
                   cases[i].label(), result_line(result), fmt_duration(elapsed), fmt_duration(eta));
      }
      stop_on_write_failure();
    }

    if (rank == 0) {
      // The report is what the journal holds: finished cases in config order.
      std::map<std::string, json> by_id;
      for (const auto& r : journal_cases(journal_path, P)) by_id[r["id"].get<std::string>()] = r;
      reports::Report report;
      prov.end_time_utc = reports::utc_now_iso8601();
      reports::assign_hosts(prov, ctx.hostnames, cpu_models);
      prov.gpu = local_gpu_provenance();
      prov.communicator = world->backend();
      report.provenance = prov;
      report.config = {{"sweep", cfg.raw},
                       {"sweep_file", args.config},
                       {"journal", journal_path},
                       {"world_size", P},
                       {"run",
                        {{"warmup", cfg.run.warmup},
                         {"iterations", cfg.run.iterations},
                         {"repeat", cfg.run.repeat},
                         {"max_repeat", cfg.run.max_repeat},
                         {"min_time_s", cfg.run.min_time_s},
                         {"max_cv", cfg.run.max_cv},
                         {"keep_samples", cfg.run.keep_samples}}},
                       {"cases_other_world_sizes", cfg.cases.size() - cases.size()}};
      json doc = report;
      json out_cases = json::array();
      json summary = {{"cases", 0},   {"ok", 0},  {"unsupported", 0},        {"error", 0},
                      {"timeout", 0}, {"oom", 0}, {"verification_failed", 0}};
      for (const auto& s : specs) {
        auto it = by_id.find(s.id());
        if (it == by_id.end()) continue;
        const json& c = it->second;
        out_cases.push_back(c);
        std::string st = c.value("status", "");
        if (summary.contains(st)) summary[st] = summary[st].get<int>() + 1;
        if (c.contains("verification") && c["verification"].is_object() &&
            c["verification"].value("skipped_reason", "").empty() &&
            !c["verification"].value("passed", false))
          summary["verification_failed"] = summary["verification_failed"].get<int>() + 1;
      }
      summary["cases"] = out_cases.size();
      // Resumed cases count too: the exit status describes the whole report.
      if (summary["error"].get<int>() + summary["timeout"].get<int>() + summary["oom"].get<int>() >
          0)
        exit_code = std::max(exit_code, 1);
      doc["cases"] = out_cases;
      // mask_samples: one summary per group of cases that differ only in the mask seed.
      std::map<int, std::vector<json>> groups;
      for (size_t i = 0; i < specs.size(); ++i)
        if (auto it = by_id.find(specs[i].id()); cases[i].sample_group >= 0 && it != by_id.end())
          groups[cases[i].sample_group].push_back(it->second);
      for (const auto& [g, records] : groups)
        doc["mask_samples"].push_back(summarise_mask_samples(records));
      doc["summary"] = summary;
      auto problems = reports::validate_report(doc);
      CPB_CHECK(problems.empty(), "the sweep report is invalid: {}", fmt::join(problems, "; "));
      try {
        reports::write_json_atomic(args.out, doc);
      } catch (const reports::WriteError& e) {
        throw reports::WriteError(fmt::format(
            "{}; every finished case is in the journal '{}': `cpbench report {} --out {}` "
            "rebuilds the report once there is space",
            e.what(), journal_path, journal_path, args.out));
      }
      double elapsed = std::chrono::duration<double>(SteadyClock::now() - start).count();
      fmt::print(stderr,
                 "cpbench sweep: {} case(s) in {}: {} ok, {} unsupported, {} error, {} timeout; "
                 "report {}\n",
                 out_cases.size(), fmt_duration(elapsed), summary["ok"].get<int>(),
                 summary["unsupported"].get<int>(), summary["error"].get<int>(),
                 summary["timeout"].get<int>(), args.out);
    }
  }
  return exit_code;
}

}  // namespace

void add_sweep_command(CLI::App& app, const std::vector<std::string>& command_line, int* argc,
                       char*** argv) {
  auto args = std::make_shared<SweepArgs>();
  auto* sub = app.add_subcommand(
      "sweep", "run every case of a JSON sweep config (bench/configs/README.md), journaled");
  sub->add_option("config", args->config, "sweep config (JSON)")->required();
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
