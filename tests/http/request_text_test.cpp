#include <catch2/catch.hpp>

#include "request_text.hpp"

using namespace shoppulse::http;

TEST_CASE("decode_path decodes escapes and keeps plus signs", "[http]") {
  CHECK(decode_path("/api/a%20b+c").value() == "/api/a b+c");
  CHECK(decode_path("/%2e%2e/x").value() == "/../x");
}

TEST_CASE("decode_path rejects malformed escapes and NUL", "[http]") {
  CHECK_FALSE(decode_path("/a%2").has_value());
  CHECK_FALSE(decode_path("/a%zz").has_value());
  CHECK_FALSE(decode_path("/a%00b").has_value());
}

TEST_CASE("normalize_content_type lower-cases and strips parameters", "[http]") {
  CHECK(normalize_content_type(" Application/JSON ; charset=utf-8") == "application/json");
  CHECK(normalize_content_type("") == "");
}

TEST_CASE("accepts_gzip honours q=0 and wildcards", "[http]") {
  CHECK(accepts_gzip("gzip, deflate, br"));
  CHECK(accepts_gzip("br;q=1.0, GZIP;q=0.5"));
  CHECK(accepts_gzip("*"));
  CHECK_FALSE(accepts_gzip("gzip;q=0"));
  CHECK_FALSE(accepts_gzip("deflate, br"));
  CHECK_FALSE(accepts_gzip(""));
}

TEST_CASE("etag_matches accepts lists, weak tags and star", "[http]") {
  CHECK(etag_matches(R"("a", "b")", R"("b")"));
  CHECK(etag_matches(R"(W/"b")", R"("b")"));
  CHECK(etag_matches("*", R"("b")"));
  CHECK_FALSE(etag_matches(R"("a")", R"("b")"));
}

TEST_CASE("json_error escapes the detail", "[http]") {
  CHECK(json_error("not_found", "no such path: /a\"b\\c\n") ==
        R"({"error":"not_found","detail":"no such path: /a\"b\\c\n"})");
}
