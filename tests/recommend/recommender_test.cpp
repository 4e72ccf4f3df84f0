#include <catch2/catch.hpp>

#include <algorithm>
#include <bit>
#include <span>
#include <vector>

#include "shoppulse/core/byte_codec.hpp"
#include "shoppulse/recommend/recommender.hpp"

using namespace shoppulse;

namespace {

constexpr TimestampMs kT0 = 1511658000000;  // 2017-11-26T01:00:00Z, an hour boundary

// Builds a log: each add() gets the next sequence number.
struct History {
  std::vector<Event> events;
  Event& add(Id user, Id product, EventType type, TimestampMs t, Id category = kNoId, Id location = kNoId) {
    Event e;
    e.user = user;
    e.product = product;
    e.type = type;
    e.time_ms = t;
    e.category = category;
    e.location = location;
    e.sequence = events.size() + 1;
    events.push_back(e);
    return events.back();
  }
};

std::vector<Id> products(const std::vector<Recommendation>& recs) {
  std::vector<Id> out;
  for (const auto& r : recs) out.push_back(r.product);
  return out;
}

bool contains(const std::vector<Recommendation>& recs, Id product) {
  for (const auto& r : recs)
    if (r.product == product) return true;
  return false;
}

// Items 10 (A), 11 (B), 12 (C), 13 (D).
History co_viewed() {
  History h;
  TimestampMs t = kT0;
  for (Id u = 1; u <= 3; ++u) {  // three users view A then B
    h.add(u, 10, EventType::view, t += 1000, 1);
    h.add(u, 11, EventType::view, t += 1000, 1);
  }
  h.add(4, 10, EventType::view, t += 1000, 1);  // one user views A then C
  h.add(4, 12, EventType::view, t += 1000, 2);
  h.add(5, 13, EventType::view, t += 1000, 2);  // D is never seen with A
  return h;
}

}  // namespace

TEST_CASE("Items viewed together by more users are more similar", "[recommend]") {
  Recommender r;
  r.apply(co_viewed().events);
  CHECK(r.similarity(10, 11) > r.similarity(10, 12));
  CHECK(r.similarity(10, 12) > 0);
  CHECK(r.similarity(10, 13) == 0);
  CHECK(r.similarity(10, 11) == Approx(r.similarity(11, 10)));
  const auto similar = r.similar(10, 10);
  REQUIRE(products(similar) == std::vector<Id>{11, 12});
  CHECK(similar[0].reason.kind == ReasonKind::viewed_together);
  CHECK(similar[0].reason.related == 10);
}

TEST_CASE("Stronger behaviour weighs more in co-occurrence than a view", "[recommend]") {
  History h;
  h.add(1, 10, EventType::view, kT0);
  h.add(1, 11, EventType::view, kT0 + 1000);
  h.add(2, 10, EventType::view, kT0 + 2000);
  h.add(2, 12, EventType::add_to_cart, kT0 + 3000);
  h.add(3, 11, EventType::view, kT0 + 4000);  // equal popularity for 11 and 12
  h.add(4, 12, EventType::view, kT0 + 5000);
  Recommender r;
  r.apply(h.events);
  CHECK(r.similarity(10, 12) > r.similarity(10, 11));
}

TEST_CASE("Item-CF recommends the neighbours of what the user viewed, with the reason", "[recommend]") {
  History h = co_viewed();
  h.add(9, 10, EventType::view, kT0 + 60000, 1);
  Recommender r;
  r.apply(h.events);
  RecommendQuery q;
  q.user = 9;
  q.strategy = Strategy::item_cf;
  const auto recs = r.recommend(q);
  REQUIRE(products(recs) == std::vector<Id>{11, 12});
  CHECK(recs[0].reason.kind == ReasonKind::viewed_together);
  CHECK(recs[0].reason.related == 10);
}

