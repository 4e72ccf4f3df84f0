#include "shoppulse/app/application.hpp"

#include <chrono>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <unistd.h>

#include <algorithm>

#include "shoppulse/core/build_info.hpp"
#include "shoppulse/core/json_text.hpp"
#include "shoppulse/adapters/kafka_cluster.hpp"
#include "shoppulse/cluster/query.hpp"
#include "shoppulse/adapters/mongodb_archive.hpp"
#include "shoppulse/adapters/mongodb_checkpoints.hpp"
#include "shoppulse/adapters/mongodb_rollups.hpp"
#include "shoppulse/core/heap.hpp"
#include "shoppulse/core/log.hpp"
#include "shoppulse/core/partition_ownership.hpp"
#include "shoppulse/core/steady_time.hpp"
#include "shoppulse/ingest/freshness.hpp"
#include "checkpoint_mode.hpp"

namespace shoppulse::app {
namespace {

const Logger kLog("app");

std::uint64_t resident_bytes() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<std::uint64_t>(resident) * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

// Cluster mode: the Authorization this node sends when it asks the members
// on its own behalf (the WebSocket push, README "Security" in Cluster), from
// cluster.key_file; empty when no file is set. Refused (exit code 2) when
// keys are required and no file is set, or when the file's key is not one
// the authorizer would take for a read route: every member checks it
// against the same keys.
Result<std::string> member_key(const std::string& path, bool keys_required, auth::Authorizer& authorizer) {
  if (path.empty()) {
    if (!keys_required) return std::string();
    return make_error(Errc::invalid_argument,
                      "a cluster whose API keys are required needs a read key the nodes ask each other with (the "
                      "WebSocket push): create one with shoppulse keys create --scope read, put the key alone in a "
                      "file (mode 0600) and set cluster.key_file to it",
                      "cluster.key_file");
  }
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (!f)
    return make_error(Errc::invalid_argument, "cannot read " + path + ": " + std::strerror(errno), "cluster.key_file");
  char buffer[512];
  const std::size_t n = std::fread(buffer, 1, sizeof buffer, f);
  std::fclose(f);
  std::string_view key(buffer, n);
  while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) key.remove_suffix(1);
  while (!key.empty() && std::isspace(static_cast<unsigned char>(key.front()))) key.remove_prefix(1);
  if (key.empty() || n == sizeof buffer)
    return make_error(Errc::invalid_argument, path + " must hold one API key (sp_<id>_<secret>)", "cluster.key_file");
  std::string authorization("Bearer ");
  authorization.append(key);
  auth::AuthRequest probe;
  probe.method = "GET";
  probe.path = "/api/analytics/snapshot";
  probe.host = "127.0.0.1";
  probe.authorization = authorization;
  const auth::AuthDecision decision = authorizer.check(probe);
  if (!decision.allowed() && decision.status != 429)
    return make_error(Errc::invalid_argument, "the key in " + path + " is refused: " + decision.detail,
                      "cluster.key_file");
  return authorization;
}

// Closed minutes go to the store and, when Redis is configured, on to it.
// Threading: the engine thread, as RollupStore::put_minutes.
class RollupFanOut final : public RollupStore {
 public:
  RollupFanOut(RollupStore& store, RedisFiguresSink& redis) : store_(store), redis_(redis) {}
  Result<void> put_minutes(std::span<const std::pair<std::int64_t, std::string>> minutes) override {
    auto r = store_.put_minutes(minutes);
    if (r) redis_.offer_minutes(minutes);
    return r;
  }
  Result<void> scan_minutes(std::int64_t from_minute, std::int64_t to_minute,
                            const std::function<void(std::int64_t, std::string_view)>& fn) const override {
    return store_.scan_minutes(from_minute, to_minute, fn);
  }
  Result<void> drop_minutes_before(std::int64_t before_minute) override {
    return store_.drop_minutes_before(before_minute);
  }

 private:
  RollupStore& store_;
  RedisFiguresSink& redis_;
};

}  // namespace

