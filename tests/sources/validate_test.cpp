#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <string>

#include "shoppulse/sources/generator.hpp"

using namespace shoppulse;

namespace {

// Applies change to a default config and returns the key validate() blames.
std::string blamed_key(const std::function<void(GeneratorConfig&)>& change) {
  GeneratorConfig config;
  change(config);
  auto r = validate(config);
  if (r) return "(valid)";
  CHECK(r.error().code == Errc::invalid_argument);
  CHECK(r.error().detail.rfind(r.error().field + ": ", 0) == 0);  // the message names the key too
  return r.error().field;
}

}  // namespace

TEST_CASE("the seed's default generator config is valid", "[sources]") { CHECK(validate(GeneratorConfig{})); }

TEST_CASE("validate names the key of each invalid generator setting", "[sources]") {
  CHECK(blamed_key([](auto& c) { c.events_per_second = 0; }) == "generator.events_per_second");
  CHECK(blamed_key([](auto& c) { c.events_per_second = -3; }) == "generator.events_per_second");
  CHECK(blamed_key([](auto& c) { c.events_per_second = 2e8; }) == "generator.events_per_second");
  CHECK(blamed_key([](auto& c) { c.events_per_second = std::nan(""); }) == "generator.events_per_second");
  CHECK(blamed_key([](auto& c) { c.events_per_second = 1e8; }) == "(valid)");
  CHECK(blamed_key([](auto& c) { c.batch_size = 0; }) == "generator.batch_size");
  CHECK(blamed_key([](auto& c) { c.users_count = 0; }) == "generator.users_count");
  CHECK(blamed_key([](auto& c) { c.products_count = 0; }) == "generator.products_count");
  CHECK(blamed_key([](auto& c) { c.categories_count = 0; }) == "generator.categories_count");
  CHECK(blamed_key([](auto& c) { c.categories_count = 501; }) == "generator.categories_count");
  CHECK(blamed_key([](auto& c) { c.behavior_patterns.emplace_back("checkout", 0.1); }) ==
        "generator.behavior_patterns");
  CHECK(blamed_key([](auto& c) { c.behavior_patterns[0].second = -0.1; }) == "generator.behavior_patterns");
  CHECK(blamed_key([](auto& c) {
          for (auto& p : c.behavior_patterns) p.second = 0;
        }) == "generator.behavior_patterns");
  CHECK(blamed_key([](auto& c) { c.behavior_patterns.clear(); }) == "generator.behavior_patterns");
  CHECK(blamed_key([](auto& c) { c.behavior_patterns.emplace_back("view", 0.1); }) ==
        "generator.behavior_patterns");
  CHECK(blamed_key([](auto& c) { c.price_min = -1; }) == "generator.price_range.min");
  CHECK(blamed_key([](auto& c) { c.price_min = 2000; }) == "generator.price_range.min");
  CHECK(blamed_key([](auto& c) { c.price_max = INFINITY; }) == "generator.price_range.max");
  CHECK(blamed_key([](auto& c) { c.devices.clear(); }) == "generator.devices");
  CHECK(blamed_key([](auto& c) { c.devices.push_back(""); }) == "generator.devices");
  CHECK(blamed_key([](auto& c) { c.locations.clear(); }) == "generator.locations");
}

TEST_CASE("validate explains the problem with the bad value", "[sources]") {
  GeneratorConfig config;
  config.behavior_patterns.emplace_back("checkout", 0.1);
  auto r = validate(config);
  REQUIRE_FALSE(r);
  CHECK(r.error().detail == "generator.behavior_patterns: \"checkout\" is not an event type");

  config = GeneratorConfig{};
  config.categories_count = 600;
  r = validate(config);
  REQUIRE_FALSE(r);
  CHECK(r.error().detail == "generator.categories_count: 600 exceeds generator.products_count (500)");
}
