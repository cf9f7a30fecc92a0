// cpbench: the driver. Subcommands list / mask / run / validate (docs/cli.md), plus
// sweep / compare / report registered from bench/commands.h.
// Arguments are parsed before the communicator starts, so a typo fails fast on
// every rank alike; InputError is caught once, here, and becomes exit status 2.
// `run` is a sweep of one config: its flags become a config for the sweep planner and
// it runs through the sweep's runner (bench/plan_runner.h), so it resumes and repeats
// as a sweep does. Exit status of `run`: 0 when every case is ok or unsupported, 1 when
// a case (oom too) ended in error or failed its verification, 2 for bad input, 3 when an
// output could not be written (disk full: reports::WriteError), 124 when the watchdog
// stopped the job.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <CLI/CLI.hpp>
#include <chrono>
#include <thread>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#ifdef CPB_HAVE_MPI
#include <mpi.h>
#endif

#include "bench/case_flags.h"
#include "bench/case_runner.h"
#include "bench/cli_checks.h"
#include "bench/commands.h"
#include "bench/host_provenance.h"
#include "bench/launch.h"
#include "bench/mask_flags.h"
#include "bench/model_commands.h"
#include "bench/options.h"
#include "bench/plan_runner.h"
#include "bench/rank_failure.h"
#include "bench/stats.h"
#include "common/errors.h"
#include "common/limits.h"
#include "kernels/kernel.h"
#include "masks/block_map.h"
#include "masks/doclen.h"
#include "masks/generators.h"
#include "masks/mask_spec.h"
#include "masks/render.h"
#include "parallel/agree.h"
#include "parallel/cp_method.h"
#include "parallel/sharding.h"
#include "parallel/watchdog.h"
#include "parallel/world.h"
#include "reports/atomic_write.h"
#include "reports/provenance.h"
#include "reports/validate.h"

