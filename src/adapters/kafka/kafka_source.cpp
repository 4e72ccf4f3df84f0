#include "shoppulse/adapters/kafka_source.hpp"

#include <librdkafka/rdkafka.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "rdkafka_handles.hpp"
#include "shoppulse/core/log.hpp"
#include "shoppulse/core/owner_thread.hpp"
#include "shoppulse/ingest/event_parser.hpp"

namespace shoppulse {
namespace {

const Logger kLog("kafka");
constexpr std::int64_t kFirstBackoffMs = 100;
constexpr int kMetadataTimeoutMs = 5000;
constexpr std::size_t kFirstBatchMessages = 1024;  // a connection's first batch; see consume()
constexpr std::int64_t kLagIntervalMs = 1000;
constexpr std::int64_t kIngestPatienceMs = 500;  // a hand-off not taken by then pauses the partitions

constexpr std::int64_t kHoleSeekRetryMs = 1000;  // a partition's seek past a hole is asked again after this
constexpr std::size_t kPollChunk = 4096;  // most messages taken from librdkafka per call

// Messages read from the topic for one hand-off: their events and, per
// partition, the offset after the last message read (-1: none).
struct Batch {
  std::vector<RawEvent> events;
  std::vector<std::int64_t> next;  // by partition
  std::size_t messages = 0;        // read, malformed ones included
  std::uint64_t dead = 0;          // sent to the dead-letter topic

  void reset(std::int32_t partitions) {
    events.clear();  // keeps the capacity for the next batch
    next.assign(std::size_t(partitions), -1);
    messages = 0;
    dead = 0;
  }
  void note_offset(std::int32_t partition, std::int64_t next_offset) {
    if (std::size_t(partition) >= next.size()) next.resize(std::size_t(partition) + 1, -1);
    next[std::size_t(partition)] = next_offset;
  }
  std::vector<SourceOffset> offsets(const std::string& topic) const {
    std::vector<SourceOffset> out;
    for (std::size_t p = 0; p < next.size(); ++p)
      if (next[p] >= 0) out.push_back({KafkaSource::offset_name(topic, std::int32_t(p)), next[p]});
    return out;
  }
};

// The ingest thread's answer to one hand-off, waited for by the consumer.
struct Handoff {
  std::mutex mutex;
  std::condition_variable done;
  std::optional<Result<IngestReceipt>> result;
};

// A batch at the ingestor and the answer it will get.
struct Flight {
  Batch batch;
  std::shared_ptr<Handoff> answer;
};

}  // namespace

struct KafkaSource::State {
  KafkaConfig config;
  Ingestor& ingestor;
  const EventLog& log;
  const Clock& clock;
  Counter& consumed_counter;
  Counter& dead_letter_counter;
  Counter& pause_counter;

  mutable std::mutex mutex;  // guards stats and the thread flags
  std::condition_variable wake;
  OwnerThread thread;
  KafkaSourceStats stats;
  bool broker_down = false;   // consumer thread (via the error callback) under mutex
  bool ever_connected = false;
  bool paused = false;                           // consumer thread: the partitions are paused
  std::vector<rd_kafka_message_t*> chunk_ = std::vector<rd_kafka_message_t*>(kPollChunk);  // consumer thread
  std::vector<Batch> spare;  // consumer thread: settled batches, whose buffers the next ones reuse
  // Consumer thread: per partition, the offset after the last message read
  // on this connection (-1: none yet), to tell a fetch wait from being
  // caught up.
  std::vector<std::int64_t> read_next;
  std::vector<std::int64_t> hole_reported;  // per partition: the expected offset last reported missing
  std::vector<TimestampMs> hole_seek_ms;     // per partition: when its last seek to that offset was asked
  // Subscribe mode, consumer thread: for a gained partition, the end it had
  // when this node first heard it (the high watermark of its first fetch
  // answer, cached by librdkafka: no request of its own, nothing blocking in
  // the rebalance callback); kEndPending until known, -1 once read up to it
  // (or never gained). See stats.catching_up.
  static constexpr std::int64_t kEndPending = -2;
  std::vector<std::int64_t> catch_up_to;
  std::vector<std::int64_t> gained_at;  // the offset a gained partition starts at (-1: unknown)
  // Subscribe mode, consumer thread: what the rebalance callback (run inside
  // librdkafka calls on this thread) works on while consume() runs; null
  // outside it.
  rd_kafka_topic_partition_list_t* live_assignment = nullptr;  // the partitions assigned now
  std::deque<Flight>* live_flights = nullptr;
  std::shared_ptr<IngestChain>* live_chain = nullptr;
  Batch* filling = nullptr;       // the batch being read
  std::vector<char> owned;        // by partition: assigned now
  bool must_reconnect = false;    // a batch failed while settling for a revoke

