#pragma once
// The raw events archived to MongoDB (mongodb.archive_events), for
// reporting that wants every event and not only the rollups.
//
// Role: a thread tails the event log and upserts every event (HTTP, import,
// generator, Kafka source alike) into the `events` collection with _id = its
// log sequence (document in mongodb_store.hpp); once a batch is written its
// last sequence is checkpointed in the embedded store ("mongodb_archive").
// After an outage or a crash it resumes from the log after that checkpoint,
// so no event is skipped; a batch written but not yet checkpointed when the
// process dies is written again, which the upsert by _id makes a no-op: each
// logged event is in the collection exactly once. Events that retention
// dropped before they were archived are counted as skipped. While MongoDB is
// unreachable the "mongodb_archive" component is unhealthy, its backlog
// grows with the log, and the thread retries with backoff.
// Lifecycle: construct, start() spawns the thread, stop() archives one more
// batch if MongoDB answers, checkpoints and joins.
// Threading: public methods from any thread; the thread owns the connection.
#include <cstdint>
#include <memory>
#include <string>

#include "shoppulse/adapters/mongodb_store.hpp"
#include "shoppulse/core/dictionary.hpp"
#include "shoppulse/core/metrics.hpp"

namespace shoppulse {

struct MongoArchiveConfig {
  std::size_t batch_max_events = 2000;  // events per checkpointed batch (bulks of mongodb.bulk_size inside)
  std::int64_t idle_poll_ms = 50;       // how often the log is looked at when caught up; ms
  std::int64_t max_backoff_ms = 5000;   // longest wait between retries; ms
};

struct MongoArchiveStats {
  std::string state = "stopped";   // stopped, connecting, running, disconnected
  Sequence archived_through = 0;   // checkpointed
  std::uint64_t archived = 0;      // events written since start
  std::uint64_t skipped = 0;       // dropped by retention before being archived
  std::uint64_t failures = 0;
  std::uint64_t reconnects = 0;
  std::uint64_t backlog = 0;       // logged events not yet archived
  std::string last_error;
};

class MongoEventArchive {
 public:
  MongoEventArchive(MongoConfig mongo, MongoArchiveConfig config, const EventLog& log, CheckpointStore& checkpoints,
                    const Dictionary& dictionary, MetricsRegistry& metrics);
  ~MongoEventArchive();
  MongoEventArchive(const MongoEventArchive&) = delete;
  MongoEventArchive& operator=(const MongoEventArchive&) = delete;

  void start();
  void stop();
  MongoArchiveStats stats() const;

  static constexpr std::string_view kCheckpointName = "mongodb_archive";

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace shoppulse
