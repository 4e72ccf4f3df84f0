// The range worker over an in-memory log: exact scans, its index kept up
// with appends, and refusals instead of unbounded work.
#include <catch2/catch.hpp>

#include <future>

#include "shoppulse/eventlog/memory_store.hpp"
#include "shoppulse/range/range_runner.hpp"
#include "support/eventually.hpp"

using namespace shoppulse;
using namespace shoppulse::range;
using shoppulse::testing::eventually;

namespace {

constexpr std::int64_t kMinuteMs = 60000;

// Appends n events one second apart from `start` (every tenth one ten
// minutes late), continuing the log's sequences.
void append(Storage& store, std::size_t n, TimestampMs start) {
  std::vector<LogRecord> records(n);
  const Sequence first = store.next_sequence();
  for (std::size_t i = 0; i < n; ++i) {
    Event& e = records[i].event;
    e.sequence = first + i;
    e.time_ms = start + static_cast<TimestampMs>(i) * 1000 - (i % 10 == 9 ? 10 * kMinuteMs : 0);
    e.user = 1 + static_cast<Id>(i % 7);
  }
  REQUIRE(store.append(AppendBatch{records, {}}).ok());
}

// Runs job on the worker and waits for it.
Result<ScanFigures> scan_on(RangeRunner& runner, TimestampMs from, TimestampMs to, std::vector<Event>* out) {
  std::promise<Result<ScanFigures>> done;
  auto queued = runner.submit(
      [&](RangeScope& scope) {
        done.set_value(scope.scan(from, to, [&](const Event& e) {
          if (out) out->push_back(e);
        }));
      },
      [&](Error e) { done.set_value(std::move(e)); });
  if (!queued) return queued.error();
  return done.get_future().get();
}

}  // namespace

TEST_CASE("a range scan delivers exactly the logged events of the range, late ones included", "[range][runner]") {
  auto store = make_memory_store();
  const TimestampMs t0 = 1'700'000'040'000;  // a minute's start
  append(*store, 3600, t0);
  RangeRunner runner(RangeRunnerConfig{}, *store);
  runner.start();
  REQUIRE(eventually([&] { return runner.stats().indexed; }));
  const TimestampMs from = t0 + 20 * kMinuteMs, to = t0 + 30 * kMinuteMs;
  std::vector<Event> got;
  auto scanned = scan_on(runner, from, to, &got);
  REQUIRE(scanned.ok());
  std::vector<Sequence> want;
  store->read(1, [&](std::span<const LogRecord> rs) {
    for (const auto& r : rs)
      if (r.event.time_ms >= from && r.event.time_ms < to) want.push_back(r.event.sequence);
    return true;
  }).ok();
  std::vector<Sequence> seqs;
  for (const auto& e : got) seqs.push_back(e.sequence);
  CHECK(seqs == want);
  CHECK(scanned->in_range == want.size());
  // It read the late events' part of the log, not the whole log.
  CHECK(scanned->read < 3600 / 2);
  CHECK(scanned->read >= want.size());
}

TEST_CASE("events logged after the index was built are in the next query's answer", "[range][runner]") {
  auto store = make_memory_store();
  const TimestampMs t0 = 1'700'000'040'000;  // a minute's start
  append(*store, 100, t0);
  RangeRunner runner(RangeRunnerConfig{}, *store);
  runner.start();
  REQUIRE(eventually([&] { return runner.stats().indexed; }));
  append(*store, 100, t0 + 3600000);
  std::vector<Event> got;
  REQUIRE(scan_on(runner, t0 + 3600000, t0 + 7200000, &got).ok());
  CHECK(got.size() == 90);  // the new events but the ten logged ten minutes late, before the range
  CHECK(runner.stats().indexed_through == 200);
}

TEST_CASE("a range spanning more events than max_scan_events is refused as too large before any read",
          "[range][runner]") {
  auto store = make_memory_store();
  const TimestampMs t0 = 1'700'000'040'000;  // a minute's start
  append(*store, 1000, t0);
  RangeRunnerConfig config;
  config.max_scan_events = 500;
  RangeRunner runner(config, *store);
  runner.start();
  REQUIRE(eventually([&] { return runner.stats().indexed; }));
  auto whole = scan_on(runner, t0 - kMinuteMs, t0 + 3600000, nullptr);
  REQUIRE_FALSE(whole.ok());
  CHECK(whole.error().code == Errc::payload_too_large);
  CHECK(runner.stats().events_scanned == 0);
  // Minutes 14 and 15 hold no event logged late: sequences 841 to 959 (the
  // late 960th belongs to minute 6).
  auto part = scan_on(runner, t0 + 14 * kMinuteMs, t0 + 16 * kMinuteMs, nullptr);
  REQUIRE(part.ok());
  CHECK(part->read == 119);
  CHECK(part->in_range == 108);
}

TEST_CASE("queries beyond max_queued are refused as overloaded at once, and stop answers the waiting ones",
          "[range][runner]") {
  auto store = make_memory_store();
  RangeRunnerConfig config;
  config.max_queued = 2;
  RangeRunner runner(config, *store);
  CHECK(runner.submit([](RangeScope&) {}, [](Error) {}).error().code == Errc::unavailable);  // not started
  runner.start();
  REQUIRE(eventually([&] { return runner.stats().indexed; }));
  std::promise<void> entered, release;
  auto released = release.get_future().share();
  REQUIRE(runner.submit([&](RangeScope&) {
                  entered.set_value();
                  released.wait();
                },
                [](Error) {})
              .ok());
  entered.get_future().wait();  // the worker is busy; the queue is empty
  int refused_on_stop = 0;
  for (int i = 0; i < 2; ++i)
    REQUIRE(runner.submit([](RangeScope&) {}, [&](Error e) { refused_on_stop += e.code == Errc::unavailable; }).ok());
  auto third = runner.submit([](RangeScope&) {}, [](Error) {});
  REQUIRE_FALSE(third.ok());
  CHECK(third.error().code == Errc::overloaded);
  std::thread stopper([&] { runner.stop(); });
  release.set_value();
  stopper.join();
  // The stop may come before or after the worker took the queued jobs;
  // every one either ran or was refused, none is lost.
  CHECK(refused_on_stop + static_cast<int>(runner.stats().queries) == 3);
}
