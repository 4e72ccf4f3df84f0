// The engine runner over a real RocksDB store: a background checkpoint of
// several 4 MiB parts. Its own executable, outside the ThreadSanitizer run:
// Debian's RocksDB is not built for it, so its own threads' copies read as
// races there.
#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <span>
#include <vector>

#include "shoppulse/eventlog/rocksdb_store.hpp"
#include "shoppulse/windows/engine_runner.hpp"
#include "support/temp_dir.hpp"
#include "oracle.hpp"

using namespace shoppulse;
using namespace std::chrono_literals;

namespace {

constexpr TimestampMs kStart = 1700000000000;  // 2023-11-14T22:13:20Z

WindowConfig window_config() {
  WindowConfig c;
  c.allowed_lateness_ms = 0;
  return c;
}

bool wait_for(const EngineRunner& runner, const std::function<bool(const EngineStats&)>& ready) {
  return runner.wait_until(ready, std::chrono::steady_clock::now() + 120s);
}

}  // namespace

TEST_CASE("a background checkpoint of many megabytes reaches a RocksDB store part by part and restores the engine "
          "as it was when it was taken",
          "[windows][runner][checkpoint]") {
  test_support::TempDir dir("shoppulse-windows");
  EventLogConfig log_config;
  log_config.data_dir = dir.path();
  auto opened = open_rocksdb_store(log_config);
  REQUIRE(opened);
  Storage& store = **opened;
  SpscRing<Event> ring(1 << 14);
  SystemClock clock;
  MetricsRegistry metrics;
  EngineRunnerConfig config;
  config.publish_interval_ms = 10;
  config.checkpoint_interval_ms = 3600000;  // by count only
  config.checkpoint_every_events = 60000;
  config.spill_minutes = false;  // the checkpoint then restores on its own
  REQUIRE(config.checkpoint_in_background);  // the default
  EngineRunner runner(window_config(), config, ring, store, store, store, clock, metrics);
  runner.start();
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.caught_up; }));
  // A user and a product per event: profiles and rows enough for a
  // checkpoint of several 4 MiB parts.
  std::vector<Event> events(80000);
  std::vector<LogRecord> records;
  for (std::size_t i = 0; i < events.size(); ++i) {
    Event& e = events[i];
    e.sequence = 1 + i;
    e.time_ms = kStart + static_cast<TimestampMs>(i) * 20;
    e.user = static_cast<Id>(1 + i);
    e.product = static_cast<Id>(1 + i % 30000);
    e.category = static_cast<Id>(1 + i % 3);
    e.type = i % 10 == 0 ? EventType::purchase : EventType::view;
    e.price_minor = 999;
    records.push_back(LogRecord{e, {}, {}});
  }
  // Logged, then handed to the engine, as the ingestor does.
  REQUIRE(store.append(AppendBatch{records, {}}));
  std::size_t pushed = 0;
  while (pushed < events.size()) pushed += ring.push_some(std::span<const Event>(events).subspan(pushed));
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.applied_through == 80000 && s.checkpoints >= 1; }));
  auto stored = store.get_checkpoint("window_engine");
  REQUIRE(stored);
  REQUIRE(stored->has_value());
  const Sequence through = (*stored)->covers_through;
  CHECK(through >= 60000);
  CHECK((*stored)->bytes.size() == runner.stats().checkpoint_bytes);
  CHECK((*stored)->bytes.size() > (std::size_t{4} << 20));  // at least two parts
  WindowEngine expected(window_config());
  expected.apply(std::vector<Event>(events.begin(), events.begin() + static_cast<std::ptrdiff_t>(through)));
  auto restored = WindowEngine::restore(window_config(), (*stored)->bytes);
  INFO((restored ? std::string() : restored.error().detail));
  REQUIRE(restored);
  CHECK(restored.value().applied_through() == through);
  // The runner's engine trims the users of settled minutes once their
  // rollups are written, so its bytes differ from an engine's on its own;
  // every figure is the same.
  CHECK(restored.value().checkpoint() == (*stored)->bytes);
  test::require_same_windows(*restored.value().snapshot(), *expected.snapshot());
  runner.stop();
}

