#include <sys/mman.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "shoppulse/ingest/event_parser.hpp"

using namespace shoppulse;

namespace {

// 2017-11-26T01:00:00Z
constexpr TimestampMs kT = 1511658000000;

Result<std::vector<RawEvent>> parse_json(std::string_view body, ParseOptions options = {}) {
  return parse_events(body, BodyFormat::json, options);
}
Result<std::vector<RawEvent>> parse_ndjson(std::string_view body, ParseOptions options = {}) {
  return parse_events(body, BodyFormat::ndjson, options);
}

// Parses one object that must be accepted.
RawEvent one(const std::string& object) {
  auto r = parse_json(object);
  INFO(object);
  if (!r) FAIL("rejected: " << r.error().detail << " (field " << r.error().field << ")");
  REQUIRE(r->size() == 1);
  return (*r)[0];
}

// Parses one object that must be rejected; returns the error.
Error rejected(const std::string& object, ParseOptions options = {}) {
  auto r = parse_json(object, options);
  INFO(object);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::invalid_argument);
  CHECK_FALSE(r.error().detail.empty());
  return r.error();
}

// A minimal valid object plus extra members.
std::string with(const std::string& members) {
  return R"({"user_id":"u1","event_type":"view")" + (members.empty() ? "" : "," + members) + "}";
}

}  // namespace

TEST_CASE("an event with every field as a string is decoded verbatim", "[ingest][parser]") {
  const RawEvent e = one(R"({"event_id":"e-1","user_id":"u-42","session_id":"s-9","product_id":"p-7",
    "category_id":"c-3","device":"mobile","location":"Beijing","timestamp":"2017-11-26T01:00:00Z",
    "price":"19.99","quantity":"2","event_type":"purchase","rating":"4"})");
  CHECK(e.event_id == "e-1");
  CHECK(e.user_id == "u-42");
  CHECK(e.session_id == "s-9");
  CHECK(e.product_id == "p-7");
  CHECK(e.category_id == "c-3");
  CHECK(e.device == "mobile");
  CHECK(e.location == "Beijing");
  CHECK(e.time_ms == kT);
  CHECK(e.price_minor == 1999);
  CHECK(e.quantity == 2);
  CHECK(e.type == EventType::purchase);
  CHECK(e.rating == 4);
}

TEST_CASE("an event with numeric ids, price, quantity, rating and epoch timestamp is decoded", "[ingest][parser]") {
  const RawEvent e = one(R"({"event_id":1001,"user_id":42,"session_id":9,"product_id":7,"category_id":3,
    "timestamp":1511658000000,"price":19.99,"quantity":2,"event_type":"rate","rating":5})");
  CHECK(e.event_id == "1001");
  CHECK(e.user_id == "42");
  CHECK(e.session_id == "9");
  CHECK(e.product_id == "7");
  CHECK(e.category_id == "3");
  CHECK(e.time_ms == kT);
  CHECK(e.price_minor == 1999);
  CHECK(e.quantity == 2);
  CHECK(e.type == EventType::rate);
  CHECK(e.rating == 5);
}

TEST_CASE("absent optional fields take their defaults", "[ingest][parser]") {
  const RawEvent e = one(with(""));
  CHECK(e.user_id == "u1");
  CHECK(e.type == EventType::view);
  CHECK(e.event_id.empty());
  CHECK(e.session_id.empty());
  CHECK(e.product_id.empty());
  CHECK(e.category_id.empty());
  CHECK(e.device.empty());
  CHECK(e.location.empty());
  CHECK_FALSE(e.time_ms.has_value());
  CHECK(e.price_minor == 0);
  CHECK(e.quantity == 1);
  CHECK(e.rating == 0);
}

TEST_CASE("every event type name is accepted", "[ingest][parser]") {
  const std::pair<const char*, EventType> types[] = {
      {"view", EventType::view},         {"click", EventType::click},
      {"add_to_cart", EventType::add_to_cart}, {"remove_from_cart", EventType::remove_from_cart},
      {"favorite", EventType::favorite}, {"purchase", EventType::purchase},
      {"rate", EventType::rate}};
  for (const auto& [name, type] : types) {
    CHECK(one(R"({"user_id":"u","event_type":")" + std::string(name) + "\"}").type == type);
  }
}

