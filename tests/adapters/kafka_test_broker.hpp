#pragma once
// One Kafka broker for the whole test run (it takes seconds to start); every
// test case uses topics of its own.
#include <unistd.h>

#include <atomic>
#include <string>

#include "kafka_server.hpp"

namespace shoppulse::servers {

// Stopped when the test process exits (static destruction).
inline KafkaServer& broker() {
  static KafkaServer server;
  static const bool started = (server.start(), true);
  (void)started;
  return server;
}

inline std::string fresh_topic(const std::string& tag) {
  static std::atomic<int> n{0};
  return "t" + std::to_string(::getpid()) + "-" + tag + "-" + std::to_string(n++);
}

}  // namespace shoppulse::servers
