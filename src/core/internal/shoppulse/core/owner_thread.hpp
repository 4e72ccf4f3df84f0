#pragma once
// The start/stop protocol of a thread that owns a piece of derived state
// (the engine thread, the recommend thread).
//
// Role: spawns the owner's loop once, asks it to finish, wakes and joins it.
// The flags are guarded by the owner's mutex, which also guards the owner's
// other fields; the loop reads stop_requested() under that mutex to know
// when to finish, and request paths check accepting() under it.
// Threading: start/stop from any thread, one at a time; the accessors with
// the owner's mutex held.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

namespace shoppulse {

class OwnerThread {
 public:
  OwnerThread() = default;
  OwnerThread(const OwnerThread&) = delete;
  OwnerThread& operator=(const OwnerThread&) = delete;

  // Spawns body unless the thread is running. Takes the mutex.
  template <class Body>
  void start(std::mutex& mutex, Body&& body) {
    std::lock_guard lock(mutex);
    if (running_) return;
    running_ = true;
    stop_requested_ = false;
    thread_ = std::thread(std::forward<Body>(body));
  }

  // Asks the thread to finish, wakes it, joins it, then runs after_join with
  // the mutex held. Nothing happens when it is not running.
  template <class AfterJoin>
  void stop(std::mutex& mutex, std::condition_variable& wake, AfterJoin&& after_join) {
    {
      std::lock_guard lock(mutex);
      if (!running_) return;
      stop_requested_ = true;
    }
    wake.notify_all();
    thread_.join();
    std::lock_guard lock(mutex);
    running_ = false;
    after_join();
  }

  // With the owner's mutex held.
  bool stop_requested() const noexcept { return stop_requested_; }
  // Takes the owner's mutex.
  bool stop_requested(std::mutex& mutex) const {
    std::lock_guard lock(mutex);
    return stop_requested_;
  }
  // On the thread: waits up to `pause` or until stop() asks it to finish
  // (stop() notifies `wake`); true when asked. Takes the owner's mutex.
  template <class Rep, class Period>
  bool pause(std::mutex& mutex, std::condition_variable& wake, std::chrono::duration<Rep, Period> pause) const {
    std::unique_lock lock(mutex);
    return wake.wait_for(lock, pause, [this] { return stop_requested_; });
  }
  // With the owner's mutex held: running and not asked to stop.
  bool accepting() const noexcept { return running_ && !stop_requested_; }

 private:
  bool running_ = false;
  bool stop_requested_ = false;
  std::thread thread_;
};

}  // namespace shoppulse
