#include "shoppulse/eventlog/memory_store.hpp"

#include <deque>
#include <map>
#include <mutex>
#include <utility>

#include "block_codec.hpp"
#include "block_index.hpp"

namespace shoppulse {

// Storage held in memory with the RocksDB store's semantics, for other
// modules' tests. Blocks are measured with the real block codec so size-based
// retention drops the same blocks as the RocksDB store would.
// Lifecycle: made by make_memory_store; everything is lost when destroyed.
// Threading: any thread; one mutex guards all state. Callbacks run without
// the lock, so they may call back into the store.
class MemoryStore final : public Storage {
 public:
  explicit MemoryStore(std::shared_ptr<MemoryStoreFaults> faults) : faults_(std::move(faults)) {}

  Result<void> append(const AppendBatch& batch) override {
    if (faults_ && faults_->fail_appends) return make_error(Errc::io_error, "memory store: injected append failure");
    if (batch.records.empty() && batch.new_entries.empty() && batch.source_offsets.empty()) return {};

    std::lock_guard lock(mutex_);
    std::optional<eventlog::BlockSummary> summary;
    if (!batch.records.empty()) {
      if (batch.records.front().event.sequence != next_sequence_) {
        return make_error(Errc::invalid_argument,
                          "append starts at sequence " + std::to_string(batch.records.front().event.sequence) +
                              ", expected " + std::to_string(next_sequence_));
      }
      auto block = eventlog::encode_block(batch.records);
      if (!block) return std::move(block).error();
      // Same accounting as the RocksDB store: an 8-byte key plus the block.
      summary = eventlog::summarize_block(next_sequence_, batch.records, 8 + block->size());
    }

    for (const DictionaryEntry& entry : batch.new_entries) {
      dictionary_[{entry.kind, entry.id}] = entry.value;
    }
    for (const SourceOffset& offset : batch.source_offsets) source_offsets_[offset.source] = offset.next_offset;
    if (summary) {
      blocks_[summary->first] =
          std::make_shared<const std::vector<LogRecord>>(batch.records.begin(), batch.records.end());
      index_.push_back(*summary);
      block_bytes_ += summary->bytes;
      next_sequence_ = summary->last + 1;
    }
    return {};
  }

  Sequence next_sequence() const override {
    std::lock_guard lock(mutex_);
    return next_sequence_;
  }

  Result<void> read(Sequence from,
                    const std::function<bool(std::span<const LogRecord>)>& fn) const override {
    // Share the immutable blocks out from under the lock, then call fn freely.
    std::vector<std::shared_ptr<const std::vector<LogRecord>>> blocks;
    {
      std::lock_guard lock(mutex_);
      auto it = blocks_.upper_bound(from);
      if (it != blocks_.begin()) --it;  // the block that may contain from
      for (; it != blocks_.end(); ++it) blocks.push_back(it->second);
    }
    for (const auto& block : blocks) {
      const Sequence first = block->front().event.sequence;
      const std::size_t skip = from > first ? std::min<std::uint64_t>(from - first, block->size()) : 0;
      if (skip == block->size()) continue;
      if (!fn(std::span<const LogRecord>(*block).subspan(skip))) break;
    }
    return {};
  }

  Result<std::vector<SourceOffset>> load_source_offsets() const override {
    std::lock_guard lock(mutex_);
    std::vector<SourceOffset> out;
    for (const auto& [source, offset] : source_offsets_) out.push_back({source, offset});
    return out;
  }

  Result<std::vector<DictionaryEntry>> load_dictionary() const override {
    std::lock_guard lock(mutex_);
    std::vector<DictionaryEntry> entries;
    entries.reserve(dictionary_.size());
    for (const auto& [key, value] : dictionary_) entries.push_back({key.first, key.second, value});
    return entries;
  }

