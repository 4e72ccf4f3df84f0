// The merge of members' partial answers against a brute-force oracle:
// random events are spread over members by user (as the events topic does),
// each member's answer is computed from its own events, and the merged
// answer must equal the answer computed over the union.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "json_tree.hpp"
#include "shoppulse/api/trend_model.hpp"
#include "shoppulse/cluster/merge.hpp"
#include "shoppulse/core/time_format.hpp"
#include "shoppulse/recommend/recommender.hpp"

using namespace shoppulse::cluster;
using json::Value;

namespace {

std::vector<RankedEntry> oracle_top(const std::map<std::string, std::int64_t>& totals, std::size_t n) {
  std::vector<RankedEntry> all;
  for (const auto& [id, c] : totals)
    if (c > 0) all.push_back({id, c});
  std::sort(all.begin(), all.end(),
            [](const RankedEntry& a, const RankedEntry& b) { return a.count != b.count ? a.count > b.count : a.id < b.id; });
  if (all.size() > n) all.resize(n);
  return all;
}

// A member's list: its top k by count then id, whole when it has at most k.
RankedPart member_list(const std::map<std::string, std::int64_t>& counts, std::size_t k) {
  RankedPart p;
  p.entries = oracle_top(counts, k);
  std::size_t nonzero = 0;
  for (const auto& [id, c] : counts) nonzero += c > 0;
  p.whole = nonzero <= k;
  return p;
}

}  // namespace

TEST_CASE("merge_ranked equals the top n of the union whenever it says exact, ties broken by id", "[cluster][merge]") {
  std::mt19937_64 rng(20261204);
  int exact_cut = 0, checked = 0;
  for (int round = 0; round < 3000; ++round) {
    const std::size_t members = 1 + rng() % 4;
    const std::size_t ids = 1 + rng() % 40;
    const std::int64_t max_count = 1 + std::int64_t(rng() % (round % 3 == 0 ? 3 : 50));  // small: many ties
    std::vector<std::map<std::string, std::int64_t>> per(members);
    std::map<std::string, std::int64_t> totals;
    for (std::size_t m = 0; m < members; ++m)
      for (std::size_t i = 0; i < ids; ++i)
        if (rng() % 3 != 0) {
          const std::string id = "p" + std::to_string(i);
          const std::int64_t c = std::int64_t(rng() % std::uint64_t(max_count + 1));
          per[m][id] += c;
          totals[id] += c;
        }
    const std::size_t n = rng() % 12;
    const std::size_t k = n + rng() % 30;  // candidates asked of each member
    std::vector<RankedPart> parts;
    bool all_whole = true;
    for (const auto& c : per) {
      parts.push_back(member_list(c, k));
      all_whole = all_whole && parts.back().whole;
    }
    const RankedMerge merged = merge_ranked(parts, n);
    INFO("round " << round << " members " << members << " n " << n << " k " << k);
    if (all_whole) REQUIRE(merged.exact);  // every count is known
    if (merged.exact) {
      ++checked;
      if (!all_whole) ++exact_cut;
      REQUIRE(merged.top == oracle_top(totals, n));
    }
  }
  // The bounds prove most cut lists exact, not only whole ones.
  CHECK(checked > 1500);
  CHECK(exact_cut > 200);
}

TEST_CASE("merge_ranked: a tie at the cut with an unnamed id is not claimed exact", "[cluster][merge]") {
  // Member 0 lists a:5, b:3 of more; member 1 whole with c:3. Top 2 = a, then
  // b or c or something member 0 cut at <= 3: unknown.
  std::vector<RankedPart> parts{{{{"a", 5}, {"b", 3}}, false}, {{{"c", 3}}, true}};
  RankedMerge m = merge_ranked(parts, 2);
  CHECK_FALSE(m.exact);
  // Whole lists: b and c tie at 3, b wins on the id.
  parts[0].whole = true;
  m = merge_ranked(parts, 2);
  CHECK(m.exact);
  CHECK(m.top == std::vector<RankedEntry>{{"a", 5}, {"b", 3}});
  // Counts of one id on two members add.
  parts = {{{{"x", 2}, {"y", 1}}, true}, {{{"y", 4}}, true}};
  m = merge_ranked(parts, 5);
  CHECK(m.exact);
  CHECK(m.top == std::vector<RankedEntry>{{"y", 5}, {"x", 2}});
}