TEST_CASE("64-bit integer ids are kept exactly", "[ingest][parser]") {
  // 2^53 + 1 cannot survive a trip through a double.
  CHECK(one(R"({"user_id":9007199254740993,"event_type":"view"})").user_id == "9007199254740993");
  CHECK(one(R"({"user_id":9223372036854775807,"event_type":"view"})").user_id == "9223372036854775807");
  CHECK(one(R"({"user_id":0,"event_type":"view"})").user_id == "0");
}

TEST_CASE("integer ids beyond int64 are accepted as unsigned 64-bit", "[ingest][parser]") {
  CHECK(one(R"({"user_id":9223372036854775808,"event_type":"view"})").user_id == "9223372036854775808");
  CHECK(one(R"({"user_id":18446744073709551615,"event_type":"view"})").user_id == "18446744073709551615");
  CHECK(one(with(R"("product_id":18446744073709551615)")).product_id == "18446744073709551615");
}

TEST_CASE("ids given as JSON floats are rejected naming the field", "[ingest][parser]") {
  CHECK(rejected(R"({"user_id":1.5,"event_type":"view"})").field == "user_id");
  CHECK(rejected(R"({"user_id":42.0,"event_type":"view"})").field == "user_id");
  CHECK(rejected(R"({"user_id":1e3,"event_type":"view"})").field == "user_id");
  CHECK(rejected(with(R"("product_id":7.0)")).field == "product_id");
  CHECK(rejected(with(R"("category_id":3.25)")).field == "category_id");
  CHECK(rejected(with(R"("event_id":1.0)")).field == "event_id");
  CHECK(rejected(with(R"("session_id":0.5)")).field == "session_id");
}

TEST_CASE("ids of other JSON types and empty or oversized ids are rejected", "[ingest][parser]") {
  CHECK(rejected(R"({"user_id":true,"event_type":"view"})").field == "user_id");
  CHECK(rejected(R"({"user_id":["u"],"event_type":"view"})").field == "user_id");
  CHECK(rejected(R"({"user_id":{"id":1},"event_type":"view"})").field == "user_id");
  CHECK(rejected(R"({"user_id":"","event_type":"view"})").field == "user_id");
  ParseOptions small;
  small.max_id_bytes = 8;
  CHECK(rejected(R"({"user_id":"123456789","event_type":"view"})", small).field == "user_id");
  CHECK(parse_json(R"({"user_id":"12345678","event_type":"view"})", small).ok());
  CHECK(rejected(with(R"("device":"123456789")"), small).field == "device");
}

TEST_CASE("device and location must be strings", "[ingest][parser]") {
  CHECK(rejected(with(R"("device":1)")).field == "device");
  CHECK(rejected(with(R"("location":{"city":"x"})")).field == "location");
}

TEST_CASE("user_id and event_type are required", "[ingest][parser]") {
  CHECK(rejected(R"({"event_type":"view"})").field == "user_id");
  CHECK(rejected(R"({"user_id":"u1"})").field == "event_type");
  CHECK(rejected(R"({})").field == "user_id");
}

TEST_CASE("an unknown event type is rejected naming the field", "[ingest][parser]") {
  CHECK(rejected(R"({"user_id":"u1","event_type":"buy"})").field == "event_type");
  CHECK(rejected(R"({"user_id":"u1","event_type":"VIEW"})").field == "event_type");
  CHECK(rejected(R"({"user_id":"u1","event_type":5})").field == "event_type");
}

TEST_CASE("an ISO-8601 timestamp with an offset and fraction is converted to UTC ms", "[ingest][parser]") {
  CHECK(one(with(R"("timestamp":"2017-11-26T09:00:00.250+08:00")")).time_ms == kT + 250);
  CHECK(one(with(R"("timestamp":"2017-11-26 01:00:00")")).time_ms == kT);
}

TEST_CASE("an epoch-millisecond timestamp is taken as is", "[ingest][parser]") {
  CHECK(one(with(R"("timestamp":1511658000123)")).time_ms == kT + 123);
}

TEST_CASE("timestamps that are malformed, fractional or in seconds are rejected", "[ingest][parser]") {
  CHECK(rejected(with(R"("timestamp":"yesterday")")).field == "timestamp");
  CHECK(rejected(with(R"("timestamp":"2017-02-30T00:00:00Z")")).field == "timestamp");
  CHECK(rejected(with(R"("timestamp":1511658000)")).field == "timestamp");  // seconds, not ms
  CHECK(rejected(with(R"("timestamp":1511658000000.5)")).field == "timestamp");
  CHECK(rejected(with(R"("timestamp":true)")).field == "timestamp");
  CHECK(rejected(with(R"("timestamp":"1999-12-31T23:59:59Z")")).field == "timestamp");
}

