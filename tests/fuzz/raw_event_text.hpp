#pragma once
// Renders RawEvents back into the POST /api/events JSON form, so a fuzz
// target can check that what a parser accepted reads back identically.
#include <string>
#include <vector>

#include "shoppulse/core/event.hpp"
#include "shoppulse/core/json_text.hpp"
#include "shoppulse/core/time_format.hpp"

namespace shoppulse::fuzz {

inline void append_field(std::string& out, const char* name, const std::string& value) {
  if (value.empty()) return;
  out += ",\"";
  out += name;
  out += "\":\"";
  append_json_escaped(out, value);
  out += '"';
}

inline std::string render_event(const RawEvent& e) {
  std::string out = "{\"event_type\":\"";
  out += to_string(e.type);
  out += '"';
  append_field(out, "user_id", e.user_id);
  append_field(out, "event_id", e.event_id);
  append_field(out, "session_id", e.session_id);
  append_field(out, "product_id", e.product_id);
  append_field(out, "category_id", e.category_id);
  append_field(out, "device", e.device);
  append_field(out, "location", e.location);
  if (e.time_ms) out += ",\"timestamp\":" + std::to_string(*e.time_ms);
  if (e.price_minor != 0) out += ",\"price\":\"" + format_money(e.price_minor) + "\"";
  if (e.quantity != 1) out += ",\"quantity\":" + std::to_string(e.quantity);
  if (e.rating != 0) out += ",\"rating\":" + std::to_string(e.rating);
  out += '}';
  return out;
}

inline bool same_event(const RawEvent& a, const RawEvent& b) {
  return a.event_id == b.event_id && a.user_id == b.user_id && a.session_id == b.session_id &&
         a.product_id == b.product_id && a.category_id == b.category_id && a.device == b.device &&
         a.location == b.location && a.time_ms == b.time_ms && a.price_minor == b.price_minor &&
         a.quantity == b.quantity && a.type == b.type && a.rating == b.rating;
}

inline bool same_events(const std::vector<RawEvent>& a, const std::vector<RawEvent>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!same_event(a[i], b[i])) return false;
  return true;
}

}  // namespace shoppulse::fuzz
