#include <array>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "shoppulse/eventlog/memory_store.hpp"
#include "shoppulse/ingest/freshness.hpp"
#include "shoppulse/ingest/ingestor.hpp"

using namespace shoppulse;
using namespace std::chrono_literals;

namespace {

// "u<n>". (Spelled out: GCC 12 warns falsely about `"u" + std::to_string(n)`.)
std::string numbered_user(std::size_t n) {
  std::string s = "u";
  s += std::to_string(n);
  return s;
}

// 2024-03-01T12:00:00Z
constexpr TimestampMs kNow = 1709294400000;

RawEvent raw(std::string user, EventType type = EventType::view, std::string event_id = {}) {
  RawEvent e;
  e.user_id = std::move(user);
  e.type = type;
  e.event_id = std::move(event_id);
  return e;
}

std::vector<RawEvent> batch(std::initializer_list<RawEvent> events) { return std::vector<RawEvent>(events); }

// Collects one batch's completion; the done callback runs on the ingest thread.
struct Completion {
  std::shared_ptr<std::promise<Result<IngestReceipt>>> promise = std::make_shared<std::promise<Result<IngestReceipt>>>();
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  std::future<Result<IngestReceipt>> future = promise->get_future();

  IngestDone callback() {
    return [p = promise, c = calls](Result<IngestReceipt> r) {
      if (c->fetch_add(1) == 0) p->set_value(std::move(r));
    };
  }
  Result<IngestReceipt> wait() {
    REQUIRE(future.wait_for(10s) == std::future_status::ready);
    return future.get();
  }
};

// The real components over the memory store, with a ring the test drains.
struct Rig {
  explicit Rig(IngestConfig config = {}, std::size_t ring_capacity = 1 << 12,
               std::shared_ptr<MemoryStoreFaults> f = std::make_shared<MemoryStoreFaults>())
      : faults(std::move(f)), store(make_memory_store(faults)), ring(ring_capacity), clock(kNow) {
    make_ingestor(config);
  }
  void make_ingestor(IngestConfig config) {
    ingestor = std::make_unique<Ingestor>(config, *store, dictionary, ring, clock, metrics);
  }

  Result<IngestReceipt> ingest(std::vector<RawEvent> events) {
    Completion c;
    auto submitted = ingestor->submit(std::move(events), c.callback());
    if (!submitted) return std::move(submitted).error();
    return c.wait();
  }

  // Pops exactly n events, waiting up to a few seconds for them.
  std::vector<Event> drain(std::size_t n) {
    std::vector<Event> out;
    std::vector<Event> buffer(64);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
      const std::size_t got = ring.pop_some(buffer);
      out.insert(out.end(), buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(got));
      if (got == 0) std::this_thread::yield();
    }
    return out;
  }

  std::vector<LogRecord> log_records() const {
    std::vector<LogRecord> out;
    auto r = store->read(1, [&](std::span<const LogRecord> run) {
      out.insert(out.end(), run.begin(), run.end());
      return true;
    });
    REQUIRE(r.ok());
    return out;
  }

  std::shared_ptr<MemoryStoreFaults> faults;
  std::unique_ptr<Storage> store;
  Dictionary dictionary;
  SpscRing<Event> ring;
  ManualClock clock;
  MetricsRegistry metrics;
  std::unique_ptr<Ingestor> ingestor;
};

}  // namespace

TEST_CASE("accepted events get contiguous sequences starting at 1 in an empty log", "[ingest][ingestor]") {
  Rig rig;
  REQUIRE(rig.ingestor->start().ok());
  auto first = rig.ingest(batch({raw("a"), raw("b"), raw("c")}));
  REQUIRE(first.ok());
  CHECK(first->accepted == 3);
  CHECK(first->duplicates == 0);
  CHECK(first->first_sequence == 1);
  CHECK(first->last_sequence == 3);
  auto second = rig.ingest(batch({raw("a"), raw("d")}));
  REQUIRE(second.ok());
  CHECK(second->first_sequence == 4);
  CHECK(second->last_sequence == 5);

  const auto events = rig.drain(5);
  REQUIRE(events.size() == 5);
  for (std::size_t i = 0; i < events.size(); ++i) CHECK(events[i].sequence == i + 1);
  CHECK(rig.store->next_sequence() == 6);
  CHECK(rig.ingestor->stats().last_sequence == 5);
  CHECK(rig.ingestor->stats().appended_events == 5);
}

TEST_CASE("sequences continue from the log's next sequence", "[ingest][ingestor]") {
  Rig rig;
  std::vector<LogRecord> existing(4);
  for (std::size_t i = 0; i < existing.size(); ++i) {
    existing[i].event.sequence = i + 1;
    existing[i].event.time_ms = kNow - 1000;
  }
  REQUIRE(rig.store->append(AppendBatch{existing, {}}).ok());
  REQUIRE(rig.ingestor->start().ok());
  CHECK(rig.ingestor->stats().last_sequence == 4);
  auto receipt = rig.ingest(batch({raw("a"), raw("b")}));
  REQUIRE(receipt.ok());
  CHECK(receipt->first_sequence == 5);
  CHECK(receipt->last_sequence == 6);
  const auto events = rig.drain(2);
  REQUIRE(events.size() == 2);
  CHECK(events[0].sequence == 5);
  CHECK(events[1].sequence == 6);
}

