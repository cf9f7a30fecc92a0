// Errors: one exception type for bad user input (main turns it into exit code 2)
// and one for broken invariants; both carry the file:line that raised them so a
// message always points at the check that fired, in every build type.
#pragma once

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <stdexcept>
#include <string>

namespace cpb {

// Thrown for input the user can fix (bad flag value, malformed file, impossible
// shape). `main` catches it once and exits with status 2.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thrown when the program itself is wrong (a violated invariant). Exit status 1.
class InternalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
template <typename E, typename... Args>
[[noreturn]] void raise_at(const char* file, int line, fmt::format_string<Args...> f,
                           Args&&... args) {
  throw E(fmt::format("{}:{}: {}", file, line, fmt::format(f, std::forward<Args>(args)...)));
}
}  // namespace detail

}  // namespace cpb

// CPB_REQUIRE(cond, "format", args...): reject bad input; the message should name
// the bad value and what is allowed.
#define CPB_REQUIRE(cond, ...)                                                                \
  do {                                                                                        \
    if (!(cond)) ::cpb::detail::raise_at<::cpb::InputError>(__FILE__, __LINE__, __VA_ARGS__); \
  } while (0)

#define CPB_INPUT_ERROR(...) \
  ::cpb::detail::raise_at<::cpb::InputError>(__FILE__, __LINE__, __VA_ARGS__)

// CPB_CHECK(cond, "format", args...): an invariant of our own code.
#define CPB_CHECK(cond, ...)                                                                     \
  do {                                                                                           \
    if (!(cond))                                                                                 \
      ::cpb::detail::raise_at<::cpb::InternalError>(__FILE__, __LINE__, "check '{}' failed: {}", \
                                                    #cond, fmt::format(__VA_ARGS__));            \
  } while (0)
