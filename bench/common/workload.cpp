#include "common/workload.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace shoppulse::bench {
namespace {

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

void append_field(std::string& out, std::string_view key, std::string_view value) {
  if (value.empty()) return;
  out.push_back(',');
  append_json_string(out, key);
  out.push_back(':');
  append_json_string(out, value);
}

}  // namespace

GeneratorConfig shop_config(std::size_t users, std::size_t products) {
  GeneratorConfig config;
  config.users_count = users;
  config.products_count = products;
  return config;
}

std::vector<RawEvent> make_raw_events(ShopSimulator& simulator, std::size_t n, TimestampMs start_ms,
                                      double events_per_second) {
  std::vector<RawEvent> out;
  const auto span_ms = static_cast<TimestampMs>(double(n) * 1000.0 / events_per_second);
  simulator.next(n, start_ms, start_ms + std::max<TimestampMs>(span_ms, 1), out);
  return out;
}

std::vector<Event> make_events(const GeneratorConfig& config, std::size_t n, TimestampMs start_ms,
                               double events_per_second, EventInterner& interner) {
  ShopSimulator simulator(config);
  std::vector<Event> out;
  out.reserve(n);
  constexpr std::size_t kChunk = 1 << 16;  // bounds the RawEvent memory held at once
  TimestampMs t = start_ms;
  while (out.size() < n) {
    const std::size_t k = std::min(kChunk, n - out.size());
    const std::vector<RawEvent> raw = make_raw_events(simulator, k, t, events_per_second);
    for (const RawEvent& r : raw) {
      Event e = interner.intern(r);
      e.sequence = out.size() + 1;
      out.push_back(e);
    }
    t += static_cast<TimestampMs>(double(k) * 1000.0 / events_per_second);
  }
  return out;
}

void append_ndjson(std::string& out, const RawEvent& e, bool with_timestamp) {
  out += "{\"event_type\":";
  append_json_string(out, to_string(e.type));
  append_field(out, "user_id", e.user_id);
  append_field(out, "session_id", e.session_id);
  append_field(out, "product_id", e.product_id);
  append_field(out, "category_id", e.category_id);
  append_field(out, "device", e.device);
  append_field(out, "location", e.location);
  append_field(out, "event_id", e.event_id);
  if (e.price_minor > 0) out += fmt::format(",\"price\":{}.{:02}", e.price_minor / 100, e.price_minor % 100);
  out += fmt::format(",\"quantity\":{}", e.quantity);
  if (e.rating > 0) out += fmt::format(",\"rating\":{}", e.rating);
  if (with_timestamp && e.time_ms) out += fmt::format(",\"timestamp\":{}", *e.time_ms);
  out += "}\n";
}

std::string render_ndjson(std::span<const RawEvent> events, bool with_timestamp) {
  std::string out;
  out.reserve(events.size() * 240);
  for (const RawEvent& e : events) append_ndjson(out, e, with_timestamp);
  return out;
}

}  // namespace shoppulse::bench
