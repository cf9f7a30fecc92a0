// Sweep config parsing and expansion, in phases: top-level keys, run options, axes,
// mask templates, layouts per (world, method) from the CP method registry, the case
// count (refused above kMaxSweepCases before anything is built), the masks' fit to
// every length, the product itself (linear: no search over the cases made so far),
// the check that every axis value yields a case, and the exclude/only rules.
#include "bench/sweep_config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <set>
#include <sstream>

#include "bench/options.h"
#include "common/errors.h"
#include "common/input_file.h"
#include "common/limits.h"
#include "masks/generators.h"
#include "masks/head_masks.h"
#include "masks/mask_spec.h"
#include "parallel/cp_method.h"

namespace cpb {
namespace {

using nlohmann::json;

// Limits of config values; each message names the one it hits. Sizes, iterations and
// times are the command line's (common/limits.h); the rest are the sweep's own.
constexpr int64_t kMaxSeqlen = kMaxSeq;
constexpr int64_t kMaxWorld = 1 << 20;  // ranks
constexpr int64_t kMaxRepeat = 100000;
constexpr int64_t kMaxMaskSamples = 10000;
constexpr double kMaxSeconds = kMaxTimeoutSeconds;  // timeouts and stopping-rule times

const std::vector<std::string> kDtypes = {"fp32", "bf16", "fp16"};
const std::vector<std::string> kPasses = {"fwd", "bwd", "fwd+bwd"};
const std::vector<std::string> kPlacements = {"contiguous", "strided"};

const std::vector<std::pair<std::string, std::string>> kKeys = {
    {"name", "string: sweep name, echoed into the report"},
    {"description", "string: free text"},
    {"comment", "string: free text, ignored"},
    {"kernel", "list of kernel names (default [\"cpu_flash\"])"},
    {"method", "list of CP method names; \"none\" = single rank (default [\"none\"])"},
    {"sharding", "list of sharding names (default [\"contiguous\"]); world 1 has one shard"},
    {"placement",
     "list of contiguous|strided, for methods that read a placement (default [\"contiguous\"])"},
    {"degrees",
     "list of {ulysses, ring, inner_ring} objects (integers or rules such as "
     "\"min(world, ranks_per_node)\") for methods that read degrees (default: every layout "
     "the method sweeps)"},
    {"ranks_per_node", "integer >= 1: ranks per node for degree rules (default: the launcher's)"},
    {"mask", "list of mask specs (objects, or a kind name); list-valued parameters expand"},
    {"mask_samples",
     "integer >= 1: seeds per random mask (seed, seed+1, ...), summarised as one case "
     "(default 1)"},
    {"doclen_by_seqlen",
     "\"longca\" or a list of {\"max_seqlen\": S, \"doclen\": name} (last without "
     "max_seqlen): the histogram of document masks that name none, by sequence length"},
    {"seqlen", "list of sequence lengths in tokens (this or tokens_per_rank)"},
    {"tokens_per_rank", "list of tokens per rank: S = tokens_per_rank x world (weak scaling)"},
    {"heads", "list of query head counts (default [8])"},
    {"kv_heads", "list of key/value head counts (default: equal to heads)"},
    {"head_dim", "list of head dims (default [128])"},
    {"dtype", "list of fp32|bf16|fp16 (default [\"fp32\"])"},
    {"pass", "list of fwd|bwd|fwd+bwd (default [\"fwd\"])"},
    {"world", "list of world sizes, the first W ranks of the launch (default [1])"},
    {"warmup", "integer >= 0: untimed iterations per case (default 2)"},
    {"iterations", "integer >= 1: timed iterations per repetition (default 10)"},
    {"repeat", "integer >= 1: repetitions per case, samples pooled (default 1)"},
    {"seed", "integer >= 0: tensor data seed (default 0)"},
    {"verify", "boolean: check against cpu_reference (default false)"},
    {"timeout_s", "number > 0: watchdog per case in seconds (default 300)"},
    {"keep_samples", "boolean: keep per-iteration step times in the report (default false)"},
    {"min_time_s", "number >= 0: stopping rule, minimum pooled timed seconds (default 0: off)"},
    {"max_cv", "number >= 0: stopping rule, maximum pooled CV (default 0: off)"},
    {"max_repeat", "integer >= 0: stopping rule, repetition cap (default 10 when a rule is on)"},
    {"exclude", "list of rule objects: drop cases matching any rule"},
    {"only", "list of rule objects: keep only cases matching some rule"},
};

const std::vector<std::string> kRuleKeys = {
    "kernel",          "method",  "sharding", "placement", "mask",  "seqlen",
    "tokens_per_rank", "heads",   "kv_heads", "head_dim",  "dtype", "pass",
    "world",           "ulysses", "ring",     "inner_ring"};

// LongCA-bench's rule: the Pile up to 12K tokens, ProLong-64K up to 64K, ProLong-512K above.
const json kLongcaDoclenRule = json::array({{{"max_seqlen", 12 * 1024}, {"doclen", "pile"}},
                                            {{"max_seqlen", 64 * 1024}, {"doclen", "prolong64k"}},
                                            {{"doclen", "prolong512k"}}});

std::string quoted_list(const std::vector<std::string>& v) {
  std::vector<std::string> q;
  for (const auto& s : v) q.push_back("\"" + s + "\"");
  return fmt::format("{}", fmt::join(q, ", "));
}

std::string type_name(const json& v) {
  if (v.is_number_integer()) return "integer";
  return v.type_name();
}

bool reads(const CpMethod& m, LayoutAxis axis) {
  const auto a = m.axes();
  return std::find(a.begin(), a.end(), axis) != a.end();
}

bool reads_a_degree(const CpMethod& m) {
  return reads(m, LayoutAxis::kUlysses) || reads(m, LayoutAxis::kRing) ||
         reads(m, LayoutAxis::kInnerRing);
}

// Registered methods for which `pred` holds, for messages.
std::vector<std::string> methods_where(const std::function<bool(const CpMethod&)>& pred) {
  std::vector<std::string> out;
  const auto& reg = CpMethodRegistry::instance();
  for (const auto& n : reg.names())
    if (pred(*reg.create(n))) out.push_back(n);
  return out;
}

class Parser {
 public:
  Parser(const json& j, std::string source, const SweepNames& names)
      : j_(j), src_(std::move(source)), names_(names) {}

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    CPB_INPUT_ERROR("{}: key '{}': {}", src_, key, what);
  }

  // A list axis: a JSON array, or a single scalar as a one-element list.
  std::vector<json> axis(const std::string& key, const json& fallback) const {
    if (!j_.contains(key))
      return fallback.is_null() ? std::vector<json>{} : fallback.get<std::vector<json>>();
    const json& v = j_.at(key);
    std::vector<json> out = v.is_array() ? v.get<std::vector<json>>() : std::vector<json>{v};
    if (out.empty())
      fail(key, "empty list; give at least one value (or drop the key for its default)");
    return out;
  }

