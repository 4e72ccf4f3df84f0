#pragma once
// Interns external IDs (strings) to dense integers, one table per IdKind,
// with a bound on how many stay in memory.
//
// Threading: exactly one writer thread (the ingest thread) calls intern(),
// restore() and evict(); any thread may call name(), find() and the
// *_locked lookups (under read_lock()). The writer changes the tables under
// an exclusive lock and reads them without one (it is their only writer);
// readers hold the lock shared and copy names out, so an eviction never
// frees memory a reader still looks at.
//
// Layout: names in an arena of 1 MiB blocks, each entry 4-byte aligned: a
// last-seen stamp (4 bytes, writer only), the id (4 bytes) and the name: a
// canonical decimal (digits, no leading zero, below 2^63) as a varint of
// its value, any other name as a varint length and the bytes (a 9-digit id
// takes 16 bytes instead of 20). Two open-addressing tables refer to the
// entries by a 32-bit reference (block and offset): one by name hash, of
// 8-byte slots (the hash's high 32 bits as a tag, which is also what the
// slot's home is computed from, then the reference), for intern and find;
// one by id, of 4-byte slots (the reference alone: a probe
// compares the entry's id), for name. Both are sized to a multiple of 8
// slots, not a power of two, at most 70 % full, and grow by half: 17-26
// bytes of slots per resident id plus the entry (about 32 bytes an id for
// the amplified Taobao file's 6.81 M ids after a restart, 37 with their
// digits spelt out, 51 with 8-byte id slots as well, 67 with tables of
// powers of two at most half full).
//
// Growth is incremental: a full table gets new, larger slot arrays, and
// each intern of a new name after that moves the entries of the next
// kMoveSlots slots of the old arrays into them (a name slot by its tag
// alone, an id slot by the id its entry holds), so no call rehashes the
// whole table (a 6.8 M-id table took 0.29 s, held every reader and the
// ingest thread behind it). Lookups meanwhile probe the new arrays and then
// the old; the old are freed once every slot is moved, long before the new
// arrays fill (a new name moves 16 old slots; the new arrays take half the
// resident count in new names before they are full again).
//
// Bound: with a DictionaryBacking (the event log's copy of every entry by
// id) and max_resident > 0, evict() drops the entries seen least recently
// once more than max_resident are in memory, keeping the newest three
// quarters. Before they leave memory their name -> id entries are stored in
// the backing and their names added to a Bloom filter of evicted names. An
// evicted id keeps its meaning: name() reads it back from the backing, and
// intern() of its string, when the filter says it may have been evicted,
// finds the old id there and admits it again. A string the filter has never
// seen is new: it costs no read and no write beyond its own entry. Ids are
// never reused.
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shoppulse/core/event.hpp"
#include "shoppulse/core/result.hpp"
#include "shoppulse/core/unforked_memory.hpp"

namespace shoppulse {

// An entry leaving memory.
struct EvictedName {
  Id id = kNoId;
  std::string value;
};

// Where the entries a table evicted can be found again: every entry ever
// interned, durable. Any thread.
class DictionaryBacking {
 public:
  virtual ~DictionaryBacking() = default;
  // The id stored for value; empty when value has none.
  virtual Result<std::optional<Id>> find_id(IdKind kind, std::string_view value) const = 0;
  // The value stored for id; empty when id has none.
  virtual Result<std::optional<std::string>> find_name(IdKind kind, Id id) const = 0;
  // Stores entries name -> id of kind, durably, so find_id finds them: the
  // ids about to be evicted.
  virtual Result<void> store_names(IdKind kind, std::span<const EvictedName> entries) = 0;
  // Calls fn with every name stored by store_names for kind (or found by
  // find_id otherwise): what the filter of evicted names is built from.
  virtual Result<void> scan_names(IdKind kind, const std::function<void(std::string_view)>& fn) const = 0;
};

// A Bloom filter of strings by their InternTable::hash: may say yes for a
// string never added, never no for one added. It grows without the strings:
// when its newest layer holds its capacity (about 10 bits a name, 1 % false
// yes when full) a layer twice as large is started, so the false yes rate
// stays under about 2 % in all. Not thread-safe; InternTable guards it.
class NameFilter {
 public:
  NameFilter() = default;
  // Room for capacity names in the first layer.
  explicit NameFilter(std::size_t capacity);
  void add(std::uint64_t hash);
  bool may_contain(std::uint64_t hash) const noexcept;
  std::size_t count() const noexcept;
  std::size_t memory_bytes() const noexcept;

