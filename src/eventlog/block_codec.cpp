#include "block_codec.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

namespace shoppulse::eventlog {
namespace {

// The smallest encoded record: a one-byte time delta, type and rating, five
// ids and the quantity, the price, two empty strings' lengths. Bounds a
// header's count by the bytes actually present, so a corrupt count cannot
// trigger a huge allocation.
constexpr std::size_t kMinRecordBytes = 1 + 2 + 6 + 1 + 2;

constexpr std::size_t kMaxVarint64 = 10;
constexpr std::size_t kMaxVarint32 = 5;

// Writes value at p, which has room for kMaxVarint64 bytes; returns the end.
char* write_varint(char* p, std::uint64_t value) noexcept {
  while (value >= 0x80) {
    *p++ = static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  *p++ = static_cast<char>(value);
  return p;
}

std::uint64_t zigzag(std::int64_t value) noexcept {
  return (static_cast<std::uint64_t>(value) << 1) ^ static_cast<std::uint64_t>(value >> 63);
}

std::int64_t unzigzag(std::uint64_t value) noexcept {
  return static_cast<std::int64_t>((value >> 1) ^ (~(value & 1) + 1));
}

char* write_string(char* p, std::string_view text) noexcept {
  p = write_varint(p, text.size());
  if (!text.empty()) std::memcpy(p, text.data(), text.size());
  return p + text.size();
}

// A bounds-checked cursor over the block's bytes. Every read reports failure
// instead of reading past the end; the caller turns that into Errc::corrupt.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  bool varint(std::uint64_t& value) {
    value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= bytes_.size()) return false;
      const auto byte = static_cast<std::uint8_t>(bytes_[pos_++]);
      // The tenth byte may carry only the top bit of a 64-bit value.
      if (shift == 63 && byte > 1) return false;
      value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }

  bool u32(std::uint32_t& value) {
    std::uint64_t wide = 0;
    if (!varint(wide) || wide > std::numeric_limits<std::uint32_t>::max()) return false;
    value = static_cast<std::uint32_t>(wide);
    return true;
  }

  bool svarint(std::int64_t& value) {
    std::uint64_t raw = 0;
    if (!varint(raw)) return false;
    value = unzigzag(raw);
    return true;
  }

  bool byte(std::uint8_t& value) {
    if (pos_ >= bytes_.size()) return false;
    value = static_cast<std::uint8_t>(bytes_[pos_++]);
    return true;
  }

  bool string(std::string& value) {
    std::uint64_t size = 0;
    if (!varint(size) || size > remaining()) return false;
    value.assign(bytes_.substr(pos_, size));
    pos_ += size;
    return true;
  }

  std::size_t remaining() const noexcept { return bytes_.size() - pos_; }

 private:
  std::string_view bytes_;
  std::size_t pos_ = 0;
};

Error corrupt(std::string what) { return make_error(Errc::corrupt, "event block: " + std::move(what)); }

Result<BlockHeader> read_header(Reader& reader) {
  std::uint8_t version = 0;
  if (!reader.byte(version)) return corrupt("empty");
  if (version != kBlockFormatVersion) return corrupt("unknown format version " + std::to_string(version));
  BlockHeader header;
  if (!reader.varint(header.count) || !reader.varint(header.first_sequence) ||
      !reader.svarint(header.newest_time_ms)) {
    return corrupt("truncated header");
  }
  if (header.count == 0) return corrupt("no records");
  if (header.count > reader.remaining() / kMinRecordBytes) return corrupt("count exceeds block size");
  if (header.first_sequence > std::numeric_limits<Sequence>::max() - (header.count - 1)) {
    return corrupt("sequence range overflows");
  }
  return header;
}

}  // namespace

Result<std::string> encode_block(std::span<const LogRecord> records) {
  std::string out;
  if (auto encoded = encode_block_into(records, out); !encoded) return std::move(encoded).error();
  return out;
}

