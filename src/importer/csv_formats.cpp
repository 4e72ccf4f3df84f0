#include "csv_formats.hpp"

#include <array>
#include <charconv>

#include "shoppulse/core/time_format.hpp"

namespace shoppulse::importer_detail {
namespace {

// Splits on ',' into at most N fields; returns the number of fields found
// (N + 1 means "more than N").
template <std::size_t N>
std::size_t split(std::string_view line, std::array<std::string_view, N>& fields) {
  std::size_t n = 0, start = 0;
  for (;;) {
    const std::size_t comma = line.find(',', start);
    const std::string_view f = line.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (n == N) return N + 1;
    fields[n++] = f;
    if (comma == std::string_view::npos) return n;
    start = comma + 1;
  }
}

bool all_digits(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

const char* field_count_error(std::size_t got, std::size_t want, std::string& detail) {
  detail = "expected " + std::to_string(want) + " fields, found " + (got > want ? "more" : std::to_string(got));
  return detail.c_str();
}

}  // namespace

const char* parse_taobao_line(std::string_view line, RawEvent& out, std::string& detail) {
  std::array<std::string_view, 5> f;
  const std::size_t n = split(line, f);
  if (n != 5) return field_count_error(n, 5, detail);
  if (f[0].empty()) return "empty user_id";
  if (f[1].empty()) return "empty item_id";
  std::int64_t seconds = 0;
  const auto [ptr, ec] = std::from_chars(f[4].data(), f[4].data() + f[4].size(), seconds);
  if (ec != std::errc{} || ptr != f[4].data() + f[4].size() || f[4].empty()) return "timestamp is not an integer";
  if (seconds < 946684800 || seconds > 32503680000) return "timestamp out of range (seconds since 2000..3000 expected)";
  const std::string_view b = f[3];
  if (b == "pv") out.type = EventType::view;
  else if (b == "cart") out.type = EventType::add_to_cart;
  else if (b == "fav") out.type = EventType::favorite;
  else if (b == "buy") out.type = EventType::purchase;
  else {
    detail = "unknown behavior '" + std::string(b.substr(0, 32)) + "'";
    return detail.c_str();
  }
  out.user_id.assign(f[0]);
  out.product_id.assign(f[1]);
  out.category_id.assign(f[2]);
  out.session_id.clear();
  out.device.clear();
  out.location.clear();
  out.time_ms = seconds * 1000;
  out.price_minor = 0;
  out.quantity = 1;
  out.rating = 0;
  return nullptr;
}

bool is_rees46_header(std::string_view line) noexcept { return line.starts_with("event_time,"); }

const char* parse_rees46_line(std::string_view line, RawEvent& out, std::string& detail, Rees46Flags& flags) {
  std::array<std::string_view, 9> f;
  const std::size_t n = split(line, f);
  if (n != 9) return field_count_error(n, 9, detail);
  std::string_view time = trim(f[0]);
  if (time.ends_with(" UTC")) time.remove_suffix(4);
  if (time.empty()) return "empty event_time";
  const auto t = parse_iso8601(time);
  if (!t) return "event_time is not 'YYYY-MM-DD HH:MM:SS UTC'";
  const std::string_view type = f[1];
  if (type == "view") out.type = EventType::view;
  else if (type == "cart") out.type = EventType::add_to_cart;
  else if (type == "remove_from_cart") out.type = EventType::remove_from_cart;
  else if (type == "purchase") out.type = EventType::purchase;
  else if (type.empty()) return "empty event_type";
  else {
    detail = "unknown event_type '" + std::string(type.substr(0, 32)) + "'";
    return detail.c_str();
  }
  if (f[7].empty()) return "empty user_id";
  if (f[2].empty() && out.type != EventType::view) {
    // A view without a product still counts as activity; a cart or purchase
    // without one is meaningless.
    return "empty product_id";
  }
  if (!f[3].empty() && !all_digits(f[3])) return "category_id is not an integer";
  std::int64_t price = 0;
  const std::string_view p = trim(f[6]);
  if (!p.empty()) {
    const auto parsed = parse_money(p, 2);
    if (!parsed) {
      // REES46 prices carry at most two decimals; anything else is damage.
      detail = "price '" + std::string(p.substr(0, 32)) + "' is not a non-negative amount with at most 2 decimals";
      return detail.c_str();
    }
    price = *parsed;
  }
  flags.zero_price = price == 0 && out.type == EventType::purchase;
  out.user_id.assign(f[7]);
  out.product_id.assign(f[2]);
  out.category_id.assign(f[3]);
  out.session_id.assign(f[8]);
  out.device.clear();
  out.location.clear();
  out.time_ms = *t;
  out.price_minor = price;
  out.quantity = 1;
  out.rating = 0;
  return nullptr;
}

std::uint64_t line_hash(std::string_view line) noexcept {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : line) {
    h ^= c;
    h *= 1099511628211ull;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

void derived_event_id(char prefix, std::uint64_t hash, std::string& out) {
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuv";
  char buf[14];
  buf[0] = prefix;
  for (int i = 13; i >= 1; --i) {
    buf[i] = kDigits[hash & 31];
    hash >>= 5;
  }
  out.assign(buf, sizeof buf);
}

}  // namespace shoppulse::importer_detail
