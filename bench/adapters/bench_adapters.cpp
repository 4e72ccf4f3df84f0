// Kafka source -> log -> windows, the Kafka sink, and Redis live figures,
// each beside the raw client rate measured in the same run: librdkafka
// producer and consumer alone, and pipelined HSET with hiredis alone. Starts
// its own single-node Kafka broker and redis-server (tests/servers).
#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/machine_limits.hpp"
#include "common/options.hpp"
#include "common/report.hpp"
#include "common/system_probe.hpp"
#include "kafka_server.hpp"
#include "shoppulse/adapters/kafka_sink.hpp"
#include "shoppulse/adapters/redis_figures.hpp"
#include "shoppulse/app/application.hpp"
#include "shoppulse/eventlog/rocksdb_store.hpp"
#include "shoppulse/ingest/ingestor.hpp"
#include "ferretdb_server.hpp"
#include "server_process.hpp"
#include "shoppulse/adapters/mongodb_store.hpp"

#include <mongoc/mongoc.h>

using namespace shoppulse;
using namespace shoppulse::bench;

namespace {

// A ~200-byte event like the seed's, varied by i.
std::string message(std::int64_t i, std::int64_t t0) {
  char buf[320];
  std::snprintf(buf, sizeof buf,
                R"({"event_id":"k-%lld","user_id":"user_%lld","event_type":"%s","product_id":"prod_%lld",)"
                R"("category_id":"cat_%lld","price":%lld.99,"device":"mobile","location":"Hangzhou",)"
                R"("session_id":"s-%lld","timestamp":%lld})",
                static_cast<long long>(i), static_cast<long long>(i % 50000), i % 25 == 0 ? "purchase" : "view",
                static_cast<long long>(i % 20000), static_cast<long long>(i % 200), static_cast<long long>(10 + i % 900),
                static_cast<long long>(i % 70000), static_cast<long long>(t0 + i / 100));
  return buf;
}

rd_kafka_t* client(rd_kafka_type_t type, const std::string& bootstrap,
                   const std::vector<std::pair<std::string, std::string>>& settings) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
  for (const auto& [k, v] : settings)
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
      throw std::runtime_error(k + ": " + err);
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (!rk) throw std::runtime_error(err);
  return rk;
}

// Assigns partitions 0..partitions-1 of topic to a consumer, each from its
// first message.
void assign_from_beginning(rd_kafka_t* rk, const std::string& topic, int partitions) {
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p)
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
}

// Raw producer: n messages, acks=all, returns messages/s.
double produce(const std::string& bootstrap, const std::string& topic, std::int64_t n, std::int64_t t0,
               const std::string& linger, const std::string& compression) {
  rd_kafka_t* rk = client(RD_KAFKA_PRODUCER, bootstrap,
                          {{"acks", "all"}, {"enable.idempotence", "true"}, {"linger.ms", linger},
                           {"compression.type", compression}, {"queue.buffering.max.messages", "1000000"}});
  Stopwatch sw;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::string v = message(i, t0);
    const std::string key = "user_" + std::to_string(i % 50000);
    while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_KEY(key.data(), key.size()),
                             RD_KAFKA_V_VALUE(const_cast<char*>(v.data()), v.size()), RD_KAFKA_V_END) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL)
      rd_kafka_poll(rk, 10);
  }
  rd_kafka_flush(rk, 120000);
  const double s = sw.seconds();
  rd_kafka_destroy(rk);
  return double(n) / s;
}

// Raw consumer: reads n messages of every partition, returns messages/s.
// settings: librdkafka properties beyond the defaults.
double consume(const std::string& bootstrap, const std::string& topic, int partitions, std::int64_t n,
               std::vector<std::pair<std::string, std::string>> settings = {}) {
  settings.insert(settings.end(), {{"group.id", "bench-raw"}, {"enable.auto.commit", "false"}});
  rd_kafka_t* rk = client(RD_KAFKA_CONSUMER, bootstrap, settings);
  rd_kafka_poll_set_consumer(rk);
  assign_from_beginning(rk, topic, partitions);
  std::int64_t got = 0;
  std::uint64_t bytes = 0;
  Stopwatch sw;
  while (got < n && sw.seconds() < 300) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (!m) continue;
    if (!m->err) {
      ++got;
      bytes += m->len;
    }
    rd_kafka_message_destroy(m);
  }
  const double s = sw.seconds();
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return double(got) / s;
}

