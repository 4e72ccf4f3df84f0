#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "shoppulse/core/byte_codec.hpp"
#include "shoppulse/recommend/evaluation.hpp"
#include "shoppulse/recommend/propensity.hpp"

using namespace shoppulse;
namespace pf = propensity_feature;

namespace {
constexpr TimestampMs kT0 = 1511658000000;

Event ev(Id user, Id product, EventType type, TimestampMs t, Id category = kNoId) {
  Event e;
  e.user = user;
  e.product = product;
  e.category = category;
  e.type = type;
  e.time_ms = t;
  return e;
}

// Buyers add to cart and purchase within minutes; browsers only view,
// repeatedly. Users interleave in time.
std::vector<Event> separable(int users) {
  std::vector<Event> out;
  TimestampMs t = kT0;
  for (int i = 0; i < users; ++i) {
    const Id u = static_cast<Id>(i + 1);
    if (i % 2 == 0) {
      out.push_back(ev(u, 1, EventType::view, t += 1000));
      out.push_back(ev(u, 1, EventType::add_to_cart, t += 1000));
      out.push_back(ev(u, 1, EventType::purchase, t += 60000));
    } else {
      for (int k = 0; k < 3; ++k) out.push_back(ev(u, 2 + k, EventType::view, t += 1000));
    }
  }
  return out;
}

// A shop where only the category tells buyers from browsers: every user is
// new and views one product nobody else sees; a viewer of category 1 buys
// within two minutes with probability 0.4, a viewer of category 2 with 0.01.
// The best possible AUC is about 0.80.
std::vector<Event> category_signal(int users, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Event> out;
  TimestampMs t = kT0;
  for (int i = 0; i < users; ++i) {
    const Id u = static_cast<Id>(i + 1);
    const Id category = rng() % 2 == 0 ? 1 : 2;
    const Id product = static_cast<Id>(100000 + i);
    t += 5000;
    out.push_back(ev(u, product, EventType::view, t, category));
    const std::uint32_t percent = rng() % 100;
    if (percent < (category == 1 ? 40u : 1u)) out.push_back(ev(u, product, EventType::purchase, t + 1000, category));
  }
  std::stable_sort(out.begin(), out.end(), [](const Event& a, const Event& b) { return a.time_ms < b.time_ms; });
  return out;
}

// Random traffic: 300 users, 200 products in 20 categories, every event
// type, purchases included, timestamps that sometimes repeat.
std::vector<Event> random_events(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Event> out;
  TimestampMs t = kT0;
  for (std::size_t i = 0; i < n; ++i) {
    t += static_cast<TimestampMs>(rng() % 4) * 1000;
    const Id user = 1 + rng() % 300;
    const Id product = 1 + rng() % 200;
    const std::uint32_t r = rng() % 100;
    const EventType type = r < 65   ? EventType::view
                           : r < 75 ? EventType::add_to_cart
                           : r < 80 ? EventType::favorite
                           : r < 83 ? EventType::remove_from_cart
                           : r < 88 ? EventType::click
                           : r < 90 ? EventType::rate
                                    : EventType::purchase;
    out.push_back(ev(user, product, type, t, 1 + product % 20));
  }
  return out;
}

std::string saved(const PurchasePropensity& p) {
  ByteWriter w;
  p.save(w);
  return w.take();
}

// Compared outside the assertion, so a failure does not print binary bytes.
bool same_state(const PurchasePropensity& a, const PurchasePropensity& b) { return saved(a) == saved(b); }
}  // namespace

