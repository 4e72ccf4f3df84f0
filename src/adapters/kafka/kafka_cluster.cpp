#include "shoppulse/adapters/kafka_cluster.hpp"

#include <librdkafka/rdkafka.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <mutex>
#include <thread>

#include "event_json.hpp"
#include "rdkafka_handles.hpp"
#include "shoppulse/core/json_text.hpp"
#include "shoppulse/core/log.hpp"

namespace shoppulse {
namespace {

using kafka::json_field;

const Logger kLog("cluster");
constexpr int kPollMs = 100;
constexpr int kAdminTimeoutMs = 10000;
constexpr int kStopFlushMs = 2000;

void on_client_error(rd_kafka_t*, int err, const char* reason, void*) {
  kLog.warn("Kafka client error",
            {{"error", std::string(rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err))) + ": " + reason}});
}

// One submitted batch, shared by its messages' delivery reports: the
// submitter holds one reference and every message produced one more; the
// last to let go completes the batch.
struct PendingBatch {
  std::atomic<std::size_t> references{0};
  std::size_t events = 0;
  std::mutex mutex;  // guards failure
  std::optional<Error> failure;
  IngestDone done;

  void fail(Error e) {
    std::lock_guard lock(mutex);
    if (!failure) failure = std::move(e);
  }
  void release(std::size_t n = 1) {
    if (references.fetch_sub(n, std::memory_order_acq_rel) != n) return;
    std::optional<Error> f;
    {
      std::lock_guard lock(mutex);
      f = failure;
    }
    if (done) {
      if (f) {
        done(*f);
      } else {
        IngestReceipt receipt;
        receipt.accepted = events;
        done(receipt);
      }
    }
    delete this;
  }
};

}  // namespace

std::string raw_event_message(const RawEvent& e) {
  std::string out = "{\"event_type\":\"";
  out += to_string(e.type);
  out += '"';
  json_field(out, "user_id", e.user_id);
  if (!e.event_id.empty()) json_field(out, "event_id", e.event_id);
  if (!e.product_id.empty()) json_field(out, "product_id", e.product_id);
  if (!e.category_id.empty()) json_field(out, "category_id", e.category_id);
  if (!e.device.empty()) json_field(out, "device", e.device);
  if (!e.location.empty()) json_field(out, "location", e.location);
  if (!e.session_id.empty()) json_field(out, "session_id", e.session_id);
  if (e.time_ms) out += ",\"timestamp\":" + std::to_string(*e.time_ms);
  kafka::close_event_json(out, e.price_minor, e.quantity, e.rating);
  return out;
}

struct ClusterWriter::State {
  std::string servers;
  std::string topic;
  ClusterConfig config;
  const Clock& clock;
  Counter& produced_counter;
  Counter& failed_counter;
  kafka::Handle producer;
  std::thread thread;
  std::atomic<bool> stopping{false};
  std::atomic<bool> running{false};
  // librdkafka's producer queue: a request of more events than fit waiting
  // answers 503 (overloaded) rather than blocking an I/O thread; an import
  // waits for room (wait_for_room).
  std::size_t queue_messages;
  std::atomic<std::size_t> queued{0};  // produced, delivery not yet reported
  std::mutex room_mutex;
  std::condition_variable room;
  std::atomic<int> room_waiters{0};

  State(std::string s, std::string t, ClusterConfig c, const Clock& k, MetricsRegistry& m, std::size_t q)
      : servers(std::move(s)),
        topic(std::move(t)),
        config(std::move(c)),
        clock(k),
        produced_counter(m.counter("shoppulse_cluster_produced_events_total",
                                   "Events acknowledged by Kafka on the cluster write path")),
        failed_counter(m.counter("shoppulse_cluster_produce_failures_total",
                                 "Batches answered 503 because Kafka did not acknowledge them")),
        queue_messages(q) {}

  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<State*>(opaque);
    auto* batch = static_cast<PendingBatch*>(m->_private);
    if (m->err) {
      batch->fail(make_error(Errc::unavailable, "Kafka did not acknowledge the events within cluster.produce_timeout (" +
                                                    std::to_string(self->config.produce_timeout_ms) +
                                                    " ms): " + rd_kafka_err2str(m->err)));
    } else {
      self->produced_counter.add();
    }
    batch->release();
    // Sequentially consistent with wait_for_room's count and check: either
    // it sees this decrement or this sees it waiting.
    self->queued.fetch_sub(1);
    if (self->room_waiters.load() > 0) {
      std::lock_guard lock(self->room_mutex);  // a waiter between its check and its wait cannot miss this
      self->room.notify_all();
    }
  }

  void run() {
#ifdef __linux__
    pthread_setname_np(pthread_self(), "sp-cluster-w");
#endif
    while (!stopping.load(std::memory_order_acquire)) rd_kafka_poll(producer.get(), kPollMs);
    rd_kafka_flush(producer.get(), int(config.produce_timeout_ms));
    rd_kafka_purge(producer.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(producer.get(), 0);  // the purged messages' reports complete their batches
  }
};

