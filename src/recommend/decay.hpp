#pragma once
// Small value types for event-time decay, private to the recommend module.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>

#include "shoppulse/core/byte_codec.hpp"
#include "shoppulse/core/event.hpp"

namespace shoppulse::recommend_detail {

// A checkpoint's times (the recommender's and the propensity model's) lie
// within this of the epoch, about 8,900 years; a value past it is damage,
// refused before arithmetic on it overflows.
inline constexpr std::int64_t kMaxCheckpointTimeMs = std::int64_t{1} << 48;

// A signed value within [-limit, limit], or the "none yet" sentinel (the
// smallest int64) as it is; anything else fails the reader.
inline std::int64_t svarint_within_or_none(ByteReader& r, std::int64_t limit) noexcept {
  const std::int64_t v = r.svarint();
  if (v != std::numeric_limits<std::int64_t>::min() && (v < -limit || v > limit)) r.fail();
  return v;
}

// 2^(-dt / half_life); 1 for dt <= 0.
inline double decay_factor(std::int64_t dt_ms, std::int64_t half_life_ms) noexcept {
  if (dt_ms <= 0 || half_life_ms <= 0) return 1.0;
  return std::exp2(-static_cast<double>(dt_ms) / static_cast<double>(half_life_ms));
}

// An exponentially decaying sum. Stored with the time it was last brought up
// to date; an addition older than that time is decayed instead, so late
// events never inflate the value.
struct Decayed {
  float value = 0;
  TimestampMs time = 0;

  void add(double w, TimestampMs t, std::int64_t half_life_ms) noexcept {
    if (t >= time) {
      value = static_cast<float>(value * decay_factor(t - time, half_life_ms) + w);
      time = t;
    } else {
      value = static_cast<float>(value + w * decay_factor(time - t, half_life_ms));
    }
  }
  double at(TimestampMs now, std::int64_t half_life_ms) const noexcept {
    return value * decay_factor(now - time, half_life_ms);
  }
};

// Weighted counts in the current clock hour and the two before it, enough to
// estimate sliding "last 60 minutes" and "the 60 minutes before" by
// prorating the partial hours.
struct HourCounts {
  static constexpr std::int64_t kHourMs = 3600 * 1000;
  std::int64_t hour = std::numeric_limits<std::int64_t>::min();
  std::array<float, 3> counts{};  // [hour], [hour-1], [hour-2]

  void roll(std::int64_t to_hour) noexcept {
    if (hour == std::numeric_limits<std::int64_t>::min() || to_hour - hour >= 3) {
      counts = {};
    } else {
      for (std::int64_t h = hour; h < to_hour; ++h) counts = {0.0f, counts[0], counts[1]};
    }
    hour = to_hour;
  }
  void add(TimestampMs t, float w) noexcept {
    const std::int64_t h = t / kHourMs;
    if (h > hour) roll(h);
    const std::int64_t back = hour - h;
    if (back >= 0 && back < 3) counts[static_cast<std::size_t>(back)] += w;
  }
  // {last 60 minutes, the 60 minutes before} as of now.
  std::pair<double, double> last_and_previous(TimestampMs now) const noexcept {
    const std::int64_t h = now / kHourMs;
    std::array<double, 4> c{};  // c[k] = count of hour h-k
    if (hour != std::numeric_limits<std::int64_t>::min()) {
      for (std::size_t i = 0; i < 3; ++i) {
        const std::int64_t k = h - (hour - static_cast<std::int64_t>(i));
        if (k >= 0 && k < 4) c[static_cast<std::size_t>(k)] = counts[i];
      }
    }
    const double f = static_cast<double>(now - h * kHourMs) / kHourMs;  // elapsed part of this hour
    return {c[0] + c[1] * (1 - f), c[1] * f + c[2] * (1 - f)};
  }
  bool stale(TimestampMs now) const noexcept { return now / kHourMs - hour >= 3; }
};

}  // namespace shoppulse::recommend_detail
