#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>
#include <unistd.h>

#include "shoppulse/config/schema.hpp"

using shoppulse::Errc;
using shoppulse::config::apply_environment;
using shoppulse::config::load_file;
using shoppulse::config::load_text;
using shoppulse::config::Schema;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

struct Fields {
  double rate = 10;
  std::size_t batch = 50;
  std::string title = "ShopPulse";
  std::vector<std::string> locations{"北京", "上海", "深圳", "杭州", "广州"};
  std::vector<std::pair<std::string, double>> weights{
      {"view", 0.6}, {"click", 0.25}, {"add_to_cart", 0.1}, {"purchase", 0.04}, {"rate", 0.01}};
  bool enabled = true;
  std::int64_t flush_ms = 250;
  std::uint16_t port = 8000;
  std::string backend = "memory";
  std::string odd = "a#b, \"c\"";
  std::vector<std::string> none;
};

struct Fixture {
  Fields f;
  Schema schema;
  Fixture() {
    schema.add_double("generator.events_per_second", &f.rate, "events/s", "Target event rate.", 0.001, 1e8);
    schema.add_size("generator.batch_size", &f.batch, "events", "Events per hand-off.", 1, 100000);
    schema.add_string("http.title", &f.title, "Dashboard title.");
    schema.add_list("generator.locations", &f.locations, "Where shoppers are.");
    schema.add_weights("generator.behavior_patterns", &f.weights, "Relative weights of event types.");
    schema.add_bool("generator.enabled", &f.enabled, "Whether the generator runs.");
    schema.add_duration_ms("eventlog.flush_interval", &f.flush_ms, "How often the log is flushed.");
    schema.add_port("http.port", &f.port, "TCP port to listen on.");
    schema.add_choice("eventlog.backend", &f.backend, {"memory", "rocksdb"}, "Where events are stored.");
    schema.add_string("app.odd", &f.odd, "A value that needs quoting.");
    schema.add_list("app.none", &f.none, "An empty list.");
  }
};

}  // namespace

TEST_CASE("a config file sets keys and ignores comments and blank lines", "[config]") {
  Fixture x;
  const char* text =
      "# shoppulse test config\n"
      "\n"
      "generator.events_per_second = 250   # trailing comment\n"
      "   generator.batch_size=20\r\n"
      "http.title = \"Sales # live, today\"  # the quotes protect '#' and ','\n"
      "generator.locations = [\"北京\", \"a, b\"]\n"
      "  # indented comment\n"
      "generator.behavior_patterns = view:0.7, click:0.3\n"
      "generator.enabled = off\n"
      "eventlog.flush_interval = 2s\n";
  auto r = load_text(x.schema, text, "test.conf");
  REQUIRE(r);
  CHECK(x.f.rate == 250);
  CHECK(x.f.batch == 20);
  CHECK(x.f.title == "Sales # live, today");
  CHECK(x.f.locations == std::vector<std::string>{"北京", "a, b"});
  CHECK(x.f.weights.size() == 2);
  CHECK_FALSE(x.f.enabled);
  CHECK(x.f.flush_ms == 2000);
}

TEST_CASE("a '#' inside an unquoted word is part of the value", "[config]") {
  Fixture x;
  REQUIRE(load_text(x.schema, "http.title = shop#1 # comment", "t"));
  CHECK(x.f.title == "shop#1");
}

TEST_CASE("file errors name origin, line and key", "[config]") {
  Fixture x;
  auto bad = load_text(x.schema, "# header\n\ngenerator.batch_size = 20\ngenerator.events_per_second = abc\n", "shop.conf");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == Errc::invalid_argument);
  CHECK(bad.error().line == 4);
  CHECK(bad.error().field == "generator.events_per_second");
  CHECK(bad.error().detail == "shop.conf:4: generator.events_per_second: \"abc\" is not a number");
}

TEST_CASE("a line without '=' is an error with its line number", "[config]") {
  Fixture x;
  auto r = load_text(x.schema, "generator.batch_size = 20\njust some words\n", "c.conf");
  REQUIRE_FALSE(r);
  CHECK(r.error().line == 2);
  CHECK(contains(r.error().detail, "c.conf:2: "));
  CHECK(contains(r.error().detail, "key = value"));
}

TEST_CASE("an unknown key in a file is an error naming it", "[config]") {
  Fixture x;
  auto r = load_text(x.schema, "\ngenerator.sped = 3\n", "c.conf");
  REQUIRE_FALSE(r);
  CHECK(r.error().line == 2);
  CHECK(r.error().field == "generator.sped");
  CHECK(r.error().detail == "c.conf:2: generator.sped: unknown key");
}

