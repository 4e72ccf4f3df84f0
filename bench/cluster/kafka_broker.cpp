// The tests' single-node Kafka broker (tests/servers/kafka_server.cpp: the
// jars of tests/servers/kafka/fetch.sh, the same server.properties, ready
// once it answers metadata requests) for scripts that need one, such as
// bench/cluster/cluster_throughput.py.
//
// Starts the broker, then prints "bootstrap 127.0.0.1:PORT" and "pid PID"
// (the broker's JVM, for CPU accounting) on stdout and reads commands on
// stdin, one a line:
//   topic NAME PARTITIONS   creates a topic; answers "ok NAME" or "error TEXT"
// End of input (or "stop") stops the broker, removes its directory and exits
// 0. Exit status 1 and a message when the broker cannot be started.
#include <iostream>
#include <sstream>
#include <string>

#include "kafka_server.hpp"

int main() {
  shoppulse::servers::KafkaServer broker;
  try {
    broker.start();
  } catch (const std::exception& e) {
    std::cerr << "kafka_broker: " << e.what() << "\n";
    return 1;
  }
  std::cout << "bootstrap " << broker.bootstrap() << "\npid " << broker.pid() << std::endl;
  for (std::string line; std::getline(std::cin, line);) {
    std::istringstream in(line);
    std::string command, name;
    int partitions = 0;
    in >> command;
    if (command == "stop") break;
    if (command == "topic" && (in >> name >> partitions) && partitions > 0) {
      try {
        broker.create_topic(name, partitions);
        std::cout << "ok " << name << std::endl;
      } catch (const std::exception& e) {
        std::cout << "error " << e.what() << std::endl;
      }
    } else if (!command.empty()) {
      std::cout << "error unknown command: " << line << std::endl;
    }
  }
  broker.stop();
  return 0;
}
