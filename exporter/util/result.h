// Result<T>: a value or an error message; Status: success or an error message. Used at
// boundaries where failure is expected (parsing a config, decoding a response, binding a
// port), so failures are values, not exceptions. Both are [[nodiscard]], in abseil's shape
// (StatusOr<T> / Status), with a string for the error: messages are what callers need.
//
//   Result<int> ParsePort(const std::string& text);
//   Status Check(const std::string& text) {
//     YFE_ASSIGN_OR_RETURN(int port, ParsePort(text));   // returns the error, if any
//     if (port == 0) return Error("port 0 is not allowed");
//     return Ok();
//   }
//   int port = ParsePort(text).value_or(9847);
//
// Where else failures are values, and why they are not Results: ConfigLoad (config.h)
// gathers every problem of a file rather than stopping at the first; flowapi's ApiResult
// and Response carry what the metrics and the hints need besides the error (HTTP status,
// error kind and code, request id, paging headers, attempts).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace yfe {

struct Error {
  explicit Error(std::string m) : message(std::move(m)) {}
  std::string message;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design
  bool ok() const { return v_.index() == 0; }
  const std::string& error() const { return std::get<1>(v_).message; }
  T& operator*() { return std::get<0>(v_); }
  const T& operator*() const { return std::get<0>(v_); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  // The value, or `fallback` on error.
  template <typename U>
  T value_or(U&& fallback) const& {
    return ok() ? std::get<0>(v_) : static_cast<T>(std::forward<U>(fallback));
  }
  // The error as an Error, to return from a function of another Result type.
  yfe::Error status() const { return yfe::Error(error()); }

 private:
  std::variant<T, yfe::Error> v_;
};

// Success or an error: what a function with nothing to return gives back.
using Status = Result<std::monostate>;
inline Status Ok() { return std::monostate{}; }

}  // namespace yfe

// Returns the error of `expr` (a Result or Status) from the enclosing function, if any.
#define YFE_RETURN_IF_ERROR(expr)                       \
  do {                                                  \
    if (auto yfe_status_ = (expr); !yfe_status_.ok()) { \
      return ::yfe::Error(yfe_status_.error());         \
    }                                                   \
  } while (false)

// `lhs` = the value of `expr` (a Result), or returns its error from the enclosing function.
#define YFE_ASSIGN_OR_RETURN(lhs, expr) \
  YFE_ASSIGN_OR_RETURN_IMPL_(YFE_RESULT_CONCAT_(yfe_result_, __LINE__), lhs, expr)
#define YFE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return ::yfe::Error(tmp.error()); \
  lhs = std::move(*tmp)
#define YFE_RESULT_CONCAT_(a, b) YFE_RESULT_CONCAT_INNER_(a, b)
#define YFE_RESULT_CONCAT_INNER_(a, b) a##b
