#include <catch2/catch.hpp>

#include <cmath>
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
  ByteReader r(w.str());
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

TEST_CASE("byte codec reading past the end fails and returns zeros", "[byte_codec]") {
  ByteWriter w;
  w.f32(2.5f);
  std::string cut = w.str().substr(0, 3);
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