struct Application::State final : api::SystemControl {
  AppConfig config;
  SystemClock clock;
  MetricsRegistry metrics;
  std::unique_ptr<Storage> storage;
  std::unique_ptr<EventLogDictionary> dictionary_backing;  // the log, where evicted entries are read back
  Dictionary dictionary;
  // The dictionary's start-up load, on threads of its own while the
  // checkpoints restore (neither needs the other); start() waits for it
  // before anything that reads or writes a name starts. Declared after the
  // storage and the dictionary, so an Application destroyed while it runs
  // waits for it before they go.
  std::future<Result<void>> dictionary_load;
  std::atomic<bool> dictionary_loaded{false};
  std::unique_ptr<SpscRing<Event>> ring;
  std::unique_ptr<FreshnessMeter> freshness;  // ingest hands it batches, the engine's publishes time them
  std::unique_ptr<Ingestor> ingestor;
  api::SequenceGate gate;  // min_sequence= requests, fed by the engine and recommend threads
  std::unique_ptr<RecommendRunner> recommend;
  std::unique_ptr<MongoRollups> mongo_rollups;  // null without mongodb.url
  std::unique_ptr<MongoCheckpoints> mongo_checkpoints;  // null unless storage.checkpoints = mongodb
  std::unique_ptr<MongoEventArchive> mongo_archive;     // null unless mongodb.archive_events
  std::unique_ptr<RedisFiguresSink> redis;  // null without redis.host
  std::unique_ptr<RollupFanOut> rollups;     // the store plus Redis; null without Redis
  std::unique_ptr<EngineRunner> engine;
  std::unique_ptr<range::RangeRunner> range;  // range queries; reads the log, answers the handler
  std::unique_ptr<Generator> generator;
  std::unique_ptr<KafkaSource> kafka_source;  // null without kafka.servers
  std::unique_ptr<KafkaSink> kafka_sink;      // null without kafka.servers and kafka.sink_topic
  std::unique_ptr<ClusterWriter> cluster_writer;    // null unless cluster.enabled
  std::unique_ptr<ClusterMembers> cluster_members;  // null unless cluster.enabled
  std::string node_id;                              // cluster mode: this node's id
  std::string member_authorization;  // cluster mode: "Bearer <cluster.key_file's key>", or empty
  // Cluster mode: the partitions derived state counts, set from the group's
  // assignment by the Kafka consumer; null otherwise.
  std::unique_ptr<PartitionOwnership> ownership;
  // Set once stop() begins: the group's revocation of every partition as
  // this node leaves is not an ownership change (the final checkpoints cover
  // the set owned until then, not an empty one).
  std::atomic<bool> leaving{false};
  std::unique_ptr<api::Handler> handler;
  // The query layer in front of `handler` (cluster mode: fan-out and merge)
  // and its client to the other members (started in cluster mode only).
  std::unique_ptr<cluster::MemberClient> member_client;
  std::unique_ptr<api::Handler> cluster_handler;
  std::unique_ptr<auth::Authorizer> authorizer;
  std::unique_ptr<HttpServer> http;
  TimestampMs started_ms = 0;
  bool started = false;
  // Set before start() (the engine thread starts after), then only read by
  // the engine thread.
  Application::SnapshotCallback snapshot_callback;

  mutable std::mutex rate_mutex;  // guards the samples
  std::deque<std::pair<TimestampMs, std::uint64_t>> samples;

  std::vector<api::ComponentStatus> components() const override {
    std::vector<api::ComponentStatus> out;
    const IngestStats is = ingestor->stats();
    // Storage that fails is degraded, not down: reads still answer and
    // writes are retried (and the store resumes) once the cause is gone.
    const EventLogStats ls = storage->stats();
    // A damaged table file found by the scrub: reads of it fail, so the log
    // is degraded until it is repaired (the write problem, if any, first).
    const std::string& reason = ls.problem.empty() ? ls.damage : ls.problem;
    out.push_back({"event_log", reason.empty() ? "running" : "degraded", reason.empty(), is.append_failures, 0,
                   reason});
    out.push_back({"ingest", is.running ? "running" : "stopped", is.running, 0, 0, ""});
    const EngineStats es = engine->stats();
    out.push_back({"stream_processor", es.state, es.state != "failed", es.failures, es.restarts, es.last_error});
    const GeneratorStats gs = generator->stats();
    out.push_back({"data_generator", gs.running ? "running" : "stopped", true, gs.failures, gs.restarts,
                   gs.last_error});
    const RecommendRunnerStats rs = recommend->stats();
    out.push_back({"recommender", rs.state, true, 0, 0, ""});
    out.push_back({"http", config.serve_http ? "running" : "stopped", true, 0, 0, ""});
    if (range && config.serve_http) {
      // The range worker: "indexing" while it reads the log after a start
      // (range answers and exports are 503 meanwhile); backlog is the logged
      // events its time index has not read yet.
      const range::RangeRunnerStats st = range->stats();
      const Sequence logged = storage->next_sequence() - 1;
      out.push_back({"range_queries", st.indexed ? "running" : "indexing", true, 0, 0, "",
                     logged > st.indexed_through ? logged - st.indexed_through : 0});
    }
    if (kafka_source) {
      const KafkaSourceStats st = kafka_source->stats();
      out.push_back({"kafka_source", st.state, st.state != "disconnected", st.failures, st.restarts, st.last_error,
                     st.lag});
    }
    if (kafka_sink) {
      const KafkaSinkStats st = kafka_sink->stats();
      out.push_back({"kafka_sink", st.state, st.state != "disconnected", st.failures, st.restarts, st.last_error,
                     st.backlog});
    }
    if (mongo_rollups) {
      const MongoRollupsStats st = mongo_rollups->stats();
      out.push_back({"mongodb", st.state, st.state != "disconnected", st.failures, st.reconnects, st.last_error,
                     st.backlog});
    }
    if (mongo_archive) {
      const MongoArchiveStats st = mongo_archive->stats();
      out.push_back({"mongodb_archive", st.state, st.state != "disconnected", st.failures, st.reconnects, st.last_error,
                     st.backlog});
    }
    if (mongo_checkpoints) {
      const MongoCheckpointsStats st = mongo_checkpoints->stats();
      out.push_back({"mongodb_checkpoints", st.state, st.state != "disconnected", st.failures, 0, st.last_error});
    }
    if (redis) {
      const RedisFiguresStats st = redis->stats();
      out.push_back({"redis", st.state, st.state != "disconnected", st.failures, st.reconnects, st.last_error,
                     st.backlog});
    }
    return out;
  }

