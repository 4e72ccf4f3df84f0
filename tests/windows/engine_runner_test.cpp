// The engine thread: restore from checkpoint + replay, failure and restart
// with backoff, pause and resume. The test is the ring's producer and writes
// the log itself, as the ingestor would.
#include <catch2/catch.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include <sys/wait.h>

#include "shoppulse/core/background_checkpoint.hpp"
#include "shoppulse/eventlog/memory_store.hpp"
#include "shoppulse/windows/engine_runner.hpp"
#include "support/counting_checkpoints.hpp"
#include "support/eventually.hpp"
#include "support/stepped_storage.hpp"
#include "oracle.hpp"

using namespace shoppulse;
using namespace std::chrono_literals;

namespace {

constexpr TimestampMs kStart = 1700000000000;  // 2023-11-14T22:13:20Z

// Rollups go to the real store, except that the first `failures` writes fail.
class FlakyRollups final : public RollupStore {
 public:
  FlakyRollups(RollupStore& inner, int failures) : inner_(inner), failures_left_(failures) {}
  Result<void> put_minutes(std::span<const std::pair<std::int64_t, std::string>> minutes) override {
    if (failures_left_.fetch_sub(1) > 0) return make_error(Errc::io_error, "injected rollup failure");
    return inner_.put_minutes(minutes);
  }
  Result<void> scan_minutes(std::int64_t from, std::int64_t to,
                            const std::function<void(std::int64_t, std::string_view)>& fn) const override {
    return inner_.scan_minutes(from, to, fn);
  }
  Result<void> drop_minutes_before(std::int64_t before) override { return inner_.drop_minutes_before(before); }

 private:
  RollupStore& inner_;
  std::atomic<int> failures_left_;
};

std::vector<Event> make_events(Sequence first, std::size_t n, TimestampMs start) {
  std::vector<Event> out;
  for (std::size_t i = 0; i < n; ++i) {
    Event e;
    e.sequence = first + i;
    e.time_ms = start + static_cast<TimestampMs>(i) * 1500;  // spans several minutes
    e.user = static_cast<Id>(1 + i % 7);
    e.product = static_cast<Id>(1 + i % 5);
    e.category = static_cast<Id>(1 + i % 3);
    e.type = i % 10 == 0 ? EventType::purchase : EventType::view;
    e.price_minor = 999;
    out.push_back(e);
  }
  return out;
}

// Appends to the log and hands the same events to the engine, like the ingestor.
void ingest(Storage& store, SpscRing<Event>& ring, const std::vector<Event>& events) {
  std::vector<LogRecord> records;
  for (const Event& e : events) records.push_back(LogRecord{e, {}, {}});
  REQUIRE(store.append(AppendBatch{records, {}}));
  std::size_t done = 0;
  while (done < events.size()) done += ring.push_some(std::span<const Event>(events).subspan(done));
}

// Waits for the engine thread's stats to satisfy `ready`: wait_until wakes
// at each change the thread makes to them, so nothing is polled. The
// deadline is far beyond any machine's need; it only bounds a failing test.
bool wait_for(const EngineRunner& runner, const std::function<bool(const EngineStats&)>& ready) {
  return runner.wait_until(ready, std::chrono::steady_clock::now() + 60s);
}

WindowConfig window_config() {
  WindowConfig c;
  c.allowed_lateness_ms = 0;
  return c;
}

EngineRunnerConfig publishing_every_10ms() {
  EngineRunnerConfig c;
  c.publish_interval_ms = 10;
  return c;
}

// Checkpoints by count only, every `events` applied events; publishing
// every 10 ms.
EngineRunnerConfig checkpoint_every(std::uint64_t events) {
  EngineRunnerConfig c = publishing_every_10ms();
  c.checkpoint_interval_ms = 3600000;  // never by time in these tests
  c.checkpoint_every_events = events;
  return c;
}

// A started runner over a memory store, publishing every 10 ms of the system
// clock; the test is the ring's producer (ingest()). Stopped when destroyed.
struct StartedRunner {
  std::unique_ptr<Storage> store = make_memory_store();
  SpscRing<Event> ring{1 << 12};
  SystemClock clock;
  MetricsRegistry metrics;
  EngineRunner runner;
  explicit StartedRunner(EngineRunnerConfig config = publishing_every_10ms())
      : runner{window_config(), std::move(config), ring, *store, *store, *store, clock, metrics} {
    runner.start();
  }
};

}  // namespace

TEST_CASE("a failing stream processor restarts after a backoff, counts it, and recovers every number",
          "[windows][runner]") {
  auto store = make_memory_store();
  FlakyRollups rollups(*store, 1);
  SpscRing<Event> ring(1 << 12);
  SystemClock clock;
  MetricsRegistry metrics;
  EngineRunnerConfig config;
  config.publish_interval_ms = 10;
  EngineRunner runner(window_config(), config, ring, *store, rollups, *store, clock, metrics);
  runner.start();
  const auto events = make_events(1, 400, kStart);
  ingest(*store, ring, events);
  // The first closed minute fails to reach the rollup store: the engine thread
  // fails, waits its backoff, restores from the log and carries on.
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.restarts == 1 && s.state == "running"; }));
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.applied_through == 400; }));
  const EngineStats stats = runner.stats();
  CHECK(stats.failures == 1);
  CHECK(stats.last_error.find("injected rollup failure") != std::string::npos);

  WindowEngine reference(window_config());
  reference.apply(events);
  const auto expected = reference.snapshot();
  const auto got = runner.latest();
  for (std::size_t s = 0; s < kWindowSpanCount; ++s) {
    CHECK(got->windows[s].current.events == expected->windows[s].current.events);
    CHECK(got->windows[s].current.active_users == expected->windows[s].current.active_users);
    CHECK(got->windows[s].current.revenue_minor == expected->windows[s].current.revenue_minor);
    CHECK(got->windows[s].top_products == expected->windows[s].top_products);
  }
  runner.stop();
  CHECK(runner.stats().state == "stopped");
}

