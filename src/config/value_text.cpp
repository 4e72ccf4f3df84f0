#include "value_text.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <system_error>

namespace shoppulse::config::text {
namespace {

constexpr std::size_t kShowLimit = 80;  // longer bad values are cut in messages

bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

template <class T>
Parsed<T> fail(std::string problem) {
  return Parsed<T>{std::nullopt, std::move(problem)};
}

template <class T>
Parsed<T> good(T value) {
  return Parsed<T>{std::move(value), {}};
}

std::string range_text(std::string_view value, const std::string& lo, const std::string& hi) {
  return show(value) + " is out of range, allowed [" + lo + ", " + hi + "]";
}

// Calls at(i) for every separator outside double quotes; false when a quote
// is left open.
template <class At>
bool scan_outside_quotes(std::string_view s, char separator, const At& at) {
  bool in_quotes = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_quotes) {
      if (c == '\\' && i + 1 < s.size()) {
        ++i;
      } else if (c == '"') {
        in_quotes = false;
      }
    } else if (c == '"') {
      in_quotes = true;
    } else if (c == separator) {
      at(i);
    }
  }
  return !in_quotes;
}

// Splits s at separators that are outside double quotes. Pieces are untrimmed.
Parsed<std::vector<std::string_view>> split_outside_quotes(std::string_view s, char separator) {
  std::vector<std::string_view> pieces;
  std::size_t start = 0;
  const bool closed = scan_outside_quotes(s, separator, [&](std::size_t i) {
    pieces.push_back(s.substr(start, i - start));
    start = i + 1;
  });
  if (!closed) return fail<std::vector<std::string_view>>(show(s) + " has an unterminated quote");
  pieces.push_back(s.substr(start));
  return good(std::move(pieces));
}

// Position of the last separator outside quotes, or npos.
std::size_t rfind_outside_quotes(std::string_view s, char separator) {
  std::size_t found = std::string_view::npos;
  scan_outside_quotes(s, separator, [&](std::size_t i) { found = i; });
  return found;
}

}  // namespace

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string show(std::string_view value) {
  std::string out = "\"";
  if (value.size() > kShowLimit) {
    out.append(value.substr(0, kShowLimit));
    out += "...";
  } else {
    out.append(value);
  }
  out += '"';
  return out;
}

Parsed<std::string> unquote(std::string_view value) {
  std::string_view s = trim(value);
  if (s.empty() || s.front() != '"') return good(std::string(s));
  std::string out;
  std::size_t i = 1;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\' && i + 1 < s.size() && (s[i + 1] == '"' || s[i + 1] == '\\')) {
      out += s[++i];
    } else if (c == '"') {
      break;
    } else {
      out += c;
    }
  }
  if (i >= s.size()) return fail<std::string>(show(s) + " has an unterminated quote");
  if (i + 1 != s.size()) return fail<std::string>(show(s) + " has text after the closing quote");
  return good(std::move(out));
}

std::string quote_if_needed(std::string_view s, bool in_list) {
  bool needs = s.empty() || is_space(s.front()) || is_space(s.back()) || s.front() == '"' ||
               s.find('#') != std::string_view::npos || s.find('\n') != std::string_view::npos;
  if (in_list) {
    needs = needs || s.find(',') != std::string_view::npos || s.find(':') != std::string_view::npos ||
            s.front() == '[' || s.back() == ']' || s.find('"') != std::string_view::npos;
  }
  if (!needs) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

Parsed<std::int64_t> parse_int(std::string_view raw, std::int64_t min, std::int64_t max) {
  std::string_view s = trim(raw);
  std::string_view digits = s;
  if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (digits.empty() || ec == std::errc::invalid_argument || ptr != digits.data() + digits.size()) {
    return fail<std::int64_t>(show(raw) + " is not an integer");
  }
  if (ec == std::errc::result_out_of_range || v < min || v > max) {
    return fail<std::int64_t>(range_text(raw, std::to_string(min), std::to_string(max)));
  }
  return good(v);
}

Parsed<std::uint64_t> parse_uint(std::string_view raw, std::uint64_t min, std::uint64_t max) {
  std::string_view s = trim(raw);
  if (!s.empty() && s.front() == '-') {
    auto as_signed = parse_int(s, INT64_MIN, INT64_MAX);
    if (!as_signed.value) return fail<std::uint64_t>(show(raw) + " is not an integer");
    if (*as_signed.value != 0) {
      return fail<std::uint64_t>(range_text(raw, std::to_string(min), std::to_string(max)));
    }
    s = "0";
  }
  std::string_view digits = s;
  if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (digits.empty() || ec == std::errc::invalid_argument || ptr != digits.data() + digits.size()) {
    return fail<std::uint64_t>(show(raw) + " is not an integer");
  }
  if (ec == std::errc::result_out_of_range || v < min || v > max) {
    return fail<std::uint64_t>(range_text(raw, std::to_string(min), std::to_string(max)));
  }
  return good(v);
}

Parsed<double> parse_double(std::string_view raw, double min, double max) {
  std::string_view s = trim(raw);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::general);
  if (s.empty() || ec == std::errc::invalid_argument || ptr != s.data() + s.size()) {
    return fail<double>(show(raw) + " is not a number");
  }
  if (ec == std::errc::result_out_of_range || !std::isfinite(v)) {
    return fail<double>(show(raw) + " is not a finite number in range, allowed [" + render_double(min) + ", " +
                        render_double(max) + "]");
  }
  if (v < min || v > max) return fail<double>(range_text(raw, render_double(min), render_double(max)));
  return good(v);
}

