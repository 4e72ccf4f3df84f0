// The Generator paces with an injected SteadyTime. These tests drive a
// ManualSteadyTime: time moves only when a test advances it, and a test
// waits (on a condition, never a sleep) until the generator has gone back to
// sleep before it checks what was delivered, so the pacing figures are exact
// and a loaded machine only makes the tests slower.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <stdexcept>
#include <mutex>
#include <thread>
#include <tuple>
#include <vector>

#include "shoppulse/core/clock.hpp"
#include "shoppulse/core/steady_time.hpp"
#include "shoppulse/sources/generator.hpp"

using namespace shoppulse;
using namespace std::chrono_literals;

namespace {

auto content_of(const RawEvent& e) {
  return std::tie(e.event_id, e.user_id, e.session_id, e.product_id, e.category_id, e.device, e.location,
                  e.price_minor, e.quantity, e.type, e.rating);
}

// A sink that refuses the first `refusals` hand-offs and records what it accepts.
class RecordingSink {
 public:
  explicit RecordingSink(std::size_t refusals = 0) : refusals_left_(refusals) {}

  GeneratorSink sink() {
    return [this](std::vector<RawEvent>&& batch) -> Result<void> {
      std::lock_guard lock(mutex_);
      ++calls_;
      changed_.notify_all();
      if (refusals_left_ > 0 || refuse_all_) {
        if (refusals_left_ > 0) --refusals_left_;
        ++refused_;
        return make_error(Errc::overloaded, "queue full");
      }
      batch_sizes_.push_back(batch.size());
      for (RawEvent& e : batch) events_.push_back(std::move(e));
      return {};
    };
  }

  // Blocks until the sink has accepted at least n events in all; fails the
  // test after the deadline (far beyond what an idle machine needs).
  void wait_for_events(std::size_t n) {
    wait_until([&] { return events_.size() >= n; }, "events");
  }
  // Blocks until the sink has refused at least n hand-offs in all.
  void wait_for_refusals(std::size_t n) {
    wait_until([&] { return refused_ >= n; }, "refusals");
  }
  void wait_for_batches(std::size_t n) {
    wait_until([&] { return batch_sizes_.size() >= n; }, "batches");
  }

  void refuse_all(bool on) {
    std::lock_guard lock(mutex_);
    refuse_all_ = on;
  }
  std::vector<RawEvent> events() {
    std::lock_guard lock(mutex_);
    return events_;
  }
  std::vector<std::size_t> batch_sizes() {
    std::lock_guard lock(mutex_);
    return batch_sizes_;
  }
  std::size_t calls() {
    std::lock_guard lock(mutex_);
    return calls_;
  }

 private:
  void wait_until(const std::function<bool()>& done, const char* what) {
    std::unique_lock lock(mutex_);
    const bool reached = changed_.wait_for(lock, 60s, done);
    INFO("waiting for " << what);
    REQUIRE(reached);
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::size_t refused_ = 0;
  std::size_t refusals_left_;
  bool refuse_all_ = false;
  std::size_t calls_ = 0;
  std::vector<RawEvent> events_;
  std::vector<std::size_t> batch_sizes_;
};

// The delivered stream must be exactly the simulator's stream: nothing lost,
// duplicated or reordered.
void check_exactly_once_in_order(const GeneratorConfig& config, const std::vector<RawEvent>& got) {
  ShopSimulator reference(config);
  std::vector<RawEvent> expected;
  reference.next(got.size(), 0, 1, expected);
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("event " << i);
    REQUIRE(content_of(got[i]) == content_of(expected[i]));
  }
  for (std::size_t i = 1; i < got.size(); ++i) REQUIRE(*got[i].time_ms >= *got[i - 1].time_ms);
}

// Advances `time` by `by`, then waits until the generator has handled it and
// is waiting again. `by` must reach the deadline of the wait in progress
// (ticks sleep at least 10 ms; backoffs at most 50 ms), or no new wait begins.
void step(ManualSteadyTime& time, std::chrono::nanoseconds by) {
  const std::uint64_t seen = time.waits_begun();
  time.advance(by);
  REQUIRE(time.wait_for_waits_beyond(seen));
}

// Steps `time` by `by` until done() holds (at most `steps` steps).
void step_until(ManualSteadyTime& time, std::chrono::nanoseconds by, const std::function<bool()>& done,
                int steps = 100000) {
  for (int i = 0; i < steps && !done(); ++i) step(time, by);
  REQUIRE(done());
}

// Runs f on another thread; fails (instead of hanging) if it has not
// returned within a bound far beyond any machine's scheduling delay.
template <class F>
void returns(F&& f) {
  auto done = std::async(std::launch::async, std::forward<F>(f));
  REQUIRE(done.wait_for(60s) == std::future_status::ready);
}

}  // namespace

