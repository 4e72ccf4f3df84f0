// The time index and the range figures and cohorts, each against a
// brute-force computation over the same events.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "shoppulse/range/analysis.hpp"
#include "shoppulse/range/time_index.hpp"

using namespace shoppulse;
using namespace shoppulse::range;

namespace {

constexpr std::int64_t kMinuteMs = 60000;

// Events in sequence order whose times wander back and forth, as late events do.
std::vector<Event> random_events(std::mt19937_64& rng, std::size_t n, TimestampMs base, std::int64_t spread_ms) {
  std::vector<Event> out;
  TimestampMs clock = base;
  for (std::size_t i = 0; i < n; ++i) {
    Event e;
    e.sequence = i + 1;
    clock += static_cast<std::int64_t>(rng() % 20000);
    e.time_ms = clock - static_cast<std::int64_t>(rng() % spread_ms);  // up to spread late
    e.user = 1 + static_cast<Id>(rng() % 30);
    e.product = 1 + static_cast<Id>(rng() % 12);
    e.category = 1 + static_cast<Id>(rng() % 5);
    e.device = static_cast<Id>(rng() % 3);  // 0: none
    e.type = static_cast<EventType>(rng() % kEventTypeCount);
    e.price_minor = 100 + static_cast<std::int64_t>(rng() % 1000);
    out.push_back(e);
  }
  return out;
}

}  // namespace

TEST_CASE("the time index's span holds every event of a range even when events arrive out of order",
          "[range][index]") {
  std::mt19937_64 rng(7);
  const auto events = random_events(rng, 3000, 1'700'000'000'000, 30 * kMinuteMs);
  TimeIndex index;
  for (const auto& e : events) index.add(e);
  CHECK(index.indexed_through() == events.size());
  for (int round = 0; round < 200; ++round) {
    const TimestampMs from = events.front().time_ms - kMinuteMs + static_cast<std::int64_t>(rng() % (900 * kMinuteMs));
    const TimestampMs to = from + 1 + static_cast<std::int64_t>(rng() % (120 * kMinuteMs));
    const auto span = index.span(from, to);
    for (const auto& e : events) {
      if (e.time_ms < from || e.time_ms >= to) continue;
      REQUIRE(span.has_value());
      CHECK(e.sequence >= span->first);
      CHECK(e.sequence <= span->last);
    }
  }
}

TEST_CASE("the time index reads only the part of the log a range needs", "[range][index]") {
  TimeIndex index;
  for (Sequence s = 1; s <= 600; ++s) {
    Event e;
    e.sequence = s;
    e.time_ms = static_cast<TimestampMs>(s) * 1000;  // ten minutes, in order
    e.user = 1;
    index.add(e);
  }
  const auto span = index.span(120000, 180000);  // minute 2: seconds 120..179
  REQUIRE(span);
  CHECK(span->first == 120);
  CHECK(span->last == 179);
  CHECK_FALSE(index.span(3600000, 7200000).has_value());
  CHECK(index.first_seen(1) == 1000);
  CHECK_FALSE(index.first_seen(2).has_value());
}

