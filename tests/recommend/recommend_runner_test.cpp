#include <catch2/catch.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include <sys/wait.h>

#include "shoppulse/eventlog/memory_store.hpp"
#include "shoppulse/recommend/recommend_runner.hpp"

#include "shoppulse/core/background_checkpoint.hpp"
#include "shoppulse/core/background_encoding.hpp"
#include "log_order.hpp"
#include "support/counting_checkpoints.hpp"
#include "support/eventually.hpp"
#include "support/stepped_storage.hpp"

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

using testing::eventually;

// Waits for the recommend thread's stats to satisfy `ready`: wait_until
// wakes at each change the thread makes to them, so nothing is polled. The
// deadline is far beyond any machine's need; it only bounds a failing test.
bool wait_for(const RecommendRunner& runner, const std::function<bool(const RecommendRunnerStats&)>& ready) {
  return runner.wait_until(ready, std::chrono::steady_clock::now() + std::chrono::seconds(60));
}

// Waits until the stored checkpoint satisfies `good`, looking again after
// each checkpoint the runner counts (it counts one once it is stored).
bool wait_for_checkpoint(const RecommendRunner& runner, const CheckpointStore& store,
                         const std::function<bool(const Checkpoint&)>& good) {
  for (;;) {
    const std::uint64_t seen = runner.stats().checkpoints;  // before the look: a later one wakes the wait
    auto cp = store.get_checkpoint("recommender");
    if (cp && cp.value() && good(*cp.value())) return true;
    if (!wait_for(runner, [seen](const RecommendRunnerStats& s) { return s.checkpoints > seen; })) return false;
  }
}
}  // namespace

TEST_CASE("The recommend thread replays the log, then applies offered events", "[recommend]") {
  auto store = make_memory_store();
  const auto first = records(1, 20);
  REQUIRE(store->append(AppendBatch{first, {}}));
  SystemClock clock;
  RecommendRunner runner({}, {}, *store, *store, clock);
  runner.start();
  CHECK(wait_for(runner, [](const RecommendRunnerStats& s) { return s.applied_through == 20; }));
  CHECK(applied_through(runner) == 20);
  const auto more = records(21, 5);
  REQUIRE(store->append(AppendBatch{more, {}}));
  const auto live = events_of(more);
  runner.offer(live);
  CHECK(wait_for(runner, [](const RecommendRunnerStats& s) { return s.applied_through == 25; }));
  CHECK(applied_through(runner) == 25);
  // A publish has no stats field of its own to wait for: polled.
  CHECK(eventually([&] { return runner.latest()->stats.applied_through == 25; }));
  CHECK_FALSE(runner.latest()->popular.empty());
  CHECK(runner.latest()->memory_bytes > 0);
  runner.stop();
  CHECK_FALSE(runner.run_on_recommender([](const Recommender&) {}));
}

TEST_CASE("Events lost to a full hand-off ring are re-read from the log", "[recommend]") {
  auto store = make_memory_store();
  SystemClock clock;
  RecommendRunnerConfig config;
  config.ring_capacity = 2;
  RecommendRunner runner({}, config, *store, *store, clock);
  runner.start();
  CHECK(wait_for(runner, [](const RecommendRunnerStats& s) { return s.state == "running"; }));
  const auto rs = records(1, 50);
  REQUIRE(store->append(AppendBatch{rs, {}}));
  const auto live = events_of(rs);
  runner.offer(live);  // only 2 fit
  CHECK(wait_for(runner, [](const RecommendRunnerStats& s) { return s.applied_through == 50; }));
  CHECK(applied_through(runner) == 50);
  // A gap read is counted before it starts, so its progress implies its count.
  CHECK(runner.stats().gap_reads >= 1);
  runner.stop();
}

namespace {
std::string state_bytes(RecommendRunner& runner) {
  std::promise<std::string> p;
  auto f = p.get_future();
  REQUIRE(runner.run_on_recommender([&](const Recommender& r) { p.set_value(r.checkpoint()); }));
  return f.get();
}
}  // namespace