ClusterWriter::ClusterWriter(std::string servers, std::string topic, ClusterConfig config, const Clock& clock,
                             MetricsRegistry& metrics, std::size_t queue_messages)
    : state_(std::make_unique<State>(std::move(servers), std::move(topic), std::move(config), clock, metrics,
                                     queue_messages)) {}

ClusterWriter::~ClusterWriter() { stop(); }

Result<void> ClusterWriter::start() {
  State& s = *state_;
  if (s.running.load()) return {};
  auto producer = kafka::make_handle(RD_KAFKA_PRODUCER,
                                     {{"bootstrap.servers", s.servers},
                                      {"enable.idempotence", "true"},
                                      {"acks", "all"},
                                      {"linger.ms", "5"},
                                      // Same partition for a user as Java clients choose.
                                      {"partitioner", "murmur2_random"},
                                      {"queue.buffering.max.messages", std::to_string(s.queue_messages)},
                                      {"message.timeout.ms", std::to_string(s.config.produce_timeout_ms)}},
                                     &s, &on_client_error, &State::on_delivery);
  if (!producer) return std::move(producer).error();
  s.producer = std::move(producer).value();
  s.stopping.store(false);
  s.thread = std::thread([&s] { s.run(); });
  s.running.store(true, std::memory_order_release);
  return {};
}

void ClusterWriter::stop() {
  State& s = *state_;
  if (!s.running.exchange(false)) return;
  {
    std::lock_guard lock(s.room_mutex);
    s.room.notify_all();  // importers waiting for room give up
  }
  s.stopping.store(true, std::memory_order_release);
  s.thread.join();
  s.producer.reset();
}

Result<void> ClusterWriter::submit(std::vector<RawEvent>&& events, IngestDone done) {
  State& s = *state_;
  if (!s.running.load(std::memory_order_acquire)) return make_error(Errc::unavailable, "the cluster writer is stopped");
  if (events.empty()) {
    if (done) done(IngestReceipt{});
    return {};
  }
  auto* batch = new PendingBatch;
  batch->events = events.size();
  batch->done = std::move(done);
  batch->references.store(events.size() + 1);
  const TimestampMs now = s.clock.now_ms();
  std::size_t produced = 0;
  std::string value;
  for (RawEvent& e : events) {
    if (!e.time_ms) e.time_ms = now;
    value = raw_event_message(e);
    s.queued.fetch_add(1);  // before: its delivery report may run before producev returns
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        s.producer.get(), RD_KAFKA_V_TOPIC(s.topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(e.user_id.data(), e.user_id.size()), RD_KAFKA_V_VALUE(value.data(), value.size()),
        RD_KAFKA_V_OPAQUE(batch), RD_KAFKA_V_END);
    if (err) {
      s.queued.fetch_sub(1);
      const Errc code = err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? Errc::overloaded : Errc::unavailable;
      Error error = make_error(code, std::string("Kafka producer: ") + rd_kafka_err2str(err));
      if (produced == 0) {
        delete batch;  // nothing produced: refused now, done never runs
        s.failed_counter.add();
        return error;
      }
      batch->fail(std::move(error));
      break;
    }
    ++produced;
  }
  if (produced < events.size()) s.failed_counter.add();
  batch->release(events.size() - produced + 1);  // the unproduced messages' and the submitter's
  return {};
}

