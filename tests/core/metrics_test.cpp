#include <catch2/catch.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "shoppulse/core/metrics.hpp"

using namespace shoppulse;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("a counter renders HELP, TYPE and its value", "[core][metrics]") {
  MetricsRegistry registry;
  registry.counter("shoppulse_requests_total", "Requests served").add(3);
  CHECK(registry.render_prometheus() ==
        "# HELP shoppulse_requests_total Requests served\n"
        "# TYPE shoppulse_requests_total counter\n"
        "shoppulse_requests_total 3\n");
}

TEST_CASE("counters sharing a name are described once and rendered together", "[core][metrics]") {
  MetricsRegistry registry;
  Counter& views = registry.counter("shoppulse_events_total", "Events by type", R"(type="view")");
  registry.counter("shoppulse_a_total", "Another metric").add(1);
  Counter& buys = registry.counter("shoppulse_events_total", "Events by type", R"(type="purchase")");
  views.add(5);
  buys.add(2);
  const std::string text = registry.render_prometheus();
  CHECK(count_of(text, "# HELP shoppulse_events_total ") == 1);
  CHECK(count_of(text, "# TYPE shoppulse_events_total counter") == 1);
  const auto lines = lines_of(text);
  REQUIRE(lines.size() == 7);
  CHECK(lines[0] == "# HELP shoppulse_a_total Another metric");
  CHECK(lines[1] == "# TYPE shoppulse_a_total counter");
  CHECK(lines[2] == "shoppulse_a_total 1");
  CHECK(lines[3] == "# HELP shoppulse_events_total Events by type");
  CHECK(lines[4] == "# TYPE shoppulse_events_total counter");
  // Registration order is kept within one name.
  CHECK(lines[5] == R"(shoppulse_events_total{type="view"} 5)");
  CHECK(lines[6] == R"(shoppulse_events_total{type="purchase"} 2)");
}

TEST_CASE("a gauge is read when the registry renders", "[core][metrics]") {
  MetricsRegistry registry;
  double value = 1.5;
  registry.gauge("shoppulse_queue", "Queue depth", [&] { return value; }, R"(queue="ingest")");
  CHECK(count_of(registry.render_prometheus(), "shoppulse_queue{queue=\"ingest\"} 1.5\n") == 1);
  value = 42;
  const std::string text = registry.render_prometheus();
  CHECK(count_of(text, "# TYPE shoppulse_queue gauge\n") == 1);
  CHECK(count_of(text, "shoppulse_queue{queue=\"ingest\"} 42\n") == 1);
}

TEST_CASE("a total kept by a component is read when the registry renders and described as a counter",
          "[core][metrics]") {
  MetricsRegistry registry;
  std::uint64_t waits = 3;
  registry.counter_read("shoppulse_waits_total", "Waits", [&] { return double(waits); }, R"(thread="a")");
  registry.counter_read("shoppulse_waits_total", "Waits", [] { return 7.0; }, R"(thread="b")");
  waits = 11;
  const std::string text = registry.render_prometheus();
  CHECK(count_of(text, "# TYPE shoppulse_waits_total counter\n") == 1);
  CHECK(count_of(text, "# TYPE shoppulse_waits_total gauge\n") == 0);
  CHECK(count_of(text, "shoppulse_waits_total{thread=\"a\"} 11\n") == 1);
  CHECK(count_of(text, "shoppulse_waits_total{thread=\"b\"} 7\n") == 1);
}

