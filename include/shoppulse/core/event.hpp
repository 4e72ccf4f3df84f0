#pragma once
// The event model shared by every stage. Inside the engine IDs are interned to
// dense integers (see dictionary.hpp); money is integer minor units.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shoppulse {

enum class EventType : std::uint8_t {
  view = 0,
  click = 1,
  add_to_cart = 2,
  remove_from_cart = 3,
  favorite = 4,
  purchase = 5,
  rate = 6,
};
inline constexpr std::size_t kEventTypeCount = 7;

std::string_view to_string(EventType type) noexcept;
std::optional<EventType> parse_event_type(std::string_view text) noexcept;

using TimestampMs = std::int64_t;  // milliseconds since the Unix epoch, UTC
using Sequence = std::uint64_t;    // position in the event log, first event is 1
using Id = std::uint32_t;          // interned identifier, dense from 1
inline constexpr Id kNoId = 0;     // "field absent"

// The dictionaries IDs are interned into, one per kind.
enum class IdKind : std::uint8_t { user = 0, product = 1, category = 2, device = 3, location = 4 };
inline constexpr std::size_t kIdKindCount = 5;
std::string_view to_string(IdKind kind) noexcept;

// An event as the engine sees it: fixed size, trivially copyable, ring-friendly.
struct Event {
  TimestampMs time_ms = 0;     // event time
  Sequence sequence = 0;       // log position, assigned by the ingestor
  std::int64_t price_minor = 0;  // unit price in minor units (cents); 0 when absent
  Id user = kNoId;
  Id product = kNoId;
  Id category = kNoId;
  Id device = kNoId;
  Id location = kNoId;
  std::uint32_t quantity = 1;  // >= 1
  EventType type = EventType::view;
  std::uint8_t rating = 0;     // 1..5 for rate events, 0 when absent

  // Revenue this event contributes: price x quantity for purchases, else 0.
  std::int64_t revenue_minor() const noexcept {
    return type == EventType::purchase ? price_minor * static_cast<std::int64_t>(quantity) : 0;
  }
};

// An event as it arrives from a source, before interning. Strings are the
// caller's IDs verbatim (JSON integers are rendered as decimal strings).
struct RawEvent {
  std::string event_id;    // optional; makes retries idempotent
  std::string user_id;     // required
  std::string session_id;  // optional
  std::string product_id;  // optional
  std::string category_id; // optional
  std::string device;      // optional
  std::string location;    // optional
  std::optional<TimestampMs> time_ms;  // assigned at ingest when absent
  std::int64_t price_minor = 0;
  std::uint32_t quantity = 1;
  EventType type = EventType::view;
  std::uint8_t rating = 0;
};

// The raw event's name of one kind of id (empty when absent).
inline const std::string& name_of(const RawEvent& e, IdKind kind) noexcept {
  switch (kind) {
    case IdKind::user: return e.user_id;
    case IdKind::product: return e.product_id;
    case IdKind::category: return e.category_id;
    case IdKind::device: return e.device;
    case IdKind::location: return e.location;
  }
  return e.user_id;
}

// What the event log stores per event: the interned event plus the strings
// that are not interned (they are unbounded in number).
struct LogRecord {
  Event event;
  std::string event_id;
  std::string session_id;
};

}  // namespace shoppulse
