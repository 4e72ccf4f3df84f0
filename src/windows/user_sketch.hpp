#pragma once
// A HyperLogLog sketch per user cell (any event, then each funnel step) of
// one coarse bucket: the distinct users of a minute in at most 20 KiB,
// whatever the number of users (less while few registers are set, see
// SketchCell).
//
// Role: the previous windows of the coarse tier (1h, 24h) count their
// distinct users by merging the sketches of their minutes (a register-wise
// maximum) and estimating the union (core/hyperloglog.hpp: 2^12 one-byte
// registers per cell, a standard error of 1.6 %). Adding a user twice changes nothing, so rebuilding a sketch
// from a minute's users after a restore is harmless. Lifecycle: owned by a
// Tier, one per held minute. Threading: the engine thread.
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "shoppulse/core/event.hpp"
#include "shoppulse/core/hyperloglog.hpp"

namespace shoppulse::windows {

inline constexpr std::size_t kSketchRegisters = hll::kRegisters;

// A 64-bit mix of an interned id (splitmix64's finaliser): the registers
// need all 64 bits well spread, and interned ids are small and dense.
inline std::uint64_t sketch_hash(Id id) noexcept {
  std::uint64_t z = std::uint64_t{id} + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// One cell's registers: sparse while few are set (a sorted list of
// (index, value) packed in 4 bytes each), dense (one byte a register) once
// the list would take as much. On a slow event clock a minute has a few
// hundred users, so a cell is a few hundred bytes instead of 4 KiB; on a
// fast one every cell is dense, as before. The estimate is the same either
// way (the registers are).
class SketchCell {
 public:
  static constexpr std::size_t kSparseMax = kSketchRegisters / 4;  // entries; past it, dense

  void max(std::size_t index, std::uint8_t value) {
    if (value == 0) return;
    if (dense_) {
      std::uint8_t& r = (*dense_)[index];
      if (value > r) r = value;
      return;
    }
    const std::uint32_t key = static_cast<std::uint32_t>(index) << 8;
    auto it = std::lower_bound(sparse_.begin(), sparse_.end(), key);
    if (it != sparse_.end() && (*it >> 8) == index) {
      if (value > (*it & 0xFFu)) *it = key | value;
      return;
    }
    sparse_.insert(it, key | value);
    if (sparse_.size() > kSparseMax) densify();
  }

  void merge(const SketchCell& other) {
    if (other.dense_) {
      if (!dense_) densify();
      for (std::size_t i = 0; i < kSketchRegisters; ++i) (*dense_)[i] = std::max((*dense_)[i], (*other.dense_)[i]);
      return;
    }
    if (dense_) {
      for (std::uint32_t e : other.sparse_) max(e >> 8, static_cast<std::uint8_t>(e & 0xFFu));
      return;
    }
    std::vector<std::uint32_t> merged;
    merged.reserve(sparse_.size() + other.sparse_.size());
    auto a = sparse_.begin();
    auto b = other.sparse_.begin();
    while (a != sparse_.end() || b != other.sparse_.end()) {
      if (b == other.sparse_.end() || (a != sparse_.end() && (*a >> 8) < (*b >> 8))) merged.push_back(*a++);
      else if (a == sparse_.end() || (*b >> 8) < (*a >> 8)) merged.push_back(*b++);
      else merged.push_back(std::max(*a++, *b++));  // same index: the larger value
    }
    sparse_ = std::move(merged);
    if (sparse_.size() > kSparseMax) densify();
  }

  void clear() noexcept {
    std::vector<std::uint32_t>().swap(sparse_);  // its memory too
    dense_.reset();
  }

  // Calls f(index, value) for every non-zero register, in index order.
  template <class F>
  void for_each_set(F&& f) const {
    if (dense_) {
      for (std::size_t i = 0; i < kSketchRegisters; ++i)
        if ((*dense_)[i] != 0) f(i, (*dense_)[i]);
      return;
    }
    for (std::uint32_t e : sparse_) f(std::size_t{e >> 8}, static_cast<std::uint8_t>(e & 0xFFu));
  }
  std::size_t set_count() const noexcept {
    if (!dense_) return sparse_.size();
    std::size_t n = 0;
    for (std::uint8_t v : *dense_) n += v != 0;
    return n;
  }

  std::uint64_t estimate() const noexcept {
    double sum = 0;
    std::size_t set = 0;
    for_each_set([&](std::size_t, std::uint8_t v) {
      sum += std::ldexp(1.0, -static_cast<int>(v));
      ++set;
    });
    const std::size_t zeros = kSketchRegisters - set;
    return hll::estimate(sum + static_cast<double>(zeros), zeros);  // 2^-0 for each zero
  }

  std::size_t memory_bytes() const noexcept {
    return sparse_.capacity() * sizeof(std::uint32_t) + (dense_ ? kSketchRegisters : 0);
  }

 private:
  void densify() {
    dense_ = std::make_unique<std::array<std::uint8_t, kSketchRegisters>>();
    dense_->fill(0);
    for (std::uint32_t e : sparse_) (*dense_)[e >> 8] = static_cast<std::uint8_t>(e & 0xFFu);
    std::vector<std::uint32_t>().swap(sparse_);
  }

  std::vector<std::uint32_t> sparse_;  // index << 8 | value, by index
  std::unique_ptr<std::array<std::uint8_t, kSketchRegisters>> dense_;
};

template <std::size_t Cells>
struct UserSketch {
  std::array<SketchCell, Cells> cells;

  void add(std::size_t cell, std::uint64_t hash) {
    const hll::Register r = hll::register_of(hash);
    cells[cell].max(r.index, r.rank);
  }

  void merge(const UserSketch& other) {
    for (std::size_t c = 0; c < Cells; ++c) cells[c].merge(other.cells[c]);
  }

  void clear() noexcept {
    for (auto& cell : cells) cell.clear();
  }

  std::uint64_t estimate(std::size_t cell) const noexcept { return cells[cell].estimate(); }

  std::size_t memory_bytes() const noexcept {
    std::size_t n = sizeof(*this);
    for (const auto& cell : cells) n += cell.memory_bytes();
    return n;
  }
};

}  // namespace shoppulse::windows
