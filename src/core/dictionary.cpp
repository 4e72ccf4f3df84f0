#include "shoppulse/core/dictionary.hpp"

#include <algorithm>
#include <cstring>

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

InternTable::Index::Index(std::size_t slot_count)
    : mask(slot_count - 1), slots(new std::atomic<std::uint64_t>[slot_count]) {
  for (std::size_t i = 0; i < slot_count; ++i) slots[i].store(0, std::memory_order_relaxed);
}

InternTable::InternTable() : chunks_(new std::atomic<const char**>[kMaxChunks]) {
  for (std::size_t i = 0; i < kMaxChunks; ++i) chunks_[i].store(nullptr, std::memory_order_relaxed);
  indexes_.push_back(std::make_unique<Index>(kInitialSlots));
  index_.store(indexes_.back().get(), std::memory_order_release);
  memory_bytes_.store(kMaxChunks * sizeof(chunks_[0]) + kInitialSlots * sizeof(std::uint64_t),
                      std::memory_order_relaxed);
}

InternTable::~InternTable() {
  for (std::size_t i = 0; i < kMaxChunks; ++i) delete[] chunks_[i].load(std::memory_order_relaxed);
}

namespace {

// Length prefix of an arena entry: 7 bits a byte, low bits first.
std::size_t put_length(char* out, std::size_t n) noexcept {
  std::size_t i = 0;
  while (n >= 0x80) {
    out[i++] = static_cast<char>((n & 0x7f) | 0x80);
    n >>= 7;
  }
  out[i++] = static_cast<char>(n);
  return i;
}

std::string_view read_entry(const char* p) noexcept {
  std::size_t n = 0;
  unsigned shift = 0;
  for (;;) {
    const auto b = static_cast<unsigned char>(*p++);
    n |= std::size_t{b & 0x7fu} << shift;
    if ((b & 0x80) == 0) break;
    shift += 7;
  }
  return {p, n};
}

}  // namespace

Id InternTable::append(std::string_view value) {
  const std::size_t index = size_.load(std::memory_order_relaxed);  // writer owns size_
  const std::size_t chunk = index >> kChunkBits;
  const char** slots = chunks_[chunk].load(std::memory_order_relaxed);
  if (slots == nullptr) {
    slots = new const char*[kChunkSize];
    memory_bytes_.fetch_add(kChunkSize * sizeof(const char*), std::memory_order_relaxed);
    // release: readers that see the new size also see the chunk's construction.
    chunks_[chunk].store(slots, std::memory_order_release);
  }
  const std::size_t need = value.size() + 10;  // bytes plus the longest length prefix
  if (need > arena_left_) {
    const std::size_t block = std::max(kArenaBlock, need);
    arena_.push_back(std::make_unique<char[]>(block));
    arena_next_ = arena_.back().get();
    arena_left_ = block;
    memory_bytes_.fetch_add(block, std::memory_order_relaxed);
  }
  char* entry = arena_next_;
  const std::size_t prefix = put_length(entry, value.size());
  if (!value.empty()) std::memcpy(entry + prefix, value.data(), value.size());
  arena_next_ += prefix + value.size();
  arena_left_ -= prefix + value.size();
  slots[index & (kChunkSize - 1)] = entry;
  // release: the slot's contents are visible to any reader that loads this size.
  size_.store(index + 1, std::memory_order_release);
  return static_cast<Id>(index + 1);
}

std::string_view InternTable::name_of_published(Id id) const noexcept {
  // id came from an index slot loaded with acquire, published after the name.
  const std::size_t index = id - 1;
  const char* const* slots = chunks_[index >> kChunkBits].load(std::memory_order_acquire);
  return read_entry(slots[index & (kChunkSize - 1)]);
}

std::size_t InternTable::probe(const Index& index, std::string_view value, std::uint64_t hash,
                               bool& found) const noexcept {
  const auto tag = static_cast<std::uint32_t>(hash >> 32);
  std::size_t i = hash & index.mask;
  for (;;) {
    const std::uint64_t slot = index.slots[i].load(std::memory_order_acquire);
    if (slot == 0) {
      found = false;
      return i;
    }
    if (static_cast<std::uint32_t>(slot >> 32) == tag &&
        name_of_published(static_cast<Id>(slot)) == value) {
      found = true;
      return i;
    }
    i = (i + 1) & index.mask;  // the index is at most half full, so an empty slot exists
  }
}