TEST_CASE("An idle recommend thread reads from the log only what its feeder has dealt with", "[recommend]") {
  auto store = make_memory_store();
  SystemClock clock;
  std::atomic<Sequence> fed{0};
  RecommendRunnerConfig config;
  config.fed_through = [&fed] { return fed.load(); };
  RecommendRunner runner({}, config, *store, *store, clock);
  runner.start();
  CHECK(wait_for(runner, [](const RecommendRunnerStats& s) { return s.state == "running"; }));
  // The log runs ahead of the engine, which has dealt with the first 40
  // events and offered none of them (as after a replay of its own).
  const auto rs = records(1, 100);
  REQUIRE(store->append(AppendBatch{rs, {}}));
  fed = 40;
  CHECK(wait_for(runner, [](const RecommendRunnerStats& s) { return s.applied_through == 40; }));
  // Each round trip is at least one turn of the idle loop, which reads the
  // log every 64 idle turns: 200 of them leave three chances to read past
  // the feeder, and none is taken.
  for (int turn = 0; turn < 200; ++turn) REQUIRE(applied_through(runner) == 40);
  const std::uint64_t reads = runner.stats().gap_reads;
  CHECK(reads >= 1);
  CHECK(runner.stats().gap_read_events == 40);
  // What the engine applies live comes through the ring, not the log.
  const auto live = events_of(rs);
  runner.offer(std::span<const Event>(live).subspan(40, 30));
  fed = 70;
  CHECK(wait_for(runner, [](const RecommendRunnerStats& s) { return s.applied_through == 70; }));
  for (int turn = 0; turn < 200; ++turn) REQUIRE(applied_through(runner) == 70);
  CHECK(runner.stats().gap_reads == reads);
  // The rest, dealt with and never offered, is read once the feeder says so.
  fed = 100;
  CHECK(wait_for(runner, [](const RecommendRunnerStats& s) { return s.gap_read_events == 70; }));
  CHECK(runner.stats().applied_through == 100);
  CHECK(runner.stats().gap_reads == reads + 1);
  Recommender replay;
  replay.apply(live);
  CHECK(state_bytes(runner) == replay.checkpoint());
  runner.stop();
}


TEST_CASE("The recommend thread restarts from its checkpoint plus the log after it", "[recommend][checkpoint]") {
  auto store = make_memory_store();
  SystemClock clock;
  const auto first = records(1, 40);
  REQUIRE(store->append(AppendBatch{first, {}}));
  {
    RecommendRunner runner({}, {}, *store, *store, clock);
    runner.start();
    CHECK(wait_for(runner, [](const RecommendRunnerStats& s) { return s.applied_through == 40; }));
    CHECK(applied_through(runner) == 40);
    runner.stop();  // checkpoints what it applied
    CHECK(runner.stats().checkpoints == 1);
    CHECK(runner.stats().checkpoint_bytes > 0);
  }
  auto cp = store->get_checkpoint("recommender");
  REQUIRE(cp);
  REQUIRE(cp.value().has_value());
  CHECK(cp.value()->covers_through == 40);

  const auto second = records(41, 15);
  REQUIRE(store->append(AppendBatch{second, {}}));
  Recommender uninterrupted;
  uninterrupted.apply(events_of(first));
  uninterrupted.apply(events_of(second));

  RecommendRunner runner({}, {}, *store, *store, clock);
  runner.start();
  CHECK(wait_for(runner, [](const RecommendRunnerStats& s) { return s.state == "running"; }));
  const RecommendRunnerStats st = runner.stats();
  CHECK(st.restored_through == 40);
  CHECK(st.replayed_events == 15);
  CHECK(state_bytes(runner) == uninterrupted.checkpoint());
  runner.stop();

  SECTION("a checkpoint from other learning settings is ignored: the whole log is replayed") {
    RecommenderConfig other;
    other.max_neighbours = 3;
    Recommender expected(other);
    expected.apply(events_of(first));
    expected.apply(events_of(second));
    RecommendRunner fresh(other, {}, *store, *store, clock);
    fresh.start();
    CHECK(wait_for(fresh, [](const RecommendRunnerStats& s) { return s.state == "running"; }));
    CHECK(fresh.stats().restored_through == 0);
    CHECK(fresh.stats().replayed_events == 55);
    CHECK(state_bytes(fresh) == expected.checkpoint());
    fresh.stop();
  }
}

