#include "request_text.hpp"

#include <cctype>
#include <cstdio>
#include <cstdlib>

#include "shoppulse/core/json_text.hpp"

namespace shoppulse::http {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Calls f(token) for each comma-separated, trimmed, non-empty token.
template <class F>
void for_each_token(std::string_view list, F f) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    const auto token = trim(list.substr(0, comma));
    if (!token.empty()) f(token);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace

std::optional<std::string> decode_path(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '%') {
      if (i + 2 >= raw.size()) return std::nullopt;
      const int hi = hex_value(raw[i + 1]), lo = hex_value(raw[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (c == '\0') return std::nullopt;
    out += c;
  }
  return out;
}

std::string normalize_content_type(std::string_view header) {
  return lower(trim(header.substr(0, header.find(';'))));
}

bool accepts_gzip(std::string_view accept_encoding) {
  bool accepted = false;
  for_each_token(accept_encoding, [&](std::string_view token) {
    const auto semi = token.find(';');
    const auto name = lower(trim(token.substr(0, semi)));
    if (name != "gzip" && name != "*") return;
    double q = 1.0;
    if (semi != std::string_view::npos) {
      const auto param = lower(trim(token.substr(semi + 1)));
      if (param.rfind("q=", 0) == 0) q = std::strtod(param.c_str() + 2, nullptr);
    }
    if (q > 0.0) accepted = true;
  });
  return accepted;
}

bool etag_matches(std::string_view if_none_match, std::string_view etag) {
  bool match = false;
  for_each_token(if_none_match, [&](std::string_view token) {
    if (token == "*") match = true;
    if (token.substr(0, 2) == "W/") token.remove_prefix(2);
    if (token == etag) match = true;
  });
  return match;
}

std::string_view trim_blanks(std::string_view s) { return trim(s); }

std::string query_value(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == name && eq != std::string_view::npos) {
      std::string raw(pair.substr(eq + 1));
      for (char& c : raw)
        if (c == '+') c = ' ';
      return decode_path(raw).value_or(std::string());
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

std::string error_code_of(std::string_view body) {
  constexpr std::string_view kKey = R"("error":")";
  const auto at = body.find(kKey);
  std::string code;
  if (at != std::string_view::npos)
    for (std::size_t i = at + kKey.size(); i < body.size() && ((body[i] >= 'a' && body[i] <= 'z') || body[i] == '_'); ++i)
      code += body[i];
  return code.empty() ? std::string("internal") : code;
}

std::string json_error(std::string_view code, std::string_view detail) {
  std::string out = R"({"error":")";
  out += code;
  out += R"(","detail":")";
  append_json_escaped(out, detail);
  out += "\"}";
  return out;
}

}  // namespace shoppulse::http