  std::vector<std::string> string_axis(const std::string& key, std::vector<std::string> fallback,
                                       const std::vector<std::string>& allowed) const {
    std::vector<std::string> out;
    auto vals = axis(key, json(fallback));
    for (size_t i = 0; i < vals.size(); ++i) {
      const json& v = vals[i];
      if (!v.is_string())
        fail(key, fmt::format("value {} is a {}; expected a string{}", v.dump(), type_name(v),
                              allowed.empty() ? "" : " from " + quoted_list(allowed)));
      std::string s = v.get<std::string>();
      if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), s) == allowed.end())
        fail(key, fmt::format("unknown value \"{}\"; allowed: {}", s, quoted_list(allowed)));
      if (std::find(out.begin(), out.end(), s) != out.end())
        fail(key, fmt::format("value \"{}\" listed twice", s));
      out.push_back(s);
    }
    return out;
  }

  // An integer in [lo, hi]. A JSON integer beyond int64 (2^63 and up) is refused as
  // written, never wrapped; `limit` names what hi is.
  int64_t integer(const std::string& key, const json& v, int64_t lo, int64_t hi,
                  const std::string& limit) const {
    if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
      fail(key, fmt::format("value {} exceeds the limit {} ({})", v.dump(), hi, limit));
    if (!v.is_number_integer())
      fail(key, fmt::format("value {} is a {}; expected {}", v.dump(), type_name(v),
                            lo == 1 ? "a positive integer" : fmt::format("an integer >= {}", lo)));
    int64_t x = v.get<int64_t>();
    if (x < lo) fail(key, fmt::format("value {} must be >= {}", x, lo));
    if (x > hi) fail(key, fmt::format("value {} exceeds the limit {} ({})", x, hi, limit));
    return x;
  }

  std::vector<int64_t> int_axis(const std::string& key, std::vector<int64_t> fallback, int64_t hi,
                                const std::string& limit) const {
    std::vector<int64_t> out;
    for (const json& v : axis(key, json(fallback))) {
      int64_t x = integer(key, v, 1, hi, limit);
      if (std::find(out.begin(), out.end(), x) != out.end())
        fail(key, fmt::format("value {} listed twice", x));
      out.push_back(x);
    }
    return out;
  }

  int64_t int_scalar(const std::string& key, int64_t fallback, int64_t lo, int64_t hi,
                     const std::string& limit) const {
    return j_.contains(key) ? integer(key, j_.at(key), lo, hi, limit) : fallback;
  }

  uint64_t seed_scalar(const std::string& key, uint64_t fallback) const {
    if (!j_.contains(key)) return fallback;
    const json& v = j_.at(key);
    if (v.is_number_unsigned()) return v.get<uint64_t>();
    if (v.is_number_integer() && v.get<int64_t>() >= 0) return v.get<uint64_t>();
    fail(key, fmt::format("value {} is not an integer in [0, 2^64-1]", v.dump()));
  }

  double number(const std::string& key, double fallback, double lo, bool lo_open,
                const std::string& unit) const {
    if (!j_.contains(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_number())
      fail(key,
           fmt::format("value {} is a {}; expected a number ({})", v.dump(), type_name(v), unit));
    double x = v.get<double>();
    if (!std::isfinite(x) || x < lo || (lo_open && x == lo) || x > kMaxSeconds)
      fail(key, fmt::format("value {} out of range; expected a number {} {} and <= {:g} ({})",
                            v.dump(), lo_open ? ">" : ">=", lo, kMaxSeconds, unit));
    return x;
  }

  bool boolean(const std::string& key, bool fallback) const {
    if (!j_.contains(key)) return fallback;
    if (!j_.at(key).is_boolean())
      fail(key, fmt::format("value {} is a {}; expected true or false", j_.at(key).dump(),
                            type_name(j_.at(key))));
    return j_.at(key).get<bool>();
  }

  std::string string(const std::string& key) const {
    if (!j_.contains(key)) return "";
    if (!j_.at(key).is_string())
      fail(key, fmt::format("value {} is a {}; expected a string", j_.at(key).dump(),
                            type_name(j_.at(key))));
    return j_.at(key).get<std::string>();
  }

  const json& j_;
  std::string src_;
  const SweepNames& names_;
};

// ---- Degree rules: a tiny recursive-descent evaluator (no state beyond one text).

class RuleEval {
 public:
  // probe: check syntax and names only (a divisor that is zero for the probe values
  // may not be for the real ones).
  RuleEval(const std::string& text, const std::map<std::string, int64_t>& vars, bool probe)
      : t_(text), vars_(vars), probe_(probe) {}

  int64_t run() {
    if (t_.size() > 200) bad("longer than 200 characters");
    int64_t v = expr(0);
    skip();
    if (i_ != t_.size()) bad(fmt::format("unexpected '{}' at position {}", t_[i_], i_ + 1));
    return v;
  }

 private:
  [[noreturn]] void bad(const std::string& why) const {
    std::vector<std::string> names;
    for (const auto& [k, v] : vars_) names.push_back(k);
    CPB_INPUT_ERROR(
        "degree rule \"{}\": {} (allowed: integers, {}, + - * / %, parentheses, min(...), "
        "max(...))",
        t_, why, fmt::join(names, ", "));
  }
  void skip() {
    while (i_ < t_.size() && std::isspace(static_cast<unsigned char>(t_[i_]))) ++i_;
  }
  bool eat(char c) {
    skip();
    if (i_ < t_.size() && t_[i_] == c) return ++i_, true;
    return false;
  }
  // a (op) b with overflow refused; op is one of + - *.
  int64_t arith(char op, int64_t a, int64_t b) const {
    int64_t r = 0;
    bool overflow = op == '+'   ? __builtin_add_overflow(a, b, &r)
                    : op == '-' ? __builtin_sub_overflow(a, b, &r)
                                : __builtin_mul_overflow(a, b, &r);
    if (overflow) bad("the value overflows 64-bit integers");
    return r;
  }
  int64_t expr(int depth) {
    if (depth > 32) bad("nested too deeply");
    int64_t v = term(depth);
    for (;;) {
      if (eat('+'))
        v = arith('+', v, term(depth));
      else if (eat('-'))
        v = arith('-', v, term(depth));
      else
        return v;
    }
  }
  int64_t term(int depth) {
    int64_t v = factor(depth);
    for (;;) {
      if (eat('*')) {
        v = arith('*', v, factor(depth));
      } else if (eat('/')) {
        int64_t d = factor(depth);
        if (d == 0 && probe_) d = 1;
        if (d == 0) bad("division by zero");
        if (v == std::numeric_limits<int64_t>::min() && d == -1) bad("the value overflows");
        int64_t q = v / d;
        v = (v % d != 0 && ((v < 0) != (d < 0))) ? q - 1 : q;  // round down
      } else if (eat('%')) {
        int64_t d = factor(depth);
        if (d == 0 && probe_) d = 1;
        if (d == 0) bad("modulo by zero");
        if (d == -1) d = 1;  // x % -1 is 0; avoids INT64_MIN % -1
        int64_t m = v % d;
        v = (m != 0 && ((m < 0) != (d < 0))) ? m + d : m;  // sign of the divisor
      } else {
        return v;
      }
    }
  }
  int64_t factor(int depth) {
    skip();
    if (i_ >= t_.size()) bad("ends early");
    if (eat('(')) {
      int64_t v = expr(depth + 1);
      if (!eat(')')) bad("missing ')'");
      return v;
    }
    if (eat('-')) return arith('-', 0, factor(depth + 1));
    if (std::isdigit(static_cast<unsigned char>(t_[i_]))) {
      int64_t v = 0;
      while (i_ < t_.size() && std::isdigit(static_cast<unsigned char>(t_[i_]))) {
        int digit = t_[i_++] - '0';
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, digit, &v))
          bad("the value overflows 64-bit integers");
      }
      return v;
    }
    size_t start = i_;
    while (i_ < t_.size() && (std::isalnum(static_cast<unsigned char>(t_[i_])) || t_[i_] == '_'))
      ++i_;
    std::string name = t_.substr(start, i_ - start);
    if (name.empty()) bad(fmt::format("unexpected '{}' at position {}", t_[i_], i_ + 1));
    if (name == "min" || name == "max") {
      if (!eat('(')) bad(fmt::format("{} needs '('", name));
      int64_t v = expr(depth + 1);
      while (eat(',')) {
        int64_t w = expr(depth + 1);
        v = name == "min" ? std::min(v, w) : std::max(v, w);
      }
      if (!eat(')')) bad("missing ')'");
      return v;
    }
    auto it = vars_.find(name);
    if (it == vars_.end()) {
      if (name == "ranks_per_node")
        bad("ranks_per_node is not known: give \"ranks_per_node\" in the config, or launch "
            "under mpirun/srun");
      bad(fmt::format("unknown name '{}'", name));
    }
    return it->second;
  }

  const std::string& t_;
  const std::map<std::string, int64_t>& vars_;
  bool probe_ = false;
  size_t i_ = 0;
};

