#include <catch2/catch.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "shoppulse/config/schema.hpp"

using shoppulse::Errc;
using shoppulse::config::Schema;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// A config resembling the app's: one field of every kind.
struct Fields {
  std::int64_t offset = -5;
  std::uint64_t seed = 42;
  std::size_t batch = 50;
  std::uint16_t port = 8080;
  unsigned threads = 2;
  double rate = 10;
  bool enabled = true;
  std::string title = "shop # pulse, live";
  std::string mode = "memory";
  std::vector<std::string> devices{"mobile", "desktop", "tablet"};
  std::vector<std::string> locations{"北京", "上海"};
  std::vector<std::pair<std::string, double>> weights{{"view", 0.6}, {"click", 0.25}};
  std::int64_t flush_ms = 5000;
  std::vector<std::string> empty_list;
  std::string empty_string;
};

void bind(Schema& schema, Fields& f) {
  schema.add_int("app.offset", &f.offset, "ms", "Clock offset applied to event times.", -1000, 1000);
  schema.add_uint("generator.seed", &f.seed, "", "Seed of the simulated shop.");
  schema.add_size("generator.batch_size", &f.batch, "events", "Events per hand-off.", 1, 100000);
  schema.add_port("http.port", &f.port, "TCP port to listen on.");
  schema.add_unsigned("http.threads", &f.threads, "", "I/O threads.", 1, 64);
  schema.add_double("generator.events_per_second", &f.rate, "events/s", "Target event rate.", 0.001, 1e8);
  schema.add_bool("generator.enabled", &f.enabled, "Whether the built-in generator runs.");
  schema.add_string("http.title", &f.title, "Dashboard title.");
  schema.add_choice("eventlog.backend", &f.mode, {"memory", "RocksDB"}, "Where events are stored.");
  schema.add_list("generator.devices", &f.devices, "Devices shoppers use.");
  schema.add_list("generator.locations", &f.locations, "Where shoppers are.");
  schema.add_weights("generator.behavior_patterns", &f.weights, "Relative weights of event types.");
  schema.add_duration_ms("eventlog.flush_interval", &f.flush_ms, "How often the log is flushed.", 1);
  schema.add_list("app.plugins", &f.empty_list, "Extra plugins.");
  schema.add_string("app.note", &f.empty_string, "Free text.");
}

struct Fixture {
  Fields f;
  Schema schema;
  Fixture() { bind(schema, f); }
};

}  // namespace

TEST_CASE("integer keys accept whole numbers within their range", "[config]") {
  Fixture x;
  CHECK(x.schema.set("app.offset", "-1000"));
  CHECK(x.f.offset == -1000);
  CHECK(x.schema.set("app.offset", " +17 "));
  CHECK(x.f.offset == 17);
  CHECK(x.schema.set("generator.seed", "18446744073709551615"));
  CHECK(x.f.seed == UINT64_MAX);
  CHECK(x.schema.set("generator.batch_size", "\"64\""));
  CHECK(x.f.batch == 64);
  CHECK(x.schema.set("http.port", "0"));
  CHECK(x.f.port == 0);
  CHECK(x.schema.set("http.threads", "64"));
  CHECK(x.f.threads == 64);
}

TEST_CASE("integer keys reject junk, overflow and out-of-range values naming key and range", "[config]") {
  Fixture x;
  auto junk = x.schema.set("generator.batch_size", "12abc");
  REQUIRE_FALSE(junk);
  CHECK(junk.error().code == Errc::invalid_argument);
  CHECK(junk.error().field == "generator.batch_size");
  CHECK(junk.error().detail == "generator.batch_size: \"12abc\" is not an integer");

  auto overflow = x.schema.set("generator.seed", "18446744073709551616");
  REQUIRE_FALSE(overflow);
  CHECK(contains(overflow.error().detail, "out of range"));
  CHECK(contains(overflow.error().detail, "[0, 18446744073709551615]"));

  auto negative = x.schema.set("generator.seed", "-1");
  REQUIRE_FALSE(negative);
  CHECK(contains(negative.error().detail, "out of range"));

  auto port = x.schema.set("http.port", "70000");
  REQUIRE_FALSE(port);
  CHECK(port.error().detail == "http.port: \"70000\" is out of range, allowed [0, 65535]");

  auto small = x.schema.set("app.offset", "-1001");
  REQUIRE_FALSE(small);
  CHECK(contains(small.error().detail, "allowed [-1000, 1000]"));

  CHECK_FALSE(x.schema.set("http.threads", "0"));
  CHECK_FALSE(x.schema.set("http.threads", ""));
  CHECK_FALSE(x.schema.set("http.threads", "1.5"));
  CHECK_FALSE(x.schema.set("http.threads", "0x10"));
  CHECK_FALSE(x.schema.set("app.offset", "--3"));
  CHECK(x.f.threads == 2);  // failed sets leave the field alone
  CHECK(x.f.offset == -5);
}

