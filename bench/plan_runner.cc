#include "bench/plan_runner.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "bench/case_runner.h"
#include "bench/rank_failure.h"
#include "common/errors.h"
#include "parallel/agree.h"
#include "parallel/watchdog.h"
#include "reports/atomic_write.h"
#include "reports/journal.h"
#include "reports/report.h"

namespace cpb::bench {
namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

// With --allow-new-cases only these parts of the identity must match (reports/journal.h).
const std::vector<std::string> kSettingsKeys = {"/run", "/world_size", "/sweep/name"};

json run_settings(const SweepRunOptions& r) {
  return {{"warmup", r.warmup},
          {"iterations", r.iterations},
          {"repeat", r.repeat},
          {"max_repeat", r.max_repeat},
          {"min_time_s", r.min_time_s},
          {"max_cv", r.max_cv},
          {"seed", r.seed},
          {"verify", r.verify},
          {"timeout_s", r.timeout_s},
          {"keep_samples", r.keep_samples}};
}

// Rank 0's resume checks: the journal's configuration, then (with --allow-new-cases)
// every done case that this launch plans again must carry the same parameters.
std::vector<json> resume_cases(const LaunchFiles& files, const LaunchPlan& plan, int world) {
  reports::ResumeJournal j = reports::read_resume_journal(files.resume, world);
  reports::check_resume_config(files.resume, j, plan.identity, files.allow_new_cases,
                               kSettingsKeys);
  std::map<std::string, const CaseSpec*> planned;
  for (const auto& s : plan.specs) planned[s.id()] = &s;
  for (const json& r : j.cases)
    if (auto it = planned.find(r.value("id", "")); it != planned.end())
      reports::check_done_case(files.resume, r, it->second->params_json());
  return j.cases;
}

// Collective: rank 0 checks --out and reads the resume journal; a failure there is
// agreed so every rank stops with its message. Returns the finished cases by id (last
// record wins; rank 0's) and sets `skip` for the planned cases they cover, the same on
// every rank.
std::map<std::string, json> resume_or_start(const LaunchFiles& files, const LaunchPlan& plan,
                                            Communicator& world, std::vector<double>& skip) {
  std::string problem;
  int problem_code = 0;
  std::vector<json> done_records;
  if (world.rank() == 0) {
    try {
      if (!files.out.empty()) reports::check_writable(files.out);
      if (!files.resume.empty()) done_records = resume_cases(files, plan, world.size());
    } catch (const std::exception& e) {  // rank 0's alone: agree it
      problem = e.what();
      problem_code = exit_code_of(e);
    }
  }
  raise_if_any(world, problem_code, problem);
  std::map<std::string, json> done;
  for (const auto& r : done_records) done[r["id"].get<std::string>()] = r;
  skip.assign(plan.specs.size(), 0);
  for (size_t i = 0; i < plan.specs.size(); ++i) skip[i] = done.count(plan.specs[i].id()) ? 1 : 0;
  world.all_reduce(skip.data(), skip.size(), ReduceOp::kMax);
  world.reset_stats();
  return done;
}

// Rank 0 writes the journal: its header, then (into a new journal) the resumed cases,
// so that it alone rebuilds the report. A failure stops every rank at agree().
void open_journal(LaunchJournal& journal, const LaunchFiles& files, const LaunchPlan& plan,
                  const Launch& launch, const std::map<std::string, json>& done) {
  const std::string path = files.journal_path();
  if (launch.world->rank() != 0 || path.empty()) return;
  std::vector<json> carried;
  const bool append = !files.resume.empty() && files.resume == path;
  if (!append)
    for (const auto& [id, r] : done) carried.push_back(r);
  json extra = plan.journal_extra;
  extra["start_time_utc"] = launch.prov.start_time_utc;
  extra["command_line"] = launch.prov.command_line;
  extra["world_size"] = launch.world->size();
  journal.open(path, append, reports::journal_header(plan.identity, extra), carried);
}

// One case with its repetitions, collectively: runs until rank 0's stopping rule says
// enough or a repetition fails (that fails the case). The pooled result on rank 0; the
// status record on the others.
json run_repetitions(const CaseSpec& spec, RunContext& ctx, const SweepRunOptions& run) {
  const int rank = ctx.world->rank();
  std::vector<json> reps;
  json result;
  for (;;) {
    reports::CaseResult r = run_case(spec, ctx);
    if (r.status != "ok") return json(r);  // all ranks know the status
    if (rank != 0) result = json(r);
    double stop = 0;
    if (rank == 0) {
      reps.push_back(json(r));
      stop = sweep_should_stop(run, pool_progress(reps)) ? 1 : 0;
    }
    {  // a rank stopped between repetitions must not leave the others here for ever
      std::optional<Watchdog::Scope> dog;
      if (ctx.watchdog) dog.emplace(*ctx.watchdog, spec.id(), spec.timeout_seconds);
      ctx.world->all_reduce(&stop, 1, ReduceOp::kMax);  // rank 0 decides for everyone
    }
    if (stop != 0) break;
  }
  return rank == 0 ? pool_repetitions(reps, run.keep_samples) : result;
}

bool failed(const json& c) {
  const std::string s = c.value("status", "");
  return s == "error" || s == "timeout" || s == "oom";
}

bool verification_failed(const json& c) {
  return c.contains("verification") && c["verification"].is_object() &&
         c["verification"].value("skipped_reason", "").empty() &&
         !c["verification"].value("passed", false);
}

// Rank 0: the report of every finished case (resumed ones included) in plan order, with
// its summary and the mask sample groups. `worst` rises to 1 when a case in it failed.
json build_report(const LaunchPlan& plan, const std::map<std::string, json>& finished,
                  const reports::Provenance& prov, int* worst) {
  reports::Report report;
  report.provenance = prov;
  report.config = plan.report_config;
  json doc = report;  // schema, conventions, and the summary's shape
  json cases = json::array();
  json& summary = doc["summary"];
  std::map<int, std::vector<json>> groups;  // mask sample group -> its records
  for (size_t i = 0; i < plan.specs.size(); ++i) {
    auto it = finished.find(plan.specs[i].id());
    if (it == finished.end()) continue;
    const json& c = it->second;
    cases.push_back(c);
    const std::string st = c.value("status", "");
    if (summary.contains(st)) summary[st] = summary[st].get<int>() + 1;
    if (verification_failed(c))
      summary["verification_failed"] = summary["verification_failed"].get<int>() + 1;
    if (failed(c) || verification_failed(c)) *worst = std::max(*worst, 1);
    if (plan.sample_groups[i] >= 0) groups[plan.sample_groups[i]].push_back(c);
  }
  summary["cases"] = cases.size();
  doc["cases"] = cases;
  for (const auto& [g, records] : groups)
    doc["mask_samples"].push_back(summarise_mask_samples(records));
  return doc;
}

// The cases of the plan that are not done, in order; each journaled as it finishes.
// Returns the exit status so far and adds each result to `finished` (rank 0).
int run_cases(Launch& launch, const LaunchPlan& plan, const std::vector<double>& skip,
              LaunchJournal& journal, const Voice& voice, std::map<std::string, json>& finished) {
  Communicator& world = *launch.world;
  const int rank = world.rank();
  InFlight in_flight;
  Watchdog dog([&](const std::string& m) { in_flight.on_timeout(rank, journal, m); });
  launch.ctx.watchdog = &dog;
  const auto start = SteadyClock::now();
  Progress at{.total = plan.specs.size(),
              .to_run = static_cast<size_t>(std::count(skip.begin(), skip.end(), 0.0))};
  int exit_code = 0;
  for (size_t i = 0; i < plan.specs.size(); ++i) {
    if (skip[i] != 0) continue;
    if (rank == 0) in_flight.set(plan.specs[i]);
    json result = run_repetitions(plan.specs[i], launch.ctx, plan.run);
    // The journal write and its agreement are collective too: a rank stopped between
    // cases (SIGSTOP, a hung node) ends the job here as it would inside a case.
    Watchdog::Scope between(dog, plan.specs[i].id(), plan.specs[i].timeout_seconds);
    ++at.ran;
    if (failed(result)) exit_code = 1;
    if (rank == 0) {
      in_flight.clear();
      journal.append(result, fmt::format("case {} of {} ran but is not journaled: {}", i + 1,
                                         plan.specs.size(), result.value("id", "?")));
      at.index = i;
      at.elapsed_s = std::chrono::duration<double>(SteadyClock::now() - start).count();
      if (voice.case_done) voice.case_done(i, result, at);
      finished[plan.specs[i].id()] = std::move(result);
    }
    journal.agree(world);
  }
  launch.ctx.watchdog = nullptr;  // `dog` ends here
  return exit_code;
}

}  // namespace