namespace {

struct Ev {
  int user = 0;
  int type = 0;  // 0 view, 1 click, 2 add_to_cart, 3 purchase
  int product = 0;
  int minute = 0;
  std::int64_t price_minor = 0;
};

Value obj(std::vector<std::pair<std::string, Value>> fields) {
  Value v;
  v.kind = Value::object;
  v.o = std::move(fields);
  return v;
}
Value arr(std::vector<Value> items) {
  Value v;
  v.kind = Value::array;
  v.a = std::move(items);
  return v;
}
Value i64(std::int64_t x) { return Value::of_int(x); }
Value str(std::string s) { return Value::of_string(std::move(s)); }
double percent(std::int64_t part, std::int64_t whole) {
  return whole ? std::round(double(part) / double(whole) * 10000.0) / 100.0 : 0.0;
}

// Kpis as one node writes them (figures_json.cpp), over `events`.
std::vector<std::pair<std::string, Value>> kpis(const std::vector<Ev>& events) {
  std::set<int> users, viewers, purchasers;
  std::array<std::int64_t, 4> counts{};
  std::int64_t revenue = 0;
  for (const Ev& e : events) {
    users.insert(e.user);
    ++counts[std::size_t(e.type)];
    if (e.type == 0) viewers.insert(e.user);
    if (e.type == 3) {
      purchasers.insert(e.user);
      revenue += e.price_minor;
    }
  }
  const std::int64_t purchases = counts[3];
  return {{"active_users", i64(std::int64_t(users.size()))},
          {"page_views", i64(counts[0])},
          {"clicks", i64(counts[1])},
          {"add_to_cart", i64(counts[2])},
          {"purchases", i64(purchases)},
          {"total_events", i64(std::int64_t(events.size()))},
          {"revenue", Value::of_money(revenue)},
          {"average_order_value", Value::of_money(purchases ? revenue / purchases : 0)},
          {"conversion_rate", Value::of_double(percent(std::int64_t(purchasers.size()), std::int64_t(viewers.size())))},
          {"viewers", i64(std::int64_t(viewers.size()))},
          {"purchasers", i64(std::int64_t(purchasers.size()))}};
}

// A real-time-like answer: kpis, a ranked list with every product, a
// funnel of users per step and the window's times.
std::string realtime_answer(const std::vector<Ev>& events, std::string end, std::int64_t applied) {
  auto fields = kpis(events);
  std::map<std::string, std::int64_t> per_product;
  for (const Ev& e : events) ++per_product["p" + std::to_string(e.product)];
  std::vector<Value> ranked;
  for (const RankedEntry& r : oracle_top(per_product, 1000))
    ranked.push_back(obj({{"product_id", str(r.id)}, {"interactions", i64(r.count)}}));
  fields.emplace_back("popular_products", arr(std::move(ranked)));
  fields.emplace_back("window", obj({{"start", str("2026-01-01T00:00:00Z")}, {"end", str(std::move(end))}}));
  std::array<std::set<int>, 4> step_users;
  for (const Ev& e : events) step_users[std::size_t(e.type)].insert(e.user);
  static const char* kSteps[] = {"view", "click", "add_to_cart", "purchase"};
  std::vector<Value> funnel;
  for (std::size_t i = 0; i < 4; ++i)
    funnel.push_back(obj({{"step", str(kSteps[i])}, {"users", i64(std::int64_t(step_users[i].size()))}}));
  fields.emplace_back("funnel", arr(std::move(funnel)));
  fields.emplace_back("complete", Value::of_bool(true));
  fields.emplace_back("applied_sequence", i64(applied));
  return json::serialize(obj(std::move(fields)));
}

// A trends-like answer: one point per minute, each with the kpis of its
// events (distinct users per minute).
std::string series_answer(const std::vector<Ev>& events, int minutes) {
  std::vector<Value> points;
  for (int m = 0; m < minutes; ++m) {
    std::vector<Ev> in;
    for (const Ev& e : events)
      if (e.minute == m) in.push_back(e);
    auto f = kpis(in);
    char start[32];
    std::snprintf(start, sizeof start, "2026-01-01T%02d:%02d:00Z", m / 60, m % 60);
    f.insert(f.begin(), {"start", str(start)});
    points.push_back(obj(std::move(f)));
  }
  return json::serialize(obj({{"step", str("1m")}, {"points", arr(std::move(points))}}));
}

// A range funnel: users reaching each step (any order here: a user counts
// for a step when it has an event of that type), conversions and drops.
std::string funnel_answer(const std::vector<Ev>& events) {
  std::array<std::set<int>, 4> users;
  for (const Ev& e : events) users[std::size_t(e.type)].insert(e.user);
  std::vector<Value> steps;
  const auto first = std::int64_t(users[0].size());
  std::int64_t previous = first;
  for (std::size_t i = 0; i < 4; ++i) {
    const auto u = std::int64_t(users[i].size());
    steps.push_back(obj({{"step", i64(std::int64_t(i) + 1)},
                         {"users", i64(u)},
                         {"conversion_from_previous", Value::of_double(percent(u, previous))},
                         {"conversion_from_start", Value::of_double(percent(u, first))},
                         {"dropped", i64(previous - u)}}));
    previous = u;
  }
  return json::serialize(obj({{"steps", arr(std::move(steps))}}));
}

struct Spread {
  std::vector<Ev> all;
  std::vector<std::vector<Ev>> per_member;
};

Spread random_events(std::mt19937_64& rng, std::size_t members, int minutes) {
  Spread s;
  s.per_member.resize(members);
  const int users = 1 + int(rng() % 60);
  const int n = int(rng() % 400);
  for (int i = 0; i < n; ++i) {
    Ev e;
    e.user = int(rng() % std::uint64_t(users));
    e.type = int(rng() % 4);
    e.product = int(rng() % 25);
    e.minute = int(rng() % std::uint64_t(minutes));
    e.price_minor = e.type == 3 ? 100 + std::int64_t(rng() % 99999) : 0;
    s.all.push_back(e);
    // A user is on one member (its partition's owner).
    s.per_member[std::size_t(e.user) % members].push_back(e);
  }
  return s;
}

}  // namespace

