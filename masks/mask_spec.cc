// MaskSpec <-> JSON and the make_mask entry point; the kinds themselves live in
// masks/generators.cc. Each JSON key maps to one MaskSpec field through kFields, so
// the reader and the writer cannot disagree on names or types.
#include "masks/mask_spec.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <variant>

#include "common/errors.h"
#include "common/limits.h"
#include "masks/generators.h"

namespace cpb {
namespace {

using nlohmann::json;

struct Field {
  const char* name;
  std::variant<int64_t MaskSpec::*, uint64_t MaskSpec::*, double MaskSpec::*,
               std::string MaskSpec::*, bool MaskSpec::*>
      member;
  bool omit_zero = false;  // an optional parameter: not written while 0
};

const Field kFields[] = {
    {"window", &MaskSpec::window},
    {"global_tokens", &MaskSpec::global_tokens},
    {"prefix", &MaskSpec::prefix},
    {"prefix_fraction", &MaskSpec::prefix_fraction},
    {"question", &MaskSpec::question},
    {"answers", &MaskSpec::answers},
    {"block", &MaskSpec::block},
    {"keep", &MaskSpec::keep},
    {"topk", &MaskSpec::topk},
    {"doclen", &MaskSpec::doclen},
    {"long_share", &MaskSpec::long_share},
    {"seed", &MaskSpec::seed},
    {"max_doc", &MaskSpec::max_doc, /*omit_zero=*/true},
    {"per_head", &MaskSpec::per_head, /*omit_zero=*/true},
};

const Field& field(const std::string& name) {
  for (const auto& f : kFields)
    if (name == f.name) return f;
  CPB_CHECK(false, "mask kind table names unknown field '{}'", name);
  return kFields[0];
}

void write_field(json& j, const MaskSpec& spec, const Field& f) {
  std::visit(
      [&](auto member) {
        using T = std::remove_cvref_t<decltype(spec.*member)>;
        if (f.omit_zero && spec.*member == T{}) return;
        j[f.name] = spec.*member;
      },
      f.member);
}

void read_field(const json& v, MaskSpec& spec, const Field& f) {
  std::visit(
      [&](auto member) {
        using T = std::remove_reference_t<decltype(spec.*member)>;
        if constexpr (std::is_same_v<T, std::string>) {
          CPB_REQUIRE(v.is_string(), "mask '{}': key '{}' must be a string, got {}", spec.kind,
                      f.name, v.dump());
        } else if constexpr (std::is_same_v<T, bool>) {
          CPB_REQUIRE(v.is_boolean(), "mask '{}': key '{}' must be true or false, got {}",
                      spec.kind, f.name, v.dump());
        } else if constexpr (std::is_same_v<T, double>) {
          CPB_REQUIRE(v.is_number(), "mask '{}': key '{}' must be a number, got {}", spec.kind,
                      f.name, v.dump());
        } else if constexpr (std::is_same_v<T, uint64_t>) {
          CPB_REQUIRE(v.is_number_unsigned(),
                      "mask '{}': key '{}' must be a non-negative integer, got {}", spec.kind,
                      f.name, v.dump());
        } else {
          CPB_REQUIRE(v.is_number_integer() &&
                          (!v.is_number_unsigned() ||
                           v.get<uint64_t>() <= uint64_t(std::numeric_limits<int64_t>::max())),
                      "mask '{}': key '{}' must be a 64-bit integer, got {}", spec.kind, f.name,
                      v.dump());
        }
        spec.*member = v.get<T>();
      },
      f.member);
}

// Bounds every generator relies on, checked before it computes with the value (a
// block of 2^63 overflowed `seq + block`): sizes and counts in [0, kMaxSeq], so a sum
// of two stays far inside int64, and fractions finite. Not [0, seq]: a block or a
// cap (max_doc) larger than seq is legal (one block; cuts nothing). Each generator
// then checks its own tighter rule (a window at most seq, ...).
void check_range(const MaskSpec& spec, const Field& f) {
  std::visit(
      [&](auto member) {
        using T = std::remove_cvref_t<decltype(spec.*member)>;
        if constexpr (std::is_same_v<T, int64_t>)
          CPB_REQUIRE(spec.*member >= 0 && spec.*member <= kMaxSeq,
                      "mask '{}': {} = {} must be in [0, {}] (2^30)", spec.kind, f.name,
                      spec.*member, kMaxSeq);
        if constexpr (std::is_same_v<T, double>)
          CPB_REQUIRE(std::isfinite(spec.*member), "mask '{}': {} = {} must be a finite number",
                      spec.kind, f.name, spec.*member);
      },
      f.member);
}

}  // namespace

const std::vector<MaskKindInfo>& mask_kinds() {
  static const std::vector<MaskKindInfo> kinds = [] {
    std::vector<MaskKindInfo> out;
    for (const auto& def : mask_kind_table()) out.push_back({def.name, def.description});
    return out;
  }();
  return kinds;
}

Mask make_mask(const MaskSpec& spec, int64_t seq) {
  const MaskKindDef& def = find_mask_kind(spec.kind);
  CPB_REQUIRE(seq >= 1 && seq <= kMaxSeq, "sequence length {} must be in [1, {}] (2^30)", seq,
              kMaxSeq);
  for (const auto& name : def.params) check_range(spec, field(name));
  Mask m = def.make(spec, seq);
  CPB_CHECK(m.seq_q == seq && m.seq_k == seq, "generator '{}' built a {}x{} mask for seq {}",
            spec.kind, m.seq_q, m.seq_k, seq);
  return m;
}

void to_json(json& j, const MaskSpec& spec) {
  const MaskKindDef& def = find_mask_kind(spec.kind);
  j = json::object();
  j["kind"] = spec.kind;
  for (const auto& name : def.params) write_field(j, spec, field(name));
}

void from_json(const json& j, MaskSpec& spec) {
  CPB_REQUIRE(j.is_object(), "a mask spec must be a JSON object with a \"kind\", got {}", j.dump());
  CPB_REQUIRE(j.contains("kind"), "mask spec {} has no key 'kind'", j.dump());
  CPB_REQUIRE(j.at("kind").is_string(), "mask key 'kind' must be a string, got {}",
              j.at("kind").dump());
  const MaskKindDef& def = find_mask_kind(j.at("kind").get<std::string>());
  MaskSpec out = def.defaults;
  for (const auto& [key, value] : j.items()) {
    if (key == "kind") continue;
    if (std::find(def.params.begin(), def.params.end(), key) == def.params.end())
      CPB_INPUT_ERROR("mask '{}': unknown key '{}'; allowed: {}", def.name, key,
                      def.params.empty() ? std::string("none")
                                         : fmt::format("{}", fmt::join(def.params, ", ")));
    read_field(value, out, field(key));
  }
  for (const auto& key : def.required)
    CPB_REQUIRE(j.contains(key), "mask '{}': missing required key '{}'", def.name, key);
  spec = std::move(out);
}

}  // namespace cpb
