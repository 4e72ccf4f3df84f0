#include "store_keys.hpp"

#include "shoppulse/core/byte_codec.hpp"

namespace shoppulse::eventlog {
namespace {

constexpr std::uint64_t kSignBit = std::uint64_t{1} << 63;
constexpr std::size_t kSummaryBytes = 24;  // last, newest time, bytes

Error corrupt(std::string what) { return make_error(Errc::corrupt, "event log: " + std::move(what)); }

}  // namespace

std::string be64(std::uint64_t value) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  return out;
}

std::uint64_t get_be64(std::string_view bytes) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < 8; ++i) value = (value << 8) | static_cast<std::uint8_t>(bytes[i]);
  return value;
}

std::string sequence_key(Sequence first) { return be64(first); }

std::string block_index_key(Sequence first) {
  std::string key(kBlockIndexPrefix);
  key += be64(first);
  return key;
}

std::string encode_block_summary(const BlockSummary& summary) {
  std::string value = be64(summary.last);
  value += be64(static_cast<std::uint64_t>(summary.newest_time_ms));
  value += be64(summary.bytes);
  return value;
}

Result<BlockSummary> decode_block_summary(std::string_view key, std::string_view value) {
  if (key.size() != kBlockIndexPrefix.size() + 8 || !key.starts_with(kBlockIndexPrefix) ||
      value.size() != kSummaryBytes) {
    return corrupt("malformed block index entry");
  }
  BlockSummary summary;
  summary.first = get_be64(key.substr(kBlockIndexPrefix.size()));
  summary.last = get_be64(value);
  summary.newest_time_ms = static_cast<TimestampMs>(get_be64(value.substr(8)));
  summary.bytes = get_be64(value.substr(16));
  if (summary.last < summary.first) return corrupt("block index entry ends before it starts");
  return summary;
}

std::string dictionary_key(IdKind kind, Id id) { return static_cast<char>(kind) + be32(id); }

std::string dictionary_name_key(IdKind kind, std::string_view value) {
  std::string key(kDictionaryNamePrefix);
  key.push_back(static_cast<char>(kind));
  key.append(value);
  return key;
}

std::string be32(std::uint32_t value) {
  std::string out;
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((value >> shift) & 0xff));
  return out;
}

std::uint32_t get_be32(std::string_view bytes) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < 4; ++i) value = (value << 8) | static_cast<std::uint8_t>(bytes[i]);
  return value;
}

std::string dictionary_run_key(IdKind kind, Id first, Id last) { return dictionary_key(kind, first) + be32(last); }

Result<DictionaryKey> decode_dictionary_key(std::string_view key) {
  if (key.size() != 5 && key.size() != 9)
    return corrupt("dictionary key has " + std::to_string(key.size()) + " bytes");
  const auto kind = static_cast<std::uint8_t>(key[0]);
  if (kind >= kIdKindCount) return corrupt("unknown dictionary kind " + std::to_string(kind));
  DictionaryKey out;
  out.kind = static_cast<IdKind>(kind);
  out.first = get_be32(key.substr(1));
  out.last = out.first;
  if (key.size() == 9) {
    out.run = true;
    out.last = get_be32(key.substr(5));
    if (out.last < out.first) {
      return corrupt("dictionary run ends at id " + std::to_string(out.last) + " before its first, " +
                     std::to_string(out.first));
    }
  }
  return out;
}

Result<std::string_view> dictionary_name_in_run(const DictionaryKey& key, std::string_view value, Id id) {
  std::optional<std::string_view> found;
  auto walked = for_each_dictionary_name(key, value, [&](Id at, std::string_view name) {
    if (at == id) found = name;
  });
  if (!walked) return std::move(walked).error();
  if (!found) return corrupt("dictionary run " + std::to_string(key.first) + ".." + std::to_string(key.last) +
                             " does not hold id " + std::to_string(id));
  return *found;
}

std::string minute_key(std::int64_t minute) { return be64(static_cast<std::uint64_t>(minute) ^ kSignBit); }

Result<std::int64_t> decode_minute_key(std::string_view key) {
  if (key.size() != 8) return corrupt("rollup key has " + std::to_string(key.size()) + " bytes");
  return static_cast<std::int64_t>(get_be64(key) ^ kSignBit);
}