TEST_CASE("Propensity learns a separable pattern online (AUC > 0.9)", "[recommend]") {
  PropensityConfig config;
  config.horizon_ms = 10 * 60000;
  PurchasePropensity model(config);
  std::vector<PropensityOutcome> outcomes;
  std::size_t seen = 0;
  model.set_outcome_observer([&](const PropensityOutcome& o) {
    if (++seen > 200) outcomes.push_back(o);  // after a warm-up
  });
  model.apply(separable(2000));
  REQUIRE(outcomes.size() > 1000);
  CHECK(auc(outcomes) > 0.9);
  // A user who just added to cart outranks one who only browses.
  std::vector<Event> probe{ev(90001, 1, EventType::add_to_cart, kT0 + 100000000),
                           ev(90002, 2, EventType::view, kT0 + 100000001)};
  model.apply(probe);
  CHECK(model.propensity(90001) > model.propensity(90002));
  const auto top = model.top_propensity(3);
  REQUIRE(top.size() == 3);
  CHECK(top[0].second >= top[1].second);
  CHECK(model.propensity(424242) == 0);
}

TEST_CASE("Propensity resolves an example only when its horizon has passed, positive or not", "[recommend]") {
  PropensityConfig config;
  config.horizon_ms = 60000;
  PurchasePropensity model(config);
  const auto initial = model.weights();
  std::vector<PropensityOutcome> outcomes;
  model.set_outcome_observer([&](const PropensityOutcome& o) { outcomes.push_back(o); });
  model.apply(ev(1, 1, EventType::view, kT0));
  model.apply(ev(2, 1, EventType::view, kT0 + 1000));
  CHECK(outcomes.empty());
  CHECK(model.pending_examples() == 2);
  model.apply(ev(1, 1, EventType::purchase, kT0 + 30000));  // user 1 buys within the horizon
  // The label is known, but positives do not run ahead of the negatives.
  CHECK(outcomes.empty());
  CHECK(model.trained_examples() == 0);
  CHECK(model.weights() == initial);
  model.apply(ev(3, 1, EventType::view, kT0 + 60000));  // both horizons end at +60 s and +61 s: not passed yet
  CHECK(outcomes.empty());
  model.apply(ev(3, 1, EventType::view, kT0 + 62000));  // both have passed
  REQUIRE(outcomes.size() == 2);
  CHECK(outcomes[0].user == 1);
  CHECK(outcomes[0].time_ms == kT0);
  CHECK(outcomes[0].purchased);
  CHECK(outcomes[1].user == 2);
  CHECK_FALSE(outcomes[1].purchased);
  CHECK(model.trained_examples() == 2);
  CHECK(model.pending_examples() == 2);  // user 3's views
  CHECK(model.weights() != initial);
}

TEST_CASE("Propensity labels: a purchase in (opened, opened + horizon] only; the same instant is dropped",
          "[recommend]") {
  PropensityConfig config;
  config.horizon_ms = 60000;
  PurchasePropensity model(config);
  std::vector<PropensityOutcome> outcomes;
  model.set_outcome_observer([&](const PropensityOutcome& o) { outcomes.push_back(o); });
  model.apply(ev(1, 1, EventType::view, kT0));              // user 1 buys exactly at the horizon: positive
  model.apply(ev(2, 1, EventType::view, kT0));              // user 2 buys 1 ms too late: negative
  model.apply(ev(3, 2, EventType::purchase, kT0 + 5000));   // user 3 views after buying: negative
  model.apply(ev(4, 3, EventType::view, kT0 + 5000));       // user 4 views and buys in the same instant: dropped
  model.apply(ev(4, 3, EventType::purchase, kT0 + 5000));
  model.apply(ev(3, 2, EventType::view, kT0 + 6000));
  model.apply(ev(1, 1, EventType::purchase, kT0 + 60000));
  model.apply(ev(2, 1, EventType::purchase, kT0 + 60001));
  model.apply(ev(9, 9, EventType::view, kT0 + 10 * 60000));  // everything above is due
  REQUIRE(outcomes.size() == 3);
  CHECK(outcomes[0].user == 1);
  CHECK(outcomes[0].purchased);
  CHECK(outcomes[1].user == 2);
  CHECK_FALSE(outcomes[1].purchased);
  CHECK(outcomes[2].user == 3);
  CHECK_FALSE(outcomes[2].purchased);
  CHECK(model.trained_examples() == 3);
  CHECK(model.pending_examples() == 1);

  // A late event's example waits behind younger ones; a purchase past its horizon does not count.
  outcomes.clear();
  const TimestampMs t = kT0 + 3600000;
  model.apply(ev(11, 1, EventType::view, t + 1000));
  model.apply(ev(12, 1, EventType::view, t));  // late
  model.apply(ev(12, 1, EventType::purchase, t + 60500));
  model.apply(ev(13, 1, EventType::view, t + 70000));
  REQUIRE(outcomes.size() == 3);  // user 9's, then users 11 and 12
  CHECK(outcomes[2].user == 12);
  CHECK_FALSE(outcomes[2].purchased);
}