TEST_CASE("Merged real-time figures equal the figures over the union: counts, revenue, distinct users add; rates "
          "and averages recomputed; ranked lists by count then id; the latest window end",
          "[cluster][merge]") {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 300; ++round) {
    const std::size_t members = 1 + rng() % 4;
    const Spread s = random_events(rng, members, 5);
    std::vector<std::string> bodies;
    for (std::size_t m = 0; m < members; ++m)
      bodies.push_back(realtime_answer(s.per_member[m], "2026-01-01T00:0" + std::to_string(m) + ":00Z", 10 + m));
    MergeOptions o{MergeKind::realtime};
    o.limit = o.asked_limit = 1000;  // every product is in each member's list
    auto merged = merge_answers(bodies, o);
    REQUIRE(merged);
    CHECK(merged->exact_top);
    // The oracle: one node with every event; its applied_sequence is the
    // asking member's (the first) and the end is the latest.
    const std::string oracle =
        realtime_answer(s.all, "2026-01-01T00:0" + std::to_string(members - 1) + ":00Z", 10);
    // A product without events on any member is in no list, as in one node's.
    INFO("round " << round);
    REQUIRE(merged->body == oracle);
  }
}

TEST_CASE("Merged snapshots (the WebSocket's message, GET /api/analytics/snapshot) merge the top-level window and "
          "each window under windows as real-time answers; events_applied adds",
          "[cluster][merge]") {
  // A snapshot holding the same window at top level and under "windows".
  const auto snapshot = [](const std::string& window, std::size_t applied) {
    return "{\"type\":\"snapshot\",\"currency\":\"CNY\"," + window.substr(1, window.size() - 2) +
           ",\"events_applied\":" + std::to_string(applied) + ",\"windows\":{\"1m\":" + window + ",\"5m\":" + window +
           "}}";
  };
  std::mt19937_64 rng(11);
  for (int round = 0; round < 100; ++round) {
    const std::size_t members = 1 + rng() % 4;
    const Spread s = random_events(rng, members, 5);
    std::vector<std::string> bodies;
    for (std::size_t m = 0; m < members; ++m)
      bodies.push_back(snapshot(
          realtime_answer(s.per_member[m], "2026-01-01T00:0" + std::to_string(m) + ":00Z", 10 + m),
          s.per_member[m].size()));
    MergeOptions o{MergeKind::realtime};
    o.limit = o.asked_limit = 1000;
    auto merged = merge_answers(bodies, o);
    REQUIRE(merged);
    const std::string oracle =
        snapshot(realtime_answer(s.all, "2026-01-01T00:0" + std::to_string(members - 1) + ":00Z", 10), s.all.size());
    INFO("round " << round);
    REQUIRE(merged->body == oracle);
  }
}

TEST_CASE("Merged per-minute series equal the union's: per-minute counts, revenue and distinct users",
          "[cluster][merge]") {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 100; ++round) {
    const std::size_t members = 1 + rng() % 4;
    const Spread s = random_events(rng, members, 60);
    std::vector<std::string> bodies;
    for (std::size_t m = 0; m < members; ++m) bodies.push_back(series_answer(s.per_member[m], 60));
    auto merged = merge_answers(bodies, MergeOptions{MergeKind::trends});
    REQUIRE(merged);
    REQUIRE(merged->body == series_answer(s.all, 60));
  }
}

TEST_CASE("Merged funnels add the users per step and recompute conversions and drops", "[cluster][merge]") {
  std::mt19937_64 rng(13);
  for (int round = 0; round < 200; ++round) {
    const std::size_t members = 1 + rng() % 4;
    const Spread s = random_events(rng, members, 5);
    std::vector<std::string> bodies;
    for (std::size_t m = 0; m < members; ++m) bodies.push_back(funnel_answer(s.per_member[m]));
    auto merged = merge_answers(bodies, MergeOptions{MergeKind::funnel});
    REQUIRE(merged);
    REQUIRE(merged->body == funnel_answer(s.all));
  }
}

TEST_CASE("Merged popular products: the exact top n of the union from members' candidate lists",
          "[cluster][merge]") {
  std::mt19937_64 rng(17);
  for (int round = 0; round < 300; ++round) {
    const std::size_t members = 1 + rng() % 4;
    const Spread s = random_events(rng, members, 5);
    const std::size_t n = 1 + rng() % 10;
    const std::size_t asked = n + rng() % 20;
    const auto answer = [](const std::vector<Ev>& events, std::size_t limit) {
      std::map<std::string, std::int64_t> per;
      for (const Ev& e : events) ++per["p" + std::to_string(e.product)];
      std::vector<Value> list;
      for (const RankedEntry& r : oracle_top(per, limit))
        list.push_back(obj({{"product_id", str(r.id)}, {"category_id", str("c" + r.id)}, {"interactions", i64(r.count)}}));
      return json::serialize(obj({{"products", arr(std::move(list))}, {"end", str("2026-01-01T01:00:00Z")}}));
    };
    std::vector<std::string> bodies;
    for (std::size_t m = 0; m < members; ++m) bodies.push_back(answer(s.per_member[m], asked));
    MergeOptions o{MergeKind::popular};
    o.limit = n;
    o.asked_limit = asked;
    auto merged = merge_answers(bodies, o);
    REQUIRE(merged);
    if (merged->exact_top) REQUIRE(merged->body == answer(s.all, n));
  }
}