TEST_CASE("an event without a timestamp gets the clock's time; one with a timestamp keeps it",
          "[ingest][ingestor]") {
  Rig rig;
  REQUIRE(rig.ingestor->start().ok());
  RawEvent timed = raw("a");
  timed.time_ms = kNow - 5000;
  rig.clock.set(kNow + 123);
  REQUIRE(rig.ingest(batch({raw("a"), timed})).ok());
  const auto events = rig.drain(2);
  REQUIRE(events.size() == 2);
  CHECK(events[0].time_ms == kNow + 123);
  CHECK(events[1].time_ms == kNow - 5000);
  const auto records = rig.log_records();
  REQUIRE(records.size() == 2);
  CHECK(records[0].event.time_ms == kNow + 123);
}

TEST_CASE("every field reaches the ring and the log, with ids interned", "[ingest][ingestor]") {
  Rig rig;
  REQUIRE(rig.ingestor->start().ok());
  RawEvent e = raw("u-1", EventType::purchase, "evt-1");
  e.session_id = "s-1";
  e.product_id = "p-1";
  e.category_id = "c-1";
  e.device = "mobile";
  e.location = "Beijing";
  e.price_minor = 1999;
  e.quantity = 3;
  e.rating = 0;
  RawEvent r = raw("u-2", EventType::rate);
  r.product_id = "p-1";
  r.rating = 4;
  REQUIRE(rig.ingest(batch({e, r})).ok());

  const auto events = rig.drain(2);
  REQUIRE(events.size() == 2);
  const Dictionary& d = rig.dictionary;
  CHECK(d.name(IdKind::user, events[0].user) == "u-1");
  CHECK(d.name(IdKind::product, events[0].product) == "p-1");
  CHECK(d.name(IdKind::category, events[0].category) == "c-1");
  CHECK(d.name(IdKind::device, events[0].device) == "mobile");
  CHECK(d.name(IdKind::location, events[0].location) == "Beijing");
  CHECK(events[0].price_minor == 1999);
  CHECK(events[0].quantity == 3);
  CHECK(events[0].type == EventType::purchase);
  CHECK(events[0].revenue_minor() == 5997);
  CHECK(d.name(IdKind::user, events[1].user) == "u-2");
  CHECK(events[1].product == events[0].product);
  CHECK(events[1].category == kNoId);
  CHECK(events[1].device == kNoId);
  CHECK(events[1].location == kNoId);
  CHECK(events[1].rating == 4);

  const auto records = rig.log_records();
  REQUIRE(records.size() == 2);
  CHECK(records[0].event_id == "evt-1");
  CHECK(records[0].session_id == "s-1");
  CHECK(records[0].event.user == events[0].user);
  CHECK(records[1].event_id.empty());
  CHECK(records[1].event.rating == 4);
}

TEST_CASE("new dictionary entries are stored with the append and reload in order", "[ingest][ingestor]") {
  Rig rig;
  REQUIRE(rig.ingestor->start().ok());
  RawEvent e = raw("alice");
  e.product_id = "p-9";
  REQUIRE(rig.ingest(batch({e, raw("bob"), raw("alice")})).ok());
  auto stored = rig.store->load_dictionary();
  REQUIRE(stored.ok());
  CHECK(stored->size() == 3);  // alice, bob, p-9: nothing twice

  REQUIRE(rig.ingest(batch({raw("bob"), raw("carol")})).ok());
  Dictionary reloaded;
  REQUIRE(load_dictionary(*rig.store, reloaded).ok());
  CHECK(reloaded.table(IdKind::user).size() == 3);
  for (const char* user : {"alice", "bob", "carol"}) {
    INFO(user);
    CHECK(reloaded.find(IdKind::user, user) == rig.dictionary.find(IdKind::user, user));
  }
  CHECK(reloaded.find(IdKind::product, "p-9") == rig.dictionary.find(IdKind::product, "p-9"));
  rig.drain(5);
}

TEST_CASE("each done callback runs exactly once with its own receipt", "[ingest][ingestor]") {
  Rig rig;
  REQUIRE(rig.ingestor->start().ok());
  std::vector<Completion> completions(5);
  for (std::size_t i = 0; i < completions.size(); ++i) {
    std::vector<RawEvent> events;
    for (std::size_t k = 0; k <= i; ++k) events.push_back(raw(numbered_user(k)));
    REQUIRE(rig.ingestor->submit(std::move(events), completions[i].callback()).ok());
  }
  Sequence expected_first = 1;
  for (std::size_t i = 0; i < completions.size(); ++i) {
    auto r = completions[i].wait();
    REQUIRE(r.ok());
    CHECK(r->accepted == i + 1);
    CHECK(r->first_sequence == expected_first);
    CHECK(r->last_sequence == expected_first + i);
    expected_first += i + 1;
  }
  rig.ingestor->stop();
  for (auto& c : completions) CHECK(c.calls->load() == 1);
  CHECK(rig.drain(15).size() == 15);
}

