#include <catch2/catch.hpp>

#include <limits>
#include <random>

#include "block_codec.hpp"
#include "eventlog_fixtures.hpp"

using namespace shoppulse;
using shoppulse::eventlog_test::make_records;
using shoppulse::eventlog_test::same_record;

namespace {

std::string random_string(std::mt19937_64& rng) {
  // Empty, short and over 127 bytes (a two-byte length), with NULs and high bytes.
  static const std::size_t kLengths[] = {0, 1, 7, 130, 300};
  std::string text(kLengths[rng() % std::size(kLengths)], '\0');
  for (char& c : text) c = static_cast<char>(rng());
  return text;
}

std::vector<LogRecord> random_records(std::mt19937_64& rng, Sequence first, std::size_t count) {
  constexpr auto kMin = std::numeric_limits<std::int64_t>::min();
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  constexpr auto kMaxId = std::numeric_limits<std::uint32_t>::max();
  std::vector<LogRecord> records(count);
  for (std::size_t i = 0; i < count; ++i) {
    Event& event = records[i].event;
    event.sequence = first + i;
    // Mix realistic epoch times with the extremes so deltas wrap both ways.
    switch (rng() % 4) {
      case 0: event.time_ms = kMin; break;
      case 1: event.time_ms = kMax; break;
      default: event.time_ms = 1'700'000'000'000 + static_cast<std::int64_t>(rng() % 100'000) - 50'000;
    }
    event.price_minor = rng() % 3 == 0 ? (rng() % 2 ? kMin : kMax) : static_cast<std::int64_t>(rng() % 100'000);
    event.user = rng() % 4 == 0 ? kMaxId : static_cast<Id>(rng() % 1000);
    event.product = static_cast<Id>(rng());
    event.category = rng() % 2 ? kNoId : kMaxId;
    event.device = static_cast<Id>(rng() % 5);
    event.location = static_cast<Id>(rng() % 300);
    event.quantity = rng() % 5 == 0 ? kMaxId : static_cast<std::uint32_t>(rng() % 10);
    event.type = static_cast<EventType>(rng() % kEventTypeCount);
    event.rating = static_cast<std::uint8_t>(rng());
    records[i].event_id = random_string(rng);
    records[i].session_id = random_string(rng);
  }
  return records;
}

void require_round_trip(const std::vector<LogRecord>& records) {
  auto block = eventlog::encode_block(records);
  REQUIRE(block.ok());
  std::vector<LogRecord> decoded;
  auto header = eventlog::decode_block(*block, decoded);
  REQUIRE(header.ok());
  CHECK(header->first_sequence == records.front().event.sequence);
  CHECK(header->count == records.size());
  REQUIRE(decoded.size() == records.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    INFO("record " << i);
    CHECK(same_record(decoded[i], records[i]));
  }
}

}  // namespace

TEST_CASE("random records survive an encode-decode round trip exactly", "[eventlog][codec]") {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 200; ++round) {
    const std::size_t count = 1 + rng() % 64;
    require_round_trip(random_records(rng, 1 + rng() % 1'000'000, count));
  }
}

TEST_CASE("sequences at the top of the range and all-zero records round trip", "[eventlog][codec]") {
  std::mt19937_64 rng(7);
  require_round_trip(random_records(rng, std::numeric_limits<Sequence>::max() - 9, 10));
  require_round_trip(std::vector<LogRecord>(1));  // every field zero or empty
}

TEST_CASE("the header reports first sequence, count and newest time without decoding records",
          "[eventlog][codec]") {
  auto records = eventlog_test::make_records(100, 5, 10'000);
  records[2].event.time_ms = 99'000;  // out of order: newest is not the last
  auto block = eventlog::encode_block(records);
  REQUIRE(block.ok());
  auto header = eventlog::decode_block_header(*block);
  REQUIRE(header.ok());
  CHECK(header->first_sequence == 100);
  CHECK(header->count == 5);
  CHECK(header->last_sequence() == 104);
  CHECK(header->newest_time_ms == 99'000);
}

TEST_CASE("encoding rejects an empty or non-contiguous run", "[eventlog][codec]") {
  CHECK(eventlog::encode_block({}).error().code == Errc::invalid_argument);
  auto records = make_records(1, 3, 0);
  records[2].event.sequence = 4;
  CHECK(eventlog::encode_block(records).error().code == Errc::invalid_argument);
}

TEST_CASE("encoding refuses a run whose sequences pass the largest sequence", "[eventlog][codec]") {
  // Sequences max-1, max, then 0 after wrapping: contiguous modulo 2^64,
  // but the decoder rightly refuses such a block, so it must not be written.
  std::mt19937_64 rng(11);
  auto records = random_records(rng, std::numeric_limits<Sequence>::max() - 1, 3);
  REQUIRE(records[2].event.sequence == 0);
  auto block = eventlog::encode_block(records);
  REQUIRE_FALSE(block.ok());
  CHECK(block.error().code == Errc::invalid_argument);
  // Up to the largest sequence itself is fine.
  require_round_trip(random_records(rng, std::numeric_limits<Sequence>::max() - 1, 2));
}

TEST_CASE("every truncation of a block decodes as corrupt", "[eventlog][codec]") {
  std::mt19937_64 rng(3);
  auto block = eventlog::encode_block(random_records(rng, 1, 8));
  REQUIRE(block.ok());
  std::vector<LogRecord> out;
  for (std::size_t size = 0; size < block->size(); ++size) {
    INFO("prefix of " << size << " bytes");
    // A copy of exactly the prefix, so reading past it would be caught by sanitizers.
    const std::string prefix = block->substr(0, size);
    auto decoded = eventlog::decode_block(prefix, out);
    REQUIRE_FALSE(decoded.ok());
    CHECK(decoded.error().code == Errc::corrupt);
  }
}

TEST_CASE("malformed blocks decode as corrupt", "[eventlog][codec]") {
  auto good = eventlog::encode_block(make_records(1, 2, 1000));
  REQUIRE(good.ok());
  std::vector<LogRecord> out;
  auto corrupt = [&](const std::string& bytes) {
    auto decoded = eventlog::decode_block(bytes, out);
    return !decoded.ok() && decoded.error().code == Errc::corrupt;
  };

  CHECK(corrupt(*good + "x"));                                      // trailing bytes
  CHECK(corrupt(std::string(1, '\x02') + good->substr(1)));         // unknown version
  CHECK(corrupt(std::string("\x01\x00\x01\x00", 4)));               // zero records
  CHECK(corrupt(std::string("\x01\xff\xff\xff\xff\x0f\x01\x00", 8)));  // count beyond the bytes
  CHECK(corrupt(std::string("\x01") + std::string(11, '\xff')));    // overlong varint
  CHECK(corrupt(std::string("\x01\x02", 2) + std::string(9, '\xff') + std::string("\x01\x00", 2) +
                std::string(24, '\0')));                            // sequence range overflows

  // make_records(1, 2, 1000): the header is version, count, first sequence and
  // a two-byte newest time (bytes 0-4); the first record's time delta takes
  // bytes 5-6, so its type is byte 7.
  std::string bad_type = *good;
  bad_type[7] = static_cast<char>(kEventTypeCount);
  CHECK(corrupt(bad_type));
  std::string bad_time = *good;
  bad_time[3] = static_cast<char>(bad_time[3] ^ 0x02);  // newest time no longer matches the records
  CHECK(corrupt(bad_time));
}

TEST_CASE("randomly damaged blocks never crash the decoder", "[eventlog][codec]") {
  std::mt19937_64 rng(11);
  auto block = eventlog::encode_block(random_records(rng, 1, 16));
  REQUIRE(block.ok());
  std::vector<LogRecord> out;
  int rejected = 0;
  for (int round = 0; round < 2000; ++round) {
    std::string damaged = *block;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) damaged[rng() % damaged.size()] = static_cast<char>(rng());
    auto decoded = eventlog::decode_block(damaged, out);
    if (!decoded.ok()) {
      CHECK(decoded.error().code == Errc::corrupt);
      ++rejected;
    }
  }
  // Most damage lands in a length, a type or the header cross-check.
  CHECK(rejected > 0);
}
