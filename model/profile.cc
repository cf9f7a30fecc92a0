#include "model/profile.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "common/errors.h"

#ifndef CPB_SOURCE_DIR
#define CPB_SOURCE_DIR "."
#endif

namespace cpb::model {
namespace {

using nlohmann::json;

const json& field(const json& j, const char* key, const std::string& where) {
  CPB_REQUIRE(j.is_object() && j.contains(key), "{}: missing field '{}'", where, key);
  return j.at(key);
}

double number(const json& j, const char* key, const std::string& where, double lo) {
  const json& v = field(j, key, where);
  CPB_REQUIRE(v.is_number(), "{}: field '{}' must be a number", where, key);
  const double x = v.get<double>();
  CPB_REQUIRE(x >= lo, "{}: field '{}' = {} must be >= {}", where, key, x, lo);
  return x;
}

double number_or(const json& j, const char* key, const std::string& where, double lo, double def) {
  return j.contains(key) ? number(j, key, where, lo) : def;
}

std::string text(const json& j, const char* key, const std::string& where) {
  const json& v = field(j, key, where);
  CPB_REQUIRE(v.is_string(), "{}: field '{}' must be a string", where, key);
  return v.get<std::string>();
}

std::vector<std::string> texts(const json& j, const char* key) {
  std::vector<std::string> out;
  if (j.contains(key) && j.at(key).is_array())
    for (const auto& s : j.at(key))
      if (s.is_string()) out.push_back(s.get<std::string>());
  return out;
}

void check_schema(const json& j, const char* schema, const std::string& where) {
  CPB_REQUIRE(j.is_object(), "{}: not a JSON object", where);
  CPB_REQUIRE(j.contains("schema") && j.at("schema") == schema, "{}: not a {} file (schema '{}')",
              where, schema, j.value("schema", std::string("?")));
  CPB_REQUIRE(j.value("version", 0) == 1, "{}: {} version {} unsupported (want 1)", where, schema,
              j.value("version", 0));
}

json read_json(const std::string& path) {
  std::ifstream in(path);
  CPB_REQUIRE(in.good(), "cannot read profile '{}'", path);
  json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  CPB_REQUIRE(!j.is_discarded(), "profile '{}' is not valid JSON", path);
  return j;
}

KernelEntry parse_entry(const json& e, const std::string& where) {
  KernelEntry k;
  k.kernel = text(e, "kernel", where);
  const std::string dt = text(e, "dtype", where);
  CPB_REQUIRE(dt == "fp32" || dt == "bf16" || dt == "fp16", "{}: unknown dtype '{}'", where, dt);
  k.dtype = parse_dtype(dt);
  k.head_dim = static_cast<int64_t>(number(e, "head_dim", where, 1));
  const std::string pass = text(e, "pass", where);
  CPB_REQUIRE(pass == "fwd" || pass == "bwd", "{}: pass '{}' must be fwd or bwd", where, pass);
  k.backward = pass == "bwd";
  const json& block = field(e, "block", where);
  CPB_REQUIRE(block.is_array() && block.size() == 2 && block[0].is_number_integer() &&
                  block[1].is_number_integer() && block[0].get<int64_t>() > 0 &&
                  block[1].get<int64_t>() > 0,
              "{}: 'block' must be [block_q, block_k], positive integers", where);
  k.block_q = block[0].get<int64_t>();
  k.block_k = block[1].get<int64_t>();
  k.launch_seconds = number(e, "launch_us", where, 0) * 1e-6;
  k.partial_cost = number_or(e, "partial_cost", where, 0, 1);
  k.parallel_units = static_cast<int64_t>(number_or(e, "parallel_units", where, 1, 1));
  if (e.contains("rate_by")) {
    const std::string by = text(e, "rate_by", where);
    CPB_REQUIRE(by == "seq_k" || by == "keys_per_row" || by == "seq_q",
                "{}: rate_by '{}' must be seq_k, keys_per_row or seq_q", where, by);
    k.rate_by = by == "keys_per_row" ? RateBy::kKeysPerRow
                : by == "seq_q"      ? RateBy::kSeqQ
                                     : RateBy::kSeqK;
  }
  const json& rates = field(e, "tflops_by_seq_k", where);
  CPB_REQUIRE(rates.is_array() && !rates.empty(),
              "{}: 'tflops_by_seq_k' must be a non-empty array of [seq_k, TFLOP/s]", where);
  for (const auto& r : rates) {
    CPB_REQUIRE(r.is_array() && r.size() == 2 && r[0].is_number() && r[1].is_number() &&
                    r[0].get<double>() >= 1 && r[1].get<double>() > 0,
                "{}: 'tflops_by_seq_k' entry {} must be [seq_k >= 1, TFLOP/s > 0]", where,
                r.dump());
    k.rates.push_back({r[0].get<int64_t>(), r[1].get<double>()});
  }
  std::sort(k.rates.begin(), k.rates.end(),
            [](const KernelRate& a, const KernelRate& b) { return a.seq_k < b.seq_k; });
  if (e.contains("scratch_bytes")) {
    const std::string w = fmt::format("{}: scratch_bytes", where);
    const json& sb = e.at("scratch_bytes");
    CPB_REQUIRE(sb.is_object(), "{} must be an object", w);
    for (const auto& [key, v] : sb.items())
      CPB_REQUIRE(key == "per_q_head" || key == "per_k_kv_head_gqa" || key == "per_k_q_head_gqa",
                  "{}: unknown field '{}' (per_q_head, per_k_kv_head_gqa, per_k_q_head_gqa)", w,
                  key);
    k.scratch = {.per_q_head = number_or(sb, "per_q_head", w, 0, 0),
                 .per_k_kv_head_gqa = number_or(sb, "per_k_kv_head_gqa", w, 0, 0),
                 .per_k_q_head_gqa = number_or(sb, "per_k_q_head_gqa", w, 0, 0)};
  }
  k.source = e.value("source", std::string());
  return k;
}

LinkClass parse_link(const json& j, const char* key, const std::string& where) {
  const std::string w = fmt::format("{}: {}", where, key);
  const json& l = field(j, key, where);
  return {.latency = number(l, "latency_us", w, 0) * 1e-6,
          .bandwidth = number(l, "bandwidth_GBps", w, 1e-9) * 1e9};
}

}  // namespace

const char* to_string(RateBy by) {
  switch (by) {
    case RateBy::kKeysPerRow:
      return "keys_per_row";
    case RateBy::kSeqQ:
      return "seq_q";
    case RateBy::kSeqK:
      break;
  }
  return "seq_k";
}

const KernelEntry& KernelProfile::find(const std::string& kernel, DType dtype, int64_t head_dim,
                                       bool backward) const {
  for (const auto& e : entries)
    if (e.kernel == kernel && e.dtype == dtype && e.head_dim == head_dim && e.backward == backward)
      return e;
  std::vector<std::string> have;
  for (const auto& e : entries)
    have.push_back(fmt::format("{}/{}/D{}/{}", e.kernel, to_string(e.dtype), e.head_dim,
                               e.backward ? "bwd" : "fwd"));
  CPB_INPUT_ERROR(
      "kernel profile '{}' has no entry for kernel {} dtype {} head_dim {} pass {}; "
      "it has: {}",
      path.empty() ? name : path, kernel, to_string(dtype), head_dim, backward ? "bwd" : "fwd",
      fmt::join(have, ", "));
}

void Topology::check_world(int world) const {
  CPB_REQUIRE(world >= 1, "world size {} must be >= 1", world);
  const std::string n = path.empty() ? name : path;
  if (nodes > 0)
    CPB_REQUIRE(world == nodes * ranks_per_node,
                "world {} is not the topology '{}': {} nodes x {} ranks per node = {}", world, n,
                nodes, ranks_per_node, nodes * ranks_per_node);
  else
    CPB_REQUIRE(world <= ranks_per_node || world % ranks_per_node == 0,
                "world {} is not a whole number of nodes of {} ranks (topology '{}')", world,
                ranks_per_node, n);
}

KernelProfile parse_kernel_profile(const json& j, const std::string& where) {
  check_schema(j, "cpbench-kernel-profile", where);
  KernelProfile p;
  p.name = text(j, "name", where);
  p.device = j.value("device", std::string());
  p.memory_bandwidth = number(j, "memory_bandwidth_GBps", where, 1e-9) * 1e9;
  p.sources = texts(j, "sources");
  const json& entries = field(j, "entries", where);
  CPB_REQUIRE(entries.is_array() && !entries.empty(), "{}: 'entries' must be a non-empty array",
              where);
  for (std::size_t i = 0; i < entries.size(); ++i)
    p.entries.push_back(parse_entry(entries[i], fmt::format("{}: entries[{}]", where, i)));
  return p;
}

Topology parse_topology(const json& j, const std::string& where) {
  check_schema(j, "cpbench-topology", where);
  Topology t;
  t.name = text(j, "name", where);
  t.ranks_per_node = static_cast<int>(number(j, "ranks_per_node", where, 1));
  t.nodes = static_cast<int>(number_or(j, "nodes", where, 0, 0));
  t.intra = parse_link(j, "intra_node", where);
  t.inter = parse_link(j, "inter_node", where);
  t.nics_per_node = static_cast<int>(number_or(j, "nics_per_node", where, 1, 1));
  t.memory_bytes_per_rank = number_or(j, "memory_GB_per_rank", where, 0, 0) * 1e9;
  t.sources = texts(j, "sources");
  return t;
}

std::string resolve_profile(const std::string& name) {
  namespace fs = std::filesystem;
  if (fs::is_regular_file(name)) return name;
  const fs::path dir = fs::path(CPB_SOURCE_DIR) / "data" / "profiles";
  if (name.find('/') == std::string::npos) {
    for (const char* ext : {"", ".json"}) {
      fs::path p = dir / (name + ext);
      if (fs::is_regular_file(p)) return p.string();
    }
  }
  std::vector<std::string> shipped;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".json") shipped.push_back(e.path().stem().string());
  std::sort(shipped.begin(), shipped.end());
  CPB_INPUT_ERROR("unknown profile '{}': not a file, nor a shipped profile ({})", name,
                  fmt::join(shipped, ", "));
}

