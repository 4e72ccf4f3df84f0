#include <catch2/catch.hpp>

#include <string>

#include "shoppulse/core/json_text.hpp"

using namespace shoppulse;

TEST_CASE("JSON escaping covers quotes, backslashes and every control character", "[json_text]") {
  std::string out = "x";
  append_json_escaped(out, std::string("a\"b\\c\nd\re\tf") + '\x01' + '\x1f' + "上海");
  CHECK(out == "xa\\\"b\\\\c\\nd\\re\\tf\\u0001\\u001f上海");
  std::string all;
  for (int c = 0; c < 0x20; ++c) {
    std::string one;
    append_json_escaped(one, std::string(1, static_cast<char>(c)));
    CHECK(one.size() >= 2);
    CHECK(one[0] == '\\');
    all += one;
  }
  CHECK(all.find('\n') == std::string::npos);
}
