#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "shoppulse/recommend/forecast.hpp"

using namespace shoppulse;

TEST_CASE("a straight line is continued with a narrow interval", "[recommend][forecast]") {
  std::vector<double> y;
  for (int i = 0; i < 60; ++i) y.push_back(100.0 + 2.0 * i);
  const Forecast f = holt_forecast(y, 5);
  REQUIRE(f.available);
  REQUIRE(f.ahead.size() == 5);
  for (std::size_t h = 0; h < 5; ++h) {
    CHECK(f.ahead[h].value == Approx(100.0 + 2.0 * (60 + h)).margin(1e-6));
    CHECK(f.ahead[h].lower <= f.ahead[h].value);
    CHECK(f.ahead[h].upper >= f.ahead[h].value);
  }
  for (bool a : f.anomaly) CHECK_FALSE(a);
}

TEST_CASE("a spike in a noisy series is flagged, ordinary noise is not", "[recommend][forecast]") {
  std::vector<double> y;
  // Deterministic noise of +-3 around 500.
  for (int i = 0; i < 120; ++i) y.push_back(500.0 + ((i * 7919) % 7) - 3.0);
  y[90] = 900.0;
  const Forecast f = holt_forecast(y, 10);
  REQUIRE(f.available);
  CHECK(f.anomaly[90]);
  int flagged = 0;
  for (std::size_t i = 0; i < y.size(); ++i)
    if (f.anomaly[i] && (i < 90 || i > 92)) ++flagged;
  CHECK(flagged <= 2);
  // Further ahead is less certain.
  CHECK(f.ahead.back().upper - f.ahead.back().lower >= f.ahead.front().upper - f.ahead.front().lower);
}

TEST_CASE("too little history gives no forecast, and counts never go negative", "[recommend][forecast]") {
  CHECK_FALSE(holt_forecast(std::vector<double>{1, 2, 3}, 4).available);
  std::vector<double> falling;
  for (int i = 0; i < 30; ++i) falling.push_back(300.0 - 10.0 * i);
  const Forecast f = holt_forecast(falling, 30);
  REQUIRE(f.available);
  for (const Interval& v : f.ahead) {
    CHECK(v.value >= 0);
    CHECK(v.lower >= 0);
  }
}