TEST_CASE("a batch may be submitted without a done callback", "[ingest][ingestor]") {
  Rig rig;
  REQUIRE(rig.ingestor->start().ok());
  REQUIRE(rig.ingestor->submit(batch({raw("a")}), nullptr).ok());
  CHECK(rig.drain(1).size() == 1);
}

TEST_CASE("a duplicate event_id inside one batch is skipped and counted", "[ingest][ingestor]") {
  Rig rig;
  REQUIRE(rig.ingestor->start().ok());
  auto r = rig.ingest(batch({raw("a", EventType::view, "e1"), raw("b", EventType::view, "e2"),
                             raw("c", EventType::view, "e1"), raw("d"), raw("e")}));
  REQUIRE(r.ok());
  CHECK(r->accepted == 4);
  CHECK(r->duplicates == 1);
  CHECK(r->first_sequence == 1);
  CHECK(r->last_sequence == 4);
  CHECK(rig.ingestor->stats().duplicate_events == 1);
  const auto events = rig.drain(4);
  REQUIRE(events.size() == 4);
  CHECK(rig.dictionary.name(IdKind::user, events[2].user) == "d");  // c was the duplicate
  CHECK_FALSE(rig.dictionary.find(IdKind::user, "c"));               // and was never interned
}

TEST_CASE("a duplicate event_id in a later batch is skipped and counted", "[ingest][ingestor]") {
  Rig rig;
  REQUIRE(rig.ingestor->start().ok());
  REQUIRE(rig.ingest(batch({raw("a", EventType::view, "e1")})).ok());
  auto again = rig.ingest(batch({raw("a", EventType::view, "e1")}));
  REQUIRE(again.ok());
  CHECK(again->accepted == 0);
  CHECK(again->duplicates == 1);
  CHECK(again->first_sequence == 0);
  CHECK(again->last_sequence == 0);
  auto mixed = rig.ingest(batch({raw("a", EventType::view, "e1"), raw("a", EventType::view, "e2")}));
  REQUIRE(mixed.ok());
  CHECK(mixed->accepted == 1);
  CHECK(mixed->duplicates == 1);
  CHECK(mixed->first_sequence == 2);
  const auto stats = rig.ingestor->stats();
  CHECK(stats.duplicate_events == 2);
  CHECK(stats.appended_events == 2);
  CHECK(rig.store->next_sequence() == 3);
  CHECK(rig.drain(2).size() == 2);
}

TEST_CASE("with a small id limit the oldest ids are forgotten first and the newest stay duplicates",
          "[ingest][ingestor]") {
  IngestConfig config;
  config.dedupe_max_ids = 2000;
  Rig rig(config, 1 << 16);
  REQUIRE(rig.ingestor->start().ok());
  auto ids = [](int from, int to) {
    std::vector<RawEvent> v;
    for (int i = from; i < to; ++i) v.push_back(raw("u", EventType::view, "id-" + std::to_string(i)));
    return v;
  };
  // Many more ids than the limit, so the set evicts (and shifts probe runs)
  // thousands of times.
  for (int from = 0; from < 20000; from += 500) {
    auto r = rig.ingest(ids(from, from + 500));
    REQUIRE(r.ok());
    REQUIRE(r->accepted == 500);
  }
  rig.drain(20000);
  auto newest = rig.ingest(ids(18000, 20000));
  REQUIRE(newest.ok());
  CHECK(newest->duplicates == 2000);
  CHECK(newest->accepted == 0);
  auto forgotten = rig.ingest(ids(15000, 16000));
  REQUIRE(forgotten.ok());
  CHECK(forgotten->accepted == 1000);
  CHECK(forgotten->duplicates == 0);
  // Those 1000 pushed out 18000..18999; 19000..19999 are still remembered.
  auto mixed = rig.ingest(ids(18500, 19500));
  REQUIRE(mixed.ok());
  CHECK(mixed->accepted == 500);
  CHECK(mixed->duplicates == 500);
  rig.drain(1500);
}

TEST_CASE("submit reads the caller's events and leaves them intact", "[ingest][ingestor]") {
  Rig rig;
  REQUIRE(rig.ingestor->start().ok());
  std::vector<RawEvent> events = batch({raw("alice", EventType::view, "e1"), raw("bob")});
  events[0].session_id = std::string(40, 's');  // beyond the small-string buffer
  Completion c;
  REQUIRE(rig.ingestor->submit(std::move(events), c.callback()).ok());
  REQUIRE(events.size() == 2);
  CHECK(events[0].user_id == "alice");
  CHECK(events[0].event_id == "e1");
  CHECK(events[0].session_id == std::string(40, 's'));
  CHECK(events[1].user_id == "bob");
  REQUIRE(c.wait().ok());
  const auto records = rig.log_records();
  REQUIRE(records.size() == 2);
  CHECK(records[0].session_id == std::string(40, 's'));
  rig.drain(2);
}

