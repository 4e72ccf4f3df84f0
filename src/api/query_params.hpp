#pragma once
// Query parameters every API route reads the same way: one time syntax, one
// duration vocabulary, one limit rule. Internal to the api module.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shoppulse/api/query_limit.hpp"
#include "shoppulse/core/event.hpp"
#include "shoppulse/core/result.hpp"
#include "shoppulse/windows/filtered.hpp"

namespace shoppulse {
class Dictionary;
}

namespace shoppulse::api {

using Params = std::vector<std::pair<std::string, std::string>>;

// The value of the first `key` in params, if any.
std::optional<std::string> param(const Params& params, std::string_view key);

// The items of a comma-separated list (`exclude`, `of`, `ids`), empty ones
// skipped; views into `text`.
std::vector<std::string_view> comma_list(std::string_view text);

// The id a filter on a name nobody used resolves to: never interned (ids
// are dense from 1), so the filter matches nothing (an empty answer, not an
// error).
inline constexpr Id kUnmatchedId = 0xFFFFFFFFu;

// Drill-down filters (category, product, device, location; each at most
// once, empty = any) as an EventFilter. A name the dictionary does not know
// resolves to kUnmatchedId, so it matches nothing (all-zero figures), as a
// filter should. `given` keeps the names as asked, for the answer's echo.
struct DrillDownFilters {
  EventFilter filter;
  std::vector<std::pair<std::string, std::string>> given;
  bool any() const noexcept { return !given.empty(); }
};
Result<DrillDownFilters> parse_drill_down_filters(const Params& params, const Dictionary& dict);

// ISO-8601 or epoch milliseconds from 2000-01-01 on; an integer before that
// is refused as probable epoch seconds, with a hint. Errors name `name`.
Result<TimestampMs> parse_time_param(std::string_view name, const std::string& text);

// The one duration vocabulary of every parameter that takes a window, step
// or horizon: a positive whole number of minutes, hours or days ("5m",
// "1h", "24h", "1d", "90m"). Each parameter then allows a subset of the
// values (real-time windows the engine keeps, trend steps); equal durations
// are equal, so "24h" and "1d" mean the same everywhere.
std::optional<std::int64_t> parse_api_duration(std::string_view text);

// The steps a series (GET /api/analytics/trends, /range) can have, in
// milliseconds: 1m, 5m, 15m, 1h, 1d, smallest first.
inline constexpr std::array<std::int64_t, 5> kSeriesStepsMs{60000, 300000, 900000, 3600000, 86400000};

// A series step in the duration vocabulary ("60m" and "1h" are the same
// step), in milliseconds; nullopt unless it is one of kSeriesStepsMs.
std::optional<std::int64_t> parse_series_step(std::string_view text);


}  // namespace shoppulse::api
