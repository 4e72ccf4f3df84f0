#pragma once
// HyperLogLog's arithmetic: which register a 64-bit hash sets and to what,
// and the distinct count a set of registers estimates. 2^12 registers give
// a standard error of 1.04 / sqrt(4096) = 1.6 %; below 2.5 x 4096 the
// estimate is linear counting, exact in practice for a few hundred values.
// The hashes must have all 64 bits well spread.
//
// Users: the window engine's per-minute user sketches (sparse while small,
// windows/user_sketch.hpp) and DistinctCount, a dense sketch of 4 KiB for
// one-off counts (the names of a file before it is imported).
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace shoppulse::hll {

inline constexpr std::size_t kBits = 12;
inline constexpr std::size_t kRegisters = std::size_t{1} << kBits;

struct Register {
  std::size_t index = 0;
  std::uint8_t rank = 0;  // 1 + the leading zeros of the bits after the index
};

inline Register register_of(std::uint64_t hash) noexcept {
  // Rank of the first set bit among the other 52 bits (a sentinel bit caps
  // it at 64 - kBits + 1).
  const auto rank =
      static_cast<std::uint8_t>(std::countl_zero((hash << kBits) | (std::uint64_t{1} << (kBits - 1))) + 1);
  return {static_cast<std::size_t>(hash >> (64 - kBits)), rank};
}

// `sum` is the sum of 2^-value over all kRegisters registers (zeros
// included, 1 each); `zeros` the number of zero registers.
inline std::uint64_t estimate(double sum, std::size_t zeros) noexcept {
  constexpr double m = static_cast<double>(kRegisters);
  const double alpha = 0.7213 / (1.0 + 1.079 / m);
  double e = alpha * m * m / sum;
  if (e <= 2.5 * m && zeros != 0) e = m * std::log(m / static_cast<double>(zeros));
  return static_cast<std::uint64_t>(std::llround(e));
}

// A dense sketch. Not thread-safe.
class DistinctCount {
 public:
  void add(std::uint64_t hash) noexcept {
    const Register r = register_of(hash);
    if (r.rank > registers_[r.index]) registers_[r.index] = r.rank;
  }
  // The count of both sets' union.
  void merge(const DistinctCount& other) noexcept {
    for (std::size_t i = 0; i < kRegisters; ++i)
      if (other.registers_[i] > registers_[i]) registers_[i] = other.registers_[i];
  }
  std::uint64_t estimate() const noexcept {
    double sum = 0;
    std::size_t zeros = 0;
    for (std::uint8_t v : registers_) {
      sum += std::ldexp(1.0, -static_cast<int>(v));
      zeros += v == 0;
    }
    return hll::estimate(sum, zeros);
  }

 private:
  std::array<std::uint8_t, kRegisters> registers_{};
};

}  // namespace shoppulse::hll