  State(KafkaConfig c, Ingestor& i, const EventLog& l, const Clock& k, MetricsRegistry& m)
      : config(std::move(c)),
        ingestor(i),
        log(l),
        clock(k),
        consumed_counter(m.counter("shoppulse_kafka_source_messages_total", "Messages read from the Kafka topic")),
        dead_letter_counter(m.counter("shoppulse_kafka_source_dead_letters_total",
                                      "Malformed messages sent to the dead-letter topic")),
        pause_counter(m.counter("shoppulse_kafka_source_pauses_total",
                                "Times the partitions were paused because ingest was full")) {
    m.gauge("shoppulse_kafka_source_lag", "Messages behind the ends of the consumed partitions", [this] {
      std::lock_guard lock(mutex);
      return double(stats.lag);
    });
    // The consumer thread's waits (see KafkaSourceStats): many fetch waits
    // point at the broker or librdkafka's prefetch bound, ingest waits at
    // the log.
    const auto read_stat = [this](auto field) {
      return [this, field] {
        std::lock_guard lock(mutex);
        return field(stats);
      };
    };
    m.counter_read("shoppulse_kafka_source_fetch_waits_total",
                   "Times the consumer waited for a fetch while the broker held more messages",
                   read_stat([](const KafkaSourceStats& s) { return double(s.fetch_waits); }));
    m.counter_read("shoppulse_kafka_source_fetch_wait_seconds_total", "Time the consumer spent in fetch waits",
                   read_stat([](const KafkaSourceStats& s) { return double(s.fetch_wait.count()) / 1e6; }));
    m.gauge("shoppulse_kafka_source_longest_fetch_wait_seconds", "The longest fetch wait since start",
            read_stat([](const KafkaSourceStats& s) { return double(s.longest_fetch_wait.count()) / 1e6; }));
    m.counter_read("shoppulse_kafka_source_ingest_waits_total",
                   "Times the consumer waited for the log to append its oldest batch in flight",
                   read_stat([](const KafkaSourceStats& s) { return double(s.ingest_waits); }));
    m.counter_read("shoppulse_kafka_source_ingest_wait_seconds_total", "Time the consumer spent in ingest waits",
                   read_stat([](const KafkaSourceStats& s) { return double(s.ingest_wait.count()) / 1e6; }));
    m.gauge("shoppulse_kafka_source_up", "1 while the Kafka source is consuming from a reachable broker", [this] {
      std::lock_guard lock(mutex);
      return stats.state == "running" || stats.state == "paused" ? 1.0 : 0.0;
    });
  }

  void set_state(const char* s) {
    std::lock_guard lock(mutex);
    stats.state = s;
  }

  void record_error(std::string error, bool down) {
    std::lock_guard lock(mutex);
    stats.failures++;
    if (down) {
      broker_down = true;
      stats.state = "disconnected";
    }
    if (stats.last_error != error) kLog.warn("Kafka source error", {{"error", error}});
    stats.last_error = std::move(error);
  }

  void mark_up() {
    std::lock_guard lock(mutex);
    if (broker_down) {
      broker_down = false;
      stats.restarts++;
      kLog.info("Kafka broker reachable again", {{"servers", config.servers}});
    }
    if (stats.state != "paused") stats.state = "running";
  }

  // Waits up to ms, or less when stop is requested; true when stopping.
  bool pause_for(std::int64_t ms) { return thread.pause(mutex, wake, std::chrono::milliseconds(ms)); }
  bool stopping() const { return thread.stop_requested(mutex); }

  static void on_error(rd_kafka_t*, int err, const char* reason, void* opaque) {
    auto* self = static_cast<State*>(opaque);
    const auto code = static_cast<rd_kafka_resp_err_t>(err);
    const bool down = code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || code == RD_KAFKA_RESP_ERR__TRANSPORT ||
                      code == RD_KAFKA_RESP_ERR__RESOLVE;
    self->record_error(std::string(rd_kafka_err2name(code)) + ": " + reason, down);
  }

  std::int64_t backoff_after(std::int64_t current) const {
    return std::min(current * 2, std::max<std::int64_t>(config.max_backoff_ms, kFirstBackoffMs));
  }

  Result<kafka::Handle> make_client(rd_kafka_type_t type) {
    std::vector<std::pair<std::string, std::string>> settings{
        {"bootstrap.servers", config.servers},
        {"reconnect.backoff.ms", std::to_string(kFirstBackoffMs)},
        {"reconnect.backoff.max.ms", std::to_string(std::max<std::int64_t>(config.max_backoff_ms, kFirstBackoffMs))},
    };
    if (type == RD_KAFKA_CONSUMER) {
      settings.insert(settings.end(), {{"group.id", config.group},
                                       {"enable.auto.commit", "false"},
                                       {"enable.auto.offset.store", "false"},
                                       {"auto.offset.reset", "earliest"},
                                       {"enable.partition.eof", "false"},
                                       // Prefetch is bounded by bytes alone. Once the consumer queue
                                       // (every partition's messages together) reaches either bound,
                                       // librdkafka (2.0) stops fetching and looks again only when its
                                       // broker thread next wakes, within a second: a consumer that
                                       // drains the queue sooner waits out the rest of that second.
                                       // The message-count bound (100000 by default) is set out of
                                       // reach, and the byte bound, kafka.fetch_queue_kbytes, must
                                       // hold more than a second of consumption (256 MiB by default;
                                       // 64 MiB was drained in ~0.5 s at 650k 218-byte messages/s).
                                       {"queued.min.messages", "10000000"},
                                       {"queued.max.messages.kbytes", std::to_string(config.fetch_queue_kbytes)}});
      if (config.subscribe) {
        settings.emplace_back("partition.assignment.strategy", "cooperative-sticky");
        return kafka::make_handle(type, settings, this, &State::on_error, nullptr, &State::on_rebalance);
      }
    } else {
      settings.insert(settings.end(), {{"enable.idempotence", "true"}, {"acks", "all"}, {"linger.ms", "5"}});
    }
    return kafka::make_handle(type, settings, this, &State::on_error);
  }

  // Consumer thread: partition count of the topic, or an error text.
  Result<std::int32_t> partition_count(rd_kafka_t* rk) {
    kafka::TopicHandle topic(rd_kafka_topic_new(rk, config.topic.c_str(), nullptr));
    const rd_kafka_metadata_t* md = nullptr;
    const rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, topic.get(), &md, kMetadataTimeoutMs);
    if (err) return make_error(Errc::unavailable, std::string("metadata: ") + rd_kafka_err2str(err));
    std::int32_t count = 0;
    std::string topic_error;
    for (int i = 0; i < md->topic_cnt; ++i) {
      if (config.topic != md->topics[i].topic) continue;
      if (md->topics[i].err) topic_error = rd_kafka_err2str(md->topics[i].err);
      count = md->topics[i].partition_cnt;
    }
    rd_kafka_metadata_destroy(md);
    if (!topic_error.empty() || count == 0)
      return make_error(Errc::unavailable, "topic " + config.topic + ": " +
                                               (topic_error.empty() ? "no partitions" : topic_error));
    return count;
  }

