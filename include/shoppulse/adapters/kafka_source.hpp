#pragma once
// Events from a Kafka topic into the event log, exactly once.
//
// Role: consumes every partition of a topic of JSON events (one event per
// message, the fields and rules of POST /api/events) and hands them to the
// ingestor in batches together with each partition's next offset, which the
// ingestor stores in the same event-log write as the events. At start the
// consumer seeks every partition to the offset stored in the log (without
// one: the group's committed offset, else the earliest), so a crash between
// the append and anything after it neither loses nor repeats an event. After
// each append the offsets are also committed to the consumer group, for the
// usual lag tools; the log's copy is the one that counts. The next batch is
// read and parsed while up to batches_in_flight earlier ones are at the
// ingestor; they reach the log in the order read, none after a failed one.
// A message that is not a valid event goes to the dead-letter topic with the
// reason in its "reason" header (and its origin in "source.topic",
// "source.partition", "source.offset"), is counted and never stalls its
// partition; the dead-letter producer is flushed before the offsets past the
// message are stored, so the dead letter is delivered at least once.
// When ingest is full the partitions are paused, not dropped, and resumed
// once the batch is taken. When the broker is unreachable the component is
// unhealthy with the reason; librdkafka reconnects with backoff and the
// consumer resumes from its position.
// In cluster mode (KafkaConfig::subscribe) the consumer joins the group with
// the cooperative-sticky assignor instead. A partition gained starts at the
// offset this node's log stored for it, else at its first offset (never at
// the group's committed offset: the owner's derived state counts every event
// of the partition, so its log must hold all of them). Before a revoked
// partition is let go, the batch being read and every batch in flight are
// appended and the log's offsets of the revoked partitions are committed to
// the group synchronously (for lag tools); messages of a partition already
// revoked are not appended. Every change of the assignment is reported to
// KafkaConfig::on_assignment, which sets the partitions derived state
// counts (see README, Cluster).
// Lifecycle: construct, start() spawns the consumer thread, stop() finishes
// the batches in hand, then joins; start() again resumes from the stored
// offsets (the "kafka_source" component's start/stop).
// Threading: every public method is callable from any thread; the consumer
// thread alone owns the librdkafka handles.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "shoppulse/core/clock.hpp"
#include "shoppulse/core/metrics.hpp"
#include "shoppulse/eventlog/storage.hpp"
#include "shoppulse/ingest/ingestor.hpp"

namespace shoppulse {

struct KafkaConfig {
  std::string servers;                                      // bootstrap servers, host:port,...; empty: no Kafka (env KAFKA_SERVERS)
  std::string topic = "user_behavior_events";               // consumed topic
  std::string group = "shoppulse";                          // consumer group the offsets are also committed to
  std::string dead_letter_topic = "user_behavior_events.dead_letter";  // malformed messages go here
  std::size_t batch_max_messages = 20000;                   // most messages per hand-off to ingest
  std::int64_t batch_max_wait_ms = 50;                      // longest wait filling a batch; ms
  std::size_t batches_in_flight = 2;                        // most batches handed to ingest and not yet appended; batches
  std::size_t fetch_queue_kbytes = 262144;                  // most message bytes prefetched, all partitions together, before fetching stops; KiB
  std::int64_t max_backoff_ms = 5000;                       // longest wait between reconnects and retries; ms
  std::int64_t max_future_ms = 300000;                      // as ingest.max_future; ms
  // Cluster mode (cluster.enabled): join kafka.group with subscribe() and the
  // cooperative-sticky assignor and consume only the partitions the group
  // assigns; false: every partition of the topic (assign()).
  bool subscribe = false;
  // Subscribe mode: called on the consumer thread after every change of the
  // assignment with the partitions assigned now and the topic's partition
  // count (cluster mode: the partitions this node's derived state counts).
  std::function<void(const std::vector<std::int32_t>&, std::uint32_t)> on_assignment;
};

struct KafkaSourceStats {
  std::string state = "stopped";  // stopped, connecting, running, paused, disconnected
  std::uint64_t consumed = 0;       // messages read
  std::uint64_t appended = 0;       // events added to the log
  std::uint64_t duplicates = 0;     // events the log already had
  std::uint64_t dead_lettered = 0;  // malformed messages sent to the dead-letter topic
  std::uint64_t pauses = 0;         // times partitions were paused because ingest was full
  std::uint64_t failures = 0;       // broker errors and failed hand-offs
  std::uint64_t restarts = 0;       // reconnections after the broker was down
  std::uint64_t lag = 0;            // messages behind the partitions' ends (as last fetched)
  // The same by partition: (partition, messages behind its end), in the
  // assignment's order; a partition whose end could not be asked is absent.
  std::vector<std::pair<std::int32_t, std::uint64_t>> partition_lag;
  // Waits of the consumer thread. A fetch wait: librdkafka had fewer
  // messages ready than asked for while the broker held more (the
  // partitions' ends as last fetched lay past what was read afterwards),
  // so the thread waited for a fetch to come back or to start.
  std::uint64_t fetch_waits = 0;
  std::chrono::microseconds fetch_wait{0};          // their total
  std::chrono::microseconds longest_fetch_wait{0};  // the longest one
  // An ingest wait: the oldest batch at the ingestor was not appended yet
  // when the consumer needed its answer (kafka.batches_in_flight reached).
  std::uint64_t ingest_waits = 0;
  std::chrono::microseconds ingest_wait{0};
  std::uint32_t partitions = 0;         // of the topic
  std::vector<std::int32_t> assigned;  // partitions consumed now (all of them unless subscribing)
  // Subscribe mode: partitions gained that are not read yet up to the end
  // they had when they were gained (their backlog is still being read).
  std::vector<std::int32_t> catching_up;
  std::uint64_t rebalances = 0;        // assignments and revocations handled (subscribe mode)
  // Revocations whose offsets the group refused to commit (subscribe mode):
  // the next owner may append again what this node appended last.
  std::uint64_t handover_failures = 0;
  std::string last_error;
};

class KafkaSource {
 public:
  KafkaSource(KafkaConfig config, Ingestor& ingestor, const EventLog& log, const Clock& clock,
              MetricsRegistry& metrics);
  ~KafkaSource();
  KafkaSource(const KafkaSource&) = delete;
  KafkaSource& operator=(const KafkaSource&) = delete;

  void start();
  void stop();
  KafkaSourceStats stats() const;

  // The log's name for a partition's offset: "kafka/<topic>/<partition>".
  static std::string offset_name(std::string_view topic, std::int32_t partition);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace shoppulse
