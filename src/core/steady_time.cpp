#include "shoppulse/core/steady_time.hpp"

#include <algorithm>
#include <ctime>

namespace shoppulse {
namespace {

class SystemSteadyTime final : public SteadyTime {
 public:
  time_point now() const noexcept override { return std::chrono::steady_clock::now(); }
  bool wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable& cv, time_point deadline,
                  const std::function<bool()>& stop) override {
    return cv.wait_until(lock, deadline, stop);
  }
};

}  // namespace

SteadyTime& system_steady_time() {
  static SystemSteadyTime instance;
  return instance;
}

SteadyTime::time_point ManualSteadyTime::now() const noexcept {
  std::lock_guard lock(mutex_);
  return time_point(now_);
}

bool ManualSteadyTime::wait_until(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                                  time_point deadline, const std::function<bool()>& stop) {
  // Lock order: the caller's mutex, then mutex_. advance() never holds
  // mutex_ while it takes a caller's mutex.
  {
    std::lock_guard guard(mutex_);
    waiters_.push_back({lock.mutex(), &cv});
    ++waits_begun_;
  }
  waits_changed_.notify_all();
  cv.wait(lock, [&] { return stop() || now() >= deadline; });
  {
    std::lock_guard guard(mutex_);
    auto it = std::find_if(waiters_.begin(), waiters_.end(), [&](const Waiter& w) { return w.cv == &cv; });
    if (it != waiters_.end()) waiters_.erase(it);
  }
  return stop();
}

void ManualSteadyTime::advance(std::chrono::nanoseconds by) {
  std::vector<Waiter> waiting;
  {
    std::lock_guard guard(mutex_);
    now_ += std::chrono::duration_cast<std::chrono::steady_clock::duration>(by);
    waiting = waiters_;
  }
  // Taking each waiter's mutex before notifying means a waiter that checked
  // its deadline against the old time is already blocked in wait(): no lost
  // wake-up. A waiter that registers after the copy above sees the new time.
  for (const Waiter& w : waiting) {
    { std::lock_guard hold(*w.mutex); }
    w.cv->notify_all();
  }
}

std::uint64_t ManualSteadyTime::waits_begun() const {
  std::lock_guard guard(mutex_);
  return waits_begun_;
}

bool ManualSteadyTime::wait_for_waits_beyond(std::uint64_t seen, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return waits_changed_.wait_for(lock, timeout, [&] { return waits_begun_ > seen; });
}

double thread_cpu_seconds() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace shoppulse
