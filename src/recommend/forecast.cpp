#include "shoppulse/recommend/forecast.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace shoppulse {
namespace {

struct Fit {
  double sse = std::numeric_limits<double>::infinity();
  double level = 0, trend = 0;
  std::vector<double> one_step;  // prediction made before seeing point i (i >= 2)
};

Fit run(std::span<const double> y, double alpha, double beta) {
  Fit f;
  f.one_step.assign(y.size(), 0.0);
  double level = y[1];
  double trend = y[1] - y[0];
  f.one_step[0] = y[0];
  f.one_step[1] = y[1];
  double sse = 0;
  for (std::size_t i = 2; i < y.size(); ++i) {
    const double predicted = level + trend;
    f.one_step[i] = predicted;
    const double error = y[i] - predicted;
    sse += error * error;
    const double new_level = alpha * y[i] + (1 - alpha) * (level + trend);
    trend = beta * (new_level - level) + (1 - beta) * trend;
    level = new_level;
  }
  f.sse = sse;
  f.level = level;
  f.trend = trend;
  return f;
}

}  // namespace

Forecast holt_forecast(std::span<const double> y, std::size_t horizon, const ForecastOptions& options) {
  Forecast out;
  if (y.size() < std::max<std::size_t>(options.min_history, 3)) return out;
  // A coarse grid is enough: the surface is smooth and the series short.
  Fit best;
  for (double alpha = 0.05; alpha <= 0.951; alpha += 0.05) {
    for (double beta : {0.0, 0.01, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5}) {
      Fit f = run(y, alpha, beta);
      if (f.sse < best.sse) {
        best = std::move(f);
        out.alpha = alpha;
        out.beta = beta;
      }
    }
  }
  const double n = static_cast<double>(y.size() - 2);
  out.residual_sd = std::sqrt(best.sse / std::max(1.0, n - 2));
  const double half = options.z * out.residual_sd;
  auto clamp = [&](double v) { return options.non_negative ? std::max(0.0, v) : v; };
  out.fitted.resize(y.size());
  out.anomaly.assign(y.size(), false);
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double p = best.one_step[i];
    out.fitted[i] = {clamp(p), clamp(p - half), clamp(p + half)};
    if (i >= 2 && half > 0) out.anomaly[i] = y[i] < p - half || y[i] > p + half;
  }
  // h steps ahead the error variance grows with the smoothed level and trend
  // updates that are still to come.
  double variance_factor = 1.0;
  for (std::size_t h = 1; h <= horizon; ++h) {
    const double value = best.level + static_cast<double>(h) * best.trend;
    const double width = options.z * out.residual_sd * std::sqrt(variance_factor);
    out.ahead.push_back({clamp(value), clamp(value - width), clamp(value + width)});
    const double c = out.alpha * (1 + static_cast<double>(h) * out.beta);
    variance_factor += c * c;
  }
  out.available = true;
  return out;
}

}  // namespace shoppulse
