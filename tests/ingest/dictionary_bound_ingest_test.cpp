// A bounded dictionary behind the real ingest path and the RocksDB store:
// evicted ids keep their meaning across eviction and a restart that loads
// only the newest ids.
#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "eventlog/eventlog_fixtures.hpp"
#include "shoppulse/eventlog/rocksdb_store.hpp"
#include "shoppulse/ingest/ingestor.hpp"

using namespace shoppulse;
using namespace std::chrono_literals;

namespace {

constexpr TimestampMs kNow = 1709294400000;
constexpr std::size_t kBound = 40;

std::string user(std::size_t i) {
  std::string s = "bound-user-";
  s += std::to_string(i);
  return s;
}

EventLogConfig log_config(const std::string& dir) {
  EventLogConfig config;
  config.data_dir = dir;
  config.block_cache_mb = 8;
  config.write_buffer_mb = 4;
  // No background WAL sync: its write would race the ingest thread's
  // inside RocksDB as ThreadSanitizer sees it (the library is not
  // instrumented, so its write queue's ordering is invisible to it).
  config.wal_sync_interval_ms = 3'600'000;
  return config;
}

// The server's wiring: RocksDB store, the log as the dictionary's backing,
// a bounded load, the ingestor.
struct Server {
  explicit Server(const std::string& dir) : ring(1 << 14), clock(kNow) {
    auto opened = open_rocksdb_store(log_config(dir));
    REQUIRE(opened.ok());
    store = std::move(opened).value();
    backing = std::make_unique<EventLogDictionary>(*store);
    dictionary.configure(backing.get(), kBound);
    REQUIRE(load_dictionary(*store, dictionary, kBound).ok());
    ingestor = std::make_unique<Ingestor>(IngestConfig{}, *store, dictionary, ring, clock, metrics);
    REQUIRE(ingestor->start().ok());
  }
  ~Server() { ingestor->stop(); }

  // Ingests one event per user, waits for it, returns the user ids the ring got.
  std::vector<Id> ingest(const std::vector<std::string>& users) {
    std::vector<RawEvent> events;
    for (const std::string& u : users) {
      RawEvent e;
      e.user_id = u;
      e.product_id = "p-" + u;
      e.type = EventType::view;
      events.push_back(std::move(e));
    }
    auto promise = std::make_shared<std::promise<bool>>();
    auto done = promise->get_future();
    REQUIRE(ingestor->submit(std::move(events), [promise](Result<IngestReceipt> r) { promise->set_value(r.ok()); }).ok());
    REQUIRE(done.wait_for(10s) == std::future_status::ready);
    REQUIRE(done.get());
    // The ingest thread pushes a batch's events to the ring before it
    // reports the batch done: they are all there now.
    std::vector<Event> buffer(users.size() + 1);
    REQUIRE(ring.pop_some(buffer) == users.size());
    std::vector<Id> ids;
    for (std::size_t i = 0; i < users.size(); ++i) ids.push_back(buffer[i].user);
    return ids;
  }

  std::unique_ptr<Storage> store;
  std::unique_ptr<EventLogDictionary> backing;
  Dictionary dictionary;
  SpscRing<Event> ring;
  ManualClock clock;
  MetricsRegistry metrics;
  std::unique_ptr<Ingestor> ingestor;
};

}  // namespace

TEST_CASE("ingest with a bounded dictionary evicts, re-admits old ids and keeps them across a restart",
          "[ingest][dictionary]") {
  eventlog_test::TempDir dir;
  constexpr std::size_t kUsers = 300;
  {
    Server server(dir.path());
    for (std::size_t first = 0; first < kUsers; first += 10) {
      std::vector<std::string> users;
      for (std::size_t i = first; i < first + 10; ++i) users.push_back(user(i));
      const auto ids = server.ingest(users);
      for (std::size_t i = 0; i < ids.size(); ++i) REQUIRE(ids[i] == Id(first + i + 1));
    }
    const InternTable& users = server.dictionary.table(IdKind::user);
    CHECK(users.resident() <= kBound + 10);
    CHECK(users.evicted_total() >= kUsers - kBound - 10);
    for (std::size_t i = 0; i < kUsers; ++i) REQUIRE(server.dictionary.name(IdKind::user, Id(i + 1)) == user(i));
    // The oldest users come back with their ids, and a new one continues after them.
    CHECK(server.ingest({user(0), user(1), "newcomer"}) == std::vector<Id>{1, 2, Id(kUsers + 1)});
    CHECK(server.dictionary.find(IdKind::user, user(5)) == Id{6});
  }
  Server again(dir.path());
  const InternTable& users = again.dictionary.table(IdKind::user);
  CHECK(users.resident() == kBound);  // the newest only
  CHECK(users.size() == kUsers + 1);
  CHECK(again.dictionary.name(IdKind::user, 7) == user(6));  // read back from the log
  // user(1) was in memory at shutdown (re-admitted) but is not among the
  // newest ids: the start-up stored its name -> id entry.
  CHECK(again.ingest({user(6), user(299), "second-newcomer", user(1)}) ==
        std::vector<Id>{7, 300, Id(kUsers + 2), 2});
  // No id was stored twice: one entry per string, ids 1..302.
  auto stored = again.store->load_dictionary();
  REQUIRE(stored.ok());
  std::size_t user_entries = 0;
  for (const DictionaryEntry& e : *stored)
    if (e.kind == IdKind::user) ++user_entries;
  CHECK(user_entries == kUsers + 2);
}

TEST_CASE("a data dir written without a bound opens with one and keeps every id", "[ingest][dictionary]") {
  eventlog_test::TempDir dir;
  {
    auto store = open_rocksdb_store(log_config(dir.path()));
    REQUIRE(store.ok());
    std::vector<DictionaryEntry> entries;
    for (std::size_t i = 0; i < 200; ++i) entries.push_back({IdKind::user, Id(i + 1), user(i)});
    REQUIRE((*store)->append(AppendBatch{{}, entries}).ok());  // as an unbounded server left it: no names
  }
  Server server(dir.path());
  CHECK(server.dictionary.table(IdKind::user).resident() == kBound);
  CHECK(server.ingest({user(0), user(150), user(199), "after"}) == std::vector<Id>{1, 151, 200, 201});
}
