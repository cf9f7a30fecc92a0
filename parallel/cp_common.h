// Shared machinery of the CP methods: kernel timing, owned communicators whose
// stats are summed, support checks, head slicing / all-to-all packing (Ulysses)
// and the pass-KV ring engine (single ring = double ring with one outer step).
// Decision: every method builds private sub-communicators in setup() and never
// talks on the world communicator, so its measured bytes are exactly its own.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "kernels/kernel.h"
#include "masks/mask.h"
#include "parallel/communicator.h"
#include "parallel/cp_method.h"
#include "parallel/sharding.h"

namespace cpb {

// Sums the wall time of the kernel calls it wraps (steady clock).
class KernelClock {
 public:
  void reset() { seconds_ = 0; }
  double seconds() const { return seconds_; }
  template <typename F>
  void time(F&& f) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

 private:
  double seconds_ = 0;
};

// Communicators a method owns; stats are the op-by-op sum over all of them.
class CommGroup {
 public:
  Communicator& add(std::unique_ptr<Communicator> c) {
    comms_.push_back(std::move(c));
    return *comms_.back();
  }
  CommStats stats() const;
  void reset_stats() {
    for (auto& c : comms_) c->reset_stats();
  }

 private:
  std::vector<std::unique_ptr<Communicator>> comms_;
};

// Checks every method shares: a global S x S mask, CPU tensors, a registered
// sharding that can split S into `shards`, the world size. Same on every rank.
Support check_common(const CpProblem& problem, int shards);

// Rank-independent plan of the configured sharding.
ShardPlan make_plan(const CpProblem& problem, int shards);

int64_t total_tokens(const std::vector<Range>& ranges);

}  // namespace cpb