namespace cpb::bench {
namespace {

constexpr int kExitInput = 2;

int cmd_list(bool as_json) {
  nlohmann::json j;
  j["kernels"] = KernelRegistry::instance().names();
  j["cp_methods"] = CpMethodRegistry::instance().names();
  j["shardings"] = ShardingRegistry::instance().names();
  j["masks"] = nlohmann::json::array();
  for (const auto& def : mask_kind_table())
    j["masks"].push_back({{"name", def.name},
                          {"description", def.description},
                          {"params", def.params},
                          {"required", def.required}});
  j["doclen_histograms"] = builtin_doclens();
  j["dtypes"] = {"fp32", "bf16", "fp16"};
  j["passes"] = {"fwd", "bwd", "fwd+bwd"};
  j["placements"] = {"contiguous", "strided"};
  if (as_json) {
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("kernels:     {}\n", fmt::join(KernelRegistry::instance().names(), ", "));
  fmt::print("CP methods:  {}\n", fmt::join(CpMethodRegistry::instance().names(), ", "));
  fmt::print("shardings:   {}\n", fmt::join(ShardingRegistry::instance().names(), ", "));
  fmt::print("placements:  contiguous, strided\n");
  fmt::print("dtypes:      fp32, bf16, fp16\n");
  fmt::print("passes:      fwd, bwd, fwd+bwd\n");
  fmt::print("doclen histograms (--doclen): {}\n", fmt::join(builtin_doclens(), ", "));
  fmt::print("masks (--mask):\n");
  for (const auto& def : mask_kind_table()) {
    std::vector<std::string> flags;
    for (const auto& p : def.params) {
      std::string f = "--" + p;
      std::replace(f.begin(), f.end(), '_', '-');
      if (f == "--seed") f = "--mask-seed";
      bool req = std::find(def.required.begin(), def.required.end(), p) != def.required.end();
      flags.push_back(req ? f + " (required)" : f);
    }
    fmt::print("  {:<24} {}\n", def.name, def.description);
    if (!flags.empty()) fmt::print("  {:<24} params: {}\n", "", fmt::join(flags, ", "));
  }
  return 0;
}

int cmd_mask(const std::string& kind, const std::string& seq_text, const MaskFlags& flags,
             uint64_t seed, bool seed_given, int max_side, int64_t block) {
  std::vector<int64_t> seqs = parse_size_list(seq_text, "--seq");
  CPB_REQUIRE(seqs.size() == 1, "`cpbench mask` takes one --seq, got '{}'", seq_text);
  CPB_REQUIRE(max_side >= 1 && max_side <= kMaxPictureSide, "--max-side {} must be in [1, {}]",
              max_side, kMaxPictureSide);
  int64_t S = seqs[0];
  CPB_REQUIRE(S <= kMaxSeq, "--seq {} must be in [1, {}] tokens (2^30)", S, kMaxSeq);
  CPB_REQUIRE(block >= 0 && block <= S, "--tile {} must be in [1, --seq {}]", block, S);
  // The block map holds one byte per tile: at S=4M a 128 tile would be 1 GB and
  // minutes of work, so an unset --tile grows (doubling from 128) until the map has
  // at most kMaxTiles tiles, and an explicit one that exceeds it is refused.
  constexpr int64_t kMaxTiles = int64_t{1} << 20;
  auto tiles_at = [S](int64_t t) { return ((S + t - 1) / t) * ((S + t - 1) / t); };
  if (block == 0) {
    block = 128;
    while (tiles_at(block) > kMaxTiles) block *= 2;
    if (block > 128)
      fmt::print("block map tile {} chosen so the map has at most {} tiles (--tile sets it)\n",
                 block, kMaxTiles);
  } else {
    CPB_REQUIRE(block >= 1, "--tile {} must be >= 1", block);
    CPB_REQUIRE(tiles_at(block) <= kMaxTiles,
                "--tile {} at --seq {} gives {} block-map tiles; the limit is {} ({} per side): "
                "use --tile >= {} or leave --tile out to choose it",
                block, S, tiles_at(block), kMaxTiles, 1 << 10, (S + 1023) / 1024);
  }
  MaskParams params = flags.params();
  const auto& def = find_mask_kind(kind);
  CPB_REQUIRE(
      !seed_given || std::find(def.params.begin(), def.params.end(), "seed") != def.params.end(),
      "--seed {} is given, but mask '{}' draws nothing at random (see `cpbench list`)", seed, kind);
  for (const auto& [key, value] : params.values) {
    bool used = std::find(def.params.begin(), def.params.end(), key) != def.params.end();
    std::string flag = key;
    std::replace(flag.begin(), flag.end(), '_', '-');
    CPB_REQUIRE(
        used, "--{} is not a parameter of mask '{}'; its parameters: {}", flag, kind,
        def.params.empty() ? std::string("none") : fmt::format("{}", fmt::join(def.params, ", ")));
  }
  MaskSpec spec = build_mask_spec(kind, params, seed);
  Mask mask = make_mask(spec, S);
  nlohmann::json sj = spec;
  fmt::print("mask {} at S={}\n", sj.dump(), S);
  if (spec.per_head)  // the KV head count belongs to a case, not to `mask`
    fmt::print(
        "per_head: KV head 0's pattern below; KV head g > 0 draws its own "
        "(masks/README.md)\n");
  fmt::print("{}", describe(mask));
  if (auto docs = document_lengths(spec, S); docs.size() > 1) {
    int64_t longest = *std::max_element(docs.begin(), docs.end());
    int64_t shortest = *std::min_element(docs.begin(), docs.end());
    fmt::print("segments: {} (shortest {}, longest {} tokens)\n", docs.size(), shortest, longest);
  }
  BlockMap bm = build_block_map(mask, block, block);
  int64_t tiles = bm.num_q_tiles * bm.num_k_tiles;
  fmt::print(
      "block map {}x{}: {} x {} tiles: {} full, {} partial, {} empty ({:.1f}% skipped)\n", block,
      block, bm.num_q_tiles, bm.num_k_tiles, bm.count(TileState::kFull),
      bm.count(TileState::kPartial),
      tiles - bm.count(TileState::kFull) - bm.count(TileState::kPartial),
      tiles ? 100.0 * double(tiles - bm.count(TileState::kFull) - bm.count(TileState::kPartial)) /
                  double(tiles)
            : 0.0);
  int side = static_cast<int>(std::min<int64_t>(S, max_side));
  fmt::print("picture ({} x {} cells, '#' all visible, '+' some, '.' none; query 0 on top):\n{}",
             side, side, render_ascii(mask, side));
  return 0;
}

int cmd_validate(const std::vector<std::string>& files) {
  int bad = 0;
  for (const auto& f : files) {
    nlohmann::json doc = reports::read_json_file(f);
    auto problems = reports::validate_report(doc);
    if (problems.empty()) {
      fmt::print("{}: valid ({} cases, schema v{})\n", f, doc["cases"].size(),
                 doc["schema_version"].get<int>());
    } else {
      ++bad;
      fmt::print(stderr, "{}: INVALID, {} problem(s):\n", f, problems.size());
      for (const auto& p : problems) fmt::print(stderr, "  {}\n", p);
    }
  }
  return bad ? 1 : 0;
}

// One line per finished case on stdout (the journaled result: repetitions pooled).
std::string one_line(const nlohmann::json& r) {
  const std::string status = r.value("status", "?"), id = r.value("id", "?");
  if (status != "ok") return fmt::format("{:<11} {}: {}", status, id, r.value("reason", ""));
  const nlohmann::json& m = r.at("metrics");
  std::string v;
  if (r.contains("verification") && r["verification"].is_object()) {
    const nlohmann::json& ver = r["verification"];
    if (!ver.value("skipped_reason", "").empty()) {
      v = " verify skipped";
    } else {
      double worst = 0;
      for (const auto& t : ver.value("tensors", nlohmann::json::array()))
        if (t.contains("max_rel_error") && t["max_rel_error"].is_number())
          worst = std::max(worst, t["max_rel_error"].get<double>());
      v = fmt::format(" verify {} (max rel err {:.2e})",
                      ver.value("passed", false) ? "PASS" : "FAIL", worst);
    }
  }
  return fmt::format(
      "ok          {}: median {:.4g} s, {:.3f} TFLOP/s/rank, exposed comm {:.3g} s{}", id,
      m.at("step_seconds").at("median").get<double>(), m.value("tflops_per_rank", 0.0),
      m.value("exposed_comm_seconds", 0.0), v);
}

// run's lines, on stdout: the plan, one line per case, where the report went.
Voice run_voice(const LaunchFiles& files, const Communicator& world) {
  Voice v;
  v.start = [&world](size_t cases, size_t done, const std::string&) {
    fmt::print("cpbench: {} case(s) on {} rank(s) ({} communicator){}\n", cases, world.size(),
               world.backend(), done ? fmt::format(", {} already done (resume)", done) : "");
  };
  v.case_done = [](size_t, const nlohmann::json& r, const Progress&) {
    fmt::print("{}\n", one_line(r));
    std::fflush(stdout);
  };
  v.end = [&files](const nlohmann::json&, double) {
    if (!files.out.empty())
      fmt::print("report: {} (journal {})\n", files.out, files.journal_path());
  };
  return v;
}

// `run` is a sweep of one config (bench/options.h plan_run) through the sweep's runner
// (bench/plan_runner.h): it differs from `sweep` only in where the plan comes from and
// in what it prints.
int cmd_run(const RunOptions& opt, const LaunchFiles& files, bool dry_run,
            const std::vector<std::string>& command_line, int* argc, char*** argv) {
  files.check_not_inputs({});
  int exit_code = 0;
  {
    Launch launch = Launch::start(command_line, argc, argv, opt.comm);
    const int P = launch.world->size();
    // Every rank plans the same options the same way: all throw or none does.
    LaunchPlan plan = plan_launch(plan_run(opt, P), P);
    if (dry_run) {  // validated and planned: say what would run, run nothing
      if (launch.world->rank() == 0)
        for (const auto& c : plan.specs) fmt::print("{}\n", c.id());
      return 0;
    }
    plan.report_config = opt.to_json();
    plan.report_config["world_size"] = P;
    exit_code = run_launch(launch, plan, files, run_voice(files, *launch.world));
  }  // the world (and MPI) ends here, on every rank
  return exit_code;
}

// `cpbench run`'s flags, bound to one struct that outlives parsing: what a case is
// (bench/case_flags.h, shared with model and plan), then run's own.
struct RunArgs : CaseFlags {
  std::string kernels = "cpu_flash";
  LaunchFiles files;
  bool dry_run = false;

  RunOptions options() const {
    RunOptions o = CaseFlags::options();
    o.kernels = split_list(kernels, "--kernel");
    o.out = files.out;
    return o;
  }
};

// What one case is: kernel, mask, sizes, dtype, pass, iterations, seeds.
void add_case_flags(CLI::App& run, RunArgs& a) {
  RunOptions& o = a.opt;
  run.add_option("--kernel", a.kernels, "kernel name(s), comma list (default cpu_flash)");
  a.add_shape(run);
  // Ranges here too, so a value beyond int names the limit, not "Could not convert".
  run.add_option("--warmup", o.warmup, "untimed iterations (default 1)")
      ->check(CLI::Range(int64_t{0}, kMaxIterations));
  run.add_option("--iters", o.iters, "timed iterations, same on every rank (default 5)")
      ->check(CLI::Range(int64_t{1}, kMaxIterations));
  run.add_option("--seed", o.seed, "data seed; also the mask seed unless --mask-seed")
      ->check(non_negative());
  run.add_option("--mask-samples", o.mask_samples,
                 "random masks: N seeds (mask seed, +1, ...), each a case, summarised per "
                 "group in the report (default 1)")
      ->check(CLI::Range(1, 10000));
  run.add_flag("--verify", o.verify, "compare with cpu_reference on the gathered tensors");
}

// Context parallelism: methods, layout, sharding, communicator.
void add_cp_flags(CLI::App& run, RunArgs& a) {
  a.add_layout(run, true);
  run.add_option("--comm", a.opt.comm,
                 "communicator backend: auto | self | mpi | nccl (default auto)");
}

// How the launch runs and what it keeps: the sweep runner's options (bench/plan_runner.h).
void add_launch_flags(CLI::App& run, RunArgs& a) {
  auto* out = run.add_option("--out", a.files.out,
                             "report path (JSON); cases also go to <out>.jsonl (or --journal)");
  run.add_option("--journal", a.files.journal, "journal path (default <out>.jsonl)")->needs(out);
  auto* resume = run.add_option("--resume", a.files.resume,
                                "journal of an interrupted run with the same flags: its "
                                "finished cases are kept, not re-run")
                     ->needs(out);
  run.add_flag("--allow-new-cases", a.files.allow_new_cases,
               "--resume: accept flags that add cases (run settings must be the same)")
      ->needs(resume);
  run.add_option("--repeat", a.opt.repeat,
                 "repetitions per case, samples pooled as a sweep pools them (default 1)")
      ->check(CLI::Range(1, 100000));
  // The sweep's stopping rule (bench/configs/README.md): more repetitions until both hold.
  run.add_option("--min-time", a.opt.min_time_s,
                 "stopping rule: pooled timed seconds per case at least this (default 0: off)");
  run.add_option("--max-cv", a.opt.max_cv,
                 "stopping rule: pooled CV at most this, e.g. 0.02 (default 0: off)");
  run.add_option("--max-repeat", a.opt.max_repeat,
                 "stopping rule: at most this many repetitions (default 10 with a rule)")
      ->check(CLI::Range(0, 100000));
  run.add_flag("--dry-run", a.dry_run, "check the options, print the case ids, run nothing");
  run.add_flag("--keep-samples", a.opt.keep_samples,
               "keep per-iteration step times (max over ranks) in the report");
  run.add_option("--timeout", a.opt.timeout_seconds,
                 "per-case watchdog in seconds, 0 disables (default 600)");
}

// `cpbench mask`'s flags.
struct MaskArgs {
  std::string kind, seq;
  MaskFlags flags;
  uint64_t seed = 0;
  int max_side = 64;
  int64_t tile = 0;  // 0: chosen from --seq (see cmd_mask)
  CLI::Option* seed_opt = nullptr;
};

void add_mask_flags(CLI::App& mask, MaskArgs& a) {
  mask.add_option("--mask", a.kind, "mask kind (see `cpbench list`)")->required();
  mask.add_option("--seq", a.seq, "sequence length S (k/M suffixes allowed)")->required();
  a.flags.add(mask);
  a.seed_opt = mask.add_option("--seed,--mask-seed", a.seed, "document sampling seed (default 0)")
                   ->check(non_negative());
  mask.add_option("--max-side", a.max_side, "picture size in cells (default 64)")
      ->check(CLI::Range(int64_t{1}, kMaxPictureSide));
  mask.add_option("--tile", a.tile,
                  "block map tile size (default 128, larger at long S so the map has at most "
                  "2^20 tiles)")
      ->check(CLI::Range(int64_t{1}, kMaxSeq));  // an explicit 0 is not "choose it"
}

// A command line CLI11 refused: rank 0 says why in one line; exit 2.
int parse_failed(CLI::App& app, const CLI::ParseError& e, int argc, char** argv) {
  if (launcher_rank() != 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // as in main()
    return kExitInput;
  }
  const std::string msg = single_line(e.what());  // CLI11 echoes arguments as given
  const auto used = app.get_subcommands();
  if (used.empty() && argc > 1 && argv[1][0] != '-') {
    // An unknown first word: say which, and what would have been accepted.
    std::vector<std::string> names;
    for (const auto* sub : app.get_subcommands({})) names.push_back(sub->get_name());
    fmt::print(stderr, "cpbench: unknown subcommand '{}'; subcommands: {} (see `cpbench --help`)\n",
               single_line(argv[1]), fmt::join(names, ", "));
  } else {
    fmt::print(stderr, "cpbench: {} (see `cpbench{}{} --help`)\n", msg, used.empty() ? "" : " ",
               used.empty() ? "" : used[0]->get_name());
  }
  return kExitInput;
}

int run_main(int argc, char** argv) {
  require_utf8_arguments(argc, argv);
  std::vector<std::string> command_line(argv, argv + argc);
  CLI::App app{"cpbench: context-parallel attention benchmark (docs/cli.md)", "cpbench"};
  app.require_subcommand(1);
  app.set_version_flag("--version", CPB_TOOL_VERSION);

  bool list_json = false;
  auto* list =
      app.add_subcommand("list", "kernels, masks (with parameters), CP methods, shardings");
  list->add_flag("--json", list_json, "machine-readable output");
  MaskArgs m;
  auto* mask = app.add_subcommand("mask", "show a mask: slices, area, density, block map, picture");
  add_mask_flags(*mask, m);
  RunArgs r;
  auto* run = app.add_subcommand(
      "run", "run cases (cartesian product of the comma lists: a sweep of one config)");
  add_case_flags(*run, r);
  add_cp_flags(*run, r);
  add_launch_flags(*run, r);
  auto* validate = app.add_subcommand("validate", "check report(s) against schema v1");
  std::vector<std::string> files;
  validate->add_option("report", files, "report JSON file(s)")->required();

  // sweep / compare / report run from their own callbacks (bench/commands.h).
  add_sweep_command(app, command_line, &argc, &argv);
  add_compare_command(app);
  add_report_command(app);
  add_model_command(app, command_line);  // model / plan / calibrate: bench/model_commands.h
  add_plan_command(app, command_line);
  add_calibrate_command(app, &argc, &argv);
  add_strict_number_checks(app);  // every numeric option of every subcommand

  const bool lead = launcher_rank() == 0;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return lead ? app.exit(e) : 0;
  } catch (const CLI::CallForAllHelp& e) {
    return lead ? app.exit(e) : 0;
  } catch (const CLI::CallForVersion& e) {
    return lead ? app.exit(e) : 0;
  } catch (const CLI::ParseError& e) {
    return parse_failed(app, e, argc, argv);
  }
  if (*list) return cmd_list(list_json);
  if (*mask)
    return cmd_mask(m.kind, m.seq, m.flags, m.seed, m.seed_opt->count() > 0, m.max_side, m.tile);
  if (*validate) return cmd_validate(files);
  return cmd_run(r.options(), r.files, r.dry_run, command_line, &argc, &argv);
}

}  // namespace
}  // namespace cpb::bench

