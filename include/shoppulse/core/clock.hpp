#pragma once
// Time is injected: production uses SystemClock, tests drive a ManualClock.
#include <atomic>

#include "shoppulse/core/event.hpp"

namespace shoppulse {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimestampMs now_ms() const noexcept = 0;  // wall clock, ms since epoch
};

class SystemClock final : public Clock {
 public:
  TimestampMs now_ms() const noexcept override;
};

// Thread-safe manual clock for tests.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimestampMs start = 0) : now_(start) {}
  TimestampMs now_ms() const noexcept override { return now_.load(std::memory_order_relaxed); }
  void set(TimestampMs t) noexcept { now_.store(t, std::memory_order_relaxed); }
  void advance(TimestampMs d) noexcept { now_.fetch_add(d, std::memory_order_relaxed); }

 private:
  std::atomic<TimestampMs> now_;
};

}  // namespace shoppulse
