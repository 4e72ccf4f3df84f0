#pragma once
// Trend forecasting on the per-minute series: Holt's linear exponential
// smoothing (level + trend), with the smoothing constants fitted by least
// squares over a grid, prediction intervals from the one-step residuals, and
// anomaly flags for observed points outside their one-step interval.
// Pure functions; any thread.
#include <cstddef>
#include <span>
#include <vector>

namespace shoppulse {

struct ForecastOptions {
  double z = 2.576;                // interval half-width in residual standard deviations (99 %)
  std::size_t min_history = 6;     // fewer observed points: no forecast
  bool non_negative = true;        // counts and money never go below 0
};

struct Interval {
  double value = 0;
  double lower = 0;
  double upper = 0;
};

struct Forecast {
  bool available = false;        // enough history to fit
  double alpha = 0, beta = 0;    // the fitted smoothing constants
  double residual_sd = 0;        // of the one-step-ahead errors
  // One-step-ahead prediction for each observed point (the first two have
  // none and carry the observation itself) and whether it left its interval.
  std::vector<Interval> fitted;
  std::vector<bool> anomaly;
  std::vector<Interval> ahead;   // the next `horizon` points
};

Forecast holt_forecast(std::span<const double> series, std::size_t horizon, const ForecastOptions& options = {});

}  // namespace shoppulse
