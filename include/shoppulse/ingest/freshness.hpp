#pragma once
// How fresh the published figures are: for each batch handed to ingest, the
// time from its submission (after parsing, before the queue) until the
// engine publishes a snapshot that includes its last event. This is the
// delay a shop sees between sending an event and finding it in a reader's
// answer, measured in the process rather than by a client polling for it.
//
// Threading: handed() only from the ingest thread (the one producer),
// published() only from the engine thread (the one consumer); the marks go
// between them through a bounded lock-free ring. A batch whose mark finds
// the ring full is counted as unmeasured, never waited for.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>

#include "shoppulse/core/event.hpp"
#include "shoppulse/core/metrics.hpp"
#include "shoppulse/ring/spsc_ring.hpp"

namespace shoppulse {

class FreshnessMeter {
 public:
  using Clock = std::chrono::steady_clock;
  // capacity: most batches in flight between the ingest and a publish that
  // are measured; batches beyond it are counted in unmeasured().
  explicit FreshnessMeter(MetricsRegistry& metrics, std::size_t capacity = 4096);
  FreshnessMeter(const FreshnessMeter&) = delete;
  FreshnessMeter& operator=(const FreshnessMeter&) = delete;

  // Ingest thread: the batch submitted at `submitted` is in the ring up to
  // and including sequence `last`.
  void handed(Sequence last, Clock::time_point submitted) noexcept;
  // Engine thread: a snapshot reflecting every event through `through` has
  // just become visible to readers at `now`.
  void published(Sequence through, Clock::time_point now = Clock::now());

  std::uint64_t measured() const noexcept { return visible_.count(); }
  std::uint64_t unmeasured() const noexcept { return unmeasured_.value(); }

 private:
  struct Mark {
    Sequence last;
    std::int64_t submitted_ns;  // Clock's time since its epoch
  };
  SpscRing<Mark> marks_;  // its capacity bounds the marks on the engine's side too
  std::deque<Mark> waiting_;  // engine thread: marks whose events are not yet published
  Histogram& visible_;
  Counter& unmeasured_;
};

}  // namespace shoppulse
