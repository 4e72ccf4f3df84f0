// The Kafka source in process, against the real broker, with several
// batches at the ingestor at once and an event log whose appends fail now
// and then: every message is appended exactly once, in its partition's
// order, and the stored offsets end at the partitions' ends.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <map>
#include <string>
#include <vector>

#include "integration/harness.hpp"
#include "kafka_test_broker.hpp"
#include "shoppulse/adapters/kafka_source.hpp"
#include "shoppulse/eventlog/memory_store.hpp"
#include "shoppulse/ingest/ingestor.hpp"

namespace si = shoppulse::integration;
using namespace shoppulse;
using shoppulse::servers::broker;
using shoppulse::servers::fresh_topic;
using shoppulse::servers::TestProducer;

namespace {

// An event log that fails every third append (io_error, nothing stored) and
// forwards everything else to the memory store. Appends come from the
// ingest thread only.
class FlakyLog final : public EventLog {
 public:
  explicit FlakyLog(EventLog& inner) : inner_(inner) {}
  Result<void> append(const AppendBatch& batch) override {
    if (++appends_ % 3 == 2) {
      failures_.fetch_add(1);
      return make_error(Errc::io_error, "injected append failure");
    }
    return inner_.append(batch);
  }
  Sequence next_sequence() const override { return inner_.next_sequence(); }
  Result<void> read(Sequence from, const std::function<bool(std::span<const LogRecord>)>& fn) const override {
    return inner_.read(from, fn);
  }
  Result<std::vector<DictionaryEntry>> load_dictionary() const override { return inner_.load_dictionary(); }
  Result<std::vector<SourceOffset>> load_source_offsets() const override { return inner_.load_source_offsets(); }
  EventLogStats stats() const override { return inner_.stats(); }
  Result<std::uint64_t> apply_retention(TimestampMs now, std::int64_t max_age_ms, std::uint64_t max_bytes) override {
    return inner_.apply_retention(now, max_age_ms, max_bytes);
  }
  int failures() const { return failures_.load(); }

 private:
  EventLog& inner_;
  int appends_ = 0;  // ingest thread
  std::atomic<int> failures_{0};
};

// A source of `topic` on the test broker, in a group of its own, with a
// dead-letter topic beside it.
KafkaConfig source_config(const std::string& topic) {
  KafkaConfig config;
  config.servers = broker().bootstrap();
  config.topic = topic;
  config.group = "g-" + topic;
  config.dead_letter_topic = topic + ".dlq";
  return config;
}

}  // namespace

