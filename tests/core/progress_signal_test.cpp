#include <catch2/catch.hpp>

#include <chrono>
#include <latch>
#include <mutex>
#include <thread>
#include <utility>

#include "shoppulse/core/progress_signal.hpp"

using shoppulse::ProgressSignal;

namespace {

// State one thread changes under its mutex and another waits for, as in the
// runners. `first_check` opens once the waiter has checked its predicate
// the first time: that check runs with the mutex held and the waiter then
// gives the mutex up only by blocking in the wait, so whoever takes the
// mutex after the latch opened knows the waiter is blocked (or about to
// check again).
struct Watched {
  std::mutex mutex;
  ProgressSignal progress;
  int value = 0;  // guarded by mutex
  int checks = 0;  // guarded by mutex; times the waiter's predicate ran
  std::latch first_check{1};

  bool wait_for_value(int wanted, std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mutex);
    return progress.wait_until(lock, deadline, [&] {
      if (++checks == 1) first_check.count_down();
      return value == wanted;
    });
  }
};

}  // namespace

TEST_CASE("A waiter blocked in wait_until is woken by an Update, with no changed() call", "[progress_signal]") {
  Watched w;
  // Far beyond any machine's need: a waiter left to its deadline fails the
  // check on the time it returned (and the test takes a minute).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool ready = false;
  std::chrono::steady_clock::time_point returned;
  std::thread waiter([&] {
    ready = w.wait_for_value(2, deadline);
    returned = std::chrono::steady_clock::now();
  });
  w.first_check.wait();

  SECTION("an Update that takes the mutex") {
    {
      // Not the value waited for: the waiter checks again and waits on.
      ProgressSignal::Update update(w.progress, w.mutex);
      w.value = 1;
    }
    {
      ProgressSignal::Update update(w.progress, w.mutex);
      w.value = 2;
    }
  }
  SECTION("an Update that takes over a held lock") {
    std::unique_lock lock(w.mutex);
    if (w.value != 2) {
      ProgressSignal::Update update(w.progress, std::move(lock));
      w.value = 2;
    }
  }
  waiter.join();
  CHECK(ready);
  CHECK(returned < deadline);
  std::lock_guard lock(w.mutex);
  CHECK(w.checks >= 2);  // blocked once at least, then woken to check again
}

TEST_CASE("A wait whose predicate never holds answers false at its deadline", "[progress_signal]") {
  Watched w;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
  bool ready = true;
  std::thread waiter([&] { ready = w.wait_for_value(2, deadline); });
  w.first_check.wait();
  {
    // Wakes the waiter (unless its deadline passed already), which checks
    // again and waits on: an Update ends no wait whose predicate is false.
    ProgressSignal::Update update(w.progress, w.mutex);
    w.value = 1;
  }
  waiter.join();
  CHECK_FALSE(ready);
  CHECK(std::chrono::steady_clock::now() >= deadline);
  std::lock_guard lock(w.mutex);
  CHECK(w.value == 1);
}

TEST_CASE("An Update with no waiter changes the state and leaves the mutex free", "[progress_signal]") {
  Watched w;
  {
    ProgressSignal::Update update(w.progress, w.mutex);
    w.value = 2;
  }
  // The wait sees the change at its first check, without blocking.
  CHECK(w.wait_for_value(2, std::chrono::steady_clock::now()));
  std::lock_guard lock(w.mutex);
  CHECK(w.checks == 1);
}