  // Cluster mode: what this node publishes in the members topic.
  MemberRecord member_record() const {
    MemberRecord r;
    r.node_id = node_id;
    r.advertise = config.cluster.advertise.empty()
                      ? config.http.host + ":" + std::to_string(http ? http->port() : config.http.port)
                      : config.cluster.advertise;
    const KafkaSourceStats st = kafka_source->stats();
    r.partitions = st.assigned;
    r.lag = st.lag;
    r.partition_lag = st.partition_lag;
    r.owned = engine->stats().owned;
    r.rebuilding = rebuilding();
    r.catching_up = st.catching_up;
    r.rebuild_progress = rebuild_progress();
    return r;
  }

  // Cluster mode: the share of the log the windows' rebuild for the new set
  // has read (0 to 1); 0 while it is due but not started, 1 once done (the
  // recommender's rebuild runs beside it; rebuilding() says when both are).
  double rebuild_progress() const {
    const EngineStats es = engine->stats();
    if (!es.rebuilding && es.owned_version == ownership->version()) return 1.0;
    if (!es.rebuilding || es.state != "replaying") return 0.0;
    if (es.replay_target < es.replay_from) return 1.0;
    return std::min(1.0, double(es.replayed_events) / double(es.replay_target - es.replay_from + 1));
  }

  // Cluster mode: derived state (windows or recommender) does not cover the
  // owned partitions yet: a rebuild for a new set is due or running.
  bool rebuilding() const {
    const EngineStats es = engine->stats();
    const RecommendRunnerStats rs = recommend->stats();
    const std::uint64_t version = ownership->version();
    return es.rebuilding || rs.rebuilding || es.owned_version != version || rs.owned_version != version;
  }

  // Cluster mode: the body of GET /api/cluster. Derived state follows the
  // owned partitions: `owned` is the set the published windows cover,
  // `rebuilding` says a newer set is being built; held_partitions lists
  // every partition this node's log has events of (kept, counted only while
  // owned).
  std::string cluster_status() const {
    const MemberRecord self = member_record();
    const KafkaSourceStats st = kafka_source->stats();
    std::vector<std::int32_t> held;
    if (auto stored = storage->load_source_offsets()) {
      const std::string prefix = KafkaSource::offset_name(config.kafka.topic, 0).substr(
          0, KafkaSource::offset_name(config.kafka.topic, 0).size() - 1);
      for (const SourceOffset& o : *stored)
        if (o.source.rfind(prefix, 0) == 0) {
          try {
            held.push_back(std::stoi(o.source.substr(prefix.size())));
          } catch (const std::exception&) {
            // another source's offset; not a partition of the events topic
          }
        }
      std::sort(held.begin(), held.end());
    }
    const auto text = [](std::string& out, std::string_view name, std::string_view value) {
      out += ",\"";
      out += name;
      out += "\":\"";
      append_json_escaped(out, value);
      out += '"';
    };
    std::string out = "{\"enabled\":true";
    text(out, "node_id", node_id);
    text(out, "advertise", self.advertise);
    text(out, "topic", config.kafka.topic);
    out += ",\"partitions\":" + std::to_string(st.partitions) + ",\"assigned\":";
    append_json_int_list(out, st.assigned);
    out += ",\"held_partitions\":";
    append_json_int_list(out, held);
    out += ",\"derived_state\":\"owned\"";
    append_derived_state_json(out, self);
    out += ",\"rebuilds\":" + std::to_string(engine->stats().rebuilds) + ",\"rebalances\":" +
           std::to_string(st.rebalances) + ",\"handover_failures\":" + std::to_string(st.handover_failures) +
           ",\"members\":" +
           cluster_members->members_json();
    const std::string error = cluster_members->last_error();
    if (!error.empty()) text(out, "last_error", error);
    return out + "}";
  }

  std::string known_components() const {
    std::string known = " (known: data_generator, stream_processor";
    if (kafka_source) known += ", kafka_source";
    if (kafka_sink) known += ", kafka_sink";
    if (mongo_rollups) known += ", mongodb";
    if (mongo_archive) known += ", mongodb_archive";
    if (redis) known += ", redis";
    return known + ")";
  }

  Result<void> start_component(std::string_view name) override {
    if (name == "data_generator") {
      generator->start();
      kLog.info("component started", {{"component", "data_generator"}});
      return {};
    }
    if (name == "stream_processor") {
      engine->resume();
      kLog.info("component started", {{"component", "stream_processor"}});
      return {};
    }
    if (name == "kafka_source" && kafka_source) {
      kafka_source->start();
      kLog.info("component started", {{"component", "kafka_source"}});
      return {};
    }
    if (name == "kafka_sink" && kafka_sink) {
      kafka_sink->start();
      kLog.info("component started", {{"component", "kafka_sink"}});
      return {};
    }
    if (name == "mongodb" && mongo_rollups) {
      mongo_rollups->start();
      kLog.info("component started", {{"component", "mongodb"}});
      return {};
    }
    if (name == "mongodb_archive" && mongo_archive) {
      mongo_archive->start();
      kLog.info("component started", {{"component", "mongodb_archive"}});
      return {};
    }
    if (name == "redis" && redis) {
      redis->start();
      kLog.info("component started", {{"component", "redis"}});
      return {};
    }
    return make_error(Errc::not_found, "unknown component: " + std::string(name) +
                                           known_components());
  }

