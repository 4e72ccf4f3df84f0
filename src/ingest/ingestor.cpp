#include "shoppulse/ingest/ingestor.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "shoppulse/core/log.hpp"

namespace shoppulse {
namespace {

const Logger kLog("ingest");

std::uint64_t hash_event_id(std::string_view s) noexcept {
  // 64-bit FNV-1a with a final mix; collisions among the ids of one dedupe
  // window are negligible (about 1 in 3*10^7 at a million ids).
  std::uint64_t h = 1469598103934665603ULL;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

struct Pending {
  std::vector<RawEvent> events;
  IngestDone done;
};

}  // namespace

struct Ingestor::State {
  IngestConfig config;
  EventLog& log;
  Dictionary& dictionary;
  SpscRing<Event>& ring;
  const Clock& clock;

  Counter& appended_counter;
  Counter& duplicate_counter;
  Counter& append_failure_counter;

  std::mutex mutex;  // guards queue, queued_events, accepting, stopping
  std::condition_variable wake;
  std::deque<Pending> queue;
  std::size_t queued_events = 0;
  bool accepting = false;
  bool stopping = false;
  std::thread thread;

  // Ingest thread only.
  std::unordered_map<std::uint64_t, TimestampMs> seen_ids;
  std::deque<std::pair<std::uint64_t, TimestampMs>> seen_order;
  std::vector<DictionaryEntry> unpersisted_entries;  // interned but not yet durable
  TimestampMs newest_event_ms = 0;  // newest event time in the log, for retention

  std::atomic<std::uint64_t> appended{0}, duplicates{0}, appends{0}, failures{0};
  std::atomic<Sequence> last_sequence{0};
  std::atomic<std::size_t> queued_snapshot{0};

  State(IngestConfig c, EventLog& l, Dictionary& d, SpscRing<Event>& r, const Clock& k, MetricsRegistry& m)
      : config(c),
        log(l),
        dictionary(d),
        ring(r),
        clock(k),
        appended_counter(m.counter("shoppulse_ingest_events_total", "Events appended to the event log")),
        duplicate_counter(m.counter("shoppulse_ingest_duplicates_total", "Events skipped as duplicate event_id")),
        append_failure_counter(m.counter("shoppulse_ingest_append_failures_total", "Failed event log appends")) {
    m.gauge("shoppulse_ingest_queue_events", "Events waiting for the event log",
            [this] { return double(queued_snapshot.load(std::memory_order_relaxed)); });
    m.gauge("shoppulse_ring_occupancy", "Events in the ring between ingest and engine",
            [this] { return double(ring.size_approx()); });
    m.gauge("shoppulse_ring_capacity", "Ring capacity in events", [this] { return double(ring.capacity()); });
  }

  void remember(std::uint64_t id, TimestampMs now) {
    seen_ids[id] = now;
    seen_order.emplace_back(id, now);
  }

  void expire(TimestampMs now) {
    while (!seen_order.empty() &&
           (seen_order.front().second < now - config.dedupe_window_ms || seen_order.size() > config.dedupe_max_ids)) {
      auto [id, at] = seen_order.front();
      seen_order.pop_front();
      auto it = seen_ids.find(id);
      if (it != seen_ids.end() && it->second == at) seen_ids.erase(it);
    }
  }

  Id intern(IdKind kind, const std::string& value, std::vector<DictionaryEntry>& entries) {
    if (value.empty()) return kNoId;
    auto [id, created] = dictionary.table(kind).intern(value);
    if (created) entries.push_back({kind, id, value});
    return id;
  }

  void push_to_ring(std::span<const Event> events) {
    // The engine drains the ring continuously; while it is paused or behind,
    // this thread waits here and the bounded queue in front of it fills, so
    // callers get "overloaded" rather than silent loss.
    std::size_t done = 0;
    unsigned spins = 0;
    while (done < events.size()) {
      const std::size_t n = ring.push_some(events.subspan(done));
      done += n;
      if (n == 0) {
        if (++spins < 64) std::this_thread::yield();
        else std::this_thread::sleep_for(std::chrono::microseconds(200));
      } else {
        spins = 0;
      }
    }
  }

