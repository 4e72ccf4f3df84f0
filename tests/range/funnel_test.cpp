// Ordered funnels with a conversion window, checked on hand-made cases and
// against a brute-force oracle that tries every ordered choice of events.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>

#include "shoppulse/range/analysis.hpp"

using namespace shoppulse;
using namespace shoppulse::range;

namespace {

Event ev(Id user, EventType type, TimestampMs t, Sequence seq, Id category = kNoId, Id device = kNoId) {
  Event e;
  e.user = user;
  e.type = type;
  e.time_ms = t;
  e.sequence = seq;
  e.category = category;
  e.device = device;
  return e;
}

FunnelSpec spec_of(std::vector<EventType> types, std::int64_t window_ms) {
  FunnelSpec s;
  for (auto t : types) s.steps.push_back(StepSpec{t});
  s.window_ms = window_ms;
  return s;
}

std::vector<std::uint64_t> users_per_step(const FunnelResult& r) {
  std::vector<std::uint64_t> out;
  for (const auto& s : r.steps) out.push_back(s.users);
  return out;
}

std::vector<std::uint64_t> run(const FunnelSpec& spec, const std::vector<Event>& events) {
  FunnelCounter c(spec);
  for (const auto& e : events) c.add(e);
  return users_per_step(c.finish());
}

// The deepest step reachable by one user's events (sorted by time, then
// sequence): tries every start and every ordered choice of later events.
std::size_t deepest_brute(const FunnelSpec& spec, const std::vector<Event>& evs, std::size_t from, std::size_t step,
                          TimestampMs start) {
  if (step == spec.steps.size()) return step;
  std::size_t best = step;
  for (std::size_t i = from; i < evs.size(); ++i) {
    if (!spec.steps[step].matches(evs[i])) continue;
    const TimestampMs s = step == 0 ? evs[i].time_ms : start;
    if (evs[i].time_ms - s > spec.window_ms) continue;
    best = std::max(best, deepest_brute(spec, evs, i + 1, step + 1, s));
  }
  return best;
}

std::vector<std::uint64_t> oracle(const FunnelSpec& spec, std::vector<Event> events) {
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    return a.time_ms != b.time_ms ? a.time_ms < b.time_ms : a.sequence < b.sequence;
  });
  std::map<Id, std::vector<Event>> by_user;
  for (const auto& e : events) by_user[e.user].push_back(e);
  std::vector<std::uint64_t> out(spec.steps.size(), 0);
  for (const auto& [user, evs] : by_user) {
    const std::size_t deepest = deepest_brute(spec, evs, 0, 0, 0);
    for (std::size_t k = 0; k < deepest; ++k) ++out[k];
  }
  return out;
}

}  // namespace

TEST_CASE("a funnel counts a shopper at a step only when the earlier steps came before it", "[range][funnel]") {
  const auto spec = spec_of({EventType::view, EventType::add_to_cart, EventType::purchase}, 3600000);
  // User 1 in order; user 2 carts before viewing; user 3 buys without a cart.
  const std::vector<Event> events{
      ev(1, EventType::view, 1000, 1),       ev(1, EventType::add_to_cart, 2000, 2), ev(1, EventType::purchase, 3000, 3),
      ev(2, EventType::add_to_cart, 1000, 4), ev(2, EventType::view, 2000, 5),
      ev(3, EventType::view, 1000, 6),       ev(3, EventType::purchase, 2000, 7)};
  CHECK(run(spec, events) == std::vector<std::uint64_t>{3, 1, 1});
}

TEST_CASE("a step exactly at the end of the conversion window counts and one a millisecond later does not",
          "[range][funnel]") {
  const auto spec = spec_of({EventType::view, EventType::purchase}, 60000);
  CHECK(run(spec, {ev(1, EventType::view, 0, 1), ev(1, EventType::purchase, 60000, 2)}) ==
        std::vector<std::uint64_t>{1, 1});
  CHECK(run(spec, {ev(1, EventType::view, 0, 1), ev(1, EventType::purchase, 60001, 2)}) ==
        std::vector<std::uint64_t>{1, 0});
}

TEST_CASE("the window runs from the latest suitable first step, so a later view can still convert",
          "[range][funnel]") {
  const auto spec = spec_of({EventType::view, EventType::purchase}, 60000);
  // The view at 0 is too early for the purchase at 100000; the one at 50000 is not.
  CHECK(run(spec, {ev(1, EventType::view, 0, 1), ev(1, EventType::view, 50000, 2),
                   ev(1, EventType::purchase, 100000, 3)}) == std::vector<std::uint64_t>{1, 1});
}

