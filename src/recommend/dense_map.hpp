#pragma once
// A map from interned ids to heap-allocated values, indexed directly by id.
//
// Ids come from the Dictionary, dense from 1, so a lookup is one load from a
// slot array (8 bytes per id up to the largest seen) instead of hashing
// into a node-based table: the recommender looks up ~20 items per event.
// Values never move once inserted (pointers stay valid until erase).
// Iteration is in id order. Private to the recommend module. Threading: none.
#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "shoppulse/core/event.hpp"

namespace shoppulse::recommend_detail {

template <class T>
class DenseMap {
 public:
  T* find(Id id) noexcept { return id < slots_.size() ? slots_[id].get() : nullptr; }
  const T* find(Id id) const noexcept { return id < slots_.size() ? slots_[id].get() : nullptr; }
  bool contains(Id id) const noexcept { return find(id) != nullptr; }

  T& operator[](Id id) {
    if (id >= slots_.size()) slots_.resize(std::max<std::size_t>(std::size_t{id} + 1, slots_.size() * 3 / 2));
    auto& slot = slots_[id];
    if (!slot) {
      slot = std::make_unique<T>();
      ++size_;
    }
    return *slot;
  }

  void erase(Id id) noexcept {
    if (id < slots_.size() && slots_[id]) {
      slots_[id].reset();
      --size_;
    }
  }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  void reserve(std::size_t ids) { slots_.reserve(ids); }

  // Iterates (id, value) pairs in id order; a pair holds a reference, so
  // bind it with `const auto&` or `auto&&`.
  template <class Value>
  class Iterator {
   public:
    using Slots = std::conditional_t<std::is_const_v<Value>, const std::vector<std::unique_ptr<T>>,
                                     std::vector<std::unique_ptr<T>>>;
    Iterator(Slots* slots, std::size_t i) : slots_(slots), i_(i) { skip(); }
    std::pair<Id, Value&> operator*() const { return {static_cast<Id>(i_), *(*slots_)[i_]}; }
    Iterator& operator++() {
      ++i_;
      skip();
      return *this;
    }
    bool operator==(const Iterator& o) const noexcept { return i_ == o.i_; }

   private:
    void skip() {
      while (i_ < slots_->size() && !(*slots_)[i_]) ++i_;
    }
    Slots* slots_;
    std::size_t i_;
  };
  Iterator<T> begin() { return {&slots_, 0}; }
  Iterator<T> end() { return {&slots_, slots_.size()}; }
  Iterator<const T> begin() const { return {&slots_, 0}; }
  Iterator<const T> end() const { return {&slots_, slots_.size()}; }

 private:
  std::vector<std::unique_ptr<T>> slots_;
  std::size_t size_ = 0;
};

}  // namespace shoppulse::recommend_detail
