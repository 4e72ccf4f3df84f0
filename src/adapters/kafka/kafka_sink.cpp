#include "shoppulse/adapters/kafka_sink.hpp"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <vector>

#include "event_json.hpp"
#include "rdkafka_handles.hpp"
#include "shoppulse/core/json_text.hpp"
#include "shoppulse/core/log.hpp"
#include "shoppulse/core/owner_thread.hpp"

namespace shoppulse {
namespace {

using kafka::json_field;

const Logger kLog("kafka");
constexpr std::int64_t kFirstBackoffMs = 100;

}  // namespace

std::string event_message(const LogRecord& record, const Dictionary& dictionary) {
  const Event& e = record.event;
  std::string out = "{\"sequence\":" + std::to_string(e.sequence);
  std::string name;  // each id's name, escaped into out at once
  json_field(out, "event_id", record.event_id);
  json_field(out, "user_id", dictionary.name_into(IdKind::user, e.user, name));
  json_field(out, "event_type", to_string(e.type));
  if (e.product != kNoId) json_field(out, "product_id", dictionary.name_into(IdKind::product, e.product, name));
  if (e.category != kNoId) json_field(out, "category_id", dictionary.name_into(IdKind::category, e.category, name));
  if (e.device != kNoId) json_field(out, "device", dictionary.name_into(IdKind::device, e.device, name));
  if (e.location != kNoId) json_field(out, "location", dictionary.name_into(IdKind::location, e.location, name));
  if (!record.session_id.empty()) json_field(out, "session_id", record.session_id);
  out += ",\"timestamp\":" + std::to_string(e.time_ms);
  kafka::close_event_json(out, e.price_minor, e.quantity, e.rating);
  return out;
}

struct KafkaSink::State {
  KafkaSinkConfig config;
  const EventLog& log;
  CheckpointStore& checkpoints;
  const Dictionary& dictionary;
  std::function<std::string()> snapshot_json;
  const Clock& clock;
  Counter& published_counter;

  mutable std::mutex mutex;  // guards stats and the thread flags
  std::condition_variable wake;
  OwnerThread thread;
  KafkaSinkStats stats;
  // Delivery reports of the batch in flight; the sink's thread only (the
  // callbacks run inside its rd_kafka_flush/poll calls).
  std::uint64_t delivery_failures = 0;
  std::string delivery_error;

  State(KafkaSinkConfig c, const EventLog& l, CheckpointStore& cp, const Dictionary& d,
        std::function<std::string()> snap, const Clock& k, MetricsRegistry& m)
      : config(std::move(c)),
        log(l),
        checkpoints(cp),
        dictionary(d),
        snapshot_json(std::move(snap)),
        clock(k),
        published_counter(m.counter("shoppulse_kafka_sink_events_total", "Events acknowledged by the Kafka sink topic")) {
    m.gauge("shoppulse_kafka_sink_backlog", "Logged events not yet published to Kafka", [this] {
      Sequence through = 0;
      {
        std::lock_guard lock(mutex);
        through = stats.published_through;
      }
      return double(log.logged_after(through));  // from the log now, not the thread's last look
    });
  }

  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<State*>(opaque);
    if (m->err && m->_private == nullptr) {  // events only; snapshots carry a marker
      self->delivery_failures++;
      self->delivery_error = rd_kafka_err2str(m->err);
    }
  }

