#pragma once
// Per-minute rollups kept in MongoDB as well as in the embedded store.
//
// Role: a RollupStore in front of the embedded one. Closed minutes are
// written to the embedded store first (the engine never waits on MongoDB),
// and the minute is marked for MongoDB; a writer thread upserts marked
// minutes (their newest bytes, read back from the embedded store) in bulks,
// and applies retention as a range delete. At start every minute the
// embedded store holds is marked, so whatever an outage or a crash left
// behind is backfilled; upserts by _id make that idempotent. While MongoDB is
// unreachable the "mongodb" component is unhealthy, the writer retries with
// backoff, and the marks wait (bounded by max_pending_minutes, oldest dropped
// and counted; the next start backfills them). Reads (trends, history) come
// from MongoDB when read_from_mongodb is set (storage.rollups = mongodb),
// else from the embedded store.
// Lifecycle: construct, start() spawns the writer, stop() writes what is
// marked if MongoDB answers, then joins.
// Threading: put/drop from the engine thread, scans from any thread, the
// writer thread owns the MongoDB connection pool.
#include <cstdint>
#include <memory>
#include <string>

#include "shoppulse/adapters/mongodb_store.hpp"
#include "shoppulse/core/metrics.hpp"

namespace shoppulse {

struct MongoRollupsStats {
  std::string state = "stopped";  // stopped, connecting, running, disconnected
  std::uint64_t minutes_written = 0;
  std::uint64_t minutes_dropped = 0;  // marks dropped beyond the bound
  std::uint64_t failures = 0;
  std::uint64_t reconnects = 0;
  std::uint64_t backlog = 0;          // minutes marked and not yet written
  std::string last_error;
};

class MongoRollups final : public RollupStore {
 public:
  MongoRollups(MongoConfig config, RollupStore& local, bool read_from_mongodb, std::size_t max_pending_minutes,
               std::int64_t max_backoff_ms, MetricsRegistry& metrics);
  ~MongoRollups() override;

  void start();
  void stop();
  MongoRollupsStats stats() const;

  Result<void> put_minutes(std::span<const std::pair<std::int64_t, std::string>> minutes) override;
  Result<void> scan_minutes(std::int64_t from_minute, std::int64_t to_minute,
                            const std::function<void(std::int64_t, std::string_view)>& fn) const override;
  Result<void> drop_minutes_before(std::int64_t before_minute) override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace shoppulse
