#include "shoppulse/ingest/ingestor.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <limits>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string_view>
#include <thread>
#include <utility>

#include <pthread.h>

#include "shoppulse/core/log.hpp"
#include "shoppulse/core/prefetch.hpp"
#include "shoppulse/ingest/freshness.hpp"

namespace shoppulse {
namespace {

const Logger kLog("ingest");

std::uint64_t hash_event_id(std::string_view s) noexcept {
  // 64-bit FNV-1a with a final mix; collisions among the ids of one dedupe
  // window are negligible (about 1 in 3*10^7 at a million ids). Never 0,
  // which marks "no event_id" and an empty slot of the dedupe set.
  std::uint64_t h = 1469598103934665603ULL;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h == 0 ? 1 : h;
}

// One event as the submitting thread leaves it for the ingest thread: fixed
// size, its strings in the batch's text. Ids the dictionary already knew are
// resolved; the others are listed in Pending::unresolved, in event order and
// IdKind order within an event, so the ingest thread interns them in the
// same order as it would the raw strings.
struct PreparedEvent {
  TimestampMs time_ms = 0;
  std::int64_t price_minor = 0;
  std::uint64_t id_hash = 0;  // hash_event_id(event_id); 0 when it has none
  std::array<Id, kIdKindCount> ids{};  // by IdKind; kNoId when empty or unresolved
  std::uint32_t quantity = 1;
  std::uint32_t event_id_at = 0, event_id_size = 0;  // in Pending::text
  std::uint32_t session_at = 0, session_size = 0;
  EventType type = EventType::view;
  std::uint8_t rating = 0;
  bool has_time = false;
  std::uint8_t unresolved = 0;  // entries of Pending::unresolved for this event
};

struct UnresolvedId {
  std::uint64_t hash = 0;  // InternTable::hash of the string
  std::uint32_t at = 0, size = 0;  // in Pending::text
  IdKind kind = IdKind::user;
};

struct Pending {
  std::vector<PreparedEvent> events;
  std::vector<UnresolvedId> unresolved;
  std::string text;  // event ids, session ids and unresolved id strings
  IngestDone done;
  std::vector<SourceOffset> offsets;  // stored in the same append as the events
  std::shared_ptr<IngestChain> chain;  // null: in no chain
  std::chrono::steady_clock::time_point submitted;  // when submit() took it
};

const std::string& id_string(const RawEvent& e, std::size_t kind) noexcept {
  return name_of(e, static_cast<IdKind>(kind));
}

Id& id_field(Event& e, IdKind kind) noexcept {
  switch (kind) {
    case IdKind::user: return e.user;
    case IdKind::product: return e.product;
    case IdKind::category: return e.category;
    case IdKind::device: return e.device;
    case IdKind::location: return e.location;
  }
  return e.user;
}

// Runs on the submitting thread: everything about a batch that needs no
// owner. Reads the dictionary only (lock-free); a string found here keeps its
// id forever, one not found is interned later by the ingest thread.
Result<void> prepare(const std::vector<RawEvent>& raw, const Dictionary& dictionary, Pending& out) {
  std::uint64_t text_bytes = 0;
  for (const RawEvent& e : raw) {
    text_bytes += e.event_id.size() + e.session_id.size();
    for (std::size_t k = 0; k < kIdKindCount; ++k) text_bytes += id_string(e, k).size();
  }
  if (text_bytes > std::numeric_limits<std::uint32_t>::max())
    return make_error(Errc::payload_too_large, "batch of " + std::to_string(text_bytes) + " bytes of ids is too large");
  const std::size_t n = raw.size();
  out.events.resize(n);
  out.unresolved.clear();
  out.text.clear();
  out.text.reserve(static_cast<std::size_t>(text_bytes));
  auto put = [&out](const std::string& s, std::uint32_t& at, std::uint32_t& size) {
    at = static_cast<std::uint32_t>(out.text.size());
    size = static_cast<std::uint32_t>(s.size());
    out.text.append(s);
  };
  // In blocks: hash every id string of a block and prefetch its index slot,
  // then the names those slots point at, then look them up, so the lookups
  // overlap their cache misses instead of taking them one after another.
  constexpr std::size_t kBlock = 16;
  std::array<std::array<std::uint64_t, kIdKindCount>, kBlock> hashes;
  for (std::size_t base = 0; base < n; base += kBlock) {
    const std::size_t end = std::min(n, base + kBlock);
    // One shared lock per table and block: the ingest thread's inserts and
    // evictions wait at most for a block's lookups.
    std::array<std::shared_lock<std::shared_mutex>, kIdKindCount> locks;
    for (std::size_t k = 0; k < kIdKindCount; ++k) locks[k] = dictionary.table(static_cast<IdKind>(k)).read_lock();
    for (std::size_t i = base; i < end; ++i) {
      for (std::size_t k = 0; k < kIdKindCount; ++k) {
        const std::string& s = id_string(raw[i], k);
        if (s.empty()) continue;
        const std::uint64_t h = InternTable::hash(s);
        hashes[i - base][k] = h;
        dictionary.table(static_cast<IdKind>(k)).prefetch_locked(h);
      }
    }
    for (std::size_t i = base; i < end; ++i)
      for (std::size_t k = 0; k < kIdKindCount; ++k)
        if (!id_string(raw[i], k).empty())
          dictionary.table(static_cast<IdKind>(k)).prefetch_name_locked(hashes[i - base][k]);
    for (std::size_t i = base; i < end; ++i) {
      const RawEvent& e = raw[i];
      PreparedEvent& p = out.events[i];
      p.time_ms = e.time_ms.value_or(0);
      p.has_time = e.time_ms.has_value();
      p.price_minor = e.price_minor;
      p.quantity = e.quantity == 0 ? 1 : e.quantity;
      p.type = e.type;
      p.rating = e.rating;
      p.id_hash = e.event_id.empty() ? 0 : hash_event_id(e.event_id);
      put(e.event_id, p.event_id_at, p.event_id_size);
      put(e.session_id, p.session_at, p.session_size);
      p.unresolved = 0;
      for (std::size_t k = 0; k < kIdKindCount; ++k) {
        const std::string& s = id_string(e, k);
        p.ids[k] = kNoId;
        if (s.empty()) continue;
        const auto kind = static_cast<IdKind>(k);
        p.ids[k] = dictionary.table(kind).find_hashed_locked(s, hashes[i - base][k]);
        if (p.ids[k] != kNoId) continue;
        UnresolvedId& u = out.unresolved.emplace_back();
        u.hash = hashes[i - base][k];
        u.kind = kind;
        put(s, u.at, u.size);
        ++p.unresolved;
      }
    }
  }
  return {};
}

// The event ids remembered for dedupe: a flat open-addressing set of their
// hashes (0 marks an empty slot), linear probing, at most 5/8 full. Erasing
// shifts the rest of a probe run back instead of leaving tombstones, so a
// set under constant FIFO eviction does not degrade.
class IdSet {
 public:
  IdSet() { rehash(kMinSlots); }

