#pragma once
// A 32-bit value per interned id, found by indexing with the id itself, in
// pages of 4,096 ids: a page is made when the first of its ids gets a value
// and freed when the last one's is erased.
//
// Role: the index under the tables that hold state for the ids currently
// present (a tier's rows, the recommender's states). Interned ids are dense
// from 1, so a lookup is two dependent loads instead of a hash probe; with
// ids that keep growing (new shoppers and products forever) and tables
// bounded to the recent ones, the pages follow the ids present instead of
// the largest id ever seen. Memory: 16 KiB per page holding a present id
// plus 8 bytes per 4,096 ids up to the largest seen; never more than a flat
// array of 4-byte slots plus those pointers.
// Lifecycle: owned by the table it indexes. Threading: none (the owner's).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "shoppulse/core/event.hpp"
#include "shoppulse/core/prefetch.hpp"

namespace shoppulse {

class IdSlots {
 public:
  // The id's value; 0 when it has none.
  std::uint32_t get(Id id) const noexcept {
    const std::size_t p = id >> kPageBits;
    return p < pages_.size() && pages_[p] ? pages_[p]->values[id & kPageMask] : 0;
  }

  // Gives the id a value (not 0), making its page when needed.
  void set(Id id, std::uint32_t value) {
    const std::size_t p = id >> kPageBits;
    if (p >= pages_.size()) pages_.resize(std::max<std::size_t>(p + 1, pages_.size() * 3 / 2));
    if (!pages_[p]) {
      pages_[p] = std::make_unique<Page>();
      ++live_pages_;
    }
    std::uint32_t& v = pages_[p]->values[id & kPageMask];
    if (v == 0) ++pages_[p]->present;
    v = value;
  }

  // Takes the id's value away and returns it (0 when it had none); frees
  // the page once none of its ids has a value.
  std::uint32_t erase(Id id) noexcept {
    const std::size_t p = id >> kPageBits;
    if (p >= pages_.size() || !pages_[p]) return 0;
    std::uint32_t& v = pages_[p]->values[id & kPageMask];
    const std::uint32_t old = v;
    if (old == 0) return 0;
    v = 0;
    if (--pages_[p]->present == 0) {
      pages_[p].reset();
      --live_pages_;
    }
    return old;
  }

  void clear() noexcept {
    pages_.clear();
    live_pages_ = 0;
  }

  // A cache hint for the id's entry, for callers walking many ids.
  void prefetch(Id id) const noexcept {
    const std::size_t p = id >> kPageBits;
    if (p < pages_.size() && pages_[p]) shoppulse::prefetch(&pages_[p]->values[id & kPageMask]);
  }

  // One past the largest id a page could hold.
  std::size_t id_end() const noexcept { return pages_.size() << kPageBits; }
  // The first id >= from with a value; id_end() when there is none.
  std::size_t next(std::size_t from) const noexcept {
    const std::size_t end = id_end();
    while (from < end) {
      const auto& page = pages_[from >> kPageBits];
      if (!page) {
        from = ((from >> kPageBits) + 1) << kPageBits;
        continue;
      }
      if (page->values[from & kPageMask] != 0) return from;
      ++from;
    }
    return end;
  }
  // f(id, value) for every id with a value, in ascending id order.
  template <class F>
  void for_each(F&& f) const {
    for (std::size_t p = 0; p < pages_.size(); ++p) {
      if (!pages_[p]) continue;
      for (std::size_t i = 0; i < kPageIds; ++i)
        if (const std::uint32_t v = pages_[p]->values[i]; v != 0) f(static_cast<Id>((p << kPageBits) | i), v);
    }
  }

  std::size_t memory_bytes() const noexcept {
    return pages_.capacity() * sizeof(pages_[0]) + live_pages_ * sizeof(Page);
  }

 private:
  static constexpr std::size_t kPageBits = 12;
  static constexpr std::size_t kPageIds = std::size_t{1} << kPageBits;
  static constexpr std::size_t kPageMask = kPageIds - 1;
  struct Page {
    std::uint32_t values[kPageIds] = {};  // 0 = no value
    std::uint32_t present = 0;            // non-zero values
  };

  std::vector<std::unique_ptr<Page>> pages_;  // by id >> kPageBits; null = no id of the page has a value
  std::size_t live_pages_ = 0;
};

}  // namespace shoppulse
