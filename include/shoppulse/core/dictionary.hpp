#pragma once
// Interns external IDs (strings) to dense integers, one table per IdKind.
//
// Threading: exactly one writer thread (the ingest thread) calls intern() and
// restore(); any thread may call name() and find(). name() is lock-free: the
// table only grows, entries are never moved, and the size is published with
// release/acquire. find() takes a shared lock per shard; the writer takes the
// exclusive lock only when it inserts a new string, so lookups of known IDs on
// the writer's own thread are lock-free too.
#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "shoppulse/core/event.hpp"

namespace shoppulse {

class InternTable {
 public:
  InternTable();
  ~InternTable();
  InternTable(const InternTable&) = delete;
  InternTable& operator=(const InternTable&) = delete;

  // Writer thread only. Returns the id and whether it was newly created.
  std::pair<Id, bool> intern(std::string_view value);
  // Writer thread only: re-creates an entry loaded from storage. Ids must be
  // restored densely in increasing order; returns false otherwise.
  bool restore(Id id, std::string_view value);

  // Any thread. Empty view for kNoId or an unknown id.
  std::string_view name(Id id) const noexcept;
  // Any thread.
  std::optional<Id> find(std::string_view value) const;
  // Any thread: number of ids handed out.
  std::size_t size() const noexcept { return size_.load(std::memory_order_acquire); }

 private:
  static constexpr std::size_t kChunkBits = 14;
  static constexpr std::size_t kChunkSize = std::size_t{1} << kChunkBits;
  static constexpr std::size_t kMaxChunks = std::size_t{1} << 18;  // 4G ids
  static constexpr std::size_t kShards = 16;

  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept;
  };
  struct Shard {
    mutable std::shared_mutex mutex;
    std::unordered_map<std::string, Id, Hash, std::equal_to<>> ids;
  };

  std::size_t shard_of(std::string_view value) const noexcept;
  Id append(std::string_view value);

  // chunks_[i] holds names of ids [i*kChunkSize+1, (i+1)*kChunkSize].
  std::unique_ptr<std::atomic<std::string*>[]> chunks_;
  std::atomic<std::size_t> size_{0};
  std::array<Shard, kShards> shards_;
};

class Dictionary {
 public:
  InternTable& table(IdKind kind) noexcept { return tables_[static_cast<std::size_t>(kind)]; }
  const InternTable& table(IdKind kind) const noexcept {
    return tables_[static_cast<std::size_t>(kind)];
  }
  std::string_view name(IdKind kind, Id id) const noexcept { return table(kind).name(id); }
  std::optional<Id> find(IdKind kind, std::string_view v) const { return table(kind).find(v); }

 private:
  std::array<InternTable, kIdKindCount> tables_;
};

}  // namespace shoppulse
