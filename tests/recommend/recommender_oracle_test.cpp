// The recommender's incrementally kept structures (the popular top list,
// per-category lists, trending candidates from the last two hours, the
// least-recently-seen eviction order) against a brute-force oracle that
// recomputes every answer from scratch over the same events.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <map>
#include <span>
#include <vector>

#include "decay.hpp"
#include "shoppulse/recommend/recommender.hpp"

using namespace shoppulse;
using recommend_detail::Decayed;
using recommend_detail::HourCounts;

namespace {

constexpr TimestampMs kT0 = 1511658000000;  // an hour boundary

// Keeps, for every item and user still tracked, only what the cold-start
// answers need, with eviction as the model documents it: beyond the bound,
// the item (user) whose last event is the oldest in log order goes.
// Everything is a plain map scanned in full on every question.
class Oracle {
 public:
  explicit Oracle(const RecommenderConfig& config) : config_(config) {}

  void apply(const Event& e) {
    ++clock_;
    now_ = std::max(now_, e.time_ms);
    const float w = config_.type_weights[static_cast<std::size_t>(e.type)];
    if (e.product != kNoId) {
      Item& it = items_[e.product];
      it.touched = clock_;
      if (e.category != kNoId) it.category = e.category;
      if (w > 0) {
        it.activity.add(w, e.time_ms, config_.popularity_half_life_ms);
        it.hours.add(e.time_ms, w);
      }
    }
    if (e.user != kNoId) users_[e.user] = clock_;
    evict(users_, config_.max_users, [](const auto& kv) { return kv.second; });
    evict(items_, config_.max_items, [](const auto& kv) { return kv.second.touched; });
  }

  std::vector<Recommendation> popular(std::size_t limit, Id category) const {
    std::vector<Recommendation> out;
    for (const auto& [id, it] : items_) {
      if (category != kNoId && it.category != category) continue;
      const double a = it.activity.at(now_, config_.popularity_half_life_ms);
      if (a > 0) out.push_back({id, a, {}});
    }
    return best(std::move(out), limit);
  }

  std::vector<Recommendation> trending(std::size_t limit, Id category) const {
    std::vector<Recommendation> out;
    for (const auto& [id, it] : items_) {
      if (category != kNoId && it.category != category) continue;
      const auto [last, prev] = it.hours.last_and_previous(now_);
      if (last - prev >= 1.0) out.push_back({id, (last - prev) / std::sqrt(prev + 1.0), {}});
    }
    return best(std::move(out), limit);
  }

  std::size_t items() const { return items_.size(); }
  std::size_t users() const { return users_.size(); }

 private:
  struct Item {
    Id category = kNoId;
    Decayed activity;
    HourCounts hours;
    std::uint64_t touched = 0;
  };

  template <class Map, class Touched>
  static void evict(Map& map, std::size_t bound, Touched touched) {
    while (bound > 0 && map.size() > bound) {
      auto oldest = map.begin();
      for (auto it = map.begin(); it != map.end(); ++it)
        if (touched(*it) < touched(*oldest)) oldest = it;
      map.erase(oldest);
    }
  }

  static std::vector<Recommendation> best(std::vector<Recommendation> v, std::size_t limit) {
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
      if (a.score != b.score) return a.score > b.score;
      return a.product < b.product;
    });
    if (v.size() > limit) v.resize(limit);
    return v;
  }

  RecommenderConfig config_;
  std::map<Id, Item> items_;
  std::map<Id, std::uint64_t> users_;  // user -> last touch
  std::uint64_t clock_ = 0;
  TimestampMs now_ = 0;
};

struct Rng {
  std::uint64_t x;
  std::uint32_t next() {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::uint32_t>(x >> 33);
  }
};