namespace {

// A cohort answer as one node writes it (range_routes.cpp): a shopper's
// cohort is the period of their first event, returning[k] the cohort's
// shoppers with an event k periods later, retention the same in percent.
// Periods here are the events' minutes.
std::string cohorts_answer(const std::vector<Ev>& events, int periods) {
  std::map<int, int> first;
  std::map<int, std::set<int>> active;  // period -> users
  for (const Ev& e : events) {
    auto [it, fresh] = first.try_emplace(e.user, e.minute);
    if (!fresh) it->second = std::min(it->second, e.minute);
    active[e.minute].insert(e.user);
  }
  std::vector<Value> cohorts;
  for (int p = 0; p < periods; ++p) {
    std::set<int> members;
    for (const auto& [u, f] : first)
      if (f == p) members.insert(u);
    std::vector<Value> returning, retention;
    for (int k = 0; p + k < periods; ++k) {
      std::int64_t n = 0;
      for (int u : members) n += active[p + k].count(u);
      returning.push_back(i64(n));
      retention.push_back(Value::of_double(percent(n, std::int64_t(members.size()))));
    }
    char start[32];
    std::snprintf(start, sizeof start, "2026-01-01T%02d:%02d:00Z", p / 60, p % 60);
    cohorts.push_back(obj({{"start", str(start)},
                           {"users", i64(std::int64_t(members.size()))},
                           {"returning", arr(std::move(returning))},
                           {"retention", arr(std::move(retention))}}));
  }
  return json::serialize(obj({{"from", str("2026-01-01T00:00:00Z")},
                              {"to", str("2026-01-01T01:00:00Z")},
                              {"period", str("minute")},
                              {"cohorts", arr(std::move(cohorts))}}));
}

}  // namespace

TEST_CASE("Merged cohorts equal the union's: cohort sizes and returning users add, retention recomputed",
          "[cluster][merge]") {
  std::mt19937_64 rng(19);
  for (int round = 0; round < 200; ++round) {
    const std::size_t members = 1 + rng() % 4;
    const int periods = 1 + int(rng() % 12);
    const Spread s = random_events(rng, members, periods);
    std::vector<std::string> bodies;
    for (std::size_t m = 0; m < members; ++m) bodies.push_back(cohorts_answer(s.per_member[m], periods));
    auto merged = merge_answers(bodies, MergeOptions{MergeKind::cohorts});
    REQUIRE(merged);
    INFO("round " << round);
    REQUIRE(merged->body == cohorts_answer(s.all, periods));
  }
}

TEST_CASE("Merged propensity: the shoppers most likely to buy of the union, by score then id, cut at the limit",
          "[cluster][merge]") {
  std::mt19937_64 rng(23);
  for (int round = 0; round < 300; ++round) {
    const std::size_t members = 1 + rng() % 4;
    const int users = int(rng() % 50);
    const std::size_t limit = 1 + rng() % 15;
    // Scores rounded to 4 decimals as the API writes them; few values, so
    // ties are common.
    std::vector<std::pair<std::string, double>> scored;
    for (int u = 0; u < users; ++u) scored.emplace_back("u" + std::to_string(u), double(rng() % 8) / 8.0);
    const auto answer = [&](std::vector<std::pair<std::string, double>> mine, std::int64_t trained) {
      std::sort(mine.begin(), mine.end(), [](const auto& a, const auto& b) {
        return a.second != b.second ? a.second > b.second : a.first < b.first;
      });
      if (mine.size() > limit) mine.resize(limit);
      std::vector<Value> list;
      for (const auto& [id, p] : mine)
        list.push_back(obj({{"user_id", str(id)}, {"purchase_propensity", Value::of_double(p)}}));
      return json::serialize(obj({{"users", arr(std::move(list))},
                                  {"trained_examples", i64(trained)},
                                  {"horizon_seconds", i64(1800)}}));
    };
    std::vector<std::string> bodies;
    std::int64_t trained = 0;
    for (std::size_t m = 0; m < members; ++m) {
      std::vector<std::pair<std::string, double>> mine;
      for (std::size_t u = 0; u < scored.size(); ++u)
        if (u % members == m) mine.push_back(scored[u]);
      bodies.push_back(answer(mine, std::int64_t(m) * 7));
      trained += std::int64_t(m) * 7;
    }
    MergeOptions o{MergeKind::propensity};
    o.limit = o.asked_limit = limit;
    auto merged = merge_answers(bodies, o);
    REQUIRE(merged);
    INFO("round " << round);
    REQUIRE(merged->body == answer(scored, trained));
  }
}

TEST_CASE("with_coverage appends the coverage object", "[cluster][merge]") {
  Coverage c;
  c.partitions = 6;
  c.current = 4;
  c.members = 3;
  c.missing = {"n2"};
  CHECK(with_coverage("{\"a\":1}", c) ==
        "{\"a\":1,\"coverage\":{\"scope\":\"cluster\",\"partitions\":6,\"current\":4,\"members\":3,\"missing\":[\"n2\"]}}");
  CHECK(with_coverage("{}", c).find("{\"coverage\"") == 0);
  CHECK(with_coverage("[1]", c) == "[1]");
  c.overlap = {2, 5};
  CHECK(with_coverage("{\"a\":1}", c) == "{\"a\":1,\"coverage\":{\"scope\":\"cluster\",\"partitions\":6,\"current\":4,"
                                          "\"members\":3,\"missing\":[\"n2\"],\"overlap\":[2,5]}}");
}