TEST_CASE("an id first seen in a batch still queued is interned once for every batch", "[ingest][ingestor]") {
  // Both batches are prepared before the ingest thread interns "new-user", so
  // both leave it to the ingest thread; it must get one id and one entry.
  Rig rig(IngestConfig{}, /*ring_capacity=*/2);
  REQUIRE(rig.ingestor->start().ok());
  std::vector<Completion> done(4);
  RawEvent first = raw("new-user");
  first.product_id = "p";
  // Three events into a ring of two: the ingest thread waits in the ring
  // while the next batches are submitted.
  REQUIRE(rig.ingestor->submit(batch({raw("a"), raw("b"), raw("a")}), done[0].callback()).ok());
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (rig.ring.size_approx() < rig.ring.capacity() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  REQUIRE(rig.ring.size_approx() == rig.ring.capacity());
  REQUIRE(rig.ingestor->submit(batch({first, raw("new-user")}), done[1].callback()).ok());
  REQUIRE(rig.ingestor->submit(batch({raw("new-user"), first}), done[2].callback()).ok());
  REQUIRE(rig.ingestor->submit(batch({raw("c")}), done[3].callback()).ok());
  const auto events = rig.drain(8);
  REQUIRE(events.size() == 8);
  for (auto& d : done) REQUIRE(d.wait().ok());
  const Id id = events[3].user;
  CHECK(id == 3);
  CHECK(rig.dictionary.name(IdKind::user, id) == "new-user");
  for (std::size_t i : {4, 5, 6}) CHECK(events[i].user == id);
  CHECK(events[3].product == events[6].product);
  CHECK(rig.dictionary.name(IdKind::user, events[7].user) == "c");
  CHECK(rig.dictionary.table(IdKind::user).size() == 4);
  auto stored = rig.store->load_dictionary();
  REQUIRE(stored.ok());
  CHECK(stored->size() == 5);  // a, b, new-user, c; p
  Dictionary reloaded;
  REQUIRE(load_dictionary(*rig.store, reloaded).ok());
  CHECK(reloaded.find(IdKind::user, "new-user") == Id{id});
}

TEST_CASE("events without an event_id are never treated as duplicates", "[ingest][ingestor]") {
  Rig rig;
  REQUIRE(rig.ingestor->start().ok());
  REQUIRE(rig.ingest(batch({raw("a"), raw("a")})).ok());
  auto r = rig.ingest(batch({raw("a")}));
  REQUIRE(r.ok());
  CHECK(r->accepted == 1);
  CHECK(r->duplicates == 0);
  rig.drain(3);
}

TEST_CASE("duplicates are still recognised after a restart on the same log", "[ingest][ingestor]") {
  Rig rig;
  REQUIRE(rig.ingestor->start().ok());
  REQUIRE(rig.ingest(batch({raw("a", EventType::view, "e1"), raw("b", EventType::click, "e2")})).ok());
  rig.ingestor->stop();
  rig.drain(2);

  // A new process: fresh dictionary loaded from the log, fresh ingestor.
  // Its dedupe table is recalled by start(), or before (as the application
  // does, while the dictionary is still loading: it needs no names).
  const bool recall_first = GENERATE(false, true);
  INFO("recall before the dictionary loads: " << recall_first);
  Dictionary dictionary;
  SpscRing<Event> ring(64);
  MetricsRegistry metrics;
  rig.clock.advance(60000);
  Ingestor restarted(IngestConfig{}, *rig.store, dictionary, ring, rig.clock, metrics);
  if (recall_first) REQUIRE(restarted.recall().ok());
  REQUIRE(load_dictionary(*rig.store, dictionary).ok());
  REQUIRE(restarted.start().ok());
  Completion c;
  REQUIRE(restarted
              .submit(batch({raw("a", EventType::view, "e1"), raw("c", EventType::view, "e3"),
                             raw("b", EventType::click, "e2")}),
                      c.callback())
              .ok());
  auto r = c.wait();
  REQUIRE(r.ok());
  CHECK(r->accepted == 1);
  CHECK(r->duplicates == 2);
  CHECK(r->first_sequence == 3);
  CHECK(dictionary.find(IdKind::user, "c") == Id{3});
  restarted.stop();
}

TEST_CASE("an event_id older than the dedupe window is accepted again", "[ingest][ingestor]") {
  IngestConfig config;
  config.dedupe_window_ms = 60000;
  Rig rig(config);
  REQUIRE(rig.ingestor->start().ok());
  REQUIRE(rig.ingest(batch({raw("a", EventType::view, "e1")})).ok());
  rig.clock.advance(60001);
  auto r = rig.ingest(batch({raw("a", EventType::view, "e1")}));
  REQUIRE(r.ok());
  CHECK(r->accepted == 1);
  CHECK(r->duplicates == 0);
  rig.drain(2);
}

TEST_CASE("a failing store fails the whole batch with io_error and appends nothing", "[ingest][ingestor]") {
  Rig rig;
  REQUIRE(rig.ingestor->start().ok());
  rig.faults->fail_appends = true;  // published to the ingest thread by submit's lock
  auto failed = rig.ingest(batch({raw("alice", EventType::view, "e1"), raw("bob")}));
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().code == Errc::io_error);
  CHECK(rig.store->next_sequence() == 1);
  CHECK(rig.log_records().empty());
  CHECK(rig.store->load_dictionary()->empty());
  CHECK(rig.ring.size_approx() == 0);
  auto stats = rig.ingestor->stats();
  CHECK(stats.append_failures == 1);
  CHECK(stats.appended_events == 0);
  CHECK(stats.last_sequence == 0);
}

