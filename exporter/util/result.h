// Result<T>: a value or an error message. Used at boundaries where failure is expected
// (parsing a config, decoding a response), so failures are values, not exceptions.
//
//   Result<int> r = ParsePort("9847");
//   if (!r.ok()) return Error(r.error());
//   int port = *r;
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
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design
  bool ok() const { return v_.index() == 0; }
  const std::string& error() const { return std::get<1>(v_).message; }
  T& operator*() { return std::get<0>(v_); }
  const T& operator*() const { return std::get<0>(v_); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }

 private:
  std::variant<T, Error> v_;
};

}  // namespace yfe