// ---- Degrees: one entry of the `degrees` list; each value an integer or a rule.

struct DegreeEntry {
  json ulysses, ring, inner_ring;  // null: not given
  json raw;
};

std::vector<DegreeEntry> parse_degrees(const Parser& p) {
  std::vector<DegreeEntry> out;
  if (!p.j_.contains("degrees")) return out;
  auto vals = p.axis("degrees", json());
  for (size_t i = 0; i < vals.size(); ++i) {
    std::string key = fmt::format("degrees[{}]", i);
    const json& v = vals[i];
    if (!v.is_object() || v.empty())
      p.fail(key, fmt::format("value {} is not a non-empty object; expected one like "
                              "{{\"ulysses\": 2, \"ring\": 4, \"inner_ring\": 2}} or "
                              "{{\"ulysses\": \"min(world, ranks_per_node)\"}}",
                              v.dump()));
    DegreeEntry d{.raw = v};
    for (auto& [k, x] : v.items()) {
      json* slot = k == "ulysses"      ? &d.ulysses
                   : k == "ring"       ? &d.ring
                   : k == "inner_ring" ? &d.inner_ring
                                       : nullptr;
      if (!slot)
        p.fail(key, fmt::format(
                        "unknown key \"{}\"; allowed: \"ulysses\", \"ring\", \"inner_ring\"", k));
      if (x.is_string()) {
        // Syntax and names are checked now, values per world later.
        std::map<std::string, int64_t> probe = {{"world", 1}, {"ranks_per_node", 1}};
        try {
          (void)RuleEval(x.get<std::string>(), probe, /*probe=*/true).run();
        } catch (const InputError& e) {
          p.fail(key + "." + k, e.what());
        }
      } else {
        (void)p.integer(key + "." + k, x, 1, kMaxWorld, "ranks");
      }
      *slot = x;
    }
    out.push_back(d);
  }
  return out;
}

// The value of one degree (null: not given) at a world; 0 when a rule gives < 1.
int64_t degree_value(const json& v, const std::map<std::string, int64_t>& vars) {
  if (v.is_null()) return -1;
  int64_t x = v.is_string() ? eval_degree_rule(v.get<std::string>(), vars) : v.get<int64_t>();
  return x < 1 ? 0 : x;
}

// ---- Masks: a template per expanded entry, resolved per sequence length.

struct MaskTemplate {
  json spec;                 // canonical MaskSpec JSON
  size_t entry = 0;          // index in the config's mask list
  bool doclen_rule = false;  // doclen comes from doclen_by_seqlen
  bool seeded = false;       // the kind reads a seed: mask_samples apply
};

bool kind_reads(const std::string& kind, const std::string& param) {
  const auto& params = find_mask_kind(kind).params;
  return std::find(params.begin(), params.end(), param) != params.end();
}

// Expands list-valued parameters of one mask entry into mask templates.
std::vector<MaskTemplate> expand_mask(const Parser& p, const json& entry, size_t index,
                                      bool doclen_rule, int samples) {
  std::string key = fmt::format("mask[{}]", index);
  json obj;
  if (entry.is_string()) {
    obj = json{{"kind", entry}};
  } else if (entry.is_object()) {
    obj = entry;
  } else {
    p.fail(key, fmt::format("value {} is a {}; expected a mask object such as "
                            "{{\"kind\": \"causal\"}} or a kind name",
                            entry.dump(), type_name(entry)));
  }
  if (!obj.contains("kind")) p.fail(key, "missing \"kind\"");
  if (samples > 1 && obj.contains("seed") && obj["seed"].is_array())
    p.fail(key,
           "lists several seeds while mask_samples is set; give one base seed (samples "
           "use seed, seed+1, ...) or drop mask_samples");
  std::vector<json> partial = {json::object()};
  for (auto& [k, v] : obj.items()) {
    std::vector<json> values = v.is_array() ? v.get<std::vector<json>>() : std::vector<json>{v};
    if (values.empty()) p.fail(key + "." + k, "empty list");
    std::vector<json> next;
    for (const json& base : partial)
      for (const json& x : values) {
        json m = base;
        m[k] = x;
        next.push_back(m);
      }
    partial = std::move(next);
  }
  std::vector<MaskTemplate> out;
  for (const json& m : partial) {
    MaskSpec spec;
    try {
      from_json(m, spec);
    } catch (const InputError& e) {
      std::vector<std::string> kinds;
      for (const auto& k : mask_kinds()) kinds.push_back(k.name);
      p.fail(key,
             fmt::format("{} (mask {}; kinds: {})", e.what(), m.dump(), fmt::join(kinds, ", ")));
    } catch (const json::exception& e) {
      p.fail(key, fmt::format("mask {} is malformed: {}", m.dump(), e.what()));
    }
    json canon;
    to_json(canon, spec);
    bool by_rule = doclen_rule && kind_reads(spec.kind, "doclen") && !m.contains("doclen");
    if (by_rule) canon["doclen"] = nullptr;  // filled per length by resolve_mask
    out.push_back({.spec = canon,
                   .entry = index,
                   .doclen_rule = by_rule,
                   .seeded = kind_reads(spec.kind, "seed")});
  }
  return out;
}

// doclen_by_seqlen as a list of (max_seqlen or 0 for "any", doclen name).
std::vector<std::pair<int64_t, std::string>> parse_doclen_rule(const Parser& p) {
  std::vector<std::pair<int64_t, std::string>> out;
  if (!p.j_.contains("doclen_by_seqlen")) return out;
  const std::string key = "doclen_by_seqlen";
  json rule = p.j_.at(key);
  if (rule.is_string()) {
    if (rule != "longca")
      p.fail(key, fmt::format("unknown rule {}; give \"longca\" or a list of "
                              "{{\"max_seqlen\": S, \"doclen\": name}}",
                              rule.dump()));
    rule = kLongcaDoclenRule;
  }
  if (!rule.is_array() || rule.empty())
    p.fail(key, fmt::format("value {} is not a non-empty list of {{\"max_seqlen\": S, "
                            "\"doclen\": name}} objects (or \"longca\")",
                            rule.dump()));
  for (size_t i = 0; i < rule.size(); ++i) {
    std::string k = fmt::format("{}[{}]", key, i);
    const json& r = rule[i];
    if (!r.is_object() || !r.contains("doclen") || !r["doclen"].is_string())
      p.fail(k, fmt::format("value {} needs a \"doclen\" string", r.dump()));
    for (auto& [name, v] : r.items())
      if (name != "doclen" && name != "max_seqlen")
        p.fail(k, fmt::format("unknown key \"{}\"; allowed: \"max_seqlen\", \"doclen\"", name));
    int64_t max = r.contains("max_seqlen")
                      ? p.integer(k + ".max_seqlen", r["max_seqlen"], 1, kMaxSeqlen, "tokens")
                      : 0;
    if (!out.empty() && (out.back().first == 0 || (max != 0 && max <= out.back().first)))
      p.fail(k, "rules must go by increasing max_seqlen, the one without max_seqlen last");
    out.emplace_back(max, r["doclen"].get<std::string>());
  }
  return out;
}

