#pragma once
// A map from interned ids to values, indexed directly by id, with the values
// in a pool that recycles erased ones.
//
// Ids come from the Dictionary, dense from 1, so a lookup is a few loads: a
// 4-byte slot per id, naming a value in a pool of fixed-size chunks (instead
// of hashing into a node-based table). The slots come in pages of 4096 ids,
// made when one of their ids is inserted and freed when the last is erased:
// a map bounded to its most recent ids (the recommender's 200k items among
// millions ever seen) holds the pages of those ids, not a slot for every id
// up to the largest (at most that, plus a pointer per page). Values
// never move once inserted (pointers stay valid until erase). An erased
// value goes to a free list and is handed out again by the next insert after
// T::clear() (which keeps its vectors' capacity), so a map that inserts and
// evicts at its bound allocates nothing per insert once warm. Iteration is
// in id order. Private to the recommend module. Threading: none.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "shoppulse/core/event.hpp"

namespace shoppulse::recommend_detail {

template <class T>
class DenseMap {
  static constexpr std::size_t kChunk = 4096;  // values per pool chunk
  static constexpr std::uint32_t kEmpty = 0;   // slot value: no entry; else pool index + 1
  static constexpr std::size_t kPageBits = 12;
  static constexpr std::size_t kPageIds = std::size_t{1} << kPageBits;

  struct Page {
    std::uint32_t slots[kPageIds] = {};
    std::uint32_t present = 0;
  };

 public:
  T* find(Id id) noexcept {
    const std::uint32_t s = slot(id);
    return s != kEmpty ? &value(s - 1) : nullptr;
  }
  const T* find(Id id) const noexcept {
    const std::uint32_t s = slot(id);
    return s != kEmpty ? &value(s - 1) : nullptr;
  }
  bool contains(Id id) const noexcept { return find(id) != nullptr; }

  T& operator[](Id id) {
    const std::size_t p = id >> kPageBits;
    if (p >= pages_.size()) pages_.resize(std::max<std::size_t>(p + 1, pages_.size() * 3 / 2));
    if (!pages_[p]) {
      pages_[p] = std::make_unique<Page>();
      ++live_pages_;
    }
    Page& page = *pages_[p];
    std::uint32_t& slot = page.slots[id & (kPageIds - 1)];
    if (slot == kEmpty) {
      std::uint32_t index;
      if (!free_.empty()) {
        index = free_.back();
        free_.pop_back();
      } else {
        if (used_ == chunks_.size() * kChunk) chunks_.push_back(std::make_unique<T[]>(kChunk));
        index = static_cast<std::uint32_t>(used_++);
      }
      slot = index + 1;
      ++page.present;
      ++size_;
    }
    return value(slot - 1);
  }

  void erase(Id id) {
    const std::size_t p = id >> kPageBits;
    if (p >= pages_.size() || !pages_[p]) return;
    Page& page = *pages_[p];
    std::uint32_t& slot = page.slots[id & (kPageIds - 1)];
    if (slot == kEmpty) return;
    const std::uint32_t index = slot - 1;
    value(index).clear();
    free_.push_back(index);
    slot = kEmpty;
    --size_;
    if (--page.present == 0) {
      pages_[p].reset();
      --live_pages_;
    }
  }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  void reserve(std::size_t ids) { pages_.reserve((ids >> kPageBits) + 1); }
  // Pool values ever created (live and recycled): what the map holds in memory.
  std::size_t pooled() const noexcept { return used_; }
  // Bytes of the slot pages, the pool and the free list (not what values own).
  std::size_t table_bytes() const noexcept {
    return pages_.capacity() * sizeof(pages_[0]) + live_pages_ * sizeof(Page) + chunks_.size() * kChunk * sizeof(T) +
           free_.capacity() * sizeof(std::uint32_t);
  }
  // Calls f(value) for every pooled value, live or recycled (memory accounting).
  template <class F>
  void for_each_pooled(F&& f) const {
    for (std::size_t i = 0; i < used_; ++i) f(value(static_cast<std::uint32_t>(i)));
  }

  // Iterates (id, value) pairs in id order; a pair holds a reference, so
  // bind it with `const auto&` or `auto&&`.
  template <class Value>
  class Iterator {
   public:
    using Map = std::conditional_t<std::is_const_v<Value>, const DenseMap, DenseMap>;
    Iterator(Map* map, std::size_t i) : map_(map), i_(i) { skip(); }
    std::pair<Id, Value&> operator*() const {
      return {static_cast<Id>(i_), map_->value(map_->slot(static_cast<Id>(i_)) - 1)};
    }
    Iterator& operator++() {
      ++i_;
      skip();
      return *this;
    }
    bool operator==(const Iterator& o) const noexcept { return i_ == o.i_; }

   private:
    void skip() {
      const std::size_t end = map_->pages_.size() << kPageBits;
      while (i_ < end) {
        const auto& page = map_->pages_[i_ >> kPageBits];
        if (!page) {
          i_ = ((i_ >> kPageBits) + 1) << kPageBits;  // the next page's first id
          continue;
        }
        if (page->slots[i_ & (kPageIds - 1)] != kEmpty) return;
        ++i_;
      }
      i_ = end;
    }
    Map* map_;
    std::size_t i_;
  };
  Iterator<T> begin() { return {this, 0}; }
  Iterator<T> end() { return {this, pages_.size() << kPageBits}; }
  Iterator<const T> begin() const { return {this, 0}; }
  Iterator<const T> end() const { return {this, pages_.size() << kPageBits}; }

 private:
  std::uint32_t slot(Id id) const noexcept {
    const std::size_t p = id >> kPageBits;
    return p < pages_.size() && pages_[p] ? pages_[p]->slots[id & (kPageIds - 1)] : kEmpty;
  }
  T& value(std::uint32_t index) noexcept { return chunks_[index / kChunk][index % kChunk]; }
  const T& value(std::uint32_t index) const noexcept { return chunks_[index / kChunk][index % kChunk]; }

  std::vector<std::unique_ptr<Page>> pages_;
  std::size_t live_pages_ = 0;
  std::vector<std::unique_ptr<T[]>> chunks_;
  std::vector<std::uint32_t> free_;
  std::size_t used_ = 0;
  std::size_t size_ = 0;
};

// Entries of a DenseMap in the order they were last touched, linked through
// their lru_prev / lru_next ids: touching and evicting are constant time.
struct LruOrder {
  Id head = kNoId;  // least recently touched
  Id tail = kNoId;  // most recently touched

  template <class Map, class S>
  void unlink(Map& map, Id id, S& s) {
    if (s.lru_prev != kNoId) map.find(s.lru_prev)->lru_next = s.lru_next;
    else head = s.lru_next;
    if (s.lru_next != kNoId) map.find(s.lru_next)->lru_prev = s.lru_prev;
    else tail = s.lru_prev;
    s.lru_prev = s.lru_next = kNoId;
    (void)id;
  }
  // Moves id (linked or new) to the most recent end.
  template <class Map, class S>
  void touch(Map& map, Id id, S& s) {
    if (tail == id) return;
    if (s.lru_prev != kNoId || s.lru_next != kNoId || head == id) unlink(map, id, s);
    s.lru_prev = tail;
    s.lru_next = kNoId;
    if (tail != kNoId) map.find(tail)->lru_next = id;
    else head = id;
    tail = id;
  }
};

}  // namespace shoppulse::recommend_detail
