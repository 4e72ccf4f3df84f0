// Generator: paces a ShopSimulator on its own thread and hands batches to the sink.
//
// Pacing is time-sliced against the injected SteadyTime: at each wake-up the number of
// events due since the run began (rate x elapsed) minus those already emitted
// is produced, at most batch_size per hand-off; when nothing is due the thread
// sleeps on a condition variable until the next event is due (at least
// kMinTick, so high rates batch up), which stop() interrupts at once.
// A refused batch is retried with backoff, unchanged, until the sink takes it
// (or stop() comes, in which case it is kept and delivered first after the
// next start()): generated events are never dropped. While the sink refuses,
// the backlog of due events is capped at about a second of events so a
// recovering sink is not flooded. Event timestamps come from the injected
// Clock; each batch covers the clock time since the previous batch, so they
// never decrease.
//
// stats().events_generated counts events the sink accepted.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <thread>

#include "shoppulse/sources/generator.hpp"

namespace shoppulse {
namespace {

using SteadyClock = std::chrono::steady_clock;  // its duration and time_point types
constexpr auto kMinTick = std::chrono::milliseconds(10);
constexpr auto kMaxSleep = std::chrono::seconds(1);
constexpr auto kFirstBackoff = std::chrono::milliseconds(1);
constexpr auto kMaxBackoff = std::chrono::milliseconds(50);
constexpr double kMaxBacklogSeconds = 1.0;
constexpr TimestampMs kNoTime = std::numeric_limits<TimestampMs>::min();

}  // namespace

struct Generator::State {
  GeneratorConfig config;
  GeneratorSink sink;
  const Clock& clock;
  SteadyTime& time;
  ShopSimulator simulator;

  std::mutex lifecycle;  // serializes start() and stop()
  std::thread thread;

  mutable std::mutex mutex;  // guards stop_requested, failures, restarts, last_error
  std::condition_variable wake;
  bool stop_requested = false;

  std::atomic<bool> running{false};
  std::atomic<std::uint64_t> events_generated{0};
  std::atomic<std::uint64_t> batches_refused{0};

  // Owned by the generator thread; handed between runs through join/start.
  std::vector<RawEvent> unsent;  // a refused batch interrupted by stop()
  TimestampMs last_time = kNoTime;
  std::uint64_t failures = 0;  // guarded by mutex
  std::uint64_t restarts = 0;  // guarded by mutex
  std::string last_error;      // guarded by mutex

  State(GeneratorConfig c, GeneratorSink s, const Clock& k, SteadyTime& t)
      : config(std::move(c)), sink(std::move(s)), clock(k), time(t), simulator(config) {}

  // Waits until deadline or stop(); true when stop() was requested.
  bool sleep_until(SteadyTime::time_point deadline) {
    std::unique_lock lock(mutex);
    return time.wait_until(lock, wake, deadline, [this] { return stop_requested; });
  }

  bool stopping() {
    std::lock_guard lock(mutex);
    return stop_requested;
  }

  // Hands batch to the sink, retrying until accepted. False when stop() came
  // first; the batch is then kept in `unsent`. The sink must leave a batch it
  // refuses untouched (GeneratorSink contract).
  bool deliver(std::vector<RawEvent>& batch) {
    auto backoff = std::chrono::duration_cast<SteadyClock::duration>(kFirstBackoff);
    while (true) {
      const std::size_t n = batch.size();
      // A sink that throws keeps the batch with us: the restarted thread
      // delivers it first.
      unsent = std::move(batch);
      Result<void> accepted = sink(std::move(unsent));
      batch = std::move(unsent);
      unsent.clear();
      if (accepted) {
        events_generated.fetch_add(n, std::memory_order_relaxed);
        batch.clear();
        return true;
      }
      batches_refused.fetch_add(1, std::memory_order_relaxed);
      if (sleep_until(time.now() + backoff)) {
        unsent = std::move(batch);
        batch.clear();
        return false;
      }
      backoff = std::min<SteadyClock::duration>(backoff * 2, kMaxBackoff);
    }
  }