TEST_CASE("User-CF recommends what the most similar users touched", "[recommend]") {
  History h;
  TimestampMs t = kT0;
  for (Id p : {20, 21, 22}) h.add(1, p, EventType::view, t += 1000);
  for (Id p : {20, 21, 23}) h.add(2, p, EventType::view, t += 1000);  // overlaps user 1 on two items
  for (Id p : {22, 24}) h.add(3, p, EventType::view, t += 1000);      // overlaps on one
  for (Id p : {30, 31}) h.add(4, p, EventType::view, t += 1000);      // no overlap
  Recommender r;
  r.apply(h.events);
  RecommendQuery q;
  q.user = 1;
  q.strategy = Strategy::user_cf;
  q.exclude_viewed = true;
  const auto recs = r.recommend(q);
  REQUIRE(products(recs) == std::vector<Id>{23, 24});
  CHECK(recs[0].reason.kind == ReasonKind::similar_users);
  CHECK(recs[0].reason.related == 2);
  CHECK(recs[1].reason.related == 3);
}

TEST_CASE("Hybrid never recommends an item the user bought", "[recommend]") {
  History h = co_viewed();
  h.add(9, 10, EventType::view, kT0 + 60000, 1);
  h.add(9, 11, EventType::purchase, kT0 + 61000, 1);
  Recommender r;
  r.apply(h.events);
  RecommendQuery q;
  q.user = 9;
  for (bool exclude_viewed : {false, true}) {
    q.exclude_viewed = exclude_viewed;
    const auto recs = r.recommend(q);
    CHECK_FALSE(contains(recs, 11));
    CHECK(contains(recs, 12));
    CHECK(contains(recs, 10) == !exclude_viewed);  // viewed, not bought: allowed unless excluded
  }
}

TEST_CASE("Hybrid honours limit, exclude and category", "[recommend]") {
  History h = co_viewed();
  h.add(9, 10, EventType::view, kT0 + 60000, 1);
  Recommender r;
  r.apply(h.events);
  RecommendQuery q;
  q.user = 9;
  q.limit = 2;
  CHECK(r.recommend(q).size() == 2);
  q.limit = 10;
  q.exclude = {11};
  CHECK_FALSE(contains(r.recommend(q), 11));
  q.exclude.clear();
  q.category = 2;
  const auto recs = r.recommend(q);
  REQUIRE_FALSE(recs.empty());
  for (const auto& rec : recs) CHECK((rec.product == 12 || rec.product == 13));
  CHECK(recs[0].product == 12);  // related to what the user viewed beats merely popular
  q.limit = 0;
  CHECK(r.recommend(q).empty());
}

TEST_CASE("A new user gets the popular items, best first", "[recommend]") {
  History h;
  TimestampMs t = kT0;
  for (int i = 0; i < 5; ++i) h.add(100 + i, 50, EventType::view, t += 1000, 7);
  for (int i = 0; i < 3; ++i) h.add(200 + i, 51, EventType::view, t += 1000, 8);
  h.add(300, 52, EventType::view, t += 1000, 7);
  Recommender r;
  r.apply(h.events);
  RecommendQuery q;
  q.user = 999;  // unknown
  const auto recs = r.recommend(q);
  REQUIRE(products(recs) == std::vector<Id>{50, 51, 52});
  CHECK(recs[0].reason.kind == ReasonKind::popular);
  const auto in_category = r.popular({10, 7, kNoId});
  REQUIRE(products(in_category) == std::vector<Id>{50, 52});
  CHECK(in_category[0].reason.kind == ReasonKind::popular_in_category);
  CHECK(in_category[0].reason.related == 7);
}

