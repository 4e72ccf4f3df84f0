// Bounded engine memory: user profiles evicted by count and idleness, and
// per-id window rows that follow the ids inside the windows.
#include <catch2/catch.hpp>

#include "oracle.hpp"
#include "shoppulse/windows/window_engine.hpp"

using namespace shoppulse;

namespace {

constexpr TimestampMs kStart = 1'700'000'000'000;

Event event_of(TimestampMs time, Sequence sequence, Id user, Id product) {
  Event e;
  e.time_ms = time;
  e.sequence = sequence;
  e.user = user;
  e.product = product;
  e.category = 1 + product % 7;
  e.device = 1;
  e.location = 1;
  e.price_minor = 100;
  e.type = product % 3 == 0 ? EventType::purchase : EventType::view;
  return e;
}

}  // namespace

TEST_CASE("past windows.max_profiles the least recently seen users lose their profiles; the rest stay exact",
          "[windows][memory]") {
  WindowConfig config;
  config.max_profiles = 16;
  WindowEngine engine(config);
  test::Oracle oracle(config);
  std::vector<Event> events;
  // Users 1..40 in turn, user 3 also active throughout.
  Sequence seq = 1;
  for (Id user = 1; user <= 40; ++user) {
    events.push_back(event_of(kStart + seq * 1000, seq, user, user % 5 + 1)), ++seq;
    events.push_back(event_of(kStart + seq * 1000, seq, 3, 2)), ++seq;
  }
  engine.apply(events);
  for (const Event& e : events) oracle.apply(e);

  const WindowMemory memory = engine.memory();
  CHECK(memory.resident_profiles <= 16);
  CHECK(memory.evicted_profiles == 40 - memory.resident_profiles);
  // The coldest went first: user 40 (seen last) and user 3 (seen throughout)
  // stay with every event they had; user 1 is gone.
  test::require_same_profile(engine.user_profile(40), oracle.profile(40));
  test::require_same_profile(engine.user_profile(3), oracle.profile(3));
  CHECK_FALSE(engine.user_profile(1).has_value());
  // Windows count every user regardless.
  const std::int64_t end = oracle.end_ms(WindowSpan::h24);
  CHECK(engine.snapshot()->window(WindowSpan::h24).current.active_users ==
        oracle.kpis(end - span_ms(WindowSpan::h24), end).active_users);

  // A later event of an evicted user starts a new profile with that event alone.
  const Event again = event_of(kStart + seq * 1000, seq, 1, 4);
  engine.apply(std::span(&again, 1));
  const auto profile = engine.user_profile(1);
  REQUIRE(profile.has_value());
  CHECK(profile->first_seen_ms == again.time_ms);
  CHECK(profile->events[static_cast<std::size_t>(again.type)] == 1);
}

TEST_CASE("profiles of users idle longer than windows.profile_max_idle are evicted; 0 keeps them",
          "[windows][memory]") {
  const auto run = [](std::int64_t max_idle_ms) {
    WindowConfig config;
    config.profile_max_idle_ms = max_idle_ms;
    config.filter_buffer_events = 0;
    WindowEngine engine(config);
    std::vector<Event> events;
    events.push_back(event_of(kStart, 1, 1, 1));
    // Enough events for an idle sweep to run, two hours later, all by user 2.
    for (Sequence seq = 2; seq <= (Sequence{1} << 18) + 10; ++seq)
      events.push_back(event_of(kStart + 7'200'000 + static_cast<TimestampMs>(seq), seq, 2, 1 + seq % 50));
    engine.apply(events);
    return std::pair{engine.user_profile(1).has_value(), engine.user_profile(2).has_value()};
  };
  CHECK(run(3'600'000) == std::pair{false, true});
  CHECK(run(0) == std::pair{true, true});
}

TEST_CASE("a restored engine evicts exactly the profiles the uninterrupted one does", "[windows][memory]") {
  WindowConfig config;
  config.max_profiles = 50;
  WindowEngine whole(config);
  std::vector<Event> events;
  for (Sequence seq = 1; seq <= 3000; ++seq)
    events.push_back(event_of(kStart + static_cast<TimestampMs>(seq) * 700, seq, 1 + (seq * 7919) % 400, 1 + seq % 30));
  whole.apply(events);
  WindowEngine first(config);
  first.apply(std::span(events).first(1234));
  auto second = WindowEngine::restore(config, first.checkpoint());
  REQUIRE(second.ok());
  second->apply(std::span(events).subspan(1234));
  CHECK(second->memory().resident_profiles == whole.memory().resident_profiles);
  for (Id user = 1; user <= 400; ++user) {
    INFO("user " << user);
    test::require_same_profile(second->user_profile(user), whole.user_profile(user));
  }
}

TEST_CASE("with ever-new shoppers and products, profiles and window rows level off", "[windows][memory]") {
  // One new user and product a second for 100 hours of event time: the
  // windows hold the newest 48 hours (current and previous 24h), profiles
  // the newest max_profiles users.
  WindowConfig config;
  config.max_profiles = 20'000;
  config.filter_buffer_events = 0;
  config.recent_events_per_user = 2;
  WindowEngine engine(config);
  WindowMemory at_60h, at_100h;
  std::vector<Event> batch;
  for (Sequence seq = 1; seq <= 100 * 3600; ++seq) {
    const Id id = static_cast<Id>(seq);
    batch.push_back(event_of(kStart + static_cast<TimestampMs>(seq) * 1000, seq, id, id));
    if (batch.size() == 3600) {
      engine.apply(batch);
      batch.clear();
      if (seq == 60 * 3600) at_60h = engine.memory();
    }
  }
  at_100h = engine.memory();
  INFO("windows " << at_60h.windows << " -> " << at_100h.windows << ", profiles " << at_60h.user_profiles << " -> "
                  << at_100h.user_profiles);
  CHECK(at_100h.resident_profiles <= 20'000);
  // Ids grew by two thirds; the memory may not follow them.
  CHECK(at_100h.user_profiles <= at_60h.user_profiles + at_60h.user_profiles / 20);
  CHECK(at_100h.windows <= at_60h.windows + at_60h.windows / 20);
}