TEST_CASE("a paused stream processor applies nothing until resumed, and loses nothing", "[windows][runner]") {
  StartedRunner rig;
  EngineRunner& runner = rig.runner;
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.state == "running"; }));
  runner.pause();
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.state == "paused"; }));
  ingest(*rig.store, rig.ring, make_events(1, 100, kStart));
  // Two tasks run in turn on the engine thread: the second runs a whole loop
  // turn after the first, and a running engine pops the ring in that turn.
  for (int turn = 0; turn < 2; ++turn) {
    std::promise<Sequence> applied;
    auto answer = applied.get_future();
    REQUIRE(runner.run_on_engine([&](const WindowEngine& engine) { applied.set_value(engine.applied_through()); }));
    CHECK(answer.get() == 0);
  }
  CHECK(runner.latest()->applied_through == 0);
  CHECK(rig.ring.size_approx() == 100);
  runner.resume();
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.applied_through == 100; }));
  runner.stop();
}

TEST_CASE("a restarted engine restores its checkpoint and replays only the tail", "[windows][runner]") {
  auto store = make_memory_store();
  SystemClock clock;
  MetricsRegistry metrics;
  EngineRunnerConfig config;
  config.publish_interval_ms = 10;
  const auto first = make_events(1, 300, kStart);
  const auto second = make_events(301, 200, kStart + 300 * 1500);
  {
    SpscRing<Event> ring(1 << 12);
    EngineRunner runner(window_config(), config, ring, *store, *store, *store, clock, metrics);
    runner.start();
    ingest(*store, ring, first);
    REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.applied_through == 300; }));
    runner.stop();  // writes a checkpoint covering 300
  }
  // Events logged while the engine was down.
  std::vector<LogRecord> records;
  for (const Event& e : second) records.push_back(LogRecord{e, {}, {}});
  REQUIRE(store->append(AppendBatch{records, {}}));

  SpscRing<Event> ring(1 << 12);
  EngineRunner runner(window_config(), config, ring, *store, *store, *store, clock, metrics);
  runner.start();
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.applied_through == 500; }));
  CHECK(runner.stats().replayed_events == 200);

  WindowEngine reference(window_config());
  reference.apply(first);
  reference.apply(second);
  const auto expected = reference.snapshot();
  const auto got = runner.latest();
  for (std::size_t s = 0; s < kWindowSpanCount; ++s) {
    CHECK(got->windows[s].current.events == expected->windows[s].current.events);
    CHECK(got->windows[s].current.active_users == expected->windows[s].current.active_users);
    CHECK(got->windows[s].previous.active_users == expected->windows[s].previous.active_users);
  }
  runner.stop();
}

namespace {
void append(Storage& store, const std::vector<Event>& events) {
  std::vector<LogRecord> records;
  for (const Event& e : events) records.push_back(LogRecord{e, {}, {}});
  REQUIRE(store.append(AppendBatch{records, {}}));
}

// Queues a query that reports the applied sequence it saw.
std::future<Sequence> ask_applied(EngineRunner& runner) {
  auto promise = std::make_shared<std::promise<Sequence>>();
  auto answer = promise->get_future();
  REQUIRE(runner.run_on_engine([promise](const WindowEngine& e) { promise->set_value(e.applied_through()); }));
  return answer;
}
}  // namespace

TEST_CASE("during the start-up replay queries are answered between log chunks and snapshots show the progress",
          "[windows][runner]") {
  auto store = make_memory_store();
  append(*store, make_events(1, 300, kStart));
  testing::SteppedStorage stepped(*store, 100);
  stepped.allow_chunks(1);
  SpscRing<Event> ring(1 << 12);
  SystemClock clock;
  MetricsRegistry metrics;
  EngineRunnerConfig config;
  config.publish_interval_ms = 0;  // publish after every chunk
  config.checkpoint_every_events = 0;
  EngineRunner runner(window_config(), config, ring, stepped, stepped, stepped, clock, metrics);
  runner.start();
  REQUIRE(stepped.wait_delivered(1));
  auto answer = ask_applied(runner);
  stepped.allow_chunks(2);
  // Answered after the second chunk while the third is still held back.
  REQUIRE(answer.wait_for(10s) == std::future_status::ready);
  CHECK(answer.get() == 200);
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.applied_through == 200; }));
  const EngineStats during = runner.stats();
  CHECK(during.state == "replaying");
  CHECK_FALSE(during.caught_up);
  CHECK(during.replay_target == 300);
  CHECK(during.applied_through == 200);

  stepped.allow_all();
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.caught_up; }));
  CHECK(runner.latest()->applied_through == 300);
  runner.stop();
}