TEST_CASE("The recommend thread checkpoints periodically while running", "[recommend][checkpoint]") {
  auto store = make_memory_store();
  ManualClock clock(1700000000000);
  RecommendRunnerConfig config;
  config.checkpoint_interval_ms = 20;
  RecommendRunner runner({}, config, *store, *store, clock);
  runner.start();
  const auto rs = records(1, 30);
  REQUIRE(store->append(AppendBatch{rs, {}}));
  const auto live = events_of(rs);
  runner.offer(live);
  // Time passes an interval once the thread has taken its first timestamp:
  // after the replay (which may apply the events), before the first task
  // it runs in its main loop.
  REQUIRE(wait_for(runner, [](const RecommendRunnerStats& s) { return s.caught_up && s.applied_through == 30; }));
  CHECK(applied_through(runner) == 30);
  clock.advance(config.checkpoint_interval_ms);
  CHECK(wait_for_checkpoint(runner, *store, [](const Checkpoint& cp) { return cp.covers_through == 30; }));
  // Nothing new applied: no further writes, however many intervals pass.
  // Each task runs a loop turn after the previous one, and every turn
  // checks whether a checkpoint is due; the first two let the turn that
  // wrote the checkpoint finish counting it.
  for (int turn = 0; turn < 2; ++turn) (void)applied_through(runner);
  const std::uint64_t written = runner.stats().checkpoints;
  CHECK(written >= 1);
  for (int interval = 0; interval < 5; ++interval) {
    clock.advance(config.checkpoint_interval_ms);
    for (int turn = 0; turn < 2; ++turn) (void)applied_through(runner);
  }
  CHECK(runner.stats().checkpoints == written);
  runner.stop();
  CHECK(runner.stats().checkpoints == written);
}

TEST_CASE("Offers refused by a full ring in the middle of a stream leave no hole in the model", "[recommend]") {
  auto store = make_memory_store();
  SystemClock clock;
  // Varied users and products so a skipped event changes the model.
  std::vector<LogRecord> rs;
  for (int i = 0; i < 20000; ++i) {
    LogRecord r;
    r.event.sequence = static_cast<Sequence>(i + 1);
    r.event.time_ms = kT0 + i * 100;
    r.event.user = 1 + static_cast<Id>((i * 7919) % 301);
    r.event.product = 1 + static_cast<Id>((i * 104729) % 997);
    r.event.type = i % 11 == 0 ? EventType::add_to_cart : EventType::view;
    rs.push_back(r);
  }
  RecommendRunnerConfig config;
  config.ring_capacity = 8;  // offers of 5 often fit only in part
  RecommendRunner runner({}, config, *store, *store, clock);
  runner.start();
  CHECK(wait_for(runner, [](const RecommendRunnerStats& s) { return s.state == "running"; }));
  const auto events = events_of(rs);
  // The log holds every event before it is offered, as in the server.
  REQUIRE(store->append(AppendBatch{rs, {}}));
  for (std::size_t i = 0; i < events.size(); i += 5)
    runner.offer(std::span<const Event>(events).subspan(i, std::min<std::size_t>(5, events.size() - i)));
  CHECK(wait_for(runner, [](const RecommendRunnerStats& s) { return s.applied_through == 20000; }));
  CHECK(applied_through(runner) == 20000);
  CHECK(runner.stats().dropped_offers > 0);
  Recommender replay;
  replay.apply(events);
  CHECK(state_bytes(runner) == replay.checkpoint());
  runner.stop();
}