  // false when h was already present.
  bool insert(std::uint64_t h) {
    if ((count_ + 1) * 8 > (mask_ + 1) * 5) rehash((mask_ + 1) * 2);
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      const std::uint64_t s = slots_[i];
      if (s == h) return false;
      if (s == 0) {
        slots_[i] = h;
        ++count_;
        return true;
      }
    }
  }

  void erase(std::uint64_t h) {
    std::size_t hole = h & mask_;
    for (;; hole = (hole + 1) & mask_) {
      const std::uint64_t s = slots_[hole];
      if (s == 0) return;
      if (s == h) break;
    }
    // A later member of the run moves into the hole when the hole lies
    // between its home slot and where it sits now.
    for (std::size_t j = (hole + 1) & mask_;; j = (j + 1) & mask_) {
      const std::uint64_t s = slots_[j];
      if (s == 0) break;
      if (((j - (s & mask_)) & mask_) >= ((j - hole) & mask_)) {
        slots_[hole] = s;
        hole = j;
      }
    }
    slots_[hole] = 0;
    --count_;
  }

  void prefetch(std::uint64_t h) const noexcept { shoppulse::prefetch(&slots_[h & mask_]); }
  std::size_t size() const noexcept { return count_; }

  // Gives memory back after a burst (a huge batch) once the set is small again.
  void shrink_to(std::size_t expected) {
    std::size_t want = kMinSlots;
    while (want * 5 < std::max(expected, count_ + 1) * 8) want *= 2;
    if (want * 4 <= mask_ + 1) rehash(want);
  }

