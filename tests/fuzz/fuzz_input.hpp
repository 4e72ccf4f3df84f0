#pragma once
// Shared by the fuzz targets: a reader that turns the fuzzer's bytes into
// structured values, and a property check that stops the run with a message
// (libFuzzer then saves the input as a crash).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace shoppulse::fuzz {

[[noreturn]] inline void property_failed(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "property violated: %s (%s:%d)\n", expr, file, line);
  std::abort();
}

// Takes values from the front of the input; past the end every value is 0
// and every string empty, so any input length is valid.
class FuzzInput {
 public:
  FuzzInput(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  bool empty() const noexcept { return size_ == 0; }
  std::size_t remaining() const noexcept { return size_; }

  std::uint8_t byte() noexcept {
    if (size_ == 0) return 0;
    const std::uint8_t b = *data_;
    ++data_;
    --size_;
    return b;
  }
  template <typename T>
  T integer() noexcept {
    T value{};
    std::uint8_t raw[sizeof(T)] = {};
    for (std::size_t i = 0; i < sizeof(T); ++i) raw[i] = byte();
    std::memcpy(&value, raw, sizeof(T));
    return value;
  }
  // A value in [lo, hi].
  std::uint64_t in_range(std::uint64_t lo, std::uint64_t hi) noexcept {
    const std::uint64_t span = hi - lo;
    const std::uint64_t v = integer<std::uint64_t>();
    return span == UINT64_MAX ? v : lo + v % (span + 1);
  }
  // A string of up to max_len bytes.
  std::string text(std::size_t max_len) {
    const std::size_t len = std::min<std::size_t>(byte() % (max_len + 1), size_);
    std::string out(reinterpret_cast<const char*>(data_), len);
    data_ += len;
    size_ -= len;
    return out;
  }
  std::string_view rest() noexcept {
    std::string_view out(reinterpret_cast<const char*>(data_), size_);
    data_ += size_;
    size_ = 0;
    return out;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
};

}  // namespace shoppulse::fuzz

#define FUZZ_CHECK(expr) ((expr) ? (void)0 : ::shoppulse::fuzz::property_failed(#expr, __FILE__, __LINE__))
