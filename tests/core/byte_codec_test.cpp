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