  Result<void> stop_component(std::string_view name) override {
    if (name == "data_generator") {
      generator->stop();
      kLog.info("component stopped", {{"component", "data_generator"}});
      return {};
    }
    if (name == "stream_processor") {
      engine->pause();
      kLog.info("component stopped", {{"component", "stream_processor"}});
      return {};
    }
    if (name == "kafka_source" && kafka_source) {
      kafka_source->stop();
      kLog.info("component stopped", {{"component", "kafka_source"}});
      return {};
    }
    if (name == "kafka_sink" && kafka_sink) {
      kafka_sink->stop();
      kLog.info("component stopped", {{"component", "kafka_sink"}});
      return {};
    }
    if (name == "mongodb" && mongo_rollups) {
      mongo_rollups->stop();
      kLog.info("component stopped", {{"component", "mongodb"}});
      return {};
    }
    if (name == "mongodb_archive" && mongo_archive) {
      mongo_archive->stop();
      kLog.info("component stopped", {{"component", "mongodb_archive"}});
      return {};
    }
    if (name == "redis" && redis) {
      redis->stop();
      kLog.info("component stopped", {{"component", "redis"}});
      return {};
    }
    return make_error(Errc::not_found, "unknown component: " + std::string(name) +
                                           known_components());
  }

  std::uint64_t event_rings_bytes() const {
    return (std::uint64_t{ring->capacity()} + config.recommend_runner.ring_capacity) * sizeof(Event);
  }

  api::SystemFigures figures() const override {
    api::SystemFigures f;
    f.uptime_seconds = double(clock.now_ms() - started_ms) / 1000.0;
    f.rss_bytes = resident_bytes();
    f.heap_free_bytes = heap_free_bytes();
    f.allocator = std::string(heap_allocator());
    f.range_index_bytes = range ? range->stats().index_bytes : 0;
    f.event_rings_bytes = event_rings_bytes();
    f.event_log = storage->stats();
    f.ingest = ingestor->stats();
    f.engine = engine->stats();
    f.ring_occupancy = ring->size_approx();
    f.ring_capacity = ring->capacity();
    f.websocket_clients = http ? http->websocket_clients() : 0;
    std::lock_guard lock(rate_mutex);
    if (samples.size() >= 2) {
      const auto& [t0, n0] = samples.front();
      const auto& [t1, n1] = samples.back();
      if (t1 > t0) f.events_per_second = double(n1 - n0) * 1000.0 / double(t1 - t0);
    }
    return f;
  }
};

Application::Application() : state_(std::make_unique<State>()) {}

Application::~Application() { stop(); }