TEST_CASE("while a checkpoint is read and decoded queries are answered from an empty engine", "[windows][runner]") {
  auto store = make_memory_store();
  SystemClock clock;
  MetricsRegistry metrics;
  EngineRunnerConfig config;
  config.publish_interval_ms = 10;
  {
    SpscRing<Event> ring(1 << 12);
    EngineRunner first(window_config(), config, ring, *store, *store, *store, clock, metrics);
    first.start();
    ingest(*store, ring, make_events(1, 300, kStart));
    REQUIRE(wait_for(first, [](const EngineStats& s) { return s.applied_through == 300; }));
    first.stop();  // checkpoints 300
  }
  testing::SteppedStorage stepped(*store, 100);
  stepped.hold_checkpoints();
  SpscRing<Event> ring(1 << 12);
  EngineRunner runner(window_config(), config, ring, stepped, stepped, stepped, clock, metrics);
  runner.start();
  REQUIRE(stepped.wait_checkpoint_requested());
  auto answer = ask_applied(runner);
  REQUIRE(answer.wait_for(10s) == std::future_status::ready);
  CHECK(answer.get() == 0);
  CHECK(runner.stats().state == "starting");
  CHECK_FALSE(runner.stats().caught_up);

  stepped.release_checkpoints();
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.caught_up; }));
  CHECK(runner.stats().replayed_events == 0);  // all of it came from the checkpoint
  CHECK(ask_applied(runner).get() == 300);
  runner.stop();
}

TEST_CASE("checkpoints are also taken every checkpoint_every_events, replayed events included", "[windows][runner]") {
  auto store = make_memory_store();
  append(*store, make_events(1, 250, kStart));
  testing::SteppedStorage stepped(*store, 50);
  SpscRing<Event> ring(1 << 12);
  SystemClock clock;
  MetricsRegistry metrics;
  EngineRunnerConfig config = checkpoint_every(100);
  EngineRunner runner(window_config(), config, ring, stepped, stepped, *store, clock, metrics);
  runner.start();
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.caught_up; }));
  // A process killed now restarts from 200, not from the beginning.
  auto checkpoint = store->get_checkpoint("window_engine");
  REQUIRE(checkpoint);
  REQUIRE(checkpoint->has_value());
  CHECK((*checkpoint)->covers_through == 200);
  CHECK(runner.stats().checkpoints == 2);

  // Live events count as well: 50 left over + 100 more passes 100 again.
  ingest(*store, ring, make_events(251, 100, kStart + 250 * 1500));
  // The third checkpoint is the one the live events trigger (none is due by
  // time); it is counted once it is stored.
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.checkpoints == 3; }));
  checkpoint = store->get_checkpoint("window_engine");
  REQUIRE(checkpoint);
  REQUIRE(checkpoint->has_value());
  CHECK((*checkpoint)->covers_through >= 300);
  runner.stop();
}

namespace {

// Checkpoints that take as long as the test says: while held (from the
// start, unless constructed released), put_checkpoint holds its caller
// until released, and counts and keeps the puts that entered, held or not
// (the store itself keeps only the newest, which a later put may replace
// before a test reads it). The
// background writer's streamed put reaches put_checkpoint too (the default
// put_checkpoint_from reads the bytes whole).
class HeldCheckpoints final : public CheckpointStore {
 public:
  explicit HeldCheckpoints(CheckpointStore& inner, bool held = true) : inner_(inner), released_(!held) {}
  Result<void> put_checkpoint(std::string_view name, const Checkpoint& checkpoint) override {
    std::unique_lock lock(mutex_);
    ++entered_;
    puts_.push_back(checkpoint);
    changed_.notify_all();
    changed_.wait(lock, [&] { return released_; });
    lock.unlock();
    return inner_.put_checkpoint(name, checkpoint);
  }
  Result<std::optional<Checkpoint>> get_checkpoint(std::string_view name) const override {
    return inner_.get_checkpoint(name);
  }
  int entered() {
    std::lock_guard lock(mutex_);
    return entered_;
  }
  // Waits until `n` puts have entered.
  bool wait_entered(int n = 1) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 60s, [&] { return entered_ >= n; });
  }
  // The i-th put that entered (from 0); precondition: entered() > i.
  Checkpoint put(std::size_t i) {
    std::lock_guard lock(mutex_);
    return puts_.at(i);
  }
  void hold() {
    std::lock_guard lock(mutex_);
    released_ = false;
  }
  void release() {
    std::lock_guard lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }

 private:
  CheckpointStore& inner_;
  std::mutex mutex_;
  std::condition_variable changed_;
  int entered_ = 0;
  std::vector<Checkpoint> puts_;
  bool released_;
};

// A runner whose checkpoints go through HeldCheckpoints. On the way out a
// held write is let go before the runner stops, so a failing check cannot
// leave the runner's writer waiting.
struct HeldRig {
  std::unique_ptr<Storage> store = make_memory_store();
  HeldCheckpoints checkpoints;
  SpscRing<Event> ring{1 << 12};
  SystemClock clock;
  MetricsRegistry metrics;
  EngineRunner runner;
  HeldRig(EngineRunnerConfig config, bool held)
      : checkpoints(*store, held),
        runner{window_config(), std::move(config), ring, *store, *store, checkpoints, clock, metrics} {
    runner.start();
  }
  ~HeldRig() {
    checkpoints.release();
    runner.stop();
  }
};

}  // namespace

