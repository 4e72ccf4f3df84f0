#include <catch2/catch.hpp>

#include "shoppulse/api/handler.hpp"

using namespace shoppulse::api;
using Pairs = std::vector<std::pair<std::string, std::string>>;

TEST_CASE("a query string splits into decoded key-value pairs in order", "[api][query]") {
  CHECK(parse_query("a=1&b=x%20y") == Pairs{{"a", "1"}, {"b", "x y"}});
  CHECK(parse_query("window=5m&limit=3&window=1h") == Pairs{{"window", "5m"}, {"limit", "3"}, {"window", "1h"}});
}

TEST_CASE("an empty query has no pairs", "[api][query]") {
  CHECK(parse_query("").empty());
  CHECK(parse_query("&").empty());
  CHECK(parse_query("&&&").empty());
}

TEST_CASE("empty parts between ampersands are skipped", "[api][query]") {
  CHECK(parse_query("&a=1&&b=2&") == Pairs{{"a", "1"}, {"b", "2"}});
}

TEST_CASE("a key without '=' has an empty value and only the first '=' splits", "[api][query]") {
  CHECK(parse_query("flag&a=") == Pairs{{"flag", ""}, {"a", ""}});
  CHECK(parse_query("a=1=2") == Pairs{{"a", "1=2"}});
  CHECK(parse_query("=v") == Pairs{{"", "v"}});
}

TEST_CASE("keys and values are both decoded", "[api][query]") {
  CHECK(parse_query("event%5Ftype=add%5Fto%5Fcart") == Pairs{{"event_type", "add_to_cart"}});
  CHECK(parse_query("from=2017-11-26T01%3A00%3A00%2B08%3A00") == Pairs{{"from", "2017-11-26T01:00:00+08:00"}});
  CHECK(parse_query("q=a%26b%3Dc") == Pairs{{"q", "a&b=c"}});
}

TEST_CASE("url_decode turns plus into space and percent escapes into bytes", "[api][query]") {
  CHECK(url_decode("a+b") == "a b");
  CHECK(url_decode("%2B") == "+");
  CHECK(url_decode("%41%42c") == "ABc");
  CHECK(url_decode("%e4%B8%ad") == "\xe4\xb8\xad");
  CHECK(url_decode("100%25") == "100%");
  CHECK(url_decode("a%20") == "a ");
  CHECK(url_decode("") == "");
}

TEST_CASE("url_decode keeps malformed escapes literally", "[api][query]") {
  CHECK(url_decode("%") == "%");
  CHECK(url_decode("%4") == "%4");
  CHECK(url_decode("a%2") == "a%2");
  CHECK(url_decode("%zz") == "%zz");
  CHECK(url_decode("%4g1") == "%4g1");
  CHECK(url_decode("%%41") == "%A");
}
