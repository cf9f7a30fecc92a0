// Collective agreement on a case's outcome, so every rank records the same status
// and reason and none goes on alone into a collective the others skipped. Codes
// are ordered by severity (0 = ok): the worst code wins, with the reason of the
// lowest rank that reported it. These are real collectives: they add to the
// communicator's all_reduce/all_gather stats, so call them outside measured windows.
#pragma once

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

}  // namespace cpb
