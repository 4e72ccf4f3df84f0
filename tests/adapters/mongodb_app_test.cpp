// shoppulse with the seed's MONGODB_URL set and storage.rollups = mongodb,
// against FerretDB on PostgreSQL: closed minutes reach MongoDB and trends are
// read back from it; with FerretDB stopped the component is unhealthy and,
// once it is back, every minute closed meanwhile is there. Prints "SKIPPED"
// and exits 77 where FerretDB cannot be built.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <mongoc/mongoc.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <regex>
#include <sstream>
#include <string>

#include "ferretdb_server.hpp"
#include "outage.hpp"
#include "integration/harness.hpp"
#include "shoppulse/adapters/mongodb_store.hpp"
#include "shoppulse/eventlog/rocksdb_store.hpp"

namespace si = shoppulse::integration;

namespace {

constexpr std::int64_t kMinute = 60000;

// Minute k of `minutes` from base gets k + 1 views; one more event after
// them moves the watermark past their end (allowed lateness 0).
std::string events_body(std::int64_t base, int first_minute, int minutes, const std::string& tag) {
  std::ostringstream o;
  o << '[';
  bool comma = false;
  for (int k = first_minute; k < first_minute + minutes; ++k) {
    for (int i = 0; i <= k; ++i) {
      if (comma) o << ',';
      comma = true;
      o << "{\"event_id\":\"" << tag << k << "-" << i << "\",\"user_id\":\"u" << i << "\",\"event_type\":\"view\","
        << "\"product_id\":\"p1\",\"timestamp\":" << (base + k * kMinute + i * 1000) << '}';
    }
  }
  o << ",{\"event_id\":\"" << tag << "-end\",\"user_id\":\"u0\",\"event_type\":\"click\",\"product_id\":\"p1\","
    << "\"timestamp\":" << (base + (first_minute + minutes) * kMinute + 1000) << "}]";
  return o.str();
}

// Minutes stored in MongoDB, read with the store itself over its own pool.
std::size_t mongo_minutes(const std::string& url) {
  shoppulse::MongoConfig c;
  c.url = url;
  auto store = shoppulse::open_mongodb_store(c);
  if (!store) return 0;
  std::size_t n = 0;
  (void)(*store)->scan_minutes(INT64_MIN, INT64_MAX, [&](std::int64_t, std::string_view) { ++n; });
  return n;
}

// Events with sequences first..first+n-1 in a fresh log: users and products
// cycle so both the windows and the recommender have state.
std::string shop_events(std::int64_t base, int first, int n) {
  static const char* const kTypes[] = {"view", "view", "click", "add_to_cart", "view", "purchase"};
  std::ostringstream o;
  o << '[';
  for (int i = first; i < first + n; ++i) {
    if (i > first) o << ',';
    o << "{\"event_id\":\"cp" << i << "\",\"user_id\":\"cu" << (i % 7) << "\",\"event_type\":\"" << kTypes[i % 6]
      << "\",\"product_id\":\"cp" << (i % 5) << "\",\"timestamp\":" << (base + std::int64_t(i) * 1500);
    if (i % 6 == 5) o << ",\"price\":" << (10 + i % 5);
    o << '}';
  }
  o << ']';
  return o.str();
}

// The checkpoint `name` as MongoDB holds it; nullopt when there is none yet.
std::optional<shoppulse::Checkpoint> mongo_checkpoint(const std::string& url, const char* name) {
  shoppulse::MongoConfig c;
  c.url = url;
  auto store = shoppulse::open_mongodb_store(c);
  if (!store) return std::nullopt;
  auto got = (*store)->get_checkpoint(name);
  if (!got) return std::nullopt;
  return *got;
}

// One event as the archive should hold it, and as the test posts it.
struct ArchivedEvent {
  std::string event_id, user_id, event_type, product_id;
  std::int64_t timestamp = 0, price_minor = 0;
  std::int32_t quantity = 0;
  bool operator==(const ArchivedEvent&) const = default;
};

ArchivedEvent archive_event(int i, std::int64_t base) {
  static const char* const kTypes[] = {"view", "click", "view", "add_to_cart", "purchase"};
  ArchivedEvent e;
  e.event_id = "ar" + std::to_string(i);
  e.user_id = "au" + std::to_string(i % 9);
  e.event_type = kTypes[i % 5];
  e.product_id = "ap" + std::to_string(i % 11);
  e.timestamp = base + std::int64_t(i) * 1000;  // one second of event time apart: minutes keep closing
  e.price_minor = e.event_type == "purchase" ? 1000 + i % 100 : 0;
  e.quantity = 1;
  return e;
}

std::string archive_body(const std::vector<ArchivedEvent>& events) {
  std::ostringstream o;
  o << '[';
  for (std::size_t k = 0; k < events.size(); ++k) {
    const ArchivedEvent& e = events[k];
    if (k) o << ',';
    o << "{\"event_id\":\"" << e.event_id << "\",\"user_id\":\"" << e.user_id << "\",\"event_type\":\""
      << e.event_type << "\",\"product_id\":\"" << e.product_id << "\",\"timestamp\":" << e.timestamp;
    if (e.price_minor) o << ",\"price\":" << e.price_minor / 100 << '.' << (e.price_minor % 100 < 10 ? "0" : "")
                         << e.price_minor % 100;
    o << '}';
  }
  o << ']';
  return o.str();
}

// Every document of the events collection, read with the C driver itself
// (not the store under test), keyed by _id; `documents` counts them all.
std::map<std::int64_t, ArchivedEvent> read_archive(const std::string& url, std::size_t& documents) {
  std::map<std::int64_t, ArchivedEvent> out;
  documents = 0;
  mongoc_init();
  mongoc_client_t* client = mongoc_client_new(url.c_str());
  REQUIRE(client);
  mongoc_uri_t* uri = mongoc_uri_new(url.c_str());
  mongoc_collection_t* events = mongoc_client_get_collection(client, mongoc_uri_get_database(uri), "events");
  bson_t filter = BSON_INITIALIZER;
  mongoc_cursor_t* cursor = mongoc_collection_find_with_opts(events, &filter, nullptr, nullptr);
  const bson_t* doc = nullptr;
  auto text = [](const bson_t* d, const char* key) {
    bson_iter_t it;
    return bson_iter_init_find(&it, d, key) && BSON_ITER_HOLDS_UTF8(&it) ? std::string(bson_iter_utf8(&it, nullptr))
                                                                           : std::string("<missing>");
  };
  auto int64 = [](const bson_t* d, const char* key) -> std::int64_t {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, d, key)) return 0;
    return BSON_ITER_HOLDS_INT32(&it) ? bson_iter_int32(&it) : BSON_ITER_HOLDS_INT64(&it) ? bson_iter_int64(&it) : -1;
  };
  while (mongoc_cursor_next(cursor, &doc)) {
    ++documents;
    ArchivedEvent e{text(doc, "event_id"), text(doc, "user_id"), text(doc, "event_type"), text(doc, "product_id"),
                    int64(doc, "timestamp"), int64(doc, "price_minor"), std::int32_t(int64(doc, "quantity"))};
    out[int64(doc, "_id")] = std::move(e);
  }
  bson_error_t error;
  const bool failed = mongoc_cursor_error(cursor, &error);
  mongoc_cursor_destroy(cursor);
  bson_destroy(&filter);
  mongoc_collection_destroy(events);
  mongoc_uri_destroy(uri);
  mongoc_client_destroy(client);
  INFO((failed ? error.message : ""));
  REQUIRE_FALSE(failed);
  return out;
}

