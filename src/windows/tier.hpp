#pragma once
// One bucket tier of the window engine: a ring of equal-width buckets and the
// sliding windows (current and previous of each span) built on them.
//
// Role: the fine tier (1 s buckets) serves 1m/5m/15m, the coarse tier (60 s
// buckets, which double as minute rollups) serves 1h/24h. The ring holds every
// bucket from the horizon (end - 2 x longest span) up to the newest event.
// Windows move incrementally: when the end advances, entering buckets are
// added and leaving ones subtracted; a jump longer than a window rebuilds it.
// Lifecycle: owned by the engine state. Threading: the engine thread.
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "aggregates.hpp"
#include "shoppulse/windows/window_snapshot.hpp"

namespace shoppulse::windows {

inline std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  const std::int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

struct SpanWindows {
  WindowSpan span = WindowSpan::m1;
  std::int64_t length = 0;  // in buckets
  WindowAggregate current;  // [end - length, end)
  WindowAggregate previous; // [end - 2 length, end - length)
};

class Tier {
 public:
  Tier(std::int64_t width_ms, std::initializer_list<WindowSpan> spans, std::int64_t allowed_lateness_ms);

  std::int64_t width_ms() const noexcept { return width_ms_; }
  bool started() const noexcept { return end_ != kNoBucket; }
  std::int64_t end() const noexcept { return end_; }  // in buckets; kNoBucket before the first event
  // Oldest bucket that can still matter to a window; older events skip this tier.
  std::int64_t horizon() const noexcept { return end_ - horizon_length_; }

  Bucket& slot(std::int64_t bucket) noexcept { return ring_[ring_pos(bucket)]; }
  Bucket* find(std::int64_t bucket) noexcept {
    Bucket& s = slot(bucket);
    return s.index == bucket ? &s : nullptr;
  }
  const Bucket* find(std::int64_t bucket) const noexcept { return const_cast<Tier*>(this)->find(bucket); }
  const std::vector<Bucket>& ring() const noexcept { return ring_; }

  // Moves every window's end to new_end (no-op unless it grows). Must run
  // before a slot is reused for a bucket past the old end, so that leaving
  // buckets are still in the ring when they are subtracted.
  void advance(std::int64_t new_end);
  // Sets the end without sliding and rebuilds every window from the ring
  // (used on restore).
  void reset_end(std::int64_t end);
  // Records that an event landed in `bucket` (already added to it), updating
  // the windows that currently cover that bucket.
  void on_event(const Event& e, std::int64_t bucket, std::uint8_t mask_before);

  const SpanWindows* windows_of(WindowSpan span) const noexcept;

 private:
  std::size_t ring_pos(std::int64_t bucket) const noexcept {
    const auto n = static_cast<std::int64_t>(ring_.size());
    return static_cast<std::size_t>(((bucket % n) + n) % n);
  }
  void add_range(WindowAggregate& w, std::int64_t from, std::int64_t to);
  void subtract_range(WindowAggregate& w, std::int64_t from, std::int64_t to);
  void slide(WindowAggregate& w, std::int64_t old_lo, std::int64_t old_hi, std::int64_t new_lo, std::int64_t new_hi);

  std::int64_t width_ms_;
  std::int64_t horizon_length_ = 0;
  std::int64_t end_ = kNoBucket;
  std::vector<Bucket> ring_;
  std::vector<SpanWindows> spans_;
};

}  // namespace shoppulse::windows
