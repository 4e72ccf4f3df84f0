#pragma once
// Immutable results the engine thread publishes; readers on any thread share them.
#include <algorithm>
#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "shoppulse/core/event.hpp"

namespace shoppulse {

// The live sliding windows, each ending at the watermark.
enum class WindowSpan : std::uint8_t { m1 = 0, m5 = 1, m15 = 2, h1 = 3, h24 = 4 };
inline constexpr std::size_t kWindowSpanCount = 5;
std::int64_t span_ms(WindowSpan span) noexcept;
std::string_view to_string(WindowSpan span) noexcept;  // "1m", "5m", ...
bool parse_window_span(std::string_view text, WindowSpan& out) noexcept;

// Funnel steps: distinct users who did each of these in the window.
enum class FunnelStep : std::uint8_t { view = 0, click = 1, cart = 2, purchase = 3 };
inline constexpr std::size_t kFunnelSteps = 4;

struct Kpis {
  std::array<std::uint64_t, kEventTypeCount> events{};  // count per EventType
  std::int64_t revenue_minor = 0;                       // sum price*quantity of purchases
  std::uint64_t active_users = 0;                       // distinct users, any event
  // distinct users per funnel step; view = viewers, purchase = purchasers
  std::array<std::uint64_t, kFunnelSteps> funnel{};
  // active_users and funnel are HyperLogLog estimates (1.6 % standard
  // error), not exact counts: the previous windows of 1h and 24h.
  bool users_estimated = false;

  std::uint64_t count(EventType t) const noexcept { return events[static_cast<std::size_t>(t)]; }
  std::uint64_t total_events() const noexcept;
  // purchasers / viewers; 0 when there are no viewers. May exceed 1: a user
  // can buy in a window without having viewed in it.
  double conversion_rate() const noexcept;
  // revenue / purchases, minor units; 0 when no purchases
  std::int64_t average_order_value_minor() const noexcept;
  bool operator==(const Kpis&) const = default;
};

struct RankedId {
  Id id = kNoId;
  std::uint64_t count = 0;
  bool operator==(const RankedId&) const = default;
};

// The order of every ranked list: higher count first, then smaller id.
inline bool ranks_before(const RankedId& a, const RankedId& b) noexcept {
  return a.count != b.count ? a.count > b.count : a.id < b.id;
}

// Keeps the best `limit` items of v, best first, by `better` (a strict
// order): every top-N list of counts (windows, rollups, range analysis).
template <class T, class Better>
void keep_best(std::vector<T>& v, std::size_t limit, Better better) {
  if (v.size() > limit) {
    std::partial_sort(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(limit), v.end(), better);
    v.resize(limit);
  } else {
    std::sort(v.begin(), v.end(), better);
  }
}

struct WindowView {
  WindowSpan span = WindowSpan::m5;
  TimestampMs start_ms = 0;  // inclusive
  TimestampMs end_ms = 0;    // exclusive
  Kpis current;
  Kpis previous;  // the previous window of equal length, [start - len, start)
  // Ties broken by smaller id. Counts are interactions (events of any type).
  std::vector<RankedId> top_products;    // top N
  std::vector<RankedId> top_categories;  // top N
  std::vector<RankedId> devices;         // all, by count
  std::vector<RankedId> locations;       // all, by count
};

// One empty view per span, in span order.
inline std::array<WindowView, kWindowSpanCount> empty_windows() {
  std::array<WindowView, kWindowSpanCount> views;
  for (std::size_t i = 0; i < views.size(); ++i) views[i].span = static_cast<WindowSpan>(i);
  return views;
}

struct WindowSnapshot {
  TimestampMs watermark_ms = 0;       // max event time seen - allowed lateness
  TimestampMs max_event_time_ms = 0;
  Sequence applied_through = 0;       // last sequence reflected
  std::uint64_t events_applied = 0;   // since start, including replay
  std::uint64_t events_too_late = 0;  // older than the live windows keep
  // windows[i] is span i, also in a snapshot of nothing (the one readers
  // see before the engine's first publish).
  std::array<WindowView, kWindowSpanCount> windows = empty_windows();

  const WindowView& window(WindowSpan s) const noexcept { return windows[static_cast<std::size_t>(s)]; }
};

}  // namespace shoppulse
