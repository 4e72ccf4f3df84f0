#pragma once
// A row of small counters per interned id, for the ids currently inside a
// tier's windows, found through an array indexed by the id itself.
//
// Role: an IdSlots index (pages of row numbers indexed by the id, kept
// only where ids are present) finds an id's row with two loads instead of a
// hash probe, and one row holds the counters of every window of a tier, so
// moving a bucket between windows touches one cache line per id. Rows of
// ids that left every window go to a free list and are reused.
// Memory: the index (see id_slots.hpp), plus width * sizeof(T) per id
// present at once (at its high-water mark). Lifecycle: owned by a Tier.
// Threading: the engine thread.
#include <cstdint>
#include <utility>
#include <vector>

#include "shoppulse/core/event.hpp"
#include "shoppulse/core/id_slots.hpp"
#include "shoppulse/core/prefetch.hpp"

namespace shoppulse::windows {

template <class T>
class DenseRows {
 public:
  explicit DenseRows(std::size_t width) : width_(width) {}

  std::size_t width() const noexcept { return width_; }
  std::size_t size() const noexcept { return size_; }

  T* find(Id id) noexcept {
    const std::uint32_t s = slots_.get(id);
    return s == 0 ? nullptr : &cells_[(s - 1) * width_];
  }
  const T* find(Id id) const noexcept { return const_cast<DenseRows*>(this)->find(id); }

  // Cache hints, for callers walking many ids: first the index entry, some
  // ids later the row it points at.
  void prefetch_index(Id id) const noexcept { slots_.prefetch(id); }
  void prefetch_row(Id id) const noexcept {
    const std::uint32_t s = slots_.get(id);
    if (s != 0) shoppulse::prefetch(&cells_[(s - 1) * width_]);
  }

  // The id's row, zero-filled when it was absent.
  T* get_or_add(Id id) {
    std::uint32_t s = slots_.get(id);
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
      slots_.set(id, s);
      ++size_;
    }
    return &cells_[(s - 1) * width_];
  }

  // Frees the id's row, which must be present and all zero, and its index
  // page once no id of the page is present.
  void release(Id id) noexcept {
    const std::uint32_t s = slots_.erase(id);
    ids_[s - 1] = kNoId;
    free_.push_back(s);
    --size_;
  }

  // Forgets every row and every page; keeps the rows' capacity.
  void clear() noexcept {
    slots_.clear();
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
  // The same, the rows writable; `f` must not add or release rows.
  template <class F>
  void for_each(F&& f) {
    for (std::size_t i = 0; i < ids_.size(); ++i)
      if (ids_[i] != kNoId) f(ids_[i], &cells_[i * width_]);
  }

  // In ascending id order (a walk over the index pages), so what is written
  // from it does not depend on the order ids arrived in. Rows lie in the
  // order ids arrived in, so each is asked for 16 ids before its
  // turn: the cache misses overlap instead of coming one after another (a
  // checkpoint walks millions of rows).
  template <class F>
  void for_each_by_id(F&& f) const {
    Lookahead<std::pair<Id, const T*>, 16> rows;
    const auto use = [&f](const std::pair<Id, const T*>& row) { f(row.first, row.second); };
    slots_.for_each([&](Id id, std::uint32_t s) {
      const T* row = &cells_[(s - 1) * width_];
      prefetch_lines(row, width_ * sizeof(T));
      rows.push({id, row}, use);
    });
    rows.drain(use);
  }

  std::size_t memory_bytes() const noexcept {
    return slots_.memory_bytes() + ids_.capacity() * sizeof(Id) + cells_.capacity() * sizeof(T) +
           free_.capacity() * sizeof(std::uint32_t);
  }

 private:
  std::size_t width_;
  std::size_t size_ = 0;
  IdSlots slots_;                       // id -> row + 1
  std::vector<Id> ids_;                 // row -> id; kNoId = free row
  std::vector<T> cells_;                // row r is [r * width_, (r + 1) * width_)
  std::vector<std::uint32_t> free_;     // free rows + 1
};

}  // namespace shoppulse::windows