KernelProfile load_kernel_profile(const std::string& name) {
  const std::string path = resolve_profile(name);
  KernelProfile p = parse_kernel_profile(read_json(path), path);
  p.path = path;
  return p;
}

Topology load_topology(const std::string& name) {
  const std::string path = resolve_profile(name);
  Topology t = parse_topology(read_json(path), path);
  t.path = path;
  return t;
}

json to_json(const KernelProfile& p) {
  json entries = json::array();
  for (const auto& e : p.entries) {
    json rates = json::array();
    for (const auto& r : e.rates) rates.push_back({r.seq_k, r.tflops});
    entries.push_back({{"kernel", e.kernel},
                       {"dtype", std::string(to_string(e.dtype))},
                       {"head_dim", e.head_dim},
                       {"pass", e.backward ? "bwd" : "fwd"},
                       {"block", {e.block_q, e.block_k}},
                       {"launch_us", e.launch_seconds * 1e6},
                       {"partial_cost", e.partial_cost},
                       {"parallel_units", e.parallel_units},
                       {"tflops_by_seq_k", rates},
                       {"rate_by", to_string(e.rate_by)},
                       {"scratch_bytes",
                        {{"per_q_head", e.scratch.per_q_head},
                         {"per_k_kv_head_gqa", e.scratch.per_k_kv_head_gqa},
                         {"per_k_q_head_gqa", e.scratch.per_k_q_head_gqa}}},
                       {"source", e.source}});
  }
  return {{"schema", "cpbench-kernel-profile"},
          {"version", 1},
          {"name", p.name},
          {"device", p.device},
          {"memory_bandwidth_GBps", p.memory_bandwidth / 1e9},
          {"sources", p.sources},
          {"entries", entries}};
}

json to_json(const Topology& t) {
  auto link = [](const LinkClass& l) {
    return json{{"latency_us", l.latency * 1e6}, {"bandwidth_GBps", l.bandwidth / 1e9}};
  };
  json j = {{"schema", "cpbench-topology"},
            {"version", 1},
            {"name", t.name},
            {"ranks_per_node", t.ranks_per_node},
            {"intra_node", link(t.intra)},
            {"inter_node", link(t.inter)},
            {"nics_per_node", t.nics_per_node},
            {"memory_GB_per_rank", t.memory_bytes_per_rank / 1e9},
            {"sources", t.sources}};
  if (t.nodes > 0) j["nodes"] = t.nodes;
  return j;
}

}  // namespace cpb::model
