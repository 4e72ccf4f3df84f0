// shoppulse with the seed's REDIS_HOST / REDIS_PORT set, against a real
// redis-server: live figures appear in Redis, an outage of 10 s while events
// arrive makes the component unhealthy, and once Redis is back the newest
// figures are there.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <string>

#include "integration/harness.hpp"
#include "outage.hpp"
#include "redis_client.hpp"
#include "server_process.hpp"

namespace si = shoppulse::integration;
using shoppulse::servers::RedisClient;
using shoppulse::servers::RedisServer;

namespace {

// count view events of distinct users, one second apart from t0 + first s.
std::string events_body(int first, int count, std::int64_t t0) {
  std::ostringstream o;
  o << '[';
  for (int i = first; i < first + count; ++i) {
    if (i > first) o << ',';
    o << "{\"event_id\":\"e" << i << "\",\"user_id\":\"u" << i << "\",\"event_type\":\"view\",\"product_id\":\"p"
      << (i % 3) << "\",\"category_id\":\"c1\",\"timestamp\":" << (t0 + std::int64_t(i) * 1000) << '}';
  }
  o << ']';
  return o.str();
}

std::string redis_component(const si::ServerProcess& s, const std::string& field) {
  return s.get_json("/api/health").str("/components/redis/" + field);
}

// The 24h window's event count in Redis, or -1 before it is written.
long long redis_events(RedisClient& redis) {
  const auto h = redis.hgetall("shoppulse:window:24h");
  const auto it = h.find("events");
  return it == h.end() ? -1 : std::stoll(it->second);
}

}  // namespace

TEST_CASE("With REDIS_HOST and REDIS_PORT set, live figures reach Redis and survive a Redis outage",
          "[redis][integration]") {
  RedisServer redis_server;
  redis_server.start();
  ::setenv("REDIS_HOST", "127.0.0.1", 1);
  ::setenv("REDIS_PORT", std::to_string(redis_server.port()).c_str(), 1);
  si::TempDir dir;
  si::ServerProcess server(si::ServerOptions{dir.path() / "data", {}, false,
                                             {"windows.allowed_lateness=0", "http.host=127.0.0.1",
                                              "windows.publish_interval=50ms", "redis.max_backoff=200ms"},
                                             si::Millis(10000)});
  server.start();
  ::unsetenv("REDIS_HOST");
  ::unsetenv("REDIS_PORT");

  // Redis must say what the HTTP API says about the same windows.
  const auto api_events = [&server](const char* span) {
    return server.get_json(std::string("/api/analytics/real-time?window=") + span).u64("/total_events");
  };
  // The events lie two hours before one last event that moves the watermark,
  // so the 24h window (whose end is aligned to its slots) holds them all.
  const std::int64_t t0 = si::now_ms() - 4 * 3'600'000;
  REQUIRE(server.post("/api/events", events_body(0, 50, t0)).status == 200);
  REQUIRE(server.post("/api/events", events_body(1000, 1, t0 + 2 * 3'600'000 - 1000'000)).status == 200);
  si::wait_applied(server, 51);
  const std::uint64_t first_total = api_events("24h");
  REQUIRE(first_total > 0);
  RedisClient redis(redis_server.port());
  INFO("shoppulse log: " << server.log_tail());
  REQUIRE(si::poll_until([&] { return redis_events(redis) == (long long)first_total; }));
  CHECK(redis.hgetall("shoppulse:window:24h").at("view") == std::to_string(first_total));
  const si::Json api = server.get_json("/api/analytics/real-time?window=24h");
  const auto hot = redis.zrevrange("shoppulse:hot:products:24h");
  REQUIRE(hot.size() == api.size("/popular_products"));
  REQUIRE_FALSE(hot.empty());
  // Redis orders equal scores by member, the API by id: compare as sets.
  std::vector<std::pair<std::string, std::string>> api_hot;
  for (std::size_t i = 0; i < hot.size(); ++i) {
    const std::string at = "/popular_products/" + std::to_string(i);
    api_hot.emplace_back(api.str(at + "/product_id"), std::to_string(api.u64(at + "/interactions")));
  }
  auto redis_hot = hot;
  std::sort(redis_hot.begin(), redis_hot.end());
  std::sort(api_hot.begin(), api_hot.end());
  CHECK(redis_hot == api_hot);
  CHECK(redis_component(server, "status") == "healthy");
  CHECK(server.get_json("/api/system/status").u64("/components/redis/backlog") <= 1);
  CHECK(server.get("/metrics").body.find("shoppulse_redis_snapshots_written_total") != std::string::npos);

  SECTION("Redis stopped for 10 s while events arrive makes the component unhealthy; afterwards Redis has the newest "
          "figures") {
    redis_server.stop();
    // 5 events every 100 ms for at least 10 s; later events move the 24h
    // window's end on by minutes.
    int next = 2000;  // past the ids of the events before
    const adapters_test::Outage outage = adapters_test::feed_while_down(
        [&] {
          REQUIRE(server.post("/api/events", events_body(next, 5, t0 + 600'000)).status == 200);
          next += 5;
        },
        [&] { return redis_component(server, "status") == "unhealthy"; });
    CHECK(outage.lasted >= std::chrono::seconds(10));
    si::wait_applied(server, 51 + std::uint64_t(next - 2000));  // the 51 before, then the outage's
    const std::uint64_t total = api_events("24h");
    REQUIRE(total > first_total);
    CHECK_FALSE(redis_component(server, "last_error").empty());
    // Ingest and the windows do not wait for Redis.
    CHECK(server.get_json("/api/health").str("/components/stream_processor/status") == "healthy");

    // Newest-only: once Redis is back it gets the figures of now, not a
    // replay of what it missed.
    redis_server.start();
    RedisClient again(redis_server.port());
    REQUIRE(si::poll_until([&] { return redis_events(again) == (long long)total; }, si::Millis(60000)));
    REQUIRE(si::poll_until([&] { return redis_component(server, "status") == "healthy"; }));
    CHECK(server.get_json("/api/health").u64("/components/redis/restarts") >= 1);
  }

  SECTION("the redis component stops and starts through the component endpoints") {
    REQUIRE(server.post("/api/system/stop-component/redis").status == 200);
    CHECK(redis_component(server, "state") == "stopped");
    REQUIRE(server.post("/api/events", events_body(50, 10, t0 + 600'000)).status == 200);
    si::wait_applied(server, 61);
    const std::uint64_t total = api_events("24h");
    REQUIRE(total > first_total);
    CHECK(redis_events(redis) == (long long)first_total);  // nothing is written while stopped
    REQUIRE(server.post("/api/system/start-component/redis").status == 200);
    REQUIRE(si::poll_until([&] { return redis_events(redis) == (long long)total; }));
    CHECK(redis_component(server, "state") == "running");
  }
  CHECK(server.stop() == 0);
}
