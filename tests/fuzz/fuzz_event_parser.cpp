// POST /api/events bodies: JSON (an object or an array) and NDJSON. The
// first input byte picks the format. Properties: an accepted body yields
// only valid events within the options' limits; rendering them back as
// NDJSON and as a JSON array parses to the same events; a refused body
// names a record within it.
#include <cstdint>

#include "fuzz_input.hpp"
#include "raw_event_text.hpp"
#include "shoppulse/ingest/event_parser.hpp"

using namespace shoppulse;

namespace {

constexpr TimestampMs kNow = 1709294400000;  // 2024-03-01T12:00:00Z

ParseOptions options() {
  ParseOptions o;
  o.now_ms = kNow;
  o.max_id_bytes = 64;
  o.max_events = 200;
  return o;
}

void check_valid(const RawEvent& e, const ParseOptions& o) {
  FUZZ_CHECK(!e.user_id.empty());
  FUZZ_CHECK(e.user_id.size() <= o.max_id_bytes && e.product_id.size() <= o.max_id_bytes &&
             e.category_id.size() <= o.max_id_bytes && e.event_id.size() <= o.max_id_bytes &&
             e.session_id.size() <= o.max_id_bytes && e.device.size() <= o.max_id_bytes &&
             e.location.size() <= o.max_id_bytes);
  FUZZ_CHECK(e.quantity >= 1 && e.quantity <= 1000000);
  FUZZ_CHECK(e.rating <= 5);
  FUZZ_CHECK(e.price_minor >= 0);
  FUZZ_CHECK(static_cast<std::size_t>(e.type) < kEventTypeCount);
  if (e.time_ms) FUZZ_CHECK(*e.time_ms >= 946684800000 && *e.time_ms <= o.now_ms + o.max_future_ms);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::FuzzInput in(data, size);
  const BodyFormat format = (in.byte() & 1) ? BodyFormat::ndjson : BodyFormat::json;
  const std::string_view body = in.rest();
  const ParseOptions o = options();

  auto parsed = parse_events(body, format, o);
  if (!parsed) {
    FUZZ_CHECK(parsed.error().code == Errc::invalid_argument);
    FUZZ_CHECK(parsed.error().line >= 0);
    return 0;
  }
  const std::vector<RawEvent>& events = parsed.value();
  FUZZ_CHECK(!events.empty() || format == BodyFormat::ndjson);
  FUZZ_CHECK(events.size() <= o.max_events);
  for (const RawEvent& e : events) check_valid(e, o);

  std::string ndjson, array = "[";
  for (std::size_t i = 0; i < events.size(); ++i) {
    const std::string one = fuzz::render_event(events[i]);
    ndjson += one + "\n";
    if (i) array += ',';
    array += one;
  }
  array += ']';
  auto again = parse_events(ndjson, BodyFormat::ndjson, o);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(fuzz::same_events(events, again.value()));
  if (!events.empty()) {
    auto as_array = parse_events(array, BodyFormat::json, o);
    FUZZ_CHECK(as_array.ok());
    FUZZ_CHECK(fuzz::same_events(events, as_array.value()));
  }
  return 0;
}