 private:
  static constexpr unsigned kProbes = 7;
  struct Layer {
    std::vector<std::uint64_t> words;
    std::uint64_t bits = 0;
    std::size_t count = 0;
    std::size_t capacity = 0;
  };
  void add_layer(std::size_t capacity);
  std::vector<Layer> layers_;
};

class InternTable {
 public:
  InternTable();
  ~InternTable();
  InternTable(const InternTable&) = delete;
  InternTable& operator=(const InternTable&) = delete;

  // Any thread: the hash the table uses for value. Not stable across
  // versions; never store it.
  static std::uint64_t hash(std::string_view value) noexcept;

  // Writer thread, before any other call: where evicted entries are found
  // again, and the most ids kept in memory (0 = no bound; without a backing
  // nothing is ever evicted).
  void configure(IdKind kind, DictionaryBacking* backing, std::size_t max_resident);

  // Writer thread only. Returns the id and whether it was newly created. An
  // evicted string comes back with its old id (created = false). kNoId when
  // the backing could not be read (an I/O error): the string has no id yet.
  std::pair<Id, bool> intern(std::string_view value) { return intern_hashed(value, hash(value)); }
  // Same, with hash == hash(value) computed by the caller.
  std::pair<Id, bool> intern_hashed(std::string_view value, std::uint64_t hash);
  // Writer thread only: from hold_writes() to release_writes() the writer
  // holds the exclusive lock, so a run of new names (a batch of a large
  // catalogue has thousands) takes it once instead of once each, and a
  // reader looking names up meanwhile waits for the run once. Nothing in
  // between may wait for a reader. Readers that lock several tables lock
  // them in IdKind order, so a writer holding several must take them in
  // that order too: Dictionary::WriteHold does.
  void hold_writes() { held_ = std::unique_lock(mutex_); }
  void release_writes() noexcept {
    if (held_.owns_lock()) held_.unlock();
  }
  // Writer thread only: re-creates an entry loaded from storage, in any id
  // order; returns false for kNoId or an id or value already present.
  struct Restored {
    Id id = kNoId;
    std::string_view value;
  };
  bool restore(Id id, std::string_view value) {
    const Restored one{id, value};
    return restore_run(std::span<const Restored>(&one, 1)) == nullptr;
  }
  // Same for a run of entries (a start-up load restores millions): one lock
  // and at most one rehash for the run, and the slots of the next entries
  // requested ahead so that their cache misses overlap. Returns the first
  // entry refused (the ones before it are in), or nullptr when all are in.
  const Restored* restore_run(std::span<const Restored> run);
  // Writer thread only, before a run of restore(): room for `more` entries
  // beyond those present, so the run rehashes (and copies the tables) once
  // rather than at every doubling.
  void reserve(std::size_t more);
  // Writer thread only: room for `total` entries in all, as many as the
  // table will hold after a load whose distinct names were counted ahead
  // (`shoppulse import`), capped at what the resident bound lets the table
  // hold. The tables are made at that size at once instead of growing by
  // half again and again while they fill: no entry is moved twice and no
  // lookup probes two tables meanwhile. Nothing when they are that large
  // already.
  void expect_entries(std::size_t total);
  // Writer thread only, at start-up after configure(): fills the filter of
  // evicted names from the backing's name -> id entries (a start-up that
  // loads only the newest entries stores the others' first).
  Result<void> load_evicted_names();
  // Writer thread only: evicts the coldest entries when more than
  // max_resident are in memory. Every entry interned so far must be in the
  // backing. Returns the number evicted; an error (storing the evicted
  // names failed) evicts nothing.
  Result<std::size_t> evict();

  // Any thread. Empty for kNoId or an unknown id; reads the backing for an
  // evicted one.
  std::string name(Id id) const;
  // Any thread: the same name, copied into out (its capacity reused, so a
  // caller that keeps out across calls allocates nothing per call); a view
  // of out. For paths that name every event or every row.
  std::string_view name_into(Id id, std::string& out) const;
  // Any thread; reads the backing for a string not in memory.
  std::optional<Id> find(std::string_view value) const;

  // Any thread: a shared lock for a run of *_locked calls, which look at
  // the entries in memory only.
  std::shared_lock<std::shared_mutex> read_lock() const { return std::shared_lock(mutex_); }
  // kNoId when value is not in memory; hash == hash(value).
  Id find_hashed_locked(std::string_view value, std::uint64_t hash) const noexcept;
  // Hints the cache about the slot a lookup of hash starts at.
  void prefetch_locked(std::uint64_t hash) const noexcept;
  // Some time after prefetch_locked(hash): hints the cache about the name a
  // lookup of hash will compare with.
  void prefetch_name_locked(std::uint64_t hash) const noexcept;
  // Any thread: find_hashed_locked under its own lock.
  Id find_hashed(std::string_view value, std::uint64_t hash) const;