 private:
  static constexpr std::size_t kMinSlots = 1024;

  void rehash(std::size_t slot_count) {
    std::vector<std::uint64_t> fresh(slot_count, 0);
    const std::size_t fresh_mask = slot_count - 1;
    for (const std::uint64_t s : slots_) {
      if (s == 0) continue;
      std::size_t i = s & fresh_mask;
      while (fresh[i] != 0) i = (i + 1) & fresh_mask;
      fresh[i] = s;
    }
    slots_.swap(fresh);
    mask_ = fresh_mask;
  }

  std::vector<std::uint64_t> slots_;
  std::size_t mask_ = 0;
  std::size_t count_ = 0;
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
  Histogram& queue_seconds;
  Histogram& append_seconds;

  std::mutex mutex;  // guards queue, queued_events, accepting (writes), stopping, room_waiters, expected_names
  std::condition_variable wake;
  std::condition_variable room;  // the queue shrank or ingest stopped; notified only while room_waiters > 0
  std::size_t room_waiters = 0;
  std::deque<Pending> queue;
  std::vector<Pending> spare;  // processed batches whose buffers the next submits reuse
  std::size_t spare_events = 0;  // their events' capacity
  std::size_t queued_events = 0;
  std::atomic<bool> accepting{false};  // also read without the lock, for a quick refusal
  bool stopping = false;
  std::optional<std::array<std::size_t, kIdKindCount>> expected_names;  // Ingestor::expect_names()
  std::thread thread;

  // Ingest thread only. seen holds exactly the ids of seen_order (oldest
  // first) plus, while a group is being processed, the group's new ids.
  IdSet seen;
  std::deque<std::pair<std::uint64_t, TimestampMs>> seen_order;
  std::vector<DictionaryEntry> unpersisted_entries;  // interned but not yet durable
  TimestampMs newest_event_ms = 0;  // newest event time in the log, for retention
  bool recalled = false;            // the dedupe table holds the log's tail (recall())
  // Per-group buffers, kept between groups so their memory is reused.
  std::vector<LogRecord> records;  // the first `n` are the group's
  std::vector<Event> events;
  std::vector<DictionaryEntry> entries;
  std::vector<SourceOffset> offsets;  // of the group, one per source
  std::vector<std::uint64_t> new_ids;
  std::vector<IngestReceipt> receipts;

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
        append_failure_counter(m.counter("shoppulse_ingest_append_failures_total", "Failed event log appends")),
        queue_seconds(m.histogram("shoppulse_ingest_queue_seconds",
                                  "From a batch's submission until the ingest thread takes it into a group commit (the "
                                  "submitting thread's preparation of it included)")),
        append_seconds(m.histogram("shoppulse_ingest_append_seconds",
                                   "One group commit's durable append to the event log")) {
    m.gauge("shoppulse_ingest_queue_events", "Events waiting for the event log",
            [this] { return double(queued_snapshot.load(std::memory_order_relaxed)); });
    m.gauge("shoppulse_ring_occupancy", "Events in the ring between ingest and engine",
            [this] { return double(ring.size_approx()); });
    m.gauge("shoppulse_ring_capacity", "Ring capacity in events", [this] { return double(ring.capacity()); });
  }