// ---- Everything parse_sweep_config works from, after the per-key checks.

struct Axes {
  std::vector<std::string> kernels, methods, shardings, placements, dtypes, passes;
  std::vector<int64_t> seqlens, tokens_per_rank, heads, kv_heads, head_dims;
  bool kv_default = true;
  std::vector<int> worlds;
  std::vector<DegreeEntry> degrees;
  std::map<std::string, int64_t> rule_vars;  // ranks_per_node when known
  std::vector<MaskTemplate> masks;
  std::vector<std::pair<int64_t, std::string>> doclen_rule;
  int mask_samples = 1;
};

// A method's layouts at one world, placement applied; `entry` marks degree entries used.
struct Layout {
  int u, r, w;
  std::string placement;
  size_t placement_index;  // into Axes::placements, or npos
};

struct Plan {  // one (world, method) pair with the layouts it runs
  int world;
  size_t method;
  std::vector<Layout> layouts;
};

void check_top_level(const Parser& p, const json& j) {
  if (!j.is_object())
    CPB_INPUT_ERROR(
        "{}: a sweep config is a JSON object with keys such as \"method\", \"mask\", "
        "\"seqlen\"; got a {}",
        p.src_, type_name(j));
  for (auto& [k, v] : j.items()) {
    bool known =
        std::any_of(kKeys.begin(), kKeys.end(), [&](const auto& kv) { return kv.first == k; });
    if (!known) {
      std::vector<std::string> allowed;
      for (const auto& kv : kKeys) allowed.push_back(kv.first);
      p.fail(k, fmt::format("unknown key; allowed: {}", quoted_list(allowed)));
    }
  }
}

SweepRunOptions parse_run(const Parser& p, PlanMode mode) {
  SweepRunOptions r;
  r.warmup = int(p.int_scalar("warmup", r.warmup, 0, kMaxIterations, "iterations"));
  r.iterations = int(p.int_scalar("iterations", r.iterations, 1, kMaxIterations, "iterations"));
  r.repeat = int(p.int_scalar("repeat", r.repeat, 1, kMaxRepeat, "repetitions"));
  r.seed = p.seed_scalar("seed", r.seed);
  r.verify = p.boolean("verify", r.verify);
  // `run --timeout 0` disables the watchdog; a sweep config always has one.
  r.timeout_s =
      p.number("timeout_s", r.timeout_s, 0, /*lo_open=*/mode == PlanMode::kSweep, "seconds");
  r.keep_samples = p.boolean("keep_samples", r.keep_samples);
  r.min_time_s = p.number("min_time_s", r.min_time_s, 0, false, "seconds");
  r.max_cv = p.number("max_cv", r.max_cv, 0, false, "a fraction, e.g. 0.02 for 2%");
  r.max_repeat = int(p.int_scalar("max_repeat", r.max_repeat, 0, kMaxRepeat, "repetitions"));
  if (r.max_repeat == 0)
    r.max_repeat = (r.min_time_s > 0 || r.max_cv > 0) ? std::max(10, r.repeat) : r.repeat;
  if (r.max_repeat < r.repeat)
    p.fail("max_repeat",
           fmt::format("value {} is below repeat {}; the rule runs at least `repeat` and at most "
                       "`max_repeat` repetitions",
                       r.max_repeat, r.repeat));
  return r;
}

Axes parse_axes(const Parser& p, const SweepNames& names) {
  const json& j = p.j_;
  Axes a;
  std::vector<std::string> methods = names.methods;
  if (methods.empty()) methods = CpMethodRegistry::instance().names();
  a.kernels = p.string_axis("kernel", {"cpu_flash"}, names.kernels);
  a.methods = p.string_axis("method", {"none"}, methods);
  a.shardings = p.string_axis("sharding", {"contiguous"}, names.shardings);
  a.placements = p.string_axis("placement", {"contiguous"}, kPlacements);
  a.dtypes = p.string_axis("dtype", {"fp32"}, kDtypes);
  a.passes = p.string_axis("pass", {"fwd"}, kPasses);
  if (j.contains("seqlen") == j.contains("tokens_per_rank"))
    p.fail(j.contains("seqlen") ? "tokens_per_rank" : "seqlen",
           j.contains("seqlen")
               ? "give seqlen or tokens_per_rank, not both"
               : "missing; give seqlen (tokens) or tokens_per_rank (S = tokens_per_rank x world)");
  if (j.contains("seqlen"))
    a.seqlens = p.int_axis("seqlen", {}, kMaxSeqlen, "tokens, 2^30");
  else
    a.tokens_per_rank = p.int_axis("tokens_per_rank", {}, kMaxSeqlen, "tokens, 2^30");
  a.heads = p.int_axis("heads", {8}, kMaxHeads, "heads, 2^16");
  a.kv_default = !j.contains("kv_heads");
  a.kv_heads =
      a.kv_default ? std::vector<int64_t>{0} : p.int_axis("kv_heads", {}, kMaxHeads, "heads, 2^16");
  a.head_dims = p.int_axis("head_dim", {128}, kMaxHeadDim, "2^16");
  for (int64_t w : p.int_axis("world", {1}, kMaxWorld, "ranks, 2^20")) {
    a.worlds.push_back(int(w));
    for (int64_t t : a.tokens_per_rank)
      if (t > kMaxSeqlen / w)
        p.fail("tokens_per_rank", fmt::format("value {} x world {} exceeds the seqlen limit {} "
                                              "(tokens, 2^30)",
                                              t, w, kMaxSeqlen));
  }
  a.degrees = parse_degrees(p);
  int64_t rpn = p.int_scalar("ranks_per_node", 0, 1, kMaxWorld, "ranks, 2^20");
  if (rpn == 0) rpn = names.ranks_per_node;
  if (rpn > 0) a.rule_vars["ranks_per_node"] = rpn;
  a.mask_samples = int(p.int_scalar("mask_samples", 1, 1, kMaxMaskSamples, "samples per mask"));
  a.doclen_rule = parse_doclen_rule(p);
  if (!j.contains("mask"))
    p.fail("mask", "missing; give a list of mask specs, e.g. [{\"kind\": \"causal\"}]");
  auto entries = p.axis("mask", json());
  std::set<json> seen;
  for (size_t i = 0; i < entries.size(); ++i)
    for (MaskTemplate& m : expand_mask(p, entries[i], i, !a.doclen_rule.empty(), a.mask_samples)) {
      if (!seen.insert(m.spec).second)
        p.fail(fmt::format("mask[{}]", i), fmt::format("mask {} listed twice", m.spec.dump()));
      a.masks.push_back(std::move(m));
    }
  bool any_seeded = std::any_of(a.masks.begin(), a.masks.end(), [](auto& m) { return m.seeded; });
  if (a.mask_samples > 1 && !any_seeded)
    p.fail("mask_samples",
           fmt::format("is {}, but no mask in \"mask\" is random (kinds that read a seed draw "
                       "document lengths or blocks; see `cpbench list`)",
                       a.mask_samples));
  bool any_doclen_rule =
      std::any_of(a.masks.begin(), a.masks.end(), [](auto& m) { return m.doclen_rule; });
  if (!a.doclen_rule.empty() && !any_doclen_rule)
    p.fail("doclen_by_seqlen",
           "given, but no mask in \"mask\" takes it (document kinds that name no doclen do)");
  return a;
}

