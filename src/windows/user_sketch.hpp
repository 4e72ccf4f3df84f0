#pragma once
// A HyperLogLog sketch per user cell (any event, then each funnel step) of
// one coarse bucket: the distinct users of a minute in a fixed 20 KiB,
// whatever the number of users.
//
// Role: the previous windows of the coarse tier (1h, 24h) count their
// distinct users by merging the sketches of their minutes (a register-wise
// maximum) and estimating the union. 2^12 one-byte registers per cell give a
// standard error of 1.04 / sqrt(4096) = 1.6 %; below 2.5 x 4096 users the
// estimate switches to linear counting, which is exact in practice for a few
// hundred users. Adding a user twice changes nothing, so rebuilding a sketch
// from a minute's users after a restore is harmless. Lifecycle: owned by a
// Tier, one per held minute. Threading: the engine thread.
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>

#include "shoppulse/core/event.hpp"

namespace shoppulse::windows {

inline constexpr std::size_t kSketchBits = 12;
inline constexpr std::size_t kSketchRegisters = std::size_t{1} << kSketchBits;

// A 64-bit mix of an interned id (splitmix64's finaliser): the registers
// need all 64 bits well spread, and interned ids are small and dense.
inline std::uint64_t sketch_hash(Id id) noexcept {
  std::uint64_t z = std::uint64_t{id} + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

template <std::size_t Cells>
struct UserSketch {
  std::array<std::array<std::uint8_t, kSketchRegisters>, Cells> registers{};

  void add(std::size_t cell, std::uint64_t hash) noexcept {
    const std::size_t index = hash >> (64 - kSketchBits);
    // Rank of the first set bit among the other 52 bits (a sentinel bit
    // caps it at 64 - kSketchBits + 1).
    const auto rank =
        static_cast<std::uint8_t>(std::countl_zero((hash << kSketchBits) | (std::uint64_t{1} << (kSketchBits - 1))) + 1);
    std::uint8_t& r = registers[cell][index];
    if (rank > r) r = rank;
  }

  void merge(const UserSketch& other) noexcept {
    for (std::size_t c = 0; c < Cells; ++c)
      for (std::size_t i = 0; i < kSketchRegisters; ++i)
        registers[c][i] = std::max(registers[c][i], other.registers[c][i]);
  }

  void clear() noexcept {
    for (auto& cell : registers) cell.fill(0);
  }

  std::uint64_t estimate(std::size_t cell) const noexcept {
    const auto& r = registers[cell];
    double sum = 0;
    std::size_t zeros = 0;
    for (std::uint8_t v : r) {
      sum += std::ldexp(1.0, -static_cast<int>(v));
      zeros += v == 0;
    }
    constexpr double m = static_cast<double>(kSketchRegisters);
    const double alpha = 0.7213 / (1.0 + 1.079 / m);
    double e = alpha * m * m / sum;
    if (e <= 2.5 * m && zeros != 0) e = m * std::log(m / static_cast<double>(zeros));
    return static_cast<std::uint64_t>(std::llround(e));
  }
};

}  // namespace shoppulse::windows
