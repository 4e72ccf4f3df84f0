#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <set>

#include "oracle.hpp"
#include "shoppulse/windows/rollup.hpp"

using namespace shoppulse;
using shoppulse::test::Oracle;
using shoppulse::test::StreamShape;

namespace {

MinuteRollup sample_rollup() {
  MinuteRollup r;
  r.minute = 28'333'333;
  r.events = {10, 4, 3, 0, 1, 2, 0};
  r.revenue_minor = -5;  // signed on purpose: zigzag must carry it
  r.users = {{1, 0x03}, {7, 0x21}, {4'000'000'000u, 0x01}};
  r.products = {{3, 2, EventType::view, 5}, {3, 2, EventType::purchase, 2}, {90, 0, EventType::click, 1}};
  r.categories = {{2, EventType::view, 5}, {2, EventType::purchase, 2}};
  r.devices = {{1, 3}, {2, 9}};
  r.locations = {{5, 12}};
  return r;
}

void require_equal(const MinuteRollup& a, const MinuteRollup& b) {
  REQUIRE(a.minute == b.minute);
  REQUIRE(a.events == b.events);
  REQUIRE(a.revenue_minor == b.revenue_minor);
  REQUIRE(a.users == b.users);
  REQUIRE(a.products == b.products);
  REQUIRE(a.categories == b.categories);
  REQUIRE(a.devices == b.devices);
  REQUIRE(a.locations == b.locations);
}

// Every minute of a random stream as the engine hands it out, closed or not.
struct Minutes {
  Oracle oracle;
  std::vector<MinuteRollup> rollups;  // ascending
};

Minutes collect(std::uint64_t seed) {
  WindowConfig config;
  StreamShape shape;
  shape.seed = seed;
  shape.day_jumps = false;
  shape.events = 4000;
  const auto events = test::random_stream(shape);
  WindowEngine engine(config);
  Minutes out{Oracle(config), {}};
  std::map<std::int64_t, MinuteRollup> held;
  for (std::size_t i = 0; i < events.size(); i += 50) {
    const auto batch = std::span(events).subspan(i, std::min<std::size_t>(50, events.size() - i));
    engine.apply(batch);
    for (const Event& e : batch) out.oracle.apply(e);
    for (auto& m : engine.take_closed_minutes()) {
      // A late event into a minute whose users the engine dropped: joined
      // with the earlier rollup, as the engine runner joins the stored one.
      if (m.users_partial) merge_partial_users(m, held.at(m.minute));
      held[m.minute] = std::move(m);
    }
  }
  const std::int64_t open_from = test::floor_div(engine.watermark_ms(), 60'000);
  for (std::int64_t m = open_from; m <= open_from + 2; ++m)
    if (auto r = engine.minute_rollup(m)) held[m] = std::move(*r);
  for (auto& [m, r] : held) out.rollups.push_back(std::move(r));
  return out;
}

}  // namespace

TEST_CASE("a rollup survives encode and decode unchanged", "[windows]") {
  const MinuteRollup r = sample_rollup();
  const std::string bytes = encode_rollup(r);
  auto back = decode_rollup(r.minute, bytes);
  REQUIRE(back.ok());
  require_equal(*back, r);

  MinuteRollup empty;
  empty.minute = -3;
  auto empty_back = decode_rollup(-3, encode_rollup(empty));
  REQUIRE(empty_back.ok());
  require_equal(*empty_back, empty);
}

TEST_CASE("a rollup decoded without its users has everything else, and damage is still found", "[windows]") {
  const MinuteRollup r = sample_rollup();
  const std::string bytes = encode_rollup(r);
  auto lean = decode_rollup(r.minute, bytes, /*with_users=*/false);
  REQUIRE(lean.ok());
  REQUIRE(lean->users.empty());
  MinuteRollup want = r;
  want.users.clear();
  require_equal(*lean, want);
  // The users are still read and checked: damage to them, or to anything
  // after them, is refused as it is with the users kept.
  std::mt19937 rng(9);
  for (int i = 0; i < 2000; ++i) {
    std::string damaged = bytes;
    for (int k = 0; k < 2; ++k) damaged[rng() % damaged.size()] = static_cast<char>(rng());
    REQUIRE(decode_rollup(1, damaged, false).ok() == decode_rollup(1, damaged).ok());
  }
  for (std::size_t cut = 0; cut < bytes.size(); ++cut)
    REQUIRE_FALSE(decode_rollup(1, std::string_view(bytes).substr(0, cut), false).ok());
}

TEST_CASE("decoding damaged rollup bytes reports corrupt instead of misbehaving", "[windows]") {
  const std::string bytes = encode_rollup(sample_rollup());
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    auto r = decode_rollup(1, std::string_view(bytes).substr(0, cut));
    REQUIRE_FALSE(r.ok());
    REQUIRE(r.error().code == Errc::corrupt);
  }
  auto trailing = decode_rollup(1, bytes + '\0');
  REQUIRE_FALSE(trailing.ok());
  REQUIRE(decode_rollup(1, std::string(1, '\x09')).error().code == Errc::corrupt);
  // A count far larger than the input must not drive an allocation.
  std::string huge("\x01", 1);
  huge += std::string(7, '\0');
  huge += std::string("\x00\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10);
  REQUIRE_FALSE(decode_rollup(1, huge).ok());
  std::mt19937 rng(5);
  for (int i = 0; i < 2000; ++i) {
    std::string damaged = bytes;
    for (int k = 0; k < 3; ++k) damaged[rng() % damaged.size()] = static_cast<char>(rng());
    auto r = decode_rollup(1, damaged);
    if (!r.ok()) continue;
    // Whatever is accepted is a well-formed rollup: it round-trips.
    auto again = decode_rollup(1, encode_rollup(*r));
    REQUIRE(again.ok());
    require_equal(*again, *r);
  }
}

TEST_CASE("a rollup whose id gap wraps past 2^64 is corrupt, not a list out of order", "[windows]") {
  // Format byte, seven event counts, revenue, then two users: id 5, then a
  // gap of 2^64 - 1, which added to 5 in 64 bits gives 4. The users would be
  // out of order, and every merge of sorted user lists would count wrongly.
  std::string bytes("\x01", 1);
  bytes += std::string(7, '\0');
  bytes += std::string("\x00", 1);           // revenue 0
  bytes += std::string("\x02", 1);           // two users
  bytes += std::string("\x05\x01", 2);       // user 5, viewed
  bytes += std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10);  // gap 2^64 - 1
  bytes += std::string("\x01", 1);           // viewed
  bytes += std::string(4, '\0');             // no products, categories, devices, locations
  auto r = decode_rollup(1, bytes);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::corrupt);
  // The same bytes with a gap of 1 decode: only the wrap is refused.
  std::string fine("\x01", 1);
  fine += std::string(7, '\0');
  fine += std::string("\x00\x02\x05\x01\x01\x01", 6);
  fine += std::string(4, '\0');
  auto ok = decode_rollup(1, fine);
  REQUIRE(ok.ok());
  REQUIRE(ok->users.size() == 2);
  CHECK(ok->users[1].first == 6);
}

TEST_CASE("trends over sliding hours match a recount of the events", "[windows]") {
  const std::uint64_t seed = GENERATE(21, 22);
  const Minutes data = collect(seed);
  const auto& events = data.oracle.events();
  REQUIRE(data.rollups.size() > 120);
  const std::int64_t first = data.rollups.front().minute;
  const std::int64_t last = data.rollups.back().minute;
  for (std::int64_t from = first - 10; from + 60 <= last + 10; from += 5) {
    const auto points = aggregate_trend(data.rollups, from, from + 60, 15);
    REQUIRE(points.size() == 4);
    for (std::size_t k = 0; k < points.size(); ++k) {
      const std::int64_t lo = (from + 15 * static_cast<std::int64_t>(k)) * 60'000;
      const std::int64_t hi = lo + 15 * 60'000;
      INFO("step at " << lo);
      REQUIRE(points[k].start_ms == lo);
      std::array<std::uint64_t, kEventTypeCount> counts{};
      std::int64_t revenue = 0;
      std::set<Id> users, viewers, buyers;
      for (std::size_t i = 0; i < events.size(); ++i) {
        const Event& e = events[i];
        if (data.oracle.dropped(i) || e.time_ms < lo || e.time_ms >= hi) continue;
        ++counts[static_cast<std::size_t>(e.type)];
        revenue += e.revenue_minor();
        users.insert(e.user);
        if (e.type == EventType::view) viewers.insert(e.user);
        if (e.type == EventType::purchase) buyers.insert(e.user);
      }
      REQUIRE(points[k].events == counts);
      REQUIRE(points[k].revenue_minor == revenue);
      REQUIRE(points[k].unique_users == users.size());
      REQUIRE(points[k].viewers == viewers.size());
      REQUIRE(points[k].purchasers == buyers.size());
    }

    // Top products over the same hour, for every type filter and a category filter.
    std::vector<MinuteRollup> hour;
    for (const auto& r : data.rollups)
      if (r.minute >= from && r.minute < from + 60) hour.push_back(r);
    const std::optional<EventType> type_filters[] = {std::nullopt, EventType::view, EventType::purchase};
    const std::optional<Id> category_filters[] = {std::nullopt, Id{2}};
    for (const auto& type : type_filters) {
      for (const auto& category : category_filters) {
        std::map<Id, std::uint64_t> counts;
        for (std::size_t i = 0; i < events.size(); ++i) {
          const Event& e = events[i];
          if (data.oracle.dropped(i) || e.product == kNoId) continue;
          if (e.time_ms < from * 60'000 || e.time_ms >= (from + 60) * 60'000) continue;
          if (type && e.type != *type) continue;
          if (category && test::fixed_category(e.product) != *category) continue;
          ++counts[e.product];
        }
        const auto want = test::rank(counts, 5);
        const auto got = top_products(hour, type, category, 5);
        REQUIRE(got.size() == want.size());
        for (std::size_t i = 0; i < got.size(); ++i) {
          REQUIRE(got[i].product == want[i].id);
          REQUIRE(got[i].interactions == want[i].count);
          REQUIRE(got[i].category == test::fixed_category(want[i].id));
        }
      }
    }
  }
}

TEST_CASE("a trend gives every step a point even where no minutes exist", "[windows]") {
  const auto points = aggregate_trend({}, 100, 130, 7);
  REQUIRE(points.size() == 5);
  REQUIRE(points.back().start_ms == 128 * 60'000);
  REQUIRE(points[2].unique_users == 0);
  REQUIRE(aggregate_trend({}, 10, 10, 5).empty());
  REQUIRE(aggregate_trend({}, 10, 20, 0).empty());
}

TEST_CASE("a trend folded one minute at a time equals a recount, holding one step's users", "[windows]") {
  // Minutes of many users (enough that a step's users are merged several
  // times as they arrive), with users returning across minutes and steps,
  // some minutes missing and some outside the range.
  const auto [seed, step] = GENERATE(table<unsigned, std::int64_t>({{1, 1}, {2, 5}, {3, 60}, {4, 7}}));
  INFO("seed " << seed << " step " << step);
  std::mt19937 rng(seed);
  constexpr std::int64_t kFrom = 1000, kTo = 1180;
  std::vector<MinuteRollup> minutes;
  for (std::int64_t m = kFrom - 3; m < kTo + 3; ++m) {
    if (rng() % 10 == 0) continue;  // a gap
    MinuteRollup r;
    r.minute = m;
    std::map<Id, std::uint8_t> users;
    const std::size_t n = 200 + rng() % 3000;
    for (std::size_t i = 0; i < n; ++i)
      users[1 + static_cast<Id>(rng() % 10'000)] |= static_cast<std::uint8_t>(1u << (rng() % kEventTypeCount));
    r.users.assign(users.begin(), users.end());
    for (auto& e : r.events) e = rng() % 100;
    r.revenue_minor = static_cast<std::int64_t>(rng() % 10'000);
    minutes.push_back(std::move(r));
  }
  // The recount: every step's users together, by brute force.
  const std::size_t n_points = static_cast<std::size_t>((kTo - kFrom + step - 1) / step);
  std::vector<std::map<Id, std::uint8_t>> want_users(n_points);
  std::vector<std::array<std::uint64_t, kEventTypeCount>> want_events(n_points);
  std::vector<std::int64_t> want_revenue(n_points);
  for (const auto& r : minutes) {
    if (r.minute < kFrom || r.minute >= kTo) continue;
    const auto k = static_cast<std::size_t>((r.minute - kFrom) / step);
    for (const auto& [u, mask] : r.users) want_users[k][u] |= mask;
    for (std::size_t t = 0; t < kEventTypeCount; ++t) want_events[k][t] += r.events[t];
    want_revenue[k] += r.revenue_minor;
  }

  TrendFold fold(kFrom, kTo, step);
  std::size_t most_bytes = 0, most_step_users = 0;
  for (const auto& r : minutes) {
    fold.add(r);
    most_bytes = std::max(most_bytes, fold.user_bytes());
  }
  for (const auto& u : want_users) most_step_users = std::max(most_step_users, u.size());
  const auto points = fold.finish();
  REQUIRE(points == aggregate_trend(minutes, kFrom, kTo, step));
  REQUIRE(points.size() == n_points);
  for (std::size_t k = 0; k < n_points; ++k) {
    INFO("point " << k);
    REQUIRE(points[k].start_ms == (kFrom + static_cast<std::int64_t>(k) * step) * 60'000);
    REQUIRE(points[k].events == want_events[k]);
    REQUIRE(points[k].revenue_minor == want_revenue[k]);
    REQUIRE(points[k].unique_users == want_users[k].size());
    const auto with = [&](EventType t) {
      return static_cast<std::uint64_t>(std::count_if(want_users[k].begin(), want_users[k].end(),
                                                      [&](const auto& u) { return (u.second & type_bit(t)) != 0; }));
    };
    REQUIRE(points[k].viewers == with(EventType::view));
    REQUIRE(points[k].purchasers == with(EventType::purchase));
  }
  // Held at once: about twice one step's distinct users (plus one minute
  // and the vector's doubling), never the range's user-minutes.
  std::size_t range_user_minutes = 0;
  for (const auto& r : minutes) range_user_minutes += r.users.size();
  const std::size_t entry = sizeof(std::pair<Id, std::uint8_t>);
  INFO("most held " << most_bytes << " bytes; a step's distinct users " << most_step_users);
  REQUIRE(most_bytes <= entry * std::max<std::size_t>(65'536, 2 * most_step_users + 3200) * 2);
  if (step == 60) REQUIRE(most_bytes * 2 < entry * range_user_minutes);
}

TEST_CASE("product totals over many products and minutes equal a recount, category from the latest minute",
          "[windows]") {
  // 40,000 products over 60 minutes: the totals' table grows many times
  // from its first 1,024 slots. Each minute moves some products to another
  // category; the latest minute's category is the one reported.
  std::mt19937_64 rng(7);
  std::vector<MinuteRollup> minutes(60);
  std::map<Id, std::uint64_t> views, all, in_three;  // in_three: entries of category 3 only
  std::map<Id, Id> category;
  for (std::size_t m = 0; m < minutes.size(); ++m) {
    minutes[m].minute = 1000 + static_cast<std::int64_t>(m);
    std::map<std::pair<Id, EventType>, std::uint64_t> counts;
    for (int i = 0; i < 3000; ++i) {
      const Id product = 1 + static_cast<Id>(rng() % 40'000);
      const EventType type = rng() % 3 == 0 ? EventType::purchase : EventType::view;
      counts[{product, type}] += 1 + rng() % 4;
    }
    for (const auto& [key, n] : counts) {
      const Id cat = 1 + static_cast<Id>((key.first + m / 20) % 7);
      minutes[m].products.push_back({key.first, cat, key.second, static_cast<std::uint32_t>(n)});
      category[key.first] = cat;
      all[key.first] += n;
      if (key.second == EventType::view) views[key.first] += n;
      if (cat == 3) in_three[key.first] += n;
    }
  }
  const auto check = [&](const std::map<Id, std::uint64_t>& counts, std::optional<EventType> type,
                         std::optional<Id> in_category) {
    const auto want = test::rank(counts, 20);
    const auto got = top_products(minutes, type, in_category, 20);
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      REQUIRE(got[i].product == want[i].id);
      REQUIRE(got[i].interactions == want[i].count);
      if (!in_category) REQUIRE(got[i].category == category[want[i].id]);
      else REQUIRE(got[i].category == *in_category);
    }
    // Every product, not only the first few: a limit past the products.
    const auto whole = top_products(minutes, type, in_category, SIZE_MAX);
    REQUIRE(whole.size() == counts.size());
    for (const ProductRank& r : whole) REQUIRE(counts.at(r.product) == r.interactions);
  };
  check(all, std::nullopt, std::nullopt);
  check(views, EventType::view, std::nullopt);
  check(in_three, std::nullopt, Id{3});
}
