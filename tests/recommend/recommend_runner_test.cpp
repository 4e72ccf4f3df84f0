#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include "shoppulse/eventlog/memory_store.hpp"
#include "shoppulse/recommend/recommend_runner.hpp"

using namespace shoppulse;

namespace {
constexpr TimestampMs kT0 = 1511658000000;

std::vector<LogRecord> records(Sequence first, int n) {
  std::vector<LogRecord> out;
  for (int i = 0; i < n; ++i) {
    LogRecord r;
    r.event.sequence = first + static_cast<Sequence>(i);
    r.event.time_ms = kT0 + i * 1000;
    r.event.user = 1 + static_cast<Id>(i % 4);
    r.event.product = 100 + static_cast<Id>(i % 3);
    r.event.type = EventType::view;
    out.push_back(r);
  }
  return out;
}

std::vector<Event> events_of(const std::vector<LogRecord>& rs) {
  std::vector<Event> out;
  for (const auto& r : rs) out.push_back(r.event);
  return out;
}

Sequence applied_through(RecommendRunner& runner) {
  std::promise<Sequence> p;
  auto f = p.get_future();
  REQUIRE(runner.run_on_recommender([&](const Recommender& r) { p.set_value(r.applied_through()); }));
  return f.get();
}

// Polls (the recommend thread works in wall time) until pred or 5 s.
template <class Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 500; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}
}  // namespace

TEST_CASE("The recommend thread replays the log, then applies offered events", "[recommend]") {
  auto store = make_memory_store();
  const auto first = records(1, 20);
  REQUIRE(store->append(AppendBatch{first, {}}));
  SystemClock clock;
  RecommendRunner runner({}, {}, *store, clock);
  runner.start();
  CHECK(eventually([&] { return applied_through(runner) == 20; }));
  const auto more = records(21, 5);
  REQUIRE(store->append(AppendBatch{more, {}}));
  const auto live = events_of(more);
  runner.offer(live);
  CHECK(eventually([&] { return applied_through(runner) == 25; }));
  CHECK(eventually([&] { return runner.latest()->stats.applied_through == 25; }));
  CHECK_FALSE(runner.latest()->popular.empty());
  runner.stop();
  CHECK_FALSE(runner.run_on_recommender([](const Recommender&) {}));
}

TEST_CASE("Events lost to a full hand-off ring are re-read from the log", "[recommend]") {
  auto store = make_memory_store();
  SystemClock clock;
  RecommendRunnerConfig config;
  config.ring_capacity = 2;
  RecommendRunner runner({}, config, *store, clock);
  runner.start();
  CHECK(eventually([&] { return runner.stats().state == "running"; }));
  const auto rs = records(1, 50);
  REQUIRE(store->append(AppendBatch{rs, {}}));
  const auto live = events_of(rs);
  runner.offer(live);  // only 2 fit
  CHECK(eventually([&] { return applied_through(runner) == 50; }));
  CHECK(runner.stats().gap_reads >= 1);
  runner.stop();
}