bool ClusterWriter::wait_for_room(std::size_t events, std::chrono::steady_clock::time_point deadline) {
  State& s = *state_;
  const auto fits = [&] { return s.queued.load() + events <= s.queue_messages; };
  std::unique_lock lock(s.room_mutex);
  s.room_waiters.fetch_add(1);
  s.room.wait_until(lock, deadline, [&] { return fits() || !s.running.load(std::memory_order_acquire); });
  s.room_waiters.fetch_sub(1);
  return fits() && s.running.load(std::memory_order_acquire);
}

struct ClusterMembers::State {
  std::string servers;
  std::string members_topic;
  ClusterConfig config;
  std::function<MemberRecord()> self;
  const Clock& clock;

  struct Known {
    std::string value;  // the record as published
    std::int64_t updated_ms = 0;
  };
  mutable std::mutex mutex;  // guards members, last_error, stop_requested
  std::condition_variable wake;
  std::map<std::string, Known> members;
  std::string last_error;
  bool stop_requested = false;
  std::thread thread;

  State(std::string s, std::string t, ClusterConfig c, std::function<MemberRecord()> f, const Clock& k)
      : servers(std::move(s)), members_topic(std::move(t) + ".members"), config(std::move(c)), self(std::move(f)),
        clock(k) {}

  void note_error(std::string e) {
    std::lock_guard lock(mutex);
    if (last_error != e) kLog.warn("cluster membership", {{"error", e}});
    last_error = std::move(e);
  }

