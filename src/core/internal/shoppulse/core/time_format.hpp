#pragma once
// ISO-8601 parsing and formatting, UTC, millisecond precision.
#include <optional>
#include <string>
#include <string_view>

#include "shoppulse/core/event.hpp"

namespace shoppulse {

// Accepts "YYYY-MM-DDTHH:MM:SS[.fraction][Z|+HH:MM|-HH:MM]" (also ' ' for 'T',
// and a date alone). No zone means UTC. Fractions beyond ms are truncated.
std::optional<TimestampMs> parse_iso8601(std::string_view text) noexcept;

// "2017-11-26T01:00:00.000Z"
std::string format_iso8601(TimestampMs t);

// Parses "5m", "1h", "30s", "24h", "1d", "250ms" into milliseconds.
std::optional<std::int64_t> parse_duration_ms(std::string_view text) noexcept;

// Parses a decimal amount ("28596.5", "10", "0.99") into minor units with
// `digits` fractional digits; nullopt when malformed, negative, or more precise.
std::optional<std::int64_t> parse_money(std::string_view text, int digits = 2) noexcept;

// Renders minor units as a decimal string ("28596.50").
std::string format_money(std::int64_t minor, int digits = 2);

}  // namespace shoppulse
