#include "shoppulse/windows/filtered.hpp"

#include <algorithm>
#include <map>

#include "aggregates.hpp"
#include "shoppulse/core/flat_map.hpp"
#include "tier.hpp"

namespace shoppulse {

using windows::floor_div;
using windows::ranked;

namespace {

// Same bucket widths as the live tiers.
std::int64_t bucket_width_ms(WindowSpan s) noexcept { return span_ms(s) <= 15 * 60'000 ? 1'000 : 60'000; }

// One window's running figures; users carry their type mask so distinct
// counts are exact.
struct Accumulator {
  std::array<std::uint64_t, kEventTypeCount> events{};
  std::int64_t revenue_minor = 0;
  FlatMap<std::uint8_t> users;

  void add(const Event& e) {
    ++events[static_cast<std::size_t>(e.type)];
    revenue_minor += e.revenue_minor();
    std::uint8_t& mask = users[e.user];
    mask = static_cast<std::uint8_t>(mask | type_bit(e.type));
  }

  Kpis kpis() const {
    Kpis k;
    k.events = events;
    k.revenue_minor = revenue_minor;
    k.active_users = users.size();
    users.for_each([&](Id, std::uint8_t mask) {
      for (std::size_t s = 0; s < kFunnelSteps; ++s)
        if (mask & type_bit(windows::kFunnelTypes[s])) ++k.funnel[s];
    });
    return k;
  }
};


template <class Fn>
void for_each_event(const BufferedEvents& events, Fn&& fn) {
  for (const BufferedEvent& e : events.older) fn(e.event());
  for (const BufferedEvent& e : events.newer) fn(e.event());
}

}  // namespace

FilteredView filtered_window(const BufferedEvents& events, const EventFilter& filter, WindowSpan span,
                             bool has_events, TimestampMs watermark_ms, std::size_t top_n) {
  FilteredView out;
  out.covered_from_ms = events.covered_from_ms;
  WindowView& view = out.view;
  view.span = span;
  if (!has_events) return out;
  const std::int64_t width = bucket_width_ms(span);
  const std::int64_t len = span_ms(span);
  view.end_ms = floor_div(watermark_ms, width) * width;
  view.start_ms = view.end_ms - len;
  const TimestampMs prev_start = view.start_ms - len;
  out.complete = events.covered_from_ms <= prev_start;

  Accumulator current;
  Accumulator previous;
  FlatMap<std::uint64_t> products, categories, devices, locations;
  for_each_event(events, [&](const Event& e) {
    if (e.time_ms < prev_start || e.time_ms >= view.end_ms || !filter.matches(e)) return;
    if (e.time_ms < view.start_ms) {
      previous.add(e);
      return;
    }
    current.add(e);
    if (e.product != kNoId) ++products[e.product];
    if (e.category != kNoId) ++categories[e.category];
    if (e.device != kNoId) ++devices[e.device];
    if (e.location != kNoId) ++locations[e.location];
  });
  view.current = current.kpis();
  view.previous = previous.kpis();
  view.top_products = ranked(products, top_n);
  view.top_categories = ranked(categories, top_n);
  view.devices = ranked(devices, devices.size());
  view.locations = ranked(locations, locations.size());
  return out;
}

FilteredMinutes filtered_minutes(const BufferedEvents& events, const EventFilter& filter, std::int64_t from_minute,
                                 std::int64_t to_minute, bool breakdowns) {
  FilteredMinutes out;
  out.covered_from_ms = events.covered_from_ms;
  if (to_minute <= from_minute) return out;
  out.complete = events.covered_from_ms <= from_minute * 60'000;
  if (!breakdowns) {
    std::map<std::int64_t, Accumulator> minutes;
    for_each_event(events, [&](const Event& e) {
      if (!filter.matches(e)) return;
      const std::int64_t minute = floor_div(e.time_ms, 60'000);
      if (minute >= from_minute && minute < to_minute) minutes[minute].add(e);
    });
    out.minutes.reserve(minutes.size());
    for (const auto& [minute, acc] : minutes) {
      MinuteRollup& r = out.minutes.emplace_back();
      r.minute = minute;
      r.events = acc.events;
      r.revenue_minor = acc.revenue_minor;
      r.users.reserve(acc.users.size());
      acc.users.for_each([&](Id u, std::uint8_t mask) { r.users.emplace_back(u, mask); });
      std::sort(r.users.begin(), r.users.end());
    }
    return out;
  }
  // A bucket per minute, filled in arrival order exactly like the engine's
  // coarse buckets, so the rollups agree field for field.
  std::map<std::int64_t, windows::Bucket> buckets;
  for_each_event(events, [&](const Event& e) {
    if (!filter.matches(e)) return;
    const std::int64_t minute = floor_div(e.time_ms, 60'000);
    if (minute < from_minute || minute >= to_minute) return;
    auto [it, fresh] = buckets.try_emplace(minute);
    if (fresh) it->second.reset(minute);
    it->second.add(e);
  });
  out.minutes.reserve(buckets.size());
  for (const auto& [minute, bucket] : buckets) out.minutes.push_back(bucket.to_rollup(minute));
  return out;
}

}  // namespace shoppulse
