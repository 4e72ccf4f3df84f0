#include <catch2/catch.hpp>

#include <simdjson.h>

#include "shoppulse/api/api.hpp"

using namespace shoppulse;
using namespace shoppulse::api;

namespace {

std::string header(const ApiResponse& r, std::string_view name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return {};
}

struct Expected {
  Errc code;
  int status;
  const char* name;
  const char* retry_after;  // empty: no header
};

}  // namespace

TEST_CASE("every error code maps to one status, name and Retry-After rule", "[api][errors]") {
  const Expected table[] = {
      {Errc::invalid_argument, 400, "invalid_argument", ""},
      {Errc::not_found, 404, "not_found", ""},
      {Errc::method_not_allowed, 405, "method_not_allowed", ""},
      {Errc::payload_too_large, 413, "payload_too_large", ""},
      {Errc::unsupported_media, 415, "unsupported_media_type", ""},
      {Errc::overloaded, 503, "overloaded", "1"},
      {Errc::unavailable, 503, "unavailable", "5"},
      {Errc::no_space, 507, "no_space", "5"},
      {Errc::io_error, 503, "io_error", "5"},
      {Errc::corrupt, 500, "corrupt", ""},
      {Errc::internal, 500, "internal", ""},
  };
  simdjson::dom::parser parser;
  for (const Expected& e : table) {
    INFO(e.name);
    const ApiResponse r = error_response(make_error(e.code, "something went wrong"));
    CHECK(r.status == e.status);
    CHECK(r.content_type == "application/json");
    CHECK(header(r, "Retry-After") == e.retry_after);
    if (e.retry_after[0] == '\0') CHECK(r.headers.empty());
    simdjson::dom::element body;
    REQUIRE(parser.parse(r.body).get(body) == simdjson::SUCCESS);
    CHECK(std::string_view(body["error"]) == e.name);
    CHECK(std::string_view(body["detail"]) == "something went wrong");
    CHECK(body["field"].error() == simdjson::NO_SUCH_FIELD);
    CHECK(body["line"].error() == simdjson::NO_SUCH_FIELD);
  }
}

TEST_CASE("an error body names the field and line when the error has them", "[api][errors]") {
  const ApiResponse r = error_response(make_error(Errc::invalid_argument, "must be positive", "quantity", 7));
  CHECK(r.status == 400);
  simdjson::dom::parser parser;
  simdjson::dom::element body;
  REQUIRE(parser.parse(r.body).get(body) == simdjson::SUCCESS);
  CHECK(std::string_view(body["error"]) == "invalid_argument");
  CHECK(std::string_view(body["detail"]) == "must be positive");
  CHECK(std::string_view(body["field"]) == "quantity");
  CHECK(std::int64_t(body["line"]) == 7);
}

TEST_CASE("an error detail with quotes and control characters stays valid JSON", "[api][errors]") {
  const ApiResponse r = error_response(make_error(Errc::invalid_argument, "got \"a\\b\"\n\t\x01", "x\"y"));
  simdjson::dom::parser parser;
  simdjson::dom::element body;
  REQUIRE(parser.parse(r.body).get(body) == simdjson::SUCCESS);
  CHECK(std::string_view(body["detail"]) == "got \"a\\b\"\n\t\x01");
  CHECK(std::string_view(body["field"]) == "x\"y");
}
