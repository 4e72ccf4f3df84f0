#pragma once
// Workloads built from the ShopSimulator, the same model the in-process
// generator runs: realistic funnels, Zipf-like products and users.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shoppulse/core/dictionary.hpp"
#include "shoppulse/core/event.hpp"
#include "shoppulse/sources/generator.hpp"

namespace shoppulse::bench {

// The generator's defaults with the given catalogue size.
GeneratorConfig shop_config(std::size_t users, std::size_t products);

// n simulated events whose timestamps advance at events_per_second of event
// time from start_ms.
std::vector<RawEvent> make_raw_events(ShopSimulator& simulator, std::size_t n, TimestampMs start_ms,
                                      double events_per_second);

// Interns a RawEvent's strings to dense ids in a Dictionary of its own, as
// the ingestor would, without persistence. Threading: one thread.
class EventInterner {
 public:
  Event intern(const RawEvent& raw) { return intern_event(raw, dictionary_, 0); }
  std::size_t distinct(IdKind kind) const { return dictionary_.table(kind).size(); }

 private:
  Dictionary dictionary_;
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