TEST_CASE("Popular in a location counts only that location's last hour", "[recommend]") {
  History h;
  const Id shanghai = 1, beijing = 2;
  TimestampMs t = kT0 + 10 * 60000;
  for (int i = 0; i < 4; ++i) h.add(100 + i, 60, EventType::view, t += 1000, kNoId, beijing);
  for (int i = 0; i < 2; ++i) h.add(200 + i, 61, EventType::view, t += 1000, kNoId, shanghai);
  h.add(300, 62, EventType::purchase, t += 1000, kNoId, shanghai);  // weight 6 beats two views
  Recommender r;
  r.apply(h.events);
  const auto recs = r.popular({10, kNoId, shanghai});
  REQUIRE(products(recs) == std::vector<Id>{62, 61});
  CHECK(recs[0].reason.kind == ReasonKind::popular_in_location);
  CHECK(recs[0].reason.related == shanghai);
  // Two hours later, nothing is popular "this hour" any more.
  History later;
  later.add(400, 63, EventType::view, t + 2 * 3600000, kNoId, beijing);
  later.events[0].sequence = h.events.size() + 1;
  r.apply(later.events);
  CHECK(r.popular({10, kNoId, shanghai}).empty());
  // A known user in Shanghai with no neighbours gets the local list first.
  History u;
  u.add(500, 64, EventType::view, t + 2 * 3600000 + 1000, kNoId, shanghai);
  u.events[0].sequence = h.events.size() + 2;
  r.apply(u.events);
  RecommendQuery q;
  q.user = 500;
  q.exclude_viewed = true;
  CHECK(r.recommend(q).empty() == false);
}

TEST_CASE("Trending ranks items rising fastest in the last hour versus the hour before", "[recommend]") {
  History h;
  // Previous hour: 70 is busy (10 views), 71 quiet (1 view).
  TimestampMs t = kT0;
  for (int i = 0; i < 10; ++i) h.add(100 + i, 70, EventType::view, t += 60000);
  h.add(200, 71, EventType::view, t += 60000);
  // Last hour: 70 steady (10), 71 surges (8), 72 new (2).
  t = kT0 + 3600000;
  for (int i = 0; i < 10; ++i) h.add(300 + i, 70, EventType::view, t += 60000);
  for (int i = 0; i < 8; ++i) h.add(400 + i, 71, EventType::view, t += 1000);
  for (int i = 0; i < 2; ++i) h.add(500 + i, 72, EventType::view, t += 1000);
  // Pin "now" to the end of the second hour so both windows are whole hours.
  h.add(600, 73, EventType::remove_from_cart, kT0 + 2 * 3600000 - 1);
  Recommender r;
  r.apply(h.events);
  const auto trending = r.trending(10);
  REQUIRE(products(trending) == std::vector<Id>{71, 72});
  CHECK(trending[0].reason.kind == ReasonKind::trending);
}

namespace {

// A random log over several hours, with evictions (small bounds), locations
// and every event type, so a checkpoint covers every part of the state.
History random_history(std::uint64_t seed, int n) {
  History h;
  std::uint64_t x = seed;
  auto next = [&] {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::uint32_t>(x >> 33);
  };
  TimestampMs t = kT0;
  for (int i = 0; i < n; ++i) {
    const auto type = static_cast<EventType>(next() % kEventTypeCount);
    h.add(1 + next() % 400, 1 + next() % 700, type, t += next() % 3000, 1 + next() % 12, 1 + next() % 4);
  }
  return h;
}

RecommenderConfig small_bounds() {
  RecommenderConfig config;
  config.max_neighbours = 10;
  config.max_items = 500;
  config.max_users = 300;
  config.propensity.max_users = 250;
  return config;
}

// Byte equality of two checkpoints, reported by first differing offset.
void check_same_bytes(const std::string& a, const std::string& b) {
  std::size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  INFO("sizes " << a.size() << " and " << b.size() << ", first difference at byte " << i);
  CHECK((i == a.size() && i == b.size()));
}

void check_same_answers(const Recommender& a, const Recommender& b) {
  for (Id u = 1; u <= 400; u += 3)
    for (Strategy s : {Strategy::hybrid, Strategy::item_cf, Strategy::user_cf, Strategy::popularity}) {
      RecommendQuery q;
      q.user = u;
      q.strategy = s;
      q.limit = 15;
      const auto ra = a.recommend(q), rb = b.recommend(q);
      REQUIRE(ra.size() == rb.size());
      for (std::size_t i = 0; i < ra.size(); ++i) {
        CHECK(ra[i].product == rb[i].product);
        CHECK(ra[i].score == rb[i].score);
        CHECK(ra[i].reason.kind == rb[i].reason.kind);
        CHECK(ra[i].reason.related == rb[i].reason.related);
      }
      CHECK(a.propensity().propensity(u) == b.propensity().propensity(u));
    }
  for (Id p = 1; p <= 700; p += 11) CHECK(products(a.similar(p)) == products(b.similar(p)));
  for (Id c = 1; c <= 12; ++c) {
    CHECK(products(a.trending(10, c)) == products(b.trending(10, c)));
    CHECK(products(a.popular({10, c, kNoId})) == products(b.popular({10, c, kNoId})));
  }
  for (Id l = 1; l <= 4; ++l) CHECK(products(a.popular({10, kNoId, l})) == products(b.popular({10, kNoId, l})));
  CHECK(products(a.trending(50)) == products(b.trending(50)));
  CHECK(products(a.popular({50, kNoId, kNoId})) == products(b.popular({50, kNoId, kNoId})));
  CHECK(a.propensity().top_propensity(20) == b.propensity().top_propensity(20));
  CHECK(a.propensity().weights() == b.propensity().weights());
  CHECK(a.propensity().trained_examples() == b.propensity().trained_examples());
  CHECK(a.propensity().pending_examples() == b.propensity().pending_examples());
  const RecommenderStats sa = a.stats(), sb = b.stats();
  CHECK(sa.items == sb.items);
  CHECK(sa.users == sb.users);
  CHECK(sa.neighbour_entries == sb.neighbour_entries);
  CHECK(sa.applied_events == sb.applied_events);
  CHECK(sa.evicted_items == sb.evicted_items);
  CHECK(sa.evicted_users == sb.evicted_users);
  CHECK(sa.applied_through == sb.applied_through);
  CHECK(sa.now_ms == sb.now_ms);
}

}  // namespace

