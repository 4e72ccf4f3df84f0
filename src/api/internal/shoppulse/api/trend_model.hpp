#pragma once
// The model of a trend answer (GET /api/analytics/trends with forecast=):
// Holt's forecast of each series over the answer's complete points, the
// anomalies it flags and the forecast it adds, written as one node writes
// them. The handler fits it over its own points; the cluster's merge fits it
// again over the merged points, so both answers come from this one code.
// Pure functions; any thread.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shoppulse/core/event.hpp"
#include "shoppulse/recommend/forecast.hpp"

namespace shoppulse::api {

// The series the model follows, by their field names in a point, in the
// units the API reports (revenue in major units).
inline constexpr std::array<std::string_view, 4> kTrendSeries{"page_views", "purchases", "revenue", "unique_users"};

// Each series' values at the complete points, oldest first.
using TrendSeries = std::array<std::vector<double>, kTrendSeries.size()>;

struct TrendModel {
  std::size_t horizon = 0;                         // points ahead
  std::array<Forecast, kTrendSeries.size()> fits;  // in kTrendSeries' order
};

TrendModel fit_trend_model(const TrendSeries& complete, std::size_t horizon);

// The "anomalies" of complete point i, a JSON array: the names of the series
// whose value left its one-step interval.
std::string trend_anomalies_json(const TrendModel& model, std::size_t i);

// The "forecast" object as JSON: `horizon` points of `step_ms` from
// `first_ms` (the step after the last complete point) when the model has
// enough history, else none and why.
std::string trend_forecast_json(const TrendModel& model, TimestampMs first_ms, std::int64_t step_ms);

}  // namespace shoppulse::api
