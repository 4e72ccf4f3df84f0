#pragma once
// Monotonic time and interruptible waits, injected into threads that pace
// themselves (the generator) the way Clock injects wall time. Production
// uses system_steady_time(); tests drive a ManualSteadyTime, whose time moves
// only when the test advances it, so pacing is checked exactly instead of
// racing a real clock on a loaded machine.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

namespace shoppulse {

class SteadyTime {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~SteadyTime() = default;
  virtual time_point now() const noexcept = 0;
  // Blocks on cv, with `lock` held on entry and exit, until stop() is true or
  // now() reaches deadline; answers stop(). The caller notifies cv (under the
  // same mutex) whenever stop() may have become true.
  virtual bool wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable& cv, time_point deadline,
                          const std::function<bool()>& stop) = 0;
};

// std::chrono::steady_clock and condition_variable::wait_until.
SteadyTime& system_steady_time();

// CPU time of the calling thread so far, in seconds (what a step of work cost
// on a busy machine, where its wall time mostly says how busy it is).
double thread_cpu_seconds() noexcept;

// Time that starts at an arbitrary origin and moves only by advance().
// Thread-safe. advance() wakes every thread waiting in wait_until() so it
// re-checks its deadline; it must not race with the destruction of an object
// whose mutex and condition variable a thread is waiting on.
class ManualSteadyTime final : public SteadyTime {
 public:
  time_point now() const noexcept override;
  bool wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable& cv, time_point deadline,
                  const std::function<bool()>& stop) override;

  void advance(std::chrono::nanoseconds by);
  // Waits calls to wait_until() begun so far (each blocking episode counts once).
  std::uint64_t waits_begun() const;
  // Blocks until more than `seen` waits have begun, or `timeout` of real time
  // passes (a bound that only turns a hang into a failure); true when they have.
  bool wait_for_waits_beyond(std::uint64_t seen, std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;

 private:
  struct Waiter {
    std::mutex* mutex;
    std::condition_variable* cv;
  };
  mutable std::mutex mutex_;
  mutable std::condition_variable waits_changed_;
  std::chrono::steady_clock::duration now_{std::chrono::hours(1)};  // guarded by mutex_
  std::vector<Waiter> waiters_;                                     // guarded by mutex_
  std::uint64_t waits_begun_ = 0;                                   // guarded by mutex_
};

}  // namespace shoppulse
