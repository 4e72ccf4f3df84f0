#pragma once
// A Storage over another that lets a test step through a start-up: read()
// hands the log out in chunks of a fixed size and, while held, waits for the
// test to allow each next chunk; get_checkpoint() can be held until released.
// So a test can act (queue a query, look at the state) at a known point in a
// replay or while a checkpoint is being read, without sleeping.
// Threading: any thread; the waits use one mutex and condition variable.
#include <condition_variable>
#include <cstddef>
#include <limits>
#include <mutex>
#include <vector>

#include "shoppulse/eventlog/storage.hpp"

namespace shoppulse::testing {

class SteppedStorage final : public Storage {
 public:
  SteppedStorage(Storage& inner, std::size_t chunk) : inner_(inner), chunk_(chunk) {}

  // Chunks read() may deliver, counted over all reads; unlimited until set.
  void allow_chunks(std::size_t n) {
    {
      std::lock_guard lock(mutex_);
      allowed_ = n;
    }
    changed_.notify_all();
  }
  void allow_all() { allow_chunks(std::numeric_limits<std::size_t>::max()); }
  // Chunks whose callback has returned.
  std::size_t delivered() const {
    std::lock_guard lock(mutex_);
    return delivered_;
  }
  // Waits until `n` chunks were delivered; false after 10 s.
  bool wait_delivered(std::size_t n) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return delivered_ >= n; });
  }

  void hold_checkpoints() {
    std::lock_guard lock(mutex_);
    checkpoints_held_ = true;
  }
  void release_checkpoints() {
    {
      std::lock_guard lock(mutex_);
      checkpoints_held_ = false;
    }
    changed_.notify_all();
  }
  // Waits until a get_checkpoint() call is held; false after 10 s.
  bool wait_checkpoint_requested() const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return checkpoint_waiting_; });
  }

  Result<void> append(const AppendBatch& batch) override { return inner_.append(batch); }
  Sequence next_sequence() const override { return inner_.next_sequence(); }
  Result<void> read(Sequence from, const std::function<bool(std::span<const LogRecord>)>& fn) const override {
    std::vector<LogRecord> all;
    auto read = inner_.read(from, [&](std::span<const LogRecord> records) {
      all.insert(all.end(), records.begin(), records.end());
      return true;
    });
    if (!read) return read;
    for (std::size_t at = 0; at < all.size(); at += chunk_) {
      {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return delivered_ < allowed_; });
      }
      const std::size_t n = std::min(chunk_, all.size() - at);
      const bool more = fn(std::span<const LogRecord>(all.data() + at, n));
      {
        std::lock_guard lock(mutex_);
        ++delivered_;
      }
      changed_.notify_all();
      if (!more) break;
    }
    return {};
  }
  Result<std::vector<DictionaryEntry>> load_dictionary() const override { return inner_.load_dictionary(); }
  Result<std::vector<SourceOffset>> load_source_offsets() const override { return inner_.load_source_offsets(); }
  std::uint64_t incarnation() const override { return inner_.incarnation(); }
  bool still_names_same_event(std::uint64_t incarnation, Sequence sequence) const override {
    return inner_.still_names_same_event(incarnation, sequence);
  }
  EventLogStats stats() const override { return inner_.stats(); }
  Result<std::uint64_t> apply_retention(TimestampMs now, std::int64_t max_age_ms, std::uint64_t max_bytes) override {
    return inner_.apply_retention(now, max_age_ms, max_bytes);
  }

  Result<void> put_minutes(std::span<const std::pair<std::int64_t, std::string>> minutes) override {
    return inner_.put_minutes(minutes);
  }
  Result<void> scan_minutes(std::int64_t from, std::int64_t to,
                            const std::function<void(std::int64_t, std::string_view)>& fn) const override {
    return inner_.scan_minutes(from, to, fn);
  }
  Result<void> drop_minutes_before(std::int64_t before) override { return inner_.drop_minutes_before(before); }

  Result<void> put_checkpoint(std::string_view name, const Checkpoint& checkpoint) override {
    return inner_.put_checkpoint(name, checkpoint);
  }
  Result<std::optional<Checkpoint>> get_checkpoint(std::string_view name) const override {
    {
      std::unique_lock lock(mutex_);
      checkpoint_waiting_ = checkpoints_held_;
      changed_.notify_all();
      changed_.wait(lock, [&] { return !checkpoints_held_; });
      checkpoint_waiting_ = false;
    }
    return inner_.get_checkpoint(name);
  }

 private:
  Storage& inner_;
  const std::size_t chunk_;
  mutable std::mutex mutex_;  // guards the fields below
  mutable std::condition_variable changed_;
  std::size_t allowed_ = std::numeric_limits<std::size_t>::max();
  mutable std::size_t delivered_ = 0;
  bool checkpoints_held_ = false;
  mutable bool checkpoint_waiting_ = false;
};

}  // namespace shoppulse::testing