// Zipf-ish products (a few hot ones, a long tail that gets evicted), items
// changing category now and then, several hours of event time, every type.
std::vector<Event> workload(std::uint64_t seed, int n, Id products, TimestampMs mean_gap_ms) {
  Rng rng{seed};
  std::vector<Event> events;
  TimestampMs t = kT0 + 7 * 60000;
  for (int i = 0; i < n; ++i) {
    Event e;
    e.sequence = static_cast<Sequence>(i + 1);
    e.type = static_cast<EventType>(rng.next() % kEventTypeCount);
    const std::uint32_t r = rng.next() % 100;
    e.product = r < 30 ? 1 + rng.next() % 20 : 1 + rng.next() % products;
    e.user = 1 + rng.next() % 2000;
    e.category = rng.next() % 50 == 0 ? 1 + rng.next() % 12 : 1 + e.product % 12;
    if (rng.next() % 10 == 0) e.category = kNoId;
    t += static_cast<TimestampMs>(rng.next() % static_cast<std::uint32_t>(2 * mean_gap_ms + 1));
    e.time_ms = t;
    events.push_back(e);
  }
  return events;
}

void check_same_list(const std::vector<Recommendation>& got, const std::vector<Recommendation>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("position " << i);
    CHECK(got[i].product == want[i].product);
    CHECK(got[i].score == Approx(want[i].score).epsilon(1e-9));
  }
}

void check_against(const Recommender& r, const Oracle& o) {
  CHECK(r.stats().items == o.items());
  CHECK(r.stats().users == o.users());
  // Short lists come from the kept top list and the recent candidates; a
  // list longer than everything tracked checks the whole surviving set.
  for (std::size_t limit : {std::size_t{10}, std::size_t{100000}}) {
    check_same_list(r.popular({limit, kNoId, kNoId}), o.popular(limit, kNoId));
    check_same_list(r.trending(limit), o.trending(limit, kNoId));
    for (Id c = 1; c <= 12; c += 5) {
      check_same_list(r.popular({limit, c, kNoId}), o.popular(limit, c));
      check_same_list(r.trending(limit, c), o.trending(limit, c));
    }
  }
}

}  // namespace

TEST_CASE("Popular, category and trending answers equal a brute-force recomputation, under eviction",
          "[recommend][oracle]") {
  const std::uint64_t seed = GENERATE(1u, 2u);
  // A slow clock (minutes apart: hours roll every few dozen events) and a
  // fast one (seconds apart), both with a catalogue far beyond the bound.
  const TimestampMs gap = GENERATE(TimestampMs{1500}, TimestampMs{90000});
  RecommenderConfig config;
  config.max_items = 400;
  config.max_users = 150;
  const std::vector<Event> events = workload(seed, 8000, 5000, gap);
  Recommender r(config);
  Oracle o(config);
  std::span<const Event> all(events);
  for (std::size_t i = 0; i < events.size(); i += 997) {
    const auto part = all.subspan(i, std::min<std::size_t>(997, events.size() - i));
    r.apply(part);
    for (const Event& e : part) o.apply(e);
    INFO("after " << i + part.size() << " events");
    check_against(r, o);
  }
  CHECK(r.stats().evicted_items > 1000);
  CHECK(r.stats().evicted_users > 1000);

  // A restored checkpoint rebuilds the same structures.
  auto restored = Recommender::restore(config, r.checkpoint());
  REQUIRE(restored);
  check_against(restored.value(), o);
}

TEST_CASE("A restored checkpoint keeps the last-use order: it writes the same bytes and evicts the same entries after",
          "[recommend][checkpoint]") {
  // The last-use chains are written from both ends at once; an odd and an
  // even number of entries, and eviction after the restore, which follows
  // that order.
  const std::size_t extra = GENERATE(std::size_t{0}, std::size_t{1});
  RecommenderConfig config;
  config.max_items = 400 + extra;
  config.max_users = 150 + extra;
  const std::vector<Event> events = workload(7, 12000, 5000, 1500);
  std::span<const Event> all(events);
  Recommender r(config);
  r.apply(all.subspan(0, 8000));
  REQUIRE(r.stats().items == config.max_items);
  REQUIRE(r.stats().users == config.max_users);
  const std::string bytes = r.checkpoint();
  auto restored = Recommender::restore(config, bytes);
  REQUIRE(restored);
  CHECK(restored.value().checkpoint() == bytes);

  const std::uint64_t evicted_before = r.stats().evicted_items + r.stats().evicted_users;
  r.apply(all.subspan(8000));
  restored.value().apply(all.subspan(8000));
  REQUIRE(r.stats().evicted_items + r.stats().evicted_users > evicted_before + 1000);
  CHECK(restored.value().checkpoint() == r.checkpoint());
}

