#include "parallel/agree.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace cpb {

Agreement agree(Communicator& comm, int code, std::string_view reason) {
  double worst = code;
  comm.all_reduce(&worst, 1, ReduceOp::kMax);
  Agreement out;
  out.code = static_cast<int>(worst);
  if (out.code == 0) return out;
  double first = code == out.code ? comm.rank() : comm.size();
  comm.all_reduce(&first, 1, ReduceOp::kMin);
  out.rank = static_cast<int>(first);
  std::vector<char> mine(kMaxReasonBytes, '\0');
  std::copy_n(reason.data(), std::min(reason.size(), kMaxReasonBytes), mine.begin());
  std::vector<char> all(kMaxReasonBytes * static_cast<std::size_t>(comm.size()));
  comm.all_gather(mine.data(), all.data(), kMaxReasonBytes, Device::kCpu);
  const char* theirs = all.data() + kMaxReasonBytes * static_cast<std::size_t>(out.rank);
  out.reason.assign(theirs, std::find(theirs, theirs + kMaxReasonBytes, '\0'));
  return out;
}

bool all_ok(Communicator& comm, bool ok) {
  double bad = ok ? 0 : 1;
  comm.all_reduce(&bad, 1, ReduceOp::kMax);
  return bad == 0;
}

void raise_if_any(Communicator& comm, int exit_code, std::string_view reason) {
  Agreement a = agree(comm, exit_code, reason);
  if (a.code == 0) return;
  throw AgreedError(a.code, a.rank > 0 ? fmt::format("rank {}: {}", a.rank, a.reason) : a.reason);
}

}  // namespace cpb
