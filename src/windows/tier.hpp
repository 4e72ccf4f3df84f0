#pragma once
// One bucket tier of the window engine: a ring of equal-width buckets and the
// sliding windows (current and previous of each span) built on them.
//
// Role: the fine tier (1 s buckets) serves 1m/5m/15m, the coarse tier (60 s
// buckets, which double as minute rollups) serves 1h/24h. The ring holds every
// bucket from the horizon (end - 2 x longest span) up to the newest event.
// Windows move incrementally: when the end advances, only the buckets that
// cross a window boundary are visited, each once, with the set of windows it
// enters and leaves.
//
// Per-id state is shared by all windows of the tier and indexed by the dense
// interned id (DenseRows): a user's row holds, per window, the number of
// buckets in the window where the user did anything and did each funnel step,
// so distinct counts stay exact and change only when such a count crosses
// zero; a product's or category's row holds its interactions in each current
// window (previous windows report KPIs only). A bucket crossing several
// boundaries at once is one pass over its users and products.
// Lifecycle: owned by the engine state. Threading: the engine thread.
#include <array>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "aggregates.hpp"
#include "dense_rows.hpp"
#include "shoppulse/windows/window_snapshot.hpp"

namespace shoppulse::windows {

inline std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  const std::int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// The running sums of one window that need no per-id state.
struct WindowTotals {
  std::array<std::uint64_t, kEventTypeCount> events{};
  std::int64_t revenue_minor = 0;
  std::uint64_t active_users = 0;
  std::array<std::uint64_t, kFunnelSteps> funnel{};
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

  bool serves(WindowSpan span) const noexcept { return span_index(span) >= 0; }
  // The figures of a span this tier serves.
  Kpis kpis(WindowSpan span, bool previous) const;
  std::vector<RankedId> top_products(WindowSpan span, std::size_t limit) const;
  std::vector<RankedId> top_categories(WindowSpan span, std::size_t limit) const;
  std::vector<RankedId> devices(WindowSpan span) const;
  std::vector<RankedId> locations(WindowSpan span) const;

  // Heap bytes of the ring's buckets and the per-id rows.
  std::size_t memory_bytes() const noexcept;

 private:
  static constexpr std::size_t kUserCells = 1 + kFunnelSteps;  // any, then one per funnel step

  std::size_t ring_pos(std::int64_t bucket) const noexcept {
    const auto n = static_cast<std::int64_t>(ring_.size());
    return static_cast<std::size_t>(((bucket % n) + n) % n);
  }
  int span_index(WindowSpan span) const noexcept;
  // Bit 2i: bucket in span i's current window at this end; bit 2i+1: in its previous.
  std::uint32_t membership(std::int64_t bucket, std::int64_t end) const noexcept;
  // Adds the bucket to the windows in `added` and subtracts it from those in `removed`.
  void move_bucket(const Bucket& b, std::uint32_t added, std::uint32_t removed);
  void apply_user(Id user, std::uint8_t mask, bool first_in_bucket, std::uint32_t added, std::uint32_t removed);
  static void apply_counts(DenseRows<std::uint64_t>& rows, Id id, std::uint64_t n, std::uint32_t added_spans,
                           std::uint32_t removed_spans);
  std::vector<RankedId> top_of(const DenseRows<std::uint64_t>& rows, std::size_t column, std::size_t limit) const;

  std::int64_t width_ms_;
  std::int64_t horizon_length_ = 0;
  std::int64_t end_ = kNoBucket;
  std::vector<Bucket> ring_;
  std::vector<WindowSpan> spans_;
  std::vector<std::int64_t> lengths_;           // in buckets, per span
  std::vector<WindowTotals> totals_;            // 2 per span: current, previous
  std::vector<FlatMap<std::uint64_t>> devices_;    // per span, current window
  std::vector<FlatMap<std::uint64_t>> locations_;  // per span, current window
  DenseRows<std::uint16_t> users_;     // kUserCells per window; a count is at most a window's length in buckets
  DenseRows<std::uint64_t> products_;  // one per span: interactions in its current window
  DenseRows<std::uint64_t> categories_;
  std::vector<std::int64_t> candidates_;  // scratch of advance(), kept to avoid allocating
  std::vector<std::pair<Id, std::uint64_t>> moving_;  // scratch of move_bucket(): ids and their mask or count
};

}  // namespace shoppulse::windows
