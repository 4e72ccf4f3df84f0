#pragma once
// A row of small counters per interned id, for the ids currently inside a
// tier's windows, found through an array indexed by the id itself.
//
// Role: interned ids are dense from 1, so `slot_of_[id]` finds an id's row
// with one load instead of a hash probe, and one row holds the counters of
// every window of a tier, so moving a bucket between windows touches one
// cache line per id. Rows of ids that left every window go to a free list and
// are reused; the id array grows (amortised) with the largest id seen.
// Memory: 4 bytes per id up to the largest id seen, plus width * sizeof(T)
// per id present at once. Lifecycle: owned by a Tier. Threading: the engine
// thread.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "shoppulse/core/event.hpp"

namespace shoppulse::windows {

template <class T>
class DenseRows {
 public:
  explicit DenseRows(std::size_t width) : width_(width) {}

  std::size_t width() const noexcept { return width_; }
  std::size_t size() const noexcept { return size_; }

  T* find(Id id) noexcept {
    if (id >= slot_of_.size()) return nullptr;
    const std::uint32_t s = slot_of_[id];
    return s == 0 ? nullptr : &cells_[(s - 1) * width_];
  }
  const T* find(Id id) const noexcept { return const_cast<DenseRows*>(this)->find(id); }

  // Cache hints, for callers walking many ids: first the index entry, some
  // ids later the row it points at.
  void prefetch_index(Id id) const noexcept {
    if (id < slot_of_.size()) __builtin_prefetch(&slot_of_[id]);
  }
  void prefetch_row(Id id) const noexcept {
    if (id >= slot_of_.size()) return;
    const std::uint32_t s = slot_of_[id];
    if (s != 0) __builtin_prefetch(&cells_[(s - 1) * width_]);
  }

  // The id's row, zero-filled when it was absent.
  T* get_or_add(Id id) {
    if (id >= slot_of_.size()) slot_of_.resize(std::max<std::size_t>(id + 1, slot_of_.size() * 3 / 2), 0);
    std::uint32_t& s = slot_of_[id];
    if (s == 0) {
      if (!free_.empty()) {
        s = free_.back();
        free_.pop_back();
        ids_[s - 1] = id;
      } else {
        ids_.push_back(id);
        cells_.resize(cells_.size() + width_, T{});
        s = static_cast<std::uint32_t>(ids_.size());
      }
      ++size_;
    }
    return &cells_[(s - 1) * width_];
  }

  // Frees the id's row, which must be present and all zero.
  void release(Id id) noexcept {
    std::uint32_t& s = slot_of_[id];
    ids_[s - 1] = kNoId;
    free_.push_back(s);
    s = 0;
    --size_;
  }

  // Forgets every row; keeps the capacity.
  void clear() noexcept {
    for (Id id : ids_)
      if (id != kNoId) slot_of_[id] = 0;
    ids_.clear();
    cells_.clear();
    free_.clear();
    size_ = 0;
  }

  template <class F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < ids_.size(); ++i)
      if (ids_[i] != kNoId) f(ids_[i], &cells_[i * width_]);
  }

  std::size_t memory_bytes() const noexcept {
    return slot_of_.capacity() * sizeof(std::uint32_t) + ids_.capacity() * sizeof(Id) +
           cells_.capacity() * sizeof(T) + free_.capacity() * sizeof(std::uint32_t);
  }

 private:
  std::size_t width_;
  std::size_t size_ = 0;
  std::vector<std::uint32_t> slot_of_;  // id -> row + 1; 0 = absent
  std::vector<Id> ids_;                 // row -> id; kNoId = free row
  std::vector<T> cells_;                // row r is [r * width_, (r + 1) * width_)
  std::vector<std::uint32_t> free_;     // free rows + 1
};

}  // namespace shoppulse::windows
