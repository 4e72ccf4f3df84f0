#include "shoppulse/core/time_format.hpp"

#include <charconv>
#include <cstdio>

namespace shoppulse {
namespace {

// Days since 1970-01-01 for a proleptic Gregorian date, by splitting the
// calendar into 400-year eras with March as the first month of the year.
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
  std::int64_t y;
  unsigned m, d;
};
constexpr Civil civil_from_days(std::int64_t z) noexcept {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2), m, d};
}

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) noexcept {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

bool leap(std::int64_t y) noexcept { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

}  // namespace

std::optional<TimestampMs> parse_iso8601(std::string_view s) noexcept {
  int y, mo, d, h = 0, mi = 0, se = 0;
  if (!digits(s, 0, 4, y) || s.size() < 10 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d))
    return std::nullopt;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || d < 1) return std::nullopt;
  if (d > kDays[mo - 1] + (mo == 2 && leap(y) ? 1 : 0)) return std::nullopt;
  std::size_t pos = 10;
  std::int64_t ms = 0;
  std::int64_t offset_min = 0;
  if (pos < s.size()) {
    if (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ') return std::nullopt;
    ++pos;
    if (!digits(s, pos, 2, h) || pos + 2 >= s.size() || s[pos + 2] != ':' || !digits(s, pos + 3, 2, mi))
      return std::nullopt;
    pos += 5;
    if (pos < s.size() && s[pos] == ':') {
      if (!digits(s, pos + 1, 2, se)) return std::nullopt;
      pos += 3;
      if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
        ++pos;
        std::size_t n = 0;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
          if (n < 3) ms = ms * 10 + (s[pos] - '0');
          ++n;
          ++pos;
        }
        if (n == 0) return std::nullopt;
        for (std::size_t i = n; i < 3; ++i) ms *= 10;
      }
    }
    if (h > 23 || mi > 59 || se > 60) return std::nullopt;
    if (pos < s.size()) {
      if ((s[pos] == 'Z' || s[pos] == 'z') && pos + 1 == s.size()) {
        pos += 1;
      } else if (s[pos] == '+' || s[pos] == '-') {
        int oh, om = 0;
        const bool neg = s[pos] == '-';
        if (!digits(s, pos + 1, 2, oh)) return std::nullopt;
        std::size_t p = pos + 3;
        if (p < s.size() && s[p] == ':') ++p;
        if (p < s.size()) {
          if (!digits(s, p, 2, om)) return std::nullopt;
          p += 2;
        }
        if (p != s.size() || oh > 23 || om > 59) return std::nullopt;
        offset_min = (neg ? -1 : 1) * (oh * 60 + om);
        pos = p;
      } else {
        return std::nullopt;
      }
    }
  }
  if (pos != s.size()) return std::nullopt;
  const std::int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  const std::int64_t secs = days * 86400 + h * 3600 + mi * 60 + se - offset_min * 60;
  return secs * 1000 + ms;
}

std::string format_iso8601(TimestampMs t) {
  std::int64_t days = t >= 0 ? t / 86400000 : (t - 86399999) / 86400000;
  std::int64_t rem = t - days * 86400000;
  const Civil c = civil_from_days(days);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ", static_cast<long long>(c.y), c.m,
                c.d, static_cast<long long>(rem / 3600000), static_cast<long long>(rem / 60000 % 60),
                static_cast<long long>(rem / 1000 % 60), static_cast<long long>(rem % 1000));
  return buf;
}

std::optional<std::int64_t> parse_duration_ms(std::string_view s) noexcept {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p == s.data() || v < 0) return std::nullopt;
  const std::string_view unit(p, static_cast<std::size_t>(s.data() + s.size() - p));
  std::int64_t mult;
  if (unit.empty() || unit == "ms") mult = 1;
  else if (unit == "s") mult = 1000;
  else if (unit == "m") mult = 60000;
  else if (unit == "h") mult = 3600000;
  else if (unit == "d") mult = 86400000;
  else return std::nullopt;
  if (v > INT64_MAX / mult) return std::nullopt;
  return v * mult;
}

std::optional<std::int64_t> parse_money(std::string_view s, int digits_allowed) noexcept {
  if (s.empty() || s.size() > 30) return std::nullopt;
  std::size_t i = 0;
  std::int64_t whole = 0;
  std::size_t nwhole = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    if (whole > (INT64_MAX / 1000 - 9) / 10) return std::nullopt;
    whole = whole * 10 + (s[i] - '0');
    ++i;
    ++nwhole;
  }
  if (nwhole == 0) return std::nullopt;
  std::int64_t frac = 0;
  int nfrac = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      // Trailing zeros beyond the allowed digits are harmless ("1.500").
      if (nfrac >= digits_allowed) {
        if (s[i] != '0') return std::nullopt;
      } else {
        frac = frac * 10 + (s[i] - '0');
        ++nfrac;
      }
      ++i;
    }
    if (nfrac == 0 && s[i - 1] == '.') return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  std::int64_t scale = 1;
  for (int k = 0; k < digits_allowed; ++k) scale *= 10;
  for (int k = nfrac; k < digits_allowed; ++k) frac *= 10;
  return whole * scale + frac;
}

std::string format_money(std::int64_t minor, int digits) {
  std::int64_t scale = 1;
  for (int k = 0; k < digits; ++k) scale *= 10;
  const bool neg = minor < 0;
  const std::uint64_t a = neg ? 0 - static_cast<std::uint64_t>(minor) : static_cast<std::uint64_t>(minor);
  std::string out = neg ? "-" : "";
  out += std::to_string(a / static_cast<std::uint64_t>(scale));
  if (digits > 0) {
    std::string frac = std::to_string(a % static_cast<std::uint64_t>(scale));
    out += '.';
    out.append(static_cast<std::size_t>(digits) - frac.size(), '0');
    out += frac;
  }
  return out;
}

}  // namespace shoppulse