TEST_CASE("a key set twice in one file is an error", "[config]") {
  Fixture x;
  auto r = load_text(x.schema, "http.port = 1\nhttp.port = 2\n", "c.conf");
  REQUIRE_FALSE(r);
  CHECK(r.error().line == 2);
  CHECK(contains(r.error().detail, "first on line 1"));
}

TEST_CASE("an empty key and an unterminated quote are errors", "[config]") {
  Fixture x;
  CHECK_FALSE(load_text(x.schema, " = 3\n", "c"));
  auto r = load_text(x.schema, "http.title = \"open # not a comment\n", "c");
  REQUIRE_FALSE(r);
  CHECK(contains(r.error().detail, "unterminated"));
}

TEST_CASE("load_file reads a file and reports a missing one as io_error", "[config]") {
  Fixture x;
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("shoppulse_config_test-" + std::to_string(::getpid()) + ".conf"))
                               .string();
  {
    std::ofstream out(path);
    out << "generator.batch_size = 7\nhttp.port = 9\n";
  }
  auto ok = load_file(x.schema, path);
  std::remove(path.c_str());
  REQUIRE(ok);
  CHECK(x.f.batch == 7);
  CHECK(x.f.port == 9);

  auto missing = load_file(x.schema, "no_such_dir/none.conf");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::io_error);
  CHECK(contains(missing.error().detail, "no_such_dir/none.conf"));
}

TEST_CASE("environment variables that are set override their keys", "[config]") {
  Fixture x;
  std::map<std::string, std::string> env{{"SHOPPULSE_PORT", "9090"}, {"SHOPPULSE_RATE", "42.5"}};
  auto fake_getenv = [&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  const std::vector<std::pair<std::string, std::string>> mapping{{"SHOPPULSE_PORT", "http.port"},
                                                                 {"SHOPPULSE_RATE", "generator.events_per_second"},
                                                                 {"SHOPPULSE_TITLE", "http.title"}};
  REQUIRE(apply_environment(x.schema, mapping, fake_getenv));
  CHECK(x.f.port == 9090);
  CHECK(x.f.rate == 42.5);
  CHECK(x.f.title == "ShopPulse");  // unset variable: untouched

  env["SHOPPULSE_PORT"] = "port";
  auto bad = apply_environment(x.schema, mapping, fake_getenv);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().field == "http.port");
  CHECK(contains(bad.error().detail, "SHOPPULSE_PORT"));
  CHECK(contains(bad.error().detail, "http.port: \"port\" is not an integer"));
}

TEST_CASE("the reference file documents every key grouped by prefix", "[config]") {
  Fixture x;
  const std::string ref = x.schema.render_reference();
  CHECK(ref.rfind("# ", 0) == 0);  // opens with a header comment
  CHECK(contains(ref, "# [generator]\n"));
  CHECK(contains(ref, "# [http]\n"));
  CHECK(contains(ref, "# [eventlog]\n"));
  CHECK(contains(ref, "# Target event rate. (unit: events/s, default: 10)\ngenerator.events_per_second = 10\n"));
  CHECK(contains(ref, "# TCP port to listen on. (default: 8000)\nhttp.port = 8000\n"));
  CHECK(contains(ref, "eventlog.flush_interval = 250ms\n"));
  for (const std::string& key : x.schema.keys()) CHECK(contains(ref, "\n" + key + " = "));
  // Keys of one group are together even when registered apart.
  CHECK(ref.find("generator.enabled") < ref.find("# [http]"));
}

TEST_CASE("the reference file loads into a fresh schema and leaves defaults unchanged", "[config]") {
  Fixture source;
  const std::string ref = source.schema.render_reference();
  Fixture fresh;
  auto r = load_text(fresh.schema, ref, "reference.conf");
  INFO((r ? std::string() : r.error().detail));
  REQUIRE(r);
  for (const std::string& key : source.schema.keys()) {
    INFO(key);
    CHECK(fresh.schema.get(key) == source.schema.get(key));
  }
  CHECK(fresh.f.odd == "a#b, \"c\"");
  CHECK(fresh.f.locations == source.f.locations);
  CHECK(fresh.f.weights == source.f.weights);
  CHECK(fresh.f.none.empty());
}

TEST_CASE("the reference file renders defaults, not values set later", "[config]") {
  Fixture x;
  REQUIRE(x.schema.set("http.port", "1234"));
  CHECK(contains(x.schema.render_reference(), "http.port = 8000\n"));
}
