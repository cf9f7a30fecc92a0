// Sweep config parsing and expansion. Every key is checked for type and range with a
// message that names the file, the key and what is allowed; expansion walks the
// product in a fixed order (world outermost, so cases sharing a sub-communicator run
// together) and normalises each point per method before de-duplicating.
#include "bench/sweep_config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "common/errors.h"
#include "masks/mask_spec.h"

namespace cpb {
namespace {

using nlohmann::json;

const std::vector<std::string> kDtypes = {"fp32", "bf16", "fp16"};
const std::vector<std::string> kPasses = {"fwd", "bwd", "fwd+bwd"};
const std::vector<std::string> kPlacements = {"contiguous", "strided"};
// Methods whose degrees come from the `degrees` axis; the others fix them from world.
const std::set<std::string> kTwoDimMethods = {"usp", "loongtrain"};

const std::vector<std::pair<std::string, std::string>> kKeys = {
    {"name", "string: sweep name, echoed into the report"},
    {"description", "string: free text"},
    {"comment", "string: free text, ignored"},
    {"kernel", "list of kernel names (default [\"cpu_flash\"])"},
    {"method", "list of CP method names; \"none\" = single rank (default [\"none\"])"},
    {"sharding", "list of sharding names (default [\"contiguous\"])"},
    {"placement", "list of contiguous|strided, for usp/loongtrain (default [\"contiguous\"])"},
    {"degrees",
     "list of {ulysses, ring, inner_ring} objects for usp/loongtrain (default: every "
     "factorisation of world)"},
    {"mask", "list of mask specs (objects, or a kind name); list-valued parameters expand"},
    {"seqlen", "list of sequence lengths in tokens (required)"},
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
    "kernel",   "method", "sharding", "placement", "mask",    "seqlen", "heads",     "kv_heads",
    "head_dim", "dtype",  "pass",     "world",     "ulysses", "ring",   "inner_ring"};

std::string quoted_list(const std::vector<std::string>& v) {
  std::vector<std::string> q;
  for (const auto& s : v) q.push_back("\"" + s + "\"");
  return fmt::format("{}", fmt::join(q, ", "));
}

std::string type_name(const json& v) {
  if (v.is_number_integer()) return "integer";
  return v.type_name();
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

  std::vector<int64_t> int_axis(const std::string& key, std::vector<int64_t> fallback,
                                bool required = false) const {
    if (required && !j_.contains(key))
      fail(key, "missing; this axis has no default (give a list of positive integers)");
    std::vector<int64_t> out;
    for (const json& v : axis(key, json(fallback))) {
      if (!v.is_number_integer())
        fail(key,
             fmt::format("value {} is a {}; expected a positive integer", v.dump(), type_name(v)));
      int64_t x = v.get<int64_t>();
      if (x < 1) fail(key, fmt::format("value {} must be >= 1", x));
      if (std::find(out.begin(), out.end(), x) != out.end())
        fail(key, fmt::format("value {} listed twice", x));
      out.push_back(x);
    }
    return out;
  }

  template <typename T>
  T scalar(const std::string& key, T fallback, const std::function<bool(T)>& ok,
           const char* allowed) const {
    if (!j_.contains(key)) return fallback;
    const json& v = j_.at(key);
    bool type_ok;
    if constexpr (std::is_same_v<T, bool>)
      type_ok = v.is_boolean();
    else if constexpr (std::is_integral_v<T>)
      type_ok = v.is_number_integer() && (!std::is_unsigned_v<T> || v.get<int64_t>() >= 0);
    else if constexpr (std::is_floating_point_v<T>)
      type_ok = v.is_number();
    else
      type_ok = v.is_string();
    if (!type_ok)
      fail(key, fmt::format("value {} is a {}; expected {}", v.dump(), type_name(v), allowed));
    T x = v.get<T>();
    if (!ok(x)) fail(key, fmt::format("value {} out of range; expected {}", v.dump(), allowed));
    return x;
  }

  const json& j_;
  std::string src_;
  const SweepNames& names_;
};

// Expands list-valued parameters of one mask entry into mask specs (canonical JSON).
std::vector<json> expand_mask(const Parser& p, const json& entry, size_t index) {
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
  std::vector<json> out;
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
    out.push_back(canon);
  }
  return out;
}

struct Degrees {
  int ulysses = 0, ring = 0, inner_ring = 0;  // 0: not given
  size_t index = 0;
};

std::vector<Degrees> parse_degrees(const Parser& p) {
  std::vector<Degrees> out;
  if (!p.j_.contains("degrees")) return out;
  auto vals = p.axis("degrees", json());
  for (size_t i = 0; i < vals.size(); ++i) {
    std::string key = fmt::format("degrees[{}]", i);
    const json& v = vals[i];
    if (!v.is_object())
      p.fail(key, fmt::format("value {} is a {}; expected an object like {{\"ulysses\": 2, "
                              "\"ring\": 4, \"inner_ring\": 2}}",
                              v.dump(), type_name(v)));
    Degrees d{.index = i};
    for (auto& [k, x] : v.items()) {
      int* slot = k == "ulysses"      ? &d.ulysses
                  : k == "ring"       ? &d.ring
                  : k == "inner_ring" ? &d.inner_ring
                                      : nullptr;
      if (!slot)
        p.fail(key, fmt::format(
                        "unknown key \"{}\"; allowed: \"ulysses\", \"ring\", \"inner_ring\"", k));
      if (!x.is_number_integer() || x.get<int64_t>() < 1 || x.get<int64_t>() > 1 << 20)
        p.fail(key + "." + k, fmt::format("value {} must be a positive integer", x.dump()));
      *slot = x.get<int>();
    }
    if (!d.ulysses && !d.ring && !d.inner_ring)
      p.fail(key, "empty object; give ulysses and/or ring (and inner_ring for loongtrain)");
    out.push_back(d);
  }
  return out;
}

std::vector<int> divisors(int n) {
  std::vector<int> out;
  for (int d = 1; d <= n; ++d)
    if (n % d == 0) out.push_back(d);
  return out;
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

json rule_view(const SweepCase& c) {
  json j = c.to_json();
  return j;
}

bool rule_matches(const json& rule, const SweepCase& c) {
  json view = rule_view(c);
  for (auto& [k, v] : rule.items()) {
    if (!value_matches(v, view.at(k), k == "mask")) return false;
  }
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
      p.fail(rk, fmt::format("expected a non-empty object such as {{\"method\": \"ulysses\", "
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

}  // namespace

json SweepCase::to_json() const {
  return json{{"kernel", kernel},         {"method", method},       {"sharding", sharding},
              {"world", world},           {"ulysses", ulysses},     {"ring", ring},
              {"inner_ring", inner_ring}, {"placement", placement}, {"mask", mask},
              {"seqlen", seqlen},         {"heads", heads},         {"kv_heads", kv_heads},
              {"head_dim", head_dim},     {"dtype", dtype},         {"pass", pass}};
}

std::string SweepCase::label() const {
  std::string deg;
  if (kTwoDimMethods.count(method))
    deg = fmt::format(" u{}r{}{}{}", ulysses, ring,
                      method == "loongtrain" ? fmt::format("w{}", inner_ring) : "",
                      placement == "strided" ? " strided" : "");
  return fmt::format("{} P={}{} {} {} {} S={} H={}/{} D={} {} {}", method, world, deg, sharding,
                     kernel, mask.value("kind", "?"), seqlen, heads, kv_heads, head_dim, dtype,
                     pass);
}

const std::vector<std::pair<std::string, std::string>>& sweep_config_keys() { return kKeys; }

SweepConfig parse_sweep_config(const json& j, const std::string& source, const SweepNames& names) {
  Parser p(j, source, names);
  if (!j.is_object())
    CPB_INPUT_ERROR(
        "{}: a sweep config is a JSON object with keys such as \"method\", \"mask\", "
        "\"seqlen\"; got a {}",
        source, type_name(j));
  for (auto& [k, v] : j.items()) {
    bool known =
        std::any_of(kKeys.begin(), kKeys.end(), [&](const auto& kv) { return kv.first == k; });
    if (!known) {
      std::vector<std::string> allowed;
      for (const auto& kv : kKeys) allowed.push_back(kv.first);
      p.fail(k, fmt::format("unknown key; allowed: {}", quoted_list(allowed)));
    }
  }

  SweepConfig cfg;
  cfg.source = source;
  cfg.raw = j;
  auto any_str = [](std::string) { return true; };
  cfg.name = p.scalar<std::string>("name", "", any_str, "a string");
  cfg.description = p.scalar<std::string>("description", "", any_str, "a string");
  p.scalar<std::string>("comment", "", any_str, "a string");

  SweepRunOptions& r = cfg.run;
  r.warmup = p.scalar<int>(
      "warmup", r.warmup, [](int x) { return x >= 0 && x <= 1000000; }, "an integer >= 0");
  r.iterations = p.scalar<int>(
      "iterations", r.iterations, [](int x) { return x >= 1 && x <= 1000000; }, "an integer >= 1");
  r.repeat = p.scalar<int>(
      "repeat", r.repeat, [](int x) { return x >= 1 && x <= 100000; }, "an integer >= 1");
  r.seed = p.scalar<uint64_t>(
      "seed", r.seed, [](uint64_t) { return true; }, "an integer >= 0");
  r.verify = p.scalar<bool>(
      "verify", r.verify, [](bool) { return true; }, "true or false");
  r.timeout_s = p.scalar<double>(
      "timeout_s", r.timeout_s, [](double x) { return x > 0; }, "a number > 0 (seconds)");
  r.keep_samples = p.scalar<bool>(
      "keep_samples", r.keep_samples, [](bool) { return true; }, "true or false");
  r.min_time_s = p.scalar<double>(
      "min_time_s", r.min_time_s, [](double x) { return x >= 0; }, "a number >= 0 (seconds)");
  r.max_cv = p.scalar<double>(
      "max_cv", r.max_cv, [](double x) { return x >= 0; }, "a number >= 0 (e.g. 0.02 for 2%)");
  r.max_repeat = p.scalar<int>(
      "max_repeat", r.max_repeat, [](int x) { return x >= 0 && x <= 100000; }, "an integer >= 0");
  if (r.max_repeat == 0)
    r.max_repeat = (r.min_time_s > 0 || r.max_cv > 0) ? std::max(10, r.repeat) : r.repeat;
  if (r.max_repeat < r.repeat)
    p.fail("max_repeat",
           fmt::format("value {} is below repeat {}; the rule runs at least `repeat` and at most "
                       "`max_repeat` repetitions",
                       r.max_repeat, r.repeat));

  auto kernels = p.string_axis("kernel", {"cpu_flash"}, names.kernels);
  auto methods = p.string_axis("method", {"none"}, names.methods);
  auto shardings = p.string_axis("sharding", {"contiguous"}, names.shardings);
  auto placements = p.string_axis("placement", {"contiguous"}, kPlacements);
  auto dtypes = p.string_axis("dtype", {"fp32"}, kDtypes);
  auto passes = p.string_axis("pass", {"fwd"}, kPasses);
  auto seqlens = p.int_axis("seqlen", {}, /*required=*/true);
  auto heads = p.int_axis("heads", {8});
  bool kv_default = !j.contains("kv_heads");
  auto kv_heads = kv_default ? std::vector<int64_t>{0} : p.int_axis("kv_heads", {});
  auto head_dims = p.int_axis("head_dim", {128});
  auto worlds_raw = p.int_axis("world", {1});
  std::vector<int> worlds(worlds_raw.begin(), worlds_raw.end());
  auto degrees = parse_degrees(p);

  if (!j.contains("mask"))
    p.fail("mask", "missing; give a list of mask specs, e.g. [{\"kind\": \"causal\"}]");
  std::vector<json> masks;
  {
    auto entries = p.axis("mask", json());
    for (size_t i = 0; i < entries.size(); ++i)
      for (json& m : expand_mask(p, entries[i], i)) {
        if (std::find(masks.begin(), masks.end(), m) != masks.end())
          p.fail(fmt::format("mask[{}]", i), fmt::format("mask {} listed twice", m.dump()));
        // A parameter that does not fit a listed seqlen (a window longer than S) is a
        // config error, refused here as `cpbench run` refuses it, not an error case later.
        for (int64_t seq : seqlens) {
          try {
            (void)make_mask(m.get<MaskSpec>(), seq);
          } catch (const InputError& e) {
            p.fail(fmt::format("mask[{}]", i),
                   fmt::format("mask {} does not fit seqlen {}: {}", m.dump(), seq, e.what()));
          }
        }
        masks.push_back(m);
      }
  }

  bool any_two_dim = std::any_of(methods.begin(), methods.end(),
                                 [](const std::string& m) { return kTwoDimMethods.count(m) > 0; });
  if (!degrees.empty() && !any_two_dim)
    p.fail("degrees",
           "given, but no method in \"method\" takes degrees (only usp and loongtrain do; "
           "ulysses and ring methods use the whole world)");
  bool any_placement_method = any_two_dim;
  if (j.contains("placement") && !any_placement_method)
    p.fail("placement", "given, but only usp and loongtrain take a placement");

  // Which (ulysses, ring, inner_ring) triples a method runs at a world size.
  struct Triple {
    int u, r, w;
    int degree_index;  // -1: not from the degrees axis
  };
  std::vector<bool> degree_used(degrees.size(), false);
  auto triples = [&](const std::string& method, int world, std::string* why) {
    std::vector<Triple> out;
    if (method == "none") {
      if (world == 1)
        out.push_back({1, 1, 1, -1});
      else
        *why = "method none runs on world 1 only";
      return out;
    }
    if (!kTwoDimMethods.count(method)) {
      if (method == "ulysses")
        out.push_back({world, 1, 1, -1});
      else
        out.push_back({1, world, 1, -1});
      return out;
    }
    bool loong = method == "loongtrain";
    if (degrees.empty()) {
      for (int u : divisors(world)) {
        int r = world / u;
        if (loong)
          for (int w : divisors(r)) out.push_back({u, r, w, -1});
        else
          out.push_back({u, r, 1, -1});
      }
      return out;
    }
    for (const Degrees& d : degrees) {
      int u = d.ulysses, r = d.ring;
      if (!u && !r) u = 1, r = world;
      if (!u) u = world % r == 0 ? world / r : 0;
      if (!r) r = world % u == 0 ? world / u : 0;
      if (!u || !r || u * r != world) {
        *why = "degrees do not multiply to world";
        continue;
      }
      if (!loong) {
        out.push_back({u, r, 1, static_cast<int>(d.index)});
        continue;
      }
      if (d.inner_ring) {
        if (r % d.inner_ring != 0) {
          *why = "inner_ring does not divide ring";
          continue;
        }
        out.push_back({u, r, d.inner_ring, static_cast<int>(d.index)});
      } else {
        for (int w : divisors(r)) out.push_back({u, r, w, static_cast<int>(d.index)});
      }
    }
    return out;
  };

  // Track which axis values produced at least one case (before rules).
  std::set<std::string> used;
  auto mark = [&](const std::string& axis, const json& v) { used.insert(axis + "=" + v.dump()); };

  std::vector<SweepCase> cases;
  for (int world : worlds)
    for (const auto& method : methods) {
      std::string why;
      auto tri = triples(method, world, &why);
      if (tri.empty()) {
        cfg.dropped[why.empty() ? "no degrees for this world" : why] += 1;
        continue;
      }
      bool two_dim = kTwoDimMethods.count(method) > 0;
      for (const Triple& t : tri)
        for (const auto& placement : placements)
          for (const auto& sharding : shardings)
            for (const auto& kernel : kernels)
              for (const auto& mask : masks)
                for (int64_t seq : seqlens)
                  for (int64_t hq : heads)
                    for (int64_t hkv_given : kv_heads)
                      for (int64_t d : head_dims)
                        for (const auto& dtype : dtypes)
                          for (const auto& pass : passes) {
                            int64_t hkv = hkv_given ? hkv_given : hq;
                            if (hkv > hq || hq % hkv != 0) {
                              cfg.dropped["heads not a multiple of kv_heads"] += 1;
                              continue;
                            }
                            SweepCase c{.kernel = kernel,
                                        .method = method,
                                        .sharding = method == "none" ? "contiguous" : sharding,
                                        .world = world,
                                        .ulysses = t.u,
                                        .ring = t.r,
                                        .inner_ring = t.w,
                                        .placement = two_dim ? placement : "contiguous",
                                        .mask = mask,
                                        .seqlen = seq,
                                        .heads = hq,
                                        .kv_heads = hkv,
                                        .head_dim = d,
                                        .dtype = dtype,
                                        .pass = pass};
                            if (t.degree_index >= 0) degree_used[t.degree_index] = true;
                            mark("world", world);
                            mark("method", method);
                            mark("kernel", kernel);
                            mark("mask", mask);
                            mark("seqlen", seq);
                            mark("heads", hq);
                            if (!kv_default) mark("kv_heads", hkv);
                            mark("head_dim", d);
                            mark("dtype", dtype);
                            mark("pass", pass);
                            if (method != "none") mark("sharding", sharding);
                            if (two_dim) mark("placement", placement);
                            if (std::find(cases.begin(), cases.end(), c) != cases.end()) continue;
                            cases.push_back(std::move(c));
                          }
    }

  auto dropped_text = [&] {
    std::vector<std::string> parts;
    for (const auto& [why, n] : cfg.dropped) parts.push_back(fmt::format("{} x {}", n, why));
    return parts.empty() ? std::string("nothing dropped")
                         : fmt::format("dropped: {}", fmt::join(parts, "; "));
  };
  auto check_used = [&](const std::string& axis, const json& v, const std::string& hint) {
    if (!used.count(axis + "=" + v.dump()))
      p.fail(axis, fmt::format("value {} yields no case ({}){}", v.dump(), dropped_text(), hint));
  };
  for (size_t i = 0; i < degrees.size(); ++i)
    if (!degree_used[i]) {
      const Degrees& d = degrees[i];
      p.fail(
          fmt::format("degrees[{}]", i),
          fmt::format(
              "impossible degree combination {{ulysses: {}, ring: {}, inner_ring: {}}} for every "
              "world size in {} (ulysses x ring must equal world; inner_ring must divide ring; "
              "0 = derived)",
              d.ulysses, d.ring, d.inner_ring, fmt::join(worlds, ", ")));
    }

  // A world no listed method can run at would otherwise surface as "heads yields no
  // case" below; name the real reason and the methods that could run there.
  for (int w : worlds) {
    bool any = false;
    for (const auto& m : methods) {
      std::string why;
      if (!triples(m, w, &why).empty()) any = true;
    }
    if (any) continue;
    std::vector<std::string> could;
    for (const auto& m : names.methods)
      if (m != "none" && (!kTwoDimMethods.count(m) || degrees.empty())) could.push_back(m);
    p.fail("world", fmt::format("value {} yields no case: no method in \"method\" ({}) runs at "
                                "world {} (method none runs on world 1 only); methods that can: {}",
                                w, fmt::join(methods, ", "), w, fmt::join(could, ", ")));
  }
  if (!kv_default)
    for (int64_t h : kv_heads) check_used("kv_heads", h, "; kv_heads must divide heads");
  for (int64_t hq : heads) check_used("heads", hq, "; kv_heads must divide heads");
  for (const auto& m : methods) check_used("method", m, "");
  if (std::any_of(methods.begin(), methods.end(), [](const std::string& m) { return m != "none"; }))
    for (const auto& s : shardings) check_used("sharding", s, "");
  else if (j.contains("sharding"))
    p.fail("sharding", "given, but method \"none\" (the only method) ignores sharding");
  for (int w : worlds)
    check_used("world", w, "; method none needs world 1, every other method any world >= 1");
  auto excludes = parse_rules(p, "exclude");
  auto onlys = parse_rules(p, "only");
  std::vector<bool> exclude_hit(excludes.size(), false), only_hit(onlys.size(), false);
  for (const SweepCase& c : cases) {
    bool drop = false;
    for (size_t i = 0; i < excludes.size(); ++i)
      if (rule_matches(excludes[i], c)) exclude_hit[i] = true, drop = true;
    bool keep = onlys.empty();
    for (size_t i = 0; i < onlys.size(); ++i)
      if (rule_matches(onlys[i], c)) only_hit[i] = true, keep = true;
    if (drop) {
      cfg.dropped["excluded by a rule"] += 1;
    } else if (!keep) {
      cfg.dropped["not matched by an only rule"] += 1;
    } else {
      cfg.cases.push_back(c);
    }
  }
  for (size_t i = 0; i < excludes.size(); ++i)
    if (!exclude_hit[i])
      p.fail(fmt::format("exclude[{}]", i),
             fmt::format("rule {} matches no case of the product (a typo?)", excludes[i].dump()));
  for (size_t i = 0; i < onlys.size(); ++i)
    if (!only_hit[i])
      p.fail(fmt::format("only[{}]", i),
             fmt::format("rule {} matches no case of the product (a typo?)", onlys[i].dump()));
  if (cfg.cases.empty())
    CPB_INPUT_ERROR("{}: the sweep has no case left ({})", source, dropped_text());
  return cfg;
}

SweepConfig load_sweep_config(const std::string& path, const SweepNames& names) {
  std::ifstream in(path);
  CPB_REQUIRE(in, "cannot read sweep config '{}': no such file or not readable", path);
  std::stringstream ss;
  ss << in.rdbuf();
  json j;
  try {
    j = json::parse(ss.str());
  } catch (const json::parse_error& e) {
    CPB_INPUT_ERROR("{}: not valid JSON: {}", path, e.what());
  }
  return parse_sweep_config(j, path, names);
}

}  // namespace cpb

namespace cpb {
namespace {

// Pooled samples of repetitions and whether they are per-iteration times.
std::vector<double> pooled_samples(const std::vector<nlohmann::json>& reps, bool* per_iteration) {
  *per_iteration = true;
  for (const auto& r : reps) {
    const auto& st = r.at("metrics").at("step_seconds");
    if (!st.contains("samples") || !st["samples"].is_array()) *per_iteration = false;
  }
  std::vector<double> out;
  for (const auto& r : reps) {
    const auto& st = r.at("metrics").at("step_seconds");
    if (*per_iteration)
      for (const auto& v : st["samples"]) out.push_back(v.get<double>());
    else
      out.push_back(st.at("median").get<double>());
  }
  return out;
}

double sample_cv(const std::vector<double>& v) {
  if (v.empty()) return 0;
  double mean = 0;
  for (double x : v) mean += x / double(v.size());
  double var = 0;
  for (double x : v) var += (x - mean) * (x - mean) / double(v.size());
  return mean > 0 ? std::sqrt(var) / mean : 0;
}

}  // namespace

nlohmann::json pool_repetitions(const std::vector<nlohmann::json>& reps, bool keep_samples) {
  CPB_CHECK(!reps.empty(), "no repetition to pool");
  bool per_iteration = false;
  std::vector<double> samples = pooled_samples(reps, &per_iteration);
  // One repetition adds nothing unless it carries per-iteration samples to keep.
  if (reps.size() == 1 && (!keep_samples || !per_iteration)) return reps[0];
  nlohmann::json out = reps[0];
  nlohmann::json& m = out["metrics"];
  nlohmann::json stats;
  int64_t iterations = 0;
  double mean_sum = 0, mn = INFINITY, mx = 0;
  nlohmann::json per_rep = nlohmann::json::array();
  double wall = 0;
  for (const auto& r : reps) {
    nlohmann::json st = r.at("metrics").at("step_seconds");
    int64_t it = st.at("iterations").get<int64_t>();
    iterations += it;
    mean_sum += st.at("mean").get<double>() * double(it);
    mn = std::min(mn, st.at("min").get<double>());
    mx = std::max(mx, st.at("max").get<double>());
    st.erase("samples");
    per_rep.push_back(st);
    wall += r.value("wall_seconds", 0.0);
  }
  std::vector<double> sorted = samples;
  std::sort(sorted.begin(), sorted.end());
  auto pct = [&](double p) {
    double pos = p * double(sorted.size() - 1);
    size_t lo = static_cast<size_t>(std::floor(pos));
    size_t hi = std::min(lo + 1, sorted.size() - 1);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - double(lo));
  };
  stats["iterations"] = iterations;
  stats["median"] = pct(0.5);
  stats["p10"] = pct(0.1);
  stats["p90"] = pct(0.9);
  stats["mean"] = mean_sum / double(iterations);
  stats["min"] = std::min(mn, sorted.front());
  stats["max"] = std::max(mx, sorted.back());
  stats["cv"] = sample_cv(samples);
  if (keep_samples || reps.size() > 1) {
    stats["samples"] = samples;
    stats["samples_kind"] = per_iteration ? "iteration" : "repetition_median";
  }
  m["step_seconds"] = stats;
  m["repetitions"] = per_rep;
  double med = stats["median"].get<double>();
  int world = static_cast<int>(m.value("ranks", nlohmann::json::array()).size());
  double flops = m.value("flops", 0.0);
  m["tflops_total"] = med > 0 ? flops / med / 1e12 : 0.0;
  m["tflops_per_rank"] = med > 0 && world > 0 ? flops / med / 1e12 / world : 0.0;
  if (m.contains("harness_overhead_seconds") && med > 0)
    m["harness_overhead_fraction"] = m["harness_overhead_seconds"].get<double>() / med;
  out["wall_seconds"] = wall;
  out["params"]["repeat"] = reps.size();
  return out;
}

PoolProgress pool_progress(const std::vector<nlohmann::json>& reps) {
  PoolProgress p;
  p.repetitions = static_cast<int>(reps.size());
  for (const auto& r : reps) {
    const auto& st = r.at("metrics").at("step_seconds");
    p.timed_seconds += st.at("mean").get<double>() * st.at("iterations").get<double>();
  }
  bool per_iteration = false;
  auto samples = pooled_samples(reps, &per_iteration);
  // One repetition without per-iteration samples: its own CV is the best we have.
  p.cv = samples.size() == 1 && !reps.empty()
             ? reps[0].at("metrics").at("step_seconds").at("cv").get<double>()
             : sample_cv(samples);
  return p;
}

bool sweep_should_stop(const SweepRunOptions& run, const PoolProgress& p) {
  if (p.repetitions < run.repeat) return false;
  if (p.repetitions >= run.max_repeat) return true;
  bool time_ok = run.min_time_s <= 0 || p.timed_seconds >= run.min_time_s;
  bool noise_ok = run.max_cv <= 0 || p.cv <= run.max_cv;
  return time_ok && noise_ok;
}

}  // namespace cpb
