#include <catch2/catch.hpp>

#include <cstdint>

#include "shoppulse/core/time_format.hpp"

using namespace shoppulse;

TEST_CASE("money parses into exact minor units", "[core][money]") {
  CHECK(parse_money("28596.5") == 2859650);
  CHECK(parse_money("28596.50") == 2859650);
  CHECK(parse_money("10") == 1000);
  CHECK(parse_money("0.99") == 99);
  CHECK(parse_money("0.1") == 10);
  CHECK(parse_money("19.99") == 1999);
  CHECK(parse_money("0") == 0);
  CHECK(parse_money("0.00") == 0);
  CHECK(parse_money("007.05") == 705);
}

TEST_CASE("money accepts trailing zeros beyond the allowed decimals", "[core][money]") {
  CHECK(parse_money("1.500") == 150);
  CHECK(parse_money("1.9900000") == 199);
}

TEST_CASE("money rejects more than the allowed decimals", "[core][money]") {
  CHECK_FALSE(parse_money("1.234"));
  CHECK_FALSE(parse_money("0.001"));
  CHECK_FALSE(parse_money("19.999"));
  CHECK_FALSE(parse_money("1.2301"));
}

TEST_CASE("money rejects negatives, signs and junk", "[core][money]") {
  for (const char* text : {"", "-1", "-0.5", "+1", ".5", "1.", "abc", "1,00", "1e3", " 1", "1 ", "1.2.3", "$1",
                           "1.5x", "0x10", "NaN", "inf", "1..0", "-"}) {
    INFO('"' << text << '"');
    CHECK_FALSE(parse_money(text));
  }
}

TEST_CASE("money rejects amounts too large to hold in minor units", "[core][money]") {
  CHECK_FALSE(parse_money("9223372036854775807"));
  CHECK_FALSE(parse_money("99999999999999999999999"));
  CHECK_FALSE(parse_money("1234567890123456789012345678901"));  // longer than 30 characters
}

TEST_CASE("money honours a different number of decimals", "[core][money]") {
  CHECK(parse_money("5", 0) == 5);
  CHECK(parse_money("5.0", 0) == 5);
  CHECK_FALSE(parse_money("5.1", 0));
  CHECK(parse_money("1.234", 3) == 1234);
  CHECK(parse_money("1.2", 3) == 1200);
  CHECK_FALSE(parse_money("1.2345", 3));
}

TEST_CASE("format_money renders minor units with fixed decimals", "[core][money]") {
  CHECK(format_money(2859650) == "28596.50");
  CHECK(format_money(1999) == "19.99");
  CHECK(format_money(5) == "0.05");
  CHECK(format_money(10) == "0.10");
  CHECK(format_money(0) == "0.00");
  CHECK(format_money(-5) == "-0.05");
  CHECK(format_money(-12345) == "-123.45");
  CHECK(format_money(7, 0) == "7");
  CHECK(format_money(1234, 3) == "1.234");
  CHECK(format_money(1, 3) == "0.001");
}

TEST_CASE("format_money handles the extremes of int64", "[core][money]") {
  CHECK(format_money(INT64_MAX) == "92233720368547758.07");
  CHECK(format_money(INT64_MIN) == "-92233720368547758.08");
}

TEST_CASE("formatting then parsing money gives back the same minor units", "[core][money]") {
  for (std::int64_t minor = 0; minor < 200000; minor += 7) {
    const auto back = parse_money(format_money(minor));
    REQUIRE(back);
    REQUIRE(*back == minor);
  }
  for (std::int64_t minor : {std::int64_t{999999999999}, std::int64_t{100000000000001}}) {
    CHECK(parse_money(format_money(minor)) == minor);
  }
}