TEST_CASE("after a store failure clears, the next batch succeeds and persists the earlier entries",
          "[ingest][ingestor]") {
  Rig rig;
  REQUIRE(rig.ingestor->start().ok());
  rig.faults->fail_appends = true;
  RawEvent first = raw("alice", EventType::view, "e1");
  first.product_id = "p-1";
  REQUIRE_FALSE(rig.ingest(batch({first, raw("bob")})).ok());

  rig.faults->fail_appends = false;
  // The retried event_id was never stored, so it is not a duplicate.
  auto ok = rig.ingest(batch({raw("carol"), raw("alice", EventType::view, "e1")}));
  REQUIRE(ok.ok());
  CHECK(ok->accepted == 2);
  CHECK(ok->duplicates == 0);
  CHECK(ok->first_sequence == 1);
  CHECK(ok->last_sequence == 2);

  Dictionary reloaded;
  REQUIRE(load_dictionary(*rig.store, reloaded).ok());
  for (const char* user : {"alice", "bob", "carol"}) {
    INFO(user);
    REQUIRE(reloaded.find(IdKind::user, user).has_value());
    CHECK(reloaded.find(IdKind::user, user) == rig.dictionary.find(IdKind::user, user));
  }
  CHECK(reloaded.find(IdKind::product, "p-1") == rig.dictionary.find(IdKind::product, "p-1"));
  const auto events = rig.drain(2);
  REQUIRE(events.size() == 2);
  CHECK(rig.dictionary.name(IdKind::user, events[0].user) == "carol");
  CHECK(rig.dictionary.name(IdKind::user, events[1].user) == "alice");
}

// The set-up of the full-queue cases: a ring of 2 that nobody drains holds
// the ingest thread, with the first batch taken and two more (8 events, the
// queue's capacity) waiting behind it.
struct FullQueue {
  IngestConfig config = [] {
    IngestConfig c;
    c.queue_capacity_events = 8;
    c.max_append_events = 4;
    return c;
  }();
  Rig rig{config, /*ring_capacity=*/2};
  std::vector<Completion> done = std::vector<Completion>(3);

  static std::vector<RawEvent> four(int from) {
    std::vector<RawEvent> v;
    for (int i = from; i < from + 4; ++i) v.push_back(raw(numbered_user(i)));
    return v;
  }
  FullQueue() {
    REQUIRE(rig.ingestor->start().ok());
    REQUIRE(rig.ingestor->submit(four(0), done[0].callback()).ok());
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (rig.ring.size_approx() < rig.ring.capacity() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
    REQUIRE(rig.ring.size_approx() == rig.ring.capacity());
    REQUIRE(rig.ingestor->submit(four(4), done[1].callback()).ok());
    REQUIRE(rig.ingestor->submit(four(8), done[2].callback()).ok());
    REQUIRE(rig.ingestor->stats().queued_events == 8);
  }
};

TEST_CASE("a full queue answers overloaded at once and loses nothing it accepted", "[ingest][ingestor]") {
  FullQueue full;
  Rig& rig = full.rig;
  const auto before = std::chrono::steady_clock::now();
  auto refused = rig.ingestor->submit(batch({raw("late")}), [](Result<IngestReceipt>) { FAIL("must not run"); });
  CHECK(std::chrono::steady_clock::now() - before < 30s);  // refused, not blocked until the ring drains (it never would)
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == Errc::overloaded);
  for (auto& d : full.done) CHECK(d.future.wait_for(0s) == std::future_status::timeout);

  const auto events = rig.drain(12);
  REQUIRE(events.size() == 12);
  for (std::size_t i = 0; i < events.size(); ++i) {
    CHECK(events[i].sequence == i + 1);
    CHECK(rig.dictionary.name(IdKind::user, events[i].user) == numbered_user(i));
  }
  for (auto& d : full.done) CHECK(d.wait().ok());
  CHECK(rig.ingestor->submit(batch({raw("after")}), nullptr).ok());
  CHECK(rig.drain(1).size() == 1);
}

