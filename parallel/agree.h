// Collective agreement on a case's outcome, so every rank records the same status
// and reason and none goes on alone into a collective the others skipped. Codes
// are ordered by severity (0 = ok): the worst code wins, with the reason of the
// lowest rank that reported it. These are real collectives: they add to the
// communicator's all_reduce/all_gather stats, so call them outside measured windows.
//
// Failures outside a case follow the same rule (docs/reliability.md, "Ranks"): work
// that one rank does alone (rank 0 writes the journal and the report) is followed by
// raise_if_any(), so a failure there makes every rank throw the same AgreedError and
// the job ends at once with that rank's message and exit status, instead of the
// others waiting in their next collective until the watchdog fires (or forever).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "parallel/communicator.h"

namespace cpb {

struct Agreement {
  int code = 0;        // max over ranks
  int rank = -1;       // lowest rank that reported `code` (-1 when code == 0)
  std::string reason;  // that rank's reason, at most kMaxReasonBytes bytes
};

inline constexpr std::size_t kMaxReasonBytes = 480;

// One all_reduce when every rank is ok; one more all_reduce and an all_gather of
// kMaxReasonBytes per rank otherwise.
Agreement agree(Communicator& comm, int code, std::string_view reason);

// True on every rank iff `ok` on every rank (one all_reduce).
bool all_ok(Communicator& comm, bool ok);

// Thrown on every rank alike right after an agreement, so no rank is left inside a
// collective and the job may unwind normally: main() prints what() once (rank 0)
// and exits with exit_code().
class AgreedError : public std::runtime_error {
 public:
  AgreedError(int exit_code, const std::string& what)
      : std::runtime_error(what), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

// Collective: `exit_code` is 0 on a rank that is fine, else the exit status this
// rank's `reason` calls for. Throws AgreedError(worst code, its reason) on every rank
// when any rank passed a non-zero code; the reason of a rank other than 0 is
// prefixed with "rank R: ".
void raise_if_any(Communicator& comm, int exit_code, std::string_view reason);

}  // namespace cpb