  void remember(std::uint64_t id, TimestampMs now) {
    if (seen.insert(id)) seen_order.emplace_back(id, now);
  }

  void expire(TimestampMs now) {
    // Oldest first: whatever left the window, then whatever is beyond the
    // id limit. Counted first so the set's slots can be prefetched ahead
    // of the erases (the evicted ids are cold).
    constexpr std::size_t kAhead = 16;
    const TimestampMs oldest = now - config.dedupe_window_ms;
    std::size_t evict = seen_order.size() > config.dedupe_max_ids ? seen_order.size() - config.dedupe_max_ids : 0;
    while (evict < seen_order.size() && seen_order[evict].second < oldest) ++evict;
    if (evict == 0) return;
    const auto begin = seen_order.begin();
    for (std::size_t k = 0; k < std::min(kAhead, evict); ++k) seen.prefetch(begin[static_cast<std::ptrdiff_t>(k)].first);
    for (std::size_t k = 0; k < evict; ++k) {
      if (k + kAhead < evict) seen.prefetch(begin[static_cast<std::ptrdiff_t>(k + kAhead)].first);
      seen.erase(begin[static_cast<std::ptrdiff_t>(k)].first);
    }
    seen_order.erase(begin, begin + static_cast<std::ptrdiff_t>(evict));
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

  // Fails, without appending them, the batches of chains that an earlier
  // failed append broke, and takes them out of group.
  void abort_broken(std::vector<Pending>& group) {
    const auto broken = [](const Pending& p) { return p.chain && p.chain->broken; };
    if (std::none_of(group.begin(), group.end(), broken)) return;
    std::vector<Pending> kept;
    for (Pending& p : group) {
      if (!broken(p)) {
        kept.push_back(std::move(p));
        continue;
      }
      if (p.done)
        p.done(make_error(Errc::unavailable, "not appended: an earlier batch of the same source failed to append"));
    }
    group.swap(kept);
  }

  void process(std::vector<Pending>& group) {
    constexpr std::size_t kAhead = 8;  // events between a dedupe prefetch and its lookup
    abort_broken(group);
    if (group.empty()) return;
    const auto began = std::chrono::steady_clock::now();
    for (const Pending& p : group) queue_seconds.observe(began - p.submitted);
    const TimestampMs now = clock.now_ms();
    expire(now);
    std::size_t total = 0;
    for (const auto& p : group) total += p.events.size();
    if (records.size() < total) records.resize(total);
    events.clear();
    events.reserve(total);
    entries = unpersisted_entries;
    offsets.clear();
    for (const auto& p : group) {
      for (const SourceOffset& o : p.offsets) {
        auto same = std::find_if(offsets.begin(), offsets.end(), [&](const SourceOffset& x) { return x.source == o.source; });
        if (same == offsets.end()) offsets.push_back(o);
        else same->next_offset = o.next_offset;
      }
    }
    new_ids.clear();
    IngestReceipt blank;
    blank.incarnation = log.incarnation();
    receipts.assign(group.size(), blank);
    Sequence seq = log.next_sequence();
    std::size_t n = 0;  // records of the group
    // The group's new names take each table's lock once (readers preparing
    // the next batches wait once, not once a name).
    Dictionary::WriteHold hold(dictionary);
    for (std::size_t r = 0; r < group.size(); ++r) {
      IngestReceipt& receipt = receipts[r];
      const Pending& p = group[r];
      const std::vector<PreparedEvent>& prepared = p.events;
      std::size_t u = 0;      // next entry of p.unresolved
      std::size_t asked = 0;  // entries of p.unresolved asked for so far
      for (std::size_t i = 0; i < prepared.size(); ++i) {
        if (i + kAhead < prepared.size() && prepared[i + kAhead].id_hash != 0)
          seen.prefetch(prepared[i + kAhead].id_hash);
        // Every name up to kAhead entries on is asked for: an event may
        // carry several, and one hint an event would fall behind the lookups.
        for (const std::size_t until = std::min(u + kAhead, p.unresolved.size()); asked < until; ++asked) {
          const UnresolvedId& q = p.unresolved[asked];
          dictionary.table(q.kind).prefetch_locked(q.hash);  // the writer needs no lock
        }
        const PreparedEvent& x = prepared[i];
        if (x.id_hash != 0) {
          // Inserted now, so a repeat later in the group is a duplicate too;
          // taken out again if the append fails.
          if (!seen.insert(x.id_hash)) {
            ++receipt.duplicates;
            u += x.unresolved;
            continue;
          }
          new_ids.push_back(x.id_hash);
        }
        Event e;
        e.time_ms = x.has_time ? x.time_ms : now;
        e.sequence = seq++;
        e.price_minor = x.price_minor;
        e.user = x.ids[static_cast<std::size_t>(IdKind::user)];
        e.product = x.ids[static_cast<std::size_t>(IdKind::product)];
        e.category = x.ids[static_cast<std::size_t>(IdKind::category)];
        e.device = x.ids[static_cast<std::size_t>(IdKind::device)];
        e.location = x.ids[static_cast<std::size_t>(IdKind::location)];
        for (std::uint8_t k = 0; k < x.unresolved; ++k, ++u) {
          const UnresolvedId& q = p.unresolved[u];
          const std::string_view value(p.text.data() + q.at, q.size);
          const auto [id, created] = dictionary.table(q.kind).intern_hashed(value, q.hash);
          if (id == kNoId) {
            // An evicted string's id could not be read back: fail the group
            // rather than give the string a second id.
            hold.release();
            for (const std::uint64_t h : new_ids) seen.erase(h);
            unpersisted_entries = std::move(entries);
            failures.fetch_add(1, std::memory_order_relaxed);
            Error err = make_error(Errc::io_error, "dictionary: reading an evicted " + std::string(to_string(q.kind)) +
                                                       " id back from the event log failed");
            kLog.error("dictionary read failed", {{"kind", std::string(to_string(q.kind))}});
            for (auto& g : group)
              if (g.done) g.done(err);
            release_buffers();
            return;
          }
          if (created) entries.push_back({q.kind, id, std::string(value)});
          id_field(e, q.kind) = id;
        }
        e.quantity = x.quantity;
        e.type = x.type;
        e.rating = x.rating;
        if (receipt.accepted == 0) receipt.first_sequence = e.sequence;
        receipt.last_sequence = e.sequence;
        ++receipt.accepted;
        events.push_back(e);
        LogRecord& record = records[n++];
        record.event = e;
        record.event_id.assign(p.text.data() + x.event_id_at, x.event_id_size);
        record.session_id.assign(p.text.data() + x.session_at, x.session_size);
      }
    }
    hold.release();
    if (n != 0 || !offsets.empty()) {
      const auto append_began = std::chrono::steady_clock::now();
      auto appended_ok = log.append(AppendBatch{std::span<const LogRecord>(records.data(), n), entries, offsets});
      append_seconds.observe_since(append_began);
      appends.fetch_add(1, std::memory_order_relaxed);
      if (!appended_ok) {
        failures.fetch_add(1, std::memory_order_relaxed);
        append_failure_counter.add();
        // Nothing of the group is stored: its ids were not seen after all.
        for (const std::uint64_t h : new_ids) seen.erase(h);
        // The ids were interned in memory; they must reach the log with the
        // next successful append.
        unpersisted_entries = std::move(entries);
        kLog.error("event log append failed", {{"detail", appended_ok.error().detail},
                                              {"events", std::to_string(n)}});
        Error err = appended_ok.error();
        for (auto& p : group) {
          if (p.chain) p.chain->broken = true;  // set before any completion runs
          if (p.done) p.done(err);
        }
        release_buffers();
        return;
      }
      unpersisted_entries.clear();
      // Every id interned so far is in the log now, so the coldest may leave memory.
      if (auto evicted = dictionary.evict(); !evicted)
        kLog.warn("dictionary eviction failed; ids stay in memory", {{"error", evicted.error().detail}});
      for (const std::uint64_t h : new_ids) seen_order.emplace_back(h, now);
      expire(now);
      if (n != 0) last_sequence.store(records[n - 1].event.sequence, std::memory_order_relaxed);
      for (const Event& e : events) newest_event_ms = std::max(newest_event_ms, e.time_ms);
      appended.fetch_add(n, std::memory_order_relaxed);
      appended_counter.add(n);
      push_to_ring(events);
      if (config.freshness)
        for (std::size_t r = 0; r < group.size(); ++r)
          if (receipts[r].accepted != 0) config.freshness->handed(receipts[r].last_sequence, group[r].submitted);
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
    release_buffers();
  }

  // Keeps the per-group buffers for the next group unless one huge batch
  // blew them far past a normal group commit.
  void release_buffers() {
    const std::size_t keep = std::max<std::size_t>(config.max_append_events, 1) * 2;
    if (records.size() > keep) {
      records.clear();
      records.shrink_to_fit();
      events.clear();
      events.shrink_to_fit();
      new_ids.clear();
      new_ids.shrink_to_fit();
    }
    seen.shrink_to(std::min(seen_order.size() + keep, config.dedupe_max_ids + keep));
  }

  // Hands the group's buffers back for reuse by submit(), so a steady
  // stream of batches allocates (and page-faults) nothing per batch. Spare
  // and queued batches together never hold more events than a full queue,
  // so memory stays bounded by queue_capacity_events as before; batches of
  // unusual size are not kept.
  void recycle(std::vector<Pending>& group) {
    constexpr std::size_t kMaxSpareEvents = 1u << 16;  // per batch
    for (Pending& p : group) {
      p.done = nullptr;  // drop the callback's captures now, on this thread
      p.chain = nullptr;
      p.offsets.clear();
      p.unresolved.clear();
      p.text.clear();
    }
    {
      std::lock_guard lock(mutex);
      for (Pending& p : group) {
        const std::size_t room = p.events.capacity();
        if (room > kMaxSpareEvents || p.text.capacity() > kMaxSpareEvents * 64) continue;
        if (queued_events + spare_events + room > config.queue_capacity_events) break;
        spare_events += room;
        spare.push_back(std::move(p));
      }
    }
    group.clear();
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
#ifdef __linux__
    pthread_setname_np(pthread_self(), "sp-ingest");  // for top, perf and the benchmarks
#endif
    std::vector<Pending> group;
    std::optional<std::array<std::size_t, kIdKindCount>> expected;
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
        expected = std::exchange(expected_names, std::nullopt);
        std::size_t taken = 0;
        while (!queue.empty() && (group.empty() || taken + queue.front().events.size() <= config.max_append_events)) {
          taken += queue.front().events.size();
          group.push_back(std::move(queue.front()));
          queue.pop_front();
        }
        queued_events -= taken;
        queued_snapshot.store(queued_events, std::memory_order_relaxed);
        if (room_waiters != 0) room.notify_all();
      }
      if (expected) {  // before the group: its new names already go to tables of their final size
        for (std::size_t k = 0; k < kIdKindCount; ++k)
          if ((*expected)[k] != 0) dictionary.table(static_cast<IdKind>(k)).expect_entries((*expected)[k]);
        expected.reset();
      }
      process(group);
      recycle(group);
    }
  }
};

Ingestor::Ingestor(IngestConfig config, EventLog& log, Dictionary& dictionary, SpscRing<Event>& ring,
                   const Clock& clock, MetricsRegistry& metrics)
    : state_(std::make_unique<State>(config, log, dictionary, ring, clock, metrics)) {}

Ingestor::~Ingestor() { stop(); }

const IngestConfig& Ingestor::config() const noexcept { return state_->config; }

Result<void> Ingestor::recall() {
  State& s = *state_;
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
  s.expire(now);
  s.last_sequence.store(next - 1, std::memory_order_relaxed);
  s.recalled = true;
  return {};
}

Result<void> Ingestor::start() {
  State& s = *state_;
  if (s.thread.joinable()) return {};
  if (!s.recalled)
    if (auto r = recall(); !r) return r;
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
    s.room.notify_all();
  }
  s.wake.notify_all();
  if (s.thread.joinable()) s.thread.join();
}