TEST_CASE("Propensity starts at the configured prior and computes the documented features", "[recommend]") {
  PropensityConfig config;
  config.initial_rate = 0.2;
  PurchasePropensity model(config);
  std::vector<PropensityOutcome> outcomes;
  model.set_outcome_observer([&](const PropensityOutcome& o) { outcomes.push_back(o); });
  // A first-time viewer carries no information but the bias: the prior exactly.
  model.apply(ev(1, 7, EventType::view, kT0, 3));
  CHECK(model.propensity(1) == Approx(0.2).epsilon(1e-12));
  model.apply(ev(1, 7, EventType::view, kT0 + 9000, 3));
  model.apply(ev(1, 7, EventType::add_to_cart, kT0 + 9000 + 99000, 3));
  model.apply(ev(2, 8, EventType::purchase, kT0 + 200000, 3));  // category 3 converts now, product 7 not
  model.apply(ev(5, 7, EventType::favorite, kT0 + 200000, 3));
  model.apply(ev(9, 9, EventType::view, kT0 + 3600000));  // all due
  REQUIRE(outcomes.size() == 4);
  const PropensityFeatures& first = outcomes[0].features;
  for (std::size_t i = 0; i < kPropensityFeatures; ++i) CHECK(first[i] == (i == pf::bias ? 1.0f : 0.0f));
  CHECK(outcomes[0].score == Approx(0.2).epsilon(1e-12));

  // The second view: returning after 9 s, one earlier event on this product, in this session.
  const PropensityFeatures& again = outcomes[1].features;
  CHECK(again[pf::returning] == 1);
  CHECK(again[pf::since_last] == Approx(std::log1p(9.0) / 8).epsilon(1e-6));
  CHECK(again[pf::same_product] == Approx(std::log(2.0)).epsilon(1e-6));
  CHECK(again[pf::session_depth] == Approx(std::log(2.0) / 2).epsilon(1e-6));
  CHECK(again[pf::frequency] == Approx(std::log1p(std::exp2(-9000.0 / config.activity_half_life_ms)) / 2).epsilon(1e-6));
  CHECK(again[pf::is_cart] == 0);
  // Category 3 has had one view and no purchase: (0 + 20 p)/(1 + 20) against the shop's p, so
  // ln(20/21); product 7 the same against its category, ln(5/6) (less 9 s of decay).
  CHECK(again[pf::category_rate] == Approx(std::log(20.0 / 21.0)).margin(1e-4));
  CHECK(again[pf::product_rate] == Approx(std::log(5.0 / 6.0)).margin(1e-4));

  const PropensityFeatures& cart = outcomes[2].features;
  CHECK(cart[pf::is_cart] == 1);
  CHECK(cart[pf::same_product] == Approx(std::log(3.0)).epsilon(1e-6));
  CHECK(cart[pf::carts] == 0);  // carts before this event

  // User 5 views product 7 right after a purchase in category 3 (of product 8).
  const PropensityFeatures& fav = outcomes[3].features;
  CHECK(fav[pf::returning] == 0);
  CHECK(fav[pf::is_favorite] == 1);
  CHECK(fav[pf::category_rate] > 0);  // a purchase over 3 views beats the shop's ~1%
  CHECK(fav[pf::product_rate] < 0);   // three views of product 7 and no purchase
  CHECK_FALSE(outcomes[3].purchased);
}