TEST_CASE("Replaying the same events reproduces every answer", "[recommend]") {
  History h;
  std::uint64_t x = 12345;
  auto next = [&] {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::uint32_t>(x >> 33);
  };
  TimestampMs t = kT0;
  for (int i = 0; i < 20000; ++i) {
    const auto type = static_cast<EventType>(next() % kEventTypeCount);
    h.add(1 + next() % 300, 1 + next() % 500, type, t += next() % 2000, 1 + next() % 10, 1 + next() % 3);
  }
  RecommenderConfig config;
  config.max_neighbours = 10;
  Recommender a(config), b(config);
  a.apply(h.events);
  // b gets the same log in uneven batches, with an overlap as after a restart.
  std::span<const Event> all(h.events);
  b.apply(all.subspan(0, 777));
  b.apply(all.subspan(500, 9000));
  b.apply(all.subspan(9500));
  CHECK(b.applied_through() == a.applied_through());
  check_same_answers(a, b);
}

TEST_CASE("Memory stays bounded: neighbours, items and users are capped", "[recommend]") {
  RecommenderConfig config;
  config.max_neighbours = 8;
  config.max_items = 2000;
  config.max_users = 100;
  Recommender r(config);
  History h;
  TimestampMs t = kT0;
  // 400 users each browse a run of 30 items out of 5000.
  for (Id u = 1; u <= 400; ++u)
    for (Id k = 0; k < 30; ++k) h.add(u, 1 + (u * 13 + k) % 5000, EventType::view, t += 100);
  r.apply(h.events);
  const RecommenderStats s = r.stats();
  CHECK(s.items <= config.max_items);
  CHECK(s.users <= config.max_users);
  CHECK(s.evicted_items > 0);
  CHECK(s.evicted_users > 0);
  CHECK(s.neighbour_entries <= s.items * 2 * config.max_neighbours);
  for (Id p = 1; p <= 5000; p += 97) CHECK(r.similar(p, 100).size() <= 2 * config.max_neighbours);
  // The most recent user is still served.
  RecommendQuery q;
  q.user = 400;
  q.strategy = Strategy::item_cf;
  CHECK_FALSE(r.recommend(q).empty());
}