namespace {

// A trend's four modelled series per step (api::kTrendSeries), in the
// units one node counts them (revenue in minor units).
struct TrendValues {
  std::vector<std::int64_t> views, purchases, revenue_minor, users;
  std::size_t size() const { return views.size(); }
};

TrendValues operator+(TrendValues a, const TrendValues& b) {
  for (std::size_t i = 0; i < a.size(); ++i) {
    a.views[i] += b.views[i];
    a.purchases[i] += b.purchases[i];
    a.revenue_minor[i] += b.revenue_minor[i];
    a.users[i] += b.users[i];
  }
  return a;
}

constexpr shoppulse::TimestampMs kTrendFrom = 1767261600000;  // 2026-01-01T10:00:00Z

// A trends answer with forecast= as one node writes it over `s` (1m steps):
// points from `complete` on are partial, and the model is fitted by one
// node's code (api::fit_trend_model) over the complete points.
std::string trend_answer(const TrendValues& s, std::size_t complete, std::size_t horizon) {
  shoppulse::api::TrendSeries values;
  for (std::size_t i = 0; i < complete; ++i) {
    values[0].push_back(double(s.views[i]));
    values[1].push_back(double(s.purchases[i]));
    values[2].push_back(double(s.revenue_minor[i]) / 100.0);
    values[3].push_back(double(s.users[i]));
  }
  const auto model = shoppulse::api::fit_trend_model(values, horizon);
  const auto start = [](std::size_t i) { return kTrendFrom + shoppulse::TimestampMs(i) * 60000; };
  std::vector<Value> points;
  for (std::size_t i = 0; i < s.size(); ++i) {
    // Every viewer here buys at most once, so purchasers = purchases.
    std::vector<std::pair<std::string, Value>> f{{"start", str(shoppulse::format_iso8601(start(i)))},
                                                 {"page_views", i64(s.views[i])},
                                                 {"purchases", i64(s.purchases[i])},
                                                 {"revenue", Value::of_money(s.revenue_minor[i])},
                                                 {"unique_users", i64(s.users[i])},
                                                 {"viewers", i64(s.users[i])},
                                                 {"purchasers", i64(s.purchases[i])},
                                                 {"conversion_rate", Value::of_double(percent(s.purchases[i],
                                                                                              s.users[i]))}};
    if (i >= complete) f.emplace_back("partial", Value::of_bool(true));
    if (i < complete) f.emplace_back("anomalies", json::parse(shoppulse::api::trend_anomalies_json(model, i)).value());
    points.push_back(obj(std::move(f)));
  }
  const auto first = complete > 0 ? start(complete - 1) + 60000 : start(0);
  Value forecast = json::parse(shoppulse::api::trend_forecast_json(model, first, 60000)).value();
  return json::serialize(obj({{"step", str("1m")},
                              {"from", str(shoppulse::format_iso8601(start(0)))},
                              {"to", str(shoppulse::format_iso8601(start(s.size())))},
                              {"points", arr(std::move(points))},
                              {"forecast", std::move(forecast)}}));
}

// Three members' series over 14 steps: the first grows smoothly; the second
// has a burst of views, users and revenue at steps 6 and 9 that only the sum
// shows; the third is small and noisy.
std::array<TrendValues, 3> trend_members() {
  std::array<TrendValues, 3> m;
  for (int i = 0; i < 14; ++i) {
    m[0].views.push_back(100 + 3 * i);
    m[0].purchases.push_back(5 + i % 2);
    m[0].revenue_minor.push_back(10000 + 250 * i + 99);
    m[0].users.push_back(40 + i);
    m[1].views.push_back(20 + (i == 9 ? 400 : 0));
    m[1].purchases.push_back(2 + (i == 6 ? 30 : 0));
    m[1].revenue_minor.push_back(555 + (i == 6 ? 90001 : 0));
    m[1].users.push_back(10 + (i == 9 ? 60 : 0));
    m[2].views.push_back((7 * i) % 5);
    m[2].purchases.push_back(i % 3 == 0);
    m[2].revenue_minor.push_back(i % 3 == 0 ? 1234 : 0);
    m[2].users.push_back(1 + i % 4);
  }
  return m;
}

std::string field_text(const std::string& body, std::string_view key) {
  const auto v = json::parse(body);
  const Value* f = v ? v->find(key) : nullptr;
  return f ? json::serialize(*f) : std::string();
}

// Each complete point's anomalies, as text.
std::string anomalies_text(const std::string& body) {
  std::string out;
  const auto v = json::parse(body);
  for (const Value& p : v->find("points")->a)
    if (const Value* a = p.find("anomalies")) out += json::serialize(*a) + ";";
  return out;
}

}  // namespace