  // Consumer thread: hands batch to ingest as the next batch of chain (the
  // events are read, not moved, so a failed append can be handed again).
  // While ingest refuses it as full the partitions are paused. Returns the
  // pending answer, or null when stopping first (then nothing of batch is at
  // the ingestor).
  std::shared_ptr<Handoff> submit(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* assignment, Batch& batch,
                                  const std::shared_ptr<IngestChain>& chain) {
    std::int64_t backoff_ms = 10;
    for (;;) {
      auto handoff = std::make_shared<Handoff>();
      auto submitted = ingestor.submit(
          std::move(batch.events),  // read, not moved from: kept for a retry
          [handoff](Result<IngestReceipt> r) {
            std::lock_guard lock(handoff->mutex);
            handoff->result.emplace(std::move(r));
            handoff->done.notify_all();
          },
          batch.offsets(config.topic), chain);
      if (submitted) return handoff;
      if (submitted.error().code == Errc::overloaded) {
        pause(rk, assignment);
      } else {
        record_error("ingest: " + submitted.error().detail, false);
      }
      if (pause_for(backoff_ms)) return nullptr;
      backoff_ms = backoff_after(backoff_ms);
    }
  }

  static bool answered(Handoff& handoff) {
    std::lock_guard lock(handoff.mutex);
    return handoff.result.has_value();
  }

