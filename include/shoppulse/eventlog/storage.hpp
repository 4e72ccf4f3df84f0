#pragma once
// The storage interface. shoppulse keeps one source of truth, the event log;
// everything else (windows, rollups, dictionaries, checkpoints) is derived and
// stored beside it. The embedded default is RocksDB (rocksdb_store.hpp); the
// Kafka, MongoDB and Redis adapters implement the same interfaces. No type here
// belongs to a storage technology.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shoppulse/core/event.hpp"
#include "shoppulse/core/result.hpp"

namespace shoppulse {

// A new entry of an intern table, made durable in the same write as the
// events that first used it.
struct DictionaryEntry {
  IdKind kind = IdKind::user;
  Id id = kNoId;
  std::string value;
};

// Where an external source stands: the next offset to read of one of its
// partitions (e.g. "kafka/user_behavior_events/2"). Stored in the same write
// as the events read before it, so a restart that resumes from the stored
// offsets neither loses nor repeats an event.
struct SourceOffset {
  std::string source;
  std::int64_t next_offset = 0;
  bool operator==(const SourceOffset&) const = default;
};

// One append: a block of events with contiguous sequences that are already
// assigned (records[i].event.sequence == first + i), the dictionary entries
// they introduced and the source offsets they advance (a later value for the
// same source replaces the earlier). Written atomically: all of it or nothing.
// An append with offsets and no records stores just the offsets.
struct AppendBatch {
  std::span<const LogRecord> records;
  std::span<const DictionaryEntry> new_entries;
  std::span<const SourceOffset> source_offsets{};
};

struct EventLogStats {
  Sequence first_sequence = 0;  // oldest retained; 0 when empty
  Sequence last_sequence = 0;   // newest; 0 when empty
  std::uint64_t blocks = 0;     // retained blocks
  std::uint64_t bytes = 0;      // estimated bytes on disk (all data)
  // Memory the store holds (0 where a store has no such part).
  std::uint64_t memtable_bytes = 0;       // write buffers, all column families
  std::uint64_t block_cache_bytes = 0;    // block cache in use (shared by the families)
  std::uint64_t table_readers_bytes = 0;  // index and filter blocks outside the cache
  std::uint64_t memory_budget_bytes = 0;  // what the parts above may hold together; 0: no bound
  Sequence synced_through = 0;  // every event through this is on stable storage
  // Empty while storage works; otherwise what is wrong, in words fit for a
  // client ("disk full: ..."), never a path. Cleared by the next write that
  // succeeds.
  std::string problem;
  // Empty unless the background scrub found a damaged table file: what it
  // found, and what to do. Stays until a later scrub finds the files sound.
  std::string damage;
  std::uint64_t scrubs = 0;               // completed scrubs since open
  std::uint64_t scrubbed_table_files = 0; // table files the last completed scrub checked
};

// Append-only, sequence-numbered log of events packed into blocks.
// Threading: append() and apply_retention() from one writer thread (the ingest
// thread); read(), stats(), load_dictionary() from any thread.
class EventLog {
 public:
  virtual ~EventLog() = default;

  // Durable according to the store's durability setting when it returns ok.
  virtual Result<void> append(const AppendBatch& batch) = 0;

  // Sequence the next appended event must carry: last_sequence + 1 (1 when empty).
  virtual Sequence next_sequence() const = 0;

  // Events logged after `through`, as of now: how far behind a follower of
  // the log that has handled everything up to `through` is.
  std::uint64_t logged_after(Sequence through) const {
    const Sequence last = next_sequence() - 1;
    return last > through ? last - through : 0;
  }

  // Calls fn with consecutive runs of records, in sequence order, starting at
  // the first retained record with sequence >= from. Stops early when fn
  // returns false.
  virtual Result<void> read(Sequence from,
                            const std::function<bool(std::span<const LogRecord>)>& fn) const = 0;

