// The one runner behind `cpbench run` and `cpbench sweep` (issue 10: `run` is a sweep of
// one config): the planned cases of one launch, collectively, in the run context of
// bench/launch.h. Rank 0 owns the files: it checks --out, resumes from a journal (the
// cases it holds are skipped), journals each case as it finishes and builds the report
// from every finished case in plan order. Each case runs its repetitions until the
// stopping rule says enough (rank 0 decides for everyone). Decision: the commands
// differ only in how they plan and how they speak, so a plan and a Voice are the
// parameters and everything else is written once, here.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "bench/launch.h"
#include "bench/options.h"
#include "bench/sweep_config.h"

namespace cpb::bench {

// The files of a launch, as the command line names them.
struct LaunchFiles {
  std::string out;               // report path; "" (`run` without --out): no journal, no report
  std::string journal;           // "" = the --resume journal, else <out>.jsonl
  std::string resume;            // journal of an interrupted launch: its finished cases are kept
  bool allow_new_cases = false;  // --resume: accept added cases (run settings must match)

  std::string journal_path() const;
  // An output that is an input would destroy it: InputError (exit 2). `inputs`: the
  // command's other input files, as (path, what) pairs.
  void check_not_inputs(const std::vector<std::pair<std::string, std::string>>& inputs) const;
};

// What one launch runs: the cases of its world size, and how to journal and report them.
struct LaunchPlan {
  std::vector<CaseSpec> specs;      // in plan order
  std::vector<std::string> labels;  // progress label of each case (SweepCase::label)
  std::vector<int> sample_groups;   // each case's mask sample group, -1 for none
  std::map<int, int> other_worlds;  // world size -> planned cases left to other launches
  SweepRunOptions run;              // repetitions and their stopping rule
  nlohmann::json identity;          // what a resumed journal must have been written under
  nlohmann::json journal_extra;     // header fields beside it (e.g. the sweep's name)
  nlohmann::json report_config;     // the report's "config" (the command's own echo)
};

// The cases of `cfg` at launch size `world` (specs through case_spec(c, cfg.run)) and
// the configuration a resume must match: the planner's input, the effective run
// settings and the world size. The caller adds report_config and journal_extra.
LaunchPlan plan_launch(const SweepConfig& cfg, int world);

// Where the runner is, for progress lines.
struct Progress {
  size_t index = 0, total = 0;  // this case (0-based) of the launch's cases
  size_t ran = 0, to_run = 0;   // cases this launch has run so far / runs in all
  double elapsed_s = 0;
};

// How a command speaks, on rank 0 only; an empty function says nothing.
struct Voice {
  // Before the first case: the launch's cases, those a resume already holds, the journal
  // ("" when there is none).
  std::function<void(size_t cases, size_t done, const std::string& journal)> start;
  // After each case that ran: its result as journaled (repetitions pooled).
  std::function<void(size_t index, const nlohmann::json& result, const Progress&)> case_done;
  // At the end: the report (built whether or not it is written) and the launch's seconds.
  std::function<void(const nlohmann::json& report, double elapsed_s)> end;
};

// Collective: runs `plan` on launch.world and returns the exit status (0; 1 when a case
// of the report, resumed ones included, ended in error, timeout or oom or failed its
// verification). Bad input or an unwritable file is an agreed error on every rank.
int run_launch(Launch& launch, const LaunchPlan& plan, const LaunchFiles& files,
               const Voice& voice);

}  // namespace cpb::bench
