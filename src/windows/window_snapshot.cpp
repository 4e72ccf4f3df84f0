#include "shoppulse/windows/window_snapshot.hpp"

namespace shoppulse {

namespace {
constexpr std::array<std::string_view, kWindowSpanCount> kSpanNames{"1m", "5m", "15m", "1h", "24h"};
constexpr std::array<std::int64_t, kWindowSpanCount> kSpanMs{60'000, 300'000, 900'000, 3'600'000, 86'400'000};
}  // namespace

std::int64_t span_ms(WindowSpan span) noexcept { return kSpanMs[static_cast<std::size_t>(span)]; }

std::string_view to_string(WindowSpan span) noexcept { return kSpanNames[static_cast<std::size_t>(span)]; }

bool parse_window_span(std::string_view text, WindowSpan& out) noexcept {
  for (std::size_t i = 0; i < kWindowSpanCount; ++i) {
    if (kSpanNames[i] == text) {
      out = static_cast<WindowSpan>(i);
      return true;
    }
  }
  return false;
}

std::uint64_t Kpis::total_events() const noexcept {
  std::uint64_t n = 0;
  for (auto c : events) n += c;
  return n;
}

double Kpis::conversion_rate() const noexcept {
  const auto viewers = funnel[static_cast<std::size_t>(FunnelStep::view)];
  const auto buyers = funnel[static_cast<std::size_t>(FunnelStep::purchase)];
  return viewers ? static_cast<double>(buyers) / static_cast<double>(viewers) : 0.0;
}

std::int64_t Kpis::average_order_value_minor() const noexcept {
  const auto purchases = count(EventType::purchase);
  return purchases ? revenue_minor / static_cast<std::int64_t>(purchases) : 0;
}

}  // namespace shoppulse