TEST_CASE("Reasons name their related id kind", "[recommend]") {
  CHECK(related_kind(ReasonKind::viewed_together) == IdKind::product);
  CHECK(related_kind(ReasonKind::similar_users) == IdKind::user);
  CHECK(related_kind(ReasonKind::popular_in_location) == IdKind::location);
  CHECK(related_kind(ReasonKind::popular_in_category) == IdKind::category);
  CHECK(to_string(ReasonKind::trending) == "trending");
  CHECK(to_string(Strategy::user_cf) == "user_cf");
}

TEST_CASE("Hot lists find the leaders among many items and agree with a replay", "[recommend]") {
  History h;
  const Id here = 3;
  TimestampMs t = kT0 + 5 * 60000;
  // 2000 items seen once each in one location, then three leaders.
  for (Id p = 1; p <= 2000; ++p) h.add(p, p, EventType::view, t += 100, 1 + p % 7, here);
  for (int i = 0; i < 40; ++i) h.add(3000 + i, 9001, EventType::view, t += 100, 1, here);
  for (int i = 0; i < 25; ++i) h.add(3100 + i, 9002, EventType::view, t += 100, 1, here);
  for (int i = 0; i < 12; ++i) h.add(3200 + i, 9003, EventType::add_to_cart, t += 100, 2, here);
  Recommender r;
  r.apply(h.events);
  CHECK(products(r.popular({3, kNoId, here})) == std::vector<Id>{9003, 9001, 9002});
  CHECK(products(r.trending(3)) == std::vector<Id>{9003, 9001, 9002});
  CHECK(products(r.trending(2, 1)) == std::vector<Id>{9001, 9002});
  CHECK(products(r.popular({3, kNoId, kNoId})) == std::vector<Id>{9003, 9001, 9002});
  // A longer list than the candidates hold is still served in full.
  CHECK(r.popular({500, kNoId, here}).size() == 500);
  Recommender replay;
  for (std::size_t i = 0; i < h.events.size(); i += 97)
    replay.apply(std::span<const Event>(h.events).subspan(i, std::min<std::size_t>(97, h.events.size() - i)));
  CHECK(products(replay.popular({20, kNoId, here})) == products(r.popular({20, kNoId, here})));
  CHECK(products(replay.trending(20)) == products(r.trending(20)));
}

TEST_CASE("Item-CF with a long history still follows the user's strongest recent items", "[recommend]") {
  History h;
  TimestampMs t = kT0;
  // Users 1..5 view 10 then 11.
  for (Id u = 1; u <= 5; ++u) {
    h.add(u, 10, EventType::view, t += 1000);
    h.add(u, 11, EventType::view, t += 1000);
  }
  // User 9 browses 40 unrelated items, then carts item 10.
  for (Id p = 100; p < 140; ++p) h.add(9, p, EventType::view, t += 1000);
  h.add(9, 10, EventType::add_to_cart, t += 1000);
  Recommender r;
  r.apply(h.events);
  RecommendQuery q;
  q.user = 9;
  q.strategy = Strategy::item_cf;
  q.limit = 100;
  const auto recs = r.recommend(q);
  // 10 is the 41st item of the history, but the strongest: its neighbour
  // is still scored, for the reason of 10.
  auto it = std::find_if(recs.begin(), recs.end(), [](const Recommendation& x) { return x.product == 11; });
  REQUIRE(it != recs.end());
  CHECK(it->reason.related == 10);
}


TEST_CASE("A restored checkpoint plus the log tail answers exactly like an uninterrupted run", "[recommend][checkpoint]") {
  const History h = random_history(GENERATE(7u, 99u), 30000);
  const std::size_t split = GENERATE(std::size_t{1}, std::size_t{9000}, std::size_t{21111});
  const RecommenderConfig config = small_bounds();
  std::span<const Event> all(h.events);

  Recommender uninterrupted(config);
  uninterrupted.apply(all);

  Recommender before(config);
  before.apply(all.subspan(0, split));
  const std::string bytes = before.checkpoint();
  auto restored = Recommender::restore(config, bytes);
  REQUIRE(restored);
  Recommender after = std::move(restored).value();
  check_same_bytes(after.checkpoint(), bytes);  // nothing lost or added
  check_same_answers(before, after);

  // The tail, with an overlap as after a crash between checkpoint and log end.
  after.apply(all.subspan(split > 500 ? split - 500 : 0));
  check_same_answers(uninterrupted, after);
  check_same_bytes(after.checkpoint(), uninterrupted.checkpoint());
}

