#pragma once
// Turns fuzz input into a stream of interned events in log order: sequences
// ascend from 1, times wander around a base (out of order, sometimes hours
// apart), ids come from small ranges so users, items and categories repeat.
#include <vector>

#include "fuzz_input.hpp"
#include "shoppulse/core/event.hpp"

namespace shoppulse::fuzz {

inline constexpr TimestampMs kStreamBase = 1709294400000;  // 2024-03-01T12:00:00Z

inline std::vector<Event> event_stream(FuzzInput& in, std::size_t max_events) {
  std::vector<Event> events;
  const std::size_t n = in.byte() % (max_events + 1);
  TimestampMs t = kStreamBase;
  for (std::size_t i = 0; i < n && !in.empty(); ++i) {
    Event e;
    e.sequence = i + 1;
    const std::uint8_t step = in.byte();
    if (step < 200) t += step * 97;                       // mostly forward, under 20 s
    else if (step < 240) t -= (step - 199) * 1000;       // late, up to 40 s
    else t += std::int64_t(step - 239) * 3'600'000 / 4;  // a jump of up to 4 h
    e.time_ms = t;
    e.type = static_cast<EventType>(in.byte() % kEventTypeCount);
    e.user = 1 + in.byte() % 24;
    e.product = 1 + in.byte() % 40;
    e.category = 1 + e.product % 6;
    e.device = in.byte() % 4;
    e.location = in.byte() % 5;
    e.quantity = 1 + in.byte() % 3;
    e.price_minor = e.type == EventType::purchase ? 100 * (1 + in.byte() % 50) : 0;
    e.rating = e.type == EventType::rate ? 1 + in.byte() % 5 : 0;
    events.push_back(e);
  }
  return events;
}

}  // namespace shoppulse::fuzz
