// CpMethod: one context-parallel schedule (ulysses, ring_p2p, ...) built only from
// a Kernel, a Communicator and the LSE merge. It takes this rank's shard of
// q, k, v (tokens given by the Sharding) plus the global mask, and produces this
// rank's out + LSE (forward) and dq, dk, dv (backward). It never parses options,
// times, or prints: the driver in bench/ does that.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/registry.h"
#include "kernels/kernel.h"
#include "masks/head_masks.h"
#include "masks/mask.h"
#include "parallel/communicator.h"
#include "parallel/execution.h"
#include "parallel/sharding.h"

namespace cpb {

// How the 2-D methods lay their groups on ranks.
enum class Placement {
  kContiguous,  // Ulysses/head groups on consecutive ranks (intra-node)
  kStrided,     // Ulysses/head groups strided across the world
};

struct CpConfig {
  int world = 1;           // ranks taking part
  int ulysses_degree = 1;  // head-parallel degree (ulysses, usp, loongtrain)
  int ring_degree = 1;     // context-parallel degree (ring, usp, loongtrain)
  int inner_ring = 1;      // loongtrain: width W of the inner ring
  Placement placement = Placement::kContiguous;
  std::string sharding = "contiguous";  // name in the ShardingRegistry
};

// The layout axes a method may read from a CpConfig. A method declares the ones
// it uses; the others are fixed (ulysses = 1 or world, ring = 1 or world, ...)
// and must not appear in its case id, params or option checks.
enum class LayoutAxis { kUlysses, kRing, kInnerRing, kPlacement };
std::string_view to_string(LayoutAxis a);  // "ulysses", "ring", "inner_ring", "placement"

// Degrees and placement of one run of a method on `world` ranks.
struct CpLayout {
  int ulysses = 1, ring = 1, inner_ring = 1;
  Placement placement = Placement::kContiguous;
  bool operator==(const CpLayout&) const = default;
};
std::string_view to_string(Placement p);  // "contiguous", "strided"

// The whole problem as every rank sees it.
struct CpProblem {
  AttentionShape shape;  // global: seq_q == seq_k == S
  const Mask* mask;      // global S x S (KV head 0's when head_masks differ per head)
  float scale;
  CpConfig config;
  // Masks that differ per KV head (masks/head_masks.h: one per global KV head), or
  // null: `mask` for every head. Shardings plan on `mask`; kernel calls use these.
  const HeadMasks* head_masks = nullptr;
  // config.sharding's plan of `mask` into config.world shards, made once by the
  // caller (the model shares it across simulated ranks and candidates), or null:
  // each rank makes it in setup().
  const ShardPlan* shard_plan = nullptr;
};

// Tensors of this rank's shard, on the execution's device; token r of each
// tensor is global token local_tokens()[...] in order. Gradients are fp32.
struct CpTensors {
  TensorView q, k, v;     // [local tokens, H, D]
  TensorView out;         // [local tokens, Hq, D]
  LseView lse;            // [local tokens, Hq]
  TensorView dout;        // backward input
  TensorView dq, dk, dv;  // backward outputs, fp32
};

// The method's analytic communication model, per rank, for one forward and one
// backward pass. Compared exactly with the measured bytes in tests and reports.
struct CommVolume {
  int64_t forward_bytes_sent = 0, forward_bytes_received = 0;
  int64_t backward_bytes_sent = 0, backward_bytes_received = 0;
  std::string formula;  // human-readable, as in reports/SCHEMA.md
};

class CpMethod {
 public:
  static constexpr const char* kRegistryNoun = "CP method";
  virtual ~CpMethod() = default;

  // --- What the method declares about its layout (read by options, sweeps,
  // tables and tests through the registry; nothing outside parallel/ names a
  // method). Defaults fit a method with no degrees of its own (one rank).
  // Short human label for tables and charts, e.g. "Ring P2P".
  virtual std::string label() const = 0;
  // The axes of CpLayout this method reads; the rest are implied by the world.
  virtual std::vector<LayoutAxis> axes() const { return {}; }
  // Whether the method can run on `world` ranks at all (e.g. none: world 1).
  virtual bool runs_on(int world) const { return world >= 1; }
  // The layout a run gets when the user gives no degrees.
  virtual CpLayout default_layout(int world) const = 0;
  // Every layout a sweep enumerates at `world` when the config names none.
  virtual std::vector<CpLayout> sweep_layouts(int world) const { return {default_layout(world)}; }
  // The layout with `given`'s values on the axes this method reads and the
  // implied values elsewhere (so an axis it ignores never leaks into an id).
  CpLayout normalise(const CpLayout& given, int world) const;
  // Compact id of a layout over the axes it reads: "u2r4w2", "u2r2-strided", "" for none.
  std::string layout_tag(const CpLayout& l) const;

  // Same answer on every rank (depends only on the problem and world size).
  virtual Support supports(const CpProblem& problem) const = 0;
  // Build sub-communicators, shard plan and work buffers (from `exec`, which also
  // runs every kernel call, copy, merge and comm op of forward/backward: the
  // method never touches memory itself, so one schedule serves host, CUDA and
  // trace executions). `exec` outlives the method's use of it. Collective.
  virtual void setup(const CpProblem& problem, Communicator& world, Kernel& kernel,
                     Execution& exec) = 0;
  // Global token ranges this rank holds, in local order. Valid after setup().
  virtual std::vector<Range> local_tokens() const = 0;
  virtual void forward(CpTensors& t) = 0;
  virtual void backward(CpTensors& t) = 0;
  virtual CommVolume expected_volume() const = 0;
  // Measured traffic of this method's own communication, summed op by op over
  // every communicator it uses (methods split private sub-communicators from
  // `world` in setup() and never talk on `world` itself, so the driver's
  // barriers and all-reduces are not counted). Counts since the last
  // reset_comm_stats(); setup() ends with a reset. Compare with expected_volume().
  virtual CommStats comm_stats() const = 0;
  virtual void reset_comm_stats() = 0;
};

using CpMethodRegistry = Registry<CpMethod>;

// Divisors of n in increasing order (degree splits of a world).
std::vector<int> divisors(int n);

// The config of `layout` for a run of `sharding` on `world` ranks.
CpConfig make_config(const CpLayout& layout, int world, const std::string& sharding);

#define CPB_REGISTER_CP_METHOD(name, Type)                                                     \
  static const bool cpb_registered_cp_method_##name = ::cpb::CpMethodRegistry::instance().add( \
      #name, [] { return std::unique_ptr<::cpb::CpMethod>(new Type()); })

}  // namespace cpb
