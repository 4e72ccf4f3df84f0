// The Kafka sink (outbox) of the real binary against a real broker: every
// logged event reaches the sink topic keyed by its user, and after a broker
// outage and a kill -9 the sink resumes from its checkpoint with no event
// skipped.
#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <sstream>
#include <string>

#include "integration/harness.hpp"
#include "kafka_test_broker.hpp"
#include "outage.hpp"

namespace si = shoppulse::integration;
using shoppulse::servers::broker;
using shoppulse::servers::fresh_topic;
using shoppulse::servers::read_topic;

namespace {

std::string events_body(int first, int count, std::int64_t t0) {
  std::ostringstream o;
  o << '[';
  for (int i = first; i < first + count; ++i) {
    if (i > first) o << ',';
    o << "{\"event_id\":\"e" << i << "\",\"user_id\":\"u" << (i % 7) << "\",\"event_type\":\"view\",\"product_id\":\"p"
      << (i % 5) << "\",\"timestamp\":" << (t0 + i) << '}';
  }
  o << ']';
  return o.str();
}

si::ServerOptions options(const si::TempDir& dir, const std::string& topic) {
  return si::ServerOptions{dir.path() / "data",
                           {},
                           false,
                           {"http.host=127.0.0.1", "kafka.servers=" + broker().bootstrap(), "kafka.topic=" + topic + ".in",
                            "kafka.sink_topic=" + topic, "kafka.snapshots_topic=" + topic + ".snapshots",
                            "kafka.snapshot_interval=200ms", "kafka.max_backoff=500ms", "kafka.sink_batch_events=100"},
                           si::Millis(20000)};
}

// sequence -> times seen, checking each message's key is its user. Reads
// until at_least distinct sequences arrived (repeats are allowed: the sink
// is at-least-once) or nothing more comes.
std::map<std::uint64_t, int> sequences(const std::string& topic, std::size_t at_least) {
  std::map<std::uint64_t, int> seen;
  std::size_t want = at_least;
  for (;;) {
    seen.clear();
    const auto messages = read_topic(broker().bootstrap(), topic, want, si::Millis(60000));
    for (const auto& m : messages) {
      si::Json j(m.value);
      CHECK(m.key == j.str("/user_id"));
      seen[j.u64("/sequence")]++;
    }
    if (seen.size() >= at_least || messages.size() < want) return seen;
    want += at_least - seen.size();
  }
}

std::string sink_field(const si::ServerProcess& s, const std::string& field) {
  return s.get_json("/api/health").str("/components/kafka_sink/" + field);
}

}  // namespace

TEST_CASE("Every logged event is published to the sink topic once, keyed by its user; snapshots reach theirs",
          "[kafka][integration]") {
  const std::string topic = fresh_topic("sink");
  broker().create_topic(topic + ".in", 1);
  broker().create_topic(topic, 3);
  broker().create_topic(topic + ".snapshots", 1);
  si::TempDir dir;
  si::ServerProcess server(options(dir, topic));
  server.start();
  const std::int64_t t0 = si::now_ms() - 600'000;
  REQUIRE(server.post("/api/events", events_body(0, 500, t0)).status == 200);
  const auto seen = sequences(topic, 500);
  REQUIRE(seen.size() == 500);
  CHECK(seen.begin()->first == 1);
  CHECK(seen.rbegin()->first == 500);
  for (const auto& [seq, times] : seen) CHECK(times == 1);
  const auto one = read_topic(broker().bootstrap(), topic, 1, si::Millis(10000));
  REQUIRE_FALSE(one.empty());
  si::Json first(one.front().value);
  CHECK(first.str("/event_type") == "view");
  CHECK(first.str("/event_id").starts_with("e"));
  const auto snaps = read_topic(broker().bootstrap(), topic + ".snapshots", 1, si::Millis(30000));
  REQUIRE_FALSE(snaps.empty());
  CHECK_NOTHROW(si::Json(snaps.front().value));
  REQUIRE(si::poll_until([&] { return server.get_json("/api/system/status").u64("/components/kafka_sink/backlog") == 0; }));
  CHECK(sink_field(server, "status") == "healthy");
}

TEST_CASE("After a broker outage and a kill -9 the sink resumes from its checkpoint and skips no event",
          "[kafka][integration]") {
  const std::string topic = fresh_topic("sinkout");
  broker().create_topic(topic + ".in", 1);
  broker().create_topic(topic, 3);
  broker().create_topic(topic + ".snapshots", 1);
  si::TempDir dir;
  si::ServerProcess server(options(dir, topic));
  server.start();
  const std::int64_t t0 = si::now_ms() - 600'000;
  REQUIRE(server.post("/api/events", events_body(0, 300, t0)).status == 200);
  REQUIRE(si::poll_until([&] { return server.get_json("/api/system/status").u64("/components/kafka_sink/backlog") == 0; }));

  broker().stop();
  REQUIRE(server.post("/api/events", events_body(300, 300, t0)).status == 200);
  REQUIRE(si::poll_until([&] { return sink_field(server, "status") == "unhealthy"; }, si::Millis(60000)));
  CHECK(server.get_json("/api/system/status").u64("/components/kafka_sink/backlog") == 300);
  // The gauge counts from the log when scraped, as the status does.
  CHECK(si::metric_value(server.get("/metrics").body, "shoppulse_kafka_sink_backlog") == 300);
  server.kill_hard();
  broker().start();
  server.start();
  REQUIRE(si::poll_until([&] { return server.get_json("/api/system/status").u64("/components/kafka_sink/backlog") == 0; },
                         si::Millis(60000)));
  const auto seen = sequences(topic, 600);
  REQUIRE(seen.size() == 600);  // every sequence 1..600 at least once
  CHECK(seen.begin()->first == 1);
  CHECK(seen.rbegin()->first == 600);
}