TEST_CASE("the generator emits exactly rate x elapsed events, in batches of at most batch_size", "[sources]") {
  ManualClock wall(1'700'000'000'000);
  ManualSteadyTime time;
  GeneratorConfig config;
  config.events_per_second = 1000;
  config.batch_size = 20;
  RecordingSink recorder;
  Generator generator(config, recorder.sink(), wall, time);
  generator.start();
  CHECK(generator.stats().running);
  REQUIRE(time.wait_for_waits_beyond(0));  // asleep: nothing is due at the start
  CHECK(recorder.events().empty());

  wall.advance(100);
  step(time, 100ms);
  CHECK(recorder.events().size() == 100);
  CHECK(recorder.batch_sizes() == std::vector<std::size_t>(5, 20));
  // Half of the next 10 ms tick: the generator is still asleep.
  time.advance(5ms);
  CHECK(recorder.events().size() == 100);
  wall.advance(10);
  step(time, 5ms);
  CHECK(recorder.events().size() == 110);
  CHECK(generator.stats().events_generated == 110);

  generator.stop();
  CHECK_FALSE(generator.stats().running);
  const auto events = recorder.events();
  // Event time follows the wall clock: the first 100 span its first 100 ms.
  for (std::size_t i = 0; i < events.size(); ++i) {
    REQUIRE(events[i].time_ms.has_value());
    CHECK(*events[i].time_ms >= 1'700'000'000'000);
    CHECK(*events[i].time_ms <= (i < 100 ? 1'700'000'000'100 : 1'700'000'000'110));
  }
  check_exactly_once_in_order(config, events);
}

TEST_CASE("a generator that falls behind a slow sink forgets the backlog beyond one second of events",
          "[sources]") {
  ManualClock wall(1'700'000'000'000);
  ManualSteadyTime time;
  GeneratorConfig config;
  config.events_per_second = 100;
  config.batch_size = 10;
  RecordingSink recorder;
  Generator generator(config, recorder.sink(), wall, time);
  generator.start();
  REQUIRE(time.wait_for_waits_beyond(0));
  step(time, 10s);  // 1,000 due; at most a second's worth (100) is made
  CHECK(recorder.events().size() == 100);
  step(time, 1s);
  CHECK(recorder.events().size() == 200);
  generator.stop();
  check_exactly_once_in_order(config, recorder.events());
}

TEST_CASE("a sink that refuses the first batches still receives every event exactly once, in order", "[sources]") {
  ManualClock wall(1'700'000'000'000);
  ManualSteadyTime time;
  GeneratorConfig config;
  config.events_per_second = 2000;
  config.batch_size = 25;
  RecordingSink recorder(5);
  Generator generator(config, recorder.sink(), wall, time);
  generator.start();
  REQUIRE(time.wait_for_waits_beyond(0));
  // Each refusal backs off (1, 2, 4, 8, 16 ms): 20 ms steps end every backoff.
  step_until(time, 20ms, [&] { return recorder.events().size() >= 20; });
  generator.stop();

  auto stats = generator.stats();
  CHECK(stats.batches_refused == 5);
  auto events = recorder.events();
  CHECK(stats.events_generated == events.size());
  check_exactly_once_in_order(config, events);
}

TEST_CASE("stop() interrupts a sleep between slow ticks or a backoff while the sink refuses", "[sources]") {
  ManualClock wall(1'700'000'000'000);
  ManualSteadyTime time;  // never advanced here: only stop() can end a sleep
  GeneratorConfig config;
  config.events_per_second = 0.01;

  RecordingSink slow;
  Generator idle(config, slow.sink(), wall, time);
  idle.start();
  REQUIRE(time.wait_for_waits_beyond(0));
  returns([&] { idle.stop(); });
  CHECK(slow.calls() == 0);

  config.events_per_second = 500;
  RecordingSink refusing;
  refusing.refuse_all(true);
  Generator blocked(config, refusing.sink(), wall, time);
  blocked.start();
  const std::uint64_t seen = time.waits_begun();
  step_until(time, 20ms, [&] { return refusing.calls() >= 2; });
  REQUIRE(time.wait_for_waits_beyond(seen));  // in the backoff between retries
  returns([&] { blocked.stop(); });
  CHECK(blocked.stats().batches_refused >= 2);
  CHECK(blocked.stats().events_generated == 0);
}

