#include "shoppulse/core/json_text.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace shoppulse {
namespace {

// Length of the well-formed UTF-8 sequence starting at s[i] (2 to 4), or 0
// when the bytes there are not one (a stray continuation byte, an overlong
// form, a surrogate, a code point beyond U+10FFFF, or a truncated sequence).
std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char lead = byte(i);
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) len = 2;
  else if (lead == 0xE0) len = 3, lo = 0xA0;
  else if (lead == 0xED) len = 3, hi = 0x9F;
  else if (lead >= 0xE1 && lead <= 0xEF) len = 3;
  else if (lead == 0xF0) len = 4, lo = 0x90;
  else if (lead == 0xF4) len = 4, hi = 0x8F;
  else if (lead >= 0xF1 && lead <= 0xF3) len = 4;
  else return 0;
  if (i + len > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < len; ++k)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  return len;
}

}  // namespace

void append_json_escaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20) {
          out += "\\u00";
          out += kHex[u >> 4];
          out += kHex[u & 0xF];
        } else if (u < 0x80) {
          out += c;
        } else if (const std::size_t len = utf8_sequence(s, i)) {
          out.append(s.data() + i, len);
          i += len - 1;
        } else {
          // JSON text must be UTF-8: a byte that is not part of a valid
          // sequence (echoed input, say) becomes U+FFFD.
          out += "\\ufffd";
        }
      }
    }
  }
}

void append_json_int_list(std::string& out, std::span<const std::int32_t> values) {
  out += '[';
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(values[i]);
  }
  out += ']';
}

void append_json_share(std::string& out, double share) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", std::isnan(share) ? 0.0 : std::clamp(share, 0.0, 1.0));
  out += text;
}

}  // namespace shoppulse