TEST_CASE("a background checkpoint holds neither the events nor the queries of the engine thread, and stores the "
          "engine as it was when it was taken",
          "[windows][runner][checkpoint]") {
  EngineRunnerConfig config = checkpoint_every(100);
  // A minute whose rollup the runner has written by the fork is encoded as
  // spilled, which restores only beside that store; how many have been
  // written by then depends on the thread timing.
  config.spill_minutes = false;  // the checkpoint then restores on its own
  REQUIRE(config.checkpoint_in_background);  // the default
  HeldRig rig(config, /*held=*/true);
  auto& [store, held, ring, clock, metrics, runner] = rig;
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.caught_up; }));
  const auto events = make_events(1, 250, kStart);
  ingest(*store, ring, std::vector<Event>(events.begin(), events.begin() + 150));
  // The checkpoint due at 100 events is being written, and stays so.
  REQUIRE(held.wait_entered());
  // Meanwhile the engine thread applies more events and answers a query.
  ingest(*store, ring, std::vector<Event>(events.begin() + 150, events.end()));
  CHECK(wait_for(runner, [](const EngineStats& s) { return s.applied_through == 250; }));
  std::promise<Sequence> answered;
  REQUIRE(runner.run_on_engine([&](const WindowEngine& e) { answered.set_value(e.applied_through()); }));
  auto answer = answered.get_future();
  REQUIRE(answer.wait_for(60s) == std::future_status::ready);
  CHECK(answer.get() == 250);
  // Not counted until it is stored; the engine thread was held only for the fork.
  CHECK(runner.stats().checkpoints == 0);
  // The next one came due at 200 events and is put off while this one is
  // stored: only the checkpoint taken is timed, not each pass that found
  // the writer busy.
  CHECK(metrics.render_prometheus().find("shoppulse_engine_checkpoint_pause_seconds_count 1\n") !=
        std::string::npos);
  held.release();
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.checkpoints >= 1; }));
  // What was stored is the engine at the fork: the events through the
  // sequence it covers, none of those applied while it was written. (The
  // one put off may be stored by now too, over it in the store.)
  const Checkpoint first = held.put(0);
  const Sequence through = first.covers_through;
  CHECK(through >= 100);
  CHECK(through <= 150);
  WindowEngine expected(window_config());
  expected.apply(std::vector<Event>(events.begin(), events.begin() + static_cast<std::ptrdiff_t>(through)));
  auto restored = WindowEngine::restore(window_config(), first.bytes);
  INFO((restored ? std::string() : restored.error().detail));
  REQUIRE(restored);
  CHECK(restored.value().applied_through() == through);
  // The runner's engine drops the users of minutes whose rollups it has
  // written (as many as the thread timing let it write by the fork), so its
  // bytes may differ from an engine's on its own; every figure is the same.
  CHECK(restored.value().checkpoint() == first.bytes);
  test::require_same_windows(*restored.value().snapshot(), *expected.snapshot());
  runner.stop();
  // The stop waited for its own checkpoint, of everything applied.
  auto last = store->get_checkpoint("window_engine");
  REQUIRE(last);
  REQUIRE(last->has_value());
  CHECK((*last)->covers_through == 250);
}

TEST_CASE("a checkpoint with nothing applied since the stored one is not written again", "[windows][runner]") {
  auto store = make_memory_store();
  SystemClock clock;
  MetricsRegistry metrics;
  EngineRunnerConfig config = checkpoint_every(100);
  const auto covers = [&] {
    auto cp = store->get_checkpoint("window_engine");
    REQUIRE(cp);
    REQUIRE(cp->has_value());
    return (*cp)->covers_through;
  };
  // One runner's life on the store: start, take `events` (none: just catch
  // up), stop; the checkpoints it wrote.
  const auto run = [&](const std::vector<Event>& events) {
    SpscRing<Event> ring(1 << 12);
    EngineRunner runner(window_config(), config, ring, *store, *store, *store, clock, metrics);
    runner.start();
    REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.caught_up; }));
    if (!events.empty()) {
      ingest(*store, ring, events);
      REQUIRE(wait_for(runner, [&](const EngineStats& s) { return s.applied_through == events.back().sequence; }));
    }
    runner.stop();
    return runner.stats().checkpoints;
  };
  // 100 events: the count triggers one; the stop has nothing new.
  CHECK(run(make_events(1, 100, kStart)) == 1);
  CHECK(covers() == 100);
  // Restored from it, nothing new: the stop writes nothing.
  CHECK(run({}) == 0);
  CHECK(covers() == 100);
  // Restored, then 10 more: the stop writes them.
  CHECK(run(make_events(101, 10, kStart + 100 * 1500)) == 1);
  CHECK(covers() == 110);
}

TEST_CASE("a checkpoint that does not describe the log is not restored: the engine replays the whole log",
          "[windows][runner]") {
  // Checkpoints kept outside the data dir (MongoDB) outlive it: here the
  // checkpoint store saw 300 events, and the log is a new one with 100.
  auto checkpoint_store = make_memory_store();
  SystemClock clock;
  MetricsRegistry metrics;
  EngineRunnerConfig config;
  config.publish_interval_ms = 10;
  {
    SpscRing<Event> ring(1 << 12);
    EngineRunner runner(window_config(), config, ring, *checkpoint_store, *checkpoint_store, *checkpoint_store, clock,
                        metrics);
    runner.start();
    ingest(*checkpoint_store, ring, make_events(1, 300, kStart));
    REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.applied_through == 300; }));
    runner.stop();
  }
  auto old = checkpoint_store->get_checkpoint("window_engine");
  REQUIRE(old);
  REQUIRE(old->has_value());
  REQUIRE((*old)->covers_through == 300);

  auto log = make_memory_store();
  const auto fresh = make_events(1, 100, kStart + 3'600'000);
  append(*log, fresh);
  WindowEngine reference(window_config());
  reference.apply(fresh);

  SECTION("it covers sequences the log does not have") {}
  SECTION("it was taken under an incarnation that no longer names its events") {
    // The memory log has no incarnations (0): a checkpoint of another one
    // covering only sequences the log has is refused as well.
    Checkpoint foreign = **old;
    foreign.covers_through = 100;
    foreign.incarnation = 0x5eed;
    REQUIRE(checkpoint_store->put_checkpoint("window_engine", foreign));
  }
  SpscRing<Event> ring(1 << 12);
  EngineRunner runner(window_config(), config, ring, *log, *log, *checkpoint_store, clock, metrics);
  runner.start();
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.caught_up; }));
  CHECK(runner.stats().replayed_events == 100);
  const auto expected = reference.snapshot();
  const auto got = runner.latest();
  CHECK(got->applied_through == 100);
  for (std::size_t s = 0; s < kWindowSpanCount; ++s) {
    CHECK(got->windows[s].current.events == expected->windows[s].current.events);
    CHECK(got->windows[s].current.active_users == expected->windows[s].current.active_users);
  }
  runner.stop();
}

