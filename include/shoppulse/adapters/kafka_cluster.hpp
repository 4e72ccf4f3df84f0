#pragma once
// Cluster mode on Kafka: the write path to the events topic and the
// membership of the nodes (cluster.enabled; see README, Cluster).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "shoppulse/core/clock.hpp"
#include "shoppulse/core/event.hpp"
#include "shoppulse/core/metrics.hpp"
#include "shoppulse/core/result.hpp"
#include "shoppulse/ingest/ingestor.hpp"

namespace shoppulse {

struct ClusterConfig {
  bool enabled = false;                  // false: one node, exactly as without a cluster
  std::string advertise;                 // this node's HTTP address as others reach it; empty: http.host:<bound port>
  std::string node_id;                   // empty: generated once and kept in the data dir
  std::int64_t produce_timeout_ms = 5000;   // a batch not acknowledged by then answers 503; ms
  std::int64_t member_interval_ms = 1000;   // how often this node publishes its member record; ms
  std::int64_t member_timeout_ms = 5000;    // a member not heard from for this long counts as gone; ms
  // The events topic must keep messages at least this long (its
  // retention.ms, checked at start), so a node gaining a partition can read
  // it from its first offset and still cover the longest window; 0: not
  // checked. ms; default 24 h (the longest window).
  std::int64_t min_retention_ms = 24LL * 3600 * 1000;
  std::int64_t query_timeout_ms = 2000;     // longest wait for a member's part of a query (README, Queries); ms
  // A file holding an API key with the read scope (valid on every node)
  // that this node sends when it asks the members on its own behalf (the
  // WebSocket push); empty: none. Needed when keys are required.
  std::string key_file;
};

// The write path of cluster mode.
// Role: produces every event of an accepted batch (HTTP, import, generator)
// to the events topic keyed by user_id (idempotent producer, acks=all) and
// completes the batch once Kafka acknowledged all of it, or with an error
// (unavailable: 503 with Retry-After) when any message is not acknowledged
// within cluster.produce_timeout. Nothing is written to the local log here:
// events reach it through the consumer group (KafkaSource, subscribe mode).
// An event without a timestamp gets the time it is produced, so every
// reader of the topic sees the same one.
// Lifecycle: construct, start() creates the producer and the thread that
// serves its delivery reports; stop() waits (at most the produce timeout)
// for what is in flight, then joins.
// Threading: submit() from any thread, never blocks; done runs on the
// writer's thread, or on the submitting one when every report came back
// before submit() returned.
class ClusterWriter {
 public:
  // queue_messages: librdkafka's producer queue (queue.buffering.max.messages).
  ClusterWriter(std::string servers, std::string topic, ClusterConfig config, const Clock& clock,
                MetricsRegistry& metrics, std::size_t queue_messages = kDefaultQueueMessages);
  static constexpr std::size_t kDefaultQueueMessages = 1'000'000;
  ~ClusterWriter();
  ClusterWriter(const ClusterWriter&) = delete;
  ClusterWriter& operator=(const ClusterWriter&) = delete;

  Result<void> start();
  void stop();
  // overloaded when librdkafka's queue is full, unavailable when stopped;
  // on success done runs once every event is acknowledged or has failed.
  Result<void> submit(std::vector<RawEvent>&& events, IngestDone done);
  // Blocks until `events` more fit in the producer queue (Kafka acknowledged
  // or failed enough of the queued ones), the writer stops, or the deadline
  // passes; true when they fit. What an importer does after `overloaded`.
  bool wait_for_room(std::size_t events, std::chrono::steady_clock::time_point deadline);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The JSON message of one event as produced to the events topic: the fields
// of POST /api/events (exposed for tests).
std::string raw_event_message(const RawEvent& event);

// What one node says about itself in the members topic.
struct MemberRecord {
  std::string node_id;
  std::string advertise;
  std::vector<std::int32_t> partitions;  // of the events topic, consumed by the node now
  std::uint64_t lag = 0;                 // messages behind the ends of those partitions
  // The same by partition (published as partition_lag: {"<partition>": messages}).
  std::vector<std::pair<std::int32_t, std::uint64_t>> partition_lag;
  std::vector<std::int32_t> owned;       // partitions the node's derived state covers now
  bool rebuilding = false;               // its derived state is being rebuilt for a new set of partitions
  std::vector<std::int32_t> catching_up;  // gained partitions whose backlog the node is still reading
  // While rebuilding: the share of its log the windows' rebuild has read
  // (0 to 1; published as rebuild_progress only while rebuilding).
  double rebuild_progress = 0;
};

// Appends the record's derived-state fields as the member records and
// GET /api/cluster write them: ,"owned":[...],"rebuilding":true|false, then
// ,"rebuild_progress":0.000 to 1.000 while rebuilding, ,"catching_up":[...].
void append_derived_state_json(std::string& out, const MemberRecord& r);

// Membership of the cluster.
// Role: a compacted topic "<events topic>.members" (created at start when
// missing; one partition), key = node id, value = JSON {node_id, advertise,
// partitions, lag, owned, rebuilding, catching_up, updated_ms}. Every member_interval this node publishes
// its record; a thread reads the whole topic from the beginning and keeps
// the newest record per node; a clean stop publishes a tombstone (empty
// value). A member not updated within member_timeout counts as gone
// ("current": false).
// Lifecycle: construct, start() spawns the thread, stop() publishes the
// tombstone and joins.
// Threading: render() from any thread; the thread owns the clients.
class ClusterMembers {
 public:
  ClusterMembers(std::string servers, std::string events_topic, ClusterConfig config,
                 std::function<MemberRecord()> self, const Clock& clock);
  ~ClusterMembers();
  ClusterMembers(const ClusterMembers&) = delete;
  ClusterMembers& operator=(const ClusterMembers&) = delete;

  void start();
  void stop();
  // The "members" array of GET /api/cluster: every node with a record,
  // in node id order, each with "current".
  std::string members_json() const;
  std::string last_error() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The events topic's retention.ms as the brokers describe it (Kafka's
// DescribeConfigs); -1 when unlimited. unavailable when the brokers do not
// answer within timeout_ms or the topic is not there.
Result<std::int64_t> topic_retention_ms(const std::string& servers, const std::string& topic, int timeout_ms);

// The node id kept in data_dir ("cluster_node_id"), created there when
// missing: 16 hex digits from the system's random source.
Result<std::string> stored_node_id(const std::string& data_dir);

}  // namespace shoppulse
