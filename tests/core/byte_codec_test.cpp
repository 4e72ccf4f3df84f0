#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <string>
#include <limits>

#include "shoppulse/core/byte_codec.hpp"

using namespace shoppulse;

TEST_CASE("byte codec round-trips integers and floating point bit for bit", "[byte_codec]") {
  ByteWriter w;
  w.varint(0);
  w.varint(std::numeric_limits<std::uint64_t>::max());
  w.svarint(-1);
  w.svarint(std::numeric_limits<std::int64_t>::min());
  w.f32(0.1f);
  w.f32(-0.0f);
  w.f64(1.0 / 3.0);
  w.f64(std::numeric_limits<double>::denorm_min());
  w.bytes("abc");
  ByteReader r(w.view());
  CHECK(r.varint() == 0);
  CHECK(r.varint() == std::numeric_limits<std::uint64_t>::max());
  CHECK(r.svarint() == -1);
  CHECK(r.svarint() == std::numeric_limits<std::int64_t>::min());
  CHECK(r.f32() == 0.1f);
  const float negative_zero = r.f32();
  CHECK(negative_zero == 0.0f);
  CHECK(std::signbit(negative_zero));
  CHECK(r.f64() == 1.0 / 3.0);
  CHECK(r.f64() == std::numeric_limits<double>::denorm_min());
  CHECK(r.bytes() == "abc");
  CHECK(r.at_end());
  CHECK_FALSE(r.failed());
}

namespace {

// LEB128 and little-endian bytes written out by hand, one value at a time.
void expect_varint(std::string& out, std::uint64_t v) {
  do {
    const auto low = static_cast<unsigned char>(v & 0x7F);
    v >>= 7;
    out.push_back(static_cast<char>(v != 0 ? (low | 0x80) : low));
  } while (v != 0);
}
void expect_fixed(std::string& out, std::uint64_t v, int n) {
  for (int i = 0; i < n; ++i, v >>= 8) out.push_back(static_cast<char>(v & 0xFF));
}

}  // namespace

TEST_CASE("the writer's bytes equal a value-at-a-time encoding across its growth, reserve, clear and take",
          "[byte_codec]") {
  ByteWriter w;
  std::string expected;
  std::uint64_t x = 0x9E3779B97F4A7C15ull;
  const auto write_some = [&](int n) {
    for (int i = 0; i < n; ++i) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      const std::uint64_t v = x >> (x % 64);  // every length of varint
      switch (i % 5) {
        case 0: w.varint(v), expect_varint(expected, v); break;
        case 1: w.u8(static_cast<std::uint8_t>(v)), expected.push_back(static_cast<char>(v & 0xFF)); break;
        case 2: w.f32(std::bit_cast<float>(static_cast<std::uint32_t>(v))), expect_fixed(expected, v, 4); break;
        case 3: w.f64(std::bit_cast<double>(v)), expect_fixed(expected, v, 8); break;
        default: {
          const std::string b(v % 300, static_cast<char>('a' + v % 26));
          w.bytes(b);
          expect_varint(expected, b.size());
          expected += b;
        }
      }
      REQUIRE(w.size() == expected.size());
      REQUIRE(w.capacity() >= w.size());
    }
  };
  write_some(3);
  CHECK(w.view() == expected);
  write_some(5000);  // through many growths
  CHECK(w.view() == expected);
  w.reserve(w.size() + 100000);  // room asked for in the middle keeps what was written
  const std::size_t room = w.capacity();
  CHECK(room >= expected.size() + 100000);
  CHECK(w.view() == expected);
  write_some(200);
  CHECK(w.view() == expected);
  CHECK(w.capacity() == room);  // written into the reserved room, no growth

  w.clear();  // empty, the room kept
  expected.clear();
  CHECK(w.size() == 0);
  CHECK(w.capacity() == room);
  write_some(1000);
  CHECK(w.view() == expected);

  const std::string taken = w.take();
  CHECK(taken == expected);
  CHECK(w.size() == 0);
  expected.clear();
  write_some(50);  // a taken writer writes anew
  CHECK(w.view() == expected);
  w.release();
  CHECK(w.size() == 0);
  CHECK(w.capacity() == 0);
}

TEST_CASE("byte codec reading past the end fails and returns zeros", "[byte_codec]") {
  ByteWriter w;
  w.f32(2.5f);
  std::string cut(w.view().substr(0, 3));
  ByteReader r(cut);
  CHECK(r.f32() == 0.0f);
  CHECK(r.failed());
  CHECK(r.f64() == 0.0);
  CHECK(r.varint() == 0);
}

TEST_CASE("checksum64 is a function of the bytes and sees every bit", "[byte_codec]") {
  std::string a(1000, '\0');
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<char>(i * 7);
  const std::uint64_t base = checksum64(a);
  CHECK(checksum64(std::string(a)) == base);
  for (std::size_t i = 0; i < a.size(); i += 37)
    for (int bit = 0; bit < 8; bit += 3) {
      std::string b = a;
      b[i] = static_cast<char>(b[i] ^ (1 << bit));
      CHECK(checksum64(b) != base);
    }
  CHECK(checksum64(a.substr(0, 999)) != base);
  CHECK(checksum64("") != checksum64(std::string(1, '\0')));
}
