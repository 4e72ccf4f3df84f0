#pragma once
// Errors as values on the data path. Every fallible call returns Result<T>;
// exceptions are reserved for start-up, where they are fatal.
#include <string>
#include <utility>
#include <variant>

namespace shoppulse {

// One code per kind of failure; api/error_mapping.cpp maps each to one HTTP status.
enum class Errc {
  invalid_argument,   // the caller sent something malformed (400)
  not_found,          // no such resource (404)
  method_not_allowed, // the resource exists but not for this method (405)
  payload_too_large,  // body over the configured limit (413)
  unsupported_media,  // content type not understood (415)
  overloaded,         // queue full; retry later (503 + Retry-After)
  unavailable,        // component stopped or shutting down (503)
  no_space,           // storage is full; retry once space is freed (507 + Retry-After)
  io_error,           // storage failed; retry later (503 + Retry-After)
  corrupt,            // stored data failed to decode (500)
  internal,           // a bug (500)
};

const char* to_string(Errc code) noexcept;

struct Error {
  Errc code;
  std::string detail;  // names the problem for a human
  std::string field;   // optional: the offending field or key
  long line = 0;       // optional: 1-based line of the offending input
};

inline Error make_error(Errc code, std::string detail, std::string field = {}, long line = 0) {
  return Error{code, std::move(detail), std::move(field), line};
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT
  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT
  bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const Error& error() const& { return error_; }
  Error&& error() && { return std::move(error_); }

 private:
  Error error_{Errc::internal, {}, {}, 0};
  bool ok_ = true;
};

}  // namespace shoppulse
