// The cluster write path's producer queue: a full queue refuses a batch as
// overloaded, and wait_for_room() returns once Kafka has answered for enough
// of the queued events (acknowledged or, here, failed), without polling.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <vector>

#include "shoppulse/adapters/kafka_cluster.hpp"

using namespace shoppulse;
using namespace std::chrono_literals;

namespace {
std::vector<RawEvent> events(std::size_t n) {
  std::vector<RawEvent> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    out[i].type = EventType::view;
    out[i].user_id = "u" + std::to_string(i);
    out[i].product_id = "p1";
  }
  return out;
}
}  // namespace

TEST_CASE("a full producer queue refuses a batch as overloaded, and wait_for_room returns once Kafka answered",
          "[cluster][kafka]") {
  // No broker listens on port 1: nothing is acknowledged, and every message
  // fails once cluster.produce_timeout passes, which empties the queue.
  ClusterConfig config;
  config.produce_timeout_ms = 5000;
  SystemClock clock;
  MetricsRegistry metrics;
  ClusterWriter writer("127.0.0.1:1", "events", config, clock, metrics, 50);
  REQUIRE(writer.start());
  std::atomic<int> failed{0};
  REQUIRE(writer.submit(events(50), [&](Result<IngestReceipt> r) { failed += r ? 0 : 1; }));

  auto refused = writer.submit(events(1), {});
  REQUIRE_FALSE(refused);
  REQUIRE(refused.error().code == Errc::overloaded);
  // Room for one more only when the queue has answered for the 50: a wait
  // whose deadline has passed answers at once.
  REQUIRE_FALSE(writer.wait_for_room(1, std::chrono::steady_clock::now()));

  // Woken by the delivery reports, not by the deadline (far beyond the 5 s
  // the messages take to fail; it only bounds a failing test).
  const auto began = std::chrono::steady_clock::now();
  const auto deadline = began + 60s;
  REQUIRE(writer.wait_for_room(50, deadline));
  INFO("waited " << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - began).count()
                 << " ms");
  REQUIRE(std::chrono::steady_clock::now() < deadline);
  REQUIRE(failed == 1);  // the batch failed as a whole: Kafka never acknowledged it
  REQUIRE(writer.submit(events(50), {}));

  // Stopping the writer wakes a waiting importer, which answers false.
  auto waiting = std::async(std::launch::async, [&] { return writer.wait_for_room(51, deadline); });
  writer.stop();
  REQUIRE_FALSE(waiting.get());
  REQUIRE(std::chrono::steady_clock::now() < deadline);
}