TEST_CASE("start() after stop() resumes the stream, delivering a batch refused at stop first", "[sources]") {
  ManualClock wall(1'700'000'000'000);
  ManualSteadyTime time;
  GeneratorConfig config;
  config.events_per_second = 1000;
  config.batch_size = 10;
  RecordingSink recorder;
  Generator generator(config, recorder.sink(), wall, time);

  generator.start();
  REQUIRE(time.wait_for_waits_beyond(0));
  step(time, 10ms);
  REQUIRE(recorder.events().size() == 10);
  recorder.refuse_all(true);  // the next batch is refused and still pending at stop
  step(time, 10ms);           // due, refused, now in its backoff
  generator.stop();
  CHECK(recorder.events().size() == 10);
  CHECK(generator.stats().batches_refused >= 1);

  recorder.refuse_all(false);
  generator.start();
  recorder.wait_for_events(20);  // the kept batch, at once, before any time passes
  step_until(time, 10ms, [&] { return recorder.events().size() >= 40; });
  generator.stop();
  auto events = recorder.events();
  CHECK(generator.stats().events_generated == events.size());
  check_exactly_once_in_order(config, events);
}

TEST_CASE("start() twice and stop() twice are harmless, and destruction stops the thread", "[sources]") {
  ManualClock wall(1'700'000'000'000);
  ManualSteadyTime time;
  GeneratorConfig config;
  config.events_per_second = 200;
  RecordingSink recorder;
  {
    Generator generator(config, recorder.sink(), wall, time);
    generator.stop();
    generator.start();
    generator.start();
    REQUIRE(time.wait_for_waits_beyond(0));
    step_until(time, 10ms, [&] { return !recorder.events().empty(); });
    generator.stop();
    generator.stop();
    CHECK_FALSE(generator.stats().running);
    generator.start();
  }  // destructor stops the running thread
  check_exactly_once_in_order(config, recorder.events());
}

TEST_CASE("a low rate hands off single events as they fall due", "[sources]") {
  ManualClock wall(1'700'000'000'000);
  ManualSteadyTime time;
  GeneratorConfig config;
  config.events_per_second = 20;
  config.batch_size = 50;
  RecordingSink recorder;
  Generator generator(config, recorder.sink(), wall, time);
  generator.start();
  REQUIRE(time.wait_for_waits_beyond(0));
  for (int i = 1; i <= 10; ++i) {
    step(time, 50ms);  // one event falls due every 50 ms
    CHECK(recorder.events().size() == std::size_t(i));
  }
  generator.stop();
  CHECK(recorder.batch_sizes() == std::vector<std::size_t>(10, 1));
}

TEST_CASE("a sink that throws makes the generator fail, restart after a backoff and lose nothing", "[sources]") {
  ManualClock wall(1'700'000'000'000);
  ManualSteadyTime time;
  GeneratorConfig config;
  config.events_per_second = 2000;
  config.batch_size = 25;
  RecordingSink recorder;
  auto inner = recorder.sink();
  std::atomic<int> calls{0};
  Generator generator(
      config,
      [&](std::vector<RawEvent>&& batch) -> Result<void> {
        if (calls.fetch_add(1) == 1) throw std::runtime_error("sink exploded");
        return inner(std::move(batch));
      },
      wall, time);
  generator.start();
  REQUIRE(time.wait_for_waits_beyond(0));
  step(time, 10ms);  // 20 due: delivered
  step(time, 10ms);  // 20 more: the sink throws, the thread backs off 500 ms
  CHECK(generator.stats().failures == 1);
  CHECK(recorder.events().size() == 20);
  step(time, 500ms);  // restarted: the batch in hand goes first
  step_until(time, 10ms, [&] { return recorder.events().size() >= 60; });
  generator.stop();
  const auto stats = generator.stats();
  CHECK(stats.failures == 1);
  CHECK(stats.restarts == 1);
  CHECK(stats.last_error == "sink exploded");
  // The batch in hand when the sink threw is delivered after the restart.
  check_exactly_once_in_order(config, recorder.events());
}