using Minutes = std::map<std::int64_t, std::string>;

Minutes all_minutes(const shoppulse::RollupStore& store) {
  Minutes out;
  REQUIRE(store.scan_minutes(INT64_MIN, INT64_MAX, [&](std::int64_t m, std::string_view b) { out[m] = std::string(b); })
              .ok());
  return out;
}

// A response without the moment it was answered.
std::string without_timestamp(const si::Json& j) {
  static const std::regex kTimestamp("\"timestamp\":\"[^\"]*\",?");
  return std::regex_replace(j.text(), kTimestamp, "");
}

std::string component(const si::ServerProcess& s, const std::string& field) {
  return s.get_json("/api/health").str("/components/mongodb/" + field);
}

}  // namespace

TEST_CASE("With MONGODB_URL set, closed minutes reach MongoDB, trends read them back, and an outage is caught up",
          "[mongodb][integration]") {
  shoppulse::servers::FerretDbServer ferretdb;
  ferretdb.start();
  const std::string url = ferretdb.url("shop");
  ::setenv("MONGODB_URL", url.c_str(), 1);
  si::TempDir dir;
  si::ServerProcess server(si::ServerOptions{
      dir.path() / "data", {}, false,
      {"http.host=127.0.0.1", "windows.allowed_lateness=0", "storage.rollups=mongodb", "mongodb.timeout=1s"},
      si::Millis(20000)});
  server.start();
  ::unsetenv("MONGODB_URL");

  const std::int64_t base = (si::now_ms() / kMinute - 120) * kMinute;
  REQUIRE(server.post("/api/events", events_body(base, 0, 4, "a")).status == 200);
  INFO("shoppulse log: " << server.log_tail());
  REQUIRE(si::poll_until([&] { return mongo_minutes(url) >= 4; }, si::Millis(60000)));
  CHECK(component(server, "status") == "healthy");
  const std::string trends = "/api/analytics/trends?step=1m&from=" + si::iso8601(base) +
                             "&to=" + si::iso8601(base + 4 * kMinute);
  const si::Json t = server.get_json(trends);
  REQUIRE(t.size("/points") == 4);
  for (int k = 0; k < 4; ++k) CHECK(t.u64("/points/" + std::to_string(k) + "/page_views") == std::uint64_t(k + 1));

  ferretdb.stop();
  REQUIRE(server.post("/api/events", events_body(base, 5, 3, "b")).status == 200);
  // Events keep arriving (one every 100 ms, from minute 9 on) for at least
  // 10 s of the outage.
  int k = 0;
  const adapters_test::Outage outage = adapters_test::feed_while_down(
      [&] {
        const std::string e = "[{\"event_id\":\"c" + std::to_string(k) + "\",\"user_id\":\"u0\",\"event_type\":"
                              "\"view\",\"product_id\":\"p1\",\"timestamp\":" +
                              std::to_string(base + 9 * kMinute + std::int64_t(k) * 1000) + "}]";
        ++k;
        REQUIRE(server.post("/api/events", e).status == 200);
      },
      [&] { return component(server, "status") == "unhealthy"; });
  CHECK(outage.lasted >= std::chrono::seconds(10));
  CHECK_FALSE(component(server, "last_error").empty());
  CHECK(server.get_json("/api/health").str("/components/stream_processor/status") == "healthy");
  ferretdb.start();
  // Minutes 0-3, the one holding the first batch's last event (4), 5-7, 8
  // and those the outage's events closed.
  REQUIRE(si::poll_until([&] { return mongo_minutes(url) >= 10; }, si::Millis(60000)));
  REQUIRE(si::poll_until([&] { return component(server, "status") == "healthy"; }, si::Millis(30000)));
  const si::Json later = server.get_json("/api/analytics/trends?step=1m&from=" + si::iso8601(base + 5 * kMinute) +
                                         "&to=" + si::iso8601(base + 8 * kMinute));
  REQUIRE(later.size("/points") == 3);
  for (int k = 0; k < 3; ++k)
    CHECK(later.u64("/points/" + std::to_string(k) + "/page_views") == std::uint64_t(k + 6));
  CHECK(server.stop() == 0);
}