  // Any thread: number of ids handed out (the largest id).
  std::size_t size() const noexcept { return size_.load(std::memory_order_acquire); }
  // Any thread: ids in memory now.
  std::size_t resident() const noexcept { return resident_count_.load(std::memory_order_relaxed); }
  // Any thread: ids evicted so far, and lookups that went to the backing.
  std::uint64_t evicted_total() const noexcept { return evicted_total_.load(std::memory_order_relaxed); }
  std::uint64_t backing_reads() const noexcept { return backing_reads_.load(std::memory_order_relaxed); }
  // Any thread: heap bytes of the arena and both tables (updated after each change).
  std::size_t memory_bytes() const noexcept { return memory_bytes_.load(std::memory_order_relaxed); }
  // Any thread: the most entries one intern moved to grown slot arrays (at
  // most kMoveSlots; a growth never moves the whole table at once), and the
  // growths so far (incremental ones, and those of restore_run(), which
  // grows by half at least too).
  std::size_t most_moved_at_once() const noexcept { return most_moved_.load(std::memory_order_relaxed); }
  std::uint64_t growths() const noexcept { return growths_.load(std::memory_order_relaxed); }
  // Any thread: a growth is under way (the old slot arrays are still held,
  // and counted in memory_bytes()).
  bool growing() const noexcept { return growing_.load(std::memory_order_relaxed); }
  // Old slots an intern of a new name moves while the table grows.
  static constexpr std::size_t kMoveSlots = 16;

 private:
  static constexpr std::size_t kInitialSlots = 256;
  static constexpr std::size_t kArenaBlock = std::size_t{1} << 20;  // bytes per arena block

  // An entry's place: 1 + (block << 18 | offset / 4); 0 = none.
  using Ref = std::uint32_t;
  struct NameSlot {
    std::uint32_t tag = 0;  // hash >> 32
    Ref entry = 0;          // 0 = empty
  };
  // The arena and slot arrays live in memory a forked checkpoint writer
  // does not inherit (unforked_memory.hpp): no child reads names, and the
  // ingest thread writes slots and last-seen stamps all over them, which
  // would otherwise copy a page per write while a child lives.
  struct BlockRelease {
    std::size_t bytes = 0;
    void operator()(char* p) const noexcept { release_unforked(p, bytes); }
  };
  using Block = std::unique_ptr<char[], BlockRelease>;
  template <class T>
  using Slots = std::vector<T, UnforkedAllocator<T>>;
  // Everything an eviction replaces at once.
  struct Tables {
    std::vector<Block> arena;  // blocks never move
    std::size_t arena_used = 0;                  // bytes used in the newest block
    std::size_t arena_size = 0;                  // its size
    std::size_t arena_bytes = 0;
    Slots<NameSlot> names;  // a multiple of 8 slots, at most 70 % full
    Slots<Ref> ids;         // by id_home; same size as names; 0 = empty
    std::size_t resident = 0;     // entries, wherever their slots are
    // While growing: the arrays before the growth, whose slots from `moved`
    // on still hold entries not yet in names/ids. Empty otherwise.
    Slots<NameSlot> old_names;
    Slots<Ref> old_ids;
    std::size_t moved = 0;
    bool growing() const noexcept { return !old_ids.empty(); }

    char* at(Ref r) const noexcept {
      const Ref v = r - 1;
      return arena[v >> 18].get() + (std::size_t{v & 0x3ffff} << 2);
    }
  };