std::string LaunchFiles::journal_path() const {
  if (!journal.empty()) return journal;
  if (!resume.empty()) return resume;
  return out.empty() ? "" : out + ".jsonl";
}

void LaunchFiles::check_not_inputs(
    const std::vector<std::pair<std::string, std::string>>& inputs) const {
  std::vector<std::pair<std::string, std::string>> all = {{journal_path(), "journal"},
                                                          {resume, "--resume journal"}};
  all.insert(all.end(), inputs.begin(), inputs.end());
  reports::require_not_an_input(out, "--out", all);
  reports::require_not_an_input(journal_path(), "journal", inputs);
}

LaunchPlan plan_launch(const SweepConfig& cfg, int world) {
  LaunchPlan plan;
  for (const SweepCase& c : cfg.cases) {
    if (c.world != world) {
      ++plan.other_worlds[c.world];
      continue;
    }
    plan.specs.push_back(case_spec(c, cfg.run));
    plan.labels.push_back(c.label());
    plan.sample_groups.push_back(c.sample_group);
  }
  plan.run = cfg.run;
  plan.identity = {{"sweep", cfg.raw}, {"world_size", world}, {"run", run_settings(cfg.run)}};
  return plan;
}

int run_launch(Launch& launch, const LaunchPlan& plan, const LaunchFiles& files,
               const Voice& voice) {
  Communicator& world = *launch.world;
  const int rank = world.rank();
  const auto start = SteadyClock::now();
  std::vector<double> skip;
  std::map<std::string, json> finished = resume_or_start(files, plan, world, skip);
  LaunchJournal journal;
  open_journal(journal, files, plan, launch, finished);
  if (rank == 0 && voice.start)
    voice.start(plan.specs.size(), static_cast<size_t>(std::count(skip.begin(), skip.end(), 1.0)),
                files.journal_path());
  journal.agree(world);
  int exit_code = run_cases(launch, plan, skip, journal, voice, finished);
  if (rank == 0) {
    launch.finish_provenance();
    json doc = build_report(plan, finished, launch.prov, &exit_code);
    if (!files.out.empty()) write_report(files.out, doc, files.journal_path());
    if (voice.end)
      voice.end(doc, std::chrono::duration<double>(SteadyClock::now() - start).count());
  }
  return exit_code;
}

}  // namespace cpb::bench