TEST_CASE("A checkpoint from other learning settings is refused; query settings may change", "[recommend][checkpoint]") {
  const History h = random_history(3, 3000);
  RecommenderConfig config;
  Recommender r(config);
  r.apply(h.events);
  const std::string bytes = r.checkpoint();

  RecommenderConfig other_neighbours = config;
  other_neighbours.max_neighbours = 7;
  auto refused = Recommender::restore(other_neighbours, bytes);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::invalid_argument);

  RecommenderConfig other_horizon = config;
  other_horizon.propensity.horizon_ms *= 2;
  CHECK_FALSE(Recommender::restore(other_horizon, bytes));

  RecommenderConfig other_blend = config;
  other_blend.blend_user_cf = 0.9;
  other_blend.nearest_users = 5;
  auto kept = Recommender::restore(other_blend, bytes);
  REQUIRE(kept);
  CHECK(kept.value().applied_through() == r.applied_through());
}

TEST_CASE("A damaged checkpoint is refused without crashing", "[recommend][checkpoint]") {
  const History h = random_history(5, 4000);
  const RecommenderConfig config = small_bounds();
  Recommender r(config);
  r.apply(h.events);
  const std::string bytes = r.checkpoint();
  for (std::size_t cut : {std::size_t{0}, std::size_t{1}, std::size_t{20}, bytes.size() / 3, bytes.size() / 2,
                          bytes.size() - 1}) {
    auto restored = Recommender::restore(config, std::string_view(bytes).substr(0, cut));
    REQUIRE_FALSE(restored);
    CHECK(restored.error().code == Errc::corrupt);
  }
  CHECK_FALSE(Recommender::restore(config, bytes + "x"));
  // Cut bodies that carry a valid checksum reach the decoder, which refuses them.
  const std::string_view body = std::string_view(bytes).substr(0, bytes.size() - 8);
  for (std::size_t cut = 0; cut < body.size(); cut += 1 + cut / 3) {
    std::string sealed(body.substr(0, cut));
    ByteWriter sum;
    sum.f64(std::bit_cast<double>(checksum64(sealed)));
    sealed += sum.view();
    auto restored = Recommender::restore(config, sealed);
    REQUIRE_FALSE(restored);
    CHECK(restored.error().code == Errc::corrupt);
  }
  // Flipped bytes either fail to decode or decode to some state; never a crash.
  std::uint64_t x = 1;
  for (int i = 0; i < 200; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    std::string damaged = bytes;
    damaged[(x >> 20) % damaged.size()] ^= static_cast<char>(1 + (x >> 50) % 255);
    auto restored = Recommender::restore(config, damaged);
    if (restored) (void)restored.value().recommend(RecommendQuery{});
  }
}

TEST_CASE("A category id near the checkpoint's limit costs memory for one category, not for every id below it",
          "[recommend][checkpoint]") {
  // Dictionary ids are dense, but a checkpoint read back from a store may
  // name any id: state sized by the largest id would be gigabytes here.
  constexpr Id kFar = (Id{1} << 27) - 5;
  History h;
  TimestampMs t = kT0;
  for (int i = 0; i < 4; ++i) h.add(100 + i, 50, EventType::view, t += 1000, kFar);
  h.add(200, 51, EventType::view, t += 1000, 3);
  Recommender r;
  r.apply(h.events);
  CHECK(r.approximate_memory_bytes() < (std::size_t{64} << 20));
  auto restored = Recommender::restore(RecommenderConfig{}, r.checkpoint());
  REQUIRE(restored);
  CHECK(restored.value().approximate_memory_bytes() < (std::size_t{64} << 20));
  const auto in_category = restored.value().popular({10, kFar, kNoId});
  REQUIRE(products(in_category) == std::vector<Id>{50});
  CHECK(in_category[0].reason.related == kFar);
  CHECK(products(restored.value().popular({10, 3, kNoId})) == std::vector<Id>{51});
}