Result<std::unique_ptr<Application>> Application::open(const AppConfig& config) {
  std::unique_ptr<Application> app(new Application());
  State& s = *app->state_;
  s.config = config;
  if (config.serve_http) {
    s.authorizer = std::make_unique<auth::Authorizer>(config.auth, s.clock);
    // Nobody could use a server that needs keys and has none: say so now
    // rather than answer 401 to everyone.
    if (config.auth.keys_required && s.authorizer->usable_keys() == 0) {
      return make_error(Errc::invalid_argument,
                        std::string(auth::is_loopback_host(config.http.host)
                                        ? "auth.required is set"
                                        : "listening on " + config.http.host + " (not loopback) needs API keys") +
                            " but there is no key yet; create one first: shoppulse keys create --scope admin "
                            "--data-dir <the same data dir>",
                        "auth");
    }
    if (config.cluster.enabled) {
      auto key = member_key(config.cluster.key_file, config.auth.keys_required, *s.authorizer);
      if (!key) return std::move(key).error();
      s.member_authorization = std::move(key).value();
    }
  }
  // Both happen before the HTTP server exists: on a large data dir they are
  // the part of a restart no health probe can see, so their time is logged.
  const auto opening = std::chrono::steady_clock::now();
  auto storage = open_rocksdb_store(config.eventlog);
  if (!storage) return std::move(storage).error();
  s.storage = std::move(storage).value();
  const auto opened = std::chrono::steady_clock::now();
  auto ms = [](auto d) { return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()); };
  kLog.info("storage opened", {{"open_ms", ms(opened - opening)}});
  s.dictionary_backing = std::make_unique<EventLogDictionary>(*s.storage);
  s.dictionary.configure(s.storage->looks_up_dictionary() ? s.dictionary_backing.get() : nullptr,
                         config.dictionary_max_resident_ids);
  s.dictionary_load = std::async(std::launch::async, [&s, opened] {
    const double cpu_before = thread_cpu_seconds();
    auto loaded = load_dictionary(*s.storage, s.dictionary, s.config.dictionary_max_resident_ids);
    // The loading thread's CPU time says what the load costs on a busy
    // machine, where the wall time mostly says how busy it is.
    if (loaded)
      kLog.info("dictionary loaded",
                {{"dictionary_ms", std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                      std::chrono::steady_clock::now() - opened)
                                                      .count())},
                 {"dictionary_cpu_ms", std::to_string(std::lround((thread_cpu_seconds() - cpu_before) * 1e3))},
                 {"dictionary_ids", std::to_string(s.dictionary.resident())}});
    s.dictionary_loaded.store(true);
    s.dictionary_loaded.notify_all();
    return loaded;
  });
  // A cluster node's derived state keeps only the events of its partitions,
  // found from the user's name: its restore needs the whole dictionary.
  if (config.cluster.enabled)
    if (auto loaded = s.dictionary_load.get(); !loaded) return std::move(loaded).error();
  s.ring = std::make_unique<SpscRing<Event>>(config.ring_capacity);
  s.freshness = std::make_unique<FreshnessMeter>(s.metrics);
  IngestConfig ingest_config = config.ingest;
  ingest_config.freshness = s.freshness.get();
  s.ingestor = std::make_unique<Ingestor>(ingest_config, *s.storage, s.dictionary, *s.ring, s.clock, s.metrics);
  api::SequenceGate& gate = s.gate;
  if (config.cluster.enabled) {
    // A node gaining a partition reads it from its first offset: the topic
    // must still hold the longest window's events.
    if (config.cluster.min_retention_ms > 0) {
      auto retention = topic_retention_ms(config.kafka.servers, config.kafka.topic, 5000);
      if (!retention) {
        kLog.warn("retention of the events topic not checked", {{"detail", retention.error().detail}});
      } else if (*retention >= 0 && *retention < config.cluster.min_retention_ms) {
        return make_error(Errc::invalid_argument,
                          "the events topic " + config.kafka.topic + " keeps messages for retention.ms=" +
                              std::to_string(*retention) + ", less than the " +
                              std::to_string(config.cluster.min_retention_ms) +
                              " ms a node gaining a partition reads back (the longest window); raise the topic's "
                              "retention.ms or lower cluster.min_retention",
                          "cluster.min_retention");
      }
    }
    s.ownership = std::make_unique<PartitionOwnership>(s.dictionary);
  }
  RecommendRunnerConfig recommend_config = config.recommend_runner;
  recommend_config.ownership = s.ownership.get();
  recommend_config.on_progress = [&gate](Sequence through) { gate.advance(api::Stage::recommender, through); };
  // The engine publishes only what it applied, and offers what it applies
  // live before it publishes it.
  recommend_config.fed_through = [&gate] { return gate.applied(api::Stage::windows); };
  // The engine's and recommender's checkpoints; offline commands (which
  // clear mongodb.url) keep them in the embedded store.
  CheckpointStore* checkpoints = s.storage.get();
  if (config.storage_checkpoints == "mongodb" && !config.mongodb.url.empty()) {
    s.mongo_checkpoints = std::make_unique<MongoCheckpoints>(config.mongodb, s.metrics);
    checkpoints = s.mongo_checkpoints.get();
  }
  EngineRunnerConfig engine_config = config.engine;
  // A sanitizer build takes every checkpoint in place (checkpoint_mode.hpp).
  {
    const std::string_view allocator = heap_allocator();
    const bool recommend_background =
        checkpoints_in_background(allocator, recommend_config.checkpoint_in_background);
    const bool engine_background = checkpoints_in_background(allocator, engine_config.checkpoint_in_background);
    if (recommend_background != recommend_config.checkpoint_in_background ||
        engine_background != engine_config.checkpoint_in_background)
      kLog.info("checkpoints are taken in place", {{"reason", "the sanitizer's allocator is not fork-safe"}});
    recommend_config.checkpoint_in_background = recommend_background;
    engine_config.checkpoint_in_background = engine_background;
  }
  s.recommend = std::make_unique<RecommendRunner>(config.recommend, recommend_config, *s.storage, *checkpoints, s.clock);
  engine_config.ownership = s.ownership.get();
  engine_config.read_back = s.storage.get();  // rollups are written there first
  RecommendRunner& recommend = *s.recommend;
  engine_config.on_applied = [&recommend](std::span<const Event> events) { recommend.offer(events); };
  RollupStore* rollups = s.storage.get();
  if (!config.mongodb.url.empty()) {
    s.mongo_rollups = std::make_unique<MongoRollups>(config.mongodb, *s.storage, config.storage_rollups == "mongodb",
                                                     config.mongodb_max_pending_minutes, 5000, s.metrics);
    rollups = s.mongo_rollups.get();
  }
  if (!config.redis.host.empty()) {
    s.redis = std::make_unique<RedisFiguresSink>(config.redis, s.dictionary, s.metrics);
    s.rollups = std::make_unique<RollupFanOut>(*rollups, *s.redis);
    rollups = s.rollups.get();
  }
  engine_config.on_published = [&gate, &freshness = *s.freshness](Sequence through) {
    freshness.published(through);
    gate.advance(api::Stage::windows, through);
  };
  engine_config.wanted_sequence = [&gate] { return gate.windows_wanted(); };
  engine_config.on_snapshot = [&s](const std::shared_ptr<const WindowSnapshot>& snapshot) {
    if (s.redis) s.redis->offer_snapshot(snapshot);  // rendered on the sink's thread, started after the load
    if (s.snapshot_callback) {
      s.dictionary_loaded.wait(false);  // an embedder may look names up
      s.snapshot_callback(snapshot);
    }
  };
  s.engine = std::make_unique<EngineRunner>(config.windows, engine_config, *s.ring, *s.storage, *rollups,
                                            *checkpoints, s.clock, s.metrics);
  Ingestor& ingestor = *s.ingestor;
  if (config.cluster.enabled) {
    s.node_id = config.cluster.node_id;
    if (s.node_id.empty()) {
      auto id = stored_node_id(config.eventlog.data_dir);
      if (!id) return std::move(id).error();
      s.node_id = std::move(id).value();
    }
    s.cluster_writer =
        std::make_unique<ClusterWriter>(config.kafka.servers, config.kafka.topic, config.cluster, s.clock, s.metrics);
  }
  ClusterWriter* writer = s.cluster_writer.get();
  s.generator = std::make_unique<Generator>(
      config.generator,
      [&ingestor, writer](std::vector<RawEvent>&& batch) {
        // Cluster mode: generated events take the write path of every other event.
        return writer ? writer->submit(std::move(batch), {}) : ingestor.submit(std::move(batch), {});
      },
      s.clock);
  if (!config.kafka.servers.empty()) {
    KafkaConfig kafka = config.kafka;
    if (PartitionOwnership* owned = s.ownership.get())
      kafka.on_assignment = [owned, leaving = &s.leaving](const std::vector<std::int32_t>& assigned,
                                                          std::uint32_t partitions) {
        if (!leaving->load()) owned->assign(assigned, partitions);
      };
    s.kafka_source = std::make_unique<KafkaSource>(kafka, *s.ingestor, *s.storage, s.clock, s.metrics);
  }
  if (!config.kafka.servers.empty() && !config.kafka_sink.topic.empty()) {
    EngineRunner& runner = *s.engine;
    const Dictionary& dict = s.dictionary;
    const Clock& wall = s.clock;
    s.kafka_sink = std::make_unique<KafkaSink>(
        config.kafka_sink, *s.storage, *s.storage, s.dictionary,
        [&runner, &dict, &wall, currency = config.api.currency] {
          return api::render_broadcast(*runner.latest(), dict, wall.now_ms(), currency);
        },
        s.clock, s.metrics);
  }
  if (config.mongodb_archive_events && !config.mongodb.url.empty()) {
    MongoArchiveConfig archive = config.mongodb_archive;
    archive.max_backoff_ms = 5000;
    s.mongo_archive = std::make_unique<MongoEventArchive>(config.mongodb, archive, *s.storage, *s.storage,
                                                          s.dictionary, s.metrics);
  }
  range::RangeRunnerConfig range_config = config.range;
  range_config.ownership = s.ownership.get();
  s.range = std::make_unique<range::RangeRunner>(range_config, *s.storage);
  api::ApiContext api_context{s.dictionary, *s.ingestor, *s.engine, *s.recommend, *rollups, s, s.metrics, s.clock,
                              config.api, s.storage.get(), s.storage.get(), &s.gate, s.range.get(), {}, {}};
  if (writer) {
    api_context.submit_events = [writer](std::vector<RawEvent>&& events, IngestDone done) {
      return writer->submit(std::move(events), std::move(done));
    };
    api_context.wait_for_room = [writer](std::size_t events, std::chrono::steady_clock::time_point deadline) {
      return writer->wait_for_room(events, deadline);
    };
    s.cluster_members = std::make_unique<ClusterMembers>(
        config.kafka.servers, config.kafka.topic, config.cluster, [&s] { return s.member_record(); }, s.clock);
    api_context.cluster_status = [&s] { return s.cluster_status(); };
    api_context.ownership = s.ownership.get();
  }
  s.handler = api::make_api_handler(std::move(api_context));
  // Every route takes scope=local|cluster; in cluster mode the query layer
  // asks the members and merges (README, Cluster, Queries).
  s.member_client = std::make_unique<cluster::MemberClient>();
  cluster::QueryConfig query;
  query.cluster = writer != nullptr;
  query.self_id = s.node_id;
  query.timeout_ms = config.cluster.query_timeout_ms;
  query.max_limit = config.api.max_limit;
  query.realtime_top_n = config.windows.top_n;
  s.cluster_handler = cluster::make_cluster_query_handler(
      *s.handler,
      [&s] {
        cluster::ClusterView view;
        if (!s.cluster_members) return view;
        view.partitions = static_cast<std::uint32_t>(s.kafka_source->stats().partitions);
        view.members = cluster::parse_members(s.cluster_members->members_json());
        return view;
      },
      *s.member_client, std::move(query));
  EngineRunner& engine = *s.engine;
  const Dictionary& dictionary = s.dictionary;
  const Clock& clock = s.clock;
  const EventLog& log = *s.storage;
  if (!writer) {
    s.http = std::make_unique<HttpServer>(
        config.http, *s.cluster_handler,
        [&engine, &dictionary, &clock, &log, currency = config.api.currency]() {
          const Sequence logged = log.next_sequence() - 1;  // first: what the snapshot is compared with
          return std::make_shared<const std::string>(
              api::render_broadcast(*engine.latest(), dictionary, clock.now_ms(), currency, logged));
        },
        s.metrics, s.authorizer.get());
  } else {
    // Cluster mode: each push is GET /api/analytics/snapshot through the
    // query layer (every member's part, merged exactly, with coverage; the
    // merge on the member client's thread), plus the member records this
    // node holds (README, Cluster).
    api::Handler& cluster_handler = *s.cluster_handler;
    s.http = std::make_unique<HttpServer>(
        config.http, cluster_handler,
        [&cluster_handler, &s](BroadcastDeliver deliver) {
          api::ApiRequest rq;
          rq.method = "GET";
          rq.path = "/api/analytics/snapshot";
          rq.authorization = s.member_authorization;
          cluster_handler.handle(std::move(rq), [&s, deliver = std::move(deliver)](api::ApiResponse r) {
            if (r.status != 200 || r.body.empty() || r.body.back() != '}') return deliver(nullptr);
            std::string msg = std::move(r.body);
            msg.pop_back();
            msg += ",\"cluster\":{\"node_id\":\"";
            append_json_escaped(msg, s.node_id);
            msg += "\",\"members\":" + s.cluster_members->members_json() + "}}";
            deliver(std::make_shared<const std::string>(std::move(msg)));
          });
        },
        s.metrics, s.authorizer.get());
  }
  s.metrics.gauge("shoppulse_eventlog_bytes", "Estimated bytes of the event log on disk",
                  [&s] { return double(s.storage->stats().bytes); });
  s.metrics.gauge("shoppulse_eventlog_last_sequence", "Sequence of the newest logged event",
                  [&s] { return double(s.storage->stats().last_sequence); });
  // Memory by component, as in /api/system/status; process_rss is the whole process.
  const auto memory_gauge = [&s](const char* component, std::function<double()> read) {
    s.metrics.gauge("shoppulse_memory_bytes", "Bytes held, by component (process_rss: the whole process)",
                    std::move(read), std::string("component=\"") + component + "\"");
  };
  memory_gauge("process_rss", [] { return double(resident_bytes()); });
  memory_gauge("dictionary", [&s] { return double(s.dictionary.memory_bytes()); });
  s.metrics.gauge("shoppulse_dictionary_resident_ids", "Dictionary ids held in memory, all kinds",
                  [&s] { return double(s.dictionary.resident()); });
  s.metrics.gauge("shoppulse_dictionary_evicted_ids", "Dictionary ids evicted from memory so far (counter)",
                  [&s] { return double(s.dictionary.evicted_total()); });
  memory_gauge("windows", [&s] { return double(s.engine->stats().memory.windows); });
  memory_gauge("user_profiles", [&s] { return double(s.engine->stats().memory.user_profiles); });
  memory_gauge("filter_buffer", [&s] { return double(s.engine->stats().memory.filter_buffer); });
  memory_gauge("range_index", [&s] { return double(s.range->stats().index_bytes); });
  memory_gauge("event_rings", [&s] { return double(s.event_rings_bytes()); });
  memory_gauge("allocator_free", [] { return double(heap_free_bytes()); });
  memory_gauge("recommender", [&s] { return double(s.recommend->latest()->memory_bytes); });
  memory_gauge("rocksdb_memtables", [&s] { return double(s.storage->stats().memtable_bytes); });
  memory_gauge("rocksdb_block_cache", [&s] { return double(s.storage->stats().block_cache_bytes); });
  memory_gauge("rocksdb_table_readers", [&s] { return double(s.storage->stats().table_readers_bytes); });
  s.metrics.gauge("shoppulse_memory_bound_bytes", "RocksDB's memory budget: block cache + memtable budget",
                  [&s] { return double(s.storage->stats().memory_budget_bytes); }, "component=\"rocksdb\"");
  s.metrics.gauge("shoppulse_user_profiles_resident", "User profiles in memory (at most windows.max_profiles)",
                  [&s] { return double(s.engine->stats().memory.resident_profiles); });
  s.metrics.gauge("shoppulse_user_profiles_evicted", "User profiles evicted since start",
                  [&s] { return double(s.engine->stats().memory.evicted_profiles); });
  s.metrics.gauge("shoppulse_window_spilled_minutes",
                  "Minutes of the 1h/24h windows whose details are read back from the rollup store",
                  [&s] { return double(s.engine->stats().memory.spilled_minutes); });
  s.metrics.gauge("shoppulse_window_packed_seconds", "Seconds of the 1m/5m/15m windows whose users are held packed",
                  [&s] { return double(s.engine->stats().memory.packed_seconds); });
  s.metrics.gauge("shoppulse_dictionary_ids", "Interned ids of every kind", [&s] {
    std::size_t n = 0;
    for (std::size_t k = 0; k < kIdKindCount; ++k) n += s.dictionary.table(static_cast<IdKind>(k)).size();
    return double(n);
  });
  // Events the engine could not hand to the recommender (a full ring), and
  // the events the recommend thread read from the log instead (those, and
  // what the engine replayed after a restart without handing over).
  s.metrics.counter_read("shoppulse_recommend_dropped_offers_total",
                         "Events the engine applied that the full ring to the recommender refused",
                         [&s] { return double(s.recommend->stats().dropped_offers); });
  s.metrics.counter_read("shoppulse_recommend_log_read_events_total",
                         "Events the running recommender read from the log rather than from the engine's ring",
                         [&s] { return double(s.recommend->stats().gap_read_events); });
  // Back-off sleeps of the threads that drain the ring, to tell a starved
  // pipeline (many waits) from a saturated one (none) without a profiler.
  s.metrics.counter_read("shoppulse_thread_idle_waits_total", "Back-off sleeps on an empty ring, by thread",
                         [&s] { return double(s.engine->stats().idle_waits); }, "thread=\"engine\"");
  s.metrics.counter_read("shoppulse_thread_idle_waits_total", "Back-off sleeps on an empty ring, by thread",
                         [&s] { return double(s.recommend->stats().idle_waits); }, "thread=\"recommend\"");
  s.metrics.counter_read("shoppulse_thread_idle_wait_seconds_total", "Time spent in back-off sleeps on an empty ring",
                         [&s] { return double(s.engine->stats().idle_wait.count()) / 1e6; }, "thread=\"engine\"");
  s.metrics.counter_read("shoppulse_thread_idle_wait_seconds_total", "Time spent in back-off sleeps on an empty ring",
                         [&s] { return double(s.recommend->stats().idle_wait.count()) / 1e6; },
                         "thread=\"recommend\"");
  s.metrics.gauge("shoppulse_range_events_scanned", "Log events read by range, funnel and cohort queries since start",
                  [&s] { return double(s.range->stats().events_scanned); });
  s.metrics.gauge("shoppulse_range_queries_refused", "Range queries refused since start (queue full or range too large)",
                  [&s] { return double(s.range->stats().refused); });
  s.metrics.gauge("shoppulse_build_info", "Version, commit, build type and library versions of this binary (always 1)",
                  [] { return 1.0; }, build_info_labels());
  return app;
}

