#include "shoppulse/app/app_config.hpp"

#include <filesystem>
#include <system_error>

#include "shoppulse/auth/keys.hpp"

namespace shoppulse::app {
namespace {

// An IANA zone name: Area/Location segments of letters, digits and _+-, or
// UTC and friends. Where the system has a zone database, the name must be
// in it; browsers know the same names.
Result<void> validate_time_zone(const std::string& zone) {
  if (zone.empty()) return {};
  const auto bad = [&](const std::string& why) {
    return make_error(Errc::invalid_argument, why + " (an IANA name such as Asia/Shanghai or UTC)", "api.time_zone");
  };
  if (zone.size() > 64 || zone.front() == '/' || zone.back() == '/' || zone.find("//") != std::string::npos ||
      zone.find("..") != std::string::npos)
    return bad("not a time zone name: " + zone);
  for (char ch : zone) {
    const bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '/' ||
                    ch == '_' || ch == '+' || ch == '-';
    if (!ok) return bad("not a time zone name: " + zone);
  }
  const std::filesystem::path database("/usr/share/zoneinfo");
  std::error_code ec;
  if (std::filesystem::is_directory(database, ec) && !std::filesystem::is_regular_file(database / zone, ec))
    return bad("unknown time zone: " + zone);
  return {};
}

}  // namespace

void bind(config::Schema& s, AppConfig& c) {
  s.add_string("http.host", &c.http.host,
               "Address the HTTP server listens on (env API_HOST); any address but loopback needs API keys");
  s.add_port("http.port", &c.http.port, "TCP port of the HTTP server; 0 picks a free one (env API_PORT)");
  s.add_unsigned("http.threads", &c.http.threads, "", "I/O threads serving HTTP and WebSocket", 1, 64);
  s.add_size("http.body_limit_bytes", &c.http.body_limit_bytes, "bytes",
             "Largest request body; larger ones get 413 before being read", 1024, std::size_t{1} << 31);
  s.add_duration_ms("http.idle_timeout", &c.http.idle_timeout_ms, "Idle keep-alive connections close after this",
                    100);
  s.add_duration_ms("http.ws_interval", &c.http.ws_interval_ms, "Period of WebSocket snapshot pushes", 50);
  s.add_size("http.ws_max_clients", &c.http.ws_max_clients, "connections", "Most WebSocket clients at once", 1,
             1000000);
  s.add_string("http.static_dir", &c.http.static_dir,
               "Serve dashboard files from this directory instead of the embedded copy (development)");
  s.add_size("http.max_connections", &c.http.max_connections, "connections",
             "Most open connections (HTTP and WebSocket); beyond it a client gets 503 at once. Also capped by the "
             "descriptor limit minus a reserve for the event log",
             1, 1000000);
  s.add_string("http.tls_cert", &c.http.tls_cert,
               "PEM certificate chain file; with http.tls_key the server speaks only HTTPS and WSS");
  s.add_string("http.tls_key", &c.http.tls_key, "PEM private key file of http.tls_cert");
  s.add_list("http.allowed_hosts", &c.auth.allowed_hosts,
             "Host names the server answers for besides IP addresses and localhost (DNS rebinding guard); * for any");

  s.add_bool("auth.required", &c.auth_required,
             "Require API keys also when listening on a loopback address (always required on any other address)");
  s.add_bool("auth.open_metrics", &c.auth.open_metrics, "Serve /metrics without a key");
  s.add_list("auth.cors_origins", &c.auth.cors_origins,
             "Origins (scheme://host[:port]) whose pages may call the API with a key; * for any");
  s.add_double("auth.key_rate", &c.auth.key_rate_per_second, "requests/s",
               "Sustained requests per API key (token bucket refill); beyond it 429 with Retry-After", 0.01, 1e9);
  s.add_double("auth.key_burst", &c.auth.key_burst, "requests", "Requests one API key may send at once", 1, 1e9);
  s.add_double("auth.public_rate", &c.auth.public_rate_per_second, "requests/s",
               "Sustained requests per client address with a public (browser) key", 0.01, 1e9);
  s.add_double("auth.public_burst", &c.auth.public_burst, "requests",
               "Requests one client address may send at once with a public key", 1, 1e9);

  s.add_string("eventlog.data_dir", &c.eventlog.data_dir, "Directory of the embedded database (env SHOPPULSE_DATA_DIR)");
  s.add_choice("eventlog.durability", &c.durability, {"process", "fsync"},
               "process: survives a crash of the process; fsync: also survives power loss (group commit)");
  s.add_duration_ms("eventlog.retention_max_age", &c.eventlog.retention_max_age_ms,
                    "Events (and minute rollups) older than this, counted back from the newest event, are dropped; 0 keeps them forever");
  s.add_uint("eventlog.retention_max_bytes", &c.eventlog.retention_max_bytes, "bytes",
             "Oldest events are dropped while the log is larger; 0 is unlimited");
  s.add_duration_ms("eventlog.retention_interval", &c.ingest.retention_interval_ms,
                    "How often the ingest thread applies retention_max_age and retention_max_bytes", 1);
  s.add_size("eventlog.block_cache_mb", &c.eventlog.block_cache_mb, "MiB", "Read cache of the database", 1, 1 << 20);
  s.add_size("eventlog.write_buffer_mb", &c.eventlog.write_buffer_mb, "MiB", "Memtable size per column family", 1,
             1 << 16);
  s.add_size("eventlog.memtable_budget_mb", &c.eventlog.memtable_budget_mb, "MiB",
             "Memtables of all column families together; past it they are all flushed. Charged to the block "
             "cache, so the database holds at most block_cache_mb + memtable_budget_mb",
             1, 1 << 20);
  s.add_size("eventlog.min_free_disk_mb", &c.eventlog.min_free_disk_mb, "MiB",
             "Appends and checkpoints are refused (507 with Retry-After) while they would leave the data "
             "directory's disk with less free space than this, so the database's own writes never meet a full "
             "disk; 0 turns the check off",
             0, std::size_t{1} << 30);
  s.add_duration_ms("eventlog.wal_sync_interval", &c.eventlog.wal_sync_interval_ms,
                    "process durability: the write-ahead log is fsync'ed this often in the background, so a power "
                    "loss loses at most this much acknowledged data",
                    1);
  s.add_duration_ms("eventlog.scrub_interval", &c.eventlog.scrub_interval_ms,
                    "A background scrub checks every table file's block checksums shortly after start and then this "
                    "often, at the lowest CPU priority; damage is reported in health. 0 turns it off");

  s.add_size("ingest.queue_capacity_events", &c.ingest.queue_capacity_events, "events",
             "Events waiting for the log before ingest answers 503", 1, std::size_t{1} << 30);
  s.add_size("ingest.max_append_events", &c.ingest.max_append_events, "events", "Most events in one group commit",
             1, std::size_t{1} << 24);
  s.add_duration_ms("ingest.dedupe_window", &c.ingest.dedupe_window_ms,
                    "An event_id seen this recently makes a retry a no-op");
  s.add_size("ingest.dedupe_max_ids", &c.ingest.dedupe_max_ids, "ids", "Most event_ids remembered for dedupe", 0,
             std::size_t{1} << 28);
  s.add_duration_ms("ingest.max_future", &c.ingest.max_future_ms,
                    "Timestamps later than now plus this are refused");
  s.add_size("dictionary.max_resident_ids", &c.dictionary_max_resident_ids, "ids",
             "Most ids of each kind (users, products, ...) the dictionary keeps in memory; beyond it the ones seen "
             "least recently are evicted (their name -> id entries written to the event log first) and read back when "
             "used again, with the same id. About 32 bytes an id in memory for numeric ids, 40 for others, so the "
             "default bounds the users' and the products' tables at about 130-160 MB each. 0 keeps every id in "
             "memory",
             0, std::size_t{1} << 31);
  s.add_size("ingest.ring_capacity", &c.ring_capacity, "events", "Slots in the ring between ingest and engine",
             1024, std::size_t{1} << 28);

  s.add_duration_ms("windows.allowed_lateness", &c.windows.allowed_lateness_ms,
                    "Watermark = newest event time minus this; later events still count");
  s.add_size("windows.top_n", &c.windows.top_n, "entries", "Entries in live top products and categories", 1, 1000);
  s.add_size("windows.recent_events_per_user", &c.windows.recent_events_per_user, "events",
             "Recent events kept per user profile", 0, 1000);
  s.add_size("windows.top_categories_per_user", &c.windows.top_categories_per_user, "entries",
             "Categories listed per user profile", 0, 100);
  s.add_size("windows.filter_buffer_events", &c.windows.filter_buffer_events, "events",
             "Newest events kept for filtered drill-down queries (44 bytes each); 0 disables filters", 0,
             std::size_t{1} << 30);
  s.add_size("windows.max_profiles", &c.windows.max_profiles, "profiles",
             "Most user profiles in memory; past it the least recently seen eighth is evicted (a user query then "
             "answers 404 until the user's next event starts a new profile); 0 is unlimited",
             0, std::size_t{1} << 32);
  s.add_duration_ms("windows.profile_max_idle", &c.windows.profile_max_idle_ms,
                    "Profiles of users without an event for this long (event time) are evicted; 0 keeps them");
  s.add_duration_ms("windows.publish_interval", &c.engine.publish_interval_ms, "Snapshot publish period", 10);
  s.add_duration_ms("windows.checkpoint_interval", &c.engine.checkpoint_interval_ms,
                    "Period of derived-state checkpoints", 1000);
  s.add_uint("windows.checkpoint_every_events", &c.engine.checkpoint_every_events, "events",
             "Also checkpoint after this many applied events, replayed ones included, so a process restarted more "
             "often than checkpoint_interval still bounds its replay; 0 = by time only");
  s.add_bool("windows.checkpoint_in_background", &c.engine.checkpoint_in_background,
             "Periodic and count-triggered window checkpoints are encoded by a forked copy of the process, so the "
             "engine thread and its queries wait only for the fork (pages written meanwhile are copied once); false = "
             "encode and write on the engine thread");

  s.add_bool("generator.enabled", &c.generator_enabled, "Start the built-in event generator at start-up");
  s.add_double("generator.events_per_second", &c.generator.events_per_second, "events/s",
               "Rate of generated events", 0.001, 1e8);
  s.add_size("generator.batch_size", &c.generator.batch_size, "events", "Events per hand-off to ingest", 1, 1 << 20);
  s.add_size("generator.users_count", &c.generator.users_count, "users", "Simulated shoppers", 1, 100000000);
  s.add_size("generator.products_count", &c.generator.products_count, "products", "Products in the catalogue", 1,
             100000000);
  s.add_size("generator.categories_count", &c.generator.categories_count, "categories", "Product categories", 1,
             1000000);
  s.add_weights("generator.behavior_patterns", &c.generator.behavior_patterns,
                "Relative weight of each event type (view, click, add_to_cart, purchase, rate, ...)");
  s.add_double("generator.price_range.min", &c.generator.price_min, "currency units", "Cheapest product", 0, 1e9);
  s.add_double("generator.price_range.max", &c.generator.price_max, "currency units", "Dearest product", 0, 1e9);
  s.add_list("generator.devices", &c.generator.devices, "Devices shoppers use");
  s.add_list("generator.locations", &c.generator.locations, "Shoppers' home locations");
  s.add_uint("generator.seed", &c.generator.seed, "", "Random seed: same seed, same shop");

  s.add_size("recommend.history_length", &c.recommend.history_length, "items", "Recent items kept per user", 1,
             10000);
  s.add_size("recommend.max_neighbours", &c.recommend.max_neighbours, "items",
             "Most similar items kept per item; the long tail is pruned", 1, 10000);
  s.add_size("recommend.max_items", &c.recommend.max_items, "items",
             "Items tracked; the least recently seen are evicted beyond this", 100, 100000000);
  s.add_size("recommend.max_users", &c.recommend.max_users, "users",
             "Users tracked; the least recently seen are evicted beyond this", 100, 100000000);
  s.add_duration_ms("recommend.similarity_half_life", &c.recommend.similarity_half_life_ms,
                    "Half-life of item co-occurrence", 1000);
  s.add_duration_ms("recommend.popularity_half_life", &c.recommend.popularity_half_life_ms,
                    "Half-life of item popularity", 1000);
  s.add_double("recommend.popularity_damping", &c.recommend.popularity_damping, "",
               "Similarity = co-occurrence / (popularity_a x popularity_b)^this; 0.5 is cosine", 0, 2);
  s.add_duration_ms("recommend.propensity_horizon", &c.recommend.propensity.horizon_ms,
                    "Purchase propensity predicts a purchase within this; each prediction is labelled this long "
                    "(event time) after it is made",
                    1000);
  s.add_duration_ms("recommend.checkpoint_interval", &c.recommend_runner.checkpoint_interval_ms,
                    "Period of recommender checkpoints (restart = checkpoint + log after it); 0 = only at shutdown", 0);
  s.add_bool("recommend.checkpoint_in_background", &c.recommend_runner.checkpoint_in_background,
             "Periodic recommender checkpoints are serialised by a forked copy of the process, so queries wait only "
             "for the fork (pages written meanwhile are copied once); false = serialise on the recommend thread");
  s.add_uint("recommend.checkpoint_every_events", &c.recommend_runner.checkpoint_every_events, "events",
             "Also checkpoint after this many applied events, replayed ones included; 0 = by time only");

  s.add_string("api.currency", &c.api.currency, "ISO 4217 code reported beside money");
  s.add_string("api.time_zone", &c.api.time_zone,
               "IANA time zone of the shop (e.g. Asia/Shanghai): the dashboard offers it beside the browser's zone "
               "and UTC, and /api reports it; empty = none");
  s.add_size("api.max_limit", &c.api.max_limit, "entries", "Largest accepted limit= parameter", 1, 100000);
  s.add_size("api.export_max_page", &c.api.export_max_page, "events",
             "Largest page of GET /api/events (its limit=) and most log records one page reads; the page is "
             "streamed, so this bounds the time a page takes, not memory",
             1, 100000000);
  s.add_duration_ms("api.max_wait", &c.api.max_wait_ms,
                    "Longest a request with min_sequence= waits for derived state to apply that sequence; then 503 "
                    "with Retry-After",
                    0);

  s.add_uint("range.max_scan_events", &c.range.max_scan_events, "events",
             "Most logged events one range, funnel or cohort query may read (the sequences its range spans, the "
             "previous period included); a larger range is refused with 413");
  s.add_size("range.max_queued", &c.range.max_queued, "queries",
             "Most range queries waiting for the range worker; more are refused with 503 and Retry-After", 1, 10000);
  s.add_duration_ms("range.index_interval", &c.range.index_interval_ms,
                    "How often the idle range worker adds newly logged events to its time index", 1);

  s.add_string("kafka.servers", &c.kafka.servers,
               "Kafka bootstrap servers (host:port,...); set: events are consumed from kafka.topic (env KAFKA_SERVERS)");
  s.add_string("kafka.topic", &c.kafka.topic, "Topic of JSON events consumed, one event per message");
  s.add_string("kafka.group", &c.kafka.group,
               "Consumer group the offsets are also committed to (the event log keeps the ones that count)");
  s.add_string("kafka.dead_letter_topic", &c.kafka.dead_letter_topic,
               "Malformed messages go here with the reason in the 'reason' header");
  s.add_size("kafka.batch_max_messages", &c.kafka.batch_max_messages, "messages",
             "Most messages handed to ingest (and appended) at once", 1, std::size_t{1} << 22);
  s.add_duration_ms("kafka.batch_max_wait", &c.kafka.batch_max_wait_ms, "Longest wait filling a batch", 1);
  s.add_size("kafka.batches_in_flight", &c.kafka.batches_in_flight, "batches",
             "Most batches handed to ingest and not yet appended while the next one is read (appended in order; "
             "none after a failed one)",
             1, 64);
  s.add_size("kafka.fetch_queue_kbytes", &c.kafka.fetch_queue_kbytes, "KiB",
             "Most message bytes prefetched, all partitions together, before librdkafka stops fetching; it looks "
             "again within a second, so this must exceed what is consumed in a second; a full queue holds about 2.4 "
             "times this in memory",
             1, 2097151);
  s.add_string("kafka.sink_topic", &c.kafka_sink.topic,
               "Every logged event is also published here, keyed by user_id (an outbox); empty: no sink");
  s.add_string("kafka.snapshots_topic", &c.kafka_sink.snapshots_topic,
               "The live snapshot is published here every kafka.snapshot_interval; empty: none");
  s.add_duration_ms("kafka.snapshot_interval", &c.kafka_sink.snapshot_interval_ms,
                    "Period of snapshots to kafka.snapshots_topic", 100);
  s.add_size("kafka.sink_batch_events", &c.kafka_sink.batch_max_events, "events",
             "Events per acknowledged batch of the sink (one checkpoint each)", 1, std::size_t{1} << 22);
  s.add_duration_ms("kafka.max_backoff", &c.kafka.max_backoff_ms,
                    "Longest wait between reconnects to Kafka and between retries of a full ingest", 100);

  s.add_bool("cluster.enabled", &c.cluster.enabled,
             "Run as one node of a cluster on Kafka: writes are produced to kafka.topic keyed by user_id, and the "
             "nodes share its partitions as the consumer group kafka.group; needs kafka.servers. Off: one node");
  s.add_string("cluster.advertise", &c.cluster.advertise,
               "This node's HTTP address (host:port) as the other nodes reach it, published in the members topic; "
               "empty: http.host and the port listened on");
  s.add_string("cluster.node_id", &c.cluster.node_id,
               "This node's name in the cluster; empty: generated once and kept in the data dir (cluster_node_id)");
  s.add_duration_ms("cluster.produce_timeout", &c.cluster.produce_timeout_ms,
                    "A write not acknowledged by Kafka within this answers 503 with Retry-After", 100);
  s.add_duration_ms("cluster.member_timeout", &c.cluster.member_timeout_ms,
                    "A member whose record (published every second) is older than this counts as gone", 1500);
  s.add_duration_ms("cluster.min_retention", &c.cluster.min_retention_ms,
                    "Start refused (exit code 2) when kafka.topic keeps messages for less than this (its retention.ms): "
                    "a node gaining a partition reads it from its first offset to cover the longest window; 0: not "
                    "checked");
  s.add_duration_ms("cluster.query_timeout", &c.cluster.query_timeout_ms,
                    "Longest wait for a member's part of an analytics or product query; a member that has not "
                    "answered by then is listed in the answer's coverage.missing",
                    10);
  s.add_string("cluster.key_file", &c.cluster.key_file,
               "File holding an API key with the read scope, valid on every node, that this node sends when it asks "
               "the members for their part of its WebSocket push (no client's key to pass on); needed when API keys "
               "are required; empty: none");

  s.add_string("mongodb.url", &c.mongodb.url,
               "MongoDB that keeps a copy of every per-minute rollup, mongodb://host:port/database; empty: none "
               "(env MONGODB_URL)");
  s.add_string("mongodb.database", &c.mongodb.database, "Database of the rollups; empty: the URL's, else shoppulse");
  s.add_size("mongodb.bulk_size", &c.mongodb.bulk_size, "writes", "Most upserts in one bulk write to MongoDB", 1,
             1000);
  s.add_duration_ms("mongodb.timeout", &c.mongodb.timeout_ms, "Connect, server selection and socket timeout of MongoDB",
                    10);
  s.add_size("mongodb.max_pending_minutes", &c.mongodb_max_pending_minutes, "minutes",
             "Closed minutes waiting for MongoDB; beyond this the oldest wait for the next start's backfill", 1,
             100000000);
  s.add_choice("storage.rollups", &c.storage_rollups, {"rocksdb", "mongodb"},
               "Where trends and history are read from; mongodb needs mongodb.url (rollups are always also kept in "
               "the embedded store)");
  s.add_bool("mongodb.archive_events", &c.mongodb_archive_events,
             "Every logged event is also upserted into the events collection with _id = its sequence (resumed from "
             "the log after an outage); needs mongodb.url");
  s.add_size("mongodb.archive_batch_events", &c.mongodb_archive.batch_max_events, "events",
             "Events per checkpointed batch of the event archive (written in bulks of mongodb.bulk_size)", 1,
             std::size_t{1} << 20);
  s.add_choice("storage.checkpoints", &c.storage_checkpoints, {"rocksdb", "mongodb"},
               "Where the window engine's and the recommender's checkpoints are kept; mongodb needs mongodb.url (a "
               "restart restores from there and replays the log after it; unreadable: the whole log is replayed)");
  s.add_size("mongodb.checkpoint_chunk_size", &c.mongodb.checkpoint_chunk_bytes, "bytes",
             "Checkpoints larger than this are stored in chunks of this size (MongoDB documents stop at 16 MiB)",
             1, std::size_t{8} << 20);

  s.add_string("redis.host", &c.redis.host,
               "Redis server that receives live figures after each snapshot; empty: none (env REDIS_HOST)");
  s.add_port("redis.port", &c.redis.port, "TCP port of the Redis server (env REDIS_PORT)");
  s.add_string("redis.key_prefix", &c.redis.key_prefix, "First part of every Redis key and of the channel");
  s.add_duration_ms("redis.minute_ttl", &c.redis.minute_ttl_ms, "Per-minute hashes in Redis expire after this", 1000);
  s.add_duration_ms("redis.timeout", &c.redis.timeout_ms, "Connect and command timeout of Redis", 10);
  s.add_duration_ms("redis.max_backoff", &c.redis.max_backoff_ms, "Longest wait between reconnects to Redis", 100);
  s.add_size("redis.max_pending_minutes", &c.redis.max_pending_minutes, "minutes",
             "Closed minutes kept while Redis is unreachable; the oldest are dropped beyond this", 1, 1000000);

  s.add_choice("log.level", &c.log_level, {"debug", "info", "warning", "error", "critical"},
               "Least severe level logged (env LOG_LEVEL)");
  s.add_choice("log.format", &c.log_format, {"logfmt", "json"}, "Diagnostics format on stderr");
}

const std::vector<std::pair<std::string, std::string>>& environment_mapping() {
  static const std::vector<std::pair<std::string, std::string>> kMapping{
      {"API_HOST", "http.host"},
      {"API_PORT", "http.port"},
      {"LOG_LEVEL", "log.level"},
      {"MONGODB_URL", "mongodb.url"},
      {"KAFKA_SERVERS", "kafka.servers"},
      {"REDIS_HOST", "redis.host"},
      {"REDIS_PORT", "redis.port"},
      {"SHOPPULSE_DATA_DIR", "eventlog.data_dir"},
  };
  return kMapping;
}

Result<void> finish(AppConfig& c) {
  c.eventlog.durability = c.durability == "fsync" ? Durability::fsync : Durability::process;
  c.ingest.retention_max_age_ms = c.eventlog.retention_max_age_ms;
  c.ingest.retention_max_bytes = c.eventlog.retention_max_bytes;
  c.engine.rollup_retention_ms = c.eventlog.retention_max_age_ms;
  c.api.rollup_retention_ms = c.eventlog.retention_max_age_ms;
  c.kafka.max_future_ms = c.ingest.max_future_ms;
  if (c.storage_rollups == "mongodb" && c.mongodb.url.empty())
    return make_error(Errc::invalid_argument, "mongodb needs mongodb.url (or MONGODB_URL)", "storage.rollups");
  if (c.mongodb_archive_events && c.mongodb.url.empty())
    return make_error(Errc::invalid_argument, "needs mongodb.url (or MONGODB_URL)", "mongodb.archive_events");
  if (c.storage_checkpoints == "mongodb" && c.mongodb.url.empty())
    return make_error(Errc::invalid_argument, "mongodb needs mongodb.url (or MONGODB_URL)", "storage.checkpoints");
  if (c.cluster.enabled && c.kafka.servers.empty())
    return make_error(Errc::invalid_argument, "cluster mode needs kafka.servers (or KAFKA_SERVERS)",
                      "cluster.enabled");
  c.kafka.subscribe = c.cluster.enabled;
  c.kafka_sink.servers = c.kafka.servers;
  c.kafka_sink.max_backoff_ms = c.kafka.max_backoff_ms;
  if (!c.kafka_sink.topic.empty() && c.kafka_sink.topic == c.kafka.topic && !c.kafka.servers.empty())
    return make_error(Errc::invalid_argument, "must differ from kafka.topic (the sink would feed the source)",
                      "kafka.sink_topic");
  if (auto v = validate(c.generator); !v) return v;
  if (auto v = validate_time_zone(c.api.time_zone); !v) return v;
  if (c.eventlog.data_dir.empty()) return make_error(Errc::invalid_argument, "must not be empty", "eventlog.data_dir");
  c.auth.data_dir = c.eventlog.data_dir;
  if (c.http.tls_cert.empty() != c.http.tls_key.empty())
    return make_error(Errc::invalid_argument, "set both or neither of http.tls_cert and http.tls_key", "http.tls_key");
  c.auth.keys_required = c.auth_required || !auth::is_loopback_host(c.http.host);
  for (auto& origin : c.auth.cors_origins) {
    if (origin == "*") continue;
    auto normal = auth::normalize_origin(origin);
    if (!normal) return make_error(Errc::invalid_argument, "not an origin (scheme://host[:port]): " + origin, "auth.cors_origins");
    origin = *normal;
  }
  return {};
}

}  // namespace shoppulse::app
