#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

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

TEST_CASE("JSON escaping keeps valid UTF-8 and replaces every invalid byte with U+FFFD", "[json_text]") {
  const auto escaped = [](std::string_view s) {
    std::string out;
    append_json_escaped(out, s);
    return out;
  };
  // Two-, three- and four-byte sequences pass through unchanged.
  CHECK(escaped("é上海😀") == "é上海😀");
  // A stray continuation byte, a lone lead byte, a truncated sequence.
  CHECK(escaped("item_\xff" "f") == "item_\\ufffdf");
  CHECK(escaped("a\x80z") == "a\\ufffdz");
  CHECK(escaped("\xe4\xb8") == "\\ufffd\\ufffd");
  // Overlong forms, a UTF-16 surrogate and a code point beyond U+10FFFF.
  CHECK(escaped("\xc0\xaf") == "\\ufffd\\ufffd");
  CHECK(escaped("\xe0\x80\xaf") == "\\ufffd\\ufffd\\ufffd");
  CHECK(escaped("\xed\xa0\x80") == "\\ufffd\\ufffd\\ufffd");
  CHECK(escaped("\xf4\x90\x80\x80") == "\\ufffd\\ufffd\\ufffd\\ufffd");
  // The boundaries that are valid.
  CHECK(escaped("\xed\x9f\xbf") == "\xed\x9f\xbf");          // U+D7FF
  CHECK(escaped("\xf4\x8f\xbf\xbf") == "\xf4\x8f\xbf\xbf");  // U+10FFFF
}

TEST_CASE("Integer lists are JSON arrays", "[json_text]") {
  std::string out = "x";
  append_json_int_list(out, std::vector<std::int32_t>{});
  CHECK(out == "x[]");
  out.clear();
  append_json_int_list(out, std::vector<std::int32_t>{3, 0, -1, 2147483647});
  CHECK(out == "[3,0,-1,2147483647]");
}

TEST_CASE("A share is clamped to 0..1 and written with three decimals", "[json_text]") {
  const std::vector<std::pair<double, std::string>> cases{
      {0.0, "0.000"}, {0.125, "0.125"}, {0.3337, "0.334"}, {1.0, "1.000"},
      {1.5, "1.000"}, {-0.2, "0.000"}, {std::nan(""), "0.000"}};
  for (const auto& [value, text] : cases) {
    std::string out = "x";
    append_json_share(out, value);
    CHECK(out == "x" + text);
  }
}