  void process(std::vector<Pending>& group) {
    const TimestampMs now = clock.now_ms();
    expire(now);
    std::vector<LogRecord> records;
    std::vector<Event> events;
    std::vector<DictionaryEntry> entries = unpersisted_entries;
    std::vector<IngestReceipt> receipts(group.size());
    std::unordered_set<std::uint64_t> group_ids;
    std::vector<std::uint64_t> new_ids;
    Sequence seq = log.next_sequence();
    std::size_t total = 0;
    for (const auto& p : group) total += p.events.size();
    records.reserve(total);
    events.reserve(total);
    for (std::size_t r = 0; r < group.size(); ++r) {
      IngestReceipt& receipt = receipts[r];
      for (RawEvent& raw : group[r].events) {
        if (!raw.event_id.empty()) {
          const std::uint64_t h = hash_event_id(raw.event_id);
          if (seen_ids.count(h) != 0 || !group_ids.insert(h).second) {
            ++receipt.duplicates;
            continue;
          }
          new_ids.push_back(h);
        }
        Event e;
        e.time_ms = raw.time_ms.value_or(now);
        e.sequence = seq++;
        e.price_minor = raw.price_minor;
        e.user = intern(IdKind::user, raw.user_id, entries);
        e.product = intern(IdKind::product, raw.product_id, entries);
        e.category = intern(IdKind::category, raw.category_id, entries);
        e.device = intern(IdKind::device, raw.device, entries);
        e.location = intern(IdKind::location, raw.location, entries);
        e.quantity = raw.quantity == 0 ? 1 : raw.quantity;
        e.type = raw.type;
        e.rating = raw.rating;
        if (receipt.accepted == 0) receipt.first_sequence = e.sequence;
        receipt.last_sequence = e.sequence;
        ++receipt.accepted;
        events.push_back(e);
        records.push_back(LogRecord{e, std::move(raw.event_id), std::move(raw.session_id)});
      }
    }
    if (!records.empty()) {
      auto appended_ok = log.append(AppendBatch{records, entries});
      appends.fetch_add(1, std::memory_order_relaxed);
      if (!appended_ok) {
        failures.fetch_add(1, std::memory_order_relaxed);
        append_failure_counter.add();
        // The ids were interned in memory; they must reach the log with the
        // next successful append.
        unpersisted_entries = std::move(entries);
        kLog.error("event log append failed", {{"detail", appended_ok.error().detail},
                                              {"events", std::to_string(records.size())}});
        Error err = appended_ok.error();
        for (auto& p : group)
          if (p.done) p.done(err);
        return;
      }
      unpersisted_entries.clear();
      for (const std::uint64_t h : new_ids) remember(h, now);
      last_sequence.store(records.back().event.sequence, std::memory_order_relaxed);
      for (const Event& e : events) newest_event_ms = std::max(newest_event_ms, e.time_ms);
      appended.fetch_add(records.size(), std::memory_order_relaxed);
      appended_counter.add(records.size());
      push_to_ring(events);
    }
    // Count duplicates before completing: a caller that reads stats or
    // metrics after its receipt must see its own batch counted.
    std::uint64_t dups = 0;
    for (const IngestReceipt& receipt : receipts) dups += receipt.duplicates;
    if (dups) {
      duplicates.fetch_add(dups, std::memory_order_relaxed);
      duplicate_counter.add(dups);
    }
    for (std::size_t r = 0; r < group.size(); ++r)
      if (group[r].done) group[r].done(receipts[r]);
  }

  void apply_retention() {
    if (config.retention_max_age_ms <= 0 && config.retention_max_bytes == 0) return;
    // Age counts back from the newest event, not the wall clock, so a
    // historical data set replayed into the log is not dropped on arrival.
    if (newest_event_ms == 0) return;
    auto dropped = log.apply_retention(newest_event_ms, config.retention_max_age_ms, config.retention_max_bytes);
    if (!dropped) kLog.warn("retention failed", {{"detail", dropped.error().detail}});
    else if (*dropped) kLog.info("retention dropped old events", {{"events", std::to_string(*dropped)}});
  }

