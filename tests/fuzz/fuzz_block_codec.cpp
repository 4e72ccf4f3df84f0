// The event-log block codec. First byte even: the rest is a block as read
// from disk; it decodes or is refused as corrupt, and a decoded block
// re-encodes to records that decode identically, with the same header as
// decode_block_header reports. First byte odd: the rest describes records
// (any times, ids, prices, strings); decode(encode(records)) == records.
#include <cstdint>
#include <vector>

#include "block_codec.hpp"
#include "fuzz_input.hpp"

using namespace shoppulse;
using namespace shoppulse::eventlog;

namespace {

bool same(const LogRecord& a, const LogRecord& b) {
  const Event& x = a.event;
  const Event& y = b.event;
  return x.time_ms == y.time_ms && x.sequence == y.sequence && x.price_minor == y.price_minor && x.user == y.user &&
         x.product == y.product && x.category == y.category && x.device == y.device && x.location == y.location &&
         x.quantity == y.quantity && x.type == y.type && x.rating == y.rating && a.event_id == b.event_id &&
         a.session_id == b.session_id;
}

bool same(const std::vector<LogRecord>& a, const std::vector<LogRecord>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!same(a[i], b[i])) return false;
  return true;
}

void check_header(const BlockHeader& h, const std::vector<LogRecord>& records) {
  FUZZ_CHECK(h.count == records.size());
  FUZZ_CHECK(!records.empty());
  TimestampMs newest = records.front().event.time_ms;
  for (std::size_t i = 0; i < records.size(); ++i) {
    FUZZ_CHECK(records[i].event.sequence == h.first_sequence + i);
    newest = std::max(newest, records[i].event.time_ms);
  }
  FUZZ_CHECK(h.newest_time_ms == newest);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::FuzzInput in(data, size);
  if ((in.byte() & 1) == 0) {
    const std::string_view bytes = in.rest();
    std::vector<LogRecord> records;
    auto header = decode_block_header(bytes);
    auto decoded = decode_block(bytes, records);
    if (!decoded) {
      FUZZ_CHECK(decoded.error().code == Errc::corrupt);
      return 0;
    }
    FUZZ_CHECK(header.ok());
    FUZZ_CHECK(header->first_sequence == decoded->first_sequence && header->count == decoded->count &&
               header->newest_time_ms == decoded->newest_time_ms);
    check_header(*decoded, records);
    auto encoded = encode_block(records);
    FUZZ_CHECK(encoded.ok());
    std::vector<LogRecord> again;
    auto redecoded = decode_block(*encoded, again);
    FUZZ_CHECK(redecoded.ok());
    FUZZ_CHECK(same(records, again));
    return 0;
  }

  const Sequence first = in.integer<std::uint64_t>() >> (in.byte() % 64);
  const std::size_t count = 1 + in.byte() % 32;
  std::vector<LogRecord> records(count);
  for (std::size_t i = 0; i < count; ++i) {
    Event& e = records[i].event;
    e.sequence = first + i;
    e.time_ms = in.integer<std::int64_t>();
    e.price_minor = in.integer<std::int64_t>();
    e.user = in.integer<std::uint32_t>();
    e.product = in.integer<std::uint32_t>();
    e.category = in.integer<std::uint16_t>();
    e.device = in.byte();
    e.location = in.byte();
    e.quantity = in.integer<std::uint32_t>();
    e.type = static_cast<EventType>(in.byte() % kEventTypeCount);
    e.rating = in.byte();
    records[i].event_id = in.text(40);
    records[i].session_id = in.text(40);
  }
  if (first + (count - 1) < first) {  // sequences would wrap: not a valid block
    FUZZ_CHECK(!encode_block(records).ok());
    return 0;
  }
  auto encoded = encode_block(records);
  FUZZ_CHECK(encoded.ok());
  std::vector<LogRecord> decoded;
  auto header = decode_block(*encoded, decoded);
  FUZZ_CHECK(header.ok());
  check_header(*header, records);
  FUZZ_CHECK(same(records, decoded));
  auto cheap = decode_block_header(*encoded);
  FUZZ_CHECK(cheap.ok() && cheap->count == count && cheap->first_sequence == first);
  return 0;
}
