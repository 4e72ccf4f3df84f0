#pragma once
// JSON of the figures live windows and ranges share, in the same names
// everywhere (GET /api/analytics/real-time, /range). Internal to the api module.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "json_writer.hpp"
#include "shoppulse/core/dictionary.hpp"
#include "shoppulse/windows/window_snapshot.hpp"

namespace shoppulse::api {

// Counts per type, revenue, average order value, conversion, viewers and
// purchasers of `k`.
void write_kpis(JsonWriter& w, const Kpis& k);

// A series point's counts per event type and revenue, in write_kpis' names
// (GET /api/analytics/trends points, /range series).
void write_point_counts(JsonWriter& w, const std::array<std::uint64_t, kEventTypeCount>& events,
                        std::int64_t revenue_minor);

// `name`: [{id_key: <name of the id>, count_key: <count>}, ...].
void write_ranked(JsonWriter& w, std::string_view name, std::string_view id_key, std::string_view count_key,
                  const std::vector<RankedId>& items, const Dictionary& dict, IdKind kind);

// "filters": {name: value, ...} of a drill-down, as asked.
void write_filters(JsonWriter& w, const std::vector<std::pair<std::string, std::string>>& given);

}  // namespace shoppulse::api
