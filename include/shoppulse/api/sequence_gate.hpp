#pragma once
// Read-your-writes for the API: a request carrying min_sequence=N is held,
// without a thread of its own, until the derived state it reads (the
// windows' published snapshot, the recommender) has applied N, or until its
// deadline passes.
//
// Role: the engine and recommend threads report progress through advance();
// wait() registers a completion that runs once every requested stage has
// reached the sequence (ready = true) or at the deadline (ready = false).
// Completions run on the gate's one timer thread, never on an I/O thread nor
// on a thread that owns derived state, so a slow completion delays only other
// completions.
// Lifecycle: start() spawns the timer thread; stop() completes every waiter
// with ready = false and joins; later wait() calls answer unavailable.
// Threading: every public method from any thread.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "shoppulse/core/event.hpp"
#include "shoppulse/core/result.hpp"

namespace shoppulse::api {

enum class Stage : unsigned { windows = 1, recommender = 2 };
using Stages = unsigned;  // a bitwise or of Stage values
constexpr Stages operator|(Stage a, Stage b) noexcept { return unsigned(a) | unsigned(b); }
constexpr Stages kWindows = unsigned(Stage::windows);
constexpr Stages kRecommender = unsigned(Stage::recommender);

class SequenceGate {
 public:
  using Completion = std::function<void(bool ready)>;

  explicit SequenceGate(std::size_t max_waiters = 4096);
  ~SequenceGate();
  SequenceGate(const SequenceGate&) = delete;
  SequenceGate& operator=(const SequenceGate&) = delete;

  void start();
  void stop();

  // The stage has applied every event up to `through` (never goes back).
  void advance(Stage stage, Sequence through);
  // The smallest sequence a waiter needs the windows stage to publish, or
  // kNothingWanted when none waits for it. Lock-free: the engine thread asks
  // after every batch it applies, and publishes early when it has applied
  // that far, instead of keeping the reader until the next periodic publish.
  static constexpr Sequence kNothingWanted = ~Sequence{0};
  Sequence windows_wanted() const noexcept { return windows_wanted_.load(std::memory_order_relaxed); }
  Sequence applied(Stage stage) const;

  // Runs done(true) once every stage in `stages` has applied `sequence`
  // (inline when it already has), done(false) after max_wait. overloaded when
  // max_waiters are waiting, unavailable when stopped; done is not called
  // then.
  Result<void> wait(Stages stages, Sequence sequence, std::chrono::milliseconds max_wait, Completion done);

 private:
  struct Waiter {
    Stages stages;
    Sequence sequence;
    std::chrono::steady_clock::time_point deadline;
    Completion done;
  };
  bool reached(Stages stages, Sequence sequence) const;  // with mutex_ held
  void update_wanted();                                   // with mutex_ held
  void run();

  const std::size_t max_waiters_;
  mutable std::mutex mutex_;  // guards everything below
  std::condition_variable wake_;
  Sequence windows_ = 0;
  Sequence recommender_ = 0;
  std::vector<Waiter> waiters_;
  std::atomic<Sequence> windows_wanted_{kNothingWanted};  // written with mutex_ held
  bool running_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace shoppulse::api
