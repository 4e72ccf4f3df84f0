#include <catch2/catch.hpp>

#include "shoppulse/core/time_format.hpp"

using namespace shoppulse;

namespace {
// Seconds since the epoch of a few dates, cross-checked with `date -u +%s`.
constexpr TimestampMs k20171126T01 = 1511658000LL * 1000;
constexpr TimestampMs k20000229 = 951782400LL * 1000;
constexpr TimestampMs k20240301T12 = 1709294400LL * 1000;
constexpr TimestampMs k19991231T235959 = 946684799LL * 1000;
constexpr TimestampMs k20200229T235959 = 1583020799LL * 1000;
constexpr TimestampMs k21000301 = 4107542400LL * 1000;
}  // namespace

TEST_CASE("an ISO-8601 UTC timestamp parses to epoch milliseconds", "[core][time]") {
  CHECK(parse_iso8601("2017-11-26T01:00:00Z") == k20171126T01);
  CHECK(parse_iso8601("2017-11-26T01:00:00z") == k20171126T01);
  CHECK(parse_iso8601("2017-11-26t01:00:00Z") == k20171126T01);
  CHECK(parse_iso8601("1970-01-01T00:00:00Z") == 0);
  CHECK(parse_iso8601("1999-12-31T23:59:59Z") == k19991231T235959);
}

TEST_CASE("a timestamp without a zone is UTC", "[core][time]") {
  CHECK(parse_iso8601("2017-11-26T01:00:00") == k20171126T01);
}

TEST_CASE("a space may separate date and time", "[core][time]") {
  CHECK(parse_iso8601("2017-11-26 01:00:00") == k20171126T01);
}

TEST_CASE("a date alone is midnight UTC", "[core][time]") {
  CHECK(parse_iso8601("2000-02-29") == k20000229);
}

TEST_CASE("seconds may be omitted", "[core][time]") {
  CHECK(parse_iso8601("2017-11-26T01:00") == k20171126T01);
  CHECK(parse_iso8601("2017-11-26T01:00Z") == k20171126T01);
}

TEST_CASE("fractions give milliseconds and digits beyond ms are truncated", "[core][time]") {
  CHECK(parse_iso8601("2017-11-26T01:00:00.5Z") == k20171126T01 + 500);
  CHECK(parse_iso8601("2017-11-26T01:00:00.05Z") == k20171126T01 + 50);
  CHECK(parse_iso8601("2017-11-26T01:00:00.123Z") == k20171126T01 + 123);
  CHECK(parse_iso8601("2017-11-26T01:00:00.123999999Z") == k20171126T01 + 123);
  CHECK(parse_iso8601("2017-11-26T01:00:00,25Z") == k20171126T01 + 250);
  CHECK(parse_iso8601("2017-11-26T01:00:00.000") == k20171126T01);
}

TEST_CASE("a zone offset is subtracted to give UTC", "[core][time]") {
  constexpr TimestampMs hour = 3600000;
  CHECK(parse_iso8601("2017-11-26T09:00:00+08:00") == k20171126T01);
  CHECK(parse_iso8601("2017-11-26T09:00:00+0800") == k20171126T01);
  CHECK(parse_iso8601("2017-11-26T09:00:00+08") == k20171126T01);
  CHECK(parse_iso8601("2017-11-25T19:30:00-05:30") == k20171126T01);
  CHECK(parse_iso8601("2017-11-26T01:00:00+00:00") == k20171126T01);
  CHECK(parse_iso8601("2017-11-26T01:00:00-00:00") == k20171126T01);
  CHECK(parse_iso8601("2017-11-26T01:00:00.250+01:00") == k20171126T01 - hour + 250);
}

TEST_CASE("an offset can carry the instant across a day, month and year boundary", "[core][time]") {
  CHECK(parse_iso8601("2000-01-01T07:59:59+08:00") == k19991231T235959);
  CHECK(parse_iso8601("1999-12-31T18:59:59-05:00") == k19991231T235959);
}

TEST_CASE("leap years follow the Gregorian rules", "[core][time]") {
  CHECK(parse_iso8601("2020-02-29T23:59:59Z") == k20200229T235959);
  CHECK(parse_iso8601("2000-02-29T00:00:00Z") == k20000229);  // divisible by 400
  CHECK_FALSE(parse_iso8601("2019-02-29T00:00:00Z"));
  CHECK_FALSE(parse_iso8601("1900-02-29T00:00:00Z"));  // divisible by 100, not 400
  CHECK_FALSE(parse_iso8601("2100-02-29T00:00:00Z"));
  CHECK(parse_iso8601("2100-03-01T00:00:00Z") == k21000301);
  CHECK(parse_iso8601("2100-02-28T00:00:00Z") == k21000301 - 86400000);
}