  // Every dictionary entry ever appended, in id order per kind.
  virtual Result<std::vector<DictionaryEntry>> load_dictionary() const = 0;

  // The newest `per_kind` entries of each kind (every entry when 0), in id
  // order per kind: what a bounded dictionary loads at start-up.
  virtual Result<std::vector<DictionaryEntry>> load_dictionary_newest(std::size_t per_kind) const {
    auto all = load_dictionary();
    if (!all || per_kind == 0) return all;
    std::vector<DictionaryEntry> out;
    std::size_t end = all->size();
    while (end > 0) {  // per kind, from the back: its last per_kind entries
      std::size_t begin = end;
      while (begin > 0 && (*all)[begin - 1].kind == (*all)[end - 1].kind) --begin;
      const std::size_t from = end - begin > per_kind ? end - per_kind : begin;
      out.insert(out.begin(), std::make_move_iterator(all->begin() + static_cast<std::ptrdiff_t>(from)),
                 std::make_move_iterator(all->begin() + static_cast<std::ptrdiff_t>(end)));
      end = begin;
    }
    return out;
  }

  // The newest `newest` entries of one kind (every entry when 0), in id
  // order. Calls for different kinds may run at once, each on its own
  // thread: what the start-up load does, one thread per kind.
  virtual Result<std::vector<DictionaryEntry>> load_dictionary_kind(IdKind kind, std::size_t newest) const {
    auto some = load_dictionary_newest(newest);
    if (!some) return some;
    std::erase_if(*some, [kind](const DictionaryEntry& e) { return e.kind != kind; });
    return some;
  }

  // The same entries as load_dictionary_kind, handed to fn a run at a time
  // (in id order) instead of gathered: a start-up load of millions restores
  // each run and never holds them all. fn's second argument is how many
  // entries the whole scan hands over, as far as the store knows ahead (0:
  // not known), for sizing tables once. Stops at fn's first error.
  using DictionaryRun = std::function<Result<void>(std::span<const DictionaryEntry>, std::size_t)>;
  virtual Result<void> scan_dictionary_kind(IdKind kind, std::size_t newest, const DictionaryRun& fn) const {
    auto some = load_dictionary_kind(kind, newest);
    if (!some) return std::move(some).error();
    return fn(*some, some->size());
  }

  // Whether find_dictionary_id/find_dictionary_name look entries up; a
  // dictionary may evict entries from memory only when they do.
  virtual bool looks_up_dictionary() const { return false; }
  // Any thread: the id stored for a dictionary value; empty when none.
  virtual Result<std::optional<Id>> find_dictionary_id(IdKind kind, std::string_view value) const {
    (void)kind;
    (void)value;
    return std::optional<Id>();
  }
  // Any thread: the value stored for a dictionary id; empty when none.
  virtual Result<std::optional<std::string>> find_dictionary_name(IdKind kind, Id id) const {
    (void)kind;
    (void)id;
    return std::optional<std::string>();
  }
  // Writer thread: stores name -> id reverse entries for ids a bounded
  // dictionary is about to evict (one write batch), so find_dictionary_id
  // finds them. Only evicted ids get one: a new id costs no extra write.
  virtual Result<void> store_dictionary_names(std::span<const DictionaryEntry> entries) {
    (void)entries;
    return {};
  }
  // Writer thread, at start-up: calls fn with the value of every reverse
  // entry of kind (the names evicted so far, in any order).
  virtual Result<void> scan_dictionary_names(IdKind kind, const std::function<void(std::string_view)>& fn) const {
    (void)kind;
    (void)fn;
    return {};
  }
  // Writer thread, at start-up with a bound: stores the reverse entry of
  // every id of each kind but its newest keep_per_kind (the ones a bounded
  // load leaves on disk), so those are found by name as an evicted id is.
  // Ids covered by an earlier call are skipped.
  virtual Result<void> complete_dictionary_names(std::size_t keep_per_kind) {
    (void)keep_per_kind;
    return {};
  }