// The sequence lengths of one world: the seqlen list, or tokens_per_rank x world.
std::vector<int64_t> seqlens_at(const Axes& a, int world) {
  if (a.tokens_per_rank.empty()) return a.seqlens;
  std::vector<int64_t> out;
  for (int64_t t : a.tokens_per_rank) out.push_back(t * world);
  return out;
}

// A mask template at sequence length `seq`, doclen from the rule when it applies.
json resolve_mask(const Axes& a, const MaskTemplate& m, int64_t seq, const Parser& p) {
  if (!m.doclen_rule) return m.spec;
  json out = m.spec;
  for (const auto& [max, name] : a.doclen_rule)
    if (max == 0 || seq <= max) {
      out["doclen"] = name;
      return out;
    }
  p.fail("doclen_by_seqlen",
         fmt::format("no rule covers seqlen {} (the last rule has max_seqlen {}; end with one "
                     "without max_seqlen)",
                     seq, a.doclen_rule.back().first));
}

// Describes where a method runs, for messages: "runs on world 1 only" or "does not
// run on world W".
std::string runs_on_text(const std::string& name, const CpMethod& m, int world) {
  std::vector<int> where;
  for (int w = 1; w <= 64 && where.size() < 4; ++w)
    if (m.runs_on(w)) where.push_back(w);
  if (!where.empty() && where.size() < 4)
    return fmt::format("method {} runs on world {} only", name, fmt::join(where, ", "));
  return fmt::format("method {} does not run on world {}", name, world);
}

// The layouts `m` runs at `world`: its sweep layouts, filtered by the degree entries
// when it reads a degree, then crossed with the placements when it reads one.
std::vector<Layout> layouts_at(const Axes& a, const CpMethod& m, int world, const Parser& p,
                               std::vector<bool>& entry_used, std::string* why) {
  std::vector<CpLayout> base;
  std::vector<CpLayout> all = m.sweep_layouts(world);
  if (a.degrees.empty() || !reads_a_degree(m)) {
    base = all;
  } else {
    std::map<std::string, int64_t> vars = a.rule_vars;
    vars["world"] = world;
    for (size_t i = 0; i < a.degrees.size(); ++i) {
      const DegreeEntry& d = a.degrees[i];
      int64_t u = 0, r = 0, w = 0;
      try {
        u = degree_value(d.ulysses, vars), r = degree_value(d.ring, vars),
        w = degree_value(d.inner_ring, vars);
      } catch (const InputError& e) {
        p.fail(fmt::format("degrees[{}]", i), fmt::format("at world {}: {}", world, e.what()));
      }
      auto fits = [&](LayoutAxis axis, int64_t want, int have) {
        return want < 0 || !reads(m, axis) || want == have;
      };
      bool any = false;
      for (const CpLayout& l : all)
        if (fits(LayoutAxis::kUlysses, u, l.ulysses) && fits(LayoutAxis::kRing, r, l.ring) &&
            fits(LayoutAxis::kInnerRing, w, l.inner_ring)) {
          any = true;
          if (std::find(base.begin(), base.end(), l) == base.end()) base.push_back(l);
        }
      if (any)
        entry_used[i] = true;
      else
        *why = "degrees do not fit world (ulysses x ring = world, inner_ring divides ring)";
    }
  }
  std::vector<Layout> out;
  for (const CpLayout& l : base) {
    if (!reads(m, LayoutAxis::kPlacement)) {
      out.push_back({l.ulysses, l.ring, l.inner_ring, std::string(to_string(l.placement)),
                     std::string::npos});
      continue;
    }
    for (size_t i = 0; i < a.placements.size(); ++i)
      out.push_back({l.ulysses, l.ring, l.inner_ring, a.placements[i], i});
  }
  return out;
}

// Multiplies with saturation at int64 max: the count only has to exceed the limit.
int64_t sat_mul(int64_t a, int64_t b) {
  int64_t r = 0;
  return __builtin_mul_overflow(a, b, &r) ? std::numeric_limits<int64_t>::max() : r;
}

// Every case the product makes (before rules), counted without building any.
int64_t count_cases(const Axes& a, const std::vector<Plan>& plans) {
  int64_t masks = 0;
  for (const auto& m : a.masks) masks += m.seeded ? a.mask_samples : 1;
  int64_t inner = 1;
  for (int64_t n :
       {int64_t(a.kernels.size()), masks,
        int64_t(std::max(a.seqlens.size(), a.tokens_per_rank.size())), int64_t(a.heads.size()),
        int64_t(a.kv_heads.size()), int64_t(a.head_dims.size()), int64_t(a.dtypes.size()),
        int64_t(a.passes.size())})
    inner = sat_mul(inner, n);
  int64_t total = 0;
  for (const Plan& pl : plans) {
    int64_t shard = pl.world == 1 ? 1 : int64_t(a.shardings.size());
    int64_t n = sat_mul(sat_mul(int64_t(pl.layouts.size()), shard), inner);
    total = n > std::numeric_limits<int64_t>::max() - total ? std::numeric_limits<int64_t>::max()
                                                            : total + n;
  }
  return total;
}

// Which axis values produced at least one case (before rules), by index.
struct Used {
  std::vector<bool> methods, kernels, masks, seqs, heads, kv_heads, head_dims, dtypes, passes,
      shardings, placements;
  explicit Used(const Axes& a)
      : methods(a.methods.size()),
        kernels(a.kernels.size()),
        masks(a.masks.size()),
        seqs(std::max(a.seqlens.size(), a.tokens_per_rank.size())),
        heads(a.heads.size()),
        kv_heads(a.kv_heads.size()),
        head_dims(a.head_dims.size()),
        dtypes(a.dtypes.size()),
        passes(a.passes.size()),
        shardings(a.shardings.size()),
        placements(a.placements.size()) {}
};

// Masks resolved per length (doclen rule), [mask][seq]; a resolution equal to an
// earlier one at the same length is the same case: null, skipped.
std::vector<std::vector<json>> resolved_masks(const Axes& a, const std::vector<int64_t>& seqs,
                                              const Parser& p) {
  std::vector<std::vector<json>> out(a.masks.size(), std::vector<json>(seqs.size()));
  for (size_t si = 0; si < seqs.size(); ++si) {
    std::set<json> seen;
    for (size_t mi = 0; mi < a.masks.size(); ++mi) {
      json spec = resolve_mask(a, a.masks[mi], seqs[si], p);
      if (seen.insert(spec).second) out[mi][si] = std::move(spec);
    }
  }
  return out;
}

// Appends `c`, or its `samples` seeds (seed, seed+1, ...) as one sample group.
void emit(SweepCase c, int samples, SweepConfig& cfg, std::vector<SweepCase>& out) {
  if (samples == 1) {
    out.push_back(std::move(c));
    return;
  }
  c.sample_group = int(cfg.sample_groups.size());
  SweepConfig::SampleGroup g;
  const uint64_t base = c.mask.value("seed", uint64_t{0});
  for (int k = 0; k < samples; ++k) {
    g.seeds.push_back(base + uint64_t(k));
    out.push_back(c);
    out.back().mask["seed"] = base + uint64_t(k);
  }
  cfg.sample_groups.push_back(std::move(g));
}