TEST_CASE("a timestamp further in the future than allowed is rejected", "[ingest][parser]") {
  ParseOptions options;
  options.now_ms = kT;
  options.max_future_ms = 60000;
  CHECK(parse_json(with(R"("timestamp":1511658060000)"), options).ok());  // exactly now + 60 s
  CHECK(rejected(with(R"("timestamp":1511658060001)"), options).field == "timestamp");
  CHECK(rejected(with(R"("timestamp":"2017-11-26T01:05:00Z")"), options).field == "timestamp");
}

TEST_CASE("a numeric price converts to exact minor units", "[ingest][parser]") {
  CHECK(one(with(R"("price":19.99)")).price_minor == 1999);
  CHECK(one(with(R"("price":0.1)")).price_minor == 10);
  CHECK(one(with(R"("price":0.29)")).price_minor == 29);
  CHECK(one(with(R"("price":1.15)")).price_minor == 115);
  CHECK(one(with(R"("price":28596.5)")).price_minor == 2859650);
  CHECK(one(with(R"("price":5)")).price_minor == 500);
  CHECK(one(with(R"("price":0)")).price_minor == 0);
  CHECK(one(with(R"("price":1.50)")).price_minor == 150);
  CHECK(one(with(R"("price":1e2)")).price_minor == 10000);
  CHECK(one(with(R"("price":123456789.99)")).price_minor == 12345678999);
}

TEST_CASE("every two-decimal numeric price from 0.00 to 99.99 converts exactly", "[ingest][parser]") {
  for (int cents = 0; cents < 10000; ++cents) {
    const std::string text = std::to_string(cents / 100) + "." + (cents % 100 < 10 ? "0" : "") +
                             std::to_string(cents % 100);
    auto r = parse_json(with("\"price\":" + text));
    INFO(text);
    REQUIRE(r.ok());
    REQUIRE((*r)[0].price_minor == cents);
  }
}

TEST_CASE("a string price converts to exact minor units", "[ingest][parser]") {
  CHECK(one(with(R"("price":"19.99")")).price_minor == 1999);
  CHECK(one(with(R"("price":"0.1")")).price_minor == 10);
  CHECK(one(with(R"("price":"10")")).price_minor == 1000);
  CHECK(one(with(R"("price":"1.500")")).price_minor == 150);
}

TEST_CASE("prices with three decimals are rejected", "[ingest][parser]") {
  CHECK(rejected(with(R"("price":1.005)")).field == "price");
  CHECK(rejected(with(R"("price":19.999)")).field == "price");
  CHECK(rejected(with(R"("price":"19.999")")).field == "price");
  CHECK(rejected(with(R"("price":0.001)")).field == "price");
}

TEST_CASE("negative and non-numeric prices are rejected", "[ingest][parser]") {
  CHECK(rejected(with(R"("price":-1)")).field == "price");
  CHECK(rejected(with(R"("price":-0.01)")).field == "price");
  CHECK(rejected(with(R"("price":"-1.00")")).field == "price");
  CHECK(rejected(with(R"("price":"abc")")).field == "price");
  CHECK(rejected(with(R"("price":"")")).field == "price");
  CHECK(rejected(with(R"("price":true)")).field == "price");
  CHECK(rejected(with(R"("price":[1])")).field == "price");
  CHECK(rejected(with(R"("price":1e300)")).field == "price");
}

TEST_CASE("quantity must be an integer from 1 to 1000000", "[ingest][parser]") {
  CHECK(one(with(R"("quantity":1)")).quantity == 1);
  CHECK(one(with(R"("quantity":1000000)")).quantity == 1000000);
  CHECK(one(with(R"("quantity":"7")")).quantity == 7);
  CHECK(rejected(with(R"("quantity":0)")).field == "quantity");
  CHECK(rejected(with(R"("quantity":-1)")).field == "quantity");
  CHECK(rejected(with(R"("quantity":1000001)")).field == "quantity");
  CHECK(rejected(with(R"("quantity":18446744073709551615)")).field == "quantity");
  CHECK(rejected(with(R"("quantity":2.5)")).field == "quantity");
  CHECK(rejected(with(R"("quantity":2.0)")).field == "quantity");
  CHECK(rejected(with(R"("quantity":"2x")")).field == "quantity");
  CHECK(rejected(with(R"("quantity":"")")).field == "quantity");
  CHECK(rejected(with(R"("quantity":" 2")")).field == "quantity");
  CHECK(rejected(with(R"("quantity":true)")).field == "quantity");
}