Result<void> Application::start() {
  State& s = *state_;
  s.started_ms = s.clock.now_ms();
  s.gate.start();
  s.started = true;
  // The derived states restore from their checkpoints while the dictionary
  // loads; what follows names events (ingest, sources, HTTP, the sinks) waits
  // for it.
  s.recommend->start();
  if (s.mongo_rollups) s.mongo_rollups->start();
  s.engine->start();
  if (s.dictionary_load.valid()) {
    // The ingestor's read of the log's tail needs no names either.
    auto recalled = s.ingestor->recall();
    if (!recalled) return recalled;
    if (auto loaded = s.dictionary_load.get(); !loaded) return loaded;
  }
  if (s.redis) s.redis->start();
  if (auto r = s.ingestor->start(); !r) return r;
  if (s.cluster_writer)
    if (auto r = s.cluster_writer->start(); !r) return r;
  if (s.config.cluster.enabled) s.member_client->start();
  if (s.config.serve_http) {
    s.range->start();
    if (auto r = s.http->start(); !r) return r;
  }
  if (s.kafka_sink) s.kafka_sink->start();
  if (s.mongo_archive) s.mongo_archive->start();
  if (s.kafka_source) s.kafka_source->start();
  if (s.cluster_members) s.cluster_members->start();
  if (s.config.generator_enabled) s.generator->start();
  kLog.info("shoppulse started", {{"port", std::to_string(s.config.serve_http ? s.http->port() : 0)},
                                  {"data_dir", s.config.eventlog.data_dir},
                                  {"generator", s.config.generator_enabled ? "on" : "off"}});
  return {};
}

