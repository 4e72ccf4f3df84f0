// The Generator paces with real time, so these tests use the SystemClock.
// They never sleep to let it work: each waits, with a generous deadline, for
// the sink to signal what it expects (so many events, so many refusals), and
// asserts on delivery (exactly once, in order) and on bounds derived from
// the time actually measured, so a loaded machine only makes them slower.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <stdexcept>
#include <mutex>
#include <thread>
#include <tuple>
#include <vector>

#include "shoppulse/core/clock.hpp"
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

template <class F>
double seconds_taken(F&& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("the generator paces roughly at the configured rate in batches of at most batch_size", "[sources]") {
  SystemClock clock;
  GeneratorConfig config;
  config.events_per_second = 1000;
  config.batch_size = 20;
  RecordingSink recorder;
  Generator generator(config, recorder.sink(), clock);
  const TimestampMs before = clock.now_ms();
  const auto started = std::chrono::steady_clock::now();
  generator.start();
  CHECK(generator.stats().running);
  recorder.wait_for_events(100);
  generator.stop();
  const double elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const TimestampMs after = clock.now_ms();
  CHECK_FALSE(generator.stats().running);

  auto events = recorder.events();
  CHECK(events.size() >= 100);
  // Never ahead of the rate: at most the events due in the time measured,
  // plus one batch in flight when stop() came.
  CHECK(static_cast<double>(events.size()) <= 1000 * elapsed_s + 20);
  CHECK(generator.stats().events_generated == events.size());
  for (std::size_t n : recorder.batch_sizes()) CHECK((n >= 1 && n <= 20));
  for (const RawEvent& e : events) {
    REQUIRE(e.time_ms.has_value());
    CHECK(*e.time_ms >= before);
    CHECK(*e.time_ms <= after);
  }
  check_exactly_once_in_order(config, events);
}

TEST_CASE("a sink that refuses the first batches still receives every event exactly once, in order", "[sources]") {
  SystemClock clock;
  GeneratorConfig config;
  config.events_per_second = 2000;
  config.batch_size = 25;
  RecordingSink recorder(5);
  Generator generator(config, recorder.sink(), clock);
  generator.start();
  recorder.wait_for_events(20);
  generator.stop();

  auto stats = generator.stats();
  CHECK(stats.batches_refused == 5);
  auto events = recorder.events();
  CHECK(events.size() >= 20);
  CHECK(stats.events_generated == events.size());
  check_exactly_once_in_order(config, events);
}

TEST_CASE("stop() returns promptly even between slow ticks or while the sink refuses", "[sources]") {
  SystemClock clock;
  GeneratorConfig config;
  // One event every 100 s: the thread is asleep (up to 1 s at a time)
  // whenever stop() comes. Waiting out the sleep would take up to a second;
  // an interrupted one takes microseconds, so 0.5 s leaves a busy machine
  // ample room.
  config.events_per_second = 0.01;

  RecordingSink slow;
  Generator idle(config, slow.sink(), clock);
  idle.start();
  CHECK(seconds_taken([&] { idle.stop(); }) < 0.5);
  CHECK(slow.calls() == 0);

  config.events_per_second = 500;
  RecordingSink refusing;
  refusing.refuse_all(true);
  Generator blocked(config, refusing.sink(), clock);
  blocked.start();
  refusing.wait_for_refusals(2);  // in the backoff between retries
  CHECK(seconds_taken([&] { blocked.stop(); }) < 0.5);
  CHECK(blocked.stats().batches_refused >= 2);
  CHECK(blocked.stats().events_generated == 0);
}

TEST_CASE("start() after stop() resumes the stream, delivering a batch refused at stop first", "[sources]") {
  SystemClock clock;
  GeneratorConfig config;
  config.events_per_second = 1000;
  config.batch_size = 10;
  RecordingSink recorder;
  Generator generator(config, recorder.sink(), clock);

  generator.start();
  recorder.wait_for_events(10);
  recorder.refuse_all(true);  // the next batch is refused and still pending at stop
  recorder.wait_for_refusals(1);
  generator.stop();
  const std::size_t first_run = recorder.events().size();
  CHECK(generator.stats().batches_refused >= 1);

  recorder.refuse_all(false);
  generator.start();
  recorder.wait_for_events(first_run + 10);
  generator.stop();
  auto events = recorder.events();
  CHECK(events.size() > first_run);
  CHECK(generator.stats().events_generated == events.size());
  check_exactly_once_in_order(config, events);
}

TEST_CASE("start() twice and stop() twice are harmless, and destruction stops the thread", "[sources]") {
  SystemClock clock;
  GeneratorConfig config;
  config.events_per_second = 200;
  RecordingSink recorder;
  {
    Generator generator(config, recorder.sink(), clock);
    generator.stop();
    generator.start();
    generator.start();
    recorder.wait_for_events(1);
    generator.stop();
    generator.stop();
    CHECK_FALSE(generator.stats().running);
    generator.start();
  }  // destructor stops the running thread
  check_exactly_once_in_order(config, recorder.events());
}

TEST_CASE("a low rate hands off single events", "[sources]") {
  SystemClock clock;
  GeneratorConfig config;
  config.events_per_second = 20;
  config.batch_size = 50;
  RecordingSink recorder;
  Generator generator(config, recorder.sink(), clock);
  generator.start();
  recorder.wait_for_batches(3);
  generator.stop();
  auto sizes = recorder.batch_sizes();
  REQUIRE(sizes.size() >= 3);
  // Events are handed off as they fall due, not held back to fill a batch of
  // 50: only a thread kept off the CPU for half a second would gather 10.
  for (std::size_t n : sizes) CHECK(n <= 10);
}

TEST_CASE("a sink that throws makes the generator fail, restart after a backoff and lose nothing", "[sources]") {
  SystemClock clock;
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
      clock);
  generator.start();
  // The first restart comes after a 500 ms backoff; wait for it to deliver.
  recorder.wait_for_events(60);  // at most 25 come before the failure: the rest after the restart
  generator.stop();
  const auto stats = generator.stats();
  CHECK(stats.failures == 1);
  CHECK(stats.restarts == 1);
  CHECK(stats.last_error == "sink exploded");
  // The batch in hand when the sink threw is delivered after the restart.
  check_exactly_once_in_order(config, recorder.events());
}