TEST_CASE("A popped batch with holes is applied in log order, the holes read from the log first",
          "[recommend]") {
  std::vector<Event> log;
  for (Sequence q = 1; q <= 12; ++q) {
    Event e;
    e.sequence = q;
    e.time_ms = kT0 + static_cast<TimestampMs>(q) * 1000;
    e.user = 1 + static_cast<Id>(q % 3);
    e.product = 10 + static_cast<Id>(q % 5);
    e.type = EventType::view;
    log.push_back(e);
  }
  // Popped: 1-3, then 6-7, then 9-12 (4-5 and 8 were refused by a full ring).
  std::vector<Event> popped;
  for (Sequence q : {1, 2, 3, 6, 7, 9, 10, 11, 12}) popped.push_back(log[q - 1]);
  Recommender replay;
  replay.apply(log);

  SECTION("every hole is read before the run after it") {
    Recommender r;
    std::vector<Sequence> asked;
    const std::size_t reads = recommend_detail::apply_in_log_order(r, popped, [&](Sequence until) {
      asked.push_back(until);
      r.apply(std::span<const Event>(log).subspan(r.applied_through(), until - 1 - r.applied_through()));
    });
    CHECK(reads == 2);
    CHECK(asked == std::vector<Sequence>{6, 9});
    CHECK(r.checkpoint() == replay.checkpoint());
  }
  SECTION("a hole the log cannot fill stops the batch before it") {
    Recommender r;
    recommend_detail::apply_in_log_order(r, popped, [](Sequence) {});
    CHECK(r.applied_through() == 3);
  }
}

TEST_CASE("A background checkpoint holds the model as it was at start(), whatever is applied meanwhile",
          "[recommend][checkpoint]") {
  const auto early = events_of(records(1, 400));
  const auto later = events_of(records(401, 400));
  Recommender r;
  r.apply(early);
  const std::string expected = r.checkpoint();
  BackgroundEncoding background;
  REQUIRE(background.start([&r] { return r.checkpoint(); }));
  CHECK(background.running());
  r.apply(later);  // the owner goes on at once
  auto bytes = background.finish();
  REQUIRE(bytes);
  CHECK_FALSE(background.running());
  CHECK(bytes.value() == expected);
  CHECK(bytes.value() != r.checkpoint());
  auto restored = Recommender::restore(RecommenderConfig{}, bytes.value());
  REQUIRE(restored);
  CHECK(restored.value().applied_through() == 400);
}

TEST_CASE("Periodic checkpoints in the background land in the store; stop writes the final one after them",
          "[recommend][checkpoint]") {
  auto store = make_memory_store();
  SystemClock clock;
  RecommendRunnerConfig config;
  config.checkpoint_interval_ms = 1;
  config.checkpoint_in_background = true;
  RecommendRunner runner({}, config, *store, *store, clock);
  runner.start();
  const auto rs = records(1, 50);
  REQUIRE(store->append(AppendBatch{rs, {}}));
  runner.offer(events_of(rs));
  CHECK(wait_for_checkpoint(runner, *store, [](const Checkpoint& cp) { return cp.covers_through == 50; }));
  const auto more = records(51, 50);
  REQUIRE(store->append(AppendBatch{more, {}}));
  runner.offer(events_of(more));
  CHECK(applied_through(runner) == 100);
  runner.stop();
  CHECK(runner.stats().checkpoints >= 2);  // 50 in the background; 100 in the background or at stop
  auto cp = store->get_checkpoint("recommender");
  REQUIRE(cp);
  REQUIRE(cp.value());
  CHECK(cp.value()->covers_through == 100);
  Recommender replay;
  replay.apply(events_of(rs));
  replay.apply(events_of(more));
  auto restored = Recommender::restore(RecommenderConfig{}, cp.value()->bytes);
  REQUIRE(restored);
  CHECK(restored.value().checkpoint() == replay.checkpoint());
}

namespace {
// Queues a query that reports the applied sequence it saw.
std::future<Sequence> ask_applied(RecommendRunner& runner) {
  auto promise = std::make_shared<std::promise<Sequence>>();
  auto answer = promise->get_future();
  REQUIRE(runner.run_on_recommender([promise](const Recommender& r) { promise->set_value(r.applied_through()); }));
  return answer;
}
}  // namespace