// One point of the product by axis index.
struct Point {
  size_t sharding, kernel, mask, seq, heads, kv_heads, head_dim, dtype, pass;
};

// The product, in a fixed order: world, method, layout, sharding, kernel, mask, seqlen,
// heads, kv_heads, head_dim, dtype, pass, then the mask samples innermost (so a
// group's samples are consecutive). Linear: each case is built once, never searched for.
void expand(const Axes& a, const std::vector<Plan>& plans, const Parser& p, SweepConfig& cfg,
            Used& used, std::vector<SweepCase>& out, PlanMode mode) {
  for (const Plan& pl : plans) {
    const int world = pl.world;
    const std::vector<int64_t> seqs = seqlens_at(a, world);
    // World 1 has one shard: every sharding gives the same case (a sweep makes it once).
    const bool one_shard = world == 1 && mode == PlanMode::kSweep;
    const std::vector<std::string> shardings =
        one_shard ? std::vector<std::string>{"contiguous"} : a.shardings;
    const std::vector<std::vector<json>> spec_at = resolved_masks(a, seqs, p);
    auto make = [&](const Layout& l, const Point& x) {
      const int64_t hq = a.heads[x.heads];
      const int64_t hkv = a.kv_heads[x.kv_heads] ? a.kv_heads[x.kv_heads] : hq;
      const int samples = a.masks[x.mask].seeded ? a.mask_samples : 1;
      if (hkv > hq || hq % hkv != 0) {
        cfg.dropped["heads not a multiple of kv_heads"] += samples;
        return;
      }
      used.methods[pl.method] = used.kernels[x.kernel] = used.seqs[x.seq] = true;
      used.masks[x.mask] = used.heads[x.heads] = used.kv_heads[x.kv_heads] = true;
      used.head_dims[x.head_dim] = used.dtypes[x.dtype] = used.passes[x.pass] = true;
      if (!one_shard) used.shardings[x.sharding] = true;
      if (l.placement_index != std::string::npos) used.placements[l.placement_index] = true;
      emit({.kernel = a.kernels[x.kernel],
            .method = a.methods[pl.method],
            .sharding = shardings[x.sharding],
            .world = world,
            .ulysses = l.u,
            .ring = l.r,
            .inner_ring = l.w,
            .placement = l.placement,
            .mask = spec_at[x.mask][x.seq],
            .seqlen = seqs[x.seq],
            .tokens_per_rank = a.tokens_per_rank.empty() ? 0 : a.tokens_per_rank[x.seq],
            .heads = hq,
            .kv_heads = hkv,
            .head_dim = a.head_dims[x.head_dim],
            .dtype = a.dtypes[x.dtype],
            .pass = a.passes[x.pass]},
           samples, cfg, out);
    };
    Point x{};
    for (const Layout& l : pl.layouts)
      for (x.sharding = 0; x.sharding < shardings.size(); ++x.sharding)
        for (x.kernel = 0; x.kernel < a.kernels.size(); ++x.kernel)
          for (x.mask = 0; x.mask < a.masks.size(); ++x.mask)
            for (x.seq = 0; x.seq < seqs.size(); ++x.seq) {
              if (spec_at[x.mask][x.seq].is_null()) continue;
              for (x.heads = 0; x.heads < a.heads.size(); ++x.heads)
                for (x.kv_heads = 0; x.kv_heads < a.kv_heads.size(); ++x.kv_heads)
                  for (x.head_dim = 0; x.head_dim < a.head_dims.size(); ++x.head_dim)
                    for (x.dtype = 0; x.dtype < a.dtypes.size(); ++x.dtype)
                      for (x.pass = 0; x.pass < a.passes.size(); ++x.pass) make(l, x);
            }
  }
}

// Rule matching: every key of the rule must match the case; a list value matches any.
bool value_matches(const json& rule_value, const json& case_value, bool is_mask) {
  std::vector<json> options =
      rule_value.is_array() ? rule_value.get<std::vector<json>>() : std::vector<json>{rule_value};
  for (const json& o : options) {
    if (is_mask) {
      if (o.is_string() && case_value.value("kind", "") == o.get<std::string>()) return true;
      if (o.is_object()) {
        bool all = true;
        for (auto& [k, v] : o.items())
          if (!case_value.contains(k) || case_value.at(k) != v) all = false;
        if (all) return true;
      }
    } else if (o == case_value) {
      return true;
    }
  }
  return false;
}

// One field of a case as rules see it (cheaper than the whole to_json per rule).
json rule_field(const SweepCase& c, const std::string& k) {
  if (k == "kernel") return c.kernel;
  if (k == "method") return c.method;
  if (k == "sharding") return c.sharding;
  if (k == "placement") return c.placement;
  if (k == "mask") return c.mask;
  if (k == "seqlen") return c.seqlen;
  if (k == "tokens_per_rank") return c.tokens_per_rank;
  if (k == "heads") return c.heads;
  if (k == "kv_heads") return c.kv_heads;
  if (k == "head_dim") return c.head_dim;
  if (k == "dtype") return c.dtype;
  if (k == "pass") return c.pass;
  if (k == "world") return c.world;
  if (k == "ulysses") return c.ulysses;
  if (k == "ring") return c.ring;
  return c.inner_ring;  // parse_rules admits only kRuleKeys
}

bool rule_matches(const json& rule, const SweepCase& c) {
  for (auto& [k, v] : rule.items())
    if (!value_matches(v, rule_field(c, k), k == "mask")) return false;
  return true;
}

std::vector<json> parse_rules(const Parser& p, const std::string& key) {
  std::vector<json> out;
  if (!p.j_.contains(key)) return out;
  const json& v = p.j_.at(key);
  if (!v.is_array() || v.empty())
    p.fail(key, fmt::format("expected a non-empty list of rule objects, got {}", v.dump()));
  for (size_t i = 0; i < v.size(); ++i) {
    std::string rk = fmt::format("{}[{}]", key, i);
    if (!v[i].is_object() || v[i].empty())
      p.fail(rk, fmt::format("expected a non-empty object such as {{\"method\": \"ring_p2p\", "
                             "\"mask\": \"causal\"}}, got {}",
                             v[i].dump()));
    for (auto& [k, x] : v[i].items()) {
      if (std::find(kRuleKeys.begin(), kRuleKeys.end(), k) == kRuleKeys.end())
        p.fail(rk, fmt::format("unknown key \"{}\"; allowed: {}", k, quoted_list(kRuleKeys)));
      if (x.is_array() && x.empty()) p.fail(rk + "." + k, "empty list");
    }
    out.push_back(v[i]);
  }
  return out;
}

// `cpbench run`: each method as asked, at its default layout with the one `degrees`
// entry and the `placement` applied where the method reads them (bench::resolve_degrees:
// a given degree the method fixes is kept, so the runner records the case unsupported
// with the reason), even where it cannot run at this world.
std::vector<Plan> run_plans(const Axes& a, const Parser& p) {
  CPB_CHECK(a.degrees.size() <= 1, "run plans one degrees entry, got {}", a.degrees.size());
  const DegreeEntry d = a.degrees.empty() ? DegreeEntry{} : a.degrees[0];
  bench::Degrees given;
  if (!d.ulysses.is_null()) given.ulysses = int(d.ulysses.get<int64_t>());
  if (!d.ring.is_null()) given.ring = int(d.ring.get<int64_t>());
  std::vector<Plan> plans;
  for (int world : a.worlds)
    for (size_t mi = 0; mi < a.methods.size(); ++mi) {
      auto m = CpMethodRegistry::instance().create(a.methods[mi]);
      CpConfig c{.world = world};
      bench::resolve_degrees(a.methods[mi], world, given, c);
      const CpLayout implied = m->default_layout(world);
      Layout l{c.ulysses_degree, c.ring_degree, implied.inner_ring,
               std::string(to_string(implied.placement)), std::string::npos};
      if (reads(*m, LayoutAxis::kInnerRing) && !d.inner_ring.is_null())
        l.w = int(d.inner_ring.get<int64_t>());
      if (reads(*m, LayoutAxis::kPlacement) && p.j_.contains("placement")) {
        l.placement = a.placements[0];
        l.placement_index = 0;
      }
      plans.push_back({world, mi, {l}});
    }
  return plans;
}