TEST_CASE("With storage.checkpoints = mongodb, kill -9 and restart restore from the MongoDB checkpoints and replay "
          "only the log after them",
          "[mongodb][integration]") {
  shoppulse::servers::FerretDbServer ferretdb;
  ferretdb.start();
  const std::string url = ferretdb.url("checkpoints");
  // Checkpoints by count only: one after the first 40 events, none after the
  // 15 that follow, so the restart has a tail to replay. The 1 KiB chunk
  // size makes the checkpoints go in several chunks.
  si::TempDir dir;
  si::ServerProcess server(si::ServerOptions{
      dir.path() / "data", {}, false,
      {"http.host=127.0.0.1", "mongodb.url=" + url, "storage.checkpoints=mongodb", "mongodb.timeout=1s",
       "mongodb.checkpoint_chunk_size=1024", "windows.checkpoint_interval=1h", "windows.checkpoint_every_events=40",
       "recommend.checkpoint_interval=0", "recommend.checkpoint_every_events=40"},
      si::Millis(20000)});
  server.start();
  INFO("shoppulse log: " << server.log_tail());
  const std::int64_t base = si::now_ms() - 2 * 3600 * 1000;
  REQUIRE(server.post("/api/events", shop_events(base, 1, 40)).status == 200);
  REQUIRE(si::poll_until([&] {
    const auto w = mongo_checkpoint(url, "window_engine");
    const auto r = mongo_checkpoint(url, "recommender");
    return w && r && w->covers_through == 40 && r->covers_through == 40;
  }, si::Millis(60000)));
  REQUIRE(server.post("/api/events", shop_events(base, 41, 15)).status == 200);
  si::wait_applied(server, 55);
  REQUIRE(si::poll_until([&] { return server.get_json("/api/system/status").u64("/recommender/applied_through") == 55; }));
  CHECK(server.get_json("/api/health").str("/components/mongodb_checkpoints/status") == "healthy");
  const std::string end = si::iso8601(base + 56 * 1500);
  const std::vector<std::string> targets{
      "/api/analytics/real-time?window=1h",
      "/api/analytics/user/cu3",
      "/api/products/popular?window=24h&end=" + end,
      "/api/products/cp1/similar",
      "/api/products/recommendations/user/cu2?limit=20",
  };
  std::map<std::string, std::string> before;
  for (const auto& t : targets) before[t] = without_timestamp(server.get_json(t));
  // Neither checkpoint moved past 40 meanwhile.
  const auto engine_cp = mongo_checkpoint(url, "window_engine");
  const auto recommend_cp = mongo_checkpoint(url, "recommender");
  REQUIRE(engine_cp);
  REQUIRE(recommend_cp);
  REQUIRE(engine_cp->covers_through == 40);
  REQUIRE(recommend_cp->covers_through == 40);
  INFO("checkpoint bytes: engine " << engine_cp->bytes.size() << ", recommender " << recommend_cp->bytes.size());
  CHECK(engine_cp->bytes.size() > 1024);  // chunked

  server.kill_hard();
  server.start();
  si::wait_applied(server, 55);
  si::wait_ready(server);
  const si::Json st = server.get_json("/api/system/status");
  // The embedded store holds no checkpoint: restored from MongoDB, the
  // replays are the 15 events after it, not the whole log.
  CHECK(st.u64("/stream_processor/replayed_events") == 15);
  CHECK(st.u64("/recommender/restored_through") == 40);
  CHECK(st.u64("/recommender/replayed_events") == 15);
  for (const auto& t : targets) {
    INFO("GET " << t);
    CHECK(without_timestamp(server.get_json(t)) == before.at(t));
  }

  // FerretDB down: the next checkpoint fails and says so, and the engine
  // and recommender go on applying events; once it is back, the checkpoint
  // after that lands there.
  ferretdb.stop();
  REQUIRE(server.post("/api/events", shop_events(base, 56, 40)).status == 200);
  si::wait_applied(server, 95);
  REQUIRE(si::poll_until([&] {
    return server.get_json("/api/health").str("/components/mongodb_checkpoints/status") == "unhealthy";
  }, si::Millis(60000)));
  REQUIRE(server.post("/api/events", shop_events(base, 96, 5)).status == 200);
  si::wait_applied(server, 100);
  REQUIRE(si::poll_until([&] { return server.get_json("/api/system/status").u64("/recommender/applied_through") == 100; }));
  ferretdb.start();
  // Each 40 events ask for a checkpoint; the first ones may still fall in
  // the reconnect backoff.
  int next = 101;
  REQUIRE(si::poll_until([&] {
    const auto w = mongo_checkpoint(url, "window_engine");
    if (w && w->covers_through > 100) return true;
    REQUIRE(server.post("/api/events", shop_events(base, next, 40)).status == 200);
    next += 40;
    return false;
  }, si::Millis(90000), si::Millis(500)));
  REQUIRE(si::poll_until([&] {
    return server.get_json("/api/health").str("/components/mongodb_checkpoints/status") == "healthy";
  }, si::Millis(60000)));
  CHECK(server.stop() == 0);
}

