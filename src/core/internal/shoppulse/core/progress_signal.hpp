#pragma once
// Lets other threads wait for a change to state that one owner thread
// publishes under its mutex (the engine thread's and the recommend thread's
// stats), instead of polling it.
//
// Role: whoever changes that state (the owner thread, or a thread it
// started that stores a result, like the recommender's checkpoint writer)
// does so inside an Update, which holds the mutex for the change and wakes
// the waiters as it lets go, so a change cannot forget to signal. Waiters
// are notified only while a thread waits, so a change with no waiter costs
// one read of a counter. wait_until() checks its predicate under the same
// mutex before each wait, so a change made between the check and the wait
// is not missed. changed() is the bare signal, for the rare change made
// where the mutex is already held by code that cannot hand over its lock.
// Threading: every call with the owner's mutex held (an Update takes it;
// wait_until through the lock it is given, which it releases while it
// blocks).
#include <cassert>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <utility>

namespace shoppulse {

class ProgressSignal {
 public:
  class Update;

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

// A change to the signalled state: holds the owner's mutex from
// construction to destruction and wakes the waiters as it lets go, also
// when the change ends in an exception (a waiter then finds whatever was
// changed before it, or nothing new, and waits on).
//
//   {
//     ProgressSignal::Update update(progress, mutex);
//     stats.state = "running";
//   }
//
// The waiters are notified before the mutex is unlocked, not after:
// waiters_ is guarded by the mutex, so it can only be read under it; and a
// waiter woken by its deadline or spuriously may see the change as soon as
// the mutex is free, return, and let its thread destroy the object that
// holds the signal (a test's, or a runner being torn down), so a notify
// after the unlock could touch a destroyed condition variable. A woken
// waiter blocks briefly on the mutex until the destructor ends; that costs
// only while someone waits.
class ProgressSignal::Update {
 public:
  // Takes the mutex.
  Update(ProgressSignal& signal, std::mutex& mutex) : signal_(signal), lock_(mutex) {}
  // Takes over a lock that already holds the mutex (after a wait on another
  // condition variable, or a read that decides whether anything changes),
  // so that the read and the change are one hold of the mutex.
  Update(ProgressSignal& signal, std::unique_lock<std::mutex>&& held) : signal_(signal), lock_(std::move(held)) {
    assert(lock_.owns_lock());
  }
  ~Update() { signal_.changed(); }  // lock_ is released after this body: the mutex is still held here
  Update(const Update&) = delete;
  Update& operator=(const Update&) = delete;

 private:
  ProgressSignal& signal_;
  std::unique_lock<std::mutex> lock_;
};

}  // namespace shoppulse
