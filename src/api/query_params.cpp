#include "query_params.hpp"

#include <algorithm>

#include "shoppulse/core/dictionary.hpp"
#include "shoppulse/core/time_format.hpp"

namespace shoppulse::api {
namespace {
constexpr std::int64_t kMinuteMs = 60000;
// 2000-01-01T00:00:00Z: an integer time before it is almost surely epoch
// seconds, not milliseconds; refused as ingest refuses such a timestamp.
constexpr TimestampMs kEarliestMs = 946684800000;

}  // namespace

std::optional<std::string> param(const Params& params, std::string_view key) {
  for (const auto& [k, v] : params)
    if (k == key) return v;
  return std::nullopt;
}

std::vector<std::string_view> comma_list(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    if (comma != 0) out.push_back(text.substr(0, comma));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

// Accepts ISO-8601 or epoch milliseconds (from 2000-01-01 on).
Result<TimestampMs> parse_time_param(std::string_view name, const std::string& text) {
  if (!text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
      text.size() <= 15) {
    const auto ms = static_cast<TimestampMs>(std::stoll(text));
    if (ms < kEarliestMs)
      return make_error(Errc::invalid_argument,
                        "is before 2000-01-01 as epoch milliseconds: epoch seconds? multiply by 1000 (\"" + text +
                            "000\") or give ISO-8601",
                        std::string(name));
    return ms;
  }
  if (auto t = parse_iso8601(text)) return *t;
  return make_error(Errc::invalid_argument, "must be ISO-8601 or epoch milliseconds, got \"" + text + "\"",
                    std::string(name));
}

std::optional<std::int64_t> parse_api_duration(std::string_view text) {
  if (text.size() < 2 || text.size() > 8) return std::nullopt;
  const char unit = text.back();
  std::int64_t mult = 0;
  if (unit == 'm') mult = kMinuteMs;
  else if (unit == 'h') mult = 60 * kMinuteMs;
  else if (unit == 'd') mult = 1440 * kMinuteMs;
  else return std::nullopt;
  std::int64_t v = 0;
  for (char c : text.substr(0, text.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v <= 0) return std::nullopt;
  return v * mult;
}

std::optional<std::int64_t> parse_series_step(std::string_view text) {
  const auto ms = parse_api_duration(text);
  if (!ms || std::find(kSeriesStepsMs.begin(), kSeriesStepsMs.end(), *ms) == kSeriesStepsMs.end()) return std::nullopt;
  return ms;
}

Result<std::size_t> parse_limit(const Params& params, std::size_t def, std::size_t max) {
  auto text = param(params, "limit");
  if (!text) return def;
  std::size_t v = 0;
  if (text->empty() || text->size() > 9 ||
      !std::all_of(text->begin(), text->end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      (v = std::stoul(*text)) == 0 || v > max)
    return make_error(Errc::invalid_argument, "must be an integer from 1 to " + std::to_string(max), "limit");
  return v;
}

Result<DrillDownFilters> parse_drill_down_filters(const Params& params, const Dictionary& dict) {
  struct Key {
    std::string_view name;
    IdKind kind;
    Id EventFilter::*field;
  };
  static constexpr Key kKeys[] = {{"category", IdKind::category, &EventFilter::category},
                                  {"product", IdKind::product, &EventFilter::product},
                                  {"device", IdKind::device, &EventFilter::device},
                                  {"location", IdKind::location, &EventFilter::location}};
  DrillDownFilters out;
  for (const Key& key : kKeys) {
    const auto n = std::count_if(params.begin(), params.end(), [&](const auto& kv) { return kv.first == key.name; });
    if (n > 1) return make_error(Errc::invalid_argument, "may be given at most once", std::string(key.name));
    auto text = param(params, key.name);
    if (!text || text->empty()) continue;  // absent or empty: any
    out.filter.*key.field = dict.find(key.kind, *text).value_or(kUnmatchedId);
    out.given.emplace_back(key.name, *text);
  }
  return out;
}

}  // namespace shoppulse::api
