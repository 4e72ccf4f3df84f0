// The window engine on its own: apply a vector of events, read the windows.
// No server, no event log, no threads. Prints the 5-minute KPIs and exits 0
// when they match what was fed in.
#include <cstdio>
#include <vector>

#include "shoppulse/windows/window_engine.hpp"

int main() {
  using namespace shoppulse;
  WindowEngine engine(WindowConfig{});

  // Ids are dense integers (an application interns its own strings).
  const TimestampMs t0 = 1'700'000'000'000;
  std::vector<Event> events;
  for (Sequence i = 1; i <= 30; ++i) {
    Event e;
    e.sequence = i;
    e.time_ms = t0 + static_cast<TimestampMs>(i) * 1000;
    e.user = static_cast<Id>(1 + i % 3);
    e.product = static_cast<Id>(1 + i % 5);
    e.category = 1;
    e.type = i % 10 == 0 ? EventType::purchase : EventType::view;
    e.price_minor = 1999;
    events.push_back(e);
  }
  engine.apply(events);

  const auto snapshot = engine.snapshot();
  const Kpis& k = snapshot->window(WindowSpan::m5).current;
  std::printf("5m window: %llu events, %llu purchases, revenue %lld.%02lld, %llu active users\n",
              (unsigned long long)k.total_events(), (unsigned long long)k.count(EventType::purchase),
              (long long)(k.revenue_minor / 100), (long long)(k.revenue_minor % 100),
              (unsigned long long)k.active_users);
  for (const RankedId& p : snapshot->window(WindowSpan::m5).top_products)
    std::printf("  product %u: %llu interactions\n", p.id, (unsigned long long)p.count);

  // The watermark (newest time - 2 s lateness) leaves out the newest events.
  const bool ok = k.total_events() > 0 && k.total_events() <= 30 && k.count(EventType::purchase) >= 2 &&
                  k.revenue_minor == static_cast<std::int64_t>(k.count(EventType::purchase)) * 1999 &&
                  k.active_users == 3;
  return ok ? 0 : 1;
}