TEST_CASE("With several batches at the ingestor and failing appends, every message is appended once and in order",
          "[kafka][integration]") {
  const std::string topic = fresh_topic("pipeline");
  broker().create_topic(topic, 3);
  broker().create_topic(topic + ".dlq", 1);
  constexpr int kPartitions = 3, kEvents = 3000;
  const std::int64_t t0 = si::now_ms() - 3'600'000;
  {
    TestProducer producer(broker().bootstrap());
    for (int i = 0; i < kEvents; ++i)
      producer.send(topic, i % kPartitions, "k",
                    "{\"user_id\":\"u" + std::to_string(i % 50) + "\",\"event_type\":\"view\",\"product_id\":\"p" +
                        std::to_string(i) + "\",\"timestamp\":" + std::to_string(t0 + i) + "}");
    producer.flush();
  }

  auto memory = make_memory_store();
  FlakyLog log(*memory);
  Dictionary dictionary;
  SpscRing<Event> ring(1 << 17);  // never drained here: room for every event, and for doubles if there were any
  SystemClock clock;
  MetricsRegistry metrics;
  IngestConfig ingest_config;
  ingest_config.dedupe_max_ids = 0;  // a message appended twice would stay twice: the offsets alone must prevent it
  ingest_config.max_append_events = 100;  // a batch per append, mostly
  Ingestor ingestor(ingest_config, log, dictionary, ring, clock, metrics);
  REQUIRE(ingestor.start().ok());

  KafkaConfig config = source_config(topic);
  config.batch_max_messages = 100;
  config.batch_max_wait_ms = 20;
  config.batches_in_flight = 4;
  config.max_backoff_ms = 100;
  KafkaSource source(config, ingestor, log, clock, metrics);
  source.start();
  const bool all_appended = si::poll_until([&] { return source.stats().appended >= kEvents; }, si::Millis(120000));
  source.stop();
  ingestor.stop();
  INFO("failed appends: " << log.failures() << ", source: " << source.stats().last_error);
  REQUIRE(all_appended);
  CHECK(log.failures() >= 3);  // or the failure path was not exercised
  CHECK(source.stats().failures >= 1);

  // Exactly once, and within each partition in the order produced.
  std::vector<int> seen(kEvents, 0);
  std::map<int, int> last_in_partition;
  bool in_order = true;
  auto read = memory->read(1, [&](std::span<const LogRecord> records) {
    for (const LogRecord& r : records) {
      const int i = std::stoi(std::string(dictionary.name(IdKind::product, r.event.product)).substr(1));
      ++seen[std::size_t(i)];
      auto [it, first] = last_in_partition.emplace(i % kPartitions, i);
      if (!first) {
        in_order = in_order && i > it->second;
        it->second = i;
      }
    }
    return true;
  });
  REQUIRE(read.ok());
  CHECK(memory->next_sequence() == Sequence(kEvents) + 1);
  CHECK(std::count(seen.begin(), seen.end(), 1) == kEvents);
  CHECK(in_order);
  std::vector<SourceOffset> expected;
  for (int p = 0; p < kPartitions; ++p) expected.push_back({KafkaSource::offset_name(topic, p), kEvents / kPartitions});
  auto offsets = memory->load_source_offsets();
  REQUIRE(offsets.ok());
  std::sort(offsets->begin(), offsets->end(), [](const auto& a, const auto& b) { return a.source < b.source; });
  CHECK(*offsets == expected);
}

TEST_CASE("A prefetch bound smaller than one fetch makes the source wait for librdkafka while the broker has more, "
          "and the waits are counted",
          "[kafka][integration]") {
  // librdkafka (2.0) stops fetching once its queue holds
  // kafka.fetch_queue_kbytes and looks again only when its broker thread
  // next wakes (within a second): with a 1 KiB bound every fetch (at most
  // 1 MiB per partition) ends with the source draining the queue and
  // waiting while the rest of the topic is still on the broker.
  const std::string topic = fresh_topic("prefetch");
  broker().create_topic(topic, 1);
  broker().create_topic(topic + ".dlq", 1);
  constexpr int kEvents = 12000;  // ~3.5 MB: more than three fetches
  const std::int64_t t0 = si::now_ms() - 3'600'000;
  const std::string padding(250, 'x');
  {
    TestProducer producer(broker().bootstrap());
    for (int i = 0; i < kEvents; ++i)
      producer.send(topic, 0, "k",
                    "{\"user_id\":\"u" + std::to_string(i % 50) + "\",\"event_type\":\"view\",\"product_id\":\"p" +
                        std::to_string(i) + padding + "\",\"timestamp\":" + std::to_string(t0 + i) + "}");
    producer.flush();
  }

  auto memory = make_memory_store();
  Dictionary dictionary;
  SpscRing<Event> ring(1 << 15);  // never drained here: room for every event
  SystemClock clock;
  MetricsRegistry metrics;
  Ingestor ingestor(IngestConfig{}, *memory, dictionary, ring, clock, metrics);
  REQUIRE(ingestor.start().ok());

  KafkaConfig config = source_config(topic);
  config.fetch_queue_kbytes = 1;
  KafkaSource source(config, ingestor, *memory, clock, metrics);
  source.start();
  const bool all_appended = si::poll_until([&] { return source.stats().appended >= kEvents; }, si::Millis(120000));
  source.stop();
  ingestor.stop();
  const KafkaSourceStats stats = source.stats();
  INFO("source: " << stats.last_error);
  REQUIRE(all_appended);
  CHECK(stats.fetch_waits >= 1);
  CHECK(stats.fetch_wait > std::chrono::microseconds(0));
  CHECK(stats.longest_fetch_wait > std::chrono::microseconds(0));
  CHECK(stats.longest_fetch_wait <= stats.fetch_wait);
  // /metrics reports the same waits.
  const std::string text = metrics.render_prometheus();
  CHECK(text.find("# TYPE shoppulse_kafka_source_fetch_waits_total counter\n") != std::string::npos);
  CHECK(si::metric_value(text, "shoppulse_kafka_source_fetch_waits_total") == double(stats.fetch_waits));
  CHECK(si::metric_value(text, "shoppulse_kafka_source_fetch_wait_seconds_total") ==
        Approx(double(stats.fetch_wait.count()) / 1e6));
  CHECK(si::metric_value(text, "shoppulse_kafka_source_longest_fetch_wait_seconds") ==
        Approx(double(stats.longest_fetch_wait.count()) / 1e6));
  CHECK(si::metric_value(text, "shoppulse_kafka_source_ingest_waits_total") == double(stats.ingest_waits));
}