void Application::stop() {
  State& s = *state_;
  if (!s.http) return;
  // Reverse dependency order: sources, waiting requests, front door, ingest (drains into the
  // ring, so the engine must be consuming), then the engine (drains the ring,
  // flushes rollups, checkpoints).
  s.generator->stop();
  s.gate.stop();  // answers the requests still waiting for min_sequence (503)
  if (s.cluster_members) s.cluster_members->stop();  // the tombstone: this node leaves
  s.leaving.store(true);
  if (s.kafka_source) s.kafka_source->stop();
  // Writes still in flight are answered (503 when Kafka does not acknowledge
  // them in time) while the server can still send the answers.
  if (s.cluster_writer) s.cluster_writer->stop();
  s.http->stop();
  if (s.member_client) s.member_client->stop();  // after the server: no query asks the members any more
  s.range->stop();
  s.engine->resume();
  s.ingestor->stop();
  s.engine->stop();
  if (s.kafka_sink) s.kafka_sink->stop();
  if (s.mongo_archive) s.mongo_archive->stop();
  if (s.redis) s.redis->stop();
  if (s.mongo_rollups) s.mongo_rollups->stop();
  s.recommend->stop();
  s.http.reset();
  kLog.info("shoppulse stopped");
}

Result<void> Application::ingest(std::vector<RawEvent>&& events, IngestDone done) {
  return state_->ingestor->submit(std::move(events), std::move(done));
}

