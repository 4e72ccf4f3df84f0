// shoppulse with the seed's MONGODB_URL set and storage.rollups = mongodb,
// against FerretDB on PostgreSQL: closed minutes reach MongoDB and trends are
// read back from it; with FerretDB stopped the component is unhealthy and,
// once it is back, every minute closed meanwhile is there. Prints "SKIPPED"
// and exits 77 where FerretDB cannot be built.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdlib>
#include <map>
#include <regex>
#include <sstream>
#include <string>

#include "ferretdb_server.hpp"
#include "integration/harness.hpp"
#include "shoppulse/adapters/mongodb_store.hpp"

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
  REQUIRE(si::poll_until([&] { return component(server, "status") == "unhealthy"; }, si::Millis(60000)));
  CHECK_FALSE(component(server, "last_error").empty());
  CHECK(server.get_json("/api/health").str("/components/stream_processor/status") == "healthy");
  ferretdb.start();
  // Minutes 0-3, the one holding the first batch's last event (4), and 5-7.
  REQUIRE(si::poll_until([&] { return mongo_minutes(url) >= 8; }, si::Millis(60000)));
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
       "recommend.checkpoint_interval=0", "recommend.checkpoint_every_events=40",
       "recommend.checkpoint_in_background=false"},
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
  CHECK(server.stop() == 0);
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