  static void on_error(rd_kafka_t*, int err, const char* reason, void* opaque) {
    auto* self = static_cast<State*>(opaque);
    std::lock_guard lock(self->mutex);
    self->stats.last_error = std::string(rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err))) + ": " + reason;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) self->stats.state = "disconnected";
  }

  // Waits up to ms, or less when stop is requested; true when stopping.
  bool pause_for(std::int64_t ms) { return thread.pause(mutex, wake, std::chrono::milliseconds(ms)); }
  bool stopping() const { return thread.stop_requested(mutex); }

  void fail(std::string error) {
    std::lock_guard lock(mutex);
    stats.failures++;
    stats.state = "disconnected";
    if (stats.last_error != error) kLog.warn("Kafka sink error", {{"error", error}});
    stats.last_error = std::move(error);
  }

  void run() {
    auto producer = kafka::make_handle(RD_KAFKA_PRODUCER,
                                       {{"bootstrap.servers", config.servers},
                                        {"enable.idempotence", "true"},
                                        {"acks", "all"},
                                        {"linger.ms", "20"},
                                        {"compression.type", "lz4"},
                                        {"reconnect.backoff.max.ms", std::to_string(config.max_backoff_ms)}},
                                       this, &State::on_error, &State::on_delivery);
    if (!producer) {
      fail(producer.error().detail);
      return;
    }
    rd_kafka_t* rk = producer->get();
    Sequence through = 0;
    // After a power loss or a repair, sequences past what the log kept
    // name other events now: those are sent again.
    if (auto cp = checkpoints.get_checkpoint(kCheckpointName); cp && cp->has_value())
      through = checkpoint_still_holds_through(log, **cp);
    {
      std::lock_guard lock(mutex);
      stats.published_through = through;
      stats.state = "running";
    }
    std::int64_t backoff_ms = kFirstBackoffMs;
    TimestampMs last_snapshot = 0;
    bool failing = false;
    std::vector<LogRecord> batch;
    for (;;) {
      const bool stop = stopping();
      const TimestampMs now = clock.now_ms();
      if (!config.snapshots_topic.empty() && snapshot_json && now - last_snapshot >= config.snapshot_interval_ms) {
        last_snapshot = now;
        const std::string json = snapshot_json();
        // Newest-only: a snapshot the broker cannot take now is not retried.
        if (!rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(config.snapshots_topic.c_str()),
                               RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                               RD_KAFKA_V_VALUE(const_cast<char*>(json.data()), json.size()),
                               RD_KAFKA_V_OPAQUE(this), RD_KAFKA_V_END)) {
          std::lock_guard lock(mutex);
          stats.snapshots++;
        }
      }
      rd_kafka_poll(rk, 0);

      const EventLogStats ls = log.stats();
      if (ls.last_sequence <= through) {
        if (stop || pause_for(config.idle_poll_ms)) break;
        continue;
      }
      if (ls.first_sequence > through + 1) {
        // Retention dropped events before they were published.
        std::lock_guard lock(mutex);
        stats.skipped += ls.first_sequence - (through + 1);
      }
      batch.clear();
      auto read = log.read(through + 1, [&](std::span<const LogRecord> run) {
        const std::size_t room = config.batch_max_events - batch.size();
        const std::size_t take = std::min(room, run.size());
        batch.insert(batch.end(), run.begin(), run.begin() + static_cast<std::ptrdiff_t>(take));
        return batch.size() < config.batch_max_events;
      });
      if (!read || batch.empty()) {
        fail(read ? "log read returned nothing" : "read log: " + read.error().detail);
        if (pause_for(backoff_ms)) break;
        continue;
      }
      delivery_failures = 0;
      delivery_error.clear();
      bool produced = true;
      std::string key;  // the user's name, its buffer reused for every message
      for (const LogRecord& r : batch) {
        const std::string value = event_message(r, dictionary);
        dictionary.name_into(IdKind::user, r.event.user, key);
        for (;;) {
          const rd_kafka_resp_err_t err = rd_kafka_producev(
              rk, RD_KAFKA_V_TOPIC(config.topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
              RD_KAFKA_V_KEY(key.data(), key.size()), RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
              RD_KAFKA_V_END);
          if (!err) break;
          if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fail(std::string("produce: ") + rd_kafka_err2str(err));
            produced = false;
            break;
          }
          rd_kafka_poll(rk, 50);
        }
        if (!produced) break;
      }
      // Every delivery report of the batch, then the checkpoint.
      const rd_kafka_resp_err_t flushed = rd_kafka_flush(rk, int(std::max<std::int64_t>(config.max_backoff_ms, 1000) * 6));
      if (!produced || flushed != RD_KAFKA_RESP_ERR_NO_ERROR || delivery_failures) {
        if (produced) fail(flushed ? "flush: broker did not acknowledge in time" : "delivery: " + delivery_error);
        // What is still queued would be sent again by the retry below.
        rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(rk, 0);
        failing = true;
        if (stop || pause_for(backoff_ms)) break;
        backoff_ms = std::min(backoff_ms * 2, std::max<std::int64_t>(config.max_backoff_ms, kFirstBackoffMs));
        continue;  // again from the checkpoint: nothing is skipped
      }
      const Sequence last = batch.back().event.sequence;
      if (auto put = checkpoints.put_checkpoint(kCheckpointName, Checkpoint{last, {}, log.incarnation()}); !put) {
        fail("checkpoint: " + put.error().detail);
        if (pause_for(backoff_ms)) break;
        continue;
      }
      through = last;
      backoff_ms = kFirstBackoffMs;
      published_counter.add(batch.size());
      std::lock_guard lock(mutex);
      stats.published += batch.size();
      stats.published_through = through;
      if (failing) {
        stats.restarts++;
        failing = false;
      }
      stats.state = "running";
    }
    rd_kafka_flush(rk, 2000);
  }
};

KafkaSink::KafkaSink(KafkaSinkConfig config, const EventLog& log, CheckpointStore& checkpoints,
                     const Dictionary& dictionary, std::function<std::string()> snapshot_json, const Clock& clock,
                     MetricsRegistry& metrics)
    : state_(std::make_unique<State>(std::move(config), log, checkpoints, dictionary, std::move(snapshot_json), clock,
                                     metrics)) {}

KafkaSink::~KafkaSink() { stop(); }

void KafkaSink::start() {
  State& s = *state_;
  s.thread.start(s.mutex, [&s] { s.run(); });
}

void KafkaSink::stop() {
  State& s = *state_;
  s.thread.stop(s.mutex, s.wake, [&s] { s.stats.state = "stopped"; });
}

KafkaSinkStats KafkaSink::stats() const {
  KafkaSinkStats out;
  {
    std::lock_guard lock(state_->mutex);
    out = state_->stats;
  }
  out.backlog = state_->log.logged_after(out.published_through);
  return out;
}

}  // namespace shoppulse