TEST_CASE("an engine with an empty ring counts its back-off sleeps and their time; events end them",
          "[windows][runner]") {
  auto store = make_memory_store();
  SpscRing<Event> ring(1 << 12);
  SystemClock clock;
  MetricsRegistry metrics;
  EngineRunner runner(window_config(), {}, ring, *store, *store, *store, clock, metrics);
  runner.start();
  // 32 yields, then sleeps: waited for, not slept for. The idle counters
  // are the one change wait_until is not woken by, so this waits by polling.
  REQUIRE(testing::eventually([&] { return runner.stats().idle_waits >= 3; }));
  const EngineStats idle = runner.stats();
  CHECK(idle.idle_wait > std::chrono::microseconds(0));
  CHECK(idle.applied_events == 0);
  ingest(*store, ring, make_events(1, 10, kStart));
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.applied_events == 10; }));
  CHECK(runner.stats().idle_wait >= idle.idle_wait);  // a total: never shrinks
  runner.stop();
}

TEST_CASE("a late event into a minute whose users the engine dropped adds its user to the stored minute",
          "[windows][runner]") {
  StartedRunner rig;
  EngineRunner& runner = rig.runner;
  Storage& store = *rig.store;
  // 400 events 1.5 s apart: ten minutes, users 1..7; the first minute is
  // long closed and its own users dropped by the end.
  ingest(store, rig.ring, make_events(1, 400, kStart));
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.applied_through == 400; }));
  const std::int64_t minute = kStart / 60'000;
  const auto stored = [&] {
    std::optional<MinuteRollup> out;
    REQUIRE(store.scan_minutes(minute, minute + 1, [&](std::int64_t m, std::string_view bytes) {
      out = decode_rollup(m, bytes).value();
    }));
    return out;
  };
  std::optional<MinuteRollup> before = stored();
  REQUIRE(before.has_value());
  REQUIRE(before->users.size() == 7);
  std::promise<bool> held;
  REQUIRE(runner.run_on_engine([&](const WindowEngine& engine) { held.set_value(engine.minute_rollup(minute).has_value()); }));
  REQUIRE_FALSE(held.get_future().get());  // the engine no longer has the minute's users

  Event late = make_events(401, 1, kStart + 1000).front();
  late.user = 99;
  late.type = EventType::add_to_cart;
  ingest(store, rig.ring, {late});
  // The engine stores the minutes it re-closed before it publishes.
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.applied_through == 401; }));
  const auto after = stored();
  REQUIRE(after.has_value());
  REQUIRE(after->events[static_cast<std::size_t>(EventType::add_to_cart)] == 1);
  REQUIRE(after->users.size() == 8);
  for (std::size_t i = 0; i < 7; ++i) REQUIRE(after->users[i] == before->users[i]);
  REQUIRE(after->users[7] == std::pair<Id, std::uint8_t>{99, type_bit(EventType::add_to_cart)});
  runner.stop();
}

namespace {
// The 24 h window's events and users, as published and as a reference engine
// keeping only `owned`'s partitions has them.
bool same_24h(const WindowSnapshot& got, const WindowSnapshot& want) {
  const auto& g = got.window(WindowSpan::h24).current;
  const auto& w = want.window(WindowSpan::h24).current;
  return g.events == w.events && g.active_users == w.active_users;
}

std::shared_ptr<const WindowSnapshot> reference_for(const Dictionary& dict, const PartitionOwnership& ownership,
                                                    const std::vector<Event>& events) {
  WindowEngine reference(window_config());
  reference.set_keep(PartitionFilter(dict, ownership.current()));
  reference.apply(events);
  return reference.snapshot();
}
}  // namespace

