// The window engine's checkpoint decoder (WindowEngine::restore).
// Mode 0: the rest of the input is a checkpoint as read from storage.
// Mode 1: an event stream is applied to one engine, and to a second engine
//   that is checkpointed and restored half-way; both must end with the same
//   checkpoint (restore yields an engine that behaves exactly like the
//   original for every later event).
// Mode 2: a real checkpoint with bytes overwritten as the input says.
// Whatever restore accepts must checkpoint again to bytes that restore to
// the same bytes, and must answer queries and take events without failing.
#include <cstdint>

#include "event_stream.hpp"
#include "fuzz_configs.hpp"
#include "fuzz_input.hpp"
#include "shoppulse/windows/window_engine.hpp"

using namespace shoppulse;

namespace {

void exercise(WindowEngine& engine, fuzz::FuzzInput& in) {
  const std::string cp = engine.checkpoint();
  auto again = WindowEngine::restore(fuzz::window_config(), cp);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->checkpoint() == cp);
  (void)engine.snapshot();
  for (Id u = 1; u < 4; ++u) (void)engine.user_profile(u);
  EventFilter filter;
  filter.product = 1 + in.byte() % 40;
  (void)engine.filtered_view(filter, static_cast<WindowSpan>(in.byte() % kWindowSpanCount));
  const std::int64_t minute = engine.watermark_ms() / 60000;
  (void)engine.filtered_minutes(filter, minute - 5, minute + 1);
  (void)engine.minute_rollup(minute);
  std::vector<Event> more = fuzz::event_stream(in, 8);
  for (Event& e : more) {
    e.sequence += engine.applied_through();
    e.time_ms = engine.watermark_ms() + (e.time_ms - fuzz::kStreamBase);
  }
  engine.apply(more);
  (void)engine.take_closed_minutes();
  (void)engine.snapshot();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::FuzzInput in(data, size);
  const int mode = in.byte() % 3;
  if (mode == 0) {
    auto restored = WindowEngine::restore(fuzz::window_config(), in.rest());
    if (!restored) {
      FUZZ_CHECK(restored.error().code == Errc::corrupt || restored.error().code == Errc::invalid_argument);
      return 0;
    }
    fuzz::FuzzInput none(nullptr, 0);
    exercise(*restored, none);
    return 0;
  }

  const std::vector<Event> events = fuzz::event_stream(in, 64);
  const std::size_t half = events.empty() ? 0 : in.byte() % (events.size() + 1);
  const std::span<const Event> all(events);
  if (mode == 1) {
    WindowEngine straight(fuzz::window_config());
    straight.apply(all);
    WindowEngine first(fuzz::window_config());
    first.apply(all.first(half));
    auto resumed = WindowEngine::restore(fuzz::window_config(), first.checkpoint());
    FUZZ_CHECK(resumed.ok());
    FUZZ_CHECK(resumed->checkpoint() == first.checkpoint());
    resumed->apply(all.subspan(half));
    FUZZ_CHECK(resumed->checkpoint() == straight.checkpoint());
    FUZZ_CHECK(resumed->watermark_ms() == straight.watermark_ms());
    FUZZ_CHECK(resumed->applied_through() == straight.applied_through());
    return 0;
  }

  WindowEngine engine(fuzz::window_config());
  engine.apply(all);
  std::string cp = engine.checkpoint();
  for (std::size_t edits = 1 + in.byte() % 4; edits > 0 && !cp.empty(); --edits) {
    const std::size_t at = in.integer<std::uint16_t>() % cp.size();
    cp[at] = static_cast<char>(in.byte());
  }
  if (in.byte() & 1) cp.resize(in.integer<std::uint16_t>() % (cp.size() + 1));
  auto restored = WindowEngine::restore(fuzz::window_config(), cp);
  if (!restored) {
    FUZZ_CHECK(restored.error().code == Errc::corrupt || restored.error().code == Errc::invalid_argument);
    return 0;
  }
  exercise(*restored, in);
  return 0;
}
