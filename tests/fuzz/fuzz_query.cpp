// Query parameter parsing: the query string splitter and URL decoder, and
// the value parsers behind parameters (ISO-8601 times, durations, money).
// Properties: parse_query never loses a byte's worth of structure (each
// '&'-separated non-empty part gives one pair); percent-encoding any text
// and decoding it gives the text back; accepted times, durations and
// amounts render to text that parses to the same value.
#include <cstdint>

#include "fuzz_input.hpp"
#include "shoppulse/api/handler.hpp"
#include "shoppulse/core/time_format.hpp"

using namespace shoppulse;

namespace {

std::string percent_encode(std::string_view text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::FuzzInput in(data, size);
  const std::string key = in.text(16);
  const std::string value = in.text(64);
  const std::string_view query = in.rest();

  std::size_t parts = 0;
  for (std::size_t start = 0; start <= query.size();) {
    const std::size_t amp = std::min(query.find('&', start), query.size());
    if (amp > start) ++parts;
    start = amp + 1;
  }
  const auto pairs = api::parse_query(query);
  FUZZ_CHECK(pairs.size() == parts);
  for (const auto& [k, v] : pairs) FUZZ_CHECK(k.size() + v.size() <= query.size());

  FUZZ_CHECK(api::url_decode(percent_encode(value)) == value);
  const std::string built = percent_encode(key) + "=" + percent_encode(value) + "&" + std::string(query);
  const auto with_first = api::parse_query(built);
  if (!key.empty() || !value.empty()) {
    FUZZ_CHECK(!with_first.empty());
    FUZZ_CHECK(with_first.front().first == key && with_first.front().second == value);
  }

  for (std::string_view text : {std::string_view(value), query}) {
    if (auto t = parse_iso8601(text)) {
      const std::string rendered = format_iso8601(*t);
      auto back = parse_iso8601(rendered);
      FUZZ_CHECK(back && *back == *t);
    }
    if (auto d = parse_duration_ms(text)) {
      FUZZ_CHECK(*d >= 0);
      auto back = parse_duration_ms(std::to_string(*d) + "ms");
      FUZZ_CHECK(back && *back == *d);
    }
    if (auto m = parse_money(text)) {
      FUZZ_CHECK(*m >= 0);
      auto back = parse_money(format_money(*m));
      FUZZ_CHECK(back && *back == *m);
    }
  }
  return 0;
}