  // Runs run() and restarts it after a failure, until stop().
  void supervised_run() {
    auto backoff = std::chrono::milliseconds(500);
    for (;;) {
      try {
        run();
        return;
      } catch (const std::exception& e) {
        {
          std::lock_guard lock(mutex);
          ++failures;
          last_error = e.what();
        }
        if (sleep_until(time.now() + backoff)) return;
        std::lock_guard lock(mutex);
        ++restarts;
        backoff = std::min(backoff * 2, std::chrono::milliseconds(30000));
      }
    }
  }

  void run() {
    if (!unsent.empty()) {
      std::vector<RawEvent> batch = std::move(unsent);
      unsent.clear();
      if (!deliver(batch)) return;
    }
    const double rate = config.events_per_second;
    if (!(rate > 0) || !std::isfinite(rate)) {  // nothing to pace: idle until stopped
      std::unique_lock lock(mutex);
      wake.wait(lock, [this] { return stop_requested; });
      return;
    }
    const std::size_t batch_size = std::max<std::size_t>(config.batch_size, 1);
    const auto max_backlog = static_cast<std::uint64_t>(
        std::max(static_cast<double>(batch_size), std::ceil(rate * kMaxBacklogSeconds)));
    if (last_time == kNoTime) last_time = clock.now_ms();

    const SteadyClock::time_point origin = time.now();
    std::uint64_t emitted = 0;  // since origin, including skipped backlog
    std::vector<RawEvent> batch;
    while (true) {
      const auto now = time.now();
      const double elapsed = std::chrono::duration<double>(now - origin).count();
      const auto due_total = static_cast<std::uint64_t>(rate * elapsed);
      std::uint64_t due = due_total > emitted ? due_total - emitted : 0;
      if (due > max_backlog) {  // fell behind a slow sink: forget the excess
        emitted += due - max_backlog;
        due = max_backlog;
      }
      if (due == 0) {
        // Sleep until the next event is due, within [kMinTick, kMaxSleep].
        const double wait_s = std::clamp(static_cast<double>(emitted + 1) / rate - elapsed,
                                         std::chrono::duration<double>(kMinTick).count(),
                                         std::chrono::duration<double>(kMaxSleep).count());
        if (sleep_until(now + std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(wait_s)))) {
          return;
        }
        continue;
      }
      // This batch's share of the clock time since the previous batch.
      const std::uint64_t k = std::min<std::uint64_t>(due, batch_size);
      const TimestampMs clock_now = std::max(clock.now_ms(), last_time);
      const auto span = static_cast<long double>(clock_now - last_time);
      const TimestampMs to = last_time + static_cast<TimestampMs>(span * k / due);
      batch.reserve(k);
      simulator.next(k, last_time, to, batch);
      last_time = to;
      emitted += k;
      if (!deliver(batch)) return;
      if (stopping()) return;
    }
  }
};

Generator::Generator(GeneratorConfig config, GeneratorSink sink, const Clock& clock, SteadyTime& time)
    : state_(std::make_unique<State>(std::move(config), std::move(sink), clock, time)) {}

Generator::~Generator() { stop(); }

void Generator::start() {
  State& s = *state_;
  std::lock_guard lifecycle(s.lifecycle);
  if (s.thread.joinable()) return;
  {
    std::lock_guard lock(s.mutex);
    s.stop_requested = false;
  }
  s.running.store(true, std::memory_order_relaxed);
  s.thread = std::thread([&s] { s.supervised_run(); });
}

void Generator::stop() {
  State& s = *state_;
  std::lock_guard lifecycle(s.lifecycle);
  if (!s.thread.joinable()) return;
  {
    std::lock_guard lock(s.mutex);
    s.stop_requested = true;
  }
  s.wake.notify_all();
  s.thread.join();
  s.running.store(false, std::memory_order_relaxed);
}

GeneratorStats Generator::stats() const {
  const State& s = *state_;
  GeneratorStats out;
  out.running = s.running.load(std::memory_order_relaxed);
  out.events_generated = s.events_generated.load(std::memory_order_relaxed);
  out.batches_refused = s.batches_refused.load(std::memory_order_relaxed);
  std::lock_guard lock(s.mutex);
  out.failures = s.failures;
  out.restarts = s.restarts;
  out.last_error = s.last_error;
  return out;
}

}  // namespace shoppulse
