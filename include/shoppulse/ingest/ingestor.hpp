#pragma once
// The ingestor: the single writer of the event log.
//
// Role: takes validated batches from any thread (HTTP I/O threads, the
// generator, importers) through a bounded queue, drops duplicate event_ids,
// interns IDs, assigns sequences and missing timestamps, appends to the event
// log in group commits, then pushes the events into the ring for the engine
// and completes each batch. Lifecycle: start() after the dictionary is loaded;
// stop() drains what was accepted, then joins. Threading: submit() from any
// thread, never blocks; it does the per-event work that needs no owner
// (hashing, lookups of known ids, packing) on the caller's thread. Everything
// else runs on the ingest thread, which owns the log writer, the sequence
// counter, the dedupe table, interning of new ids and the ring's producer
// side.
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "shoppulse/core/clock.hpp"
#include "shoppulse/core/dictionary.hpp"
#include "shoppulse/core/event.hpp"
#include "shoppulse/core/metrics.hpp"
#include "shoppulse/core/result.hpp"
#include "shoppulse/eventlog/storage.hpp"
#include "shoppulse/ring/spsc_ring.hpp"

namespace shoppulse {

class FreshnessMeter;

struct IngestConfig {
  std::size_t queue_capacity_events = 1u << 20;  // events waiting for the log; more → overloaded (503); events
  std::size_t max_append_events = 1u << 16;      // most events in one group commit; events
  std::int64_t dedupe_window_ms = 3600000;       // an event_id seen this recently is a duplicate; ms
  std::size_t dedupe_max_ids = 1u << 20;         // most event_ids remembered; ids
  std::int64_t max_future_ms = 300000;           // refuse timestamps later than now + this; ms
  // Retention runs on the ingest thread, the log's only writer.
  std::int64_t retention_max_age_ms = 0;         // drop log blocks older than this, counted back from the newest event; 0 = keep; ms
  std::uint64_t retention_max_bytes = 0;         // drop oldest blocks while larger; 0 = unlimited; bytes
  std::int64_t retention_interval_ms = 60000;    // how often retention is applied; ms
  // Told of each appended batch once its events are in the ring (nullptr:
  // not measured); outlives the ingestor.
  FreshnessMeter* freshness = nullptr;
};

struct IngestReceipt {
  std::uint64_t accepted = 0;    // new events appended
  std::uint64_t duplicates = 0;  // events skipped as already seen
  Sequence first_sequence = 0;   // of the accepted events; 0 when none
  Sequence last_sequence = 0;
  // The log's incarnation (EventLog::incarnation()): the sequences name
  // these events only together with it.
  std::uint64_t incarnation = 0;
};

using IngestDone = std::function<void(Result<IngestReceipt>)>;

// Keeps one submitter's batches in order through a failed append, so that
// an external source may have several batches at the ingestor at once: once
// a batch of a chain fails, every later batch of that chain fails too
// (unavailable) without being appended, so no append gets ahead of a failed
// one. The submitter then hands the failed batches again, in their order,
// under a new chain. Created by the submitter; after submit() only the
// ingest thread reads or writes it.
struct IngestChain {
  bool broken = false;
};

struct IngestStats {
  std::uint64_t queued_events = 0;  // waiting for the log now
  std::uint64_t appended_events = 0;
  std::uint64_t duplicate_events = 0;
  std::uint64_t appends = 0;        // group commits
  std::uint64_t append_failures = 0;
  Sequence last_sequence = 0;
  bool running = false;
};

class Ingestor {
 public:
  Ingestor(IngestConfig config, EventLog& log, Dictionary& dictionary, SpscRing<Event>& ring, const Clock& clock,
           MetricsRegistry& metrics);
  ~Ingestor();
  Ingestor(const Ingestor&) = delete;
  Ingestor& operator=(const Ingestor&) = delete;

  // Rebuilds the dedupe table from the log's tail. Needs no dictionary, so it
  // may run while the dictionary loads, on any one thread, before start();
  // start() does it when it has not been done.
  Result<void> recall();
  // Starts the thread (after recall() unless done already).
  Result<void> start();
  // Stops taking batches, finishes those accepted, joins.
  void stop();

  // Any thread; never blocks. overloaded when the queue is full, unavailable
  // when stopped. On success, done (may be empty) runs later on the ingest
  // thread once the events are durable and handed to the engine.
  // The calling thread does the work that needs no owner: it hashes event
  // ids, resolves ids the dictionary already knows (lock-free reads) and
  // packs the batch compactly for the ingest thread. events is read, never
  // moved from, whatever the outcome, so a caller may reuse its buffers.
  Result<void> submit(std::vector<RawEvent>&& events, IngestDone done);
  // Same, and the source offsets go into the same append as the events (an
  // external source's exactly-once hand-off); with no events, an append of
  // just the offsets.
  Result<void> submit(std::vector<RawEvent>&& events, IngestDone done, std::vector<SourceOffset> offsets);
  // Same, as the next batch of chain (may be null: no chain).
  Result<void> submit(std::vector<RawEvent>&& events, IngestDone done, std::vector<SourceOffset> offsets,
                      std::shared_ptr<IngestChain> chain);

  // Any thread: blocks until a batch of `events` would fit the queue (the
  // ingest thread has taken enough from it), ingest stops, or deadline
  // passes; true when it would fit then. For a submitter refused with
  // overloaded that keeps its batch and submits it again: it wakes as soon
  // as there is room instead of polling. Another submitter may take the
  // room first, so submit() can still refuse.
  bool wait_for_room(std::size_t events, std::chrono::steady_clock::time_point deadline);

  // Any thread, before a load whose distinct names of each kind (indexed by
  // IdKind; 0 = not counted) were counted ahead: the ingest thread sizes
  // the dictionary's tables for them (InternTable::expect_entries) before
  // it processes the next batch, so they do not grow while the load fills
  // them. Changes no id; only the tables' size and when they are made.
  void expect_names(const std::array<std::size_t, kIdKindCount>& distinct);

  IngestStats stats() const;
  const IngestConfig& config() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Loads every stored dictionary entry into dictionary (before start()).
Result<void> load_dictionary(const EventLog& log, Dictionary& dictionary);
// Same, loading only the newest max_resident_per_kind entries of each kind
// when the log can look the others up (0 loads all): start-up with a
// bounded dictionary. The entries left on disk get their name -> id entries
// (once), and the dictionary's filters of evicted names are filled; the
// dictionary must be configured with the log's backing first.
Result<void> load_dictionary(EventLog& log, Dictionary& dictionary, std::size_t max_resident_per_kind);

// The event log as a bounded dictionary's backing: evicted entries are read
// back from the log's dictionary. Any thread; the log outlives it.
class EventLogDictionary final : public DictionaryBacking {
 public:
  explicit EventLogDictionary(EventLog& log) : log_(log) {}
  Result<std::optional<Id>> find_id(IdKind kind, std::string_view value) const override;
  Result<std::optional<std::string>> find_name(IdKind kind, Id id) const override;
  Result<void> store_names(IdKind kind, std::span<const EvictedName> entries) override;
  Result<void> scan_names(IdKind kind, const std::function<void(std::string_view)>& fn) const override;

 private:
  EventLog& log_;
};

}  // namespace shoppulse