TEST_CASE("During the start-up replay queries are answered between log chunks", "[recommend]") {
  auto store = make_memory_store();
  REQUIRE(store->append(AppendBatch{records(1, 300), {}}));
  testing::SteppedStorage stepped(*store, 100);
  stepped.allow_chunks(1);
  SystemClock clock;
  RecommendRunnerConfig config;
  config.checkpoint_every_events = 0;
  std::atomic<Sequence> progress{0};
  config.on_progress = [&](Sequence s) { progress.store(s); };
  RecommendRunner runner({}, config, stepped, stepped, clock);
  runner.start();
  REQUIRE(stepped.wait_delivered(1));
  auto answer = ask_applied(runner);
  stepped.allow_chunks(2);
  // Answered after the second chunk while the third is still held back.
  REQUIRE(answer.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  CHECK(answer.get() == 200);
  CHECK(progress.load() == 200);
  const RecommendRunnerStats during = runner.stats();
  CHECK(during.state == "replaying");
  CHECK_FALSE(during.caught_up);
  CHECK(during.replay_target == 300);

  stepped.allow_all();
  CHECK(wait_for(runner, [](const RecommendRunnerStats& s) { return s.caught_up; }));
  CHECK(progress.load() == 300);
  CHECK(runner.latest()->applied_through == 300);
  runner.stop();
}

TEST_CASE("While its checkpoint is read and decoded the recommend thread answers from an empty state",
          "[recommend][checkpoint]") {
  auto store = make_memory_store();
  REQUIRE(store->append(AppendBatch{records(1, 40), {}}));
  SystemClock clock;
  {
    RecommendRunner first({}, {}, *store, *store, clock);
    first.start();
    CHECK(wait_for(first, [](const RecommendRunnerStats& s) { return s.applied_through == 40; }));
    CHECK(applied_through(first) == 40);
    first.stop();  // checkpoints 40
  }
  testing::SteppedStorage stepped(*store, 100);
  stepped.hold_checkpoints();
  RecommendRunner runner({}, {}, stepped, stepped, clock);
  runner.start();
  REQUIRE(stepped.wait_checkpoint_requested());
  auto answer = ask_applied(runner);
  REQUIRE(answer.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  CHECK(answer.get() == 0);
  CHECK(runner.stats().state == "restoring");

  stepped.release_checkpoints();
  CHECK(wait_for(runner, [](const RecommendRunnerStats& s) { return s.caught_up; }));
  CHECK(runner.stats().restored_through == 40);
  CHECK(runner.stats().replayed_events == 0);
  CHECK(applied_through(runner) == 40);
  runner.stop();
}

TEST_CASE("The recommender also checkpoints every checkpoint_every_events, replayed events included",
          "[recommend][checkpoint]") {
  auto store = make_memory_store();
  REQUIRE(store->append(AppendBatch{records(1, 250), {}}));
  testing::SteppedStorage stepped(*store, 50);
  SystemClock clock;
  RecommendRunnerConfig config;
  config.checkpoint_interval_ms = 0;  // never by time
  config.checkpoint_every_events = 100;
  RecommendRunner runner({}, config, stepped, *store, clock);
  runner.start();
  CHECK(wait_for(runner, [](const RecommendRunnerStats& s) { return s.caught_up; }));
  // A process killed now restarts from 200, not from the beginning.
  auto cp = store->get_checkpoint("recommender");
  REQUIRE(cp);
  REQUIRE(cp.value().has_value());
  CHECK(cp.value()->covers_through == 200);
  CHECK(runner.stats().checkpoints == 2);

  // Live events count as well.
  const auto more = records(251, 100);
  REQUIRE(store->append(AppendBatch{more, {}}));
  runner.offer(events_of(more));
  CHECK(wait_for_checkpoint(runner, *store, [](const Checkpoint& now) { return now.covers_through >= 300; }));
  runner.stop();
}

TEST_CASE("A recommend thread with an empty ring counts its back-off sleeps and their time", "[recommend]") {
  auto store = make_memory_store();
  SystemClock clock;
  RecommendRunner runner({}, {}, *store, *store, clock);
  runner.start();
  // The idle counters are the one change wait_until is not woken by: polled.
  CHECK(eventually([&] { return runner.stats().idle_waits >= 3; }));
  const RecommendRunnerStats idle = runner.stats();
  CHECK(idle.idle_wait > std::chrono::microseconds(0));
  const auto live = events_of(records(1, 5));
  REQUIRE(store->append(AppendBatch{records(1, 5), {}}));
  runner.offer(live);
  CHECK(wait_for(runner, [](const RecommendRunnerStats& s) { return s.applied_through == 5; }));
  CHECK(applied_through(runner) == 5);
  CHECK(runner.stats().idle_wait >= idle.idle_wait);
  runner.stop();
}

TEST_CASE("A thread waiting in wait_until is woken by the recommend thread's progress", "[recommend]") {
  auto store = make_memory_store();
  SystemClock clock;
  RecommendRunner runner({}, {}, *store, *store, clock);
  const auto deadline = [] { return std::chrono::steady_clock::now() + std::chrono::seconds(60); };
  runner.start();
  REQUIRE(runner.wait_until([](const RecommendRunnerStats& s) { return s.state == "running" && s.caught_up; },
                            deadline()));
  // Nothing was offered: a deadline already passed answers at once with what
  // the predicate says.
  CHECK_FALSE(runner.wait_until([](const RecommendRunnerStats& s) { return s.applied_through > 0; },
                                std::chrono::steady_clock::now()));
  // The waiter blocks before the events exist; applying them wakes it.
  auto waited = std::async(std::launch::async, [&] {
    return runner.wait_until([](const RecommendRunnerStats& s) { return s.applied_through >= 30; }, deadline());
  });
  const auto rs = records(1, 30);
  REQUIRE(store->append(AppendBatch{rs, {}}));
  runner.offer(events_of(rs));
  REQUIRE(waited.get());
  CHECK(applied_through(runner) == 30);
  runner.stop();
  CHECK(runner.wait_until([](const RecommendRunnerStats& s) { return s.state == "stopped"; },
                          std::chrono::steady_clock::now()));
}

using shoppulse::testing::CountingCheckpoints;

TEST_CASE("A background recommender checkpoint that cannot fork, or cannot start its writer thread, is written in "
          "the foreground, counted, and leaves no child",
          "[recommend][checkpoint][fault]") {
  auto store = make_memory_store();
  CountingCheckpoints counting(*store);
  SystemClock clock;
  RecommendRunnerConfig config;
  config.checkpoint_interval_ms = 0;  // never by time
  config.checkpoint_every_events = 100;
  REQUIRE(config.checkpoint_in_background);  // the default
  RecommendRunner runner({}, config, *store, counting, clock);
  // Armed for the one start() of the checkpoint due at 100 events.
  SECTION("the fork fails") { CHECK_FALSE(BackgroundEncoding::testing_fail_next_fork()); }
  SECTION("the writer thread cannot be started") {
    CHECK_FALSE(BackgroundCheckpointWriter::testing_fail_next_thread_start());
  }
  runner.start();
  REQUIRE(wait_for(runner, [](const RecommendRunnerStats& s) { return s.caught_up; }));
  const auto rs = records(1, 100);
  // Offered before they are logged: a runner that finds the ring empty
  // while the log is ahead reads the log, and that read checkpoints on its
  // own thread without start(), which would leave the fault armed.
  runner.offer(events_of(rs));
  REQUIRE(store->append(AppendBatch{rs, {}}));
  // Without the fallback nothing would be stored until the stop.
  REQUIRE(wait_for(runner, [](const RecommendRunnerStats& s) { return s.checkpoints == 1; }));
  // The start() took its fault, and the recommend thread wrote the
  // checkpoint whole: the background writer never stored anything.
  CHECK_FALSE(BackgroundEncoding::testing_fail_next_fork(false));
  CHECK_FALSE(BackgroundCheckpointWriter::testing_fail_next_thread_start(false));
  CHECK(counting.whole == 1);
  CHECK(counting.streamed == 0);
  auto cp = store->get_checkpoint("recommender");
  REQUIRE(cp);
  REQUIRE(cp.value().has_value());
  CHECK(cp.value()->covers_through == 100);
  // No child of this process is left, running or unreaped.
  errno = 0;
  CHECK(::waitpid(-1, nullptr, WNOHANG) < 0);
  CHECK(errno == ECHILD);
  runner.stop();
  CHECK(runner.stats().checkpoints == 1);  // the stop had nothing new
  CHECK(counting.whole == 1);
}
