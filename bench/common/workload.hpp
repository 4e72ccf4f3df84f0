#pragma once
// Workloads built from the ShopSimulator, the same model the in-process
// generator runs: realistic funnels, Zipf-like products and users.
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "shoppulse/core/event.hpp"
#include "shoppulse/sources/generator.hpp"

namespace shoppulse::bench {

// The generator's defaults with the given catalogue size.
GeneratorConfig shop_config(std::size_t users, std::size_t products);

// n simulated events whose timestamps advance at events_per_second of event
// time from start_ms.
std::vector<RawEvent> make_raw_events(ShopSimulator& simulator, std::size_t n, TimestampMs start_ms,
                                      double events_per_second);

// Interns a RawEvent's strings to dense ids with plain hash maps, as the
// ingestor's dictionary would, without its locking or persistence.
// Threading: one thread.
class EventInterner {
 public:
  Event intern(const RawEvent& raw);
  std::size_t distinct(IdKind kind) const { return tables_[static_cast<std::size_t>(kind)].size(); }

 private:
  Id id_of(IdKind kind, const std::string& value);
  std::array<std::unordered_map<std::string, Id>, kIdKindCount> tables_;
};

// n interned events (sequences 1..n) from a fresh simulator with this config.
std::vector<Event> make_events(const GeneratorConfig& config, std::size_t n, TimestampMs start_ms,
                               double events_per_second, EventInterner& interner);

// One JSON object per event as a client would POST it, each line ending in
// '\n'. Fields: event_type, user_id, session_id, product_id, category_id,
// device, location, price (a number with 2 decimals), quantity, rating (rate
// events), and timestamp (epoch ms) when with_timestamp.
void append_ndjson(std::string& out, const RawEvent& event, bool with_timestamp);
std::string render_ndjson(std::span<const RawEvent> events, bool with_timestamp);

}  // namespace shoppulse::bench