// The (world, method) pairs that run, with their layouts; the reasons for those that
// do not go to cfg.dropped. Also checks that degrees/placement are read by some method.
std::vector<Plan> plan_layouts(const Axes& a, const Parser& p, SweepConfig& cfg,
                               std::vector<bool>& entry_used, PlanMode mode) {
  if (mode == PlanMode::kRun) return run_plans(a, p);
  const auto& reg = CpMethodRegistry::instance();
  std::vector<std::unique_ptr<CpMethod>> methods;
  for (const auto& m : a.methods) methods.push_back(reg.create(m));
  auto any = [&](const std::function<bool(const CpMethod&)>& pred) {
    return std::any_of(methods.begin(), methods.end(), [&](auto& m) { return pred(*m); });
  };
  if (!a.degrees.empty() && !any(reads_a_degree))
    p.fail("degrees", fmt::format("given, but no method in \"method\" reads degrees (methods "
                                  "that do: {}; the others fix them from the world size)",
                                  fmt::join(methods_where(reads_a_degree), ", ")));
  // A degree no listed method reads would be silently ignored.
  for (size_t i = 0; i < a.degrees.size(); ++i)
    for (auto [key, axis] :
         {std::pair{"ulysses", LayoutAxis::kUlysses}, std::pair{"ring", LayoutAxis::kRing},
          std::pair{"inner_ring", LayoutAxis::kInnerRing}}) {
      auto reads_axis = [axis = axis](const CpMethod& m) { return reads(m, axis); };
      if (a.degrees[i].raw.contains(key) && !any(reads_axis))
        p.fail(fmt::format("degrees[{}].{}", i, key),
               fmt::format("given, but no method in \"method\" reads it (methods that do: {})",
                           fmt::join(methods_where(reads_axis), ", ")));
    }
  auto reads_placement = [](const CpMethod& m) { return reads(m, LayoutAxis::kPlacement); };
  if (p.j_.contains("placement") && !any(reads_placement))
    p.fail("placement", fmt::format("given, but no method in \"method\" reads a placement "
                                    "(methods that do: {})",
                                    fmt::join(methods_where(reads_placement), ", ")));
  std::vector<Plan> plans;
  std::map<int, std::vector<std::string>> idle;  // world with no plan -> why, per method
  for (int world : a.worlds) {
    std::vector<std::string> reasons;
    for (size_t mi = 0; mi < methods.size(); ++mi) {
      const CpMethod& m = *methods[mi];
      std::string why;
      std::vector<Layout> layouts;
      if (!m.runs_on(world))
        why = runs_on_text(a.methods[mi], m, world);
      else
        layouts = layouts_at(a, m, world, p, entry_used, &why);
      if (layouts.empty()) {
        if (why.empty()) why = "no layout at this world";
        cfg.dropped[why] += 1;
        reasons.push_back(why.find("method ") == 0 ? why : a.methods[mi] + ": " + why);
        continue;
      }
      plans.push_back({world, mi, std::move(layouts)});
    }
    if (std::none_of(plans.begin(), plans.end(), [&](const Plan& x) { return x.world == world; }))
      idle[world] = reasons;
  }
  for (size_t i = 0; i < a.degrees.size(); ++i)
    if (!entry_used[i])
      p.fail(fmt::format("degrees[{}]", i),
             fmt::format("impossible degree combination {} for every world size in {} (ulysses "
                         "x ring must equal world; inner_ring must divide ring)",
                         a.degrees[i].raw.dump(), fmt::join(a.worlds, ", ")));
  // A world where no listed method runs: name the real reasons and the methods that could.
  for (const auto& [world, reasons] : idle) {
    std::vector<std::string> could;
    for (const auto& n : reg.names())
      if (reg.create(n)->runs_on(world)) could.push_back(n);
    p.fail("world", fmt::format("value {} yields no case: no method in \"method\" ({}) runs at "
                                "world {} ({}); methods that can: {}",
                                world, fmt::join(a.methods, ", "), world, fmt::join(reasons, "; "),
                                fmt::join(could, ", ")));
  }
  return plans;
}

// A mask that does not fit a length it runs at (a window longer than S) is a config
// error, refused here as `cpbench run` refuses it, not an error case later.
void check_masks_fit(const Axes& a, const Parser& p) {
  std::set<int64_t> seqs;
  for (int w : a.worlds)
    for (int64_t s : seqlens_at(a, w)) seqs.insert(s);
  for (const MaskTemplate& m : a.masks)
    for (int64_t seq : seqs) {
      json spec = resolve_mask(a, m, seq, p);
      try {
        const MaskSpec ms = spec.get<MaskSpec>();
        (void)make_mask(ms, seq);
        // Per-head masks also depend on the KV heads (their total size is capped).
        if (ms.per_head)
          for (int64_t h : a.heads)
            for (int64_t kv : a.kv_heads)
              if (kv == 0 || h % kv == 0) (void)make_head_masks(ms, seq, kv ? kv : h);
      } catch (const InputError& e) {
        p.fail(fmt::format("mask[{}]", m.entry),
               fmt::format("mask {} does not fit seqlen {}: {}", spec.dump(), seq, e.what()));
      }
    }
}

std::string dropped_text(const SweepConfig& cfg) {
  std::vector<std::string> parts;
  for (const auto& [why, n] : cfg.dropped) parts.push_back(fmt::format("{} x {}", n, why));
  return parts.empty() ? std::string("nothing dropped")
                       : fmt::format("dropped: {}", fmt::join(parts, "; "));
}

// Every axis value yields some case (before rules): one that does not is a typo.
void check_used(const Axes& a, const Used& u, const Parser& p, const SweepConfig& cfg,
                PlanMode mode) {
  auto check = [&](const std::string& axis, const std::vector<bool>& flags, size_t i, const json& v,
                   const std::string& hint) {
    if (!flags[i])
      p.fail(axis,
             fmt::format("value {} yields no case ({}){}", v.dump(), dropped_text(cfg), hint));
  };
  if (!a.kv_default)
    for (size_t i = 0; i < a.kv_heads.size(); ++i)
      check("kv_heads", u.kv_heads, i, a.kv_heads[i], "; kv_heads must divide heads");
  for (size_t i = 0; i < a.heads.size(); ++i)
    check("heads", u.heads, i, a.heads[i], "; kv_heads must divide heads");
  for (size_t i = 0; i < a.methods.size(); ++i) check("method", u.methods, i, a.methods[i], "");
  bool multi_rank = mode == PlanMode::kRun ||
                    std::any_of(a.worlds.begin(), a.worlds.end(), [](int w) { return w > 1; });
  if (multi_rank)
    for (size_t i = 0; i < a.shardings.size(); ++i)
      check("sharding", u.shardings, i, a.shardings[i], "");
  else if (p.j_.contains("sharding"))
    p.fail("sharding",
           "given, but every world is 1: one rank holds one shard, so sharding has "
           "no effect");
  for (size_t i = 0; i < a.placements.size(); ++i)
    if (p.j_.contains("placement")) check("placement", u.placements, i, a.placements[i], "");
}

