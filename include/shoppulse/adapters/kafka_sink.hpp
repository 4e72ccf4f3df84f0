#pragma once
// The event log published to Kafka: an outbox for scale-out.
//
// Role: a thread tails the event log and publishes every event (HTTP,
// import, generator, Kafka source alike) to kafka.sink_topic, keyed by
// user_id, through an idempotent producer with acks=all; once a batch is
// acknowledged its last sequence is checkpointed ("kafka_sink" in the
// checkpoint store). After a crash or a broker outage it resumes from the
// log after that checkpoint, so no event is skipped; an event acknowledged
// but not yet checkpointed when the process dies is published again
// (at-least-once; within one producer lifetime the idempotent producer keeps
// retries from doubling). Events that retention dropped before they were
// published are counted as skipped. Optionally, every snapshot_interval the
// newest live snapshot (the dashboard's broadcast JSON) goes to
// kafka.snapshots_topic, newest-only.
// Message value: the event as JSON with the fields of POST /api/events plus
// "sequence"; key: the user id.
// Lifecycle: construct, start() spawns the thread, stop() publishes what it
// has read, checkpoints and joins (the "kafka_sink" component).
// Threading: public methods from any thread; the thread owns the producer.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "shoppulse/core/clock.hpp"
#include "shoppulse/core/dictionary.hpp"
#include "shoppulse/core/metrics.hpp"
#include "shoppulse/eventlog/storage.hpp"

namespace shoppulse {

struct KafkaSinkConfig {
  std::string servers;                    // bootstrap servers
  std::string topic;                      // events topic; empty: no sink
  std::string snapshots_topic;            // snapshots topic; empty: none
  std::size_t batch_max_events = 20000;   // events per acknowledged batch (one checkpoint each)
  std::int64_t idle_poll_ms = 50;         // how often the log is looked at when caught up; ms
  std::int64_t snapshot_interval_ms = 1000;  // snapshot period; ms
  std::int64_t max_backoff_ms = 5000;     // longest wait between retries; ms
};

struct KafkaSinkStats {
  std::string state = "stopped";  // stopped, running, disconnected
  Sequence published_through = 0;   // checkpointed
  std::uint64_t published = 0;      // events acknowledged since start
  std::uint64_t skipped = 0;        // dropped by retention before being published
  std::uint64_t snapshots = 0;
  std::uint64_t failures = 0;
  std::uint64_t restarts = 0;       // recoveries after failures
  std::uint64_t backlog = 0;        // logged events not yet published
  std::string last_error;
};

class KafkaSink {
 public:
  // snapshot_json renders the newest snapshot (called on the sink's thread).
  KafkaSink(KafkaSinkConfig config, const EventLog& log, CheckpointStore& checkpoints, const Dictionary& dictionary,
            std::function<std::string()> snapshot_json, const Clock& clock, MetricsRegistry& metrics);
  ~KafkaSink();
  KafkaSink(const KafkaSink&) = delete;
  KafkaSink& operator=(const KafkaSink&) = delete;

  void start();
  void stop();
  KafkaSinkStats stats() const;

  static constexpr std::string_view kCheckpointName = "kafka_sink";

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The JSON message of one logged event (exposed for tests).
std::string event_message(const LogRecord& record, const Dictionary& dictionary);

}  // namespace shoppulse
