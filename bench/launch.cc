#include "bench/launch.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "bench/host_provenance.h"
#include "bench/rank_failure.h"
#include "common/errors.h"
#include "parallel/agree.h"
#include "parallel/world.h"
#include "reports/atomic_write.h"
#include "reports/validate.h"

namespace cpb::bench {

Launch Launch::start(const std::vector<std::string>& command_line, int* argc, char*** argv,
                     const std::string& comm) {
  Launch l;
  if (launcher_rank() == 0) l.prov = reports::collect_local_provenance(command_line);
  l.world = make_world_communicator(argc, argv, comm);
  l.prov.mpi_library = mpi_library_version();
  l.ctx = {.world = l.world.get(),
           .hostnames = gather_strings(*l.world, reports::local_hostname())};
  // Collective: every rank names its CPU so each host in the report gets its own.
  l.cpu_models = gather_strings(*l.world, reports::local_cpu_model());
  return l;
}

void Launch::finish_provenance() {
  prov.end_time_utc = reports::utc_now_iso8601();
  reports::assign_hosts(prov, ctx.hostnames, cpu_models);
  prov.gpu = local_gpu_provenance();
  prov.communicator = world->backend();
}

void LaunchJournal::open(const std::string& path, bool append, const nlohmann::json& header,
                         const std::vector<nlohmann::json>& records) {
  std::lock_guard<std::mutex> lock(mutex_);
  try {
    journal_ = reports::Journal(path, /*truncate=*/!append);
    journal_.append(header);
    for (const auto& r : records) journal_.append(r);
  } catch (const std::exception& e) {
    problem_ = e.what();
    code_ = exit_code_of(e);
    // A new journal without its header line resumes nothing: do not leave it.
    std::error_code ec;
    if (!append && journal_.is_open() && std::filesystem::file_size(path, ec) == 0)
      std::filesystem::remove(path, ec);
  }
}

void LaunchJournal::append(const nlohmann::json& record, const std::string& context) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (code_ != 0 || !journal_.is_open()) return;
  try {
    journal_.append(record);
  } catch (const std::exception& e) {
    problem_ = context.empty() ? e.what() : fmt::format("{} ({})", e.what(), context);
    code_ = exit_code_of(e);
  }
}

void LaunchJournal::append_best_effort(const nlohmann::json& record) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!journal_.is_open()) return;
  try {
    journal_.append(record);
  } catch (const std::exception& e) {
    fmt::print(stderr, "{} could not journal the timeout: {}\n", rank_tag(), e.what());
  }
}

void LaunchJournal::agree(Communicator& world) { raise_if_any(world, code_, problem_); }

void InFlight::set(const CaseSpec& spec) {
  reports::CaseResult t;
  t.id = spec.id();
  t.params = spec.params_json();
  t.status = "timeout";
  t.reason = "watchdog";
  t.wall_seconds = spec.timeout_seconds;
  std::lock_guard<std::mutex> lock(mutex_);
  record_ = nlohmann::json(t);
}

void InFlight::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  record_ = nlohmann::json();
}

void InFlight::on_timeout(int rank, LaunchJournal& journal, const std::string& message) {
  if (rank == 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!record_.is_null()) {
      record_["reason"] = message;
      journal.append_best_effort(record_);
    }
  } else {
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
  fmt::print(stderr, "{}\n", message);  // it starts with this rank's tag
  abort_job_bounded(kWatchdogExitCode, kAbortGraceSeconds);
}

void write_report(const std::string& path, const nlohmann::json& doc,
                  const std::string& journal_path) {
  auto problems = reports::validate_report(doc);
  CPB_CHECK(problems.empty(), "the report this launch built is invalid: {}",
            fmt::join(problems, "; "));
  try {
    reports::write_json_atomic(path, doc);
  } catch (const reports::WriteError& e) {
    throw reports::WriteError(
        fmt::format("{}; every finished case is in the journal '{}': `cpbench report {} --out {}` "
                    "rebuilds the report once there is space",
                    e.what(), journal_path, journal_path, path));
  }
}

}  // namespace cpb::bench