TEST_CASE("Merged trends with a forecast: anomalies and forecast are fitted again over the merged series, as one "
          "node holding every event fits them",
          "[cluster][merge][forecast]") {
  const auto m = trend_members();
  const TrendValues sum = m[0] + m[1] + m[2];
  // The third member's watermark is a minute behind: its last two points are
  // partial, so are the merged ones, and one node's model has 12 points.
  const std::vector<std::string> bodies{trend_answer(m[0], 13, 5), trend_answer(m[1], 13, 5),
                                        trend_answer(m[2], 12, 5)};
  const std::string oracle = trend_answer(sum, 12, 5);
  INFO("oracle: " << oracle);
  // The test means something: the first member's own model differs from the
  // one over the sum, and the sum's bursts are flagged.
  REQUIRE(field_text(bodies[0], "forecast") != field_text(oracle, "forecast"));
  REQUIRE(anomalies_text(bodies[0]) != anomalies_text(oracle));
  REQUIRE(anomalies_text(oracle).find("page_views") != std::string::npos);
  REQUIRE(anomalies_text(oracle).find("revenue") != std::string::npos);
  auto merged = merge_answers(bodies, MergeOptions{MergeKind::trends});
  REQUIRE(merged);
  CHECK(anomalies_text(merged->body) == anomalies_text(oracle));
  CHECK(field_text(merged->body, "forecast") == field_text(oracle, "forecast"));
  CHECK(merged->body == oracle);
  // Whichever member is asked (first).
  auto other = merge_answers({bodies[2], bodies[0], bodies[1]}, MergeOptions{MergeKind::trends});
  REQUIRE(other);
  CHECK(other->body == oracle);
}

TEST_CASE("Merged trends with a forecast: too few complete points in the merged series give no forecast, even when "
          "a member had enough",
          "[cluster][merge][forecast]") {
  const auto m = trend_members();
  const TrendValues sum = m[0] + m[1] + m[2];
  // Two members have 13 complete points; the third only 5, so the merged
  // series has 5 and one node fits no model over them.
  const std::vector<std::string> bodies{trend_answer(m[0], 13, 3), trend_answer(m[1], 13, 3),
                                        trend_answer(m[2], 5, 3)};
  const std::string oracle = trend_answer(sum, 5, 3);
  REQUIRE(json::parse(oracle)->find("forecast")->find("available")->b == false);
  REQUIRE(field_text(bodies[0], "forecast") != field_text(oracle, "forecast"));
  auto merged = merge_answers(bodies, MergeOptions{MergeKind::trends});
  REQUIRE(merged);
  CHECK(merged->body == oracle);
}

namespace {

// A member's trending candidates as its scope=local&limit=all answer writes
// them (api.cpp), from a real model; product and category ids as text.
std::string trending_candidates(const shoppulse::Recommender& r, shoppulse::Sequence applied) {
  std::string out = "{\"algorithm\":\"trending\",\"now\":" + std::to_string(r.now_ms()) + ",\"candidates\":[";
  bool first = true;
  for (const auto& t : r.trending_counts()) {
    out += first ? "{" : ",{";
    first = false;
    out += "\"product_id\":\"p" + std::to_string(t.product) + "\"";
    if (t.category != shoppulse::kNoId) out += ",\"category_id\":\"c" + std::to_string(t.category) + "\"";
    out += ",\"last_seen\":" + std::to_string(t.last_seen) + ",\"hour\":" + std::to_string(t.hour) + ",\"counts\":[";
    for (std::size_t i = 0; i < 3; ++i) out += (i ? "," : "") + std::to_string(t.counts[i]);
    out += "]}";
  }
  return out + "],\"complete\":true,\"applied_sequence\":" + std::to_string(applied) + ",\"logged_sequence\":" +
         std::to_string(applied) + "}";
}

}  // namespace

