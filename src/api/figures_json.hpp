#pragma once
// JSON of the figures live windows and ranges share, in the same names
// everywhere (GET /api/analytics/real-time, /range). Internal to the api module.
#include <string_view>
#include <vector>

#include "json_writer.hpp"
#include "shoppulse/core/dictionary.hpp"
#include "shoppulse/windows/window_snapshot.hpp"

namespace shoppulse::api {

// Counts per type, revenue, average order value, conversion, viewers and
// purchasers of `k`.
void write_kpis(JsonWriter& w, const Kpis& k);

// `name`: [{id_key: <name of the id>, count_key: <count>}, ...].
void write_ranked(JsonWriter& w, std::string_view name, std::string_view id_key, std::string_view count_key,
                  const std::vector<RankedId>& items, const Dictionary& dict, IdKind kind);

}  // namespace shoppulse::api