Parsed<bool> parse_bool(std::string_view raw) {
  std::string s = lower(trim(raw));
  if (s == "true" || s == "on" || s == "yes" || s == "1") return good(true);
  if (s == "false" || s == "off" || s == "no" || s == "0") return good(false);
  return fail<bool>(show(raw) + " is not a boolean (use true/false, on/off, yes/no or 1/0)");
}

Parsed<std::vector<std::string>> parse_list(std::string_view raw) {
  std::string_view s = trim(raw);
  if (!s.empty() && s.front() == '[') {
    if (s.back() != ']') return fail<std::vector<std::string>>(show(raw) + " opens '[' without a closing ']'");
    s = trim(s.substr(1, s.size() - 2));
  }
  std::vector<std::string> items;
  if (s.empty()) return good(std::move(items));
  auto pieces = split_outside_quotes(s, ',');
  if (!pieces.value) return fail<std::vector<std::string>>(std::move(pieces.problem));
  for (std::string_view piece : *pieces.value) {
    if (trim(piece).empty()) return fail<std::vector<std::string>>(show(raw) + " has an empty item");
    auto item = unquote(piece);
    if (!item.value) return fail<std::vector<std::string>>(std::move(item.problem));
    items.push_back(std::move(*item.value));
  }
  return good(std::move(items));
}

Parsed<std::vector<std::pair<std::string, double>>> parse_weights(std::string_view raw) {
  using Weights = std::vector<std::pair<std::string, double>>;
  std::string_view s = trim(raw);
  if (!s.empty() && s.front() == '[') {
    if (s.back() != ']') return fail<Weights>(show(raw) + " opens '[' without a closing ']'");
    s = trim(s.substr(1, s.size() - 2));
  }
  Weights out;
  if (s.empty()) return good(std::move(out));
  auto pieces = split_outside_quotes(s, ',');
  if (!pieces.value) return fail<Weights>(std::move(pieces.problem));
  for (std::string_view piece : *pieces.value) {
    std::string_view item = trim(piece);
    if (item.empty()) return fail<Weights>(show(raw) + " has an empty item");
    std::size_t colon = rfind_outside_quotes(item, ':');
    if (colon == std::string_view::npos) return fail<Weights>(show(item) + " is not a name:weight pair");
    auto name = unquote(item.substr(0, colon));
    if (!name.value) return fail<Weights>(std::move(name.problem));
    if (name.value->empty()) return fail<Weights>(show(item) + " has an empty name");
    auto weight = parse_double(item.substr(colon + 1), 0.0, 1e300);
    if (!weight.value) return fail<Weights>("weight of \"" + *name.value + "\": " + weight.problem);
    for (const auto& [existing, w] : out) {
      if (existing == *name.value) return fail<Weights>("\"" + existing + "\" is listed twice");
    }
    out.emplace_back(std::move(*name.value), *weight.value);
  }
  return good(std::move(out));
}

Parsed<std::int64_t> parse_duration_ms(std::string_view raw, std::int64_t min) {
  std::string_view s = trim(raw);
  std::size_t end = 0;
  if (end < s.size() && (s[end] == '-' || s[end] == '+')) ++end;
  while (end < s.size() && s[end] >= '0' && s[end] <= '9') ++end;
  std::string_view number = s.substr(0, end);
  std::string suffix = lower(trim(s.substr(end)));
  const std::string usage = " is not a duration (use e.g. 250ms, 5s, 2m, 1h, 1d or bare milliseconds)";
  std::int64_t scale = 0;
  if (suffix.empty() || suffix == "ms") {
    scale = 1;
  } else if (suffix == "s") {
    scale = 1000;
  } else if (suffix == "m") {
    scale = 60'000;
  } else if (suffix == "h") {
    scale = 3'600'000;
  } else if (suffix == "d") {
    scale = 86'400'000;
  } else {
    return fail<std::int64_t>(show(raw) + usage);
  }
  auto count = parse_int(number, INT64_MIN, INT64_MAX);
  if (!count.value) {
    if (count.problem.find("out of range") != std::string::npos) {
      return fail<std::int64_t>(show(raw) + " is out of range, allowed [" + render_duration_ms(min) + ", " +
                                render_duration_ms(INT64_MAX) + "]");
    }
    return fail<std::int64_t>(show(raw) + usage);
  }
  std::int64_t ms = 0;
  if (__builtin_mul_overflow(*count.value, scale, &ms) || ms < min) {
    return fail<std::int64_t>(show(raw) + " is out of range, allowed [" + render_duration_ms(min) + ", " +
                              render_duration_ms(INT64_MAX) + "]");
  }
  return good(ms);
}

std::string render_double(double v) {
  char buf[64];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc{}) return std::to_string(v);
  return std::string(buf, ptr);
}

std::string render_duration_ms(std::int64_t ms) {
  if (ms == 0) return "0";
  struct Unit {
    std::int64_t scale;
    const char* suffix;
  };
  static constexpr Unit kUnits[] = {{86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1000, "s"}};
  for (const Unit& unit : kUnits) {
    if (ms % unit.scale == 0) return std::to_string(ms / unit.scale) + unit.suffix;
  }
  return std::to_string(ms) + "ms";
}

std::string render_list(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    out += quote_if_needed(items[i], true);
  }
  return out;
}

std::string render_weights(const std::vector<std::pair<std::string, double>>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    out += quote_if_needed(items[i].first, true);
    out += ':';
    out += render_double(items[i].second);
  }
  return out;
}

}  // namespace shoppulse::config::text