TEST_CASE("The archive's backlog counts the events logged while MongoDB has never answered", "[mongodb][integration]") {
  // Nothing listens on the port: the archive thread never connects, so
  // only the log can say how far behind it is.
  const std::string url = "mongodb://127.0.0.1:" + std::to_string(shoppulse::servers::free_port()) +
                          "/archive?serverSelectionTimeoutMS=200&connectTimeoutMS=200";
  si::TempDir dir;
  si::ServerProcess server(si::ServerOptions{
      dir.path() / "data", {}, false,
      {"http.host=127.0.0.1", "mongodb.url=" + url, "mongodb.archive_events=true", "mongodb.timeout=1s"},
      si::Millis(20000)});
  server.start();
  INFO("shoppulse log: " << server.log_tail());
  const std::int64_t base = (si::now_ms() / kMinute - 30) * kMinute;
  std::vector<ArchivedEvent> batch;
  for (int i = 0; i < 25; ++i) batch.push_back(archive_event(i, base));
  REQUIRE(server.post("/api/events", archive_body(batch)).status == 200);
  si::wait_applied(server, 25);
  REQUIRE(si::poll_until([&] {
    return server.get_json("/api/health").str("/components/mongodb_archive/status") == "unhealthy";
  }, si::Millis(30000)));
  CHECK(server.get_json("/api/health").u64("/components/mongodb_archive/backlog") == 25);
  const std::string metrics = server.get("/metrics").body;
  CHECK(metrics.find("shoppulse_mongodb_archive_backlog 25\n") != std::string::npos);
  CHECK(server.stop() == 0);
}