TEST_CASE("a repeated step needs a separate event for each repetition", "[range][funnel]") {
  const auto spec = spec_of({EventType::view, EventType::view, EventType::purchase}, 60000);
  CHECK(run(spec, {ev(1, EventType::view, 0, 1), ev(1, EventType::purchase, 10, 2)}) ==
        std::vector<std::uint64_t>{1, 0, 0});
  CHECK(run(spec, {ev(1, EventType::view, 0, 1), ev(1, EventType::view, 5, 2), ev(1, EventType::purchase, 10, 3)}) ==
        std::vector<std::uint64_t>{1, 1, 1});
}

TEST_CASE("events at the same time keep their log order", "[range][funnel]") {
  const auto spec = spec_of({EventType::view, EventType::purchase}, 60000);
  CHECK(run(spec, {ev(1, EventType::purchase, 5, 1), ev(1, EventType::view, 5, 2)}) ==
        std::vector<std::uint64_t>{1, 0});
  CHECK(run(spec, {ev(1, EventType::purchase, 5, 2), ev(1, EventType::view, 5, 1)}) ==
        std::vector<std::uint64_t>{1, 1});
}

TEST_CASE("a step filtered by category only matches events of that category", "[range][funnel]") {
  FunnelSpec spec = spec_of({EventType::view, EventType::purchase}, 60000);
  spec.steps[1].category = 7;
  CHECK(run(spec, {ev(1, EventType::view, 0, 1), ev(1, EventType::purchase, 10, 2, 8),
                   ev(2, EventType::view, 0, 3), ev(2, EventType::purchase, 10, 4, 7)}) ==
        std::vector<std::uint64_t>{2, 1});
}

TEST_CASE("time to convert is the median and mean gap between consecutive steps of the converting attempt",
          "[range][funnel]") {
  const auto spec = spec_of({EventType::view, EventType::add_to_cart, EventType::purchase}, 3600000);
  FunnelCounter c(spec);
  for (const auto& e : {ev(1, EventType::view, 0, 1), ev(1, EventType::add_to_cart, 1000, 2),
                        ev(1, EventType::purchase, 5000, 3), ev(2, EventType::view, 0, 4),
                        ev(2, EventType::add_to_cart, 3000, 5), ev(3, EventType::view, 0, 6),
                        ev(3, EventType::add_to_cart, 8000, 7)})
    c.add(e);
  const FunnelResult r = c.finish();
  CHECK_FALSE(r.steps[0].median_ms.has_value());
  REQUIRE(r.steps[1].median_ms.has_value());
  CHECK(*r.steps[1].median_ms == 3000.0);   // gaps 1000, 3000, 8000
  CHECK(*r.steps[1].average_ms == 4000.0);
  CHECK(*r.steps[2].median_ms == 4000.0);   // one purchaser, 4000 after the cart
}

TEST_CASE("a breakdown splits the funnel by the device of the first step", "[range][funnel]") {
  FunnelSpec spec = spec_of({EventType::view, EventType::purchase}, 60000);
  spec.breakdown = Breakdown::device;
  FunnelCounter c(spec);
  for (const auto& e : {ev(1, EventType::view, 0, 1, kNoId, 5), ev(1, EventType::purchase, 10, 2, kNoId, 6),
                        ev(2, EventType::view, 0, 3, kNoId, 6), ev(3, EventType::view, 0, 4, kNoId, 6)})
    c.add(e);
  const FunnelResult r = c.finish();
  REQUIRE(r.groups.size() == 2);
  CHECK(r.groups[0].value == 6);  // the larger group first
  CHECK(r.groups[0].steps[0].users == 2);
  CHECK(r.groups[0].steps[1].users == 0);
  CHECK(r.groups[1].value == 5);
  CHECK(r.groups[1].steps[1].users == 1);
}

TEST_CASE("random funnels agree with a brute-force search over every ordered choice of events", "[range][funnel]") {
  std::mt19937_64 rng(13);
  const std::vector<EventType> types{EventType::view, EventType::add_to_cart, EventType::purchase, EventType::favorite};
  for (int round = 0; round < 300; ++round) {
    const std::size_t n_steps = 2 + rng() % 3;
    std::vector<EventType> steps;
    for (std::size_t k = 0; k < n_steps; ++k) steps.push_back(types[rng() % 3]);  // repeats happen
    const auto spec = spec_of(steps, 1 + static_cast<std::int64_t>(rng() % 50));
    std::vector<Event> events;
    const std::size_t n = rng() % 40;
    for (std::size_t i = 0; i < n; ++i)
      events.push_back(ev(1 + static_cast<Id>(rng() % 4), types[rng() % types.size()],
                          static_cast<TimestampMs>(rng() % 60), i + 1));
    std::shuffle(events.begin(), events.end(), rng);  // a scan delivers them in any order
    INFO("round " << round);
    CHECK(run(spec, events) == oracle(spec, events));
  }
}
