// shoppulse with the seed's MONGODB_URL set and storage.rollups = mongodb,
// against FerretDB on PostgreSQL: closed minutes reach MongoDB and trends are
// read back from it; with FerretDB stopped the component is unhealthy and,
// once it is back, every minute closed meanwhile is there. Prints "SKIPPED"
// and exits 77 where FerretDB cannot be built.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdlib>
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

int main(int argc, char** argv) {
  std::string why;
  if (!shoppulse::servers::ferretdb_available(why)) {
    std::printf("SKIPPED: mongodb_app: %s\n", why.c_str());
    std::fflush(stdout);
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