std::string seal(std::string value) {
  const std::uint64_t sum = checksum64(value);
  value += be64(sum);
  return value;
}

Result<std::string_view> unseal(std::string_view sealed, std::string_view what) {
  if (sealed.size() < 8) return corrupt(std::string(what) + " has " + std::to_string(sealed.size()) + " bytes");
  const std::string_view body = sealed.substr(0, sealed.size() - 8);
  if (get_be64(sealed.substr(sealed.size() - 8)) != checksum64(body))
    return corrupt(std::string(what) + " fails its checksum");
  return body;
}

// covers_through (8 bytes, big-endian), then the bytes. A checkpoint that
// knows its incarnation sets the top bit of covers_through (no sequence gets
// near it) and puts the incarnation (8 bytes) before the bytes; a value
// written before incarnations were recorded reads with incarnation 0.
namespace {
constexpr std::uint64_t kHasIncarnation = std::uint64_t{1} << 63;
// A head of a checkpoint kept in parts sets the next bit (no sequence gets
// near it either): be64(covers_through | kInParts), be64(incarnation),
// be64(bytes), be32(parts).
constexpr std::uint64_t kInParts = std::uint64_t{1} << 62;
constexpr std::size_t kHeadBytes = 28;
}

std::string encode_checkpoint(const Checkpoint& checkpoint) {
  std::string value;
  if (checkpoint.incarnation != 0) {
    value = be64(checkpoint.covers_through | kHasIncarnation);
    value += be64(checkpoint.incarnation);
  } else {
    value = be64(checkpoint.covers_through);
  }
  value += checkpoint.bytes;
  return value;
}

Result<Checkpoint> decode_checkpoint(std::string_view value) {
  if (value.size() < 8) return corrupt("checkpoint has " + std::to_string(value.size()) + " bytes");
  const std::uint64_t head = get_be64(value);
  if ((head & kInParts) != 0) return corrupt("checkpoint head read as a whole checkpoint");
  if ((head & kHasIncarnation) == 0) return Checkpoint{head, std::string(value.substr(8)), 0};
  if (value.size() < 16) return corrupt("checkpoint has " + std::to_string(value.size()) + " bytes");
  return Checkpoint{head & ~kHasIncarnation, std::string(value.substr(16)), get_be64(value.substr(8))};
}

std::string encode_checkpoint_head(const CheckpointHead& head) {
  std::string value = be64(head.covers_through | kInParts);
  value += be64(head.incarnation);
  value += be64(head.bytes);
  value += be32(head.parts);
  return value;
}

Result<std::optional<CheckpointHead>> decode_checkpoint_head(std::string_view value) {
  if (value.size() < 8 || (get_be64(value) & kInParts) == 0) return std::optional<CheckpointHead>();
  if (value.size() != kHeadBytes) return corrupt("checkpoint head has " + std::to_string(value.size()) + " bytes");
  CheckpointHead head;
  head.covers_through = get_be64(value) & ~(kInParts | kHasIncarnation);
  head.incarnation = get_be64(value.substr(8));
  head.bytes = get_be64(value.substr(16));
  head.parts = get_be32(value.substr(24));
  // Every part but the last is full, the last is not empty.
  if (head.parts != checkpoint_parts_for(head.bytes))
    return corrupt("checkpoint head names " + std::to_string(head.parts) + " parts for " + std::to_string(head.bytes) +
                   " bytes");
  return std::optional<CheckpointHead>(head);
}

std::string checkpoint_part_key(std::string_view name, std::uint32_t index) {
  std::string key(name);
  key += '\0';
  key += be32(index);
  return key;
}

std::string checkpoint_parts_begin(std::string_view name) {
  std::string key(name);
  key += '\0';
  return key;
}

std::string checkpoint_parts_end(std::string_view name) {
  std::string key(name);
  key += '\1';
  return key;
}

std::string source_offset_key(std::string_view source) {
  std::string key(kSourceOffsetPrefix);
  key += source;
  return key;
}

}  // namespace shoppulse::eventlog
