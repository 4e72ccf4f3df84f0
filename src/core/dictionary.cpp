#include "shoppulse/core/dictionary.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>

#include "shoppulse/core/prefetch.hpp"

namespace shoppulse {
namespace {

constexpr std::uint64_t kMulA = 0x9e3779b97f4a7c15ULL;
constexpr std::uint64_t kMulB = 0xc2b2ae3d27d4eb4fULL;
constexpr std::uint64_t kMulC = 0x165667b19e3779f9ULL;

std::uint64_t load64(const char* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

std::uint64_t load32(const char* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Full 64x64 -> 128 product, high and low halves folded together.
std::uint64_t fold(std::uint64_t a, std::uint64_t b) noexcept {
  const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}

}  // namespace

std::uint64_t InternTable::hash(std::string_view value) noexcept {
  // Word-at-a-time: ids are short (a few to a few dozen bytes), so the cost
  // is one or two multiplies instead of one per byte.
  const char* p = value.data();
  std::size_t n = value.size();
  std::uint64_t h = kMulA ^ (static_cast<std::uint64_t>(n) * kMulB);
  while (n > 16) {
    h = fold(load64(p) ^ kMulB, load64(p + 8) ^ h);
    p += 16;
    n -= 16;
  }
  std::uint64_t a = 0, b = 0;
  if (n >= 8) {
    a = load64(p);
    b = load64(p + n - 8);
  } else if (n >= 4) {
    a = load32(p);
    b = load32(p + n - 4);
  } else if (n > 0) {
    a = (std::uint64_t{static_cast<unsigned char>(p[0])} << 16) |
        (std::uint64_t{static_cast<unsigned char>(p[n >> 1])} << 8) | static_cast<unsigned char>(p[n - 1]);
  }
  h = fold(a ^ kMulB, b ^ h ^ kMulC);
  return fold(h ^ kMulA, kMulC ^ value.size());
}

InternTable::InternTable() {
  rehash(t_, kInitialSlots);
  update_memory();
}

InternTable::~InternTable() = default;

NameFilter::NameFilter(std::size_t capacity) { add_layer(capacity); }

void NameFilter::add_layer(std::size_t capacity) {
  Layer layer;
  layer.capacity = std::max<std::size_t>(capacity, 64);
  layer.bits = (layer.capacity * 10 + 63) / 64 * 64;
  layer.words.assign(layer.bits / 64, 0);
  layers_.push_back(std::move(layer));
}

std::size_t NameFilter::count() const noexcept {
  std::size_t n = 0;
  for (const Layer& l : layers_) n += l.count;
  return n;
}

std::size_t NameFilter::memory_bytes() const noexcept {
  std::size_t n = 0;
  for (const Layer& l : layers_) n += l.words.capacity() * sizeof(std::uint64_t);
  return n;
}

namespace {

// The filter's probes come from a remix of the table's hash, so they do not
// follow the slot a name takes in the table.
std::pair<std::uint64_t, std::uint64_t> filter_hashes(std::uint64_t hash) noexcept {
  const std::uint64_t a = fold(hash ^ kMulC, kMulB);
  return {a, (a >> 29 | a << 35) | 1};
}

}  // namespace

void NameFilter::add(std::uint64_t hash) {
  if (layers_.empty() || layers_.back().count >= layers_.back().capacity)
    add_layer(layers_.empty() ? 0 : 2 * layers_.back().capacity);
  Layer& l = layers_.back();
  auto [h, step] = filter_hashes(hash);
  for (unsigned i = 0; i < kProbes; ++i, h += step) {
    const std::uint64_t bit = h % l.bits;
    l.words[bit / 64] |= std::uint64_t{1} << (bit % 64);
  }
  ++l.count;
}

bool NameFilter::may_contain(std::uint64_t hash) const noexcept {
  const auto [first, step] = filter_hashes(hash);
  for (const Layer& l : layers_) {
    if (l.count == 0) continue;
    std::uint64_t h = first;
    unsigned i = 0;
    for (; i < kProbes; ++i, h += step) {
      const std::uint64_t bit = h % l.bits;
      if ((l.words[bit / 64] & (std::uint64_t{1} << (bit % 64))) == 0) break;
    }
    if (i == kProbes) return true;
  }
  return false;
}

void InternTable::configure(IdKind kind, DictionaryBacking* backing, std::size_t max_resident) {
  kind_ = kind;
  backing_ = backing;
  max_resident_ = max_resident;
}

Result<void> InternTable::load_evicted_names() {
  if (backing_ == nullptr || max_resident_ == 0) return {};
  // A first layer of twice the bound: each eviction adds a quarter of it.
  // Made at the first name stored, not before: a kind that never evicted
  // (most, on most shops) keeps no filter (10 MB for the default bound).
  NameFilter filter;
  auto scanned = backing_->scan_names(kind_, [&](std::string_view name) {
    if (filter.memory_bytes() == 0) filter = NameFilter(2 * max_resident_);
    filter.add(hash(name));
  });
  if (!scanned) return std::move(scanned).error();
  {
    std::unique_lock lock(mutex_);
    evicted_ = std::move(filter);
  }
  update_memory();
  return {};
}

namespace {

constexpr std::size_t kStampBytes = sizeof(std::uint32_t);
constexpr std::size_t kHeaderBytes = kStampBytes + sizeof(Id);  // stamp, then id
constexpr std::size_t kMaxBlocks = std::size_t{1} << 14;      // what a Ref can name: 16 GiB of 1 MiB blocks

// An entry's name, after its stamp and id, starts with a varint (7 bits a
// byte, low bits first), its head. An even head is the name's length << 1,
// the bytes follow. An odd head is a decimal name's value << 1 | 1 and
// nothing follows: the digits are spelt again when read. Only a canonical
// decimal is stored so (digits only, no leading zero but "0" itself, below
// 2^63), so that spelling it gives back the very bytes interned: "007" and
// "7" stay two names. Numeric ids are the common case (Taobao's, REES46's):
// a 9-digit id takes a 5-byte head instead of a 1-byte length and 9 bytes.
constexpr std::size_t kMaxVarintBytes = 10;
constexpr std::size_t kMaxDecimalDigits = 19;

std::size_t put_varint(char* out, std::uint64_t n) noexcept {
  std::size_t i = 0;
  while (n >= 0x80) {
    out[i++] = static_cast<char>((n & 0x7f) | 0x80);
    n >>= 7;
  }
  out[i++] = static_cast<char>(n);
  return i;
}

std::uint64_t get_varint(const char*& p) noexcept {
  std::uint64_t n = 0;
  unsigned shift = 0;
  for (;;) {
    const auto b = static_cast<unsigned char>(*p++);
    n |= std::uint64_t{b & 0x7fu} << shift;
    if ((b & 0x80) == 0) return n;
    shift += 7;
  }
}

// Whether the 8 bytes of w (as loaded, the first in the low byte) are all
// ASCII digits: each byte's high nibble is 3, and adding 6 leaves it 3.
bool eight_digits(std::uint64_t w) noexcept {
  return ((w & 0xf0f0f0f0f0f0f0f0ULL) | (((w + 0x0606060606060606ULL) & 0xf0f0f0f0f0f0f0f0ULL) >> 4)) ==
         0x3333333333333333ULL;
}

// The value of 8 ASCII digits loaded as w: pairs, then quads, then the
// two quads, each step one multiply for all lanes.
std::uint64_t eight_digit_value(std::uint64_t w) noexcept {
  w -= 0x3030303030303030ULL;
  w = (w * 10 + (w >> 8)) & 0x00ff00ff00ff00ffULL;          // 2-digit values in 16-bit lanes
  w = (w * 100 + (w >> 16)) & 0x0000ffff0000ffffULL;        // 4-digit values in 32-bit lanes
  return (w * 10000 + (w >> 32)) & 0x00000000ffffffffULL;   // the 8-digit value
}

// The value of a canonical decimal name; nullopt for any other name. Eight
// digits at a time: a lookup parses the name it looks for once per entry
// its tag matches, and a digit at a time made find() of 9-digit names 40 %
// slower than comparing their bytes.
std::optional<std::uint64_t> decimal_value(std::string_view s) noexcept {
  if (s.empty() || s.size() > kMaxDecimalDigits || (s[0] == '0' && s.size() > 1)) return std::nullopt;
  const char* p = s.data();
  std::size_t n = s.size();
  std::uint64_t v = 0;  // 19 digits stay below 2^64
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, sizeof w);
    if (!eight_digits(w)) return std::nullopt;
    v = v * 100'000'000 + eight_digit_value(w);
    p += 8;
    n -= 8;
  }
  bool other = false;  // one test at the end: no branch a character
  for (; n > 0; --n, ++p) {
    const unsigned digit = static_cast<unsigned char>(*p) - unsigned{'0'};
    other |= digit > 9;
    v = v * 10 + digit;
  }
  if (other || (v >> 63) != 0) return std::nullopt;
  return v;
}

// Room to spell a decimal entry's name.
using DecimalText = std::array<char, kMaxDecimalDigits>;

// The name of an entry: a view of the arena, or of `text` for a decimal.
std::string_view read_entry(const char* entry, DecimalText& text) noexcept {
  const char* p = entry + kHeaderBytes;
  const std::uint64_t head = get_varint(p);
  if ((head & 1) == 0) return {p, static_cast<std::size_t>(head >> 1)};
  // Two digits a step: the divisions form one chain, and a chain of nine
  // held back the next lookups' cache misses (random names read at half
  // the rate of spelt ones).
  static constexpr char kPairs[] =
      "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
      "8081828384858687888990919293949596979899";
  std::uint64_t v = head >> 1;
  std::size_t i = text.size();
  while (v >= 100) {
    const std::uint64_t pair = v % 100;
    v /= 100;
    i -= 2;
    std::memcpy(&text[i], &kPairs[pair * 2], 2);
  }
  if (v >= 10) {
    i -= 2;
    std::memcpy(&text[i], &kPairs[v * 2], 2);
  } else {
    text[--i] = static_cast<char>('0' + v);
  }
  return {text.data() + i, text.size() - i};
}

// Whether an entry's name is `value`, without spelling a decimal.
bool entry_is(const char* entry, std::string_view value) noexcept {
  const char* p = entry + kHeaderBytes;
  const std::uint64_t head = get_varint(p);
  if ((head & 1) == 0)
    return (head >> 1) == value.size() && (value.empty() || std::memcmp(p, value.data(), value.size()) == 0);
  const std::optional<std::uint64_t> v = decimal_value(value);
  return v && *v == (head >> 1);
}

std::uint32_t read_stamp(const char* entry) noexcept {
  std::uint32_t s;
  std::memcpy(&s, entry, sizeof s);
  return s;
}

void write_stamp(char* entry, std::uint32_t s) noexcept { std::memcpy(entry, &s, sizeof s); }

Id read_id(const char* entry) noexcept {
  Id id;
  std::memcpy(&id, entry + kStampBytes, sizeof id);
  return id;
}

// Ids are handed out in order: four consecutive ids share a run of four
// slots (16 bytes of a cache line), so most new ids land on the line the
// previous one touched; the groups are scattered so that ids left after an
// eviction do not form long runs.
// Tables of any multiple of 8 slots (not only powers of two, which left a
// table of a few million ids between 35 % and 70 % empty): a 32-bit value
// is mapped onto [0, n) by the high half of its product with n.
std::size_t scale(std::uint64_t value32, std::size_t n) noexcept { return (value32 * n) >> 32; }

std::size_t id_home(Id id, std::size_t slots) noexcept {
  const std::uint64_t group = static_cast<std::uint64_t>(id) >> 2;
  return scale((group * kMulA) >> 32, slots / 4) * 4 + (id & 3);
}

// A name's first slot: the high half of its hash, which is also the tag a
// name slot keeps, so a growth or a rehash
// places a name slot again from the slot alone, without reading the entry
// or hashing its name. (A tag then tells apart only names whose homes are
// near, a false match in a few hundred: an entry compared for nothing.)
std::size_t tag_home(std::uint32_t tag, std::size_t slots) noexcept { return scale(tag, slots); }
std::size_t name_home(std::uint64_t hash, std::size_t slots) noexcept {
  return tag_home(static_cast<std::uint32_t>(hash >> 32), slots);
}

std::size_t next_slot(std::size_t i, std::size_t slots) noexcept { return i + 1 == slots ? 0 : i + 1; }

// Tables are at most 70 % full: an unsuccessful search (a new name) then
// probes about six slots, most on the line of the first.
bool over_full(std::size_t entries, std::size_t slots) noexcept { return entries * 10 > slots * 7; }

std::size_t slots_for(std::size_t entries) noexcept {
  const std::size_t slots = (entries * 10 + 6) / 7 + 1;  // at most 70 % full, one slot always empty
  return std::max<std::size_t>(256, (slots + 7) & ~std::size_t{7});
}

}  // namespace

InternTable::Ref InternTable::append(Tables& t, Id id, std::string_view value, std::uint32_t stamp) {
  const std::optional<std::uint64_t> decimal = decimal_value(value);
  const std::size_t bytes = decimal ? 0 : value.size();
  const std::size_t need = kHeaderBytes + kMaxVarintBytes + bytes;  // header, the longest head, bytes
  if (t.arena.empty() || need > t.arena_size - t.arena_used) {
    // A name longer than a block gets a block of its own.
    if (t.arena.size() >= kMaxBlocks) throw std::length_error("dictionary: more than 16 GiB of names of one kind");
    const std::size_t block = std::max(kArenaBlock, need);
    t.arena.push_back(Block(static_cast<char*>(allocate_unforked(block)), BlockRelease{block}));
    t.arena_used = 0;
    t.arena_size = block;
    t.arena_bytes += block;
  }
  char* entry = t.arena.back().get() + t.arena_used;
  write_stamp(entry, stamp);
  std::memcpy(entry + kStampBytes, &id, sizeof id);
  const std::size_t prefix =
      put_varint(entry + kHeaderBytes, decimal ? (*decimal << 1 | 1) : std::uint64_t{value.size()} << 1);
  if (bytes != 0) std::memcpy(entry + kHeaderBytes + prefix, value.data(), bytes);
  const Ref ref = static_cast<Ref>(1 + ((t.arena.size() - 1) << 18 | t.arena_used >> 2));
  t.arena_used = std::min(t.arena_size, (t.arena_used + kHeaderBytes + prefix + bytes + 3) & ~std::size_t{3});
  return ref;
}

void InternTable::place_name(Tables& t, NameSlot slot) {
  const std::size_t slots = t.names.size();
  std::size_t i = tag_home(slot.tag, slots);
  while (t.names[i].entry != 0) i = next_slot(i, slots);
  t.names[i] = slot;
}

void InternTable::place_id(Tables& t, Id id, Ref entry) {
  const std::size_t slots = t.ids.size();
  std::size_t j = id_home(id, slots);
  while (t.ids[j] != 0) j = next_slot(j, slots);
  t.ids[j] = entry;
}

void InternTable::place(Tables& t, Id id, Ref entry, std::uint64_t hash) {
  place_name(t, NameSlot{static_cast<std::uint32_t>(hash >> 32), entry});
  place_id(t, id, entry);
}

void InternTable::insert(Tables& t, Id id, Ref entry, std::uint64_t hash) {
  place(t, id, entry, hash);
  ++t.resident;
}

void InternTable::rehash(Tables& t, std::size_t slots) {
  finish_growth(t);
  const Slots<NameSlot> old_names = std::move(t.names);
  const Slots<Ref> old_ids = std::move(t.ids);
  t.names.assign(slots, NameSlot{});
  t.ids.assign(slots, Ref{0});
  for (const NameSlot& n : old_names)
    if (n.entry != 0) place_name(t, n);
  for (const Ref r : old_ids)
    if (r != 0) place_id(t, read_id(t.at(r)), r);
}

void InternTable::start_growth(Tables& t, std::size_t slots) {
  finish_growth(t);
  t.old_names = std::move(t.names);
  t.old_ids = std::move(t.ids);
  t.moved = 0;
  t.names.assign(slots, NameSlot{});
  t.ids.assign(slots, Ref{0});
}

std::size_t InternTable::move_some(Tables& t, std::size_t slots) {
  if (!t.growing()) return 0;
  const std::size_t end = std::min(t.old_ids.size(), t.moved + slots);
  std::size_t entries = 0;
  // In groups, so that each stage's cache misses overlap: the name slots
  // move by their tags (their new slots requested together first), the id
  // slots by the ids of their entries (scattered over the arena, requested
  // together, then the new slots they go to).
  constexpr std::size_t kGroup = 16;
  std::array<NameSlot, kGroup> names;
  std::array<Ref, kGroup> refs;
  std::array<Id, kGroup> ids;
  const std::size_t new_slots = t.names.size();
  while (t.moved < end) {
    std::size_t n = 0, m = 0;
    for (; t.moved < end && n < kGroup && m < kGroup; ++t.moved) {
      if (const NameSlot& s = t.old_names[t.moved]; s.entry != 0) {
        names[m++] = s;
        shoppulse::prefetch(&t.names[tag_home(s.tag, new_slots)]);
      }
      if (const Ref r = t.old_ids[t.moved]; r != 0) {
        refs[n++] = r;
        shoppulse::prefetch(t.at(r));
      }
    }
    for (std::size_t i = 0; i < m; ++i) place_name(t, names[i]);
    for (std::size_t i = 0; i < n; ++i) {
      ids[i] = read_id(t.at(refs[i]));
      shoppulse::prefetch(&t.ids[id_home(ids[i], new_slots)]);
    }
    for (std::size_t i = 0; i < n; ++i) place_id(t, ids[i], refs[i]);
    entries += n;
  }
  if (t.moved == t.old_ids.size()) {
    Slots<NameSlot>().swap(t.old_names);
    Slots<Ref>().swap(t.old_ids);
    t.moved = 0;
  }
  return entries;
}

void InternTable::update_memory() noexcept {
  memory_bytes_.store(t_.arena_bytes + (t_.names.capacity() + t_.old_names.capacity()) * sizeof(NameSlot) +
                          (t_.ids.capacity() + t_.old_ids.capacity()) * sizeof(Ref) + evicted_.memory_bytes(),
                      std::memory_order_relaxed);
  resident_count_.store(t_.resident, std::memory_order_relaxed);
  growing_.store(t_.growing(), std::memory_order_relaxed);
}

char* InternTable::probe_names(const Tables& t, const Slots<NameSlot>& names, std::string_view value,
                               std::uint64_t hash) noexcept {
  const auto tag = static_cast<std::uint32_t>(hash >> 32);
  const std::size_t slots = names.size();
  for (std::size_t i = name_home(hash, slots);; i = next_slot(i, slots)) {
    const NameSlot& s = names[i];
    if (s.entry == 0) return nullptr;  // never full, so an empty slot ends every run
    if (s.tag == tag) {
      char* entry = t.at(s.entry);
      if (entry_is(entry, value)) return entry;
    }
  }
}

char* InternTable::probe_ids(const Tables& t, const Slots<Ref>& ids, Id id) noexcept {
  const std::size_t slots = ids.size();
  for (std::size_t i = id_home(id, slots);; i = next_slot(i, slots)) {
    const Ref r = ids[i];
    if (r == 0) return nullptr;
    char* entry = t.at(r);
    if (read_id(entry) == id) return entry;
  }
}

// While growing, an entry not moved yet is only in the old arrays (a moved
// one is in both, with the same reference).
char* InternTable::probe(const Tables& t, std::string_view value, std::uint64_t hash) const noexcept {
  if (char* entry = probe_names(t, t.names, value, hash)) return entry;
  return t.growing() ? probe_names(t, t.old_names, value, hash) : nullptr;
}

char* InternTable::probe_id(const Tables& t, Id id) const noexcept {
  if (char* entry = probe_ids(t, t.ids, id)) return entry;
  return t.growing() ? probe_ids(t, t.old_ids, id) : nullptr;
}

void InternTable::admit(std::string_view value, std::uint64_t hash, Id id) {
  std::unique_lock lock(mutex_, std::defer_lock);
  if (!held_.owns_lock()) lock.lock();
  // Growing by half (not doubling) keeps the tables 47-70 % full as they
  // grow, for a third more rehashing work in all; the entries move a few
  // slots per new name rather than all at once.
  if (over_full(t_.resident + 1, t_.names.size())) {
    start_growth(t_, slots_for(t_.resident + t_.resident / 2 + 1));
    growths_.fetch_add(1, std::memory_order_relaxed);
  }
  const std::size_t moved = move_some(t_, kMoveSlots);
  insert(t_, id, append(t_, id, value, stamp()), hash);
  if (id > size_.load(std::memory_order_relaxed)) size_.store(id, std::memory_order_release);
  if (lock.owns_lock()) lock.unlock();
  if (moved > most_moved_.load(std::memory_order_relaxed)) most_moved_.store(moved, std::memory_order_relaxed);
  update_memory();
}

std::pair<Id, bool> InternTable::intern_hashed(std::string_view value, std::uint64_t hash) {
  // The writer is the only thread that changes the tables, so it reads them
  // without the lock.
  ++clock_;
  if (char* entry = probe(t_, value, hash)) {
    // Only an eviction reads the stamp; readers never do.
    if (max_resident_ != 0) write_stamp(entry, stamp());
    return {read_id(entry), false};
  }
  // Only a name the filter may have seen evicted is looked up: a brand-new
  // name is neither read nor written here.
  if (backing_ != nullptr && evicted_.may_contain(hash)) {
    backing_reads_.fetch_add(1, std::memory_order_relaxed);
    auto stored = backing_->find_id(kind_, value);
    if (!stored) return {kNoId, false};
    if (*stored) {
      admit(value, hash, **stored);
      return {**stored, false};
    }
  }
  const Id id = static_cast<Id>(size_.load(std::memory_order_relaxed) + 1);
  admit(value, hash, id);
  return {id, true};
}

const InternTable::Restored* InternTable::restore_run(std::span<const Restored> run) {
  if (run.empty()) return nullptr;
  std::unique_lock lock(mutex_);
  // Past a reserve() (or without one) a run grows the table by half at
  // least, as interning does: sized to just this run, the next run would
  // rehash everything again, and a load of n entries in runs would cost n²
  // (70,000 entries restored one at a time took 8.7 s).
  if (over_full(t_.resident + run.size(), t_.names.size())) {
    rehash(t_, slots_for(std::max(t_.resident + run.size(), t_.resident + t_.resident / 2 + 1)));
    growths_.fetch_add(1, std::memory_order_relaxed);
  }
  finish_growth(t_);  // the run probes only the new arrays below
  const std::size_t slots = t_.names.size();
  // Each entry probes a random name slot of a table of millions (and every
  // fourth id a random line of id slots): request both a few entries ahead.
  constexpr std::size_t kAhead = 8;
  std::array<std::uint64_t, kAhead> hashes{};
  const auto request = [&](std::size_t i) {
    hashes[i % kAhead] = hash(run[i].value);
    shoppulse::prefetch(&t_.names[name_home(hashes[i % kAhead], slots)]);
    shoppulse::prefetch(&t_.ids[id_home(run[i].id, slots)]);
  };
  for (std::size_t i = 0; i < std::min(kAhead, run.size()); ++i) request(i);
  Id newest = size_.load(std::memory_order_relaxed);
  const Restored* refused = nullptr;
  for (std::size_t i = 0; i < run.size(); ++i) {
    const Restored& r = run[i];
    const std::uint64_t h = hashes[i % kAhead];
    if (i + kAhead < run.size()) request(i + kAhead);
    if (r.id == kNoId || probe(t_, r.value, h) != nullptr || probe_id(t_, r.id) != nullptr) {
      refused = &r;
      break;
    }
    insert(t_, r.id, append(t_, r.id, r.value, stamp()), h);
    newest = std::max(newest, r.id);
  }
  size_.store(newest, std::memory_order_release);
  lock.unlock();
  update_memory();
  return refused;
}

void InternTable::reserve(std::size_t more) {
  const std::size_t slots = slots_for(t_.resident + more);
  if (slots <= t_.names.size()) return;
  std::unique_lock lock(mutex_);
  rehash(t_, slots);
  lock.unlock();
  update_memory();
}

void InternTable::expect_entries(std::size_t total) {
  // An eviction leaves max_resident entries in tables for a quarter more
  // (evict()): past that the table never grows.
  if (max_resident_ != 0) total = std::min(total, max_resident_ + max_resident_ / 4);
  if (total > t_.resident) reserve(total - t_.resident);
}

Result<std::size_t> InternTable::evict() {
  if (max_resident_ == 0 || backing_ == nullptr || t_.resident <= max_resident_) return std::size_t{0};
  // Keep the newest three quarters of the bound, so the next eviction is a
  // quarter of the bound away and its cost (a pass over the table) is
  // spread over as many new ids.
  const std::size_t keep = max_resident_ - max_resident_ / 4;
  if (t_.growing()) {
    std::unique_lock lock(mutex_);
    finish_growth(t_);
  }
  std::vector<std::uint32_t> stamps;
  stamps.reserve(t_.resident);
  for (const Ref r : t_.ids)
    if (r != 0) stamps.push_back(read_stamp(t_.at(r)));
  const std::size_t drop = stamps.size() - keep;
  std::nth_element(stamps.begin(), stamps.begin() + static_cast<std::ptrdiff_t>(drop), stamps.end());
  const std::uint32_t threshold = stamps[drop];  // keep stamps above it, and enough equal to it
  std::size_t equal_quota = 0;
  for (std::size_t i = drop; i < stamps.size(); ++i)
    if (stamps[i] == threshold) ++equal_quota;

  Tables fresh;
  // Room for the bound and the new ids of the group commits until the next
  // eviction, which starts once the bound is passed.
  rehash(fresh, slots_for(max_resident_ + max_resident_ / 4));
  std::vector<EvictedName> victims;
  victims.reserve(t_.resident - keep);
  DecimalText text;
  for (const Ref r : t_.ids) {
    if (r == 0) continue;
    const char* entry = t_.at(r);
    const Id id = read_id(entry);
    const std::uint32_t st = read_stamp(entry);
    const std::string_view name = read_entry(entry, text);
    bool keep_it = st > threshold;
    if (st == threshold && equal_quota > 0) {
      --equal_quota;
      keep_it = true;
    }
    if (keep_it)
      insert(fresh, id, append(fresh, id, name, st), hash(name));
    else
      victims.push_back({id, std::string(name)});
  }
  const std::size_t evicted = victims.size();
  // The name -> id entries are durable before any lookup can miss them in
  // memory: until the swap below, every victim is still resident.
  if (auto stored = backing_->store_names(kind_, victims); !stored) return std::move(stored).error();
  std::vector<std::uint64_t> hashes;
  hashes.reserve(victims.size());
  for (const EvictedName& v : victims) hashes.push_back(hash(v.value));
  {
    std::unique_lock lock(mutex_);
    if (evicted_.count() == 0 && evicted_.memory_bytes() == 0) evicted_ = NameFilter(2 * max_resident_);
    for (const std::uint64_t h : hashes) evicted_.add(h);
    std::swap(t_, fresh);
  }
  evicted_total_.fetch_add(evicted, std::memory_order_relaxed);
  update_memory();
  return evicted;  // fresh, now the old tables, is freed here, outside the lock
}

std::string InternTable::name(Id id) const {
  std::string out;
  name_into(id, out);
  return out;
}

std::string_view InternTable::name_into(Id id, std::string& out) const {
  out.clear();
  if (id == kNoId || id > size_.load(std::memory_order_acquire)) return out;
  {
    std::shared_lock lock(mutex_);
    if (const char* entry = probe_id(t_, id)) {
      DecimalText text;
      out.assign(read_entry(entry, text));
      return out;
    }
  }
  if (backing_ == nullptr) return out;
  backing_reads_.fetch_add(1, std::memory_order_relaxed);
  auto stored = backing_->find_name(kind_, id);
  if (stored && *stored) out = std::move(**stored);
  return out;
}

Id InternTable::find_hashed_locked(std::string_view value, std::uint64_t hash) const noexcept {
  const char* entry = probe(t_, value, hash);
  return entry == nullptr ? kNoId : read_id(entry);
}

Id InternTable::find_hashed(std::string_view value, std::uint64_t hash) const {
  std::shared_lock lock(mutex_);
  return find_hashed_locked(value, hash);
}

std::optional<Id> InternTable::find(std::string_view value) const {
  const Id id = find_hashed(value, hash(value));
  if (id != kNoId) return id;
  if (backing_ == nullptr) return std::nullopt;
  {
    std::shared_lock lock(mutex_);
    if (!evicted_.may_contain(hash(value))) return std::nullopt;
  }
  backing_reads_.fetch_add(1, std::memory_order_relaxed);
  auto stored = backing_->find_id(kind_, value);
  if (!stored || !*stored) return std::nullopt;
  return **stored;
}

void InternTable::prefetch_locked(std::uint64_t hash) const noexcept {
  shoppulse::prefetch(&t_.names[name_home(hash, t_.names.size())]);
  if (t_.growing()) shoppulse::prefetch(&t_.old_names[name_home(hash, t_.old_names.size())]);
}

void InternTable::prefetch_name_locked(std::uint64_t hash) const noexcept {
  const auto tag = static_cast<std::uint32_t>(hash >> 32);
  const NameSlot* s = &t_.names[name_home(hash, t_.names.size())];
  if ((s->entry == 0 || s->tag != tag) && t_.growing()) s = &t_.old_names[name_home(hash, t_.old_names.size())];
  if (s->entry == 0 || s->tag != tag) return;
  shoppulse::prefetch(t_.at(s->entry));
}

Event intern_event(const RawEvent& raw, Dictionary& dictionary, Sequence sequence) {
  auto id = [&](IdKind kind, const std::string& s) -> Id {
    return s.empty() ? kNoId : dictionary.table(kind).intern(s).first;
  };
  Event e;
  e.time_ms = raw.time_ms.value_or(0);
  e.sequence = sequence;
  e.price_minor = raw.price_minor;
  e.user = id(IdKind::user, raw.user_id);
  e.product = id(IdKind::product, raw.product_id);
  e.category = id(IdKind::category, raw.category_id);
  e.device = id(IdKind::device, raw.device);
  e.location = id(IdKind::location, raw.location);
  e.quantity = raw.quantity;
  e.type = raw.type;
  e.rating = raw.rating;
  return e;
}

}  // namespace shoppulse