TEST_CASE("range figures equal a brute-force count of the same events, previous period included", "[range]") {
  std::mt19937_64 rng(11);
  const auto events = random_events(rng, 4000, 1'700'000'000'000, 10 * kMinuteMs);
  const TimestampMs from = events[1500].time_ms, to = events[2500].time_ms;
  const std::int64_t length = to - from;
  RangeFigures figures(from, to, 5 * kMinuteMs, 3);
  for (const auto& e : events) figures.add(e);
  const RangeSummary s = figures.finish();

  std::array<std::uint64_t, kEventTypeCount> counts{}, previous_counts{};
  std::set<Id> users, viewers, buyers, previous_users;
  std::map<Id, std::uint64_t> products;
  std::int64_t revenue = 0;
  std::vector<std::uint64_t> views_per_point(s.series.size(), 0);
  for (const auto& e : events) {
    if (e.time_ms >= from && e.time_ms < to) {
      ++counts[static_cast<std::size_t>(e.type)];
      users.insert(e.user);
      if (e.type == EventType::view) viewers.insert(e.user);
      if (e.type == EventType::purchase) buyers.insert(e.user);
      ++products[e.product];
      revenue += e.revenue_minor();
      if (e.type == EventType::view) ++views_per_point[static_cast<std::size_t>((e.time_ms - from) / (5 * kMinuteMs))];
    } else if (e.time_ms >= from - length && e.time_ms < from) {
      ++previous_counts[static_cast<std::size_t>(e.type)];
      previous_users.insert(e.user);
    }
  }
  CHECK(s.current.events == counts);
  CHECK(s.previous.events == previous_counts);
  CHECK(s.current.active_users == users.size());
  CHECK(s.previous.active_users == previous_users.size());
  CHECK(s.current.funnel[static_cast<std::size_t>(FunnelStep::view)] == viewers.size());
  CHECK(s.current.funnel[static_cast<std::size_t>(FunnelStep::purchase)] == buyers.size());
  CHECK(s.current.revenue_minor == revenue);
  REQUIRE(s.series.size() == static_cast<std::size_t>((length + 5 * kMinuteMs - 1) / (5 * kMinuteMs)));
  for (std::size_t i = 0; i < s.series.size(); ++i) CHECK(s.series[i].events[0] == views_per_point[i]);
  std::vector<RankedId> want;
  for (auto [id, n] : products) want.push_back({id, n});
  std::sort(want.begin(), want.end(),
            [](const RankedId& a, const RankedId& b) { return a.count != b.count ? a.count > b.count : a.id < b.id; });
  want.resize(3);
  CHECK(s.top_products == want);
}

TEST_CASE("cohorts count shoppers by the period they were first seen and the periods they came back in", "[range]") {
  constexpr std::int64_t kDay = 86400000;
  const TimestampMs monday = 1'700'438'400'000;  // 2023-11-20T00:00Z, a Monday
  CHECK(CohortCounter::period_start(CohortCounter::period_index(monday + 3 * kDay, CohortPeriod::week),
                                    CohortPeriod::week) == monday);
  std::mt19937_64 rng(5);
  std::vector<Event> events;
  for (Sequence s = 1; s <= 3000; ++s) {
    Event e;
    e.sequence = s;
    e.user = 1 + static_cast<Id>(rng() % 200);
    e.time_ms = monday - 3 * kDay + static_cast<std::int64_t>(rng() % (20 * kDay));
    events.push_back(e);
  }
  std::map<Id, TimestampMs> first;
  for (const auto& e : events) first[e.user] = std::min(first.count(e.user) ? first[e.user] : e.time_ms, e.time_ms);
  const TimestampMs from = monday + kDay / 2, to = monday + 12 * kDay;
  for (CohortPeriod period : {CohortPeriod::day, CohortPeriod::week, CohortPeriod::hour}) {
    CohortCounter counter(from, to, period, [&](Id u) -> std::optional<TimestampMs> { return first.at(u); });
    for (const auto& e : events) counter.add(e);
    const CohortTable t = counter.finish();
    const std::int64_t p0 = CohortCounter::period_index(from, period);
    std::map<std::pair<std::int64_t, std::int64_t>, std::set<Id>> want;  // (cohort, offset) -> users
    std::map<std::int64_t, std::set<Id>> members;
    for (const auto& e : events) {
      const TimestampMs f = first.at(e.user);
      if (e.time_ms < from || e.time_ms >= to || f < from || f >= to) continue;
      const std::int64_t c = CohortCounter::period_index(f, period) - p0;
      members[c].insert(e.user);
      want[{c, CohortCounter::period_index(e.time_ms, period) - p0 - c}].insert(e.user);
    }
    REQUIRE(t.cohorts.size() == static_cast<std::size_t>(CohortCounter::period_index(to - 1, period) - p0 + 1));
    CHECK(t.from_ms == CohortCounter::period_start(p0, period));
    for (std::size_t c = 0; c < t.cohorts.size(); ++c) {
      CHECK(t.cohorts[c].users == members[static_cast<std::int64_t>(c)].size());
      REQUIRE(t.cohorts[c].returning.size() == t.cohorts.size() - c);
      for (std::size_t k = 0; k < t.cohorts[c].returning.size(); ++k)
        CHECK(t.cohorts[c].returning[k] ==
              want[{static_cast<std::int64_t>(c), static_cast<std::int64_t>(k)}].size());
    }
  }
}