TEST_CASE("rating must be an integer from 1 to 5", "[ingest][parser]") {
  CHECK(one(with(R"("rating":1)")).rating == 1);
  CHECK(one(with(R"("rating":5)")).rating == 5);
  CHECK(one(with(R"("rating":"3")")).rating == 3);
  CHECK(rejected(with(R"("rating":0)")).field == "rating");
  CHECK(rejected(with(R"("rating":6)")).field == "rating");
  CHECK(rejected(with(R"("rating":4.5)")).field == "rating");
}

TEST_CASE("null fields count as absent", "[ingest][parser]") {
  const RawEvent e = one(R"({"user_id":"u1","event_type":"view","event_id":null,"session_id":null,
    "product_id":null,"category_id":null,"device":null,"location":null,"timestamp":null,"price":null,
    "quantity":null,"rating":null})");
  CHECK(e.event_id.empty());
  CHECK(e.session_id.empty());
  CHECK(e.product_id.empty());
  CHECK(e.category_id.empty());
  CHECK(e.device.empty());
  CHECK(e.location.empty());
  CHECK_FALSE(e.time_ms.has_value());
  CHECK(e.price_minor == 0);
  CHECK(e.quantity == 1);
  CHECK(e.rating == 0);
}

TEST_CASE("a null user_id or event_type is the same as a missing one", "[ingest][parser]") {
  CHECK(rejected(R"({"user_id":null,"event_type":"view"})").field == "user_id");
  CHECK(rejected(R"({"user_id":"u1","event_type":null})").field == "event_type");
}

TEST_CASE("unknown fields of any type are ignored", "[ingest][parser]") {
  const RawEvent e = one(R"({"user_id":"u1","extra":1,"nested":{"a":[1,2,{"b":null}]},"event_type":"click",
    "flag":true,"note":"hello","price_currency":"CNY","n":1.5e10})");
  CHECK(e.user_id == "u1");
  CHECK(e.type == EventType::click);
}

TEST_CASE("a JSON array holds several events in order", "[ingest][parser]") {
  auto r = parse_json(R"([{"user_id":"a","event_type":"view"},
                          {"user_id":"b","event_type":"click"},
                          {"user_id":"c","event_type":"purchase","price":"1.00"}])");
  REQUIRE(r.ok());
  REQUIRE(r->size() == 3);
  CHECK((*r)[0].user_id == "a");
  CHECK((*r)[1].type == EventType::click);
  CHECK((*r)[2].price_minor == 100);
}

TEST_CASE("an error in an array names the element's 1-based position and field", "[ingest][parser]") {
  auto r = parse_json(R"([{"user_id":"a","event_type":"view"},
                          {"user_id":"b","event_type":"view"},
                          {"user_id":"c","event_type":"view","quantity":0}])");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::invalid_argument);
  CHECK(r.error().line == 3);
  CHECK(r.error().field == "quantity");
}

TEST_CASE("an array element that is not an object is rejected with its position", "[ingest][parser]") {
  auto r = parse_json(R"([{"user_id":"a","event_type":"view"}, 42])");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().line == 2);
  CHECK(r.error().field.empty());
}

TEST_CASE("an empty array, a scalar or an empty body is not a batch of events", "[ingest][parser]") {
  for (const char* body : {"[]", "42", "\"event\"", "null", "", "   "}) {
    INFO('"' << body << '"');
    auto r = parse_json(body);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::invalid_argument);
  }
}

TEST_CASE("garbage and truncated JSON are rejected as invalid JSON", "[ingest][parser]") {
  for (const char* body : {"{", R"({"user_id":"u1","event_type":"view")", R"({"user_id":"u1",)",
                           R"([{"user_id":"u1","event_type":"view"})", "not json", R"({"user_id":u1})",
                           R"({"user_id":"u1" "event_type":"view"})", R"({"user_id":"u1)",
                           R"({"user_id":"u1","event_type":"view"}})", "\x01\x02\x03"}) {
    INFO(body);
    auto r = parse_json(body);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::invalid_argument);
    CHECK(r.error().line == 1);
  }
}

