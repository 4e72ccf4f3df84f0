#pragma once
// Tasks that other threads hand to the one thread owning a T (the engine,
// the recommender): bounded, run in arrival order between the owner's
// batches, each with read access to the owner's state.
// Threading: push() and clear() from any thread; run_all() from the owner.
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <utility>

#include "shoppulse/core/result.hpp"

namespace shoppulse {

template <class T>
class TaskQueue {
 public:
  using Task = std::function<void(const T&)>;

  // who: the owner's name in the overloaded message ("the engine").
  TaskQueue(std::size_t capacity, std::string who) : capacity_(capacity), who_(std::move(who)) {}

  // overloaded when `capacity` tasks are already waiting.
  Result<void> push(Task task) {
    std::lock_guard lock(mutex_);
    if (tasks_.size() >= capacity_) return make_error(Errc::overloaded, "too many queries waiting for " + who_);
    tasks_.push_back(std::move(task));
    return {};
  }

  // Owner thread: runs every task queued so far (not those queued meanwhile).
  // A task that throws is reported to on_failure and the others still run:
  // one query's failure must not stop the owner (the engine would restart
  // from its checkpoint) nor the queries queued behind it.
  void run_all(const T& target) {
    std::deque<Task> todo;
    {
      std::lock_guard lock(mutex_);
      todo.swap(tasks_);
    }
    for (Task& task : todo) {
      try {
        task(target);
      } catch (const std::exception& e) {
        if (on_failure_) on_failure_(e);
      }
    }
  }

  // Called on the owner thread with what a task threw (set before use).
  void set_on_failure(std::function<void(const std::exception&)> f) { on_failure_ = std::move(f); }

  void clear() {
    std::lock_guard lock(mutex_);
    tasks_.clear();
  }

 private:
  const std::size_t capacity_;
  const std::string who_;
  std::mutex mutex_;  // guards tasks_
  std::deque<Task> tasks_;
  std::function<void(const std::exception&)> on_failure_;
};

}  // namespace shoppulse
