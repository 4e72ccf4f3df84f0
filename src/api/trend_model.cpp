#include "shoppulse/api/trend_model.hpp"

#include <cmath>

#include "json_writer.hpp"
#include "shoppulse/core/time_format.hpp"

namespace shoppulse::api {

TrendModel fit_trend_model(const TrendSeries& complete, std::size_t horizon) {
  TrendModel model;
  model.horizon = horizon;
  for (std::size_t k = 0; k < kTrendSeries.size(); ++k) model.fits[k] = holt_forecast(complete[k], horizon);
  return model;
}

std::string trend_anomalies_json(const TrendModel& model, std::size_t i) {
  JsonWriter w;
  w.begin_array();
  for (std::size_t k = 0; k < kTrendSeries.size(); ++k)
    if (model.fits[k].available && i < model.fits[k].anomaly.size() && model.fits[k].anomaly[i])
      w.value(kTrendSeries[k]);
  w.end_array();
  return w.take();
}

std::string trend_forecast_json(const TrendModel& model, TimestampMs first_ms, std::int64_t step_ms) {
  JsonWriter w;
  w.begin_object();
  w.field("method", "holt").field("confidence", 0.99);
  // Every series has the same number of points, so all or none have a model.
  const bool available = model.fits[0].available;
  w.field("available", available);
  if (!available) w.field("detail", "needs at least 6 complete points of history");
  w.key("points").begin_array();
  if (available) {
    auto round2 = [](double x) { return std::round(x * 100.0) / 100.0; };
    for (std::size_t h = 0; h < model.horizon; ++h) {
      w.begin_object().field("start", format_iso8601(first_ms + static_cast<TimestampMs>(h) * step_ms));
      for (std::size_t k = 0; k < kTrendSeries.size(); ++k) {
        const Interval& v = model.fits[k].ahead[h];
        w.key(kTrendSeries[k]).begin_object().field("value", round2(v.value)).field("lower", round2(v.lower));
        w.field("upper", round2(v.upper)).end_object();
      }
      w.end_object();
    }
  }
  w.end_array().end_object();
  return w.take();
}

}  // namespace shoppulse::api