void apply_rules(const Parser& p, std::vector<SweepCase>& all, SweepConfig& cfg) {
  auto excludes = parse_rules(p, "exclude");
  auto onlys = parse_rules(p, "only");
  std::vector<bool> exclude_hit(excludes.size(), false), only_hit(onlys.size(), false);
  for (SweepCase& c : all) {
    bool drop = false;
    for (size_t i = 0; i < excludes.size(); ++i)
      if (rule_matches(excludes[i], c)) exclude_hit[i] = true, drop = true;
    bool keep = onlys.empty();
    for (size_t i = 0; i < onlys.size(); ++i)
      if (rule_matches(onlys[i], c)) only_hit[i] = true, keep = true;
    if (drop)
      cfg.dropped["excluded by a rule"] += 1;
    else if (!keep)
      cfg.dropped["not matched by an only rule"] += 1;
    else
      cfg.cases.push_back(std::move(c));
  }
  for (size_t i = 0; i < excludes.size(); ++i)
    if (!exclude_hit[i])
      p.fail(fmt::format("exclude[{}]", i),
             fmt::format("rule {} matches no case of the product (a typo?)", excludes[i].dump()));
  for (size_t i = 0; i < onlys.size(); ++i)
    if (!only_hit[i])
      p.fail(fmt::format("only[{}]", i),
             fmt::format("rule {} matches no case of the product (a typo?)", onlys[i].dump()));
}

}  // namespace

int64_t eval_degree_rule(const std::string& text, const std::map<std::string, int64_t>& vars) {
  return RuleEval(text, vars, /*probe=*/false).run();
}

json SweepCase::to_json() const {
  json j{{"kernel", kernel},         {"method", method},       {"sharding", sharding},
         {"world", world},           {"ulysses", ulysses},     {"ring", ring},
         {"inner_ring", inner_ring}, {"placement", placement}, {"mask", mask},
         {"seqlen", seqlen},         {"heads", heads},         {"kv_heads", kv_heads},
         {"head_dim", head_dim},     {"dtype", dtype},         {"pass", pass}};
  if (tokens_per_rank) j["tokens_per_rank"] = tokens_per_rank;
  return j;
}

std::string SweepCase::label() const {
  auto m = CpMethodRegistry::instance().create(method);
  CpLayout l{.ulysses = ulysses,
             .ring = ring,
             .inner_ring = inner_ring,
             .placement = placement == "strided" ? Placement::kStrided : Placement::kContiguous};
  std::string tag = m->layout_tag(l);
  std::string mask_text = mask.value("kind", "?");
  for (const auto& [k, v] : mask.items())
    if (k != "kind")
      mask_text += fmt::format(",{}={}", k, v.is_string() ? v.get<std::string>() : v.dump());
  return fmt::format("{} P={}{}{} {} {} {} S={} H={}/{} D={} {} {}", method, world,
                     tag.empty() ? "" : " ", tag, sharding, kernel, mask_text, seqlen, heads,
                     kv_heads, head_dim, dtype, pass);
}

const std::vector<std::pair<std::string, std::string>>& sweep_config_keys() { return kKeys; }

SweepConfig parse_sweep_config(const json& j, const std::string& source, const SweepNames& names,
                               PlanMode mode) {
  Parser p(j, source, names);
  check_top_level(p, j);
  SweepConfig cfg;
  cfg.source = source;
  cfg.raw = j;
  cfg.name = p.string("name");
  cfg.description = p.string("description");
  (void)p.string("comment");
  cfg.run = parse_run(p, mode);
  Axes a = parse_axes(p, names);
  cfg.mask_samples = a.mask_samples;

  std::vector<bool> entry_used(a.degrees.size(), false);
  std::vector<Plan> plans = plan_layouts(a, p, cfg, entry_used, mode);
  int64_t n = count_cases(a, plans);
  if (n > kMaxSweepCases)
    CPB_INPUT_ERROR(
        "{}: the config expands to {} cases (the product of its axes, before exclude/only), "
        "above the limit of {}; split it into several configs or narrow an axis",
        source, n, kMaxSweepCases);
  if (mode == PlanMode::kSweep) check_masks_fit(a, p);  // run built each mask already

  Used used(a);
  std::vector<SweepCase> all;
  expand(a, plans, p, cfg, used, all, mode);
  check_used(a, used, p, cfg, mode);
  apply_rules(p, all, cfg);
  if (cfg.cases.empty())
    CPB_INPUT_ERROR("{}: the sweep has no case left ({})", source, dropped_text(cfg));
  return cfg;
}

SweepConfig load_sweep_config(const std::string& path, const SweepNames& names) {
  // A regular file of bounded size only (a FIFO or /dev/zero would be read forever).
  const std::string text = read_input_file(path, "sweep config");
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for 1e400
    CPB_INPUT_ERROR("{}: not valid JSON: {}", path, e.what());
  }
  return parse_sweep_config(j, path, names);
}

}  // namespace cpb

namespace cpb {

bool sweep_should_stop(const SweepRunOptions& run, const PoolProgress& p) {
  if (p.repetitions < run.repeat) return false;
  if (p.repetitions >= run.max_repeat) return true;
  bool time_ok = run.min_time_s <= 0 || p.timed_seconds >= run.min_time_s;
  bool noise_ok = run.max_cv <= 0 || p.cv <= run.max_cv;
  return time_ok && noise_ok;
}

nlohmann::json summarise_mask_samples(const std::vector<nlohmann::json>& samples) {
  CPB_CHECK(!samples.empty(), "a mask sample group with no sample");
  using nlohmann::json;
  auto spread = [](const std::vector<double>& v) -> json {
    if (v.empty()) return nullptr;
    double mean = 0, var = 0;
    for (double x : v) mean += x / double(v.size());
    for (double x : v) var += (x - mean) * (x - mean) / double(v.size());
    return {{"mean", mean},
            {"stdev", std::sqrt(var)},
            {"min", *std::min_element(v.begin(), v.end())},
            {"max", *std::max_element(v.begin(), v.end())}};
  };
  json ids = json::array(), seeds = json::array(), statuses = json::array();
  std::vector<double> medians, tflops;
  for (const json& c : samples) {
    ids.push_back(c.at("id"));
    seeds.push_back(c.at("params").at("mask").value("seed", json(nullptr)));
    statuses.push_back(c.value("status", "?"));
    if (c.value("status", "") != "ok") continue;
    const json& m = c.at("metrics");
    medians.push_back(m.at("step_seconds").at("median").get<double>());
    tflops.push_back(m.value("tflops_per_rank", 0.0));
  }
  // The group's id: the first sample's with its seed replaced by '*'.
  std::string id = samples[0].at("id").get<std::string>();
  std::string mark = fmt::format(",seed={}", seeds[0].dump());
  for (size_t pos = id.find(mark); pos != std::string::npos; pos = id.find(mark, pos + 1)) {
    size_t end = pos + mark.size();
    if (end == id.size() || id[end] == '/' || id[end] == ',') {
      id.replace(pos, mark.size(), ",seed=*");
      break;
    }
  }
  return {{"id", id},
          {"case_ids", ids},
          {"seeds", seeds},
          {"statuses", statuses},
          {"samples", samples.size()},
          {"ok", medians.size()},
          {"step_seconds_median", spread(medians)},
          {"tflops_per_rank", spread(tflops)}};
}

}  // namespace cpb