TEST_CASE("a histogram renders cumulative buckets, +Inf equal to the count, sum and count",
          "[core][metrics]") {
  MetricsRegistry registry;
  Histogram& h = registry.histogram("shoppulse_latency_seconds", "Latency");
  h.observe(0.00005);  // le 0.0001
  h.observe(0.0001);   // le 0.0001 (bounds are inclusive)
  h.observe(0.003);    // le 0.005
  h.observe(0.3);      // le 0.5
  h.observe(3.0);      // +Inf only
  CHECK(h.count() == 5);
  const auto raw = h.buckets();
  CHECK(raw[0] == 2);
  CHECK(raw[5] == 1);
  CHECK(raw[13] == 1);
  CHECK(raw[16] == 1);

  const auto lines = lines_of(registry.render_prometheus());
  REQUIRE(lines.size() == 2 + Histogram::kBounds.size() + 1 + 2);
  CHECK(lines[0] == "# HELP shoppulse_latency_seconds Latency");
  CHECK(lines[1] == "# TYPE shoppulse_latency_seconds histogram");
  const std::vector<std::string> expected_buckets{
      R"(shoppulse_latency_seconds_bucket{le="0.0001"} 2)", R"(shoppulse_latency_seconds_bucket{le="0.00025"} 2)",
      R"(shoppulse_latency_seconds_bucket{le="0.0005"} 2)", R"(shoppulse_latency_seconds_bucket{le="0.001"} 2)",
      R"(shoppulse_latency_seconds_bucket{le="0.0025"} 2)", R"(shoppulse_latency_seconds_bucket{le="0.005"} 3)",
      R"(shoppulse_latency_seconds_bucket{le="0.0075"} 3)", R"(shoppulse_latency_seconds_bucket{le="0.01"} 3)",
      R"(shoppulse_latency_seconds_bucket{le="0.025"} 3)",  R"(shoppulse_latency_seconds_bucket{le="0.05"} 3)",
      R"(shoppulse_latency_seconds_bucket{le="0.075"} 3)",  R"(shoppulse_latency_seconds_bucket{le="0.1"} 3)",
      R"(shoppulse_latency_seconds_bucket{le="0.25"} 3)",   R"(shoppulse_latency_seconds_bucket{le="0.5"} 4)",
      R"(shoppulse_latency_seconds_bucket{le="1"} 4)",      R"(shoppulse_latency_seconds_bucket{le="2.5"} 4)",
      R"(shoppulse_latency_seconds_bucket{le="+Inf"} 5)"};
  for (std::size_t i = 0; i < expected_buckets.size(); ++i) CHECK(lines[2 + i] == expected_buckets[i]);
  const std::string& sum = lines[2 + expected_buckets.size()];
  REQUIRE(sum.rfind("shoppulse_latency_seconds_sum ", 0) == 0);
  CHECK(std::stod(sum.substr(sum.find(' ') + 1)) == Approx(3.30315).epsilon(1e-6));
  CHECK(lines.back() == "shoppulse_latency_seconds_count 5");
}

TEST_CASE("histogram labels are combined with the bucket label", "[core][metrics]") {
  MetricsRegistry registry;
  registry.histogram("shoppulse_http_seconds", "HTTP latency", R"(route="events")").observe(0.02);
  const std::string text = registry.render_prometheus();
  CHECK(count_of(text, R"(shoppulse_http_seconds_bucket{route="events",le="0.025"} 1)") == 1);
  CHECK(count_of(text, R"(shoppulse_http_seconds_bucket{route="events",le="+Inf"} 1)") == 1);
  CHECK(count_of(text, R"(shoppulse_http_seconds_count{route="events"} 1)") == 1);
}

TEST_CASE("an empty histogram renders zero buckets and count", "[core][metrics]") {
  MetricsRegistry registry;
  registry.histogram("h_seconds", "H");
  const std::string text = registry.render_prometheus();
  CHECK(count_of(text, R"(h_seconds_bucket{le="+Inf"} 0)") == 1);
  CHECK(count_of(text, "h_seconds_sum 0\n") == 1);
  CHECK(count_of(text, "h_seconds_count 0\n") == 1);
}

TEST_CASE("metrics of different names each get their own HELP and TYPE, sorted by name", "[core][metrics]") {
  MetricsRegistry registry;
  registry.gauge("zeta", "Z", [] { return 1.0; });
  registry.counter("alpha_total", "A");
  registry.histogram("mid_seconds", "M");
  const std::string text = registry.render_prometheus();
  CHECK(count_of(text, "# HELP ") == 3);
  CHECK(count_of(text, "# TYPE ") == 3);
  const auto a = text.find("# TYPE alpha_total counter");
  const auto m = text.find("# TYPE mid_seconds histogram");
  const auto z = text.find("# TYPE zeta gauge");
  REQUIRE(a != std::string::npos);
  REQUIRE(m != std::string::npos);
  REQUIRE(z != std::string::npos);
  CHECK(a < m);
  CHECK(m < z);
}
