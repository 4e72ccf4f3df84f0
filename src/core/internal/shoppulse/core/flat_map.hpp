#pragma once
// An open-addressing hash map from uint32 ids to small values, for per-event
// and per-query hot paths (window aggregates, recommendation scoring).
//
// Role: maps keyed by interned ids without a node allocation per entry. Linear probing with
// backward-shift deletion keeps erase tombstone-free, so maps that churn as
// windows slide do not degrade. Lifecycle: owned by its aggregate; clear()
// keeps the capacity so a reused ring bucket does not reallocate. Threading:
// none; one owning thread. The key 0xFFFFFFFF marks an empty slot and
// cannot be stored (interned ids are dense from 1, so it never occurs).
#include <cstdint>
#include <utility>
#include <vector>

#include "shoppulse/core/prefetch.hpp"

namespace shoppulse {

template <class V>
class FlatMap {
 public:
  static constexpr std::uint32_t kEmptyKey = 0xFFFFFFFFu;

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  V* find(std::uint32_t key) noexcept {
    if (size_ == 0) return nullptr;
    for (std::size_t i = slot_of(key);; i = (i + 1) & mask_) {
      if (keys_[i] == key) return &values_[i];
      if (keys_[i] == kEmptyKey) return nullptr;
    }
  }
  const V* find(std::uint32_t key) const noexcept { return const_cast<FlatMap*>(this)->find(key); }

  // Returns the value for key, value-initialised if it was absent.
  V& operator[](std::uint32_t key) {
    if ((size_ + 1) * 4 > keys_.size() * 3) grow();
    std::size_t i = slot_of(key);
    while (keys_[i] != key) {
      if (keys_[i] == kEmptyKey) {
        keys_[i] = key;
        values_[i] = V{};
        ++size_;
        return values_[i];
      }
      i = (i + 1) & mask_;
    }
    return values_[i];
  }

  bool erase(std::uint32_t key) noexcept {
    if (size_ == 0) return false;
    std::size_t i = slot_of(key);
    while (keys_[i] != key) {
      if (keys_[i] == kEmptyKey) return false;
      i = (i + 1) & mask_;
    }
    // Backward shift: pull later entries of the probe run into the hole when
    // their home slot does not lie cyclically in (hole, their position].
    std::size_t hole = i;
    for (std::size_t j = (hole + 1) & mask_; keys_[j] != kEmptyKey; j = (j + 1) & mask_) {
      const std::size_t home = slot_of(keys_[j]);
      const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
      if (stays) continue;
      keys_[hole] = keys_[j];
      values_[hole] = std::move(values_[j]);
      hole = j;
    }
    keys_[hole] = kEmptyKey;
    --size_;
    return true;
  }

  // Hints the cache about the slot a lookup of key starts at (its key and
  // its value), for a caller that knows its next keys a few ahead.
  void prefetch(std::uint32_t key) const noexcept {
    if (keys_.empty()) return;
    const std::size_t i = slot_of(key);
    shoppulse::prefetch(&keys_[i]);
    shoppulse::prefetch(&values_[i]);
  }

  // Room for n entries without growing (one rehash, to the capacity n needs).
  void reserve(std::size_t n) {
    if (n * 4 <= keys_.size() * 3) return;
    std::size_t capacity = keys_.empty() ? 16 : keys_.size();
    while (n * 4 > capacity * 3) capacity *= 2;
    rehash(capacity);
  }

  // Heap bytes of the table (its capacity).
  std::size_t memory_bytes() const noexcept {
    return keys_.capacity() * sizeof(std::uint32_t) + values_.capacity() * sizeof(V);
  }

  void clear() noexcept {
    if (size_ == 0) return;
    for (auto& k : keys_) k = kEmptyKey;
    size_ = 0;
  }

  // A cache hint for the first max_lines lines of the keys and of the
  // values, for a for_each() some time later.
  void prefetch_slots(std::size_t max_lines = 4) const noexcept {
    if (size_ == 0) return;
    prefetch_lines(keys_.data(), keys_.size() * sizeof(std::uint32_t), max_lines);
    prefetch_lines(values_.data(), values_.size() * sizeof(V), max_lines);
  }

  template <class F>
  void for_each(F&& f) {
    for (std::size_t i = 0; i < keys_.size(); ++i)
      if (keys_[i] != kEmptyKey) f(keys_[i], values_[i]);
  }
  template <class F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < keys_.size(); ++i)
      if (keys_[i] != kEmptyKey) f(keys_[i], values_[i]);
  }

 private:
  std::size_t slot_of(std::uint32_t key) const noexcept {
    return static_cast<std::size_t>((std::uint64_t{key} * 0x9E3779B97F4A7C15ull) >> shift_) & mask_;
  }

  void grow() { rehash(keys_.empty() ? 16 : keys_.size() * 2); }

  void rehash(std::size_t capacity) {
    std::vector<std::uint32_t> old_keys(capacity, kEmptyKey);
    std::vector<V> old_values(capacity);
    old_keys.swap(keys_);
    old_values.swap(values_);
    mask_ = capacity - 1;
    shift_ = 64;
    for (std::size_t c = capacity; c > 1; c >>= 1) --shift_;
    for (std::size_t i = 0; i < old_keys.size(); ++i) {
      if (old_keys[i] == kEmptyKey) continue;
      std::size_t j = slot_of(old_keys[i]);
      while (keys_[j] != kEmptyKey) j = (j + 1) & mask_;
      keys_[j] = old_keys[i];
      values_[j] = std::move(old_values[i]);
    }
  }

  std::vector<std::uint32_t> keys_;
  std::vector<V> values_;
  std::size_t size_ = 0;
  std::size_t mask_ = 0;
  unsigned shift_ = 64;
};

}  // namespace shoppulse