int main(int argc, char** argv) {
  // A file-size limit (ulimit -f) must fail a write with EFBIG, reported as a write
  // failure (exit 3), not kill the process with SIGXFSZ and lose the message.
  std::signal(SIGXFSZ, SIG_IGN);
  try {
    return cpb::bench::run_main(argc, argv);
  } catch (const cpb::AgreedError& e) {
    // Raised on every rank alike after an agreement (parallel/agree.h): the rank that
    // failed may be any, the message is its own, and rank 0 prints it once.
    if (cpb::launcher_rank() == 0)
      fmt::print(stderr, "cpbench: {}: {}\n",
                 e.exit_code() == cpb::reports::kExitWriteFailed ? "write failed" : "error",
                 cpb::bench::single_line(e.what()));
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(500));  // as below
    return e.exit_code();
  } catch (const cpb::reports::WriteError& e) {
    // The cases that ran are good (the journal keeps every one it could write); the
    // output could not be written: its own exit status, 3.
    if (cpb::launcher_rank() == 0)
      fmt::print(stderr, "cpbench: write failed: {}\n", cpb::bench::single_line(e.what()));
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    return cpb::reports::kExitWriteFailed;
  } catch (const cpb::InputError& e) {
    // Every rank fails alike on bad input; one of them says so. The file:line prefix
    // names the check that fired, the rest names the value and what is allowed.
    if (cpb::launcher_rank() == 0) {
      fmt::print(stderr, "cpbench: error: {}\n", cpb::bench::single_line(e.what()));
    } else {
      // mpirun kills the job as soon as one rank exits non-zero: give rank 0 a
      // moment to print the message this rank is not allowed to repeat.
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "cpbench: internal error: {}\n", cpb::bench::single_line(e.what()));
    return 1;
  }
}