TEST_CASE("The size a checkpoint is told to expect changes none of its bytes", "[recommend][checkpoint]") {
  // The runner passes the size of the last checkpoint a forked child
  // encoded; too small, exact or too large, only the buffer differs.
  RecommenderConfig config;
  config.max_items = 300;
  config.max_users = 100;
  const std::vector<Event> events = workload(11, 6000, 2000, 800);
  Recommender r(config);
  r.apply(events);
  const std::string bytes = r.checkpoint();
  REQUIRE(bytes.size() > 1000);
  for (const std::size_t expected : {std::size_t{0}, std::size_t{1}, bytes.size() / 2, bytes.size() - 1, bytes.size(),
                                     bytes.size() * 3}) {
    const std::string again = r.checkpoint(expected);
    CHECK(again == bytes);
    // The buffer was made at the expected size at once: the string handed
    // back keeps the room (grown from nothing, it stays under twice its
    // size, so the largest expectation fails without the sizing).
    CHECK(again.capacity() >= expected);
  }
}

TEST_CASE("The popular top list stays exact when eviction takes its members", "[recommend][oracle]") {
  // 1500 items, each busy once and then never seen again, so the most
  // active ones are also the least recently seen and are evicted first.
  RecommenderConfig config;
  config.max_items = 1200;
  Recommender r(config);
  Oracle o(config);
  std::vector<Event> events;
  TimestampMs t = kT0;
  Sequence seq = 0;
  for (Id p = 1; p <= 1500; ++p)
    for (Id k = 0; k < 1 + (1500 - p) % 7; ++k) {
      Event e;
      e.sequence = ++seq;
      e.user = 1 + (p + k) % 100;
      e.product = p;
      e.category = 1 + p % 3;
      e.type = EventType::view;
      e.time_ms = t += 10;
      events.push_back(e);
    }
  for (const Event& e : events) o.apply(e);
  r.apply(events);
  CHECK(r.stats().evicted_items == 300);
  check_against(r, o);
}

TEST_CASE("Memory is bounded by the configuration: a model at its bounds stops growing", "[recommend]") {
  RecommenderConfig config;
  config.max_items = 300;
  config.max_users = 200;
  config.propensity.max_users = 200;
  config.propensity.max_pending = 1000;
  const std::vector<Event> events = workload(11, 30000, 20000, 1500);
  std::span<const Event> all(events);
  Recommender r(config);
  const std::size_t empty = r.approximate_memory_bytes();
  r.apply(all.subspan(0, 10000));
  const std::size_t at_bounds = r.approximate_memory_bytes();
  CHECK(at_bounds > empty);
  CHECK(r.stats().items == config.max_items);
  r.apply(all.subspan(10000));
  const std::size_t later = r.approximate_memory_bytes();
  CHECK(r.stats().evicted_items > 5000);
  // Evicted states are recycled with their vectors: three times the events,
  // (almost) no more memory.
  CHECK(later < at_bounds + at_bounds / 5);
}