TEST_CASE("A log without offsets starts each partition at the group's committed offset, else at its first message",
          "[kafka][integration]") {
  // The source asks the group's commits and the partitions' first offsets
  // itself (librdkafka's own offset reset waits out a query timer first);
  // what it finds must be what librdkafka would have chosen.
  const std::string topic = fresh_topic("start");
  broker().create_topic(topic, 2);
  broker().create_topic(topic + ".dlq", 1);
  const std::int64_t t0 = si::now_ms() - 3'600'000;
  const auto produce = [&](std::int32_t partition, int from, int count) {
    TestProducer producer(broker().bootstrap());
    for (int i = from; i < from + count; ++i)
      producer.send(topic, partition, "k",
                    "{\"user_id\":\"u" + std::to_string(i % 50) + "\",\"event_type\":\"view\",\"product_id\":\"p" +
                        std::to_string(partition) + "-" + std::to_string(i) + "\",\"timestamp\":" +
                        std::to_string(t0 + i) + "}");
    producer.flush();
  };
  // A source of the group on `log`, run until it has read and appended
  // `expect` messages and the partitions' ends say there are no more.
  const auto consume_into = [&](EventLog& log, std::uint64_t expect) {
    Dictionary dictionary;
    SpscRing<Event> ring(1 << 12);
    SystemClock clock;
    MetricsRegistry metrics;
    Ingestor ingestor(IngestConfig{}, log, dictionary, ring, clock, metrics);
    REQUIRE(ingestor.start().ok());
    KafkaSource source(source_config(topic), ingestor, log, clock, metrics);
    source.start();
    const bool read = si::poll_until([&] { return source.stats().appended >= expect; }, si::Millis(60000)) &&
                      si::poll_until([&] { return source.stats().lag == 0; }, si::Millis(30000));
    source.stop();
    ingestor.stop();
    REQUIRE(read);
    return source.stats();
  };
  // A first source reads partition 0 (partition 1 is empty), so the group
  // commits an offset for partition 0 only.
  produce(0, 0, 1000);
  {
    auto first = make_memory_store();
    CHECK(consume_into(*first, 1000).appended == 1000);
  }
  produce(0, 1000, 500);
  produce(1, 0, 700);
  // A second source, same group, on an empty log: partition 0 from the
  // commit (the 500 new messages), partition 1 from its first message.
  auto memory = make_memory_store();
  const KafkaSourceStats stats = consume_into(*memory, 1200);
  CHECK(stats.consumed == 1200);
  CHECK(stats.appended == 1200);
  std::map<std::string, std::int64_t> offsets;
  const auto stored = memory->load_source_offsets();
  REQUIRE(stored.ok());
  for (const SourceOffset& o : *stored) offsets[o.source] = o.next_offset;
  CHECK(offsets[KafkaSource::offset_name(topic, 0)] == 1500);
  CHECK(offsets[KafkaSource::offset_name(topic, 1)] == 700);
}
