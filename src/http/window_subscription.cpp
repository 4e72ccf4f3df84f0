#include "window_subscription.hpp"

#include "shoppulse/core/json_text.hpp"

#include <cctype>
#include <vector>

namespace shoppulse::http {

namespace {

void skip_blanks(std::string_view s, std::size_t& i) {
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
}

// A JSON string without escapes at s[i] (the names here never need any);
// nullopt otherwise. Leaves i after the closing quote.
std::optional<std::string_view> plain_string(std::string_view s, std::size_t& i) {
  skip_blanks(s, i);
  if (i >= s.size() || s[i] != '"') return std::nullopt;
  const std::size_t start = ++i;
  while (i < s.size() && s[i] != '"') {
    if (s[i] == '\\') return std::nullopt;
    ++i;
  }
  if (i >= s.size()) return std::nullopt;
  return s.substr(start, i++ - start);
}

bool expect(std::string_view s, std::size_t& i, char c) {
  skip_blanks(s, i);
  if (i >= s.size() || s[i] != c) return false;
  ++i;
  return true;
}

std::optional<unsigned> window_bit(std::string_view name) {
  // The API's duration vocabulary: a whole number of m, h or d.
  if (name.size() < 2) return std::nullopt;
  long long minutes = 0;
  for (char c : name.substr(0, name.size() - 1)) {
    if (c < '0' || c > '9' || minutes > 1000000) return std::nullopt;
    minutes = minutes * 10 + (c - '0');
  }
  switch (name.back()) {
    case 'm': break;
    case 'h': minutes *= 60; break;
    case 'd': minutes *= 1440; break;
    default: return std::nullopt;
  }
  static constexpr long long kMinutes[] = {1, 5, 15, 60, 1440};
  for (unsigned i = 0; i < kSubscribableWindows.size(); ++i)
    if (kMinutes[i] == minutes) return i;
  return std::nullopt;
}

// The end of the JSON value starting at s[i] (an object, array, string or
// scalar), honouring strings and escapes; npos when it does not end.
std::size_t value_end(std::string_view s, std::size_t i) {
  int depth = 0;
  bool in_string = false;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') {
        in_string = false;
        if (depth == 0) return i + 1;
      }
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') ++depth;
    else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
      if (depth < 0) return i;
    } else if (depth == 0 && (c == ',')) return i;
  }
  return std::string_view::npos;
}

}  // namespace

Result<unsigned> parse_subscription(std::string_view text) {
  // {"type":"subscribe","windows":[...]} with the members in any order.
  const auto shape = [] {
    return make_error(Errc::invalid_argument,
                      R"(not a subscribe message: expected {"type":"subscribe","windows":["1m","1h"]})");
  };
  const auto quoted = [](std::string_view what, std::string_view name) {
    std::string out(what);
    out += " \"";
    out += name.substr(0, 64);
    out += "\"";
    return out;
  };
  std::size_t i = 0;
  if (!expect(text, i, '{')) return shape();
  bool subscribe = false;
  std::optional<unsigned> mask;
  for (;;) {
    const auto key = plain_string(text, i);
    if (!key || !expect(text, i, ':')) return shape();
    if (*key == "type") {
      const auto type = plain_string(text, i);
      if (!type) return shape();
      if (*type != "subscribe")
        return make_error(Errc::invalid_argument, quoted("unknown message type", *type) + " (only subscribe)", "type");
      subscribe = true;
    } else if (*key == "windows") {
      if (!expect(text, i, '[')) return shape();
      unsigned m = 0;
      skip_blanks(text, i);
      if (i < text.size() && text[i] == ']') {
        ++i;
      } else {
        for (;;) {
          const auto name = plain_string(text, i);
          if (!name) return shape();
          const auto bit = window_bit(*name);
          if (!bit)
            return make_error(Errc::invalid_argument,
                              quoted("unknown window", *name) + " (windows: 1m, 5m, 15m, 1h, 24h)", "windows");
          m |= 1u << *bit;
          skip_blanks(text, i);
          if (i < text.size() && text[i] == ',') {
            ++i;
            continue;
          }
          if (!expect(text, i, ']')) return shape();
          break;
        }
      }
      mask = m == 0 ? kAllWindows : m;
    } else {
      return make_error(Errc::invalid_argument, quoted("unknown member", *key) + " (type and windows only)",
                        std::string(key->substr(0, 64)));
    }
    skip_blanks(text, i);
    if (i < text.size() && text[i] == ',') {
      ++i;
      continue;
    }
    if (!expect(text, i, '}')) return shape();
    break;
  }
  skip_blanks(text, i);
  if (i != text.size()) return shape();
  if (!subscribe) return make_error(Errc::invalid_argument, R"(missing "type":"subscribe")", "type");
  if (!mask) return make_error(Errc::invalid_argument, R"(missing "windows": a list such as ["1m","1h"])", "windows");
  return *mask;
}

std::string refusal_message(const Error& error) {
  std::string out = R"({"type":"error","error":"bad_message","detail":")";
  append_json_escaped(out, error.detail);
  out += '"';
  if (!error.field.empty()) {
    out += R"(,"field":")";
    append_json_escaped(out, error.field);
    out += '"';
  }
  out += '}';
  return out;
}

std::string select_windows(std::string_view message, unsigned mask) {
  constexpr std::string_view kKey = "\"windows\":{";
  if (mask == kAllWindows) return std::string(message);
  // The last "windows" key opens the last member, after every nested window.
  const std::size_t at = message.rfind(kKey);
  if (at == std::string_view::npos) return std::string(message);
  std::string out(message.substr(0, at + kKey.size()));
  std::size_t i = at + kKey.size();
  bool first = true;
  while (i < message.size() && message[i] != '}') {
    std::size_t k = i;
    const auto name = plain_string(message, k);
    if (!name || !expect(message, k, ':')) return std::string(message);
    const std::size_t end = value_end(message, k);
    if (end == std::string_view::npos) return std::string(message);
    const auto bit = window_bit(*name);
    if (bit && (mask & (1u << *bit))) {
      if (!first) out += ',';
      out.append(message.substr(i, end - i));
      first = false;
    }
    i = end;
    if (i < message.size() && message[i] == ',') ++i;
  }
  out.append(message.substr(i));
  return out;
}

}  // namespace shoppulse::http
