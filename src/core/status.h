// Error values for user-facing failures, and checks that abort on broken invariants.
//
// A user-facing failure (bad model directory, bad input, prompt too long) is returned as a
// Result<T> holding an Error whose message names the file/field and the problem. A broken
// internal invariant is a bug: STRATA_CHECK aborts with file:line. No exceptions cross the
// engine thread or the HTTP handlers.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace strata {

class Error {
 public:
  explicit Error(std::string message) : message_(std::move(message)) {}
  const std::string& message() const { return message_; }
  // Prefixes context ("config.json: ") so the outermost caller names where it happened.
  Error with_context(const std::string& context) const { return Error(context + ": " + message_); }

 private:
  std::string message_;
};

template <typename... Args>
Error make_error(fmt::format_string<Args...> format, Args&&... args) {
  return Error(fmt::format(format, std::forward<Args>(args)...));
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& value() const& { return std::get<0>(v_); }
  T& operator*() & { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

struct Ok {};
using Status = Result<Ok>;
inline Status ok_status() { return Ok{}; }

[[noreturn]] inline void check_failed(const char* file, int line, const char* expr, const std::string& msg) {
  std::fprintf(stderr, "%s:%d: check failed: %s %s\n", file, line, expr, msg.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace strata

#define STRATA_CHECK(cond, ...)                                                                \
  do {                                                                                         \
    if (!(cond)) ::strata::check_failed(__FILE__, __LINE__, #cond, fmt::format("" __VA_ARGS__)); \
  } while (0)

#define STRATA_CONCAT_INNER(a, b) a##b
#define STRATA_CONCAT(a, b) STRATA_CONCAT_INNER(a, b)

// STRATA_TRY(auto x, expr): evaluates a Result, returns its Error from the enclosing function or
// binds the value.
#define STRATA_TRY(decl, expr) STRATA_TRY_IMPL(STRATA_CONCAT(_strata_r_, __LINE__), decl, expr)
#define STRATA_TRY_IMPL(tmp, decl, expr) \
  auto tmp = (expr);                     \
  if (!tmp.ok()) return tmp.error();     \
  decl = std::move(tmp).value()

// STRATA_RETURN_IF_ERROR(expr): for Status-returning calls.
#define STRATA_RETURN_IF_ERROR(expr)               \
  do {                                             \
    auto _strata_s = (expr);                       \
    if (!_strata_s.ok()) return _strata_s.error(); \
  } while (0)
