#include "shoppulse/api/sequence_gate.hpp"

#include <algorithm>
#include <utility>

namespace shoppulse::api {

SequenceGate::SequenceGate(std::size_t max_waiters) : max_waiters_(max_waiters) {}

SequenceGate::~SequenceGate() { stop(); }

void SequenceGate::start() {
  std::lock_guard lock(mutex_);
  if (running_) return;
  running_ = true;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void SequenceGate::stop() {
  {
    std::lock_guard lock(mutex_);
    if (!running_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  std::lock_guard lock(mutex_);
  running_ = false;
}

void SequenceGate::advance(Stage stage, Sequence through) {
  bool waiting;
  {
    std::lock_guard lock(mutex_);
    Sequence& at = stage == Stage::windows ? windows_ : recommender_;
    if (through <= at) return;
    at = through;
    waiting = !waiters_.empty();
    if (waiting && stage == Stage::windows) update_wanted();
  }
  if (waiting) wake_.notify_all();
}

Sequence SequenceGate::applied(Stage stage) const {
  std::lock_guard lock(mutex_);
  return stage == Stage::windows ? windows_ : recommender_;
}

void SequenceGate::update_wanted() {
  Sequence wanted = kNothingWanted;
  for (const Waiter& w : waiters_)
    if ((w.stages & kWindows) && windows_ < w.sequence) wanted = std::min(wanted, w.sequence);
  windows_wanted_.store(wanted, std::memory_order_relaxed);
}

bool SequenceGate::reached(Stages stages, Sequence sequence) const {
  if ((stages & kWindows) && windows_ < sequence) return false;
  if ((stages & kRecommender) && recommender_ < sequence) return false;
  return true;
}

Result<void> SequenceGate::wait(Stages stages, Sequence sequence, std::chrono::milliseconds max_wait,
                                Completion done) {
  {
    std::lock_guard lock(mutex_);
    if (!running_ || stopping_) return make_error(Errc::unavailable, "shutting down");
    if (!reached(stages, sequence)) {
      if (waiters_.size() >= max_waiters_)
        return make_error(Errc::overloaded, "too many requests waiting for min_sequence");
      waiters_.push_back(Waiter{stages, sequence, std::chrono::steady_clock::now() + max_wait, std::move(done)});
      update_wanted();
      wake_.notify_all();  // the deadline may be the earliest
      return {};
    }
  }
  done(true);
  return {};
}

void SequenceGate::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::pair<Completion, bool>> due;
    auto keep = std::partition(waiters_.begin(), waiters_.end(), [&](const Waiter& w) {
      return !stopping_ && !reached(w.stages, w.sequence) && w.deadline > now;
    });
    for (auto it = keep; it != waiters_.end(); ++it)
      due.emplace_back(std::move(it->done), !stopping_ && reached(it->stages, it->sequence));
    waiters_.erase(keep, waiters_.end());
    update_wanted();
    if (!due.empty()) {
      lock.unlock();
      for (auto& [done, ready] : due) done(ready);
      lock.lock();
      continue;  // progress may have been made meanwhile
    }
    if (stopping_) return;
    if (waiters_.empty()) {
      wake_.wait(lock);
    } else {
      auto earliest = std::min_element(waiters_.begin(), waiters_.end(), [](const Waiter& a, const Waiter& b) {
                        return a.deadline < b.deadline;
                      })->deadline;
      wake_.wait_until(lock, earliest);
    }
  }
}

}  // namespace shoppulse::api