// What librdkafka holds when its prefetch reaches the source's bound: a
// consumer with the source's prefetch settings is assigned a topic larger
// than the bound and never polled; once its queue stops growing (2 s
// without change), reports the messages queued and the resident memory
// added since before the consumer was created.
void prefetch_memory(Report& report, const std::string& bootstrap, const std::string& topic, int partitions,
                     std::int64_t queue_kbytes) {
  const std::uint64_t rss0 = rss_bytes();
  rd_kafka_t* rk = client(RD_KAFKA_CONSUMER, bootstrap,
                          {{"group.id", "bench-prefetch"},
                           {"enable.auto.commit", "false"},
                           {"queued.min.messages", "10000000"},
                           {"queued.max.messages.kbytes", std::to_string(queue_kbytes)}});
  rd_kafka_queue_t* queue = rd_kafka_queue_get_consumer(rk);
  assign_from_beginning(rk, topic, partitions);
  std::size_t length = 0;
  Stopwatch sw, still;
  while (sw.seconds() < 120) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const std::size_t now = rd_kafka_queue_length(queue);
    if (now != length) {
      length = now;
      still.restart();
    } else if (length > 0 && still.seconds() >= 2) {
      break;
    }
  }
  const double mib = double(rss_bytes() - std::min(rss_bytes(), rss0)) / (1024.0 * 1024.0);
  report.result("messages queued when fetching stopped", double(length), "messages");
  report.result("resident memory added by the consumer", mib, "MiB");
  report.result("  per queued message", length ? mib * 1024.0 * 1024.0 / double(length) : 0, "bytes");
  rd_kafka_queue_destroy(queue);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
}

// User + system CPU seconds from a /proc stat file (a process's or a thread's).
double cpu_seconds_from_stat(const std::filesystem::path& stat_file) {
  std::ifstream stat(stat_file);
  std::string line;
  if (!std::getline(stat, line) || line.rfind(')') == std::string::npos) return 0;
  // Fields after the ")" that ends the name: state is field 3, utime 14, stime 15.
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / double(sysconf(_SC_CLK_TCK));
}

// CPU seconds of process pid so far (the broker's JVM).
double process_cpu_seconds_of(pid_t pid) { return cpu_seconds_from_stat("/proc/" + std::to_string(pid) + "/stat"); }

// CPU seconds of each live thread of this process, summed by thread name.
// Threads that ended are gone.
std::map<std::string, double> thread_cpu_by_name() {
  std::map<std::string, double> out;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    if (std::getline(comm, name)) out[name] += cpu_seconds_from_stat(task.path() / "stat");
  }
  return out;
}

