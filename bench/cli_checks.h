// Argument checks CLI11 does not make, applied to every subcommand at once (issue
// 11): CLI11 reads an empty value as 0 (`--timeout ""` disabled the watchdog),
// clamps integers beyond 64 bits (a seed of 2^64 became 2^64-1), reads "010" as
// octal, and takes "nan", "inf" and "1e400" (infinite) as numbers. And the command
// line goes into every report as JSON, which must be UTF-8.
// Used by bench/main.cc only; header-only so it adds no target.
#pragma once

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/errors.h"

namespace cpb::bench {

// Bytes shown as text where printable ASCII, else \xNN, so a message about a bad
// argument is itself valid UTF-8 and one line.
inline std::string escape_bytes(std::string_view s, size_t max_bytes = 120) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max_bytes; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\')
      out += static_cast<char>(c);
    else
      out += fmt::format("\\x{:02x}", c);
  }
  if (s.size() > max_bytes) out += fmt::format("... ({} bytes)", s.size());
  return out;
}

// A message as one line: control characters (a newline inside an argument or a
// file's text that the message quotes) shown as \xNN, everything else as is.
inline std::string single_line(std::string_view s) {
  std::string out;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f)
      out += fmt::format("\\x{:02x}", c);
    else
      out += ch;
  }
  return out;
}

// Length of the UTF-8 sequence starting at s[i], or 0 when it is not well formed
// (overlong forms, surrogates and code points above U+10FFFF are not).
inline size_t utf8_sequence_length(std::string_view s, size_t i) {
  auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = at(i);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
  for (size_t k = 1; k < n; ++k) {
    if ((at(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (at(i + k) & 0x3f);
  }
  const uint32_t min_for_length[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min_for_length[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

inline bool is_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// Every argument must be UTF-8: it is echoed into reports and journals as JSON.
inline void require_utf8_arguments(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    CPB_REQUIRE(is_utf8(argv[i]),
                "argument {} '{}' is not valid UTF-8; arguments, paths included, must be UTF-8 "
                "(they are recorded in the report as JSON)",
                i, escape_bytes(argv[i]));
}

// The check for one numeric value; "" when `v` is fine. Leading zeros are dropped
// so CLI11 reads the digits as decimal.
inline std::string check_number_text(std::string& v, bool is_float, bool is_unsigned) {
  if (v.empty()) return "an empty value; give a number";
  const std::string shown = "'" + escape_bytes(v) + "'";
  if (is_float) {
    errno = 0;
    char* end = nullptr;
    double x = std::strtod(v.c_str(), &end);
    if (end != v.c_str() + v.size() || std::isspace(static_cast<unsigned char>(v[0])))
      return shown + " is not a number";
    if (!std::isfinite(x) || errno == ERANGE)
      return shown + " is not a finite number within double range";
    return "";
  }
  const bool negative = v[0] == '-';
  std::string_view digits = std::string_view(v).substr(negative ? 1 : 0);
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos)
    return shown + " is not a decimal integer";
  if (negative && is_unsigned) return shown + " is negative; the value must be >= 0";
  auto first = digits.find_first_not_of('0');
  std::string canonical =
      (negative ? "-" : "") +
      std::string(first == std::string_view::npos ? std::string_view("0") : digits.substr(first));
  if (is_unsigned) {
    uint64_t u = 0;
    auto [p, ec] = std::from_chars(canonical.data(), canonical.data() + canonical.size(), u);
    if (ec != std::errc()) return shown + " is out of range (at most 2^64-1)";
  } else {
    int64_t s = 0;
    auto [p, ec] = std::from_chars(canonical.data(), canonical.data() + canonical.size(), s);
    if (ec != std::errc()) return shown + " is out of range (64-bit signed integer)";
  }
  v = canonical;
  return "";
}

// Adds the strict number check to every integer and floating-point option of `app`
// and of all its subcommands, so each option defined anywhere gets it.
inline void add_strict_number_checks(CLI::App& app) {
  for (CLI::Option* opt : app.get_options()) {
    if (opt->get_type_size_max() == 0) continue;  // a flag
    const std::string type = opt->get_type_name();
    const bool is_float = type.rfind("FLOAT", 0) == 0;
    const bool is_unsigned = type.rfind("UINT", 0) == 0;
    if (!is_float && !is_unsigned && type.rfind("INT", 0) != 0) continue;
    // transform, not check: CLI11 hands a check a copy, and the canonical digits
    // must reach the conversion. It also runs before the option's own checks.
    opt->transform(CLI::Validator(
        [is_float, is_unsigned](std::string& v) {
          return check_number_text(v, is_float, is_unsigned);
        },
        "", "strict_number"));
  }
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    add_strict_number_checks(*sub);
}

}  // namespace cpb::bench