TEST_CASE("Propensity learns category conversion and carries it to new users and unseen products", "[recommend]") {
  PropensityConfig config;
  config.horizon_ms = 5 * 60000;
  PurchasePropensity model(config);
  std::vector<PropensityOutcome> outcomes;
  std::size_t seen = 0;
  model.set_outcome_observer([&](const PropensityOutcome& o) {
    if (++seen > 1000) outcomes.push_back(o);
  });
  model.apply(category_signal(6000, 7));
  REQUIRE(outcomes.size() > 4000);
  const double a = auc(outcomes);
  CHECK(a > 0.72);  // 0.80 at best; 0.5 when the category is ignored
  CHECK(a < 0.85);
  CHECK(model.weights()[pf::category_rate] > 0.3);
  model.apply(ev(70001, 555555, EventType::view, kT0 + 100000000, 1));
  model.apply(ev(70002, 555556, EventType::view, kT0 + 100000000, 2));
  CHECK(model.propensity(70001) == Approx(0.4).margin(0.1));  // calibrated, too
  CHECK(model.propensity(70001) > 10 * model.propensity(70002));
}

TEST_CASE("Propensity memory is bounded per user, overall and in users", "[recommend]") {
  PropensityConfig config;
  config.horizon_ms = 60000;
  config.max_pending_per_user = 2;
  config.max_pending = 5;
  config.max_users = 3;
  config.category_slots = 4;
  config.product_slots = 4;
  PurchasePropensity model(config);
  std::vector<PropensityOutcome> outcomes;
  model.set_outcome_observer([&](const PropensityOutcome& o) { outcomes.push_back(o); });
  for (int k = 0; k < 5; ++k) model.apply(ev(1, 1 + k, EventType::view, kT0 + k, 1 + k));
  CHECK(model.pending_examples() == 2);  // user 1 opens no more than 2
  for (Id u = 2; u <= 4; ++u) model.apply(ev(u, 1, EventType::view, kT0 + 10));
  CHECK(model.pending_examples() == 5);
  CHECK(model.propensity(1) == 0);  // the least recently active user was evicted
  CHECK(model.propensity(4) > 0);
  model.apply(ev(5, 1, EventType::view, kT0 + 11));
  CHECK(model.pending_examples() == 5);  // the oldest example dropped
  // User 1 returns as a new state (evicting user 3), which does not label the examples opened before it.
  model.apply(ev(1, 1, EventType::purchase, kT0 + 20));
  model.apply(ev(6, 1, EventType::view, kT0 + 10 * 60000));
  // Trained: users 4 and 5 only; the examples of users 1, 2 and 3 were dropped unlabelled.
  REQUIRE(outcomes.size() == 2);
  CHECK(outcomes[0].user == 4);
  CHECK(outcomes[1].user == 5);
  for (const auto& o : outcomes) CHECK_FALSE(o.purchased);
  CHECK(model.pending_examples() == 1);
  CHECK(model.top_propensity(10).size() == 3);
}

