#pragma once
// The engine's and the recommender's checkpoints kept in MongoDB
// (storage.checkpoints = mongodb), in the collections of mongodb_store.hpp.
//
// Role: a CheckpointStore that connects on first use and again after the
// server was unreachable. A checkpoint is an optimisation over the event
// log: when MongoDB cannot be read at start the caller replays the whole log,
// and a write that fails is logged, counted and replaced by the next one.
// Lifecycle: construct (no I/O); the connection lives until destruction.
// Threading: any thread; one writer per checkpoint name (the runners).
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "shoppulse/adapters/mongodb_store.hpp"
#include "shoppulse/core/metrics.hpp"

namespace shoppulse {

struct MongoCheckpointsStats {
  std::string state = "idle";  // idle (nothing read or written yet), running, disconnected (the last call failed)
  std::uint64_t written = 0;   // checkpoints stored
  std::uint64_t failures = 0;  // reads and writes that failed
  std::string last_error;      // of the latest failure; empty when none yet
};

class MongoCheckpoints final : public CheckpointStore {
 public:
  MongoCheckpoints(MongoConfig config, MetricsRegistry& metrics);

  Result<void> put_checkpoint(std::string_view name, const Checkpoint& checkpoint) override;
  Result<std::optional<Checkpoint>> get_checkpoint(std::string_view name) const override;
  MongoCheckpointsStats stats() const;

 private:
  Result<std::shared_ptr<MongoStore>> connected() const;
  // Counts the failure; drops the connection when the server no longer answers.
  void failed(const std::shared_ptr<MongoStore>& store, const std::string& detail) const;

  const MongoConfig config_;
  Counter& written_counter_;
  Counter& failure_counter_;
  mutable std::mutex connect_mutex_;  // one connection attempt at a time; taken before mutex_
  mutable std::mutex mutex_;          // guards everything below
  mutable std::shared_ptr<MongoStore> store_;
  mutable MongoCheckpointsStats stats_;
  mutable std::chrono::steady_clock::time_point retry_at_{};  // no connection attempt before this
  mutable std::chrono::milliseconds backoff_{0};
};

}  // namespace shoppulse
