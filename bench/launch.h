// One launch's run context, shared by `cpbench run` and `cpbench sweep` (issue 10: the
// same orchestration was written twice): the world and provenance, rank 0's journal
// whose failures every rank agrees on, the watchdog that journals the case in flight
// as "timeout" before stopping the job, and the report write that names the journal
// when the disk refuses it. The runner over it is bench/plan_runner.h; the commands keep
// only what differs: how they plan and what they print.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bench/case_runner.h"
#include "bench/options.h"
#include "parallel/communicator.h"
#include "parallel/watchdog.h"
#include "reports/atomic_write.h"
#include "reports/provenance.h"

namespace cpb::bench {

// The world of one launch and what is known about it. start() is collective (every
// rank names its host and CPU); provenance is rank 0's.
struct Launch {
  reports::Provenance prov;
  std::unique_ptr<Communicator> world;
  RunContext ctx;
  std::vector<std::string> cpu_models;  // one per world rank

  static Launch start(const std::vector<std::string>& command_line, int* argc, char*** argv,
                      const std::string& comm);
  // Rank 0, at the end: end time, hosts, GPUs and communicator into `prov`.
  void finish_provenance();
};

// Rank 0's journal. A failed open or append is kept, not thrown, so that every rank can
// stop together at the next agree() (exit 3 on a full disk) instead of waiting in a
// collective for a rank that left. Other ranks hold a closed journal and only agree.
class LaunchJournal {
 public:
  // Truncates (or appends to) `path` and writes `header` then `records`; a new
  // journal left without its header is removed.
  void open(const std::string& path, bool append, const nlohmann::json& header,
            const std::vector<nlohmann::json>& records = {});
  // Appends unless an earlier write failed; `context` is added to a failure's message.
  void append(const nlohmann::json& record, const std::string& context = "");
  // Collective: throws AgreedError on every rank when rank 0's journal failed.
  void agree(Communicator& world);
  bool is_open() const { return journal_.is_open(); }
  // For the watchdog thread: appends without recording a failure (best effort).
  void append_best_effort(const nlohmann::json& record);

 private:
  reports::Journal journal_;
  std::mutex mutex_;  // the watchdog thread may append while the main thread does
  std::string problem_;
  int code_ = 0;
};

// The case running now, journaled as "timeout" when the watchdog fires. set() before
// run_case arms the watchdog; clear() once the case is journaled.
class InFlight {
 public:
  void set(const CaseSpec& spec);
  void clear();
  // The watchdog's action: rank 0 journals the case in flight, other ranks give it a
  // moment; then the job stops with exit 124 (bounded, docs/reliability.md).
  void on_timeout(int rank, LaunchJournal& journal, const std::string& message);

 private:
  std::mutex mutex_;
  nlohmann::json record_;  // the running case as a timeout record, or null
};

// Validates `doc` (an invalid report is a bug: internal error) and writes it
// atomically; a write failure names the journal that still holds every case.
void write_report(const std::string& path, const nlohmann::json& doc,
                  const std::string& journal_path);

}  // namespace cpb::bench
