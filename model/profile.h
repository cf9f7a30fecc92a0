// Calibration files the model reads: a kernel profile (time of a kernel call as a
// function of its tiles, key length, heads, head dim, dtype and pass) and a
// topology (link classes, NICs, ranks per node). Both are JSON in data/profiles/,
// written by `cpbench calibrate` or by hand from published figures (cited in the
// file). Decision: a kernel's speed is a table of FULL-tile TFLOP/s against the
// key length of the call, plus a PARTIAL-tile cost factor and a device fill
// width; the model interpolates, it never extrapolates a curve it was not given.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "common/dtype.h"

namespace cpb::model {

struct KernelRate {
  int64_t seq_k = 0;  // keys per call
  double tflops = 0;  // FULL-tile throughput at that key length (TFLOP/s, SCHEMA convention)
};

// Memory a kernel call allocates for itself beside the tensors it is given, held
// for the call only (e.g. FlashAttention's backward: fp32 dQ accumulator and
// softmax statistics per query row, fp32 or expanded dK/dV under GQA). Bytes per
// row of a head; sequence lengths rounded up to the entry's tile.
struct KernelScratch {
  double per_q_head = 0;         // per query token and query head
  double per_k_kv_head_gqa = 0;  // per key token and KV head, only when Hq > Hkv
  double per_k_q_head_gqa = 0;   // per key token and query head, only when Hq > Hkv
};

enum class RateBy { kSeqK, kKeysPerRow, kSeqQ };
const char* to_string(RateBy by);

struct KernelEntry {
  std::string kernel;  // name as the profile knows it (cpu_flash, fa2, fa3, cudnn, ...)
  DType dtype = DType::kBF16;
  int64_t head_dim = 128;
  bool backward = false;
  int64_t block_q = 128, block_k = 128;  // tile of the FULL/PARTIAL counts
  double launch_seconds = 0;             // fixed cost of one call
  double partial_cost = 1;               // a PARTIAL tile costs this many FULL tiles
  int64_t parallel_units = 1;            // q-tile x head work items that fill the device
  std::vector<KernelRate> rates;         // sorted by seq_k, at least one
  // "rate_by": what a call's rate is read at. "seq_k" (default): the call's key
  // length, as published tables give it. "keys_per_row": the keys a query row visits
  // on average, (FULL + PARTIAL tiles) / q-tiles x block_k, which equals seq_k for
  // the full masks a table is measured on; a masked call then runs at the rate of
  // the rows it really has (a CPU kernel's cache working set is one row's keys).
  // "seq_q": the call's query rows, which equal seq_k on the square calls a table is
  // measured on; for a backward that streams every query row of the call for each
  // key tile (cpu_flash), so its working set grows with the rows, not the keys.
  RateBy rate_by = RateBy::kSeqK;
  KernelScratch scratch;  // "scratch_bytes" (optional: none)
  std::string source;     // where the figures come from
};

struct KernelProfile {
  std::string name, path, device;
  double memory_bandwidth =
      0;  // B/s for copies, zeroing and LSE merges (read + write counted once)
  std::vector<std::string> sources;
  std::vector<KernelEntry> entries;
  // The entry for (kernel, dtype, head dim, pass); InputError naming what is missing.
  const KernelEntry& find(const std::string& kernel, DType dtype, int64_t head_dim,
                          bool backward) const;
};

struct LinkClass {
  double latency = 0;    // s per message
  double bandwidth = 0;  // B/s per rank, one direction
};

struct Topology {
  std::string name, path;
  int ranks_per_node = 1;
  int nodes = 0;                     // 0: as many as the world needs
  LinkClass intra, inter;            // inter.bandwidth: one NIC
  int nics_per_node = 1;             // NICs a node's ranks share for inter-node traffic
  double memory_bytes_per_rank = 0;  // device (or host) memory budget; 0 = unknown
  std::vector<std::string> sources;
  int node_of(int rank) const { return rank / ranks_per_node; }
  // InputError when `world` ranks do not fill this topology (nodes x ranks per node).
  void check_world(int world) const;
};

// Parse from a file path; InputError naming the file and the bad or missing field.
KernelProfile load_kernel_profile(const std::string& path);
Topology load_topology(const std::string& path);
KernelProfile parse_kernel_profile(const nlohmann::json& j, const std::string& where);
Topology parse_topology(const nlohmann::json& j, const std::string& where);
nlohmann::json to_json(const KernelProfile& p);
nlohmann::json to_json(const Topology& t);

// A shipped profile name (data/profiles/<name>.json under the source tree) or a path.
std::string resolve_profile(const std::string& name_or_path);

}  // namespace cpb::model