  bool looks_up_dictionary() const override { return true; }
  Result<std::optional<Id>> find_dictionary_id(IdKind kind, std::string_view value) const override {
    std::lock_guard lock(mutex_);
    const auto it = dictionary_names_.find({kind, std::string(value)});
    if (it == dictionary_names_.end()) return std::optional<Id>();
    return std::optional<Id>(it->second);
  }
  Result<std::optional<std::string>> find_dictionary_name(IdKind kind, Id id) const override {
    std::lock_guard lock(mutex_);
    const auto it = dictionary_.find({kind, id});
    if (it == dictionary_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }

  Result<void> store_dictionary_names(std::span<const DictionaryEntry> entries) override {
    std::lock_guard lock(mutex_);
    for (const DictionaryEntry& e : entries) dictionary_names_[{e.kind, e.value}] = e.id;
    return {};
  }
  Result<void> scan_dictionary_names(IdKind kind, const std::function<void(std::string_view)>& fn) const override {
    std::vector<std::string> names;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [key, id] : dictionary_names_)
        if (key.first == kind) names.push_back(key.second);
    }
    for (const std::string& n : names) fn(n);
    return {};
  }
  Result<void> complete_dictionary_names(std::size_t keep_per_kind) override {
    std::lock_guard lock(mutex_);
    std::map<IdKind, Id> newest;
    for (const auto& [key, value] : dictionary_) newest[key.first] = std::max(newest[key.first], key.second);
    for (const auto& [key, value] : dictionary_)
      if (key.second + keep_per_kind <= newest[key.first]) dictionary_names_[{key.first, value}] = key.second;
    return {};
  }

  EventLogStats stats() const override {
    std::lock_guard lock(mutex_);
    EventLogStats stats;
    if (!index_.empty()) {
      stats.first_sequence = index_.front().first;
      stats.last_sequence = index_.back().last;
    }
    stats.blocks = index_.size();
    stats.bytes = block_bytes_;
    stats.memtable_bytes = block_bytes_;  // everything is held in memory
    return stats;
  }

  Result<std::uint64_t> apply_retention(TimestampMs now, std::int64_t max_age_ms,
                                        std::uint64_t max_bytes) override {
    std::lock_guard lock(mutex_);
    const auto plan = eventlog::plan_retention(index_, block_bytes_, now, max_age_ms, max_bytes);
    std::uint64_t dropped = 0;
    for (std::size_t i = 0; i < plan.blocks; ++i) {
      const eventlog::BlockSummary& block = index_.front();
      dropped += block.last - block.first + 1;
      blocks_.erase(block.first);
      index_.pop_front();
    }
    block_bytes_ -= plan.bytes;
    return dropped;
  }

  Result<void> put_minutes(std::span<const std::pair<std::int64_t, std::string>> minutes) override {
    std::lock_guard lock(mutex_);
    for (const auto& [minute, bytes] : minutes) rollups_[minute] = bytes;
    return {};
  }

  Result<void> scan_minutes(std::int64_t from_minute, std::int64_t to_minute,
                            const std::function<void(std::int64_t, std::string_view)>& fn) const override {
    if (from_minute >= to_minute) return {};
    std::vector<std::pair<std::int64_t, std::string>> found;
    {
      std::lock_guard lock(mutex_);
      found.assign(rollups_.lower_bound(from_minute), rollups_.lower_bound(to_minute));
    }
    for (const auto& [minute, bytes] : found) fn(minute, bytes);
    return {};
  }

  Result<void> drop_minutes_before(std::int64_t before_minute) override {
    std::lock_guard lock(mutex_);
    rollups_.erase(rollups_.begin(), rollups_.lower_bound(before_minute));
    return {};
  }

  Result<void> put_checkpoint(std::string_view name, const Checkpoint& checkpoint) override {
    std::lock_guard lock(mutex_);
    checkpoints_.insert_or_assign(std::string(name), checkpoint);
    return {};
  }

  Result<std::optional<Checkpoint>> get_checkpoint(std::string_view name) const override {
    std::lock_guard lock(mutex_);
    const auto it = checkpoints_.find(name);
    if (it == checkpoints_.end()) return std::optional<Checkpoint>();
    return std::optional<Checkpoint>(it->second);
  }

 private:
  std::shared_ptr<MemoryStoreFaults> faults_;
  mutable std::mutex mutex_;
  Sequence next_sequence_ = 1;
  std::map<Sequence, std::shared_ptr<const std::vector<LogRecord>>> blocks_;  // by first sequence
  std::deque<eventlog::BlockSummary> index_;
  std::uint64_t block_bytes_ = 0;
  std::map<std::pair<IdKind, Id>, std::string> dictionary_;
  std::map<std::pair<IdKind, std::string>, Id> dictionary_names_;
  std::map<std::string, std::int64_t> source_offsets_;
  std::map<std::int64_t, std::string> rollups_;
  std::map<std::string, Checkpoint, std::less<>> checkpoints_;
};

std::unique_ptr<Storage> make_memory_store(std::shared_ptr<MemoryStoreFaults> faults) {
  return std::make_unique<MemoryStore>(std::move(faults));
}

}  // namespace shoppulse
