#include "bench/options.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>

#include "common/errors.h"
#include "common/limits.h"
#include "kernels/kernel.h"
#include "masks/generators.h"
#include "masks/head_masks.h"
#include "parallel/sharding.h"

namespace cpb::bench {

std::string to_string(Pass p) {
  switch (p) {
    case Pass::kForward:
      return "fwd";
    case Pass::kBackward:
      return "bwd";
    case Pass::kForwardBackward:
      return "fwd+bwd";
  }
  return "?";
}

Pass parse_pass(const std::string& s) {
  if (s == "fwd") return Pass::kForward;
  if (s == "bwd") return Pass::kBackward;
  if (s == "fwd+bwd" || s == "fwdbwd") return Pass::kForwardBackward;
  CPB_INPUT_ERROR("unknown --pass '{}'; allowed: fwd, bwd, fwd+bwd", s);
}

Degrees parse_degrees(const std::string& text) {
  Degrees d;
  if (text.empty() || text == "auto") return d;
  size_t i = 0;
  auto bad = [&](const char* why) {
    CPB_INPUT_ERROR("bad --degrees '{}': {}; allowed: u<N>r<M> (e.g. u2r2), u<N>, r<M>, or auto",
                    text, why);
  };
  while (i < text.size()) {
    char c = static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
    if (c != 'u' && c != 'r') bad("expected 'u' or 'r'");
    ++i;
    size_t start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    if (i == start) bad("expected a number after the letter");
    if (i - start > 6) bad("degree too large");
    int v = std::stoi(text.substr(start, i - start));
    if (v < 1) bad("degrees must be >= 1");
    std::optional<int>& slot = c == 'u' ? d.ulysses : d.ring;
    if (slot) bad("a degree is given twice");
    slot = v;
  }
  return d;
}

std::string to_string(const Degrees& d) {
  if (!d.ulysses && !d.ring) return "auto";
  std::string s;
  if (d.ulysses) s += fmt::format("u{}", *d.ulysses);
  if (d.ring) s += fmt::format("r{}", *d.ring);
  return s;
}

namespace {

bool reads(const CpMethod& m, LayoutAxis axis) {
  const auto a = m.axes();
  return std::find(a.begin(), a.end(), axis) != a.end();
}

CpLayout layout_of(const CpConfig& c) {
  return {.ulysses = c.ulysses_degree,
          .ring = c.ring_degree,
          .inner_ring = c.inner_ring,
          .placement = c.placement};
}

}  // namespace

void resolve_degrees(const std::string& method, int world, const Degrees& given, CpConfig& cfg) {
  auto m = CpMethodRegistry::instance().create(method);  // InputError naming the method
  CpLayout l = m->default_layout(world);
  // An axis the method reads takes the given value; one it fixes keeps a given value
  // only to let supports() refuse it (see options.h).
  if (given.ulysses) l.ulysses = *given.ulysses;
  if (given.ring) l.ring = *given.ring;
  // Hybrids given one degree derive the other from the world.
  if (reads(*m, LayoutAxis::kUlysses) && reads(*m, LayoutAxis::kRing)) {
    if (given.ulysses && !given.ring && world % *given.ulysses == 0)
      l.ring = world / *given.ulysses;
    if (given.ring && !given.ulysses && world % *given.ring == 0) l.ulysses = world / *given.ring;
  }
  cfg.ulysses_degree = l.ulysses;
  cfg.ring_degree = l.ring;
}

std::string layout_id(const std::string& method, const CpConfig& cfg) {
  auto m = CpMethodRegistry::instance().create(method);
  CpLayout l = layout_of(cfg);
  std::string tag = m->layout_tag(l);
  std::string id = fmt::format("P{}{}{}", cfg.world, tag.empty() ? "" : "-", tag);
  if (m->normalise(l, cfg.world) != l)
    id += fmt::format("-u{}r{}w{}", l.ulysses, l.ring, l.inner_ring);
  return id;
}

std::vector<std::string> split_list(const std::string& s, const std::string& what) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t comma = s.find(',', start);
    std::string item =
        s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    CPB_REQUIRE(!item.empty(), "empty item in {} list '{}'; give comma-separated values", what, s);
    out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::vector<int64_t> parse_size_list(const std::string& s, const std::string& flag) {
  std::vector<int64_t> out;
  for (const auto& item : split_list(s, flag)) {
    int64_t mult = 1;
    std::string digits = item;
    char last = static_cast<char>(std::tolower(static_cast<unsigned char>(digits.back())));
    if (last == 'k' || last == 'm') {
      mult = last == 'k' ? 1024 : 1024 * 1024;
      digits.pop_back();
    }
    bool ok = !digits.empty() && digits.size() <= 12 &&
              std::all_of(digits.begin(), digits.end(),
                          [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    CPB_REQUIRE(ok, "{} '{}' is not a positive integer (allowed: N, Nk, NM, comma lists)", flag,
                item);
    int64_t v = std::stoll(digits) * mult;
    CPB_REQUIRE(v >= 1, "{} {} must be >= 1", flag, item);
    out.push_back(v);
  }
  return out;
}

MaskSpec build_mask_spec(const std::string& kind, const MaskParams& params, uint64_t seed) {
  const MaskKindDef& def = find_mask_kind(kind);  // InputError listing the kinds
  nlohmann::json j = {{"kind", kind}};
  auto uses = [&](const std::string& p) {
    return std::find(def.params.begin(), def.params.end(), p) != def.params.end();
  };
  for (const auto& [key, value] : params.values)
    if (uses(key)) j[key] = value;
  if (uses("seed") && !j.contains("seed")) j["seed"] = seed;
  for (const auto& key : def.required)
    if (!j.contains(key)) {
      std::string flag = key;
      std::replace(flag.begin(), flag.end(), '_', '-');
      CPB_INPUT_ERROR("mask '{}' needs --{} (its parameters: {})", kind, flag,
                      fmt::join(def.params, ", "));
    }
  return j.get<MaskSpec>();
}

nlohmann::json RunOptions::to_json() const {
  nlohmann::json mp = nlohmann::json::object();
  for (const auto& [k, v] : mask_params.values) mp[k] = v;
  return {{"kernels", kernels},
          {"masks", masks},
          {"mask_params", mp},
          {"seqs", seqs},
          {"methods", methods},
          {"shardings", shardings},
          {"heads_q", heads_q},
          {"heads_kv", heads_kv == 0 ? heads_q : heads_kv},
          {"head_dim", head_dim},
          {"dtype", dtype},
          {"pass", pass},
          {"warmup", warmup},
          {"iters", iters},
          {"seed", seed},
          {"mask_seed", mask_seed ? nlohmann::json(*mask_seed) : nlohmann::json(nullptr)},
          {"verify", verify},
          {"out", out},
          {"degrees", degrees.empty() ? "auto" : degrees},
          {"inner_ring", inner_ring ? nlohmann::json(*inner_ring) : nlohmann::json(nullptr)},
          {"placement", placement ? nlohmann::json(*placement) : nlohmann::json(nullptr)},
          {"timeout_seconds", timeout_seconds},
          {"keep_samples", keep_samples},
          {"repeat", repeat},
          {"min_time_s", min_time_s},
          {"max_cv", max_cv},
          {"max_repeat", max_repeat},
          {"mask_samples", mask_samples},
          {"comm", comm}};
}

std::string CaseSpec::id() const {
  std::string mask_id = mask.kind;
  nlohmann::json mj = mask;
  for (const auto& [k, v] : mj.items())
    if (k != "kind")
      mask_id += fmt::format(",{}={}", k, v.is_string() ? v.get<std::string>() : v.dump());
  return fmt::format("{}/{}/{}/S{}/H{}-{}/D{}/{}/{}/{}/{}", method, kernel, mask_id, seq, heads_q,
                     heads_kv, head_dim, to_string(dtype), to_string(pass), layout_id(method, cp),
                     cp.sharding);
}

nlohmann::json CaseSpec::params_json() const {
  return {
      {"kernel", kernel},
      {"mask", mask},
      {"seq", seq},
      {"heads_q", heads_q},
      {"heads_kv", heads_kv},
      {"head_dim", head_dim},
      {"dtype", std::string(to_string(dtype))},
      {"pass", to_string(pass)},
      {"warmup", warmup},
      {"iters", iters},
      {"seed", seed},
      {"verify", verify},
      {"method", method},
      {"world_size", cp.world},
      {"degrees",
       {{"ulysses", cp.ulysses_degree}, {"ring", cp.ring_degree}, {"inner_ring", cp.inner_ring}}},
      {"placement", std::string(to_string(cp.placement))},
      {"layout", layout_id(method, cp)},
      {"sharding", cp.sharding},
      {"timeout_seconds", timeout_seconds}};
}

namespace {

void require_registered(bool known, const std::string& noun, const std::string& flag,
                        const std::string& name, const std::vector<std::string>& allowed) {
  CPB_REQUIRE(known, "unknown {} '{}' (--{}); allowed: {}", noun, name, flag,
              fmt::join(allowed, ", "));
}

// --inner-ring / --placement given while no listed method reads that axis would be
// silently ignored: refuse it, naming the methods that do read it.
template <typename T>
void require_some_method_reads(const std::vector<std::string>& listed, LayoutAxis axis,
                               const char* flag, const std::optional<T>& value) {
  if (!value) return;
  const auto& reg = CpMethodRegistry::instance();
  for (const auto& name : listed)
    if (reg.contains(name) && reads(*reg.create(name), axis)) return;
  std::vector<std::string> readers;
  for (const auto& name : reg.names())
    if (reads(*reg.create(name), axis)) readers.push_back(name);
  CPB_INPUT_ERROR("{} {} is given, but no method in --method ({}) reads it; methods that do: {}",
                  flag, *value, fmt::join(listed, ", "), fmt::join(readers, ", "));
}

}  // namespace

namespace {

// Every size against common/limits.h before any product of them is formed, so no
// arithmetic downstream can overflow; each message names the flag and its limit.
void check_limits(const RunOptions& o) {
  for (int64_t s : o.seqs)
    CPB_REQUIRE(s >= 1 && s <= kMaxSeq, "--seq {} must be in [1, {}] tokens (2^30)", s, kMaxSeq);
  CPB_REQUIRE(o.heads_q >= 1 && o.heads_q <= kMaxHeads, "--heads {} must be in [1, {}] (2^16)",
              o.heads_q, kMaxHeads);
  CPB_REQUIRE(o.head_dim >= 1 && o.head_dim <= kMaxHeadDim,
              "--head-dim {} must be in [1, {}] (2^16)", o.head_dim, kMaxHeadDim);
  for (int64_t s : o.seqs)
    CPB_REQUIRE(s * o.heads_q * o.head_dim <= kMaxTensorElements,
                "--seq {} x --heads {} x --head-dim {} = {} elements per tensor; the limit is {} "
                "(2^50)",
                s, o.heads_q, o.head_dim, s * o.heads_q * o.head_dim, kMaxTensorElements);
  CPB_REQUIRE(o.warmup >= 0 && o.warmup <= kMaxIterations, "--warmup {} must be in [0, {}]",
              o.warmup, kMaxIterations);
  CPB_REQUIRE(o.iters >= 1 && o.iters <= kMaxIterations, "--iters {} must be in [1, {}]", o.iters,
              kMaxIterations);
  CPB_REQUIRE(o.repeat >= 1, "--repeat {} must be >= 1", o.repeat);
  CPB_REQUIRE(
      std::isfinite(o.min_time_s) && o.min_time_s >= 0 && o.min_time_s <= kMaxTimeoutSeconds,
      "--min-time {} must be a number of seconds >= 0 and <= {:g}", o.min_time_s,
      kMaxTimeoutSeconds);
  CPB_REQUIRE(std::isfinite(o.max_cv) && o.max_cv >= 0 && o.max_cv <= kMaxTimeoutSeconds,
              "--max-cv {} must be a fraction >= 0 (e.g. 0.02 for 2%)", o.max_cv);
  CPB_REQUIRE(o.max_repeat == 0 || o.max_repeat >= o.repeat,
              "--max-repeat {} must be >= --repeat {} (0: no cap beyond the rule's 10)",
              o.max_repeat, o.repeat);
  CPB_REQUIRE(std::isfinite(o.timeout_seconds) && o.timeout_seconds >= 0 &&
                  o.timeout_seconds <= kMaxTimeoutSeconds,
              "--timeout {} must be a number of seconds >= 0 and <= {:g} (0 disables the watchdog)",
              o.timeout_seconds, kMaxTimeoutSeconds);
}

}  // namespace

namespace {

// Names against the registries, and every axis non-empty.
void check_run_names(const RunOptions& o) {
  const auto& kernels = KernelRegistry::instance();
  const auto& methods = CpMethodRegistry::instance();
  const auto& shardings = ShardingRegistry::instance();
  for (const auto& k : o.kernels)
    require_registered(kernels.contains(k), "kernel", "kernel", k, kernels.names());
  for (const auto& m : o.methods)
    require_registered(methods.contains(m), "CP method", "method", m, methods.names());
  for (const auto& s : o.shardings)
    require_registered(shardings.contains(s), "sharding", "sharding", s, shardings.names());
  CPB_REQUIRE(!o.kernels.empty() && !o.masks.empty() && !o.seqs.empty() && !o.methods.empty() &&
                  !o.shardings.empty(),
              "every sweep axis (--kernel, --mask, --seq, --method, --sharding) needs a value");
}

// Sizes, GQA, and the layout flags only where some listed method reads them.
void check_run_values(const RunOptions& o) {
  check_limits(o);
  int64_t hkv = o.heads_kv == 0 ? o.heads_q : o.heads_kv;
  CPB_REQUIRE(hkv >= 1, "--kv-heads {} must be >= 1", o.heads_kv);
  CPB_REQUIRE(o.heads_q % hkv == 0, "--heads {} must be a multiple of --kv-heads {} (GQA)",
              o.heads_q, hkv);
  if (o.inner_ring) CPB_REQUIRE(*o.inner_ring >= 1, "--inner-ring {} must be >= 1", *o.inner_ring);
  if (o.placement)
    CPB_REQUIRE(*o.placement == "contiguous" || *o.placement == "strided",
                "unknown --placement '{}'; allowed: contiguous, strided", *o.placement);
  require_some_method_reads(o.methods, LayoutAxis::kInnerRing, "--inner-ring", o.inner_ring);
  require_some_method_reads(o.methods, LayoutAxis::kPlacement, "--placement", o.placement);
}

// Mask flags: a parameter no listed kind reads, or a --mask-seed no listed kind draws
// with, would change nothing: almost certainly a typo'd intent.
void check_mask_flags(const RunOptions& o) {
  for (const auto& [key, value] : o.mask_params.values) {
    bool used = false;
    for (const auto& kind : o.masks) {
      const auto& p = find_mask_kind(kind).params;
      used = used || std::find(p.begin(), p.end(), key) != p.end();
    }
    std::string flag = key;
    std::replace(flag.begin(), flag.end(), '_', '-');
    CPB_REQUIRE(used, "--{} is not a parameter of mask(s) {}; see `cpbench list`", flag,
                fmt::join(o.masks, ", "));
  }
  auto draws = [](const std::string& kind) {
    const auto& p = find_mask_kind(kind).params;
    return std::find(p.begin(), p.end(), "seed") != p.end();
  };
  std::vector<std::string> random;
  for (const auto& def : mask_kind_table())
    if (draws(def.name)) random.push_back(def.name);
  const bool any_random = std::any_of(o.masks.begin(), o.masks.end(), draws);
  if (o.mask_seed)
    CPB_REQUIRE(any_random,
                "--mask-seed {} is given, but no mask in --mask ({}) draws at random; masks "
                "that do: {}",
                *o.mask_seed, fmt::join(o.masks, ", "), fmt::join(random, ", "));
  CPB_REQUIRE(o.mask_samples >= 1, "--mask-samples {} must be >= 1", o.mask_samples);
  CPB_REQUIRE(o.mask_samples == 1 || any_random,
              "--mask-samples {} is given, but no mask in --mask ({}) draws at random; masks "
              "that do: {}",
              o.mask_samples, fmt::join(o.masks, ", "), fmt::join(random, ", "));
}

}  // namespace

namespace {

// The masks of `run` as config entries, each built at every length now so that a
// window > S or a bad histogram fails with run's own message before anything runs.
nlohmann::json run_masks(const RunOptions& o) {
  const uint64_t mask_seed = o.mask_seed.value_or(o.seed);
  nlohmann::json masks = nlohmann::json::array();
  for (const auto& kind : o.masks) {
    MaskSpec spec = build_mask_spec(kind, o.mask_params, mask_seed);
    for (int64_t s : o.seqs) {
      if (spec.per_head)  // also checks the heads' total size against its cap
        make_head_masks(spec, s, o.heads_kv ? o.heads_kv : o.heads_q);
      else
        make_mask(spec, s);
    }
    masks.push_back(spec);
  }
  return masks;
}

// --degrees and --inner-ring as the one entry of the config's `degrees` (null: neither).
nlohmann::json run_degrees(const RunOptions& o) {
  const Degrees d = parse_degrees(o.degrees);
  nlohmann::json entry = nlohmann::json::object();
  if (d.ulysses) entry["ulysses"] = *d.ulysses;
  if (d.ring) entry["ring"] = *d.ring;
  if (o.inner_ring) entry["inner_ring"] = *o.inner_ring;
  return entry.empty() ? nlohmann::json() : nlohmann::json::array({entry});
}

// The options as the sweep config they are (bench/configs/README.md): comma lists are
// axes, everything else a one-value axis or a scalar.
nlohmann::json run_config(const RunOptions& o, int world) {
  const DType dtype = parse_dtype(o.dtype);  // run's own messages first
  const Pass pass = parse_pass(o.pass);
  nlohmann::json j = {{"kernel", o.kernels},
                      {"method", o.methods},
                      {"sharding", o.shardings},
                      {"mask", run_masks(o)},
                      {"seqlen", o.seqs},
                      {"heads", {o.heads_q}},
                      {"kv_heads", {o.heads_kv == 0 ? o.heads_q : o.heads_kv}},
                      {"head_dim", {o.head_dim}},
                      {"dtype", {std::string(to_string(dtype))}},
                      {"pass", {to_string(pass)}},
                      {"world", {world}},
                      {"warmup", o.warmup},
                      {"iterations", o.iters},
                      {"repeat", o.repeat},
                      {"min_time_s", o.min_time_s},
                      {"max_cv", o.max_cv},
                      {"max_repeat", o.max_repeat},
                      {"mask_samples", o.mask_samples},
                      {"seed", o.seed},
                      {"verify", o.verify},
                      {"timeout_s", o.timeout_seconds},
                      {"keep_samples", o.keep_samples}};
  if (nlohmann::json d = run_degrees(o); !d.is_null()) j["degrees"] = d;
  if (o.placement) j["placement"] = {*o.placement};
  return j;
}

}  // namespace

SweepConfig plan_run(const RunOptions& o, int world) {
  CPB_REQUIRE(world >= 1, "world size {} must be >= 1", world);
  check_run_names(o);
  check_run_values(o);
  check_mask_flags(o);
  return parse_sweep_config(run_config(o, world), "the command line", {}, PlanMode::kRun);
}

std::vector<CaseSpec> expand_cases(const RunOptions& o, int world) {
  const SweepConfig plan = plan_run(o, world);
  std::vector<CaseSpec> cases;
  for (const SweepCase& point : plan.cases) cases.push_back(case_spec(point, plan.run));
  return cases;
}

CaseSpec case_spec(const SweepCase& c, const SweepRunOptions& run) {
  CaseSpec s = case_spec(c);
  s.warmup = run.warmup;
  s.iters = run.iterations;
  s.seed = run.seed;
  s.verify = run.verify;
  s.timeout_seconds = run.timeout_s;
  // Repetitions are pooled from per-iteration samples, so every pooled statistic
  // (median, p10, p90, cv) is over the same population as iterations/min/max.
  s.keep_samples = run.keep_samples || run.repeat > 1 || run.max_repeat > 1;
  return s;
}

CaseSpec case_spec(const SweepCase& c) {
  CaseSpec s;
  s.kernel = c.kernel;
  s.mask = c.mask.get<MaskSpec>();
  s.seq = c.seqlen;
  s.heads_q = c.heads;
  s.heads_kv = c.kv_heads;
  s.head_dim = c.head_dim;
  s.dtype = parse_dtype(c.dtype);
  s.pass = parse_pass(c.pass);
  s.method = c.method;
  s.cp = {.world = c.world,
          .ulysses_degree = c.ulysses,
          .ring_degree = c.ring,
          .inner_ring = c.inner_ring,
          .placement = c.placement == "strided" ? Placement::kStrided : Placement::kContiguous,
          .sharding = c.sharding};
  return s;
}

}  // namespace cpb::bench
