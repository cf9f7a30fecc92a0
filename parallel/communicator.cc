#include "parallel/communicator.h"

namespace cpb {

std::string_view to_string(CommOp op) {
  switch (op) {
    case CommOp::kP2P:
      return "p2p";
    case CommOp::kAllToAll:
      return "all_to_all";
    case CommOp::kAllGather:
      return "all_gather";
    case CommOp::kReduceScatter:
      return "reduce_scatter";
    case CommOp::kAllReduce:
      return "all_reduce";
    case CommOp::kBarrier:
      return "barrier";
    case CommOp::kCount:
      break;
  }
  return "?";
}

int64_t CommStats::bytes_sent() const {
  int64_t n = 0;
  for (const auto& o : ops) n += o.bytes_sent;
  return n;
}

int64_t CommStats::bytes_received() const {
  int64_t n = 0;
  for (const auto& o : ops) n += o.bytes_received;
  return n;
}

double CommStats::wait_seconds() const {
  double s = 0;
  for (const auto& o : ops) s += o.wait_seconds;
  return s;
}

}  // namespace cpb
