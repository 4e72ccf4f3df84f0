#include <catch2/catch.hpp>

#include "window_subscription.hpp"

using namespace shoppulse::http;

TEST_CASE("a subscribe message names windows in the API's duration vocabulary", "[http][websocket]") {
  const auto mask = [](std::string_view text) {
    auto r = parse_subscription(text);
    REQUIRE(r.ok());
    return *r;
  };
  CHECK(mask(R"({"type":"subscribe","windows":["1m","1h"]})") == 0b01001u);
  CHECK(mask(R"( { "windows" : [ "24h" ] , "type" : "subscribe" } )") == 0b10000u);
  CHECK(mask(R"({"type":"subscribe","windows":["1d","60m","5m"]})") == 0b11010u);
  CHECK(mask(R"({"type":"subscribe","windows":[]})") == kAllWindows);
}

TEST_CASE("a message that is not a valid subscribe is refused with what is wrong", "[http][websocket]") {
  struct Bad {
    const char* text;
    const char* detail;  // a part of the detail
    const char* field;
  };
  for (const Bad& bad : std::initializer_list<Bad>{
           {"", "not a subscribe message", ""},
           {"{}", "not a subscribe message", ""},
           {"subscribe", "not a subscribe message", ""},
           {R"({"type":"subscribe"})", R"(missing "windows")", "windows"},
           {R"({"windows":["1m"]})", R"(missing "type":"subscribe")", "type"},
           {R"({"type":"unsubscribe","windows":["1m"]})", R"(unknown message type "unsubscribe")", "type"},
           {R"({"type":"subscribe","windows":["2m"]})", R"(unknown window "2m")", "windows"},
           {R"({"type":"subscribe","windows":["1m",]})", "not a subscribe message", ""},
           {R"({"type":"subscribe","windows":"1m"})", "not a subscribe message", ""},
           {R"({"type":"subscribe","windows":["1m"],"extra":1})", R"(unknown member "extra")", "extra"},
           {R"({"type":"subscribe","windows":["1m"]} trailing)", "not a subscribe message", ""},
           {R"({"type":"subscribe","windows":["1\m"]})", "not a subscribe message", ""}}) {
    INFO(bad.text);
    const auto r = parse_subscription(bad.text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == shoppulse::Errc::invalid_argument);
    CHECK(r.error().detail.find(bad.detail) != std::string::npos);
    CHECK(r.error().field == bad.field);
  }
  // The refusal a client gets is JSON naming the problem, its text escaped.
  CHECK(refusal_message(shoppulse::make_error(shoppulse::Errc::invalid_argument, "unknown window \"x\"", "windows")) ==
        R"({"type":"error","error":"bad_message","detail":"unknown window \"x\"","field":"windows"})");
}

TEST_CASE("a snapshot keeps only the subscribed windows, whatever their text holds", "[http][websocket]") {
  const std::string message =
      R"({"type":"snapshot","total_events":3,"popular_products":[{"product_id":"p}{,\"x"}],)"
      R"("windows":{"1m":{"total_events":1,"popular_products":[{"product_id":"a,b"}]},"5m":{"total_events":2},)"
      R"("15m":{"total_events":3},"1h":{"total_events":4,"x":["]"]},"24h":{"total_events":5}}})";
  CHECK(select_windows(message, kAllWindows) == message);
  CHECK(select_windows(message, 0b01001) ==
        R"({"type":"snapshot","total_events":3,"popular_products":[{"product_id":"p}{,\"x"}],)"
        R"("windows":{"1m":{"total_events":1,"popular_products":[{"product_id":"a,b"}]},)"
        R"("1h":{"total_events":4,"x":["]"]}}})");
  CHECK(select_windows(message, 0b10000) ==
        R"({"type":"snapshot","total_events":3,"popular_products":[{"product_id":"p}{,\"x"}],)"
        R"("windows":{"24h":{"total_events":5}}})");
  CHECK(select_windows(R"({"type":"snapshot"})", 1) == R"({"type":"snapshot"})");
  // A cluster node's message: coverage and the cluster summary follow the
  // windows, and stay.
  const std::string cluster =
      R"({"type":"snapshot","windows":{"1m":{"total_events":1},"5m":{"total_events":2}},)"
      R"("coverage":{"scope":"cluster","partitions":6,"current":4,"members":3,"missing":["n2"]},)"
      R"("cluster":{"node_id":"n1","members":[{"node_id":"n1","partitions":[0,1]}]}})";
  CHECK(select_windows(cluster, 0b00010) ==
        R"({"type":"snapshot","windows":{"5m":{"total_events":2}},)"
        R"("coverage":{"scope":"cluster","partitions":6,"current":4,"members":3,"missing":["n2"]},)"
        R"("cluster":{"node_id":"n1","members":[{"node_id":"n1","partitions":[0,1]}]}})");
}