  void run() {
    std::vector<Pending> group;
    TimestampMs last_retention = clock.now_ms();
    for (;;) {
      if (clock.now_ms() - last_retention >= config.retention_interval_ms) {
        apply_retention();
        last_retention = clock.now_ms();
      }
      {
        std::unique_lock lock(mutex);
        wake.wait_for(lock, std::chrono::seconds(1), [&] { return !queue.empty() || stopping; });
        if (queue.empty()) {
          if (stopping) break;  // stopping and drained
          continue;
        }
        std::size_t taken = 0;
        while (!queue.empty() && (group.empty() || taken + queue.front().events.size() <= config.max_append_events)) {
          taken += queue.front().events.size();
          group.push_back(std::move(queue.front()));
          queue.pop_front();
        }
        queued_events -= taken;
        queued_snapshot.store(queued_events, std::memory_order_relaxed);
      }
      process(group);
      group.clear();
    }
  }
};

Ingestor::Ingestor(IngestConfig config, EventLog& log, Dictionary& dictionary, SpscRing<Event>& ring,
                   const Clock& clock, MetricsRegistry& metrics)
    : state_(std::make_unique<State>(config, log, dictionary, ring, clock, metrics)) {}

Ingestor::~Ingestor() { stop(); }

const IngestConfig& Ingestor::config() const noexcept { return state_->config; }

Result<void> Ingestor::start() {
  State& s = *state_;
  if (s.thread.joinable()) return {};
  // Rebuild the dedupe table from the newest part of the log.
  const Sequence next = s.log.next_sequence();
  const Sequence from = next > s.config.dedupe_max_ids ? next - s.config.dedupe_max_ids : 1;
  // The log keeps event time, not when an event arrived, and the window is
  // about retries in wall time: every id of the tail counts as seen now, so
  // a retry across a restart is never taken twice (the window then runs from
  // the restart, bounded by dedupe_max_ids).
  const TimestampMs now = s.clock.now_ms();
  auto read = s.log.read(from, [&](std::span<const LogRecord> records) {
    for (const LogRecord& r : records) {
      s.newest_event_ms = std::max(s.newest_event_ms, r.event.time_ms);
      if (!r.event_id.empty()) s.remember(hash_event_id(r.event_id), now);
    }
    return true;
  });
  if (!read) return std::move(read).error();
  s.last_sequence.store(next - 1, std::memory_order_relaxed);
  {
    std::lock_guard lock(s.mutex);
    s.accepting = true;
    s.stopping = false;
  }
  s.thread = std::thread([&s] { s.run(); });
  return {};
}

void Ingestor::stop() {
  State& s = *state_;
  {
    std::lock_guard lock(s.mutex);
    s.accepting = false;
    s.stopping = true;
  }
  s.wake.notify_all();
  if (s.thread.joinable()) s.thread.join();
}

Result<void> Ingestor::submit(std::vector<RawEvent>&& events, IngestDone done) {
  State& s = *state_;
  const std::size_t n = events.size();
  {
    std::lock_guard lock(s.mutex);
    if (!s.accepting) return make_error(Errc::unavailable, "ingest is stopped");
    // A single batch larger than the whole queue could never be taken.
    if (n > s.config.queue_capacity_events)
      return make_error(Errc::payload_too_large, "batch of " + std::to_string(n) +
                                                     " events exceeds the ingest queue capacity of " +
                                                     std::to_string(s.config.queue_capacity_events));
    if (s.queued_events + n > s.config.queue_capacity_events)
      return make_error(Errc::overloaded, "ingest queue is full (" + std::to_string(s.queued_events) +
                                              " events waiting); retry later");
    s.queue.push_back(Pending{std::move(events), std::move(done)});
    s.queued_events += n;
    s.queued_snapshot.store(s.queued_events, std::memory_order_relaxed);
  }
  s.wake.notify_one();
  return {};
}

IngestStats Ingestor::stats() const {
  const State& s = *state_;
  IngestStats out;
  out.queued_events = s.queued_snapshot.load(std::memory_order_relaxed);
  out.appended_events = s.appended.load(std::memory_order_relaxed);
  out.duplicate_events = s.duplicates.load(std::memory_order_relaxed);
  out.appends = s.appends.load(std::memory_order_relaxed);
  out.append_failures = s.failures.load(std::memory_order_relaxed);
  out.last_sequence = s.last_sequence.load(std::memory_order_relaxed);
  out.running = s.thread.joinable();
  return out;
}

Result<void> load_dictionary(const EventLog& log, Dictionary& dictionary) {
  auto entries = log.load_dictionary();
  if (!entries) return std::move(entries).error();
  for (const DictionaryEntry& e : *entries) {
    if (!dictionary.table(e.kind).restore(e.id, e.value))
      return make_error(Errc::corrupt, "dictionary entry out of order: " + std::string(to_string(e.kind)) + " id " +
                                           std::to_string(e.id));
  }
  return {};
}

}  // namespace shoppulse