TEST_CASE("A recycled state keeps no large buffer of the item or user it held before", "[recommend]") {
  RecommenderConfig config;
  config.max_items = 50;
  config.max_users = 40;
  config.propensity.max_users = 40;
  config.propensity.max_pending = 100;  // the open examples' ring stays one size throughout
  Recommender r(config);
  std::vector<Event> events;
  TimestampMs t = kT0;
  Sequence seq = 0;
  auto view = [&](Id user, Id product) {
    Event e;
    e.sequence = ++seq;
    e.user = user;
    e.product = product;
    e.category = 1;
    e.type = EventType::view;
    e.time_ms = t += 1000;
    events.push_back(e);
  };
  // 30 users each view the 50 items: every item gets dozens of neighbours,
  // every user a history at its bound.
  for (Id u = 1; u <= 30; ++u)
    for (Id k = 0; k < 50; ++k) view(u, 1 + (k * 7 + u) % 50);
  r.apply(events);
  REQUIRE(r.stats().neighbour_entries > 50 * 30);
  const std::size_t full = r.approximate_memory_bytes();
  // Then 200 new users view one new item each: no pairs, and every state
  // above is evicted and reused for someone with one event.
  events.clear();
  for (Id i = 0; i < 200; ++i) view(1000 + i, 1000 + i);
  r.apply(events);
  REQUIRE(r.stats().evicted_items >= 50);
  REQUIRE(r.stats().evicted_users >= 30);
  CHECK(r.stats().neighbour_entries == 0);
  // The lists and histories held above take at least 20 bytes an entry.
  const std::size_t held = 20 * (50 * 30 + 30 * config.history_length);
  INFO("full " << full << ", after " << r.approximate_memory_bytes() << ", held at least " << held);
  CHECK(r.approximate_memory_bytes() + held / 2 < full);
}

TEST_CASE("Trending counts of models that split the users add up to one model's trending answer",
          "[recommend][oracle][cluster]") {
  // What a cluster's merge relies on: each node's model learns from its
  // users only, and the per-hour counts of an item add across nodes.
  const TimestampMs gap = GENERATE(TimestampMs{1500}, TimestampMs{90000});
  std::vector<Event> events = workload(7, 6000, 700, gap);
  // A product keeps its category here (an event may still carry none): the
  // merge takes the category of the part that saw the product last among
  // those that know one, which is the single model's unless a product
  // changes category.
  for (Event& e : events)
    if (e.category != kNoId) e.category = 1 + e.product % 12;
  RecommenderConfig config;  // bounds far above the workload: nothing is evicted
  Recommender whole(config);
  std::array<Recommender, 3> parts{Recommender(config), Recommender(config), Recommender(config)};
  std::array<std::vector<Event>, 3> split;
  for (const Event& e : events) split[e.user % 3].push_back(e);
  whole.apply(events);
  for (std::size_t k = 0; k < parts.size(); ++k) parts[k].apply(split[k]);
  // Each item's counts summed hour by hour at the latest of the parts'
  // clocks, its category from the part that saw it last (of those that
  // know one).
  TimestampMs now = 0;
  for (const Recommender& p : parts) now = std::max(now, p.now_ms());
  REQUIRE(now == whole.now_ms());
  const std::int64_t hour = now / HourCounts::kHourMs;
  struct Summed {
    std::array<float, 3> counts{};
    Id category = kNoId;
    TimestampMs last_seen = 0;
  };
  std::map<Id, Summed> summed;
  std::size_t seen = 0;
  for (const Recommender& p : parts)
    for (const Recommender::TrendCounts& t : p.trending_counts()) {
      ++seen;
      Summed& m = summed[t.product];
      for (std::size_t i = 0; i < 3; ++i) {
        const std::int64_t back = hour - (t.hour - std::int64_t(i));
        if (back >= 0 && back < 3) m.counts[std::size_t(back)] += t.counts[i];
      }
      if (t.category != kNoId && t.last_seen >= m.last_seen) {
        m.last_seen = t.last_seen;
        m.category = t.category;
      }
    }
  REQUIRE(seen > summed.size());  // items were seen by several parts: the sums mean something
  for (const Id category : {kNoId, Id{1}, Id{6}}) {
    INFO("category " << category);
    std::vector<Recommendation> merged;
    for (const auto& [product, m] : summed)
      if (category == kNoId || m.category == category)
        if (const double score = Recommender::trend_score(hour, m.counts, now); score > 0)
          merged.push_back({product, score, {}});
    std::sort(merged.begin(), merged.end(), [](const auto& a, const auto& b) {
      return a.score != b.score ? a.score > b.score : a.product < b.product;
    });
    const std::vector<Recommendation> want = whole.trending(100000, category);
    REQUIRE(!want.empty());
    check_same_list(merged, want);
    // One part alone does not give the whole answer.
    CHECK(parts[0].trending(100000, category).size() != want.size());
  }
}