TEST_CASE("With mongodb.archive_events every logged event is archived once; FerretDB stopped for 10 s while events "
          "flow is caught up with nothing lost or doubled, and the rollups in MongoDB equal the embedded ones",
          "[mongodb][integration]") {
  shoppulse::servers::FerretDbServer ferretdb;
  ferretdb.start();
  const std::string url = ferretdb.url("archive");
  si::TempDir dir;
  si::ServerProcess server(si::ServerOptions{
      dir.path() / "data", {}, false,
      {"http.host=127.0.0.1", "mongodb.url=" + url, "mongodb.archive_events=true", "mongodb.timeout=1s",
       "windows.allowed_lateness=0"},
      si::Millis(20000)});
  server.start();
  INFO("shoppulse log: " << server.log_tail());
  const std::int64_t base = (si::now_ms() / kMinute - 180) * kMinute;
  // The oracle: every posted event by the sequence the log gave it.
  std::map<std::int64_t, ArchivedEvent> posted;
  int next = 0;
  auto post_batch = [&](int n) {
    std::vector<ArchivedEvent> batch;
    for (int k = 0; k < n; ++k) batch.push_back(archive_event(next++, base));
    const auto response = server.post("/api/events", archive_body(batch));
    REQUIRE(response.status == 200);
    const si::Json r(response.body);
    REQUIRE(r.u64("/accepted") == std::uint64_t(n));
    const std::int64_t first = std::int64_t(r.u64("/first_sequence"));
    REQUIRE(std::int64_t(r.u64("/last_sequence")) == first + n - 1);
    for (int k = 0; k < n; ++k) posted[first + k] = batch[std::size_t(k)];
  };
  auto archive = [&](const std::string& field) {
    return server.get_json("/api/health").str("/components/mongodb_archive/" + field);
  };
  auto caught_up = [&] {
    const si::Json h = server.get_json("/api/health");
    return h.str("/components/mongodb_archive/status") == "healthy" &&
           h.u64("/components/mongodb_archive/backlog") == 0 && h.str("/components/mongodb/status") == "healthy" &&
           h.u64("/components/mongodb/backlog") == 0 &&
           server.get_json("/api/system/status").u64("/stream_processor/applied_through") == posted.size();
  };

  for (int b = 0; b < 10; ++b) post_batch(20);
  REQUIRE(si::poll_until(caught_up, si::Millis(60000)));
  std::size_t documents = 0;
  auto archived = read_archive(url, documents);
  CHECK(documents == posted.size());
  CHECK(archived == posted);

  // FerretDB down for at least 10 s of steady time while events keep
  // arriving, 10 every 100 ms, until both MongoDB components said so.
  ferretdb.stop();
  bool archive_unhealthy = false, rollups_unhealthy = false;
  const adapters_test::Outage outage = adapters_test::feed_while_down([&] { post_batch(10); }, [&] {
    const si::Json h = server.get_json("/api/health");
    archive_unhealthy = archive_unhealthy || h.str("/components/mongodb_archive/status") == "unhealthy";
    rollups_unhealthy = rollups_unhealthy || h.str("/components/mongodb/status") == "unhealthy";
    return archive_unhealthy && rollups_unhealthy;
  });
  CHECK(outage.lasted >= std::chrono::seconds(10));
  CHECK_FALSE(archive("last_error").empty());
  CHECK(server.get_json("/api/health").str("/components/stream_processor/status") == "healthy");
  CHECK(posted.size() == std::size_t(200 + 10 * outage.batches));
  ferretdb.start();
  REQUIRE(si::poll_until(caught_up, si::Millis(120000)));

  // Nothing lost in the log, every event archived once with its content.
  CHECK(server.get_json("/api/system/status").u64("/event_log/last_sequence") == posted.size());
  archived = read_archive(url, documents);
  CHECK(documents == posted.size());
  CHECK(archived.size() == posted.size());
  CHECK(archived == posted);
  // A clean stop writes the minutes the engine flushes last; then MongoDB
  // holds exactly the embedded store's rollups, byte for byte.
  CHECK(server.stop() == 0);
  shoppulse::EventLogConfig local;
  local.data_dir = (dir.path() / "data").string();
  auto rocksdb = shoppulse::open_rocksdb_store(local);
  REQUIRE(rocksdb.ok());
  const Minutes embedded = all_minutes(**rocksdb);
  shoppulse::MongoConfig mc;
  mc.url = url;
  auto mongo = shoppulse::open_mongodb_store(mc);
  REQUIRE(mongo.ok());
  const Minutes in_mongo = all_minutes(**mongo);
  CHECK(embedded.size() >= 15);
  CHECK(in_mongo == embedded);
}

int main(int argc, char** argv) {
  std::string why;
  if (!shoppulse::servers::ferretdb_available(why)) {
    std::printf("SKIPPED: mongodb_app: %s\n", why.c_str());
    std::fflush(stdout);
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
