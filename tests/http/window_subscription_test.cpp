#include <catch2/catch.hpp>

#include "window_subscription.hpp"

using namespace shoppulse::http;

TEST_CASE("a subscribe message names windows in the API's duration vocabulary", "[http][websocket]") {
  CHECK(parse_subscription(R"({"type":"subscribe","windows":["1m","1h"]})") == 0b01001u);
  CHECK(parse_subscription(R"( { "windows" : [ "24h" ] , "type" : "subscribe" } )") == 0b10000u);
  CHECK(parse_subscription(R"({"type":"subscribe","windows":["1d","60m","5m"]})") == 0b11010u);
  CHECK(parse_subscription(R"({"type":"subscribe","windows":[]})") == kAllWindows);
  for (const char* bad : {"", "{}", "subscribe", R"({"type":"subscribe"})", R"({"windows":["1m"]})",
                          R"({"type":"unsubscribe","windows":["1m"]})", R"({"type":"subscribe","windows":["2m"]})",
                          R"({"type":"subscribe","windows":["1m",]})", R"({"type":"subscribe","windows":"1m"})",
                          R"({"type":"subscribe","windows":["1m"],"extra":1})",
                          R"({"type":"subscribe","windows":["1m"]} trailing)", R"({"type":"subscribe","windows":["1\m"]})"}) {
    INFO(bad);
    CHECK(!parse_subscription(bad));
  }
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
}
