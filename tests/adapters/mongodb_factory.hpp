#pragma once
// The MongoDB store for the storage conformance suite: one FerretDB server
// for the whole run, a fresh database per store.
#include <atomic>
#include <memory>
#include <string>
#include <unistd.h>

#include "ferretdb_server.hpp"
#include "shoppulse/adapters/mongodb_store.hpp"

namespace mongodb_test {

// Stopped when the test process exits (static destruction).
inline shoppulse::servers::FerretDbServer& ferretdb() {
  static shoppulse::servers::FerretDbServer server;
  static const bool started = (server.start(), true);
  (void)started;
  return server;
}

inline std::string fresh_database() {
  static std::atomic<int> n{0};
  return "conformance_" + std::to_string(::getpid()) + "_" + std::to_string(n++);
}

}  // namespace mongodb_test

struct MongoDbFactory {
  std::unique_ptr<shoppulse::MongoStore> open() {
    shoppulse::MongoConfig config;
    config.url = mongodb_test::ferretdb().url(mongodb_test::fresh_database());
    config.bulk_size = 3;  // several bulks per put in the cases
    // The cases' checkpoints of 11 bytes go in three chunks, those of 5 or
    // fewer in the head document: both forms, and overwriting one by the other.
    config.checkpoint_chunk_bytes = 5;
    auto store = shoppulse::open_mongodb_store(config);
    INFO((store.ok() ? std::string() : store.error().detail));
    REQUIRE(store.ok());
    return std::move(store).value();
  }
};