TEST_CASE("NDJSON holds one event per line", "[ingest][parser]") {
  auto r = parse_ndjson("{\"user_id\":\"a\",\"event_type\":\"view\"}\n"
                        "{\"user_id\":\"b\",\"event_type\":\"click\"}\n"
                        "{\"user_id\":\"c\",\"event_type\":\"favorite\"}");
  REQUIRE(r.ok());
  REQUIRE(r->size() == 3);
  CHECK((*r)[0].user_id == "a");
  CHECK((*r)[1].user_id == "b");
  CHECK((*r)[2].type == EventType::favorite);
}

TEST_CASE("NDJSON skips blank lines and accepts CRLF and a trailing newline", "[ingest][parser]") {
  auto r = parse_ndjson("\r\n"
                        "{\"user_id\":\"a\",\"event_type\":\"view\"}\r\n"
                        "\n"
                        "   \t\r\n"
                        "{\"user_id\":\"b\",\"event_type\":\"click\"}\r\n"
                        "{\"user_id\":\"c\",\"event_type\":\"view\"}\n");
  REQUIRE(r.ok());
  REQUIRE(r->size() == 3);
  CHECK((*r)[0].user_id == "a");
  CHECK((*r)[1].user_id == "b");
  CHECK((*r)[2].user_id == "c");
}

TEST_CASE("an NDJSON error names its line, counting blank lines, and the field", "[ingest][parser]") {
  auto r = parse_ndjson("{\"user_id\":\"a\",\"event_type\":\"view\"}\n"
                        "\n"
                        "{\"user_id\":\"b\",\"event_type\":\"view\",\"price\":\"1.234\"}\n"
                        "{\"user_id\":\"c\",\"event_type\":\"view\"}\n");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::invalid_argument);
  CHECK(r.error().line == 3);
  CHECK(r.error().field == "price");
}

TEST_CASE("an NDJSON line that is truncated or not an object is rejected with its line", "[ingest][parser]") {
  auto truncated = parse_ndjson("{\"user_id\":\"a\",\"event_type\":\"view\"}\r\n{\"user_id\":\"b\",\"ev");
  REQUIRE_FALSE(truncated.ok());
  CHECK(truncated.error().line == 2);
  CHECK(truncated.error().field.empty());

  auto array_line = parse_ndjson("{\"user_id\":\"a\",\"event_type\":\"view\"}\n"
                                 "[{\"user_id\":\"b\",\"event_type\":\"view\"}]\n");
  REQUIRE_FALSE(array_line.ok());
  CHECK(array_line.error().line == 2);

  auto two_on_one_line = parse_ndjson("{\"user_id\":\"a\",\"event_type\":\"view\"} {\"user_id\":\"b\"}\n");
  REQUIRE_FALSE(two_on_one_line.ok());
  CHECK(two_on_one_line.error().line == 1);
}

TEST_CASE("an NDJSON body without events is rejected", "[ingest][parser]") {
  for (const char* body : {"", "\n", "\r\n\r\n", "  \n\t\n"}) {
    auto r = parse_ndjson(body);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::invalid_argument);
  }
}

TEST_CASE("a JSON body with more events than max_events is rejected at the first extra one", "[ingest][parser]") {
  ParseOptions options;
  options.max_events = 3;
  const std::string ev = R"({"user_id":"u","event_type":"view"})";
  CHECK(parse_json("[" + ev + "," + ev + "," + ev + "]", options).ok());
  auto r = parse_json("[" + ev + "," + ev + "," + ev + "," + ev + "]", options);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::invalid_argument);
  CHECK(r.error().line == 4);
}

TEST_CASE("an NDJSON body with more events than max_events is rejected at the first extra line",
          "[ingest][parser]") {
  ParseOptions options;
  options.max_events = 2;
  const std::string ev = R"({"user_id":"u","event_type":"view"})";
  CHECK(parse_ndjson(ev + "\n" + ev + "\n", options).ok());
  auto r = parse_ndjson(ev + "\n\n" + ev + "\n" + ev + "\n", options);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().line == 4);
}

TEST_CASE("the parser can be used again after an error", "[ingest][parser]") {
  REQUIRE_FALSE(parse_json("{").ok());
  CHECK(one(with("")).user_id == "u1");
  REQUIRE_FALSE(parse_ndjson("{\"user_id\":1.5,\"event_type\":\"view\"}").ok());
  CHECK(parse_ndjson(with("")).ok());
}