TEST_CASE("Merged trending: the members' candidate counts added per hour rank as one model holding every event",
          "[cluster][merge]") {
  using shoppulse::Event;
  using shoppulse::Id;
  using shoppulse::Recommender;
  std::mt19937_64 rng(11);
  std::vector<Event> events;
  shoppulse::TimestampMs t = 1511658000000 + 17 * 60000;
  for (int i = 0; i < 5000; ++i) {
    Event e;
    e.sequence = shoppulse::Sequence(i + 1);
    e.user = 1 + Id(rng() % 400);
    e.product = 1 + Id(rng() % 10 < 3 ? rng() % 15 : rng() % 300);
    e.category = rng() % 10 == 0 ? shoppulse::kNoId : 1 + e.product % 7;
    e.type = static_cast<shoppulse::EventType>(rng() % shoppulse::kEventTypeCount);
    e.time_ms = t += shoppulse::TimestampMs(rng() % 4000);
    events.push_back(e);
  }
  shoppulse::RecommenderConfig config;
  Recommender whole(config);
  std::vector<Recommender> members;
  std::vector<std::vector<Event>> split(3);
  for (const Event& e : events) split[e.user % 3].push_back(e);
  whole.apply(events);
  std::vector<std::string> bodies;
  for (std::size_t m = 0; m < 3; ++m) {
    members.emplace_back(config);
    members.back().apply(split[m]);
    bodies.push_back(trending_candidates(members.back(), 100 + m));
  }
  for (const std::string category : {std::string(), std::string("c3")}) {
    INFO("category " << category);
    const Id category_id = category.empty() ? shoppulse::kNoId : 3;
    for (const std::size_t limit : {std::size_t(10), std::size_t(1000)}) {
      INFO("limit " << limit);
      MergeOptions options;
      options.kind = MergeKind::trending;
      options.limit = limit;
      options.category = category;
      auto merged = merge_answers(bodies, options);
      REQUIRE(merged);
      auto v = json::parse(merged->body);
      REQUIRE(v);
      const Value* list = v->find("recommendations");
      REQUIRE(list);
      REQUIRE(!v->find("candidates"));
      REQUIRE(!v->find("now"));
      CHECK(v->o.front().first == "algorithm");
      CHECK(v->o[1].first == "recommendations");
      CHECK(v->find("complete")->b);
      const auto want = whole.trending(limit, category_id);
      REQUIRE(want.size() > 3);
      REQUIRE(list->a.size() == want.size());
      // Scores position by position; ids equal as sets within each score
      // (ties: text order here, dictionary order in one model).
      std::map<double, std::set<std::string>> got_ids, want_ids;
      for (std::size_t i = 0; i < want.size(); ++i) {
        const double score = list->a[i].find("score")->kind == Value::integer ? double(list->a[i].find("score")->i)
                                                                               : list->a[i].find("score")->d;
        const double expected = std::round(want[i].score * 1e6) / 1e6;
        CHECK(score == Approx(expected).margin(1e-9));
        got_ids[expected].insert(list->a[i].find("product_id")->s);
        want_ids[expected].insert("p" + std::to_string(want[i].product));
        CHECK(list->a[i].find("reason_code")->s == "trending");
      }
      // The cut may split a tie differently; whole groups must agree.
      if (want.size() == limit) {
        REQUIRE(got_ids.begin()->first == want_ids.begin()->first);  // the lowest score: the tie at the cut
        got_ids.erase(got_ids.begin());
        want_ids.erase(want_ids.begin());
      }
      CHECK(got_ids == want_ids);
    }
  }
  // One member's own candidates alone do not give the whole answer: the
  // sums matter.
  MergeOptions options;
  options.kind = MergeKind::trending;
  options.limit = 1000;
  auto alone = merge_answers({bodies[0]}, options);
  REQUIRE(alone);
  CHECK(json::parse(alone->body)->find("recommendations")->a.size() != whole.trending(1000).size());
}

