#pragma once
// Tasks that other threads hand to the one thread owning a T (the engine,
// the recommender): bounded, run in arrival order between the owner's
// batches, each with read access to the owner's state.
// Threading: push() and clear() from any thread; run_all() from the owner.
#include <deque>
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
  void run_all(const T& target) {
    std::deque<Task> todo;
    {
      std::lock_guard lock(mutex_);
      todo.swap(tasks_);
    }
    for (Task& task : todo) task(target);
  }

  void clear() {
    std::lock_guard lock(mutex_);
    tasks_.clear();
  }

 private:
  const std::size_t capacity_;
  const std::string who_;
  std::mutex mutex_;  // guards tasks_
  std::deque<Task> tasks_;
};

}  // namespace shoppulse
