#pragma once
// A single-node Kafka broker (KRaft, broker + controller in one JVM) for the
// adapter tests, from the Maven Central jars tests/servers/kafka/fetch.sh
// keeps in the user's cache, plus the small librdkafka clients the tests
// use to create topics, produce and read back.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "server_process.hpp"

namespace shoppulse::servers {

// Lifecycle: start() formats the storage the first time, starts the broker
// and returns once it answers metadata requests; stop() shuts it down; start()
// again brings the same broker back on the same ports with its data (an
// outage). The destructor stops it.
class KafkaServer {
 public:
  KafkaServer();
  ~KafkaServer();
  void start();
  void stop();
  std::string bootstrap() const;  // "127.0.0.1:<port>"
  std::string log_tail() const;
  pid_t pid() const { return process_.pid(); }  // the broker's JVM, for CPU accounting; -1 when stopped

  // Creates a topic through librdkafka's admin API; throws on failure.
  void create_topic(const std::string& topic, int partitions);
  // With topic configs (e.g. {"retention.ms", "3600000"}).
  void create_topic(const std::string& topic, int partitions,
                    const std::vector<std::pair<std::string, std::string>>& configs);

 private:
  ScratchDir dir_;
  ChildProcess process_;
  std::uint16_t port_ = 0, controller_port_ = 0;
  bool formatted_ = false;
};

struct ReadMessage {
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::string key, value;
  std::map<std::string, std::string> headers;
};

// Produces with acks=all; flush() waits for every message. Throws on failure.
class TestProducer {
 public:
  explicit TestProducer(const std::string& bootstrap);
  ~TestProducer();
  TestProducer(const TestProducer&) = delete;
  TestProducer& operator=(const TestProducer&) = delete;
  // partition -1: by key.
  void send(const std::string& topic, std::int32_t partition, const std::string& key, const std::string& value);
  void flush();

 private:
  void* rk_ = nullptr;
};

// Every message of topic from the beginning until `count` were read or the
// timeout passed.
std::vector<ReadMessage> read_topic(const std::string& bootstrap, const std::string& topic, std::size_t count,
                                    Millis timeout);

}  // namespace shoppulse::servers
