#pragma once
// Interns external IDs (strings) to dense integers, one table per IdKind.
//
// Threading: exactly one writer thread (the ingest thread) calls intern() and
// restore(); any thread may call name(), find() and prefetch(), all lock-free.
// Names are stored back to back in an arena of large blocks that never move
// (a length, then the bytes), and each id has one pointer to its name, in
// chunks of pointers that never move either: about 8 + 1 + length bytes per
// id instead of a std::string (32 bytes, plus a heap block for long names).
// A Taobao id such as "543462" costs 15 bytes; kept as an integer it would
// cost 8 but name() could not return a view of it. The lookup index is an
// open-addressing table of (hash tag, id) words. The writer publishes a name
// before the size, and the size before the index slot that points at it, all
// with release; readers acquire. When the index grows the writer builds a
// bigger copy and publishes its pointer; older copies stay alive (and
// unchanged) until the table is destroyed, so a reader never touches freed
// memory. Their total is smaller than the current index.
//
// hash() is the table's hash; a caller may compute it once, on its own
// thread, and pass it to the *_hashed calls (the ingestor does this before
// its single writer thread sees the strings).
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shoppulse/core/event.hpp"

namespace shoppulse {

class InternTable {
 public:
  InternTable();
  ~InternTable();
  InternTable(const InternTable&) = delete;
  InternTable& operator=(const InternTable&) = delete;

  // Any thread: the hash the table uses for value. Not stable across
  // versions; never store it.
  static std::uint64_t hash(std::string_view value) noexcept;

  // Writer thread only. Returns the id and whether it was newly created.
  std::pair<Id, bool> intern(std::string_view value) { return intern_hashed(value, hash(value)); }
  // Same, with hash == hash(value) computed by the caller.
  std::pair<Id, bool> intern_hashed(std::string_view value, std::uint64_t hash);
  // Writer thread only: re-creates an entry loaded from storage. Ids must be
  // restored densely in increasing order; returns false otherwise.
  bool restore(Id id, std::string_view value);

  // Any thread. Empty view for kNoId or an unknown id.
  std::string_view name(Id id) const noexcept;
  // Any thread.
  std::optional<Id> find(std::string_view value) const;
  // Any thread: kNoId when value has no id; hash == hash(value).
  Id find_hashed(std::string_view value, std::uint64_t hash) const noexcept;
  // Any thread: hints the cache about the index slot a lookup of hash starts at.
  void prefetch(std::uint64_t hash) const noexcept;
  // Any thread, some time after prefetch(hash): hints the cache about the
  // name a lookup of hash will compare with (read from that slot).
  void prefetch_name(std::uint64_t hash) const noexcept;
  // Any thread: number of ids handed out.
  std::size_t size() const noexcept { return size_.load(std::memory_order_acquire); }
  // Any thread: heap bytes of the names (chunks and long names) and of every
  // index published, approximately (updated after each change).
  std::size_t memory_bytes() const noexcept { return memory_bytes_.load(std::memory_order_relaxed); }

 private:
  static constexpr std::size_t kChunkBits = 14;
  static constexpr std::size_t kChunkSize = std::size_t{1} << kChunkBits;
  static constexpr std::size_t kMaxChunks = std::size_t{1} << 18;  // 4G ids
  static constexpr std::size_t kInitialSlots = 256;
  static constexpr std::size_t kArenaBlock = std::size_t{1} << 20;  // bytes per arena block

  // Slot word: (hash >> 32) << 32 | id; 0 = empty (ids start at 1).
  struct Index {
    explicit Index(std::size_t slots);
    std::size_t mask;
    std::unique_ptr<std::atomic<std::uint64_t>[]> slots;
  };

  Id append(std::string_view value);
  std::string_view name_of_published(Id id) const noexcept;
  // The slot of index where value (with hash) is, or the empty slot where it
  // would go; found tells which. Any thread, on any published index.
  std::size_t probe(const Index& index, std::string_view value, std::uint64_t hash, bool& found) const noexcept;
  void insert_new(std::string_view value, std::uint64_t hash);
  void grow();

  // chunks_[i] points at the names of ids [i*kChunkSize+1, (i+1)*kChunkSize]:
  // each a varint length followed by the bytes, in the arena.
  std::unique_ptr<std::atomic<const char**>[]> chunks_;
  std::vector<std::unique_ptr<char[]>> arena_;  // writer only; blocks never move
  char* arena_next_ = nullptr;                  // writer only: free space in the newest block
  std::size_t arena_left_ = 0;
  std::atomic<std::size_t> size_{0};
  std::atomic<const Index*> index_{nullptr};
  std::atomic<std::size_t> memory_bytes_{0};  // written by the writer only
  std::vector<std::unique_ptr<Index>> indexes_;  // writer only: every index ever published, newest last
};

class Dictionary {
 public:
  InternTable& table(IdKind kind) noexcept { return tables_[static_cast<std::size_t>(kind)]; }
  const InternTable& table(IdKind kind) const noexcept {
    return tables_[static_cast<std::size_t>(kind)];
  }
  std::string_view name(IdKind kind, Id id) const noexcept { return table(kind).name(id); }
  std::optional<Id> find(IdKind kind, std::string_view v) const { return table(kind).find(v); }
  // Any thread: the tables' memory_bytes() summed.
  std::size_t memory_bytes() const noexcept {
    std::size_t n = 0;
    for (const auto& t : tables_) n += t.memory_bytes();
    return n;
  }

 private:
  std::array<InternTable, kIdKindCount> tables_;
};

// Interns a RawEvent's strings the way the ingestor does, for offline tools
// (evaluation, benchmarks) that bypass the event log. Missing time becomes 0.
// Writer thread of the dictionary only.
Event intern_event(const RawEvent& raw, Dictionary& dictionary, Sequence sequence);

}  // namespace shoppulse
