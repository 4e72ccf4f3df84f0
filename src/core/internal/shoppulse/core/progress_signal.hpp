#pragma once
// Lets other threads wait for a change to state that one owner thread
// publishes under its mutex (the engine thread's and the recommend thread's
// stats), instead of polling it.
//
// Role: whoever changes that state (the owner thread, or a thread it
// started that stores a result, like the recommender's checkpoint writer)
// calls changed() with the mutex held after each change; that notifies only
// while a thread waits, so a change with no waiter costs one read of a
// counter. wait_until() checks its predicate under the same mutex before
// each wait, so a change made between the check and the wait is not missed.
// Threading: both calls with the owner's mutex held (wait_until through the
// lock it is given, which it releases while it blocks).
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <utility>

namespace shoppulse {

class ProgressSignal {
 public:
  ProgressSignal() = default;
  ProgressSignal(const ProgressSignal&) = delete;
  ProgressSignal& operator=(const ProgressSignal&) = delete;

  // With the owner's mutex held: wakes the waiters, if any, to check again.
  void changed() {
    if (waiters_ > 0) cv_.notify_all();
  }

  // `lock` holds the owner's mutex. Blocks until ready() is true or the
  // deadline passes; answers ready().
  template <class Ready>
  bool wait_until(std::unique_lock<std::mutex>& lock, std::chrono::steady_clock::time_point deadline, Ready&& ready) {
    struct Waiting {
      std::uint32_t& waiters;
      explicit Waiting(std::uint32_t& w) : waiters(w) { ++waiters; }
      ~Waiting() { --waiters; }  // the lock is held again here, also when ready() throws
    } waiting(waiters_);
    return cv_.wait_until(lock, deadline, std::forward<Ready>(ready));
  }

 private:
  std::condition_variable cv_;
  std::uint32_t waiters_ = 0;  // guarded by the owner's mutex
};

}  // namespace shoppulse