  // Consumer thread: waits for ingest's answer to a batch it accepted. Not
  // cut short by stop (ingest answers every batch it accepted). Ingest that
  // does not take the batch soon is full behind it: the partitions pause,
  // so librdkafka stops fetching, until it is taken.
  void wait_for(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* assignment, Handoff& handoff) {
    std::unique_lock lock(handoff.mutex);
    if (handoff.result.has_value()) return;
    const auto began = std::chrono::steady_clock::now();
    while (!handoff.done.wait_for(lock, std::chrono::milliseconds(kIngestPatienceMs),
                                  [&] { return handoff.result.has_value(); }))
      pause(rk, assignment);
    lock.unlock();
    const auto waited = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - began);
    std::lock_guard stats_lock(mutex);
    stats.ingest_waits++;
    stats.ingest_wait += waited;
  }

  // Consumer thread: a call for messages found fewer ready than it asked
  // for and returned after `waited`. It counts as a fetch wait when the
  // broker held more than was read then: the partitions' ends as last
  // fetched (librdkafka's cached high watermarks) lie past what was read.
  void note_wait_for_messages(rd_kafka_t* rk, std::chrono::steady_clock::duration waited) {
    bool more_on_broker = false;
    for (std::size_t p = 0; p < read_next.size() && !more_on_broker; ++p) {
      std::int64_t low = 0, high = 0;
      if (rd_kafka_get_watermark_offsets(rk, config.topic.c_str(), std::int32_t(p), &low, &high) !=
          RD_KAFKA_RESP_ERR_NO_ERROR)
        continue;
      more_on_broker = read_next[p] >= 0 && high > read_next[p];
    }
    if (!more_on_broker) return;
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(waited);
    std::lock_guard lock(mutex);
    stats.fetch_waits++;
    stats.fetch_wait += us;
    stats.longest_fetch_wait = std::max(stats.longest_fetch_wait, us);
  }

  // Consumer thread: a batch is durable in the log with its offsets.
  void note_appended(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* assignment, const Batch& batch,
                     const IngestReceipt& receipt) {
    if (paused) {
      rd_kafka_resume_partitions(rk, assignment);
      paused = false;
      set_state("running");
    }
    {
      std::lock_guard stats_lock(mutex);
      stats.appended += receipt.accepted;
      stats.duplicates += receipt.duplicates;
    }
    // Also committed to the group, for lag tools; the log's copy counts.
    commit_to_group(rk, batch);
  }

  // Consumer thread: waits until the oldest batch in flight is durable in
  // the log, then commits its offsets to the group and keeps its buffers
  // for a later batch. When its append failed, every later batch in flight
  // failed with it (they share chain, so none was appended after it): once
  // all have answered, they are handed again in their order under a new
  // chain, after a backoff. False when stopping before the oldest is
  // durable; flights then holds only batches ingest accepted.
  bool settle_oldest(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* assignment, std::deque<Flight>& flights,
                     std::shared_ptr<IngestChain>& chain) {
    std::int64_t backoff_ms = 10;
    for (;;) {
      Flight& oldest = flights.front();
      wait_for(rk, assignment, *oldest.answer);
      const Result<IngestReceipt>& result = *oldest.answer->result;
      if (result.ok()) {
        note_appended(rk, assignment, oldest.batch, result.value());
        spare.push_back(std::move(oldest.batch));
        flights.pop_front();
        return true;
      }
      record_error("ingest: " + result.error().detail, false);
      for (Flight& later : flights) wait_for(rk, assignment, *later.answer);
      if (pause_for(backoff_ms)) return false;
      backoff_ms = backoff_after(backoff_ms);
      chain = std::make_shared<IngestChain>();
      for (std::size_t i = 0; i < flights.size(); ++i) {
        flights[i].answer = submit(rk, assignment, flights[i].batch, chain);
        if (!flights[i].answer) {
          flights.resize(i);
          return false;
        }
      }
    }
  }

  // Consumer thread, leaving a connection: waits for every batch in flight;
  // those appended count and are committed to the group, the others are
  // read again from the stored offsets by the next connection.
  bool drain(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* assignment, std::deque<Flight>& flights) {
    bool appended = true;  // in order: nothing after a failed batch was appended
    for (Flight& f : flights) {
      wait_for(rk, assignment, *f.answer);
      appended = appended && f.answer->result->ok();
      if (appended) note_appended(rk, assignment, f.batch, f.answer->result->value());
    }
    flights.clear();
    return appended;
  }

  // "partition@offset ..." for the log.
  static std::string partition_offsets(const rd_kafka_topic_partition_list_t* list) {
    std::string out;
    for (int i = 0; i < list->cnt; ++i) {
      if (i) out += ' ';
      out += std::to_string(list->elems[i].partition) + "@" + std::to_string(list->elems[i].offset);
    }
    return out;
  }

  bool owns(std::int32_t partition) const {
    return partition >= 0 && std::size_t(partition) < owned.size() && owned[std::size_t(partition)];
  }

  // Consumer thread: partition p is read up to `next` (exclusive; -1:
  // nothing read yet); a partition catching up whose end that reaches is
  // current now. Its end is taken from the cached watermarks when first
  // known; an empty partition, or one gained at its end, has nothing to read.
  void note_read(rd_kafka_t* rk, std::int32_t p, std::int64_t next) {
    if (p < 0 || std::size_t(p) >= catch_up_to.size()) return;
    std::int64_t& target = catch_up_to[std::size_t(p)];
    if (target == -1) return;
    std::int64_t low = 0, high = 0;
    if (target == kEndPending) {
      if (rd_kafka_get_watermark_offsets(rk, config.topic.c_str(), p, &low, &high) || high < 0) return;
      target = high;
      next = std::max({next, gained_at[std::size_t(p)], low});
    }
    if (next < target) return;
    target = -1;
    publish_catching_up();
    kLog.info("partition caught up",
              {{"topic", config.topic}, {"partition", std::to_string(p)}, {"offset", std::to_string(next)}});
  }

  // Consumer thread: stats.catching_up from catch_up_to.
  void publish_catching_up() {
    std::vector<std::int32_t> now;
    for (std::size_t p = 0; p < catch_up_to.size(); ++p)
      if (catch_up_to[p] != -1) now.push_back(std::int32_t(p));
    std::lock_guard lock(mutex);
    stats.catching_up = std::move(now);
  }

  void publish_assignment() {
    std::vector<std::int32_t> now;
    for (std::size_t p = 0; p < owned.size(); ++p)
      if (owned[p]) now.push_back(std::int32_t(p));
    std::uint32_t partitions = 0;
    {
      std::lock_guard lock(mutex);
      stats.assigned = now;
      stats.rebalances++;
      partitions = stats.partitions;
    }
    if (config.on_assignment) config.on_assignment(now, partitions);
  }

  // Consumer thread: the log's stored offsets of parts' partitions, INVALID
  // for those it has none of. False (recorded) when the log cannot be read;
  // parts are then as they were.
  bool set_stored_offsets(rd_kafka_topic_partition_list_t* parts) {
    auto stored = log.load_source_offsets();
    if (!stored) {
      record_error("read stored offsets: " + stored.error().detail, false);
      return false;
    }
    std::map<std::string, std::int64_t> by_name;
    for (const SourceOffset& o : *stored) by_name[o.source] = o.next_offset;
    for (int i = 0; i < parts->cnt; ++i) {
      const auto it = by_name.find(offset_name(config.topic, parts->elems[i].partition));
      parts->elems[i].offset = it != by_name.end() ? it->second : RD_KAFKA_OFFSET_INVALID;
    }
    return true;
  }

  // Consumer thread (subscribe mode): partitions gained start at this log's
  // stored offset, else at the partition's first offset, never at the
  // group's committed one: derived state counts every event of an owned
  // partition, so the log must hold all of them (the other nodes' copies
  // count there only while they own it). The topic's retention covers the
  // longest window (checked at start).
  void assign_gained(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* parts) {
    kafka::PartitionList gained(rd_kafka_topic_partition_list_copy(parts));
    set_stored_offsets(gained.get());
    start_unstored_at_first(rk, gained.get());
    if (rd_kafka_error_t* error = rd_kafka_incremental_assign(rk, gained.get())) {
      record_error(std::string("incremental assign: ") + rd_kafka_error_string(error), false);
      rd_kafka_error_destroy(error);
      return;
    }
    for (int i = 0; i < gained->cnt; ++i) {
      const std::int32_t p = gained->elems[i].partition;
      if (p < 0) continue;
      if (std::size_t(p) >= owned.size()) owned.resize(std::size_t(p) + 1, 0);
      if (std::size_t(p) >= read_next.size()) read_next.resize(std::size_t(p) + 1, -1);
      // Read from here on, in order (in_sequence); unknown (-1): from the first delivered.
      read_next[std::size_t(p)] = gained->elems[i].offset >= 0 ? gained->elems[i].offset : -1;
      owned[std::size_t(p)] = 1;
      if (live_assignment) rd_kafka_topic_partition_list_add(live_assignment, config.topic.c_str(), p);
      // Catching up until read to the end the partition has when its first
      // fetch answer comes (note_read, update_lag).
      if (std::size_t(p) >= catch_up_to.size()) {
        catch_up_to.resize(std::size_t(p) + 1, -1);
        gained_at.resize(std::size_t(p) + 1, -1);
      }
      catch_up_to[std::size_t(p)] = kEndPending;
      gained_at[std::size_t(p)] = gained->elems[i].offset >= 0 ? gained->elems[i].offset : -1;
    }
    publish_catching_up();
    if (paused) rd_kafka_pause_partitions(rk, gained.get());
    kLog.info("partitions assigned", {{"topic", config.topic}, {"starts", partition_offsets(gained.get())}});
    publish_assignment();
  }

  // Consumer thread (subscribe mode): before revoked partitions go, the batch
  // being read and every batch in flight reach the log, and the log's
  // offsets of the revoked partitions are committed to the group
  // synchronously: the next owner starts where this log ends.
  void let_go(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* parts) {
    if (live_flights && live_chain && live_assignment) {
      if (filling && filling->messages != 0) {
        consumed_counter.add(filling->messages);
        {
          std::lock_guard lock(mutex);
          stats.consumed += filling->messages;
        }
        if (auto answer = submit(rk, live_assignment, *filling, *live_chain))
          live_flights->push_back(Flight{std::move(*filling), std::move(answer)});
        else
          must_reconnect = true;
        filling->reset(std::int32_t(owned.size()));
      }
      if (!drain(rk, live_assignment, *live_flights)) must_reconnect = true;
      *live_chain = std::make_shared<IngestChain>();
    }
    kafka::PartitionList commit(rd_kafka_topic_partition_list_copy(parts));
    set_stored_offsets(commit.get());
    kafka::PartitionList known(rd_kafka_topic_partition_list_new(commit->cnt));
    for (int i = 0; i < commit->cnt; ++i)
      if (commit->elems[i].offset >= 0)
        rd_kafka_topic_partition_list_add(known.get(), config.topic.c_str(), commit->elems[i].partition)->offset =
            commit->elems[i].offset;
    // The broker refuses a commit while the group is between generations
    // (ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS), and a lost assignment
    // cannot commit at all: the next owner then starts at an older committed
    // offset and appends again what this node appended after it (counted as
    // a failed hand-over; see README, Cluster).
    std::string refused;
    if (known->cnt != 0) {
      if (rd_kafka_assignment_lost(rk)) {
        refused = "assignment lost";
      } else if (const auto err = rd_kafka_commit(rk, known.get(), 0)) {
        refused = rd_kafka_err2str(err);
      } else {
        for (int i = 0; i < known->cnt && refused.empty(); ++i)
          if (known->elems[i].err) refused = rd_kafka_err2str(known->elems[i].err);
      }
    }
    if (!refused.empty()) {
      record_error("commit before revoke (" + partition_offsets(known.get()) + "): " + refused, false);
      std::lock_guard lock(mutex);
      stats.handover_failures++;
    }
    if (rd_kafka_error_t* error = rd_kafka_incremental_unassign(rk, parts)) {
      record_error(std::string("incremental unassign: ") + rd_kafka_error_string(error), false);
      rd_kafka_error_destroy(error);
    }
    for (int i = 0; i < parts->cnt; ++i) {
      const std::int32_t p = parts->elems[i].partition;
      if (owns(p)) owned[std::size_t(p)] = 0;
      if (p >= 0 && std::size_t(p) < catch_up_to.size()) catch_up_to[std::size_t(p)] = -1;
      if (p >= 0 && std::size_t(p) < read_next.size()) read_next[std::size_t(p)] = -1;  // the next owner's now
      if (live_assignment) rd_kafka_topic_partition_list_del(live_assignment, config.topic.c_str(), p);
    }
    publish_catching_up();
    kLog.info("partitions revoked", {{"topic", config.topic}, {"committed", partition_offsets(known.get())}});
    publish_assignment();
  }

  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                           void* opaque) {
    auto* self = static_cast<State*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      self->assign_gained(rk, parts);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
      self->let_go(rk, parts);
    } else {
      self->record_error(std::string("rebalance: ") + rd_kafka_err2str(err), false);
      if (rd_kafka_error_t* error = rd_kafka_incremental_unassign(rk, parts)) rd_kafka_error_destroy(error);
    }
  }

  void pause(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* assignment) {
    if (paused) return;
    rd_kafka_pause_partitions(rk, assignment);
    paused = true;
    note_pause();
  }

  void note_pause() {
    pause_counter.add();
    std::lock_guard lock(mutex);
    stats.pauses++;
    stats.state = "paused";
  }

  void update_lag(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* assignment) {
    if (rd_kafka_position(rk, assignment) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
    std::uint64_t lag = 0;
    std::vector<std::pair<std::int32_t, std::uint64_t>> by_partition;
    for (int i = 0; i < assignment->cnt; ++i) {
      std::int64_t low = 0, high = 0;
      if (rd_kafka_get_watermark_offsets(rk, config.topic.c_str(), assignment->elems[i].partition, &low, &high))
        continue;
      const std::int64_t pos = assignment->elems[i].offset;
      const std::uint64_t behind = high >= 0 && pos >= 0 && high > pos ? std::uint64_t(high - pos) : 0;
      lag += behind;
      by_partition.emplace_back(assignment->elems[i].partition, behind);
      // A gained partition with no message to read has no message to say so.
      note_read(rk, assignment->elems[i].partition, pos >= 0 ? pos : -1);
    }
    std::lock_guard lock(mutex);
    stats.lag = lag;
    stats.partition_lag = std::move(by_partition);
  }

  // Consumer thread: partitions of parts without a stored offset start at
  // their first offset (asked here; left to librdkafka when the brokers do
  // not answer, with auto.offset.reset earliest).
  void start_unstored_at_first(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* parts) {
    for (int i = 0; i < parts->cnt; ++i) {
      if (parts->elems[i].offset >= 0) continue;
      std::int64_t low = 0, high = 0;
      if (rd_kafka_query_watermark_offsets(rk, config.topic.c_str(), parts->elems[i].partition, &low, &high,
                                           kMetadataTimeoutMs) == RD_KAFKA_RESP_ERR_NO_ERROR)
        parts->elems[i].offset = low;
      else
        parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
    }
  }

  // Consumer thread: gives each partition of parts (holding the log's
  // stored offset, or INVALID) an absolute start: the group's committed
  // offset where the log has none; with neither, the partition's first
  // offset. Left to librdkafka (offset
  // INVALID: committed, else auto.offset.reset) its offset reset waits out
  // a 100 ms query timer before the first fetch; asked here, the first
  // fetch goes out at once. When the group cannot be asked, parts stay as
  // they are for librdkafka to resolve.
  void resolve_start_offsets(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* parts) {
    kafka::PartitionList ask(rd_kafka_topic_partition_list_new(parts->cnt));
    for (int i = 0; i < parts->cnt; ++i)
      if (parts->elems[i].offset < 0)
        rd_kafka_topic_partition_list_add(ask.get(), config.topic.c_str(), parts->elems[i].partition);
    if (ask->cnt == 0) return;
    if (rd_kafka_committed(rk, ask.get(), kMetadataTimeoutMs) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
    for (int i = 0; i < ask->cnt; ++i) {
      const rd_kafka_topic_partition_t& c = ask->elems[i];
      rd_kafka_topic_partition_t* tp = nullptr;
      for (int j = 0; j < parts->cnt && !tp; ++j)
        if (parts->elems[j].partition == c.partition) tp = &parts->elems[j];
      if (c.err == RD_KAFKA_RESP_ERR_NO_ERROR && c.offset >= 0 && c.offset > tp->offset) tp->offset = c.offset;
      std::int64_t low = 0, high = 0;
      if (tp->offset < 0 && rd_kafka_query_watermark_offsets(rk, config.topic.c_str(), c.partition, &low, &high,
                                                             kMetadataTimeoutMs) == RD_KAFKA_RESP_ERR_NO_ERROR)
        tp->offset = low;
    }
  }

  // One connection: assigns the partitions at their stored offsets, then
  // consumes until stopped or until an error asks for a reconnect.
  void consume(rd_kafka_t* consumer, rd_kafka_t* producer, std::int32_t partitions) {
    kafka::PartitionList assignment(rd_kafka_topic_partition_list_new(partitions));
    for (std::int32_t p = 0; p < partitions; ++p)
      rd_kafka_topic_partition_list_add(assignment.get(), config.topic.c_str(), p);
    if (!set_stored_offsets(assignment.get())) return;
    if (config.subscribe) {
      // The group assigns partitions through on_rebalance.
      while (assignment->cnt > 0) rd_kafka_topic_partition_list_del_by_idx(assignment.get(), 0);
      owned.assign(std::size_t(partitions), 0);
      kafka::PartitionList topics(rd_kafka_topic_partition_list_new(1));
      rd_kafka_topic_partition_list_add(topics.get(), config.topic.c_str(), RD_KAFKA_PARTITION_UA);
      if (const auto err = rd_kafka_subscribe(consumer, topics.get())) {
        record_error(std::string("subscribe: ") + rd_kafka_err2str(err), false);
        return;
      }
    } else {
      resolve_start_offsets(consumer, assignment.get());
      if (const auto err = rd_kafka_assign(consumer, assignment.get())) {
        record_error(std::string("assign: ") + rd_kafka_err2str(err), false);
        return;
      }
    }
    paused = false;  // a new consumer starts with every partition fetching
    read_next.assign(std::size_t(partitions), -1);
    catch_up_to.assign(std::size_t(partitions), -1);
    gained_at.assign(std::size_t(partitions), -1);
    publish_catching_up();
    {
      std::lock_guard lock(mutex);
      stats.partitions = std::uint32_t(partitions);
      stats.assigned.clear();
      if (!config.subscribe)
        for (std::int32_t p = 0; p < partitions; ++p) stats.assigned.push_back(p);
      if (ever_connected) stats.restarts++;
      ever_connected = true;
      broker_down = false;
      stats.state = "running";
    }
    kLog.info("consuming", {{"topic", config.topic}, {"partitions", std::to_string(partitions)}});

    // Up to kafka.batches_in_flight batches are at the ingestor while the
    // next one is read and parsed. They are handed over in the order they
    // were read, as one chain: ingest appends them in that order, each
    // with exactly its own offsets, and appends none after a failed one.
    std::deque<Flight> flights;
    auto chain = std::make_shared<IngestChain>();
    const std::size_t in_flight_limit = std::max<std::size_t>(config.batches_in_flight, 1);
    kafka::Queue queue(rd_kafka_queue_get_consumer(consumer));
    // Whatever happens below, every batch at the ingestor is settled before
    // this connection's offsets are read again (the next consume()).
    live_assignment = assignment.get();
    live_flights = &flights;
    live_chain = &chain;
    must_reconnect = false;
    const auto leave = [&] {
      drain(consumer, assignment.get(), flights);
      live_assignment = nullptr;
      live_flights = nullptr;
      live_chain = nullptr;
      filling = nullptr;
    };
    TimestampMs last_lag = 0;
    TimestampMs last_probe = 0;
    // A connection's first batches are small and double up to
    // kafka.batch_max_messages, so the log, the windows and the recommender
    // start on the first messages while the next are parsed, instead of
    // all waiting for one full batch to be read, parsed and appended.
    std::size_t batch_limit = std::min<std::size_t>(kFirstBatchMessages, config.batch_max_messages);
    while (!stopping()) {
      Batch batch;
      if (!spare.empty()) {
        batch = std::move(spare.back());
        spare.pop_back();
      }
      batch.reset(partitions);
      filling = &batch;
      const bool filled = fill(consumer, queue.get(), producer, batch, batch_limit);
      filling = nullptr;
      if (!filled || must_reconnect) {
        // After a failed revoke settlement the position is past what was
        // appended: reconnect, and read again from the stored offsets.
        spare.push_back(std::move(batch));
        leave();
        return;
      }
      const bool read_any = batch.messages != 0;
      if (read_any) mark_up();
      if (batch.messages == batch_limit) batch_limit = std::min(batch_limit * 2, config.batch_max_messages);
      if (batch.dead) {
        // Dead letters are delivered before the offsets past them are stored.
        if (rd_kafka_flush(producer, int(std::max<std::int64_t>(config.max_backoff_ms, 1000))) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
          record_error("dead-letter topic: flush timed out", false);
          leave();
          return;  // reconnect; the messages are read again from the stored offsets
        }
        dead_letter_counter.add(batch.dead);
        std::lock_guard lock(mutex);
        stats.dead_lettered += batch.dead;
      }
      // Settle what is answered already, and the oldest while the limit is reached.
      while (!flights.empty() && (flights.size() >= in_flight_limit || answered(*flights.front().answer)))
        if (!settle_oldest(consumer, assignment.get(), flights, chain)) {
          leave();
          return;
        }
      if (read_any) {
        consumed_counter.add(batch.messages);
        {
          std::lock_guard lock(mutex);
          stats.consumed += batch.messages;
        }
        auto answer = submit(consumer, assignment.get(), batch, chain);
        if (!answer) {
          leave();
          return;
        }
        flights.push_back(Flight{std::move(batch), std::move(answer)});
      } else {
        spare.push_back(std::move(batch));
      }
      rd_kafka_poll(producer, 0);
      const TimestampMs now = clock.now_ms();
      if (now - last_lag >= kLagIntervalMs) {
        update_lag(consumer, assignment.get());
        last_lag = now;
      }
      bool down = false;
      {
        std::lock_guard lock(mutex);
        down = broker_down;
      }
      if (down && !read_any && now - last_probe >= kLagIntervalMs) {
        // Nothing arrives while the broker is down; ask it directly whether it is back.
        last_probe = now;
        std::int64_t low = 0, high = 0;
        if (rd_kafka_query_watermark_offsets(consumer, config.topic.c_str(), 0, &low, &high, 1000) ==
            RD_KAFKA_RESP_ERR_NO_ERROR)
          mark_up();
      }
    }
    leave();
  }

  // Consumer thread: reads messages into batch until it holds `limit`
  // messages or batch_max_wait has passed, parsing each straight from
  // librdkafka's buffer into the batch's events; malformed ones go to the
  // dead-letter topic. False when a dead letter could not be produced.
  bool fill(rd_kafka_t* consumer, rd_kafka_queue_t* queue, rd_kafka_t* producer, Batch& batch, std::size_t limit) {
    ParseOptions parse_options;
    parse_options.max_future_ms = config.max_future_ms;
    parse_options.now_ms = clock.now_ms();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(config.batch_max_wait_ms);
    while (batch.messages < limit) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      const std::size_t want = std::min(kPollChunk, limit - batch.messages);
      // Returns once want messages are there or the time is up: with
      // fewer ready than that, it waits.
      const bool waits = rd_kafka_queue_length(queue) < want;
      const auto asked = std::chrono::steady_clock::now();
      const ssize_t got = rd_kafka_consume_batch_queue(queue, int(left.count()), chunk_.data(), want);
      const auto waited = std::chrono::steady_clock::now() - asked;
      if (got <= 0) {
        if (waits) note_wait_for_messages(consumer, waited);
        break;
      }
      for (ssize_t i = 0; i < got; ++i) {
        kafka::Message m(chunk_[std::size_t(i)]);
        if (m->err) {
          if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) note_read(consumer, m->partition, m->offset);
          if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            record_error(std::string(rd_kafka_err2name(m->err)) + ": " + rd_kafka_message_errstr(m.get()), false);
          continue;
        }
        // Subscribe mode: a message of a partition revoked during this call
        // is the next owner's (this node committed up to what it appended).
        if (config.subscribe && !owns(m->partition)) continue;
        if (!in_sequence(consumer, m->partition, m->offset)) continue;
        ++batch.messages;
        batch.note_offset(m->partition, m->offset + 1);
        if (std::size_t(m->partition) < read_next.size()) read_next[std::size_t(m->partition)] = m->offset + 1;
        note_read(consumer, m->partition, m->offset + 1);
        const std::size_t first = batch.events.size();
        const std::string_view payload(static_cast<const char*>(m->payload), m->len);
        auto added = append_events(payload, parse_options, batch.events);
        if (!added) {
          const std::string reason =
              (added.error().field.empty() ? "" : added.error().field + ": ") + added.error().detail;
          if (!dead_letter(producer, m.get(), reason)) {
            for (ssize_t j = i + 1; j < got; ++j) rd_kafka_message_destroy(chunk_[std::size_t(j)]);
            return false;
          }
          ++batch.dead;
          continue;
        }
        const std::size_t n = *added;
        for (std::size_t k = 0; k < n; ++k) {
          RawEvent& e = batch.events[first + k];
          // Without its own id, an event is named by where it was read,
          // so a re-delivery is a duplicate.
          if (e.event_id.empty()) {
            e.event_id = config.topic + "/" + std::to_string(m->partition) + "/" + std::to_string(m->offset);
            if (n > 1) e.event_id += "/" + std::to_string(k);
          }
        }
      }
      if (waits) note_wait_for_messages(consumer, waited);
    }
    return true;
  }

  // Consumer thread: whether the message at `offset` of partition p is the
  // next one this connection expects. A batch stores, per partition, the
  // offset after its last message, so a message past a hole would store an
  // offset that claims the hole's events too: those would then be in no
  // node's log. So a partition's messages are taken strictly in order. An
  // older one (delivered again around a re-assignment) is appended or in
  // flight already and is skipped; a later one means the messages between
  // were not delivered: the partition is read again from the expected
  // offset, unless the topic's retention removed them meanwhile.
  bool in_sequence(rd_kafka_t* rk, std::int32_t p, std::int64_t offset) {
    if (p < 0 || std::size_t(p) >= read_next.size()) return true;
    const std::int64_t expected = read_next[std::size_t(p)];
    if (expected < 0 || offset == expected) return true;
    if (offset < expected) return false;
    std::int64_t low = 0, high = 0;
    if (rd_kafka_get_watermark_offsets(rk, config.topic.c_str(), p, &low, &high) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        low > expected) {
      kLog.warn("messages removed by the topic's retention before they were read",
                {{"topic", config.topic}, {"partition", std::to_string(p)}, {"from", std::to_string(expected)},
                 {"to", std::to_string(offset)}});
      return true;
    }
    if (std::size_t(p) >= hole_reported.size()) {
      hole_reported.resize(std::size_t(p) + 1, -1);
      hole_seek_ms.resize(std::size_t(p) + 1, 0);
    }
    const TimestampMs now = clock.now_ms();
    if (hole_reported[std::size_t(p)] != expected) {
      hole_reported[std::size_t(p)] = expected;
      kLog.warn("hole in a partition's messages: reading it again from the expected offset",
                {{"topic", config.topic}, {"partition", std::to_string(p)}, {"expected", std::to_string(expected)},
                 {"got", std::to_string(offset)}});
    } else if (now - hole_seek_ms[std::size_t(p)] < kHoleSeekRetryMs) {
      return false;  // the seek asked for is still on its way
    }
    // Asked again (at most once a kHoleSeekRetryMs) while later messages
    // keep coming, so a seek that failed or was overtaken never stalls the
    // partition.
    hole_seek_ms[std::size_t(p)] = now;
    kafka::PartitionList seek(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(seek.get(), config.topic.c_str(), p)->offset = expected;
    if (rd_kafka_error_t* error = rd_kafka_seek_partitions(rk, seek.get(), 0)) {
      record_error(std::string("seek: ") + rd_kafka_error_string(error), false);
      rd_kafka_error_destroy(error);
    }
    return false;
  }

  void commit_to_group(rd_kafka_t* consumer, const Batch& batch) {
    kafka::PartitionList commit(rd_kafka_topic_partition_list_new(int(batch.next.size())));
    for (std::size_t p = 0; p < batch.next.size(); ++p)
      if (batch.next[p] >= 0)
        rd_kafka_topic_partition_list_add(commit.get(), config.topic.c_str(), std::int32_t(p))->offset = batch.next[p];
    if (commit->cnt) rd_kafka_commit(consumer, commit.get(), 1);
  }

  // Consumer thread: sends one malformed message to the dead-letter topic.
  bool dead_letter(rd_kafka_t* producer, const rd_kafka_message_t* m, const std::string& reason) {
    const std::string partition = std::to_string(m->partition);
    const std::string offset = std::to_string(m->offset);
    std::int64_t backoff_ms = 10;
    for (;;) {
      const rd_kafka_resp_err_t err = rd_kafka_producev(
          producer, RD_KAFKA_V_TOPIC(config.dead_letter_topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_VALUE(m->payload, m->len),
          RD_KAFKA_V_HEADER("reason", reason.data(), ssize_t(reason.size())),
          RD_KAFKA_V_HEADER("source.topic", config.topic.data(), ssize_t(config.topic.size())),
          RD_KAFKA_V_HEADER("source.partition", partition.data(), ssize_t(partition.size())),
          RD_KAFKA_V_HEADER("source.offset", offset.data(), ssize_t(offset.size())), RD_KAFKA_V_END);
      if (!err) return true;
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        record_error(std::string("dead-letter topic: ") + rd_kafka_err2str(err), false);
        return false;
      }
      rd_kafka_poll(producer, 100);
      if (pause_for(backoff_ms)) return false;
      backoff_ms = backoff_after(backoff_ms);
    }
  }

  void run() {
#ifdef __linux__
    pthread_setname_np(pthread_self(), "sp-kafka-src");  // for top, perf and the benchmarks
#endif
    std::int64_t backoff_ms = kFirstBackoffMs;
    while (!stopping()) {
      set_state("connecting");
      auto consumer = make_client(RD_KAFKA_CONSUMER);
      auto producer = make_client(RD_KAFKA_PRODUCER);
      if (!consumer || !producer) {
        record_error((consumer ? producer.error() : consumer.error()).detail, true);
        return;  // a configuration error does not heal by retrying
      }
      auto partitions = partition_count(consumer->get());
      if (!partitions) {
        record_error(partitions.error().detail, true);
        kafka::close_consumer(consumer->get());
        if (pause_for(backoff_ms)) break;
        backoff_ms = backoff_after(backoff_ms);
        continue;
      }
      backoff_ms = kFirstBackoffMs;
      consume(consumer->get(), producer->get(), *partitions);
      rd_kafka_flush(producer->get(), 1000);
      kafka::close_consumer(consumer->get());
      if (!stopping() && pause_for(backoff_ms)) break;
    }
  }
};

KafkaSource::KafkaSource(KafkaConfig config, Ingestor& ingestor, const EventLog& log, const Clock& clock,
                         MetricsRegistry& metrics)
    : state_(std::make_unique<State>(std::move(config), ingestor, log, clock, metrics)) {}

KafkaSource::~KafkaSource() { stop(); }

void KafkaSource::start() {
  State& s = *state_;
  s.thread.start(s.mutex, [&s] { s.run(); });
}

void KafkaSource::stop() {
  State& s = *state_;
  s.thread.stop(s.mutex, s.wake, [&s] { s.stats.state = "stopped"; });
}

KafkaSourceStats KafkaSource::stats() const {
  std::lock_guard lock(state_->mutex);
  return state_->stats;
}

std::string KafkaSource::offset_name(std::string_view topic, std::int32_t partition) {
  std::string name = "kafka/";
  name += topic;
  name += '/';
  name += std::to_string(partition);
  return name;
}

}  // namespace shoppulse
