// Result<T, E>: a value or an error reason, for code that must not throw on bad input
// (the data plane, parsers). A thin alias over std::variant with named accessors.
// Invariant: exactly one of value()/error() is valid, as told by ok().
// Thread safety: a plain value type.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace vnetdns::util {

template <typename E>
struct Err {
  Err(E e)
      : error(std::move(e)) {
  }  // NOLINT: a constructor, since clang 14 lacks paren-init of aggregates
  E error;
};
template <typename E>
Err(E) -> Err<E>;

template <typename T, typename E = std::string>
class Result {
 public:
  Result(T value)
      : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
  template <typename F>
  Result(Err<F> e) : v_(std::in_place_index<1>, E(std::move(e.error))) {}  // NOLINT

  [[nodiscard]] bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const E& error() const { return std::get<1>(v_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, E> v_;
};

}  // namespace vnetdns::util
