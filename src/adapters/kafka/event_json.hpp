#pragma once
// Pieces of the JSON messages the Kafka sink and the cluster's write path
// produce: the fields of POST /api/events, written the same way by both.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "shoppulse/core/json_text.hpp"

namespace shoppulse::kafka {

// ,"name":"value" with value escaped.
inline void json_field(std::string& out, std::string_view name, std::string_view value) {
  out += ",\"";
  out += name;
  out += "\":\"";
  append_json_escaped(out, value);
  out += '"';
}

// The price (from minor units, two decimals), quantity and rating fields
// that differ from their defaults, then the closing brace.
inline void close_event_json(std::string& out, std::int64_t price_minor, std::uint32_t quantity,
                             std::uint8_t rating) {
  if (price_minor) {
    char price[40];
    std::snprintf(price, sizeof price, ",\"price\":%s%lld.%02lld", price_minor < 0 ? "-" : "",
                  static_cast<long long>(std::llabs(price_minor) / 100),
                  static_cast<long long>(std::llabs(price_minor) % 100));
    out += price;
  }
  if (quantity != 1) out += ",\"quantity\":" + std::to_string(quantity);
  if (rating) out += ",\"rating\":" + std::to_string(rating);
  out += '}';
}

}  // namespace shoppulse::kafka
