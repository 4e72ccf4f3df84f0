#pragma once
// A row of small counters per interned id, for the ids currently inside a
// tier's windows, found through an array indexed by the id itself.
//
// Role: interned ids are dense from 1, so a page of row numbers indexed by
// the id finds an id's row with two loads instead of a hash probe, and one
// row holds the counters of every window of a tier, so moving a bucket
// between windows touches one cache line per id. Rows of ids that left every
// window go to a free list and are reused. A page covers kPageIds
// consecutive ids and is freed when none of them is present, so with ids
// that keep growing (new shoppers and products forever) the index follows
// the ids inside the windows instead of the largest id ever seen.
// Memory: 4 bytes per id of every page holding a present id, 8 bytes per
// kPageIds ids up to the largest seen, plus width * sizeof(T) per id present
// at once (at its high-water mark). Lifecycle: owned by a Tier. Threading:
// the engine thread.
#include <algorithm>
#include <cstdint>
#include <memory>
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
    const std::uint32_t s = slot(id);
    return s == 0 ? nullptr : &cells_[(s - 1) * width_];
  }
  const T* find(Id id) const noexcept { return const_cast<DenseRows*>(this)->find(id); }

  // Cache hints, for callers walking many ids: first the index entry, some
  // ids later the row it points at.
  void prefetch_index(Id id) const noexcept {
    const std::size_t p = id >> kPageBits;
    if (p < pages_.size() && pages_[p]) __builtin_prefetch(&pages_[p]->slots[id & kPageMask]);
  }
  void prefetch_row(Id id) const noexcept {
    const std::uint32_t s = slot(id);
    if (s != 0) __builtin_prefetch(&cells_[(s - 1) * width_]);
  }

  // The id's row, zero-filled when it was absent.
  T* get_or_add(Id id) {
    const std::size_t p = id >> kPageBits;
    if (p >= pages_.size()) pages_.resize(std::max<std::size_t>(p + 1, pages_.size() * 3 / 2));
    if (!pages_[p]) {
      pages_[p] = std::make_unique<Page>();
      ++live_pages_;
    }
    Page& page = *pages_[p];
    std::uint32_t& s = page.slots[id & kPageMask];
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
      ++page.present;
      ++size_;
    }
    return &cells_[(s - 1) * width_];
  }

  // Frees the id's row, which must be present and all zero, and its page
  // once no id of the page is present.
  void release(Id id) noexcept {
    const std::size_t p = id >> kPageBits;
    Page& page = *pages_[p];
    std::uint32_t& s = page.slots[id & kPageMask];
    ids_[s - 1] = kNoId;
    free_.push_back(s);
    s = 0;
    --size_;
    if (--page.present == 0) {
      pages_[p].reset();
      --live_pages_;
    }
  }

  // Forgets every row and every page; keeps the rows' capacity.
  void clear() noexcept {
    pages_.clear();
    live_pages_ = 0;
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

  // In ascending id order (a walk over the index pages), so what is written
  // from it does not depend on the order ids arrived in.
  template <class F>
  void for_each_by_id(F&& f) const {
    for (std::size_t p = 0; p < pages_.size(); ++p) {
      if (!pages_[p]) continue;
      for (std::size_t i = 0; i < kPageIds; ++i)
        if (const std::uint32_t s = pages_[p]->slots[i]; s != 0)
          f(static_cast<Id>((p << kPageBits) | i), &cells_[(s - 1) * width_]);
    }
  }

  std::size_t memory_bytes() const noexcept {
    return pages_.capacity() * sizeof(pages_[0]) + live_pages_ * sizeof(Page) + ids_.capacity() * sizeof(Id) +
           cells_.capacity() * sizeof(T) + free_.capacity() * sizeof(std::uint32_t);
  }

 private:
  static constexpr std::size_t kPageBits = 12;
  static constexpr std::size_t kPageIds = std::size_t{1} << kPageBits;
  static constexpr std::size_t kPageMask = kPageIds - 1;
  struct Page {
    std::uint32_t slots[kPageIds] = {};  // id -> row + 1; 0 = absent
    std::uint32_t present = 0;           // non-zero slots
  };

  std::uint32_t slot(Id id) const noexcept {
    const std::size_t p = id >> kPageBits;
    if (p >= pages_.size() || !pages_[p]) return 0;
    return pages_[p]->slots[id & kPageMask];
  }

  std::size_t width_;
  std::size_t size_ = 0;
  std::vector<std::unique_ptr<Page>> pages_;  // by id >> kPageBits; null = no id of the page present
  std::size_t live_pages_ = 0;
  std::vector<Id> ids_;                 // row -> id; kNoId = free row
  std::vector<T> cells_;                // row r is [r * width_, (r + 1) * width_)
  std::vector<std::uint32_t> free_;     // free rows + 1
};

}  // namespace shoppulse::windows