  // Caller holds the lock (or is the writer). The entry of value or of id,
  // null when not in memory.
  char* probe(const Tables& t, std::string_view value, std::uint64_t hash) const noexcept;
  char* probe_id(const Tables& t, Id id) const noexcept;
  static char* probe_names(const Tables& t, const Slots<NameSlot>& names, std::string_view value,
                           std::uint64_t hash) noexcept;
  static char* probe_ids(const Tables& t, const Slots<Ref>& ids, Id id) noexcept;
  // Writer, under the exclusive lock.
  static Ref append(Tables& t, Id id, std::string_view value, std::uint32_t stamp);
  static void insert(Tables& t, Id id, Ref entry, std::uint64_t hash);
  // An entry's slots in names and ids, without counting it.
  static void place(Tables& t, Id id, Ref entry, std::uint64_t hash);
  // A name slot again, at the home of its tag; an id's slot.
  static void place_name(Tables& t, NameSlot slot);
  static void place_id(Tables& t, Id id, Ref entry);
  // Every entry into new arrays of `slots` slots at once (start-up, eviction).
  static void rehash(Tables& t, std::size_t slots);
  // Starts an incremental growth to `slots` slots (finishing one under way).
  static void start_growth(Tables& t, std::size_t slots);
  // Moves the entries of up to `slots` old slots; returns the entries moved.
  static std::size_t move_some(Tables& t, std::size_t slots);
  static void finish_growth(Tables& t) { move_some(t, t.old_ids.size()); }
  void admit(std::string_view value, std::uint64_t hash, Id id);
  void update_memory() noexcept;
  std::uint32_t stamp() const noexcept { return static_cast<std::uint32_t>(clock_ >> 6); }

  mutable std::shared_mutex mutex_;
  std::unique_lock<std::shared_mutex> held_;  // writer only: owns the lock from hold_writes() on
  Tables t_;
  IdKind kind_ = IdKind::user;
  DictionaryBacking* backing_ = nullptr;
  std::size_t max_resident_ = 0;
  std::uint64_t clock_ = 0;  // writer only: interns so far
  NameFilter evicted_;  // names evicted so far; written under the exclusive lock
  std::atomic<std::size_t> size_{0};
  std::atomic<std::size_t> resident_count_{0};
  std::atomic<std::size_t> memory_bytes_{0};
  std::atomic<std::uint64_t> evicted_total_{0};
  mutable std::atomic<std::uint64_t> backing_reads_{0};
  std::atomic<std::size_t> most_moved_{0};
  std::atomic<std::uint64_t> growths_{0};
  std::atomic<bool> growing_{false};
};

class Dictionary {
 public:
  InternTable& table(IdKind kind) noexcept { return tables_[static_cast<std::size_t>(kind)]; }
  const InternTable& table(IdKind kind) const noexcept {
    return tables_[static_cast<std::size_t>(kind)];
  }
  // Writer thread, before use: every table's backing and bound (per table).
  void configure(DictionaryBacking* backing, std::size_t max_resident_per_kind) {
    for (std::size_t k = 0; k < kIdKindCount; ++k) tables_[k].configure(static_cast<IdKind>(k), backing, max_resident_per_kind);
  }
  std::string name(IdKind kind, Id id) const { return table(kind).name(id); }
  std::string_view name_into(IdKind kind, Id id, std::string& out) const { return table(kind).name_into(id, out); }
  std::optional<Id> find(IdKind kind, std::string_view v) const { return table(kind).find(v); }
  // Writer thread: InternTable::hold_writes() on every table in IdKind
  // order, released by release() or at the end of its scope.
  class WriteHold {
   public:
    explicit WriteHold(Dictionary& d) : d_(&d) {
      for (auto& t : d_->tables_) t.hold_writes();
    }
    ~WriteHold() { release(); }
    WriteHold(const WriteHold&) = delete;
    WriteHold& operator=(const WriteHold&) = delete;
    void release() noexcept {
      if (d_ == nullptr) return;
      for (auto& t : d_->tables_) t.release_writes();
      d_ = nullptr;
    }

   private:
    Dictionary* d_;
  };
  // Writer thread: InternTable::evict() of every table; the first error.
  Result<std::size_t> evict() {
    std::size_t n = 0;
    for (auto& t : tables_) {
      auto evicted = t.evict();
      if (!evicted) return evicted;
      n += *evicted;
    }
    return n;
  }
  // Any thread: the tables' memory_bytes() summed.
  std::size_t memory_bytes() const noexcept {
    std::size_t n = 0;
    for (const auto& t : tables_) n += t.memory_bytes();
    return n;
  }
  // Any thread: ids in memory, all tables.
  std::size_t resident() const noexcept {
    std::size_t n = 0;
    for (const auto& t : tables_) n += t.resident();
    return n;
  }
  std::uint64_t evicted_total() const noexcept {
    std::uint64_t n = 0;
    for (const auto& t : tables_) n += t.evicted_total();
    return n;
  }

 private:
  std::array<InternTable, kIdKindCount> tables_;
};

// Interns a RawEvent's strings the way the ingestor does, for offline tools
// (evaluation, benchmarks) that bypass the event log. Missing time becomes 0.
// Writer thread of the dictionary only.
Event intern_event(const RawEvent& raw, Dictionary& dictionary, Sequence sequence);

}  // namespace shoppulse
