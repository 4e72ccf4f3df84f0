#pragma once
// The users of a closed 1-second bucket with their type masks, packed.
//
// Role: a closed second is read again only whole, as it crosses a window
// boundary (tier.hpp), and keeps its users for the 30 minutes of the fine
// tier. In a FlatMap<uint8_t> a user takes 5 bytes a slot at a load of
// 3/8 to 3/4, 7 to 13 bytes; packed, ascending ids as varint gaps, about 2.
// Encoding: per user, varint((gap << 1) | same), where gap is the id minus
// the previous one (the first from 0) and `same` says the mask equals the
// previous user's; without `same`, one byte of mask follows. A mask is never
// 0, so the first user always writes its own.
// Lifecycle: built by Bucket::pack_users, dropped when the bucket takes an
// event again (Bucket::unpack_users) or is reset. Threading: the engine
// thread.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "shoppulse/core/event.hpp"
#include "shoppulse/core/flat_map.hpp"
#include "shoppulse/core/prefetch.hpp"

namespace shoppulse::windows {

class PackedUsers {
 public:
  using Entry = std::pair<Id, std::uint8_t>;

  // Buffers reused from one pack() to the next (the owner's).
  struct Scratch {
    std::vector<Entry> entries;
    std::vector<std::uint8_t> bytes;
  };

  // The map's users.
  static PackedUsers pack(const FlatMap<std::uint8_t>& users, Scratch& scratch) {
    std::vector<Entry>& sorted = scratch.entries;
    sorted.clear();
    sorted.reserve(users.size());
    users.for_each([&](Id u, std::uint8_t m) { sorted.emplace_back(u, m); });
    std::sort(sorted.begin(), sorted.end());
    // At most 5 bytes of varint and 1 of mask a user.
    std::vector<std::uint8_t>& out = scratch.bytes;
    out.clear();
    out.reserve(sorted.size() * 6);
    Id previous = 0;
    std::uint8_t previous_mask = 0;
    for (const auto& [u, m] : sorted) {
      std::uint64_t v = std::uint64_t{u - previous} << 1 | (m == previous_mask ? 1u : 0u);
      while (v >= 0x80) {
        out.push_back(static_cast<std::uint8_t>((v & 0x7F) | 0x80));
        v >>= 7;
      }
      out.push_back(static_cast<std::uint8_t>(v));
      if (m != previous_mask) out.push_back(m);
      previous = u;
      previous_mask = m;
    }
    PackedUsers p;
    p.count_ = static_cast<std::uint32_t>(sorted.size());
    p.size_ = out.size();
    p.bytes_ = std::make_unique_for_overwrite<std::uint8_t[]>(out.size());
    std::copy(out.begin(), out.end(), p.bytes_.get());
    return p;
  }

  // A cache hint for the first lines of the bytes (two a user at least).
  void prefetch() const noexcept {
    if (count_ != 0) prefetch_lines(bytes_.get(), std::size_t{count_} * 2);
  }
  std::size_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }
  std::size_t memory_bytes() const noexcept { return size_; }

  // f(user, mask) for every user, ascending ids.
  template <class F>
  void for_each(F&& f) const {
    const std::uint8_t* p = bytes_.get();
    Id user = 0;
    std::uint8_t mask = 0;
    for (std::uint32_t i = 0; i < count_; ++i) {
      std::uint64_t v = 0;
      for (unsigned shift = 0;; shift += 7) {
        const std::uint8_t b = *p++;
        v |= std::uint64_t{b & 0x7Fu} << shift;
        if ((b & 0x80) == 0) break;
      }
      user += static_cast<Id>(v >> 1);
      if ((v & 1) == 0) mask = *p++;
      f(user, mask);
    }
  }

 private:
  std::unique_ptr<std::uint8_t[]> bytes_;
  std::size_t size_ = 0;
  std::uint32_t count_ = 0;
};

}  // namespace shoppulse::windows