TEST_CASE("a submitter refused as overloaded waits for room and is woken when the ingest thread takes from the queue",
          "[ingest][ingestor]") {
  FullQueue full;
  Rig& rig = full.rig;
  // No room, and a deadline already passed: false at once.
  CHECK_FALSE(rig.ingestor->wait_for_room(1, std::chrono::steady_clock::now()));
  const auto started = std::chrono::steady_clock::now();
  auto waiter = std::async(std::launch::async, [&] {
    return rig.ingestor->wait_for_room(4, std::chrono::steady_clock::now() + 60s);
  });
  // The queue cannot shrink while the ring is full: the waiter is still waiting.
  CHECK(waiter.wait_for(0s) == std::future_status::timeout);
  // Draining the first batch lets the ingest thread take the next one from
  // the queue (max_append_events = 4), which makes room for 4.
  REQUIRE(rig.drain(4).size() == 4);
  REQUIRE(waiter.wait_for(30s) == std::future_status::ready);
  CHECK(waiter.get());
  CHECK(std::chrono::steady_clock::now() - started < 30s);  // woken, not at its 60 s deadline
  REQUIRE(rig.ingestor->submit(FullQueue::four(12), nullptr).ok());
  const auto events = rig.drain(12);
  REQUIRE(events.size() == 12);
  for (std::size_t i = 0; i < events.size(); ++i) CHECK(rig.dictionary.name(IdKind::user, events[i].user) == numbered_user(i + 4));
  for (auto& d : full.done) CHECK(d.wait().ok());
}

TEST_CASE("stop wakes a submitter waiting for room, with false", "[ingest][ingestor]") {
  FullQueue full;
  Rig& rig = full.rig;
  auto waiter = std::async(std::launch::async, [&] {
    return rig.ingestor->wait_for_room(4, std::chrono::steady_clock::now() + 60s);
  });
  CHECK(waiter.wait_for(0s) == std::future_status::timeout);
  // stop() finishes what it accepted, so it needs the ring drained: it runs
  // beside the waiter, which it wakes at once.
  auto stopping = std::async(std::launch::async, [&] { rig.ingestor->stop(); });
  REQUIRE(waiter.wait_for(30s) == std::future_status::ready);
  CHECK_FALSE(waiter.get());
  CHECK(rig.drain(12).size() == 12);
  REQUIRE(stopping.wait_for(30s) == std::future_status::ready);
  for (auto& d : full.done) CHECK(d.wait().ok());
}

TEST_CASE("a batch larger than the whole queue is refused as too large", "[ingest][ingestor]") {
  IngestConfig config;
  config.queue_capacity_events = 2;
  Rig rig(config);
  REQUIRE(rig.ingestor->start().ok());
  auto r = rig.ingestor->submit(batch({raw("a"), raw("b"), raw("c")}), nullptr);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::payload_too_large);
}

TEST_CASE("stop finishes every accepted batch before it returns", "[ingest][ingestor]") {
  Rig rig(IngestConfig{}, 1 << 14);
  REQUIRE(rig.ingestor->start().ok());
  std::vector<Completion> done(20);
  for (std::size_t i = 0; i < done.size(); ++i) {
    std::vector<RawEvent> events(50, raw(numbered_user(i)));
    REQUIRE(rig.ingestor->submit(std::move(events), done[i].callback()).ok());
  }
  rig.ingestor->stop();
  for (auto& d : done) {
    REQUIRE(d.future.wait_for(0s) == std::future_status::ready);
    CHECK(d.future.get().ok());
    CHECK(d.calls->load() == 1);
  }
  CHECK(rig.store->next_sequence() == 1001);
  CHECK(rig.ring.size_approx() == 1000);
  CHECK_FALSE(rig.ingestor->stats().running);
}

TEST_CASE("submit is refused as unavailable before start and after stop", "[ingest][ingestor]") {
  Rig rig;
  auto before = rig.ingestor->submit(batch({raw("a")}), nullptr);
  REQUIRE_FALSE(before.ok());
  CHECK(before.error().code == Errc::unavailable);
  REQUIRE(rig.ingestor->start().ok());
  CHECK(rig.ingestor->stats().running);
  rig.ingestor->stop();
  auto after = rig.ingestor->submit(batch({raw("a")}), nullptr);
  REQUIRE_FALSE(after.ok());
  CHECK(after.error().code == Errc::unavailable);
  CHECK(rig.store->next_sequence() == 1);
}

TEST_CASE("the ingestor reports its counters as metrics", "[ingest][ingestor]") {
  Rig rig;
  REQUIRE(rig.ingestor->start().ok());
  REQUIRE(rig.ingest(batch({raw("a", EventType::view, "x"), raw("b", EventType::view, "x")})).ok());
  rig.drain(1);
  const std::string text = rig.metrics.render_prometheus();
  CHECK(text.find("shoppulse_ingest_events_total 1\n") != std::string::npos);
  CHECK(text.find("shoppulse_ingest_duplicates_total 1\n") != std::string::npos);
  CHECK(text.find("shoppulse_ring_capacity 4096\n") != std::string::npos);
}

