#pragma once
// Text <-> value conversions shared by the key registry: strict parsers that
// report the problem as a phrase (the caller prefixes the key), and renderers
// whose output the parsers read back unchanged.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shoppulse::config::text {

// A parse outcome: the value, or a human phrase such as `"abc" is not a number`.
template <class T>
struct Parsed {
  std::optional<T> value;
  std::string problem;
};

std::string_view trim(std::string_view s) noexcept;
std::string lower(std::string_view s);
// `"value"` for messages: quoted and cut to a readable length.
std::string show(std::string_view value);

// A value that is one double-quoted token loses its quotes, with the escapes
// backslash-quote and backslash-backslash resolved; any other value is
// returned trimmed. Fails on an unterminated quote.
Parsed<std::string> unquote(std::string_view value);
// Quotes s when it would not read back verbatim (empty, edge spaces, '#', ',', '"', ...).
std::string quote_if_needed(std::string_view s, bool in_list);

Parsed<std::int64_t> parse_int(std::string_view s, std::int64_t min, std::int64_t max);
Parsed<std::uint64_t> parse_uint(std::string_view s, std::uint64_t min, std::uint64_t max);
Parsed<double> parse_double(std::string_view s, double min, double max);
Parsed<bool> parse_bool(std::string_view s);
Parsed<std::vector<std::string>> parse_list(std::string_view s);
Parsed<std::vector<std::pair<std::string, double>>> parse_weights(std::string_view s);
Parsed<std::int64_t> parse_duration_ms(std::string_view s, std::int64_t min);

std::string render_double(double v);
std::string render_duration_ms(std::int64_t ms);
std::string render_list(const std::vector<std::string>& items);
std::string render_weights(const std::vector<std::pair<std::string, double>>& items);

}  // namespace shoppulse::config::text