  // True when stopping.
  bool wait(std::int64_t ms) {
    std::unique_lock lock(mutex);
    return wake.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stop_requested; });
  }

  std::string record_json(const MemberRecord& r, std::int64_t now) const {
    std::string out = "{\"node_id\":\"";
    append_json_escaped(out, r.node_id);
    out += '"';
    json_field(out, "advertise", r.advertise);
    out += ",\"partitions\":";
    append_json_int_list(out, r.partitions);
    out += ",\"lag\":" + std::to_string(r.lag) + ",\"partition_lag\":{";
    for (std::size_t i = 0; i < r.partition_lag.size(); ++i) {
      if (i) out += ',';
      out += "\"" + std::to_string(r.partition_lag[i].first) + "\":" + std::to_string(r.partition_lag[i].second);
    }
    out += '}';
    append_derived_state_json(out, r);
    out += ",\"updated_ms\":" + std::to_string(now) + "}";
    return out;
  }

  // The compacted topic, created when missing (one partition; the
  // brokers' default replication).
  bool ensure_topic(rd_kafka_t* rk) {
    char errstr[512];
    rd_kafka_NewTopic_t* topic = rd_kafka_NewTopic_new(members_topic.c_str(), 1, -1, errstr, sizeof errstr);
    if (!topic) {
      note_error(std::string("members topic: ") + errstr);
      return false;
    }
    rd_kafka_NewTopic_set_config(topic, "cleanup.policy", "compact");
    kafka::Queue queue(rd_kafka_queue_new(rk));
    rd_kafka_CreateTopics(rk, &topic, 1, nullptr, queue.get());
    rd_kafka_NewTopic_destroy(topic);
    rd_kafka_event_t* event = rd_kafka_queue_poll(queue.get(), kAdminTimeoutMs);
    if (!event) {
      note_error("members topic: no answer to CreateTopics");
      return false;
    }
    bool ok = rd_kafka_event_error(event) == RD_KAFKA_RESP_ERR_NO_ERROR;
    std::string error = ok ? "" : rd_kafka_event_error_string(event);
    if (ok) {
      std::size_t n = 0;
      const rd_kafka_topic_result_t** results =
          rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event), &n);
      for (std::size_t i = 0; i < n; ++i) {
        const rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
        if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
          ok = false;
          error = rd_kafka_err2str(err);
        }
      }
    }
    rd_kafka_event_destroy(event);
    if (!ok) note_error("members topic " + members_topic + ": " + error);
    return ok;
  }

  void take(const rd_kafka_message_t* m) {
    if (m->err || !m->key) return;
    std::string key(static_cast<const char*>(m->key), m->key_len);
    std::lock_guard lock(mutex);
    if (!m->payload || m->len == 0) {
      members.erase(key);  // a tombstone: the node stopped cleanly
      return;
    }
    rd_kafka_timestamp_type_t type;
    const std::int64_t ts = rd_kafka_message_timestamp(m, &type);
    members[key] = Known{std::string(static_cast<const char*>(m->payload), m->len), ts};
  }

  void publish(rd_kafka_t* producer, const std::string& node_id, const std::string* value) {
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        producer, RD_KAFKA_V_TOPIC(members_topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(node_id.data(), node_id.size()),
        RD_KAFKA_V_VALUE(value ? const_cast<char*>(value->data()) : nullptr, value ? value->size() : 0), RD_KAFKA_V_END);
    if (err) note_error(std::string("publish member record: ") + rd_kafka_err2str(err));
  }

  void run() {
#ifdef __linux__
    pthread_setname_np(pthread_self(), "sp-cluster-m");
#endif
    auto producer = kafka::make_handle(RD_KAFKA_PRODUCER, {{"bootstrap.servers", servers}, {"acks", "all"},
                                                           {"linger.ms", "0"}},
                                       this, &on_client_error);
    auto consumer = kafka::make_handle(RD_KAFKA_CONSUMER, {{"bootstrap.servers", servers},
                                                           {"group.id", members_topic + ".reader"},
                                                           {"enable.auto.commit", "false"},
                                                           {"enable.partition.eof", "false"}},
                                       this, &on_client_error);
    if (!producer || !consumer) {
      note_error((producer ? consumer.error() : producer.error()).detail);
      return;
    }
    while (!ensure_topic(producer->get()))
      if (wait(config.member_interval_ms)) return;
    kafka::PartitionList assignment(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(assignment.get(), members_topic.c_str(), 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    if (const auto err = rd_kafka_assign(consumer->get(), assignment.get())) {
      note_error(std::string("members topic assign: ") + rd_kafka_err2str(err));
      return;
    }
    std::string node_id;
    std::int64_t last_published = 0;
    for (;;) {
      const std::int64_t now = clock.now_ms();
      if (now - last_published >= config.member_interval_ms) {
        const MemberRecord r = self();
        node_id = r.node_id;
        const std::string value = record_json(r, now);
        publish(producer->get(), node_id, &value);
        last_published = now;
      }
      rd_kafka_poll(producer->get(), 0);
      while (rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer->get(), kPollMs)) {
        take(m);
        rd_kafka_message_destroy(m);
      }
      {
        std::lock_guard lock(mutex);
        if (stop_requested) break;
      }
    }
    if (!node_id.empty()) publish(producer->get(), node_id, nullptr);  // the tombstone
    rd_kafka_flush(producer->get(), kStopFlushMs);
    kafka::close_consumer(consumer->get());
  }
};

void append_derived_state_json(std::string& out, const MemberRecord& r) {
  out += ",\"owned\":";
  append_json_int_list(out, r.owned);
  out += std::string(",\"rebuilding\":") + (r.rebuilding ? "true" : "false");
  if (r.rebuilding) {
    out += ",\"rebuild_progress\":";
    append_json_share(out, r.rebuild_progress);
  }
  out += ",\"catching_up\":";
  append_json_int_list(out, r.catching_up);
}

ClusterMembers::ClusterMembers(std::string servers, std::string events_topic, ClusterConfig config,
                               std::function<MemberRecord()> self, const Clock& clock)
    : state_(std::make_unique<State>(std::move(servers), std::move(events_topic), std::move(config), std::move(self),
                                     clock)) {}

ClusterMembers::~ClusterMembers() { stop(); }

void ClusterMembers::start() {
  State& s = *state_;
  if (s.thread.joinable()) return;
  {
    std::lock_guard lock(s.mutex);
    s.stop_requested = false;
  }
  s.thread = std::thread([&s] { s.run(); });
}

void ClusterMembers::stop() {
  State& s = *state_;
  if (!s.thread.joinable()) return;
  {
    std::lock_guard lock(s.mutex);
    s.stop_requested = true;
  }
  s.wake.notify_all();
  s.thread.join();
}