app::AppConfig app_config(const std::filesystem::path& dir) {
  app::AppConfig c;
  c.eventlog.data_dir = dir.string();
  c.serve_http = false;
  c.generator_enabled = false;
  c.eventlog.retention_max_age_ms = 0;
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  Options options(argc, argv);
  const std::int64_t n = options.integer("messages", 1'000'000, 20'000);
  const std::int64_t ticks = options.integer("redis_ticks", 200, 20);
  const std::int64_t hset = options.integer("redis_hset", 1'000'000, 20'000);
  const std::int64_t mongo_minutes = options.integer("mongo_minutes", 4000, 200);
  // --source_only=1: the raw consumer and the Kafka source alone, for profiling.
  const bool source_only = options.integer("source_only", 0, 0) != 0;
  // The source's hand-off settings (kafka.batches_in_flight, kafka.batch_max_messages), for A/B runs.
  const KafkaConfig kafka_defaults;
  const std::int64_t in_flight = options.integer("batches_in_flight", std::int64_t(kafka_defaults.batches_in_flight),
                                                 std::int64_t(kafka_defaults.batches_in_flight));
  const std::int64_t batch_messages =
      options.integer("batch_max_messages", std::int64_t(kafka_defaults.batch_max_messages),
                      std::int64_t(kafka_defaults.batch_max_messages));
  // librdkafka's prefetch bound (kafka.fetch_queue_kbytes), for A/B runs.
  const std::int64_t fetch_queue_kbytes =
      options.integer("fetch_queue_kbytes", std::int64_t(kafka_defaults.fetch_queue_kbytes),
                      std::int64_t(kafka_defaults.fetch_queue_kbytes));
  // --prefetch_memory=N: also fill librdkafka's prefetch queue (bounded by
  // fetch_queue_kbytes) from a topic of N messages and report its memory.
  const std::int64_t prefetch_messages = options.integer("prefetch_memory", 0, 0);
  options.finish();
  Report report("adapters", options.quick());
  report.param("messages", n);
  report.param("message_bytes", std::int64_t(message(123456, 1'700'000'000'000).size()));
  report.param("partitions", std::int64_t(3));
  measure_machine_limits(report, options.quick());

  servers::KafkaServer broker;
  Stopwatch boot;
  broker.start();
  report.param("broker_start", boot.seconds(), "s");
  const std::int64_t t0 = 1'700'000'000'000;
  const std::string topic = "bench-events", raw_topic = "bench-raw", sink_topic = "bench-sink";
  broker.create_topic(topic, 3);
  broker.create_topic(raw_topic, 3);
  broker.create_topic(sink_topic, 3);
  broker.create_topic("user_behavior_events.dead_letter", 1);

  report.section("raw librdkafka (same broker, same run)");
  if (!source_only)
    report.result("producer acks=all linger 5ms", produce(broker.bootstrap(), raw_topic, n, t0, "5", "none"), "msgs/s");
  report.result("producer acks=all linger 50ms lz4", produce(broker.bootstrap(), topic, n, t0, "50", "lz4"), "msgs/s");
  {
    const double cpu0 = process_cpu_seconds(), broker0 = process_cpu_seconds_of(broker.pid());
    report.result("consumer", consume(broker.bootstrap(), topic, 3, n), "msgs/s");
    report.result("consumer messages per CPU-second of the process", double(n) / (process_cpu_seconds() - cpu0),
                  "msgs/s");
    report.result("broker CPU time meanwhile", process_cpu_seconds_of(broker.pid()) - broker0, "s");
  }
  // The source's prefetch settings (queue bounded by bytes only, see
  // kafka.fetch_queue_kbytes), so the source is also compared with them.
  report.result("consumer, prefetch bounded by bytes only",
                consume(broker.bootstrap(), topic, 3, n, {{"queued.min.messages", "10000000"}}), "msgs/s");

  if (prefetch_messages > 0) {
    report.section("librdkafka prefetch at the source's bound, never polled");
    const std::string prefetch_topic = "bench-prefetch";
    broker.create_topic(prefetch_topic, 3);
    report.param("prefetch topic messages", prefetch_messages);
    report.param("queued.max.messages.kbytes", fetch_queue_kbytes);
    produce(broker.bootstrap(), prefetch_topic, prefetch_messages, t0, "50", "lz4");
    prefetch_memory(report, broker.bootstrap(), prefetch_topic, 3, fetch_queue_kbytes);
  }

  report.section("Kafka source -> event log -> windows");
  TempDir dir("bench-adapters");
  app::AppConfig config = app_config(dir.path() / "data");
  config.kafka.servers = broker.bootstrap();
  config.kafka.topic = topic;
  config.kafka.batches_in_flight = std::size_t(in_flight);
  config.kafka.batch_max_messages = std::size_t(batch_messages);
  config.kafka.fetch_queue_kbytes = std::size_t(fetch_queue_kbytes);
  report.param("kafka.batches_in_flight", in_flight);
  report.param("kafka.batch_max_messages", batch_messages);
  report.param("kafka.fetch_queue_kbytes", fetch_queue_kbytes);
  report.param("load average before the source", load_average());
  if (auto f = app::finish(config); !f) throw std::runtime_error(f.error().detail);
  std::shared_ptr<const WindowSnapshot> snapshot;
  {
    auto opened = app::Application::open(config);
    if (!opened) throw std::runtime_error(opened.error().detail);
    auto app = std::move(opened).value();
    Stopwatch sw;
    const double cpu0 = process_cpu_seconds(), broker0 = process_cpu_seconds_of(broker.pid());
    if (auto r = app->start(); !r) throw std::runtime_error(r.error().detail);
    const double started_s = sw.seconds();  // threads up, the consumer created and assigned
    double first_s = 0;     // when the log held its first event
    double appended_s = 0;  // when the log held every event
    double peak_rss_mib = 0;  // sampled every 20 ms
    for (int i = 0; app->engine().stats().applied_through < Sequence(n) && sw.seconds() < 600; ++i) {
      if (i % 20 == 0) peak_rss_mib = std::max(peak_rss_mib, double(rss_bytes()) / (1024.0 * 1024.0));
      const std::uint64_t appended = app->ingestor().stats().appended_events;
      if (first_s == 0 && appended > 0) first_s = sw.seconds();
      if (appended_s == 0 && appended >= std::uint64_t(n)) appended_s = sw.seconds();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const double s = sw.seconds();
    report.result("start() of the application (threads, consumer, assignment)", started_s, "s");
    report.result("from start() until the first event was in the log", first_s, "s");
    // As the raw consumer above is timed: from a created, assigned consumer.
    // Steady state: from the first event in the log to the last applied, so
    // the clients' creation, the metadata request and the first fetch (which
    // the raw consumer's timing above leaves out, but for its first fetch)
    // are not counted.
    report.result("consumed, appended and applied, from the first logged event",
                  first_s > 0 && s > first_s ? double(app->engine().stats().applied_through) / (s - first_s) : 0.0,
                  "events/s");
    if (appended_s == 0) appended_s = s;
    const double cpu = process_cpu_seconds() - cpu0;
    const double broker_cpu = process_cpu_seconds_of(broker.pid()) - broker0;
    const double applied = double(app->engine().stats().applied_through);
    report.result("consumed and appended (in the log with their offsets)", double(n) / appended_s, "events/s");
    report.result("consumed, appended and applied", applied / s, "events/s", ">= 500k events/s");
    report.result("process CPU time while consuming", cpu, "s");
    report.result("process resident memory while consuming, highest sample", peak_rss_mib, "MiB");
    report.result("events per CPU-second of the process", applied / cpu, "events/s");
    report.result("broker CPU time meanwhile", broker_cpu, "s");
    // Where that CPU time went, by thread (the application's threads were
    // started for this case, so their totals are this case's).
    for (const auto& [name, seconds] : thread_cpu_by_name())
      if (name.rfind("sp-", 0) == 0 || name.rfind("rdk:", 0) == 0 || name.rfind("rocksdb", 0) == 0)
        report.result("  CPU time of thread " + name, seconds, "s");
    const RecommendRunnerStats rs = app->recommend().stats();
    report.result("recommender applied through", double(rs.applied_through), "events");
    report.result("recommender events re-read from the log after a full ring", double(rs.dropped_offers), "events");
    // The waits of each thread, which tell a slow run from a fast one (the
    // CPU times above are alike in both).
    const auto ms = [](std::chrono::microseconds d) { return double(d.count()) / 1000.0; };
    const KafkaSourceStats ks = app->kafka_source()->stats();
    const EngineStats es = app->engine().stats();
    report.result("sp-kafka-src waits for librdkafka with more on the broker", double(ks.fetch_waits), "waits");
    report.result("  their total", ms(ks.fetch_wait), "ms");
    report.result("  the longest", ms(ks.longest_fetch_wait), "ms");
    report.result("sp-kafka-src waits for an append (batches in flight reached)", double(ks.ingest_waits), "waits");
    report.result("  their total", ms(ks.ingest_wait), "ms");
    report.result("sp-kafka-src partitions paused (ingest full)", double(ks.pauses), "times");
    report.result("sp-engine back-off sleeps on an empty ring", double(es.idle_waits), "waits");
    report.result("  their total", ms(es.idle_wait), "ms");
    report.result("sp-recommend back-off sleeps on an empty ring", double(rs.idle_waits), "waits");
    report.result("  their total", ms(rs.idle_wait), "ms");
    report.result("sp-recommend reads of the log after a full ring or a gap", double(rs.gap_reads), "reads");
    report.param("load average after the source", load_average());
    snapshot = app->engine().latest();
    app->stop();
  }
  if (source_only) return 0;

  report.section("Kafka sink (log -> topic, idempotent, acks=all)");
  {
    EventLogConfig ec = config.eventlog;
    auto store = open_rocksdb_store(ec);
    if (!store) throw std::runtime_error(store.error().detail);
    Dictionary dictionary;
    if (auto l = load_dictionary(**store, dictionary); !l) throw std::runtime_error(l.error().detail);
    SystemClock clock;
    MetricsRegistry metrics;
    KafkaSinkConfig sc;
    sc.servers = broker.bootstrap();
    sc.topic = sink_topic;
    KafkaSink sink(sc, **store, **store, dictionary, nullptr, clock, metrics);
    Stopwatch sw;
    sink.start();
    while (sink.stats().published_through < Sequence(n) && sw.seconds() < 600)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    report.result("published and checkpointed", double(sink.stats().published_through) / sw.seconds(), "events/s");
    sink.stop();

    report.section("Redis");
    servers::RedisServer redis;
    redis.start();
    redisContext* c = redisConnect("127.0.0.1", redis.port());
    Stopwatch hs;
    constexpr int kPipeline = 1000;
    for (std::int64_t i = 0; i < hset; i += kPipeline) {
      for (int j = 0; j < kPipeline; ++j)
        redisAppendCommand(c, "HSET bench:%lld f%d %lld", static_cast<long long>((i + j) % 1000), j,
                           static_cast<long long>(i + j));
      for (int j = 0; j < kPipeline; ++j) {
        void* reply = nullptr;
        redisGetReply(c, &reply);
        freeReplyObject(reply);
      }
    }
    report.result("raw pipelined HSET (hiredis)", double(hset) / hs.seconds(), "commands/s");
    redisFree(c);

    RedisConfig rc;
    rc.host = "127.0.0.1";
    rc.port = redis.port();
    RedisFiguresSink figures(rc, dictionary, metrics);
    figures.start();
    std::vector<double> costs;
    for (std::int64_t t = 0; t < ticks; ++t) {
      figures.offer_snapshot(snapshot);
      Stopwatch w;
      while (figures.stats().snapshots_written < std::uint64_t(t + 1) && w.seconds() < 10)
        std::this_thread::yield();
      costs.push_back(figures.stats().last_write_seconds * 1000.0);
    }
    report.result("snapshot write per tick, median", percentile(costs, 0.5), "ms", "engine never waits");
    report.result("snapshot write per tick, p99", percentile(costs, 0.99), "ms");
    figures.stop();
  }
  report.section("MongoDB (FerretDB v1.24 on PostgreSQL 15)");
  std::string why;
  if (!servers::ferretdb_available(why)) {
    report.note("MongoDB not measured: " + why);
    return 0;
  }
  servers::FerretDbServer ferretdb;
  ferretdb.start();
  {
    // Raw libmongoc: inserts of the same documents in bulks of 40.
    const std::string bytes(600, 'r');  // about a busy minute's encoded rollup
    mongoc_client_t* client = mongoc_client_new(ferretdb.url("raw").c_str());
    mongoc_collection_t* coll = mongoc_client_get_collection(client, "raw", "rollups");
    Stopwatch sw;
    for (std::int64_t m = 0; m < mongo_minutes; m += 40) {
      mongoc_bulk_operation_t* bulk = mongoc_collection_create_bulk_operation_with_opts(coll, nullptr);
      for (std::int64_t i = m; i < std::min(mongo_minutes, m + 40); ++i) {
        bson_t* doc = BCON_NEW("_id", BCON_INT64(i), "bytes",
                               BCON_BIN(BSON_SUBTYPE_BINARY, reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                        std::uint32_t(bytes.size())));
        mongoc_bulk_operation_insert(bulk, doc);
        bson_destroy(doc);
      }
      bson_t reply;
      bson_error_t error;
      mongoc_bulk_operation_execute(bulk, &reply, &error);
      bson_destroy(&reply);
      mongoc_bulk_operation_destroy(bulk);
    }
    report.result("raw libmongoc bulk insert (40 per bulk)", double(mongo_minutes) / sw.seconds(), "docs/s");
    mongoc_collection_destroy(coll);
    mongoc_client_destroy(client);

    MongoConfig mc;
    mc.url = ferretdb.url("shoppulse_bench");
    mc.timeout_ms = 60000;  // FerretDB on a busy machine can take seconds per bulk: measure it, don't fail
    auto store = open_mongodb_store(mc);
    if (!store) throw std::runtime_error(store.error().detail);
    std::vector<std::pair<std::int64_t, std::string>> minutes;
    for (std::int64_t i = 0; i < mongo_minutes; ++i) minutes.emplace_back(i, bytes);
    sw.restart();
    if (auto r = (*store)->put_minutes(minutes); !r) throw std::runtime_error(r.error().detail);
    report.result("rollup upserts, new minutes (bulks of 40)", double(mongo_minutes) / sw.seconds(), "minutes/s");
    sw.restart();
    if (auto r = (*store)->put_minutes(minutes); !r) throw std::runtime_error(r.error().detail);
    report.result("rollup upserts, existing minutes (bulks of 40)", double(mongo_minutes) / sw.seconds(), "minutes/s");
  }
  return 0;
}