TEST_CASE("impossible dates and times are rejected", "[core][time]") {
  for (const char* text : {"2017-00-10T00:00:00Z", "2017-13-10T00:00:00Z", "2017-01-00T00:00:00Z",
                           "2017-01-32T00:00:00Z", "2017-04-31T00:00:00Z", "2017-06-31", "2017-11-31",
                           "2017-11-26T24:00:00Z", "2017-11-26T23:60:00Z", "2017-11-26T23:00:61Z"}) {
    INFO(text);
    CHECK_FALSE(parse_iso8601(text));
  }
}

TEST_CASE("malformed timestamps are rejected", "[core][time]") {
  for (const char* text :
       {"", "2017", "2017-11", "2017-1-26", "2017/11/26", "17-11-26", "2017-11-26T", "2017-11-26T1",
        "2017-11-26T01", "2017-11-26T01:", "2017-11-26T01:0", "2017-11-26T01:00:", "2017-11-26T01:00:0",
        "2017-11-26T01:00:00.", "2017-11-26T01:00:00.Z", "2017-11-26T01:00:00ZZ", "2017-11-26T01:00:00Zjunk",
        "2017-11-26T01:00:00 ", " 2017-11-26T01:00:00", "2017-11-26X01:00:00", "2017-11-26T01:00:00+",
        "2017-11-26T01:00:00+8", "2017-11-26T01:00:00+08:0", "2017-11-26T01:00:00+24:00",
        "2017-11-26T01:00:00+08:60", "2017-11-26T01:00:00+08:00:00", "2017-11-26T01:00:00UTC",
        "abcd-ef-ghT01:00:00Z", "1511658000000"}) {
    INFO('"' << text << '"');
    CHECK_FALSE(parse_iso8601(text));
  }
}

TEST_CASE("format_iso8601 renders UTC with milliseconds and a Z", "[core][time]") {
  CHECK(format_iso8601(0) == "1970-01-01T00:00:00.000Z");
  CHECK(format_iso8601(k20171126T01) == "2017-11-26T01:00:00.000Z");
  CHECK(format_iso8601(k20171126T01 + 7) == "2017-11-26T01:00:00.007Z");
  CHECK(format_iso8601(k20200229T235959 + 999) == "2020-02-29T23:59:59.999Z");
  CHECK(format_iso8601(k21000301 - 1) == "2100-02-28T23:59:59.999Z");
}

TEST_CASE("format_iso8601 handles instants before the epoch", "[core][time]") {
  CHECK(format_iso8601(-1) == "1969-12-31T23:59:59.999Z");
  CHECK(format_iso8601(-86400000) == "1969-12-31T00:00:00.000Z");
  CHECK(format_iso8601(-86400001) == "1969-12-30T23:59:59.999Z");
}

TEST_CASE("formatting then parsing gives back the same instant", "[core][time]") {
  // Every 7919 minutes + 13 ms over ~60 years crosses many month ends and leap days.
  for (TimestampMs t = 946684800000LL - 30LL * 365 * 86400000; t < 946684800000LL + 30LL * 365 * 86400000;
       t += 7919LL * 60000 + 13) {
    const std::string text = format_iso8601(t);
    const auto back = parse_iso8601(text);
    INFO(text);
    REQUIRE(back);
    REQUIRE(*back == t);
  }
}

TEST_CASE("durations parse with ms, s, m, h and d units", "[core][time]") {
  CHECK(parse_duration_ms("250ms") == 250);
  CHECK(parse_duration_ms("30s") == 30000);
  CHECK(parse_duration_ms("5m") == 300000);
  CHECK(parse_duration_ms("1h") == 3600000);
  CHECK(parse_duration_ms("24h") == 86400000);
  CHECK(parse_duration_ms("1d") == 86400000);
  CHECK(parse_duration_ms("0s") == 0);
}

TEST_CASE("a bare number of a duration is milliseconds", "[core][time]") {
  CHECK(parse_duration_ms("42") == 42);
}

TEST_CASE("malformed, negative and overflowing durations are rejected", "[core][time]") {
  for (const char* text : {"", "m", "ms", "-5m", "5x", "5 m", " 5m", "5m ", "1.5h", "5M", "5mm", "5min",
                           "+5m", "9999999999999999999d", "106751991168d", "9223372036854775807s"}) {
    INFO('"' << text << '"');
    CHECK_FALSE(parse_duration_ms(text));
  }
}

TEST_CASE("the largest representable duration still parses", "[core][time]") {
  CHECK(parse_duration_ms("106751991167d") == 106751991167LL * 86400000);
  CHECK(parse_duration_ms("9223372036854775807") == INT64_MAX);
}