std::string ClusterMembers::members_json() const {
  const State& s = *state_;
  const std::int64_t now = s.clock.now_ms();
  std::lock_guard lock(s.mutex);
  std::string out = "[";
  bool first = true;
  for (const auto& [id, known] : s.members) {
    if (known.value.size() < 2 || known.value.back() != '}') continue;  // not a record of ours
    if (!first) out += ',';
    first = false;
    out.append(known.value, 0, known.value.size() - 1);
    out += ",\"current\":";
    out += now - known.updated_ms <= s.config.member_timeout_ms ? "true" : "false";
    out += '}';
  }
  out += ']';
  return out;
}

std::string ClusterMembers::last_error() const {
  std::lock_guard lock(state_->mutex);
  return state_->last_error;
}

Result<std::int64_t> topic_retention_ms(const std::string& servers, const std::string& topic, int timeout_ms) {
  auto client = kafka::make_handle(RD_KAFKA_PRODUCER, {{"bootstrap.servers", servers}}, nullptr, &on_client_error);
  if (!client) return std::move(client).error();
  rd_kafka_t* rk = client.value().get();
  rd_kafka_ConfigResource_t* resource = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str());
  kafka::Queue queue(rd_kafka_queue_new(rk));
  rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
  char errstr[512];
  (void)rd_kafka_AdminOptions_set_request_timeout(options, timeout_ms, errstr, sizeof errstr);  // a valid timeout
  rd_kafka_DescribeConfigs(rk, &resource, 1, options, queue.get());
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_ConfigResource_destroy(resource);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue.get(), timeout_ms + 1000);
  if (!event) return make_error(Errc::unavailable, "no answer to DescribeConfigs of " + topic);
  std::optional<std::int64_t> retention;
  std::string error;
  if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    error = rd_kafka_event_error_string(event);
  } else if (const rd_kafka_DescribeConfigs_result_t* result = rd_kafka_event_DescribeConfigs_result(event)) {
    std::size_t n = 0;
    const rd_kafka_ConfigResource_t** resources = rd_kafka_DescribeConfigs_result_resources(result, &n);
    for (std::size_t i = 0; i < n; ++i) {
      if (rd_kafka_ConfigResource_error(resources[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        error = rd_kafka_ConfigResource_error_string(resources[i]) ? rd_kafka_ConfigResource_error_string(resources[i])
                                                                   : rd_kafka_err2str(rd_kafka_ConfigResource_error(resources[i]));
        continue;
      }
      std::size_t m = 0;
      const rd_kafka_ConfigEntry_t** entries = rd_kafka_ConfigResource_configs(resources[i], &m);
      for (std::size_t j = 0; j < m; ++j) {
        if (std::string_view(rd_kafka_ConfigEntry_name(entries[j])) != "retention.ms") continue;
        const char* value = rd_kafka_ConfigEntry_value(entries[j]);
        if (!value) continue;
        try {
          retention = std::stoll(value);
        } catch (const std::exception&) {
          error = std::string("retention.ms is not a number: ") + value;
        }
      }
    }
  }
  rd_kafka_event_destroy(event);
  if (retention) return *retention;
  return make_error(Errc::unavailable,
                    "retention.ms of " + topic + " unknown" + (error.empty() ? std::string() : ": " + error));
}

Result<std::string> stored_node_id(const std::string& data_dir) {
  const std::string path = data_dir + "/cluster_node_id";
  {
    std::ifstream in(path);
    std::string id;
    if (in && std::getline(in, id) && !id.empty()) return id;
  }
  unsigned char bytes[8] = {};
  std::ifstream random("/dev/urandom", std::ios::binary);
  if (!random.read(reinterpret_cast<char*>(bytes), sizeof bytes))
    return make_error(Errc::io_error, "cannot read /dev/urandom for a node id");
  char hex[17];
  for (std::size_t i = 0; i < sizeof bytes; ++i) std::snprintf(hex + 2 * i, 3, "%02x", bytes[i]);
  const std::string id(hex, 16);
  std::ofstream out(path, std::ios::trunc);
  if (!(out << id << '\n') || !out.flush())
    return make_error(Errc::io_error, "cannot write the node id to " + path, "cluster.node_id");
  return id;
}

}  // namespace shoppulse