TEST_CASE("double keys parse numbers strictly and check their range", "[config]") {
  Fixture x;
  CHECK(x.schema.set("generator.events_per_second", "2.5e3"));
  CHECK(x.f.rate == 2500.0);
  CHECK(x.schema.set("generator.events_per_second", " 7 "));
  CHECK(x.f.rate == 7.0);

  auto bad = x.schema.set("generator.events_per_second", "abc");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().detail == "generator.events_per_second: \"abc\" is not a number");
  CHECK_FALSE(x.schema.set("generator.events_per_second", "10/s"));
  CHECK_FALSE(x.schema.set("generator.events_per_second", "nan"));
  CHECK_FALSE(x.schema.set("generator.events_per_second", "inf"));
  CHECK_FALSE(x.schema.set("generator.events_per_second", "1e999"));
  auto range = x.schema.set("generator.events_per_second", "0");
  REQUIRE_FALSE(range);
  CHECK(contains(range.error().detail, "out of range"));
  CHECK(x.f.rate == 7.0);
}

TEST_CASE("bool keys accept true/false, on/off, yes/no and 1/0 in any case", "[config]") {
  Fixture x;
  for (const char* no : {"false", "OFF", "no", "0", "False"}) {
    x.f.enabled = true;
    CHECK(x.schema.set("generator.enabled", no));
    CHECK_FALSE(x.f.enabled);
  }
  for (const char* yes : {"true", "on", "YES", "1"}) {
    x.f.enabled = false;
    CHECK(x.schema.set("generator.enabled", yes));
    CHECK(x.f.enabled);
  }
  auto bad = x.schema.set("generator.enabled", "maybe");
  REQUIRE_FALSE(bad);
  CHECK(contains(bad.error().detail, "generator.enabled: \"maybe\" is not a boolean"));
}

TEST_CASE("choice keys match case-insensitively and store the canonical spelling", "[config]") {
  Fixture x;
  CHECK(x.schema.set("eventlog.backend", "rocksdb"));
  CHECK(x.f.mode == "RocksDB");
  CHECK(x.schema.set("eventlog.backend", "MEMORY"));
  CHECK(x.f.mode == "memory");
  auto bad = x.schema.set("eventlog.backend", "redis");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().detail == "eventlog.backend: \"redis\" is not one of: memory, RocksDB");
}

TEST_CASE("string keys take the value verbatim or unquoted", "[config]") {
  Fixture x;
  CHECK(x.schema.set("http.title", "Shop Pulse"));
  CHECK(x.f.title == "Shop Pulse");
  CHECK(x.schema.set("http.title", "\"  padded, with \\\"quotes\\\" \""));
  CHECK(x.f.title == "  padded, with \"quotes\" ");
  CHECK_FALSE(x.schema.set("http.title", "\"unterminated"));
  CHECK_FALSE(x.schema.set("http.title", "\"a\" b"));
}

TEST_CASE("list keys split on commas with optional brackets and quotes, trimmed", "[config]") {
  Fixture x;
  using V = std::vector<std::string>;
  CHECK(x.schema.set("generator.devices", "mobile, desktop"));
  CHECK(x.f.devices == V{"mobile", "desktop"});
  CHECK(x.schema.set("generator.devices", "[\"mobile\", \"smart tv\" ,  tablet ]"));
  CHECK(x.f.devices == V{"mobile", "smart tv", "tablet"});
  CHECK(x.schema.set("generator.devices", "\"a, b\", c"));
  CHECK(x.f.devices == V{"a, b", "c"});
  CHECK(x.schema.set("generator.locations", "北京,上海 , 深圳"));
  CHECK(x.f.locations == V{"北京", "上海", "深圳"});
  CHECK(x.schema.set("generator.devices", "[]"));
  CHECK(x.f.devices.empty());
  CHECK(x.schema.set("generator.devices", ""));
  CHECK(x.f.devices.empty());

  x.f.devices = {"kept"};
  auto empty_item = x.schema.set("generator.devices", "a,,b");
  REQUIRE_FALSE(empty_item);
  CHECK(contains(empty_item.error().detail, "generator.devices: "));
  CHECK(contains(empty_item.error().detail, "empty item"));
  CHECK_FALSE(x.schema.set("generator.devices", "[a, b"));
  CHECK_FALSE(x.schema.set("generator.devices", "\"a, b"));
  CHECK(x.f.devices == V{"kept"});
}