TEST_CASE("the ingestor times its queue and its appends and hands each appended batch to the freshness meter",
          "[ingest][ingestor][freshness]") {
  MetricsRegistry meter_metrics;  // outlives the rig's ingestor, which holds the meter
  FreshnessMeter meter(meter_metrics);
  IngestConfig config;
  config.freshness = &meter;
  Rig rig(config);
  REQUIRE(rig.ingestor->start().ok());
  const auto first = rig.ingest(batch({raw("a", EventType::view, "x"), raw("b")}));
  const auto repeat = rig.ingest(batch({raw("c", EventType::view, "x")}));  // all duplicate: no append
  const auto second = rig.ingest(batch({raw("d"), raw("e")}));
  REQUIRE(first.ok());
  REQUIRE(repeat.ok());
  REQUIRE(second.ok());
  CHECK(repeat->accepted == 0);
  REQUIRE(rig.drain(4).size() == 4);
  meter.published(first->last_sequence - 1);
  CHECK(meter.measured() == 0);
  meter.published(first->last_sequence);
  CHECK(meter.measured() == 1);
  meter.published(second->last_sequence);
  CHECK(meter.measured() == 2);
  CHECK(meter.unmeasured() == 0);
  const std::string text = rig.metrics.render_prometheus();
  CHECK(text.find("shoppulse_ingest_queue_seconds_count 3\n") != std::string::npos);
  CHECK(text.find("shoppulse_ingest_append_seconds_count 2\n") != std::string::npos);
  rig.ingestor->stop();
}

TEST_CASE("retention drops blocks older than the age limit counted back from the newest event", "[ingest]") {
  constexpr TimestampMs kDay = 86400000;
  IngestConfig config;
  config.retention_max_age_ms = 7 * kDay;
  config.retention_interval_ms = 1000;
  Rig rig(config);
  REQUIRE(rig.ingestor->start());
  auto at = [](std::string user, TimestampMs t) {
    RawEvent e = raw(std::move(user));
    e.time_ms = t;
    return e;
  };
  // A historical data set, years before the wall clock: nothing is dropped on
  // arrival because its age counts from its own newest event.
  const TimestampMs history = kNow - 2000 * kDay;
  REQUIRE(rig.ingest(batch({at("old", history - 10 * kDay)})));
  REQUIRE(rig.ingest(batch({at("recent", history)})));
  rig.drain(2);
  rig.clock.advance(2000);
  // Retention is checked at the top of each pass of the ingest thread, on the
  // injected clock. Two empty batches, the second sent once the first is
  // done: the pass that takes the second began after the clock moved, so
  // retention has run by the time it completes.
  REQUIRE(rig.ingest({}));
  REQUIRE(rig.ingest({}));
  CHECK(rig.store->stats().first_sequence == 2);
  CHECK(rig.store->stats().last_sequence == 2);
  rig.ingestor->stop();
}

TEST_CASE("source offsets are appended with the events of their batch, and alone when every event is a duplicate",
          "[ingest][ingestor]") {
  Rig rig;
  REQUIRE(rig.ingestor->start().ok());
  const auto ingest_with = [&](std::vector<RawEvent> events, std::vector<SourceOffset> offsets) {
    Completion c;
    REQUIRE(rig.ingestor->submit(std::move(events), c.callback(), std::move(offsets)).ok());
    return c.wait();
  };
  auto first = ingest_with(batch({raw("alice", EventType::view, "e1"), raw("bob", EventType::view, "e2")}),
                           {{"kafka/t/0", 5}, {"kafka/t/1", 2}});
  REQUIRE(first.ok());
  CHECK(first->accepted == 2);
  CHECK(*rig.store->load_source_offsets() == std::vector<SourceOffset>{{"kafka/t/0", 5}, {"kafka/t/1", 2}});

  auto repeat = ingest_with(batch({raw("alice", EventType::view, "e1")}), {{"kafka/t/0", 6}});
  REQUIRE(repeat.ok());
  CHECK(repeat->accepted == 0);
  CHECK(repeat->duplicates == 1);
  CHECK(rig.store->next_sequence() == 3);
  CHECK(*rig.store->load_source_offsets() == std::vector<SourceOffset>{{"kafka/t/0", 6}, {"kafka/t/1", 2}});

  auto none = ingest_with({}, {{"kafka/t/1", 3}});
  REQUIRE(none.ok());
  CHECK(*rig.store->load_source_offsets() == std::vector<SourceOffset>{{"kafka/t/0", 6}, {"kafka/t/1", 3}});
  CHECK(rig.drain(2).size() == 2);
}

TEST_CASE("a failed append stores none of its batch's source offsets", "[ingest][ingestor]") {
  Rig rig;
  REQUIRE(rig.ingestor->start().ok());
  rig.faults->fail_appends = true;
  Completion c;
  REQUIRE(rig.ingestor->submit(batch({raw("alice")}), c.callback(), {{"kafka/t/0", 1}}).ok());
  CHECK_FALSE(c.wait().ok());
  CHECK(rig.store->load_source_offsets()->empty());
}