TEST_CASE("in cluster mode the engine counts only the owned partitions, rebuilds for a new set, and restores only a "
          "checkpoint of the same set",
          "[windows][runner][cluster]") {
  auto store = make_memory_store();
  SystemClock clock;
  MetricsRegistry metrics;
  Dictionary dict;
  for (int u = 1; u <= 7; ++u) REQUIRE(dict.table(IdKind::user).intern("user-" + std::to_string(u)).first == Id(u));
  auto events = make_events(1, 300, kStart);
  const auto more = make_events(301, 200, kStart + 300 * 1500);
  std::vector<Event> all = events;
  all.insert(all.end(), more.begin(), more.end());
  EngineRunnerConfig config;
  config.publish_interval_ms = 10;
  {
    PartitionOwnership ownership(dict);
    config.ownership = &ownership;
    SpscRing<Event> ring(1 << 12);
    EngineRunner runner(window_config(), config, ring, *store, *store, *store, clock, metrics);
    runner.start();
    // Before the first assignment nothing counts.
    ingest(*store, ring, events);
    REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.applied_through == 300; }));
    CHECK(runner.latest()->window(WindowSpan::h24).current.total_events() == 0);

    ownership.assign({0, 1, 2}, 6);
    REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.owned_version == 1 && !s.rebuilding; }));
    CHECK(runner.stats().rebuilds == 1);
    CHECK(runner.stats().owned == std::vector<std::int32_t>{0, 1, 2});
    CHECK(same_24h(*runner.latest(), *reference_for(dict, ownership, events)));
    ingest(*store, ring, more);  // live events go through the same set
    REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.applied_through == 500; }));
    CHECK(same_24h(*runner.latest(), *reference_for(dict, ownership, all)));

    ownership.assign({3, 4, 5}, 6);
    REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.owned_version == 2 && !s.rebuilding; }));
    CHECK(runner.stats().rebuilds == 2);
    CHECK(same_24h(*runner.latest(), *reference_for(dict, ownership, all)));
    CHECK(runner.latest()->window(WindowSpan::h24).current.total_events() > 0);
    runner.stop();  // a checkpoint of {3, 4, 5}
  }
  PartitionOwnership ownership(dict);
  config.ownership = &ownership;
  SpscRing<Event> ring(1 << 12);
  EngineRunner runner(window_config(), config, ring, *store, *store, *store, clock, metrics);
  runner.start();
  ownership.assign({3, 4, 5}, 6);  // the checkpoint's set: restored, nothing replayed
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.owned_version == 1 && !s.rebuilding; }));
  CHECK(runner.stats().replayed_events == 0);
  // The replay's bounds (a rebuild's progress is replayed / (target - from + 1)):
  // after the checkpoint, nothing left to read.
  CHECK(runner.stats().replay_from == 501);
  CHECK(runner.stats().replay_target == 500);
  CHECK(same_24h(*runner.latest(), *reference_for(dict, ownership, all)));
  ownership.assign({0, 1, 2}, 6);  // another set: the whole log read again
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.owned_version == 2 && !s.rebuilding; }));
  CHECK(runner.stats().replayed_events == 500);
  CHECK(runner.stats().replay_from == 1);
  CHECK(runner.stats().replay_target == 500);
  CHECK(same_24h(*runner.latest(), *reference_for(dict, ownership, all)));
  runner.stop();
}

TEST_CASE("a thread waiting in wait_until is woken by the engine thread's changes, and a passed deadline answers false",
          "[windows][runner]") {
  StartedRunner rig;
  EngineRunner& runner = rig.runner;
  const auto deadline = [] { return std::chrono::steady_clock::now() + 60s; };
  REQUIRE(runner.wait_until([](const EngineStats& s) { return s.state == "running"; }, deadline()));
  runner.pause();
  REQUIRE(runner.wait_until([](const EngineStats& s) { return s.state == "paused"; }, deadline()));
  // Nothing can be applied while paused: a deadline already passed answers
  // at once with what the predicate says.
  CHECK_FALSE(runner.wait_until([](const EngineStats& s) { return s.applied_through > 0; },
                                std::chrono::steady_clock::now()));
  // The waiter blocks before the events exist; the publish that covers them wakes it.
  auto waited = std::async(std::launch::async, [&] {
    return runner.wait_until([](const EngineStats& s) { return s.applied_through >= 100; }, deadline());
  });
  ingest(*rig.store, rig.ring, make_events(1, 100, kStart));
  runner.resume();
  REQUIRE(waited.get());
  CHECK(runner.latest()->applied_through == 100);
  CHECK(runner.stats().applied_events == 100);
  runner.stop();
  CHECK(runner.wait_until([](const EngineStats& s) { return s.state == "stopped"; }, std::chrono::steady_clock::now()));
}

TEST_CASE("settled minutes spill to the rollup store, and a restart with late events for them counts every event once",
          "[windows][runner][spill]") {
  auto store = make_memory_store();
  SystemClock clock;
  MetricsRegistry metrics;
  EngineRunnerConfig config;
  config.publish_interval_ms = 10;
  // 400 events 1.5 s apart: ten minutes, the first ones settled by the end.
  const auto first = make_events(1, 400, kStart);
  std::vector<Event> second = make_events(401, 200, kStart + 400 * 1500);
  for (std::size_t i = 0; i < second.size(); i += 20) second[i].time_ms = kStart + 1000 * static_cast<TimestampMs>(i);
  {
    SpscRing<Event> ring(1 << 12);
    EngineRunner runner(window_config(), config, ring, *store, *store, *store, clock, metrics);
    runner.start();
    ingest(*store, ring, first);
    REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.applied_through == 400 && s.memory.spilled_minutes > 0; }));
    // A late event for a spilled minute while running: read back, changed, stored again.
    ingest(*store, ring, {second.front()});
    REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.applied_through == 401; }));
    runner.stop();  // writes a checkpoint covering 401
  }
  // Logged while the engine was down, late ones for spilled minutes among them.
  append(*store, std::vector<Event>(second.begin() + 1, second.end()));

  SpscRing<Event> ring(1 << 12);
  EngineRunner runner(window_config(), config, ring, *store, *store, *store, clock, metrics);
  runner.start();
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.applied_through == 600 && s.caught_up; }));
  CHECK(runner.stats().replayed_events == 199);
  CHECK(runner.stats().memory.spilled_minutes > 0);

  WindowConfig all = window_config();
  all.top_n = 100;
  WindowEngine reference(all);
  reference.apply(first);
  reference.apply(second);
  std::promise<bool> same;
  REQUIRE(runner.run_on_engine([&](const WindowEngine& engine) {
    bool ok = true;
    for (WindowSpan span : {WindowSpan::h1, WindowSpan::h24}) {
      const WindowView got = engine.window_view(span, 100), want = reference.window_view(span, 100);
      ok = ok && got.current.events == want.current.events && got.top_products == want.top_products &&
           got.top_categories == want.top_categories && got.devices == want.devices;
    }
    same.set_value(ok);
  }));
  REQUIRE(same.get_future().get());
  // The store's minutes hold each event once.
  std::uint64_t stored = 0;
  REQUIRE(store->scan_minutes(kStart / 60'000 - 1, kStart / 60'000 + 60, [&](std::int64_t m, std::string_view bytes) {
    const MinuteRollup r = decode_rollup(m, bytes).value();
    for (const auto& p : r.products) stored += p.count;
  }));
  std::uint64_t closed_events = 0;
  const std::int64_t end = reference.watermark_ms() / 60'000;
  for (const std::vector<Event>* part : {&first, static_cast<const std::vector<Event>*>(&second)})
    for (const Event& e : *part)
      if (e.time_ms / 60'000 < end) ++closed_events;
  CHECK(stored == closed_events);
  runner.stop();
}