TEST_CASE("append_events adds one document's events after those already gathered", "[ingest][parser]") {
  std::vector<RawEvent> out;
  auto first = append_events(R"({"user_id":"a","event_type":"view","price":"1.50"})", {}, out);
  REQUIRE(first.ok());
  CHECK(*first == 1);
  auto second = append_events(R"([{"user_id":"b","event_type":"click"},{"user_id":"c","event_type":"purchase"}])", {},
                              out);
  REQUIRE(second.ok());
  CHECK(*second == 2);
  REQUIRE(out.size() == 3);
  CHECK(out[0].user_id == "a");
  CHECK(out[0].price_minor == 150);
  CHECK(out[1].user_id == "b");
  CHECK(out[1].type == EventType::click);
  CHECK(out[2].user_id == "c");
  CHECK(out[2].type == EventType::purchase);
}

TEST_CASE("append_events leaves the gathered events as they were when a document is rejected", "[ingest][parser]") {
  std::vector<RawEvent> out;
  REQUIRE(append_events(R"({"user_id":"a","event_type":"view"})", {}, out).ok());
  // The array's first element is valid and its second is not: neither stays.
  auto r = append_events(R"([{"user_id":"b","event_type":"view"},{"user_id":"c","event_type":"fly"}])", {}, out);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().field == "event_type");
  CHECK(r.error().line == 2);
  REQUIRE(out.size() == 1);
  CHECK(out[0].user_id == "a");
  REQUIRE_FALSE(append_events("{", {}, out).ok());
  REQUIRE_FALSE(append_events("[]", {}, out).ok());
  CHECK(out.size() == 1);
}

TEST_CASE("append_events counts max_events per document, not over what was gathered", "[ingest][parser]") {
  ParseOptions options;
  options.max_events = 2;
  const std::string ev = R"({"user_id":"u","event_type":"view"})";
  std::vector<RawEvent> out;
  for (int i = 0; i < 3; ++i) REQUIRE(append_events("[" + ev + "," + ev + "]", options, out).ok());
  CHECK(out.size() == 6);
  CHECK_FALSE(append_events("[" + ev + "," + ev + "," + ev + "]", options, out).ok());
  CHECK(out.size() == 6);
}

TEST_CASE("append_events reads nothing past the end of an unpadded document", "[ingest][parser]") {
  // The document ends exactly where an inaccessible page begins, as a
  // message may end at the end of a client library's buffer.
  const std::size_t page = std::size_t(sysconf(_SC_PAGESIZE));
  void* mem = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(mem != MAP_FAILED);
  char* base = static_cast<char*>(mem);
  REQUIRE(mprotect(base + page, page, PROT_NONE) == 0);
  const std::string doc = R"({"user_id":"edge","event_type":"view"})";
  char* start = base + page - doc.size();
  std::memcpy(start, doc.data(), doc.size());
  std::vector<RawEvent> out;
  auto r = append_events(std::string_view(start, doc.size()), {}, out);
  munmap(mem, 2 * page);
  REQUIRE(r.ok());
  REQUIRE(out.size() == 1);
  CHECK(out[0].user_id == "edge");
}