TEST_CASE("after a chained batch fails, the later batches of its chain are not appended even on a healthy store",
          "[ingest][ingestor]") {
  IngestConfig config;
  config.max_append_events = 1;  // each single-event batch is its own append
  Rig rig(config);
  REQUIRE(rig.ingestor->start().ok());
  rig.faults->fail_appends = true;  // published to the ingest thread by submit's lock
  auto chain = std::make_shared<IngestChain>();
  Completion first, second, third, unchained;
  // The store heals as soon as the first append has failed: on the ingest
  // thread, before it takes the next batch.
  REQUIRE(rig.ingestor
              ->submit(batch({raw("alice", EventType::view, "e1")}),
                       [&, cb = first.callback()](Result<IngestReceipt> r) {
                         rig.faults->fail_appends = false;
                         cb(std::move(r));
                       },
                       {{"kafka/t/0", 1}}, chain)
              .ok());
  REQUIRE(rig.ingestor->submit(batch({raw("bob", EventType::view, "e2")}), second.callback(), {{"kafka/t/0", 2}}, chain)
              .ok());
  REQUIRE(rig.ingestor->submit(batch({raw("carol")}), unchained.callback(), {}, nullptr).ok());
  REQUIRE(rig.ingestor->submit(batch({raw("dave")}), third.callback(), {{"kafka/t/0", 3}}, chain).ok());

  auto failed = first.wait();
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().code == Errc::io_error);
  for (Completion* aborted : {&second, &third}) {
    auto r = aborted->wait();
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::unavailable);
  }
  // A batch outside the chain is not held back.
  REQUIRE(unchained.wait().ok());
  auto records = rig.log_records();
  REQUIRE(records.size() == 1);
  CHECK(rig.dictionary.name(IdKind::user, records[0].event.user) == "carol");
  CHECK(rig.store->load_source_offsets()->empty());

  // Handed again in order under a new chain, both are appended with their offsets.
  auto again = std::make_shared<IngestChain>();
  Completion retried_first, retried_second;
  REQUIRE(rig.ingestor->submit(batch({raw("alice", EventType::view, "e1")}), retried_first.callback(),
                               {{"kafka/t/0", 1}}, again)
              .ok());
  REQUIRE(rig.ingestor->submit(batch({raw("bob", EventType::view, "e2")}), retried_second.callback(),
                               {{"kafka/t/0", 2}}, again)
              .ok());
  REQUIRE(retried_first.wait().ok());
  REQUIRE(retried_second.wait().ok());
  records = rig.log_records();
  REQUIRE(records.size() == 3);
  CHECK(records[1].event_id == "e1");
  CHECK(records[2].event_id == "e2");
  CHECK(*rig.store->load_source_offsets() == std::vector<SourceOffset>{{"kafka/t/0", 2}});
  CHECK(rig.drain(3).size() == 3);
}

TEST_CASE("names expected ahead size the dictionary before the next batch, and change no id", "[ingest][ingestor]") {
  constexpr std::size_t kNames = 20'000, kBatch = 1000;
  const auto load = [&](Rig& rig) {
    REQUIRE(rig.ingestor->start().ok());
    for (std::size_t b = 0; b < kNames / kBatch; ++b) {
      std::vector<RawEvent> events;
      for (std::size_t i = b * kBatch; i < (b + 1) * kBatch; ++i) {
        events.push_back(raw("u" + std::to_string(i)));
        events.back().product_id = "p" + std::to_string(i);
      }
      REQUIRE(rig.ingest(std::move(events)).ok());
    }
    REQUIRE(rig.drain(kNames).size() == kNames);
  };
  Rig grown(IngestConfig{}, 1 << 15);
  load(grown);
  CHECK(grown.dictionary.table(IdKind::user).growths() >= 5);

  Rig sized(IngestConfig{}, 1 << 15);
  std::array<std::size_t, kIdKindCount> expected{};
  expected[static_cast<std::size_t>(IdKind::user)] = kNames;
  expected[static_cast<std::size_t>(IdKind::product)] = kNames;
  sized.ingestor->expect_names(expected);
  load(sized);
  CHECK(sized.dictionary.table(IdKind::user).growths() == 0);
  CHECK(sized.dictionary.table(IdKind::product).growths() == 0);
  CHECK(sized.dictionary.table(IdKind::category).memory_bytes() == grown.dictionary.table(IdKind::category).memory_bytes());
  for (std::size_t i = 0; i < kNames; i += 101) {
    CHECK(sized.dictionary.find(IdKind::user, "u" + std::to_string(i)) ==
          grown.dictionary.find(IdKind::user, "u" + std::to_string(i)));
    CHECK(sized.dictionary.find(IdKind::product, "p" + std::to_string(i)) ==
          grown.dictionary.find(IdKind::product, "p" + std::to_string(i)));
  }
}
