#include "shoppulse/core/dictionary.hpp"

namespace shoppulse {

std::size_t InternTable::Hash::operator()(std::string_view s) const noexcept {
  // FNV-1a: fast for the short ids we see, and stable across runs.
  std::uint64_t h = 1469598103934665603ULL;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return static_cast<std::size_t>(h ^ (h >> 29));
}

InternTable::InternTable() : chunks_(new std::atomic<std::string*>[kMaxChunks]) {
  for (std::size_t i = 0; i < kMaxChunks; ++i) chunks_[i].store(nullptr, std::memory_order_relaxed);
}

InternTable::~InternTable() {
  for (std::size_t i = 0; i < kMaxChunks; ++i) delete[] chunks_[i].load(std::memory_order_relaxed);
}

std::size_t InternTable::shard_of(std::string_view value) const noexcept {
  return (Hash{}(value) >> 7) % kShards;
}

Id InternTable::append(std::string_view value) {
  const std::size_t index = size_.load(std::memory_order_relaxed);  // writer owns size_
  const std::size_t chunk = index >> kChunkBits;
  std::string* slots = chunks_[chunk].load(std::memory_order_relaxed);
  if (slots == nullptr) {
    slots = new std::string[kChunkSize];
    // release: readers that see the new size also see the chunk's construction.
    chunks_[chunk].store(slots, std::memory_order_release);
  }
  slots[index & (kChunkSize - 1)] = std::string(value);
  // release: the slot's contents are visible to any reader that loads this size.
  size_.store(index + 1, std::memory_order_release);
  return static_cast<Id>(index + 1);
}

std::pair<Id, bool> InternTable::intern(std::string_view value) {
  Shard& shard = shards_[shard_of(value)];
  // The writer is the only thread that mutates the maps, so its own lookup
  // needs no lock.
  if (auto it = shard.ids.find(value); it != shard.ids.end()) return {it->second, false};
  const Id id = append(value);
  std::unique_lock lock(shard.mutex);
  shard.ids.emplace(std::string(value), id);
  return {id, true};
}

bool InternTable::restore(Id id, std::string_view value) {
  if (id != size_.load(std::memory_order_relaxed) + 1) return false;
  Shard& shard = shards_[shard_of(value)];
  if (shard.ids.count(value) != 0) return false;
  append(value);
  std::unique_lock lock(shard.mutex);
  shard.ids.emplace(std::string(value), id);
  return true;
}

std::string_view InternTable::name(Id id) const noexcept {
  if (id == kNoId || id > size_.load(std::memory_order_acquire)) return {};
  const std::size_t index = id - 1;
  const std::string* slots = chunks_[index >> kChunkBits].load(std::memory_order_acquire);
  return slots[index & (kChunkSize - 1)];
}

std::optional<Id> InternTable::find(std::string_view value) const {
  const Shard& shard = shards_[shard_of(value)];
  std::shared_lock lock(shard.mutex);
  if (auto it = shard.ids.find(value); it != shard.ids.end()) return it->second;
  return std::nullopt;
}

}  // namespace shoppulse