void Ingestor::expect_names(const std::array<std::size_t, kIdKindCount>& distinct) {
  State& s = *state_;
  std::lock_guard lock(s.mutex);
  s.expected_names = distinct;
}

bool Ingestor::wait_for_room(std::size_t events, std::chrono::steady_clock::time_point deadline) {
  State& s = *state_;
  std::unique_lock lock(s.mutex);
  const auto fits = [&] { return s.queued_events + events <= s.config.queue_capacity_events; };
  ++s.room_waiters;
  s.room.wait_until(lock, deadline, [&] { return fits() || !s.accepting.load(std::memory_order_relaxed); });
  --s.room_waiters;
  return fits() && s.accepting.load(std::memory_order_relaxed);
}

Result<void> Ingestor::submit(std::vector<RawEvent>&& events, IngestDone done) {
  return submit(std::move(events), std::move(done), {});
}

Result<void> Ingestor::submit(std::vector<RawEvent>&& events, IngestDone done, std::vector<SourceOffset> offsets) {
  return submit(std::move(events), std::move(done), std::move(offsets), nullptr);
}

Result<void> Ingestor::submit(std::vector<RawEvent>&& events, IngestDone done, std::vector<SourceOffset> offsets,
                              std::shared_ptr<IngestChain> chain) {
  State& s = *state_;
  const std::size_t n = events.size();
  // Quick refusals without the lock, before any work on the batch; the
  // same conditions are checked again under the lock below.
  if (!s.accepting.load(std::memory_order_acquire)) return make_error(Errc::unavailable, "ingest is stopped");
  // A single batch larger than the whole queue could never be taken.
  if (n > s.config.queue_capacity_events)
    return make_error(Errc::payload_too_large, "batch of " + std::to_string(n) +
                                                   " events exceeds the ingest queue capacity of " +
                                                   std::to_string(s.config.queue_capacity_events));
  auto full = [&](std::size_t queued) {
    return make_error(Errc::overloaded,
                      "ingest queue is full (" + std::to_string(queued) + " events waiting); retry later");
  };
  if (const std::size_t queued = s.queued_snapshot.load(std::memory_order_relaxed);
      queued + n > s.config.queue_capacity_events)
    return full(queued);

  const auto submitted = std::chrono::steady_clock::now();
  Pending pending;
  {
    std::lock_guard lock(s.mutex);
    if (!s.spare.empty()) {
      pending = std::move(s.spare.back());
      s.spare.pop_back();
      s.spare_events -= pending.events.capacity();
    }
  }
  if (auto prepared = prepare(events, s.dictionary, pending); !prepared) return prepared;
  pending.done = std::move(done);
  pending.offsets = std::move(offsets);
  pending.chain = std::move(chain);
  pending.submitted = submitted;
  {
    std::lock_guard lock(s.mutex);
    if (!s.accepting.load(std::memory_order_relaxed)) return make_error(Errc::unavailable, "ingest is stopped");
    if (s.queued_events + n > s.config.queue_capacity_events) return full(s.queued_events);
    s.queue.push_back(std::move(pending));
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

namespace {

// Only the tables of these entries are touched: other kinds may be loading
// on other threads.
void reserve_for(std::span<const DictionaryEntry> entries, Dictionary& dictionary) {
  std::array<std::size_t, kIdKindCount> per_kind{};
  for (const DictionaryEntry& e : entries) ++per_kind[static_cast<std::size_t>(e.kind)];
  for (std::size_t k = 0; k < kIdKindCount; ++k)
    if (per_kind[k] != 0) dictionary.table(static_cast<IdKind>(k)).reserve(per_kind[k]);
}

Result<void> restore_entries(std::span<const DictionaryEntry> entries, Dictionary& dictionary) {
  // Runs of one kind go to its table whole (a kind's scan hands over only
  // its own; the whole-log load has each kind in one stretch).
  std::vector<InternTable::Restored> run;
  run.reserve(std::min<std::size_t>(entries.size(), 4096));
  for (std::size_t i = 0; i < entries.size();) {
    const IdKind kind = entries[i].kind;
    run.clear();
    for (; i < entries.size() && entries[i].kind == kind && run.size() < 4096; ++i)
      run.push_back({entries[i].id, entries[i].value});
    if (const InternTable::Restored* refused = dictionary.table(kind).restore_run(run))
      return make_error(Errc::corrupt, "dictionary entry repeated: " + std::string(to_string(kind)) + " id " +
                                           std::to_string(refused->id));
  }
  return {};
}

}  // namespace

Result<void> load_dictionary(const EventLog& log, Dictionary& dictionary) {
  auto entries = log.load_dictionary();
  if (!entries) return std::move(entries).error();
  reserve_for(*entries, dictionary);
  return restore_entries(*entries, dictionary);
}

Result<void> load_dictionary(EventLog& log, Dictionary& dictionary, std::size_t max_resident_per_kind) {
  const std::size_t limit = log.looks_up_dictionary() ? max_resident_per_kind : 0;
  // Each kind is its own table (and arena): the kinds load at once, each
  // read and restored on a thread of its own; users and products, millions
  // each on real data, take about the same time, so two cores halve the
  // load. The tables are not in use yet.
  std::array<Result<void>, kIdKindCount> results;
  const auto load_kind = [&](std::size_t k) {
    const auto kind = static_cast<IdKind>(k);
    bool sized = false;
    results[k] = log.scan_dictionary_kind(kind, limit, [&](std::span<const DictionaryEntry> run, std::size_t total) {
      if (!sized) dictionary.table(kind).reserve(std::max(total, run.size()));
      sized = true;
      return restore_entries(run, dictionary);
    });
  };
  {
    std::vector<std::jthread> threads;
    for (std::size_t k = 1; k < kIdKindCount; ++k) threads.emplace_back(load_kind, k);
    load_kind(0);
  }
  for (auto& r : results)
    if (!r) return std::move(r).error();
  if (limit == 0) return {};
  // The entries left on disk are found by name as evicted ones are, and the
  // filter of evicted names is filled from every such entry.
  if (auto named = log.complete_dictionary_names(limit); !named) return named;
  for (std::size_t k = 0; k < kIdKindCount; ++k)
    if (auto filled = dictionary.table(static_cast<IdKind>(k)).load_evicted_names(); !filled) return filled;
  return {};
}

Result<std::optional<Id>> EventLogDictionary::find_id(IdKind kind, std::string_view value) const {
  return log_.find_dictionary_id(kind, value);
}

Result<std::optional<std::string>> EventLogDictionary::find_name(IdKind kind, Id id) const {
  return log_.find_dictionary_name(kind, id);
}

Result<void> EventLogDictionary::store_names(IdKind kind, std::span<const EvictedName> entries) {
  std::vector<DictionaryEntry> named;
  named.reserve(entries.size());
  for (const EvictedName& e : entries) named.push_back({kind, e.id, e.value});
  return log_.store_dictionary_names(named);
}

Result<void> EventLogDictionary::scan_names(IdKind kind, const std::function<void(std::string_view)>& fn) const {
  return log_.scan_dictionary_names(kind, fn);
}

}  // namespace shoppulse
