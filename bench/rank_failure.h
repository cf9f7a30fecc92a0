// How a failure reaches every rank (docs/reliability.md, "Ranks"): what rank 0 does
// alone (check the output, read the resume journal, write the journal) is caught
// there, whatever the exception, and agreed with raise_if_any (parallel/agree.h), so
// every rank ends at once with rank 0's message and the exit status exit_code_of()
// gives it, instead of waiting in its next collective for a rank that left.
#pragma once

#include <exception>

#include "common/errors.h"
#include "parallel/agree.h"
#include "reports/atomic_write.h"

namespace cpb::bench {

// The exit status an exception ends a command with (docs/cli.md): 2 bad input,
// 3 an output that could not be written (reports::WriteError), the agreed status of
// an AgreedError, 1 anything else.
inline int exit_code_of(const std::exception& e) {
  if (const auto* agreed = dynamic_cast<const AgreedError*>(&e)) return agreed->exit_code();
  if (dynamic_cast<const InputError*>(&e)) return 2;
  if (dynamic_cast<const reports::WriteError*>(&e)) return reports::kExitWriteFailed;
  return 1;
}

}  // namespace cpb::bench
