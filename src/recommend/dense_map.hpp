#pragma once
// A map from interned ids to values, indexed directly by id, with the values
// in a pool that recycles erased ones.
//
// Ids come from the Dictionary, dense from 1, so a lookup is a few loads: an
// IdSlots index (4-byte slots in pages of 4,096 ids, kept only where ids are
// present) names a value in a pool of fixed-size chunks (instead of hashing
// into a node-based table). A map bounded to its most recent ids (the
// recommender's 200k items among millions ever seen) holds the pages of
// those ids, not a slot for every id up to the largest. Values
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
#include "shoppulse/core/id_slots.hpp"
#include "shoppulse/core/prefetch.hpp"

namespace shoppulse::recommend_detail {

template <class T>
class DenseMap {
  static constexpr std::size_t kChunk = 4096;  // values per pool chunk

 public:
  T* find(Id id) noexcept {
    const std::uint32_t s = slots_.get(id);
    return s != 0 ? &value(s - 1) : nullptr;
  }
  const T* find(Id id) const noexcept {
    const std::uint32_t s = slots_.get(id);
    return s != 0 ? &value(s - 1) : nullptr;
  }
  bool contains(Id id) const noexcept { return find(id) != nullptr; }
  // A cache hint for the id's value (the cache lines it spans), for a
  // lookup some time later. Loads the id's slot now.
  void prefetch(Id id) const noexcept {
    if (const T* v = find(id)) prefetch_lines(v, sizeof(T));
  }
  // A cache hint for the id's index entry only, without waiting for it:
  // the first half of a prefetch() a step later.
  void prefetch_slot(Id id) const noexcept { slots_.prefetch(id); }

  T& operator[](Id id) {
    std::uint32_t s = slots_.get(id);
    if (s == 0) {
      std::uint32_t index;
      if (!free_.empty()) {
        index = free_.back();
        free_.pop_back();
      } else {
        if (used_ == chunks_.size() * kChunk) chunks_.push_back(std::make_unique<T[]>(kChunk));
        index = static_cast<std::uint32_t>(used_++);
      }
      s = index + 1;
      slots_.set(id, s);
      ++size_;
    }
    return value(s - 1);
  }

  void erase(Id id) {
    const std::uint32_t s = slots_.erase(id);
    if (s == 0) return;
    value(s - 1).clear();
    free_.push_back(s - 1);
    --size_;
  }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  // Pool values ever created (live and recycled): what the map holds in memory.
  std::size_t pooled() const noexcept { return used_; }
  // Bytes of the index, the pool and the free list (not what values own).
  std::size_t table_bytes() const noexcept {
    return slots_.memory_bytes() + chunks_.size() * kChunk * sizeof(T) + free_.capacity() * sizeof(std::uint32_t);
  }
  // Calls f(value) for every pooled value, live or recycled (memory accounting).
  template <class F>
  void for_each_pooled(F&& f) const {
    for (std::size_t i = 0; i < used_; ++i) f(value(static_cast<std::uint32_t>(i)));
  }

  // f(id, value) for every entry in id order, as the iterators give them,
  // for a walk over a large map whose values (in the pool, in the order
  // they were inserted) and what they point to would each be a cache miss:
  // a value is asked for 2 * kAhead entries before its turn, and `inner`
  // (which asks for what the value points to) runs kAhead entries before.
  template <class F, class Inner>
  void for_each_ahead(F&& f, Inner&& inner) const {
    static constexpr std::size_t kAhead = 8;
    Lookahead<std::pair<Id, const T*>, 2 * kAhead> entries;
    const auto use = [&f](const std::pair<Id, const T*>& e) { f(e.first, *e.second); };
    for (auto it = begin(), e = end(); it != e; ++it) {
      const auto& [id, v] = *it;
      prefetch_lines(&v, sizeof(T));
      if (const auto* half_way = entries.back(kAhead)) inner(*half_way->second);
      entries.push({id, &v}, use);
    }
    entries.drain(use);
  }

  // Iterates (id, value) pairs in id order; a pair holds a reference, so
  // bind it with `const auto&` or `auto&&`.
  template <class Value>
  class Iterator {
   public:
    using Map = std::conditional_t<std::is_const_v<Value>, const DenseMap, DenseMap>;
    Iterator(Map* map, std::size_t i) : map_(map), i_(map->slots_.next(i)) {}
    std::pair<Id, Value&> operator*() const {
      return {static_cast<Id>(i_), map_->value(map_->slots_.get(static_cast<Id>(i_)) - 1)};
    }
    Iterator& operator++() {
      i_ = map_->slots_.next(i_ + 1);
      return *this;
    }
    bool operator==(const Iterator& o) const noexcept { return i_ == o.i_; }

   private:
    Map* map_;
    std::size_t i_;
  };
  Iterator<T> begin() { return {this, 0}; }
  Iterator<T> end() { return {this, slots_.id_end()}; }
  Iterator<const T> begin() const { return {this, 0}; }
  Iterator<const T> end() const { return {this, slots_.id_end()}; }

 private:
  T& value(std::uint32_t index) noexcept { return chunks_[index / kChunk][index % kChunk]; }
  const T& value(std::uint32_t index) const noexcept { return chunks_[index / kChunk][index % kChunk]; }

  IdSlots slots_;  // id -> pool index + 1
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

  // Evicting from the head walks the order one entry at a time, and each
  // entry's neighbour is a cache miss twice over (its index entry, then its
  // state) on a map of millions of ids. Called before evicting the head,
  // this starts loading the state of the entry after it (which unlink()
  // writes), whose index entry prefetch_after_next() asked for at the last
  // eviction; then, with the new head's state in cache, that one asks for
  // the index entry of the entry after the new head. An evicting map so
  // waits for neither.
  template <class Map>
  void prefetch_next(const Map& map) const noexcept {
    if (head == kNoId) return;
    if (const auto* s = map.find(head); s && s->lru_next != kNoId) map.prefetch(s->lru_next);
  }
  // Touching an entry already in the order rewrites its two neighbours,
  // each a cache miss twice over. For an entry touched two steps later,
  // prefetch_neighbour_slots() asks for their index entries (the entry's own
  // state is in cache by then); a step later, prefetch_neighbours() for
  // the line of their states that holds the links, the only part touching
  // writes (a whole state is four or five lines, and the cache can have
  // only so many misses in flight). Hints only: a neighbour that changes in
  // between is touched uncached, as without them.
  template <class Map>
  void prefetch_neighbour_slots(const Map& map, Id id) const noexcept {
    const auto* s = map.find(id);
    if (!s) return;
    if (s->lru_prev != kNoId) map.prefetch_slot(s->lru_prev);
    if (s->lru_next != kNoId) map.prefetch_slot(s->lru_next);
  }
  template <class Map>
  void prefetch_neighbours(const Map& map, Id id) const noexcept {
    const auto* s = map.find(id);
    if (!s) return;
    for (const Id n : {s->lru_prev, s->lru_next})
      if (const auto* v = n == kNoId ? nullptr : map.find(n)) prefetch_lines(&v->lru_prev, 2 * sizeof(Id));
  }
  template <class Map>
  void prefetch_after_next(const Map& map) const noexcept {
    if (head == kNoId) return;
    if (const auto* s = map.find(head); s && s->lru_next != kNoId) map.prefetch_slot(s->lru_next);
  }
};

}  // namespace shoppulse::recommend_detail