TEST_CASE("an NDJSON body is parsed in place, reading nothing past its end, with the same events however it ends",
          "[ingest][parser]") {
  // Lines are parsed where they are, the rest of the body serving as
  // simdjson's padding; the lines too close to the end for that are copied.
  // Each body ends exactly where an inaccessible page begins, cut after
  // every line (with and without its newline, and with trailing blanks), so
  // the last lines fall at every distance from the end, across the
  // SIMDJSON_PADDING boundary.
  std::vector<std::string> lines;
  for (int i = 0; i < 40; ++i) {
    std::string line = R"({"user_id":)" + std::to_string(i * 7919) + R"(,"event_type":"view")";
    if (i % 3 == 1) line += R"(,"product_id":")" + std::string(static_cast<std::size_t>(i), 'p') + "\"";
    if (i % 4 == 2) line += ",\"timestamp\":" + std::to_string(kT + i);
    lines.push_back(line + "}");
  }
  const std::size_t page = std::size_t(sysconf(_SC_PAGESIZE));
  const std::size_t span = 2 * page;
  void* mem = mmap(nullptr, span + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(mem != MAP_FAILED);
  char* base = static_cast<char*>(mem);
  REQUIRE(mprotect(base + span, page, PROT_NONE) == 0);
  std::size_t bodies = 0;
  for (std::size_t n = 1; n <= lines.size(); ++n) {
    for (const char* tail : {"", "\n", "\r\n", "  \n\n"}) {
      std::string body;
      for (std::size_t i = 0; i < n; ++i) body += lines[i] + (i + 1 < n ? "\n" : "");
      body += tail;
      REQUIRE(body.size() <= span);
      char* start = base + span - body.size();
      std::memcpy(start, body.data(), body.size());
      auto r = parse_ndjson(std::string_view(start, body.size()));
      INFO(n << " lines, tail of " << std::strlen(tail) << " bytes");
      REQUIRE(r.ok());
      REQUIRE(r->size() == n);
      for (std::size_t i = 0; i < n; ++i) {
        // The oracle: the line alone, parsed from a padded copy.
        std::vector<RawEvent> alone;
        REQUIRE(append_events(lines[i], {}, alone).ok());
        const RawEvent& got = (*r)[i];
        CHECK(got.user_id == alone[0].user_id);
        CHECK(got.product_id == alone[0].product_id);
        CHECK(got.time_ms == alone[0].time_ms);
        CHECK(got.type == alone[0].type);
      }
      ++bodies;
    }
  }
  // A bad last line, too close to the end for padding, still names its line.
  const std::string bad = lines[0] + "\n" + lines[1] + "\n" + R"({"user_id":"x","event_type":"fly"})";
  char* start = base + span - bad.size();
  std::memcpy(start, bad.data(), bad.size());
  auto r = parse_ndjson(std::string_view(start, bad.size()));
  munmap(mem, span + page);
  CHECK(bodies == 4 * lines.size());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().line == 3);
  CHECK(r.error().field == "event_type");
}

TEST_CASE("a recycled events vector is the same thread's next parse's, whatever that parse meets", "[ingest][parser]") {
  const auto body_of = [](std::size_t n, const char* user) {
    std::string body;
    for (std::size_t i = 0; i < n; ++i)
      body += std::string(R"({"user_id":")") + user + R"(","event_type":"view","product_id":")" + std::to_string(i) +
              "\"}\n";
    return body;
  };
  // Whatever an earlier test left as this thread's spare is taken and freed.
  { auto drained = parse_ndjson(body_of(1, "x")); }
  auto first = parse_ndjson(body_of(1000, "a"));
  REQUIRE(first.ok());
  REQUIRE(first->capacity() >= 1000);
  const RawEvent* buffer = first->data();
  recycle_events(std::move(first).value());

  // The next body fills the same memory, with its own events only.
  auto second = parse_ndjson(body_of(2, "b"));
  REQUIRE(second.ok());
  CHECK(second->data() == buffer);
  REQUIRE(second->size() == 2);
  CHECK((*second)[0].user_id == "b");
  CHECK((*second)[1].product_id == "1");
  recycle_events(std::move(second).value());

  // A smaller vector, and one past the bound, leave the spare as it is.
  std::vector<RawEvent> small;
  small.reserve(10);
  recycle_events(std::move(small));
  std::vector<RawEvent> huge;
  huge.reserve((std::size_t{8} << 20) / sizeof(RawEvent) + 1);
  recycle_events(std::move(huge));
  // A body that fails keeps the spare for the next one.
  auto bad = parse_ndjson(R"({"user_id":"c","event_type":"fly"})");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().field == "event_type");
  auto third = parse_json(R"([{"user_id":"d","event_type":"purchase"}])");
  REQUIRE(third.ok());
  CHECK(third->data() == buffer);
  REQUIRE(third->size() == 1);
  CHECK((*third)[0].user_id == "d");
  CHECK((*third)[0].type == EventType::purchase);
  recycle_events(std::move(third).value());

  // Another thread has a spare of its own: its parse never gets this one,
  // which this thread still holds.
  const RawEvent* other = nullptr;
  std::thread([&] {
    auto r = parse_ndjson(body_of(3, "e"));
    if (r.ok()) other = r->data();
  }).join();
  CHECK(other != nullptr);
  CHECK(other != buffer);
  auto fourth = parse_ndjson(body_of(1, "f"));
  REQUIRE(fourth.ok());
  CHECK(fourth->data() == buffer);
}