namespace {

std::string fmt_double(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

// A member's scope=local&limit=all answer of /api/products/p<product>/similar,
// written as the API writes it (product "p<id>"), with the engagements of
// the products `of` names.
std::string similar_row_body(const shoppulse::Recommender& r, shoppulse::Id product, const std::vector<std::string>& of) {
  const auto& c = r.config();
  const auto row = r.similar_row(product);
  std::string out = "{\"product_id\":\"p" + std::to_string(product) + "\",\"algorithm\":\"item_cf\",\"known\":" +
                    (row ? "true" : "false") + ",\"now\":" + std::to_string(r.now_ms()) +
                    ",\"half_life_ms\":" + std::to_string(c.similarity_half_life_ms) +
                    ",\"damping\":" + fmt_double(c.popularity_damping) +
                    ",\"shrinkage\":" + fmt_double(c.similarity_shrinkage) +
                    ",\"engagement\":" + fmt_double(row ? row->engagement : 0.0) + ",\"neighbours\":[";
  if (row)
    for (std::size_t i = 0; i < row->co.size(); ++i)
      out += std::string(i ? "," : "") + "{\"product_id\":\"p" + std::to_string(row->co[i].first) +
             "\",\"co\":" + fmt_double(row->co[i].second) +
             ",\"engagement\":" + fmt_double(r.engagement(row->co[i].first)) + "}";
  out += "],\"engagements\":{";
  for (std::size_t i = 0; i < of.size(); ++i)
    out += std::string(i ? "," : "") + "\"" + of[i] + "\":" +
           fmt_double(r.engagement(shoppulse::Id(std::stoull(of[i].substr(1)))));
  return out + "},\"complete\":true,\"applied_sequence\":5,\"logged_sequence\":5}";
}

}  // namespace

TEST_CASE("Merged similar items: the members' co-occurrence rows, decayed to the latest clock and added, score as one "
          "model holding every event",
          "[cluster][merge]") {
  using shoppulse::Event;
  using shoppulse::Id;
  using shoppulse::Recommender;
  std::mt19937_64 rng(29);
  std::vector<Event> events;
  shoppulse::TimestampMs t = 1511658000000;
  for (int i = 0; i < 6000; ++i) {
    Event e;
    e.sequence = shoppulse::Sequence(i + 1);
    e.user = 1 + Id(rng() % 300);
    e.product = 1 + Id(rng() % 10 < 3 ? rng() % 12 : rng() % 200);
    e.category = 1 + e.product % 7;
    e.type = static_cast<shoppulse::EventType>(rng() % shoppulse::kEventTypeCount);
    e.time_ms = t += shoppulse::TimestampMs(rng() % 60000);  // about 50 h: the decay matters
    events.push_back(e);
  }
  shoppulse::RecommenderConfig config;
  config.max_neighbours = 1000;  // no row is pruned (README: then the merge is exact)
  config.similarity_half_life_ms = 6 * 3600 * 1000;
  std::vector<Recommender> members;
  std::vector<std::vector<Event>> split(3);
  for (const Event& e : events) split[e.user % 3].push_back(e);
  for (std::size_t m = 0; m < 3; ++m) {
    members.emplace_back(config);
    // The members' clocks differ: the last member saw its last event hours
    // before the others, so its row is decayed on to the latest clock.
    if (m == 2) split[m].resize(split[m].size() * 9 / 10);
    members.back().apply(split[m]);
  }
  // The single model over the same events as the members.
  Recommender single(config);
  {
    std::vector<Event> same;
    for (const auto& s : split) same.insert(same.end(), s.begin(), s.end());
    std::sort(same.begin(), same.end(), [](const Event& a, const Event& b) { return a.sequence < b.sequence; });
    single.apply(same);
  }
  REQUIRE(members[2].now_ms() < members[0].now_ms() - 3600 * 1000);
  std::size_t compared = 0, asked_again = 0;
  for (Id product = 1; product <= 200; ++product) {
    INFO("product p" << product);
    std::vector<std::string> rows;
    for (const Recommender& m : members) rows.push_back(similar_row_body(m, product, {}));
    // The second round: each member's engagement of the others' neighbours.
    const SimilarRows first = similar_rows(rows);
    REQUIRE(first.missing.size() == rows.size());
    for (std::size_t m = 0; m < rows.size(); ++m) {
      asked_again += !first.missing[m].empty();
      rows[m] = similar_row_body(members[m], product, first.missing[m]);
    }
    const SimilarRows second = similar_rows(rows);
    for (const auto& missing : second.missing) CHECK(missing.empty());
    const auto want = single.similar(product, 1000);
    if (want.empty()) continue;
    CHECK(second.known);
    for (const std::size_t limit : {std::size_t(5), std::size_t(1000)}) {
      MergeOptions options;
      options.kind = MergeKind::similar;
      options.limit = limit;
      auto merged = merge_answers(rows, options);
      REQUIRE(merged);
      auto v = json::parse(merged->body);
      REQUIRE(v);
      CHECK(v->o[0].first == "product_id");
      CHECK(v->o[1].first == "algorithm");
      CHECK(v->o[2].first == "recommendations");
      REQUIRE(!v->find("neighbours"));
      REQUIRE(!v->find("engagements"));
      const Value& list = *v->find("recommendations");
      REQUIRE(list.a.size() == std::min(limit, want.size()));
      for (std::size_t i = 0; i < list.a.size(); ++i) {
        const Value& e = list.a[i];
        const double score = e.find("score")->kind == Value::integer ? double(e.find("score")->i) : e.find("score")->d;
        // Float sums in another order: equal to a few units of the 6th decimal.
        CHECK(score == Approx(want[i].score).margin(3e-6));
        CHECK(e.find("reason_code")->s == "viewed_together");
        CHECK(e.find("related_id")->s == "p" + std::to_string(product));
        // The same product where no near tie could swap places.
        const bool near_tie = (i > 0 && want[i - 1].score - want[i].score < 1e-5) ||
                              (i + 1 < want.size() && want[i].score - want[i + 1].score < 1e-5);
        if (!near_tie) CHECK(e.find("product_id")->s == "p" + std::to_string(want[i].product));
      }
      ++compared;
    }
  }
  CHECK(compared > 300);
  CHECK(asked_again > 100);
  // An unknown product: no member knows it.
  CHECK(!similar_rows({similar_row_body(members[0], 9999, {}), similar_row_body(members[1], 9999, {})}).known);
  // A neighbour no member holds any more (evicted: engagement 0 everywhere)
  // is dropped, as one node drops it; one some member holds is scored.
  {
    const std::string row = R"({"product_id":"a","algorithm":"item_cf","known":true,"now":1000,)"
                            R"("half_life_ms":1000000,"damping":0.5,"shrinkage":1,"engagement":4,"neighbours":[)"
                            R"({"product_id":"gone","co":3,"engagement":0},{"product_id":"b","co":1,"engagement":1}],)"
                            R"("engagements":{},"complete":true,"applied_sequence":1,"logged_sequence":1})";
    const std::string other = R"({"product_id":"a","algorithm":"item_cf","known":false,"now":1000,)"
                              R"("half_life_ms":1000000,"damping":0.5,"shrinkage":1,"engagement":0,"neighbours":[],)"
                              R"("engagements":{"gone":0,"b":3},"complete":true,"applied_sequence":1,"logged_sequence":1})";
    MergeOptions options;
    options.kind = MergeKind::similar;
    options.limit = 10;
    auto v = json::parse(merge_answers({row, other}, options)->body);
    const Value& list = *v->find("recommendations");
    REQUIRE(list.a.size() == 1);
    CHECK(list.a[0].find("product_id")->s == "b");
    // co 1 over sqrt(4 x (1 + 3)) + 1
    CHECK(list.a[0].find("score")->d == Approx(std::round(1.0 / (std::sqrt(16.0) + 1.0) * 1e6) / 1e6));
  }
  // Without the second round (each member's engagement of its own
  // neighbours only) the scores are not one model's.
  std::size_t differ = 0;
  for (Id product = 1; product <= 12; ++product) {
    std::vector<std::string> rows;
    for (const Recommender& m : members) rows.push_back(similar_row_body(m, product, {}));
    MergeOptions options;
    options.kind = MergeKind::similar;
    options.limit = 1;
    auto v = json::parse(merge_answers(rows, options)->body);
    const auto want = single.similar(product, 1);
    if (!want.empty() && std::abs(v->find("recommendations")->a[0].find("score")->d - want[0].score) > 1e-4) ++differ;
  }
  CHECK(differ > 0);
}