Result<void> encode_block_into(std::span<const LogRecord> records, std::string& out) {
  if (records.empty()) return make_error(Errc::invalid_argument, "event block: no records");
  const Sequence first = records.front().event.sequence;
  // The decoder refuses a range that passes the largest sequence; so must
  // the encoder, or it would write a block nothing can read back.
  if (first > std::numeric_limits<Sequence>::max() - (records.size() - 1))
    return make_error(Errc::invalid_argument, "event block: sequences pass the largest sequence");
  TimestampMs newest = records.front().event.time_ms;
  // The most bytes a record can take: every varint at its longest, plus its
  // strings. The block is written into that much room and cut to size, so
  // the hot loop writes bytes through a pointer without capacity checks.
  // Time delta, type and rating, five ids and the quantity, the price, the
  // two strings' lengths.
  constexpr std::size_t kMaxRecordFixed = kMaxVarint64 + 2 + kMaxVarint32 * 6 + kMaxVarint64 + kMaxVarint64 * 2;
  std::size_t bound = 1 + kMaxVarint64 * 3;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const LogRecord& record = records[i];
    if (record.event.sequence != first + i) {
      return make_error(Errc::invalid_argument, "event block: sequences not contiguous at index " +
                                                    std::to_string(i));
    }
    newest = std::max(newest, record.event.time_ms);
    bound += kMaxRecordFixed + record.event_id.size() + record.session_id.size();
  }

  out.resize(bound);  // reuses out's capacity when the caller keeps one buffer
  char* p = out.data();
  *p++ = static_cast<char>(kBlockFormatVersion);
  p = write_varint(p, records.size());
  p = write_varint(p, first);
  p = write_varint(p, zigzag(newest));

  std::uint64_t previous_time = 0;
  for (const LogRecord& record : records) {
    const Event& event = record.event;
    const auto time = static_cast<std::uint64_t>(event.time_ms);
    // Wrapping subtraction: the delta of any two int64 times fits in 64 bits
    // modulo 2^64, and zigzag keeps small backwards steps small.
    p = write_varint(p, zigzag(static_cast<std::int64_t>(time - previous_time)));
    previous_time = time;
    *p++ = static_cast<char>(event.type);
    *p++ = static_cast<char>(event.rating);
    p = write_varint(p, event.user);
    p = write_varint(p, event.product);
    p = write_varint(p, event.category);
    p = write_varint(p, event.device);
    p = write_varint(p, event.location);
    p = write_varint(p, event.quantity);
    p = write_varint(p, zigzag(event.price_minor));
    p = write_string(p, record.event_id);
    p = write_string(p, record.session_id);
  }
  out.resize(static_cast<std::size_t>(p - out.data()));
  return {};
}

Result<BlockHeader> decode_block_header(std::string_view bytes) {
  Reader reader(bytes);
  return read_header(reader);
}

Result<BlockHeader> decode_block(std::string_view bytes, std::vector<LogRecord>& out) {
  Reader reader(bytes);
  auto header = read_header(reader);
  if (!header) return header;

  out.resize(header->count);
  std::uint64_t previous_time = 0;
  TimestampMs newest = std::numeric_limits<TimestampMs>::min();
  for (std::uint64_t i = 0; i < header->count; ++i) {
    LogRecord& record = out[i];
    Event& event = record.event;
    std::int64_t time_delta = 0;
    std::uint8_t type = 0;
    std::uint64_t price = 0;
    const bool read_ok = reader.svarint(time_delta) && reader.byte(type) && reader.byte(event.rating) &&
                         reader.u32(event.user) && reader.u32(event.product) &&
                         reader.u32(event.category) && reader.u32(event.device) &&
                         reader.u32(event.location) && reader.u32(event.quantity) &&
                         reader.varint(price) && reader.string(record.event_id) &&
                         reader.string(record.session_id);
    if (!read_ok) return corrupt("truncated record " + std::to_string(i));
    if (type >= kEventTypeCount) return corrupt("unknown event type " + std::to_string(type));
    previous_time += static_cast<std::uint64_t>(time_delta);
    event.time_ms = static_cast<TimestampMs>(previous_time);
    event.sequence = header->first_sequence + i;
    event.type = static_cast<EventType>(type);
    event.price_minor = unzigzag(price);
    newest = std::max(newest, event.time_ms);
  }
  if (reader.remaining() != 0) return corrupt("trailing bytes");
  if (newest != header->newest_time_ms) return corrupt("header time disagrees with records");
  return header;
}

}  // namespace shoppulse::eventlog
