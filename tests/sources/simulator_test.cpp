#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "shoppulse/sources/generator.hpp"

using namespace shoppulse;
namespace {

// Everything but the timestamp.
auto content_of(const RawEvent& e) {
  return std::tie(e.event_id, e.user_id, e.session_id, e.product_id, e.category_id, e.device, e.location,
                  e.price_minor, e.quantity, e.type, e.rating);
}

bool same_content(const RawEvent& a, const RawEvent& b) { return content_of(a) == content_of(b); }

std::vector<RawEvent> generate(const GeneratorConfig& config, std::size_t n, TimestampMs from = 1'700'000'000'000,
                               TimestampMs to = 1'700'000'060'000) {
  ShopSimulator sim(config);
  std::vector<RawEvent> out;
  sim.next(n, from, to, out);
  return out;
}

bool has_digits(std::string_view s, std::size_t from, std::size_t count) {
  if (s.size() != from + count) return false;
  return std::all_of(s.begin() + from, s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_session_id(std::string_view s) {
  if (s.size() != 15 || s.substr(0, 5) != "sess_") return false;
  return std::all_of(s.begin() + 5, s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::array<std::size_t, kEventTypeCount> count_types(const std::vector<RawEvent>& events) {
  std::array<std::size_t, kEventTypeCount> counts{};
  for (const RawEvent& e : events) ++counts[static_cast<std::size_t>(e.type)];
  return counts;
}

}  // namespace

TEST_CASE("the same seed produces identical events and another seed different ones", "[sources]") {
  GeneratorConfig config;
  auto a = generate(config, 5000);
  auto b = generate(config, 5000);
  REQUIRE(a.size() == 5000);
  REQUIRE(b.size() == 5000);
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO(i);
    REQUIRE(same_content(a[i], b[i]));
    REQUIRE(a[i].time_ms == b[i].time_ms);
  }
  config.seed = 43;
  auto c = generate(config, 5000);
  std::size_t differing = 0;
  for (std::size_t i = 0; i < a.size(); ++i) differing += same_content(a[i], c[i]) ? 0 : 1;
  CHECK(differing > 4000);
}

TEST_CASE("the event stream does not depend on how next() calls split it", "[sources]") {
  GeneratorConfig config;
  auto whole = generate(config, 3000);
  ShopSimulator sim(config);
  std::vector<RawEvent> pieces;
  for (std::size_t n : {1, 49, 950, 2000}) sim.next(n, 0, 1000, pieces);
  REQUIRE(pieces.size() == whole.size());
  for (std::size_t i = 0; i < whole.size(); ++i) REQUIRE(same_content(whole[i], pieces[i]));
}

TEST_CASE("next appends events with timestamps spread evenly over [from, to)", "[sources]") {
  ShopSimulator sim(GeneratorConfig{});
  std::vector<RawEvent> out(3);  // existing content is kept
  sim.next(10, 1000, 2000, out);
  REQUIRE(out.size() == 13);
  CHECK_FALSE(out[0].time_ms.has_value());
  for (std::size_t i = 0; i < 10; ++i) {
    REQUIRE(out[3 + i].time_ms.has_value());
    CHECK(*out[3 + i].time_ms == 1000 + static_cast<TimestampMs>(i) * 100);
  }
  std::vector<RawEvent> many;
  sim.next(1000, 5000, 5007, many);
  for (std::size_t i = 0; i < many.size(); ++i) {
    CHECK(*many[i].time_ms >= 5000);
    CHECK(*many[i].time_ms < 5007);
    if (i > 0) CHECK(*many[i].time_ms >= *many[i - 1].time_ms);
  }
  std::vector<RawEvent> instant;
  sim.next(5, 9000, 9000, instant);
  for (const RawEvent& e : instant) CHECK(*e.time_ms == 9000);
}

TEST_CASE("every generated field is well formed and products keep their price and category", "[sources]") {
  GeneratorConfig config;
  auto events = generate(config, 50'000);
  std::unordered_map<std::string, std::pair<std::int64_t, std::string>> catalogue;
  const std::set<std::string> devices(config.devices.begin(), config.devices.end());
  const std::set<std::string> locations(config.locations.begin(), config.locations.end());
  std::size_t bad = 0;
  for (const RawEvent& e : events) {
    bool ok = e.event_id.empty();
    ok = ok && parse_event_type(to_string(e.type)) == e.type;
    ok = ok && e.user_id.rfind("user_", 0) == 0 && has_digits(e.user_id, 5, 6);
    ok = ok && std::stoul(e.user_id.substr(5)) >= 1 && std::stoul(e.user_id.substr(5)) <= config.users_count;
    ok = ok && e.product_id.rfind("prod_", 0) == 0 && has_digits(e.product_id, 5, 6);
    ok = ok && std::stoul(e.product_id.substr(5)) >= 1 && std::stoul(e.product_id.substr(5)) <= config.products_count;
    ok = ok && e.category_id.rfind("cat_", 0) == 0 && has_digits(e.category_id, 4, 3);
    ok = ok && std::stoul(e.category_id.substr(4)) >= 1 &&
         std::stoul(e.category_id.substr(4)) <= config.categories_count;
    ok = ok && is_session_id(e.session_id);
    ok = ok && devices.count(e.device) == 1 && locations.count(e.location) == 1;
    ok = ok && e.time_ms.has_value();
    ok = ok && e.price_minor >= 1000 && e.price_minor <= 100'000;
    ok = ok && e.quantity >= 1 && e.quantity <= 3;
    ok = ok && (e.type == EventType::rate ? (e.rating >= 1 && e.rating <= 5) : e.rating == 0);
    ok = ok && (e.quantity == 1 || e.type == EventType::add_to_cart || e.type == EventType::purchase ||
                e.type == EventType::remove_from_cart);
    auto [it, inserted] = catalogue.try_emplace(e.product_id, e.price_minor, e.category_id);
    ok = ok && it->second.first == e.price_minor && it->second.second == e.category_id;
    if (!ok) {
      ++bad;
      UNSCOPED_INFO("bad event: " << e.user_id << " " << e.session_id << " " << e.product_id << " "
                                  << e.category_id << " " << to_string(e.type) << " " << e.price_minor);
    }
  }
  CHECK(bad == 0);
  // Prices spread over the range rather than clustering.
  std::int64_t low = INT64_MAX, high = 0;
  for (const auto& [id, info] : catalogue) {
    low = std::min(low, info.first);
    high = std::max(high, info.first);
  }
  CHECK(low < 2000);
  CHECK(high > 50'000);
}

TEST_CASE("the mix of event types follows behavior_patterns over 200k events", "[sources]") {
  GeneratorConfig config;
  const std::size_t n = 200'000;
  auto counts = count_types(generate(config, n));
  auto share = [&](EventType t) { return static_cast<double>(counts[static_cast<std::size_t>(t)]) / n; };
  CHECK(share(EventType::view) == Approx(0.60).margin(0.015));
  CHECK(share(EventType::click) == Approx(0.25).margin(0.01));
  CHECK(share(EventType::add_to_cart) == Approx(0.10).margin(0.006));
  CHECK(share(EventType::purchase) == Approx(0.04).margin(0.004));
  CHECK(share(EventType::rate) == Approx(0.01).margin(0.002));
  // Absent from the map: never generated.
  CHECK(counts[static_cast<std::size_t>(EventType::favorite)] == 0);
  CHECK(counts[static_cast<std::size_t>(EventType::remove_from_cart)] == 0);
}

TEST_CASE("types added to behavior_patterns appear in proportion", "[sources]") {
  GeneratorConfig config;
  config.behavior_patterns = {{"view", 0.5},     {"click", 0.25}, {"favorite", 0.05}, {"add_to_cart", 0.1},
                              {"purchase", 0.05}, {"remove_from_cart", 0.02}, {"rate", 0.03}};
  const std::size_t n = 200'000;
  auto counts = count_types(generate(config, n));
  auto share = [&](EventType t) { return static_cast<double>(counts[static_cast<std::size_t>(t)]) / n; };
  CHECK(share(EventType::view) == Approx(0.50).margin(0.015));
  CHECK(share(EventType::favorite) == Approx(0.05).margin(0.005));
  CHECK(share(EventType::remove_from_cart) == Approx(0.02).margin(0.004));
  CHECK(share(EventType::purchase) == Approx(0.05).margin(0.005));
  CHECK(share(EventType::rate) == Approx(0.03).margin(0.004));
}

TEST_CASE("the funnel is monotone: every later stage follows an earlier one in the session", "[sources]") {
  GeneratorConfig config;
  config.behavior_patterns.emplace_back("favorite", 0.01);
  config.behavior_patterns.emplace_back("remove_from_cart", 0.01);
  auto events = generate(config, 100'000);
  using Key = std::pair<std::string, std::string>;  // session, product
  std::array<std::set<Key>, kEventTypeCount> seen;
  std::array<std::set<std::string>, kEventTypeCount> users;
  std::size_t orphans = 0;
  auto had = [&](EventType t, const Key& k) { return seen[static_cast<std::size_t>(t)].count(k) == 1; };
  for (const RawEvent& e : events) {
    Key k{e.session_id, e.product_id};
    bool parent_ok = true;
    switch (e.type) {
      case EventType::click: parent_ok = had(EventType::view, k); break;
      case EventType::add_to_cart:
      case EventType::favorite: parent_ok = had(EventType::click, k); break;
      case EventType::purchase:
      case EventType::remove_from_cart: parent_ok = had(EventType::add_to_cart, k); break;
      case EventType::rate: parent_ok = had(EventType::purchase, k); break;
      default: break;
    }
    orphans += parent_ok ? 0 : 1;
    seen[static_cast<std::size_t>(e.type)].insert(k);
    users[static_cast<std::size_t>(e.type)].insert(e.user_id);
  }
  // Only sessions already running before the first event can be cut off: the
  // simulator starts every session fresh, so there are none.
  CHECK(orphans == 0);
  auto distinct = [&](EventType t) { return users[static_cast<std::size_t>(t)].size(); };
  CHECK(distinct(EventType::view) >= distinct(EventType::click));
  CHECK(distinct(EventType::click) >= distinct(EventType::add_to_cart));
  CHECK(distinct(EventType::add_to_cart) >= distinct(EventType::purchase));
  CHECK(distinct(EventType::purchase) > 0);
}

TEST_CASE("product popularity is skewed: the top tenth of products draws over 40% of views", "[sources]") {
  GeneratorConfig config;
  auto events = generate(config, 200'000);
  std::unordered_map<std::string, std::size_t> views;
  std::size_t total = 0;
  for (const RawEvent& e : events) {
    if (e.type != EventType::view) continue;
    ++views[e.product_id];
    ++total;
  }
  std::vector<std::size_t> counts;
  for (const auto& [id, c] : views) counts.push_back(c);
  std::sort(counts.rbegin(), counts.rend());
  const std::size_t top = config.products_count / 10;
  std::size_t top_views = 0;
  for (std::size_t i = 0; i < top && i < counts.size(); ++i) top_views += counts[i];
  const double top_share = static_cast<double>(top_views) / static_cast<double>(total);
  INFO("top 10% share " << top_share << ", products viewed " << counts.size());
  CHECK(top_share > 0.40);
  CHECK(top_share < 0.95);          // yet not everything
  CHECK(counts.size() > config.products_count / 2);  // the long tail is visited
}

TEST_CASE("many sessions interleave and users shop from more than one device and place", "[sources]") {
  GeneratorConfig config;
  auto events = generate(config, 20'000);
  std::set<std::string> window_sessions;
  for (std::size_t i = 5000; i < 5200; ++i) window_sessions.insert(events[i].session_id);
  CHECK(window_sessions.size() > 50);

  std::set<std::string> sessions, users;
  std::map<std::string, std::size_t> per_location;
  for (const RawEvent& e : events) {
    sessions.insert(e.session_id);
    users.insert(e.user_id);
    ++per_location[e.location];
  }
  CHECK(sessions.size() > 1000);
  CHECK(users.size() > 500);
  CHECK(per_location.size() == config.locations.size());
  // A user's session keeps one device and location.
  std::unordered_map<std::string, std::pair<std::string, std::string>> session_place;
  for (const RawEvent& e : events) {
    auto [it, inserted] = session_place.try_emplace(e.session_id, e.device, e.location);
    REQUIRE(it->second == std::make_pair(e.device, e.location));
  }
}

TEST_CASE("tiny configurations still generate valid events", "[sources]") {
  GeneratorConfig config;
  config.users_count = 1;
  config.products_count = 1;
  config.categories_count = 1;
  config.price_min = config.price_max = 5.0;
  config.devices = {"kiosk"};
  config.locations = {"here"};
  auto events = generate(config, 1000);
  for (const RawEvent& e : events) {
    REQUIRE(e.user_id == "user_000001");
    REQUIRE(e.product_id == "prod_000001");
    REQUIRE(e.category_id == "cat_001");
    REQUIRE(e.price_minor == 500);
  }
  config.price_min = 0;
  config.price_max = 0.5;
  for (const RawEvent& e : generate(config, 100)) {
    REQUIRE(e.price_minor >= 0);
    REQUIRE(e.price_minor <= 50);
  }
}

TEST_CASE("the simulator generates millions of events per second", "[sources][.bench]") {
  ShopSimulator sim(GeneratorConfig{});
  std::vector<RawEvent> out;
  const std::size_t batch = 1000, rounds = 2000;
  out.reserve(batch);
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t r = 0; r < rounds; ++r) {
    out.clear();
    sim.next(batch, 0, 1000, out);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double rate = static_cast<double>(batch * rounds) / seconds;
  WARN("simulator: " << batch * rounds << " events in " << seconds << " s = " << rate / 1e6 << " M events/s");
  CHECK(rate > 0);
}