TEST_CASE("with rollups kept less than 48 hours the engine keeps settled minutes in memory", "[windows][runner][spill]") {
  EngineRunnerConfig config = publishing_every_10ms();
  config.rollup_retention_ms = 24LL * 3600 * 1000;
  StartedRunner rig(config);
  ingest(*rig.store, rig.ring, make_events(1, 400, kStart));  // ten minutes: the first ones settled
  // Published after the rollups of what it applied were stored: with
  // spilling on, the settled minutes would have spilled by then.
  REQUIRE(wait_for(rig.runner, [](const EngineStats& s) { return s.applied_through == 400; }));
  CHECK(rig.runner.stats().memory.spilled_minutes == 0);
}

namespace {
// Returns once the engine thread has finished the pass it is in (queries
// run at the top of the next one).
void engine_pass_done(EngineRunner& runner) {
  std::promise<void> done;
  REQUIRE(runner.run_on_engine([&](const WindowEngine&) { done.set_value(); }));
  REQUIRE(done.get_future().wait_for(std::chrono::seconds(60)) == std::future_status::ready);
}
}  // namespace

TEST_CASE("rollup retention counts back from the stored checkpoint's state, not from a newer one still being written",
          "[windows][runner][checkpoint]") {
  EngineRunnerConfig config = publishing_every_10ms();
  config.checkpoint_interval_ms = 3600000;  // by count only
  config.checkpoint_every_events = 100;
  config.rollup_retention_ms = 49LL * 3600 * 1000;  // the shortest that spills settled minutes
  HeldRig rig(config, /*held=*/false);
  auto& [store, checkpoints, ring, clock, metrics, runner] = rig;
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.caught_up; }));
  // 100 events a minute apart from kStart, then 100 from 60 h later, then
  // 100 from 61 h later; each hundred makes a checkpoint due.
  const auto spaced = [](Sequence first, TimestampMs start) {
    auto events = make_events(first, 100, start);
    for (std::size_t i = 0; i < events.size(); ++i) events[i].time_ms = start + static_cast<TimestampMs>(i) * 60'000;
    return events;
  };
  const std::int64_t first_minute = kStart / 60'000;
  const auto stored_early_minutes = [&] {
    std::size_t n = 0;
    REQUIRE(store->scan_minutes(first_minute, first_minute + 90, [&](std::int64_t, std::string_view) { ++n; }));
    return n;
  };
  ingest(*store, ring, spaced(1, kStart));
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.checkpoints == 1 && s.applied_through == 100; }));
  engine_pass_done(runner);  // its retention pass is done too
  REQUIRE(stored_early_minutes() == 90);
  // The second checkpoint is taken 60 h of event time later and held in the
  // store. Until it is stored a restart restores the first, which reads
  // those minutes back: the retention pass after its start counts from the
  // first's newest event and keeps them.
  checkpoints.hold();
  const int entered = checkpoints.entered();
  ingest(*store, ring, spaced(101, kStart + 60LL * 3600 * 1000));
  REQUIRE(checkpoints.wait_entered(entered + 1));
  engine_pass_done(runner);
  CHECK(runner.stats().checkpoints == 1);
  CHECK(stored_early_minutes() == 90);
  checkpoints.release();
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.checkpoints == 2 && s.applied_through == 200; }));
  // Once the second is stored, the next checkpoint's retention pass drops
  // them (the second holds none of them).
  ingest(*store, ring, spaced(201, kStart + 61LL * 3600 * 1000));
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.checkpoints == 3 && s.applied_through == 300; }));
  engine_pass_done(runner);
  CHECK(stored_early_minutes() == 0);
  runner.stop();
}

namespace {
// A copy of the rollups that lags (MongoDB with storage.rollups = mongodb):
// writes reach the embedded store at once, reads see nothing yet.
class LaggingCopy final : public RollupStore {
 public:
  explicit LaggingCopy(RollupStore& local) : local_(local) {}
  Result<void> put_minutes(std::span<const std::pair<std::int64_t, std::string>> minutes) override {
    return local_.put_minutes(minutes);
  }
  Result<void> scan_minutes(std::int64_t, std::int64_t,
                            const std::function<void(std::int64_t, std::string_view)>&) const override {
    return {};
  }
  Result<void> drop_minutes_before(std::int64_t before) override { return local_.drop_minutes_before(before); }

 private:
  RollupStore& local_;
};
}  // namespace

