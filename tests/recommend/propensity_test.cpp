#include <catch2/catch.hpp>

#include <vector>

#include "shoppulse/recommend/evaluation.hpp"
#include "shoppulse/recommend/propensity.hpp"

using namespace shoppulse;

namespace {
constexpr TimestampMs kT0 = 1511658000000;

Event ev(Id user, Id product, EventType type, TimestampMs t) {
  Event e;
  e.user = user;
  e.product = product;
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

TEST_CASE("Propensity labels an example only once its outcome is known", "[recommend]") {
  PropensityConfig config;
  config.horizon_ms = 60000;
  PurchasePropensity model(config);
  std::vector<PropensityOutcome> outcomes;
  model.set_outcome_observer([&](const PropensityOutcome& o) { outcomes.push_back(o); });
  model.apply(ev(1, 1, EventType::view, kT0));
  model.apply(ev(2, 1, EventType::view, kT0 + 1000));
  CHECK(outcomes.empty());
  CHECK(model.pending_examples() == 2);
  model.apply(ev(1, 1, EventType::purchase, kT0 + 30000));  // user 1 buys within the horizon
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].user == 1);
  CHECK(outcomes[0].purchased);
  model.apply(ev(3, 1, EventType::view, kT0 + 62000));  // user 2's horizon has passed
  REQUIRE(outcomes.size() == 2);
  CHECK(outcomes[1].user == 2);
  CHECK_FALSE(outcomes[1].purchased);
  CHECK(model.trained_examples() == 2);
}