TEST_CASE("weights keys take name:weight pairs with non-negative weights", "[config]") {
  Fixture x;
  using W = std::vector<std::pair<std::string, double>>;
  CHECK(x.schema.set("generator.behavior_patterns", "view:0.6, click : 0.25,purchase:0"));
  CHECK(x.f.weights == W{{"view", 0.6}, {"click", 0.25}, {"purchase", 0}});
  CHECK(x.schema.set("generator.behavior_patterns", "[\"add:to\": 1]"));
  CHECK(x.f.weights == W{{"add:to", 1}});

  auto negative = x.schema.set("generator.behavior_patterns", "view:-1");
  REQUIRE_FALSE(negative);
  CHECK(contains(negative.error().detail, "generator.behavior_patterns: weight of \"view\""));
  CHECK_FALSE(x.schema.set("generator.behavior_patterns", "view"));
  CHECK_FALSE(x.schema.set("generator.behavior_patterns", "view:abc"));
  CHECK_FALSE(x.schema.set("generator.behavior_patterns", ":1"));
  auto twice = x.schema.set("generator.behavior_patterns", "view:1, view:2");
  REQUIRE_FALSE(twice);
  CHECK(contains(twice.error().detail, "twice"));
}

TEST_CASE("duration keys take ms, s, m, h, d suffixes or bare milliseconds", "[config]") {
  Fixture x;
  const std::vector<std::pair<const char*, std::int64_t>> cases{
      {"250ms", 250}, {"5s", 5000}, {"2m", 120000}, {"1h", 3600000}, {"1d", 86400000}, {"750", 750}, {"3 S", 3000}};
  for (const auto& [text, ms] : cases) {
    INFO(text);
    CHECK(x.schema.set("eventlog.flush_interval", text));
    CHECK(x.f.flush_ms == ms);
  }
  auto unit = x.schema.set("eventlog.flush_interval", "5x");
  REQUIRE_FALSE(unit);
  CHECK(contains(unit.error().detail, "eventlog.flush_interval: \"5x\" is not a duration"));
  CHECK_FALSE(x.schema.set("eventlog.flush_interval", "1.5s"));
  CHECK_FALSE(x.schema.set("eventlog.flush_interval", "s"));
  CHECK_FALSE(x.schema.set("eventlog.flush_interval", "0"));  // min is 1 ms
  CHECK_FALSE(x.schema.set("eventlog.flush_interval", "-5s"));
  CHECK_FALSE(x.schema.set("eventlog.flush_interval", "999999999999999d"));
  CHECK(x.f.flush_ms == 3000);
}

TEST_CASE("unknown keys are errors naming the key", "[config]") {
  Fixture x;
  auto r = x.schema.set("generator.speed", "1");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::invalid_argument);
  CHECK(r.error().field == "generator.speed");
  CHECK(contains(r.error().detail, "unknown key"));
  CHECK_FALSE(x.schema.has("generator.speed"));
  CHECK(x.schema.has("generator.seed"));
}

TEST_CASE("get renders values as they would be written and keys keep registration order", "[config]") {
  Fixture x;
  CHECK(x.schema.get("generator.events_per_second") == "10");
  CHECK(x.schema.get("generator.behavior_patterns") == "view:0.6, click:0.25");
  CHECK(x.schema.get("generator.devices") == "mobile, desktop, tablet");
  CHECK(x.schema.get("eventlog.flush_interval") == "5s");
  CHECK(x.schema.get("http.title") == "\"shop # pulse, live\"");
  CHECK(x.schema.get("generator.enabled") == "true");
  CHECK(x.schema.get("nope").empty());
  auto keys = x.schema.keys();
  REQUIRE(keys.size() == 15);
  CHECK(keys.front() == "app.offset");
  CHECK(keys.back() == "app.note");
}

TEST_CASE("registering a key twice is a programming error", "[config]") {
  Schema schema;
  bool a = false;
  schema.add_bool("x.a", &a, "A flag.");
  CHECK_THROWS_AS(schema.add_bool("x.a", &a, "Again."), std::invalid_argument);
}