TEST_CASE("a late event's re-closed minute joins the users of the embedded store's copy, not of a lagging one",
          "[windows][runner]") {
  auto store = make_memory_store();
  LaggingCopy copy(*store);
  SystemClock clock;
  MetricsRegistry metrics;
  EngineRunnerConfig config = publishing_every_10ms();
  config.read_back = store.get();
  SpscRing<Event> ring(1 << 12);
  EngineRunner runner(window_config(), config, ring, *store, copy, *store, clock, metrics);
  runner.start();
  ingest(*store, ring, make_events(1, 400, kStart));  // ten minutes; the first one's users long dropped
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.applied_through == 400; }));
  Event late = make_events(401, 1, kStart + 1000).front();
  late.user = 99;
  ingest(*store, ring, {late});
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.applied_through == 401; }));
  runner.stop();
  const std::int64_t minute = kStart / 60'000;
  std::optional<MinuteRollup> stored;
  REQUIRE(store->scan_minutes(minute, minute + 1, [&](std::int64_t m, std::string_view bytes) {
    stored = decode_rollup(m, bytes).value();
  }));
  REQUIRE(stored.has_value());
  REQUIRE(stored->users.size() == 8);  // users 1..7 and 99, not 99 alone
  REQUIRE(stored->users.back().first == 99);
}

namespace {
// Checkpoints whose first `failures` writes fail; counts the attempts.
class FailingCheckpoints final : public CheckpointStore {
 public:
  FailingCheckpoints(CheckpointStore& inner, int failures) : inner_(inner), failures_left_(failures) {}
  Result<void> put_checkpoint(std::string_view name, const Checkpoint& checkpoint) override {
    {
      std::lock_guard lock(mutex_);
      ++attempts_;
      changed_.notify_all();
      if (failures_left_ > 0) {
        --failures_left_;
        return make_error(Errc::io_error, "injected checkpoint failure");
      }
    }
    return inner_.put_checkpoint(name, checkpoint);
  }
  Result<std::optional<Checkpoint>> get_checkpoint(std::string_view name) const override {
    return inner_.get_checkpoint(name);
  }
  bool wait_attempts(int n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 60s, [&] { return attempts_ >= n; });
  }

 private:
  CheckpointStore& inner_;
  std::mutex mutex_;
  std::condition_variable changed_;
  int attempts_ = 0;
  int failures_left_;
};
}  // namespace

TEST_CASE("a background checkpoint whose write fails is not counted, and the next one is written even with nothing "
          "applied since",
          "[windows][runner][checkpoint]") {
  auto store = make_memory_store();
  FailingCheckpoints failing(*store, 1);
  SpscRing<Event> ring(1 << 12);
  SystemClock clock;
  MetricsRegistry metrics;
  EngineRunnerConfig config = checkpoint_every(100);
  EngineRunner runner(window_config(), config, ring, *store, *store, failing, clock, metrics);
  runner.start();
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.caught_up; }));
  ingest(*store, ring, make_events(1, 100, kStart));
  // The checkpoint due at 100 events is taken in the background and fails.
  REQUIRE(failing.wait_attempts(1));
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.applied_through == 100; }));
  // The stop waits for it, sees it failed, and writes the same state again
  // (without that, the runner would believe 100 stored and write nothing).
  runner.stop();
  auto stored = store->get_checkpoint("window_engine");
  REQUIRE(stored);
  REQUIRE(stored->has_value());
  CHECK((*stored)->covers_through == 100);
  CHECK(runner.stats().checkpoints == 1);
}

using shoppulse::testing::CountingCheckpoints;

TEST_CASE("a background checkpoint that cannot fork, or cannot start its writer thread, is written in the "
          "foreground, counted, and leaves no child",
          "[windows][runner][checkpoint][fault]") {
  auto store = make_memory_store();
  CountingCheckpoints counting(*store);
  SpscRing<Event> ring(1 << 12);
  SystemClock clock;
  MetricsRegistry metrics;
  EngineRunnerConfig config = checkpoint_every(100);
  REQUIRE(config.checkpoint_in_background);  // the default
  EngineRunner runner(window_config(), config, ring, *store, *store, counting, clock, metrics);
  // Armed for the one start() of the checkpoint due at 100 events (the
  // runner's first: nothing is in the store to replay or restore).
  SECTION("the fork fails") { CHECK_FALSE(BackgroundEncoding::testing_fail_next_fork()); }
  SECTION("the writer thread cannot be started") {
    CHECK_FALSE(BackgroundCheckpointWriter::testing_fail_next_thread_start());
  }
  runner.start();
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.caught_up; }));
  ingest(*store, ring, make_events(1, 100, kStart));
  // Without the fallback nothing would be stored until the stop.
  REQUIRE(wait_for(runner, [](const EngineStats& s) { return s.checkpoints == 1; }));
  // The start() took its fault, and the engine thread wrote the checkpoint
  // whole: the background writer never stored anything.
  CHECK_FALSE(BackgroundEncoding::testing_fail_next_fork(false));
  CHECK_FALSE(BackgroundCheckpointWriter::testing_fail_next_thread_start(false));
  CHECK(counting.whole == 1);
  CHECK(counting.streamed == 0);
  auto stored = store->get_checkpoint("window_engine");
  REQUIRE(stored);
  REQUIRE(stored->has_value());
  CHECK((*stored)->covers_through == 100);
  // No child of this process is left, running or unreaped (a child forked
  // before the thread failed is killed and reaped by start()).
  errno = 0;
  CHECK(::waitpid(-1, nullptr, WNOHANG) < 0);
  CHECK(errno == ECHILD);
  runner.stop();
  // The stop found the stored checkpoint current: nothing written twice.
  CHECK(runner.stats().checkpoints == 1);
  CHECK(counting.whole == 1);
}