void InternTable::grow() {
  const Index& old = *indexes_.back();
  auto bigger = std::make_unique<Index>((old.mask + 1) * 2);
  for (std::size_t i = 0; i <= old.mask; ++i) {
    const std::uint64_t slot = old.slots[i].load(std::memory_order_relaxed);
    if (slot == 0) continue;
    const std::uint64_t h = hash(name_of_published(static_cast<Id>(slot)));
    std::size_t j = h & bigger->mask;
    while (bigger->slots[j].load(std::memory_order_relaxed) != 0) j = (j + 1) & bigger->mask;
    bigger->slots[j].store(slot, std::memory_order_relaxed);
  }
  // release: a reader that loads the new pointer sees every slot copied above.
  index_.store(bigger.get(), std::memory_order_release);
  memory_bytes_.fetch_add((bigger->mask + 1) * sizeof(std::uint64_t), std::memory_order_relaxed);
  indexes_.push_back(std::move(bigger));
}

void InternTable::insert_new(std::string_view value, std::uint64_t hash) {
  // Keep the index at most half full: short probe runs, and an empty slot
  // always ends a probe.
  if ((size_.load(std::memory_order_relaxed) + 1) * 2 > indexes_.back()->mask + 1) grow();
  Index& index = *indexes_.back();
  bool found = false;
  const std::size_t at = probe(index, value, hash, found);
  const Id id = append(value);
  // release: a reader that loads this slot sees the name and the size.
  index.slots[at].store((hash >> 32) << 32 | id, std::memory_order_release);
}

std::pair<Id, bool> InternTable::intern_hashed(std::string_view value, std::uint64_t hash) {
  // The writer is the only thread that changes the index, so its own lookup
  // needs no synchronisation beyond what probe does anyway.
  const Index& index = *indexes_.back();
  bool found = false;
  const std::size_t at = probe(index, value, hash, found);
  if (found) return {static_cast<Id>(index.slots[at].load(std::memory_order_relaxed)), false};
  insert_new(value, hash);
  return {static_cast<Id>(size_.load(std::memory_order_relaxed)), true};
}

bool InternTable::restore(Id id, std::string_view value) {
  if (id != size_.load(std::memory_order_relaxed) + 1) return false;
  const std::uint64_t h = hash(value);
  bool found = false;
  (void)probe(*indexes_.back(), value, h, found);
  if (found) return false;
  insert_new(value, h);
  return true;
}

std::string_view InternTable::name(Id id) const noexcept {
  if (id == kNoId || id > size_.load(std::memory_order_acquire)) return {};
  return name_of_published(id);
}

Id InternTable::find_hashed(std::string_view value, std::uint64_t hash) const noexcept {
  const Index& index = *index_.load(std::memory_order_acquire);
  bool found = false;
  const std::size_t at = probe(index, value, hash, found);
  return found ? static_cast<Id>(index.slots[at].load(std::memory_order_relaxed)) : kNoId;
}

std::optional<Id> InternTable::find(std::string_view value) const {
  const Id id = find_hashed(value, hash(value));
  if (id == kNoId) return std::nullopt;
  return id;
}

void InternTable::prefetch(std::uint64_t hash) const noexcept {
  const Index& index = *index_.load(std::memory_order_acquire);
  __builtin_prefetch(&index.slots[hash & index.mask]);
}

void InternTable::prefetch_name(std::uint64_t hash) const noexcept {
  const Index& index = *index_.load(std::memory_order_acquire);
  const std::uint64_t slot = index.slots[hash & index.mask].load(std::memory_order_acquire);
  if (slot == 0 || static_cast<std::uint32_t>(slot >> 32) != static_cast<std::uint32_t>(hash >> 32)) return;
  const std::size_t at = static_cast<Id>(slot) - 1;
  const char* const* names = chunks_[at >> kChunkBits].load(std::memory_order_acquire);
  __builtin_prefetch(names[at & (kChunkSize - 1)]);
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