std::shared_ptr<const WindowSnapshot> Application::snapshot() const { return state_->engine->latest(); }

Result<void> Application::on_snapshot(SnapshotCallback callback) {
  if (state_->started) return make_error(Errc::invalid_argument, "on_snapshot must be set before start()");
  state_->snapshot_callback = std::move(callback);
  return {};
}

bool Application::ready() const {
  // The same rule as GET /api/ready: both derived states have caught up with
  // the log after the start, and the engine runs.
  const EngineStats windows = state_->engine->stats();
  const RecommendRunnerStats recommender = state_->recommend->stats();
  return windows.caught_up && recommender.caught_up && (windows.state == "running" || windows.state == "paused");
}

std::uint16_t Application::port() const noexcept { return state_->http ? state_->http->port() : 0; }
Ingestor& Application::ingestor() noexcept { return *state_->ingestor; }
EngineRunner& Application::engine() noexcept { return *state_->engine; }
RecommendRunner& Application::recommend() noexcept { return *state_->recommend; }
KafkaSource* Application::kafka_source() noexcept { return state_->kafka_source.get(); }
CheckpointStore& Application::records() noexcept { return *state_->storage; }
const Dictionary& Application::dictionary() const noexcept { return state_->dictionary; }

void Application::sample_rate() {
  State& s = *state_;
  std::lock_guard lock(s.rate_mutex);
  s.samples.emplace_back(s.clock.now_ms(), s.ingestor->stats().appended_events);
  while (s.samples.size() > 6) s.samples.pop_front();
}

}  // namespace shoppulse::app