TEST_CASE("Propensity checkpoint: save, load, continue is exactly the uninterrupted run", "[recommend]") {
  const auto events = random_events(30000, 11);
  const std::span<const Event> all(events);
  const auto a = all.subspan(0, 12000), b = all.subspan(12000);
  PropensityConfig small;
  small.horizon_ms = 10 * 60000;
  small.max_users = 200;  // evictions
  small.max_pending = 3000;
  small.max_pending_per_user = 4;
  small.category_slots = 8;  // shared slots
  small.product_slots = 64;
  PropensityConfig defaults;
  defaults.horizon_ms = 10 * 60000;

  for (const PropensityConfig& config : {small, defaults}) {
    PurchasePropensity x(config), y(config), z(config);
    std::vector<PropensityOutcome> ox, oy;
    x.set_outcome_observer([&](const PropensityOutcome& o) { ox.push_back(o); });
    y.set_outcome_observer([&](const PropensityOutcome& o) { oy.push_back(o); });
    x.apply(a);
    z.apply(a);
    const std::string bytes = saved(x);
    ByteReader in(bytes);
    REQUIRE(y.load(in));
    CHECK(in.at_end());
    CHECK(same_state(y, x));
    CHECK(y.pending_examples() == x.pending_examples());
    CHECK(y.pending_examples() > 0);
    ox.clear();
    x.apply(b);
    y.apply(b);
    z.apply(b);
    CHECK(x.trained_examples() > 10000);
    for (const PurchasePropensity* p : {&y, &z}) {
      CHECK(p->weights() == x.weights());
      CHECK(p->trained_examples() == x.trained_examples());
      CHECK(p->pending_examples() == x.pending_examples());
      CHECK(p->top_propensity(50) == x.top_propensity(50));
      CHECK(p->top_propensity(1000) == x.top_propensity(1000));
      for (Id u = 0; u <= 310; ++u) CHECK(p->propensity(u) == x.propensity(u));
      CHECK(same_state(*p, x));
    }
    REQUIRE(oy.size() == ox.size());
    for (std::size_t i = 0; i < ox.size(); ++i) {
      CHECK(oy[i].user == ox[i].user);
      CHECK(oy[i].time_ms == ox[i].time_ms);
      CHECK(oy[i].score == ox[i].score);
      CHECK(oy[i].purchased == ox[i].purchased);
      CHECK(oy[i].features == ox[i].features);
    }
  }
}

TEST_CASE("Propensity checkpoint: truncated or corrupt input fails cleanly and keeps the state", "[recommend]") {
  PropensityConfig config;
  config.horizon_ms = 10 * 60000;
  config.category_slots = 8;
  config.product_slots = 64;
  PurchasePropensity source(config);
  source.apply(random_events(3000, 5));
  const std::string bytes = saved(source);
  REQUIRE(bytes.size() > 1000);

  PurchasePropensity target(config);
  target.apply(random_events(500, 6));
  const std::string before = saved(target);
  auto rejects = [&](const std::string& input) {
    ByteReader in(input);
    const bool ok = target.load(in);
    const bool unchanged = saved(target) == before;
    return !ok && unchanged;
  };
  // Every cut short of the end.
  for (std::size_t n = 0; n < bytes.size(); n += (n < 200 || bytes.size() - n < 200) ? 1 : 97) {
    INFO("cut at " << n << " of " << bytes.size());
    CHECK(rejects(bytes.substr(0, n)));
  }
  CHECK(rejects(""));
  std::string bad = bytes;
  bad[0] = 9;  // unknown version
  CHECK(rejects(bad));
  bad = bytes;
  bad[1] = static_cast<char>(kPropensityFeatures + 1);  // another feature layout
  CHECK(rejects(bad));
  // Saved with other table sizes: ids would map to other slots.
  PropensityConfig other = config;
  other.product_slots = 32;
  PurchasePropensity differently(other);
  {
    ByteReader in(bytes);
    CHECK_FALSE(differently.load(in));
  }
  // Arbitrary damage never crashes (it may still parse: a flipped float is a float).
  std::mt19937 rng(3);
  for (int k = 0; k < 300; ++k) {
    bad = bytes;
    bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255);
    PurchasePropensity victim(config);
    ByteReader in(bad);
    if (victim.load(in)) victim.apply(random_events(200, 8));
  }
  // A good checkpoint still loads into the instance that rejected the bad ones.
  ByteReader in(bytes);
  REQUIRE(target.load(in));
  CHECK(same_state(target, source));
}