  // The newest stored offset of every source, ordered by source name.
  virtual Result<std::vector<SourceOffset>> load_source_offsets() const = 0;

  virtual EventLogStats stats() const = 0;

  // The log's incarnation: a sequence names one event only together with
  // it. A new incarnation begins whenever a restart or a repair may have
  // lost acknowledged events, whose sequences are then given to new events.
  // 0 when the store does not track incarnations (it never loses them).
  virtual std::uint64_t incarnation() const { return 0; }

  // Whether `sequence`, acknowledged under `incarnation`, still names the
  // same event in this log: the incarnation is the current one, or an
  // earlier one that kept every event through `sequence`.
  virtual bool still_names_same_event(std::uint64_t incarnation, Sequence sequence) const {
    (void)sequence;
    return incarnation == this->incarnation();
  }

  // Drops whole blocks whose newest event is older than now - max_age, or
  // oldest-first while the log is larger than max_bytes (0 = unlimited).
  // Returns the number of events dropped.
  virtual Result<std::uint64_t> apply_retention(TimestampMs now, std::int64_t max_age_ms,
                                                std::uint64_t max_bytes) = 0;
};

// Per-minute rollups, keyed by minute (ms since epoch / 60000). The bytes are
// opaque here; the windows module encodes them.
// Threading: put() from one writer thread (the engine thread); scan() from any.
class RollupStore {
 public:
  virtual ~RollupStore() = default;
  virtual Result<void> put_minutes(std::span<const std::pair<std::int64_t, std::string>> minutes) = 0;
  // Calls fn(minute, bytes) for each stored minute in [from_minute, to_minute), ascending.
  virtual Result<void> scan_minutes(
      std::int64_t from_minute, std::int64_t to_minute,
      const std::function<void(std::int64_t, std::string_view)>& fn) const = 0;
  // Drops minutes older than before_minute.
  virtual Result<void> drop_minutes_before(std::int64_t before_minute) = 0;
};

// Named checkpoints of derived state: the state's bytes plus the log sequence
// they cover. Threading: any thread, one writer per name.
struct Checkpoint {
  Sequence covers_through = 0;  // every event with sequence <= this is included
  std::string bytes;
  // The log's incarnation when it was taken (EventLog::incarnation()); 0 when
  // unknown (written before incarnations were recorded, or a log without them).
  std::uint64_t incarnation = 0;
};
// Why `checkpoint` no longer describes a prefix of `log`, or empty when it
// still does: it covers sequences the log never had, or it was taken under an
// incarnation whose events through covers_through were not all kept (after a
// power loss or a repair, those sequences may name other events now). A
// checkpoint kept outside the log's own store (MongoDB) outlives both.
inline std::optional<std::string> checkpoint_outdated(const EventLog& log, const Checkpoint& checkpoint) {
  const Sequence last = log.next_sequence() - 1;
  if (checkpoint.covers_through > last)
    return "it covers sequence " + std::to_string(checkpoint.covers_through) + " but the log ends at " +
           std::to_string(last);
  if (checkpoint.incarnation != 0 && checkpoint.covers_through > 0 &&
      !log.still_names_same_event(checkpoint.incarnation, checkpoint.covers_through))
    return "it was taken under an incarnation of the log whose events through sequence " +
           std::to_string(checkpoint.covers_through) + " were not all kept";
  return std::nullopt;
}

// The longest prefix of `checkpoint` that still holds: the largest sequence
// <= covers_through that the log has and that still names the event it named
// when the checkpoint was taken. A follower of the log that sent events
// elsewhere (a topic, an archive) resumes after it, so events whose sequences
// were given to other events are sent again.
inline Sequence checkpoint_still_holds_through(const EventLog& log, const Checkpoint& checkpoint) {
  Sequence hi = std::min<Sequence>(checkpoint.covers_through, log.next_sequence() - 1);
  if (checkpoint.incarnation == 0 || hi == 0 || log.still_names_same_event(checkpoint.incarnation, hi)) return hi;
  // Whether a sequence still names its event is true up to some point and
  // false after it: find that point.
  Sequence lo = 0;  // holds (trivially)
  while (hi - lo > 1) {
    const Sequence mid = lo + (hi - lo) / 2;
    if (log.still_names_same_event(checkpoint.incarnation, mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

class CheckpointStore {
 public:
  virtual ~CheckpointStore() = default;
  virtual Result<void> put_checkpoint(std::string_view name, const Checkpoint& checkpoint) = 0;
  virtual Result<std::optional<Checkpoint>> get_checkpoint(std::string_view name) const = 0;

  // Fills dst with the next n bytes of a checkpoint being stored, or says
  // why they cannot be had (the process encoding it failed).
  using ByteSource = std::function<Result<void>(char* dst, std::size_t n)>;
  // put_checkpoint of a checkpoint of `size` bytes read from `read` as the
  // store needs them: a store that keeps large checkpoints in parts (RocksDB)
  // holds one part at a time, never the whole state. When a read fails
  // nothing is stored and its error is returned. By default the bytes are
  // read whole and handed to put_checkpoint.
  virtual Result<void> put_checkpoint_from(std::string_view name, Sequence covers_through, std::uint64_t incarnation,
                                           std::uint64_t size, const ByteSource& read) {
    Checkpoint checkpoint{covers_through, std::string(size, '\0'), incarnation};
    if (auto got = read(checkpoint.bytes.data(), checkpoint.bytes.size()); !got) return got;
    return put_checkpoint(name, checkpoint);
  }
};

// Cluster mode: the partition set a checkpoint `name` covers is kept beside
// it as the checkpoint "<name>.partitions" (covers_through, the set's text).
// It is written after the checkpoint; a checkpoint is used for a set only when
// the mark names that set and the same covers_through (a crash between the two
// writes leaves them apart, and the checkpoint is then not used).
inline std::string partition_mark_name(std::string_view name) { return std::string(name) + ".partitions"; }

inline Result<void> put_partition_mark(CheckpointStore& store, std::string_view name, Sequence covers_through,
                                       std::string set_text) {
  return store.put_checkpoint(partition_mark_name(name), Checkpoint{covers_through, std::move(set_text), 0});
}

// Why checkpoint `name` (covering through `covers_through`) is not one of
// `set_text`, or empty when it is.
inline std::optional<std::string> partition_mark_mismatch(const CheckpointStore& store, std::string_view name,
                                                          Sequence covers_through, std::string_view set_text) {
  auto mark = store.get_checkpoint(partition_mark_name(name));
  if (!mark) return "its partition mark cannot be read: " + mark.error().detail;
  if (!*mark) return std::string("it records no partition set");
  if ((*mark)->covers_through != covers_through) return std::string("its partition mark is of another checkpoint");
  if ((*mark)->bytes != set_text)
    return "it covers partitions " + (*mark)->bytes + ", not " + std::string(set_text);
  return std::nullopt;
}

// Why checkpoint `name` cannot seed derived state, or empty when it can: it
// no longer describes a prefix of `log` (checkpoint_outdated), or, in
// cluster mode (`set_text` given), it was not taken for that partition set.
inline std::optional<std::string> checkpoint_unusable(const EventLog& log, const CheckpointStore& store,
                                                      std::string_view name, const Checkpoint& checkpoint,
                                                      std::optional<std::string_view> set_text) {
  if (auto why = checkpoint_outdated(log, checkpoint)) return why;
  if (set_text) return partition_mark_mismatch(store, name, checkpoint.covers_through, *set_text);
  return std::nullopt;
}

// All three stores behind one handle, as one storage engine provides them.
class Storage : public EventLog, public RollupStore, public CheckpointStore {};

}  // namespace shoppulse
