#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "shoppulse/ingest/freshness.hpp"

using namespace shoppulse;
using namespace std::chrono_literals;

namespace {

using Clock = FreshnessMeter::Clock;

// The value of the first line of `text` starting with `series ` (NaN-free:
// -1 when absent).
double sample(const std::string& text, const std::string& series) {
  const std::string prefix = series + " ";
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t end = text.find('\n', at);
    const std::string line = text.substr(at, end - at);
    if (line.rfind(prefix, 0) == 0) return std::stod(line.substr(prefix.size()));
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return -1;
}

}  // namespace

TEST_CASE("a batch is timed from its submission to the first publish that includes its last event",
          "[ingest][freshness]") {
  MetricsRegistry metrics;
  FreshnessMeter meter(metrics);
  const Clock::time_point t0{std::chrono::seconds(1000)};
  meter.handed(5, t0);
  meter.handed(9, t0 + 1ms);
  meter.published(4, t0 + 4ms);  // neither batch is whole yet
  CHECK(meter.measured() == 0);
  meter.published(5, t0 + 4ms);
  CHECK(meter.measured() == 1);
  meter.published(8, t0 + 20ms);  // the second batch's last event is 9
  CHECK(meter.measured() == 1);
  meter.published(12, t0 + 30ms);
  CHECK(meter.measured() == 2);
  meter.published(12, t0 + 90ms);  // nothing is timed twice
  CHECK(meter.measured() == 2);
  const std::string text = metrics.render_prometheus();
  // 4 ms and 29 ms.
  CHECK(sample(text, "shoppulse_ingest_to_visible_seconds_bucket{le=\"0.0025\"}") == 0);
  CHECK(sample(text, "shoppulse_ingest_to_visible_seconds_bucket{le=\"0.005\"}") == 1);
  CHECK(sample(text, "shoppulse_ingest_to_visible_seconds_bucket{le=\"0.025\"}") == 1);
  CHECK(sample(text, "shoppulse_ingest_to_visible_seconds_bucket{le=\"0.05\"}") == 2);
  CHECK(sample(text, "shoppulse_ingest_to_visible_seconds_sum") == Approx(0.033).margin(1e-9));
  CHECK(sample(text, "shoppulse_ingest_to_visible_unmeasured_total") == 0);
}

TEST_CASE("batches beyond the meter's capacity are counted as unmeasured, never waited for",
          "[ingest][freshness]") {
  MetricsRegistry metrics;
  FreshnessMeter meter(metrics, 4);
  const Clock::time_point t0{std::chrono::seconds(1000)};
  for (Sequence s = 1; s <= 6; ++s) meter.handed(s, t0);  // the ring holds 4
  CHECK(meter.unmeasured() == 2);
  meter.published(6, t0 + 1ms);
  CHECK(meter.measured() == 4);
  CHECK(sample(metrics.render_prometheus(), "shoppulse_ingest_to_visible_unmeasured_total") == 2);
}

TEST_CASE("an engine that publishes without applying (paused) holds at most the meter's capacity of marks",
          "[ingest][freshness]") {
  MetricsRegistry metrics;
  FreshnessMeter meter(metrics, 4);
  const Clock::time_point t0{std::chrono::seconds(1000)};
  for (Sequence s = 1; s <= 4; ++s) meter.handed(s, t0);
  meter.published(0, t0);  // takes the 4 marks to its side
  for (Sequence s = 5; s <= 8; ++s) meter.handed(s, t0);
  meter.published(0, t0);  // its side is full: the ring keeps these 4
  meter.handed(9, t0);     // and has no room for a fifth
  CHECK(meter.unmeasured() == 1);
  CHECK(meter.measured() == 0);
  meter.published(100, t0 + 1ms);
  CHECK(meter.measured() == 4);  // the ones held; the ring's come with the next publish
  meter.published(100, t0 + 2ms);
  CHECK(meter.measured() == 8);
  CHECK(meter.unmeasured() == 1);
}
