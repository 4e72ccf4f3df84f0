#include "shoppulse/windows/window_engine.hpp"

#include <algorithm>

#include "shoppulse/core/byte_codec.hpp"
#include "shoppulse/core/prefetch.hpp"
#include "tier.hpp"

namespace shoppulse {

using windows::Bucket;
using windows::floor_div;
using windows::kNoBucket;
using windows::Tier;
using windows::UserTracking;

namespace {

constexpr std::int64_t kFineWidthMs = 1'000;
constexpr std::int64_t kCoarseWidthMs = 60'000;
// Bumped when the checkpoint layout changes; restore rejects unknown versions.
// Format 1 lacks the filter buffer; it still restores, with filtered queries
// covering only events applied after the restore. Formats 1 and 2 hold every
// coarse bucket's users (48 h of per-minute user sets); they are read, and
// the coarse tier's last-seen rows and sketches are rebuilt from those sets
// before the settled minutes drop them. Format 3 holds the trimmed buckets'
// late users only, plus the rows and the sketches; format 4 writes a
// sketch's mostly-empty cells sparse (write_sketch_cell); format 5 adds
// spilled minutes (flag kBucketSpilled, then the sequence their store copy
// covers) and the store sequence of minutes still holding their details.
constexpr std::uint8_t kCheckpointFormatV1 = 1;
constexpr std::uint8_t kCheckpointFormatV2 = 2;
constexpr std::uint8_t kCheckpointFormatV3 = 3;
constexpr std::uint8_t kCheckpointFormatV4 = 4;
constexpr std::uint8_t kCheckpointFormat = 5;
constexpr std::uint8_t kBucketPending = 1;
constexpr std::uint8_t kBucketUsersTrimmed = 2;
constexpr std::uint8_t kBucketSpilled = 4;

// A sketch cell in a checkpoint (format 4): the number of non-zero
// registers, then, when they are few, each as (gap from the previous one's
// index, value), else all the registers. On a slow event clock a minute has
// hundreds of users, so most of its 4096 registers are zero: a dense cell
// is 4 KiB, a sparse one about 2 bytes per user (format 3 wrote every cell
// dense, ~40 % of the checkpoint on the amplified Taobao log).
constexpr std::size_t kSparseCellMax = windows::kSketchRegisters / 3;

void write_sketch_cell(ByteWriter& w, const windows::SketchCell& cell) {
  const std::size_t nonzero = cell.set_count();
  w.varint(nonzero);
  if (nonzero > kSparseCellMax) {
    std::string dense(windows::kSketchRegisters, '\0');
    cell.for_each_set([&](std::size_t i, std::uint8_t v) { dense[i] = static_cast<char>(v); });
    w.bytes(dense);
    return;
  }
  std::size_t prev = 0;
  cell.for_each_set([&](std::size_t i, std::uint8_t v) {
    w.varint(i - prev);
    w.u8(v);
    prev = i;
  });
}

// False on anything write_sketch_cell() cannot have written. `dense_only`:
// format 3, every cell written whole without a count.
bool read_sketch_cell(ByteReader& r, windows::SketchCell& cell, bool dense_only) {
  const auto read_dense = [&] {
    const std::string_view bytes = r.bytes();
    if (r.failed() || bytes.size() != windows::kSketchRegisters) return false;
    for (std::size_t i = 0; i < bytes.size(); ++i) cell.max(i, static_cast<std::uint8_t>(bytes[i]));
    return true;
  };
  if (dense_only) return read_dense();
  const std::uint64_t nonzero = r.varint();
  if (r.failed() || nonzero > windows::kSketchRegisters) return false;
  if (nonzero > kSparseCellMax) return read_dense();
  std::size_t at = 0;
  for (std::uint64_t k = 0; k < nonzero; ++k) {
    const std::uint64_t gap = r.varint();
    const std::uint8_t v = r.u8();
    if (r.failed() || (k > 0 && gap == 0) || gap >= windows::kSketchRegisters - at || v == 0) return false;
    at += static_cast<std::size_t>(gap);
    cell.max(at, v);
  }
  return true;
}

bool is_fine(WindowSpan s) noexcept { return span_ms(s) <= 15 * 60'000; }

// Profiles idle past profile_max_idle_ms are looked for once per this many
// events: a pass over every profile costs about as much as applying a few
// thousand events.
constexpr std::uint64_t kIdleSweepEvents = std::uint64_t{1} << 18;

// Per-user state behind UserProfile; `recent` is a ring whose next write goes to `next`.
struct ProfileState {
  Id user = kNoId;
  std::uint32_t next = 0;  // beside user: no padding
  // 32-bit counts: millions of profiles, and no shopper logs 4G events of a type.
  std::array<std::uint32_t, kEventTypeCount> events{};
  std::int64_t spend_minor = 0;
  TimestampMs first_seen_ms = 0;
  TimestampMs last_seen_ms = 0;
  std::vector<std::pair<Id, std::uint32_t>> categories;  // few per user: a linear scan beats hashing
  std::vector<Event> recent;

  void remember(const Event& e, std::size_t keep) {
    if (keep == 0) return;
    if (recent.size() < keep) {
      // Grow by hand so the ring never reserves past its bound (most
      // shoppers have a handful of events; a doubling past `keep` would
      // cost more than the events themselves).
      if (recent.size() == recent.capacity()) recent.reserve(std::min(keep, std::max<std::size_t>(1, recent.size() * 2)));
      recent.push_back(e);
      next = recent.size() == keep ? 0 : static_cast<std::uint32_t>(recent.size());
    } else {
      recent[next] = e;
      if (++next == keep) next = 0;
    }
  }
  // i = 0 is the newest.
  const Event& recent_at(std::size_t i) const {
    const std::size_t n = recent.size();
    return recent[(next + n - 1 - i + n) % n];
  }
};

// Profiles indexed by the dense user id, in chunks that never move (growing
// never copies the profiles nor holds two copies at once). A chunk is freed
// when its last profile is evicted: ids are handed out in order of first
// appearance, so the chunks of users gone quiet empty out together.
// Threading: the engine thread.
class ProfileTable {
 public:
  ProfileState* find(Id user) noexcept {
    ProfileState* p = slot(user);
    return p != nullptr && p->user == user ? p : nullptr;
  }
  const ProfileState* find(Id user) const noexcept { return const_cast<ProfileTable*>(this)->find(user); }
  // Cache hints for a user's event applied soon: its profile slot, then
  // (once that is in cache) the places its lists are read and written.
  void prefetch(Id user) const noexcept {
    if (const ProfileState* p = slot(user)) prefetch_lines(p, sizeof(ProfileState));
  }
  void prefetch_lists(Id user) const noexcept {
    const ProfileState* p = find(user);
    if (!p) return;
    if (!p->categories.empty()) shoppulse::prefetch(p->categories.data());
    // Room left (or a full ring): the slot the event goes to. A list at its
    // capacity but short of its bound grows, and growing copies every event
    // it holds: those.
    if (p->recent.capacity() > p->next) prefetch_lines(p->recent.data() + p->next, sizeof(Event));
    else prefetch_all(p->recent.data(), p->recent.size() * sizeof(Event));
  }
  // The user's profile; a fresh one (user set, nothing else) when absent.
  ProfileState& get_or_add(Id user) {
    const std::size_t c = user >> kChunkBits;
    if (c >= chunks_.size()) chunks_.resize(c + 1);
    if (c >= present_.size()) present_.resize(c + 1, 0);
    if (!chunks_[c]) {
      chunks_[c] = std::make_unique<ProfileState[]>(kChunkSize);
      ++live_chunks_;
    }
    ProfileState& p = chunks_[c][user & kChunkMask];
    if (p.user != user) {
      p.user = user;
      ++size_;
      ++present_[c];
    }
    return p;
  }
  // Drops the user's profile (which must exist) and its chunk once empty.
  void evict(Id user) noexcept {
    const std::size_t c = user >> kChunkBits;
    ProfileState& p = chunks_[c][user & kChunkMask];
    heap_bytes_ -= heap_bytes(p);
    p = ProfileState{};
    --size_;
    if (--present_[c] == 0) {
      chunks_[c].reset();
      --live_chunks_;
    }
  }
  std::size_t size() const noexcept { return size_; }
  // Heap bytes outside the chunks changed by delta (a profile's vectors grew).
  void account(std::ptrdiff_t delta) noexcept { heap_bytes_ += static_cast<std::size_t>(delta); }
  static std::size_t heap_bytes(const ProfileState& p) noexcept {
    return p.recent.capacity() * sizeof(Event) + p.categories.capacity() * sizeof(p.categories[0]);
  }
  // In id order.
  template <class F>
  void for_each(F&& f) const {
    for (const auto& chunk : chunks_)
      if (chunk)
        for (std::size_t i = 0; i < kChunkSize; ++i)
          if (chunk[i].user != kNoId) f(chunk[i]);
  }
  // The same, for an `f` that reads each profile's lists too: those of the
  // profile kListsAhead slots on are asked for first, so their cache misses
  // (each list is an allocation of its own) overlap.
  template <class F>
  void for_each_with_lists(F&& f) const {
    static constexpr std::size_t kListsAhead = 8;
    for (const auto& chunk : chunks_) {
      if (!chunk) continue;
      for (std::size_t i = 0; i < kChunkSize; ++i) {
        if (i + kListsAhead < kChunkSize) {
          const ProfileState& next = chunk[i + kListsAhead];
          if (next.user != kNoId) {
            prefetch_lines(next.categories.data(), next.categories.size() * sizeof(next.categories[0]), 2);
            prefetch_all(next.recent.data(), next.recent.size() * sizeof(Event));
          }
        }
        if (chunk[i].user != kNoId) f(chunk[i]);
      }
    }
  }
  std::size_t memory_bytes() const noexcept {
    return chunks_.capacity() * sizeof(chunks_[0]) + present_.capacity() * sizeof(present_[0]) + heap_bytes_ +
           live_chunks_ * kChunkSize * sizeof(ProfileState);
  }

 private:
  static constexpr std::size_t kChunkBits = 12;
  static constexpr std::size_t kChunkSize = std::size_t{1} << kChunkBits;
  static constexpr std::size_t kChunkMask = kChunkSize - 1;
  std::vector<std::unique_ptr<ProfileState[]>> chunks_;
  std::vector<std::uint32_t> present_;  // profiles per chunk
  std::size_t live_chunks_ = 0;
  std::size_t size_ = 0;
  std::size_t heap_bytes_ = 0;  // sum of heap_bytes() over the profiles

  // The slot the user's profile would be in (any user's, or a free one),
  // or null when its chunk is not there.
  ProfileState* slot(Id user) const noexcept {
    const std::size_t c = user >> kChunkBits;
    if (user == kNoId || c >= chunks_.size() || !chunks_[c]) return nullptr;
    return &chunks_[c][user & kChunkMask];
  }
};

// Everything after time and sequence; read_event_body() reads it back.
void write_event_body(ByteWriter& w, const Event& e) {
  w.svarint(e.price_minor);
  w.varint(e.user);
  w.varint(e.product);
  w.varint(e.category);
  w.varint(e.device);
  w.varint(e.location);
  w.varint(e.quantity);
  w.u8(static_cast<std::uint8_t>(e.type));
  w.u8(e.rating);
}

void write_event(ByteWriter& w, const Event& e) {
  w.svarint(e.time_ms);
  w.varint(e.sequence);
  write_event_body(w, e);
}

// Everything after time and sequence, which callers encode their own way.
void read_event_body(ByteReader& r, Event& e) {
  e.price_minor = r.svarint();
  e.user = r.u32();
  e.product = r.u32();
  e.category = r.u32();
  e.device = r.u32();
  e.location = r.u32();
  e.quantity = r.u32();
  const std::uint8_t type = r.u8();
  if (type >= kEventTypeCount) r.fail();
  e.type = static_cast<EventType>(type < kEventTypeCount ? type : 0);
  e.rating = r.u8();
}

Event read_event(ByteReader& r) {
  Event e;
  e.time_ms = r.svarint();
  e.sequence = r.varint();
  read_event_body(r, e);
  return e;
}

}  // namespace

struct WindowEngine::State {
  explicit State(const WindowConfig& c)
      : config(c),
        fine(kFineWidthMs, {WindowSpan::m1, WindowSpan::m5, WindowSpan::m15}, c.allowed_lateness_ms),
        coarse(kCoarseWidthMs, {WindowSpan::h1, WindowSpan::h24}, c.allowed_lateness_ms, UserTracking::last_seen) {
    if (c.stored_minute) coarse.set_stored(c.stored_minute);
  }

  WindowConfig config;
  Tier fine;
  Tier coarse;  // its buckets are the minute rollups
  bool has_events = false;
  TimestampMs max_event_time_ms = 0;
  TimestampMs watermark_ms = 0;
  Sequence applied_through = 0;
  std::function<bool(const Event&)> keep;  // empty: every event
  std::uint64_t events_applied = 0;
  std::uint64_t events_too_late = 0;
  // Minutes whose coarse bucket has `pending` set (may hold stale duplicates).
  std::vector<std::int64_t> pending_minutes;
  // Pending minutes whose ring slot was reused before take_closed_minutes().
  std::vector<MinuteRollup> evicted_pending;
  ProfileTable profiles;
  // Filter buffer: the newest filter_buffer_events events in arrival order
  // (too-late ones excluded: they are in no window or held minute). Grows to
  // its bound, then becomes a ring whose next write (the oldest) is at
  // buffer_next.
  std::vector<BufferedEvent> buffer;
  std::size_t buffer_next = 0;
  TimestampMs covered_from_ms = INT64_MIN;  // one past the newest evicted event time

  void buffer_event(const Event& e) {
    const std::size_t cap = config.filter_buffer_events;
    if (cap == 0) return;
    if (buffer.size() < cap) {
      // Reserved whole at the first event: pages become resident only as
      // events fill them, where growing by doubling touched twice the final
      // size in fresh pages (a page fault each) and held the old and the new
      // array at once while it copied.
      if (buffer.capacity() < cap) buffer.reserve(cap);
      buffer.push_back(BufferedEvent::of(e));
      return;
    }
    BufferedEvent& slot = buffer[buffer_next];
    const TimestampMs evicted_ms = slot.time_ms;
    covered_from_ms = std::max(covered_from_ms, evicted_ms == INT64_MAX ? evicted_ms : evicted_ms + 1);
    slot = BufferedEvent::of(e);
    if (++buffer_next == cap) buffer_next = 0;
  }
  BufferedEvents buffered() const {
    BufferedEvents b;
    const std::span<const BufferedEvent> all(buffer);
    b.older = all.subspan(buffer_next);
    b.newer = all.first(buffer_next);
    b.covered_from_ms = covered_from_ms;
    return b;
  }

  void apply(const Event& e);
  void advance_to(TimestampMs max_time);
  void update_profile(const Event& e);
  // Cache hints for an event applied `ahead` events after the current one
  // (kPrefetchAhead down to 1; each stage finds in cache what the one before
  // asked for): the user's profile at 3, the tiers' index entries at 2, the
  // profile's lists and the tiers' rows at 1.
  static constexpr std::size_t kPrefetchAhead = 3;
  void prefetch(const Event& e, std::size_t ahead) const noexcept {
    switch (ahead) {
      case 3: profiles.prefetch(e.user); break;
      case 2:
        coarse.prefetch_index(e);
        fine.prefetch_index(e);
        break;
      case 1:
        profiles.prefetch_lists(e.user);
        coarse.prefetch_rows(e);
        fine.prefetch_rows(e);
        break;
      default: break;
    }
  }
  void evict_profiles(std::size_t keep);
  std::uint64_t profiles_evicted = 0;
  std::vector<std::pair<TimestampMs, Id>> eviction_candidates;  // evict_profiles' scratch
  void mark_pending(Bucket& b) {
    if (b.pending) return;
    b.pending = true;
    pending_minutes.push_back(b.index);
  }
  bool minute_held(const Bucket* b, std::int64_t minute) const {
    return b != nullptr && (minute >= coarse.horizon() || b->pending);
  }
};

void WindowEngine::State::advance_to(TimestampMs max_time) {
  has_events = true;
  max_event_time_ms = max_time;
  watermark_ms = max_time - config.allowed_lateness_ms;
  const std::int64_t fine_end = floor_div(watermark_ms, kFineWidthMs);
  if (!fine.started() || fine_end > fine.end()) fine.advance(fine_end);
  const std::int64_t coarse_end = floor_div(watermark_ms, kCoarseWidthMs);
  if (coarse.started() && coarse_end <= coarse.end()) return;
  const std::int64_t old_end = coarse.end();
  coarse.advance(coarse_end);
  if (old_end == kNoBucket) return;
  // Minutes before the end have closed (watermark >= their end). Held buckets
  // never lie more than a ring's length past the old end.
  const std::int64_t last = std::min(coarse_end, old_end + static_cast<std::int64_t>(coarse.ring().size()));
  for (std::int64_t m = old_end; m < last; ++m)
    if (Bucket* b = coarse.find(m)) mark_pending(*b);
}

// Drops the profiles of users idle longer than profile_max_idle_ms (by event
// time, against the newest event), then the least recently seen ones (ties:
// the larger id first) until at most `keep` remain. One pass over the
// profiles plus a partial sort of their last-seen times.
void WindowEngine::State::evict_profiles(std::size_t keep) {
  const bool by_idle = config.profile_max_idle_ms > 0 && has_events;
  const TimestampMs idle_before = by_idle ? max_event_time_ms - config.profile_max_idle_ms : INT64_MIN;
  // Kept between passes: a pass every max_profiles / 8 new users, each over
  // more than max_profiles entries, faulted in fresh pages every time.
  auto& candidates = eviction_candidates;
  candidates.clear();
  candidates.reserve(profiles.size());
  profiles.for_each([&](const ProfileState& p) { candidates.emplace_back(p.last_seen_ms, p.user); });
  std::size_t drop = 0;
  const auto idle = [&](const std::pair<TimestampMs, Id>& c) { return c.first < idle_before; };
  auto rest = std::partition(candidates.begin(), candidates.end(), idle);
  drop = static_cast<std::size_t>(rest - candidates.begin());
  const std::size_t left = candidates.size() - drop;
  if (left > keep) {
    // Coldest first: smaller last_seen, and among equals the later id.
    const auto colder = [](const std::pair<TimestampMs, Id>& a, const std::pair<TimestampMs, Id>& b) {
      return a.first != b.first ? a.first < b.first : a.second > b.second;
    };
    std::nth_element(rest, rest + static_cast<std::ptrdiff_t>(left - keep), candidates.end(), colder);
    drop += left - keep;
  }
  for (std::size_t i = 0; i < drop; ++i) profiles.evict(candidates[i].second);
  profiles_evicted += drop;
}

void WindowEngine::State::update_profile(const Event& e) {
  const std::size_t known = profiles.size();
  ProfileState& p = profiles.get_or_add(e.user);
  if (profiles.size() != known) {
    p.first_seen_ms = e.time_ms;
    p.last_seen_ms = e.time_ms;
  }
  const std::size_t heap_before = ProfileTable::heap_bytes(p);
  ++p.events[static_cast<std::size_t>(e.type)];
  p.spend_minor += e.revenue_minor();
  p.first_seen_ms = std::min(p.first_seen_ms, e.time_ms);
  p.last_seen_ms = std::max(p.last_seen_ms, e.time_ms);
  if (e.category != kNoId) {
    auto& cats = p.categories;
    if (!cats.empty() && cats.front().first == e.category) {
      ++cats.front().second;
    } else {
      auto it = std::find_if(cats.begin(), cats.end(), [&](const auto& c) { return c.first == e.category; });
      if (it == cats.end()) {
        cats.emplace_back(e.category, 1);
        it = cats.end() - 1;
      } else {
        ++it->second;
      }
      // Transpose towards the front: a shopper's own few categories settle
      // there and most lookups end at the first comparison.
      if (it != cats.begin()) std::iter_swap(it, it - 1);
    }
  }
  p.remember(e, config.recent_events_per_user);
  const std::size_t heap_after = ProfileTable::heap_bytes(p);
  if (heap_after != heap_before)
    profiles.account(static_cast<std::ptrdiff_t>(heap_after) - static_cast<std::ptrdiff_t>(heap_before));

  // Both triggers depend only on the events applied, which a checkpoint
  // keeps, so a restored engine evicts exactly what an uninterrupted one
  // would. Past max_profiles an eighth is evicted at once, so the pass is
  // paid once per max_profiles / 8 new users.
  const std::size_t max = config.max_profiles;
  if (max != 0 && profiles.size() > max) {
    evict_profiles(max - max / 8);
  } else if (config.profile_max_idle_ms > 0 && events_applied % kIdleSweepEvents == 0) {
    evict_profiles(max == 0 ? SIZE_MAX : max);
  }
}

void WindowEngine::State::apply(const Event& e) {
  ++events_applied;
  applied_through = std::max(applied_through, e.sequence);
  update_profile(e);
  if (!has_events || e.time_ms > max_event_time_ms) advance_to(e.time_ms);

  const std::int64_t minute = floor_div(e.time_ms, kCoarseWidthMs);
  if (minute < coarse.horizon()) {
    ++events_too_late;
    return;
  }
  buffer_event(e);
  Bucket& cb = coarse.slot(minute);
  if (cb.index != minute) {
    if (cb.pending) evicted_pending.push_back(cb.to_rollup(cb.index));
    cb.reset(minute);
  }
  if (cb.spilled && !coarse.take_back(cb, e)) {
    // Replayed after a restore: the minute's store copy, which the windows
    // were rebuilt from, already has this event's details and user.
    coarse.on_event(e, minute, 0, false);
  } else {
    coarse.on_event(e, minute, cb.add(e));
    if (minute < coarse.end()) mark_pending(cb);
  }

  const std::int64_t second = floor_div(e.time_ms, kFineWidthMs);
  if (second < fine.horizon()) return;
  Bucket& fb = fine.slot(second);
  if (fb.index != second) fb.reset(second);
  fine.on_event(e, second, fb.add(e));
}

WindowEngine::WindowEngine(const WindowConfig& config) : state_(std::make_unique<State>(config)) {}
WindowEngine::~WindowEngine() = default;
WindowEngine::WindowEngine(WindowEngine&&) noexcept = default;
WindowEngine& WindowEngine::operator=(WindowEngine&&) noexcept = default;

void WindowEngine::apply(std::span<const Event> events) {
  State& s = *state_;
  // A user's profile and the window rows of an event's ids are scattered
  // over memory the size of the catalogue: each is asked for a few events
  // before its turn (State::prefetch), so the cache misses overlap.
  for (std::size_t i = 0; i < events.size(); ++i) {
    prefetch_ahead<State::kPrefetchAhead>(events, i, [&s](const Event& e, std::size_t k) { s.prefetch(e, k); });
    const Event& e = events[i];
    if (!s.keep || s.keep(e)) s.apply(e);
    else s.applied_through = std::max(s.applied_through, e.sequence);
  }
}

void WindowEngine::set_keep(std::function<bool(const Event&)> keep) { state_->keep = std::move(keep); }

std::shared_ptr<const WindowSnapshot> WindowEngine::snapshot() const {
  const State& s = *state_;
  auto snap = std::make_shared<WindowSnapshot>();
  snap->watermark_ms = s.watermark_ms;
  snap->max_event_time_ms = s.max_event_time_ms;
  snap->applied_through = s.applied_through;
  snap->events_applied = s.events_applied;
  snap->events_too_late = s.events_too_late;
  for (std::size_t i = 0; i < kWindowSpanCount; ++i) snap->windows[i] = window_view(static_cast<WindowSpan>(i), s.config.top_n);
  return snap;
}

WindowView WindowEngine::window_view(WindowSpan span, std::size_t top) const {
  const State& s = *state_;
  WindowView view;
  view.span = span;
  if (!s.has_events) return view;
  const Tier& tier = is_fine(span) ? s.fine : s.coarse;
  view.end_ms = tier.end() * tier.width_ms();
  view.start_ms = view.end_ms - span_ms(span);
  view.current = tier.kpis(span, false);
  view.previous = tier.kpis(span, true);
  view.top_products = tier.top_products(span, top);
  view.top_categories = tier.top_categories(span, top);
  view.devices = tier.devices(span);
  view.locations = tier.locations(span);
  return view;
}

std::vector<MinuteRollup> WindowEngine::take_closed_minutes() {
  State& s = *state_;
  std::vector<MinuteRollup> out = std::move(s.evicted_pending);
  s.evicted_pending.clear();
  for (std::int64_t m : s.pending_minutes) {
    Bucket* b = s.coarse.find(m);
    if (b == nullptr || !b->pending) continue;  // already taken, or evicted above
    b->pending = false;
    out.push_back(b->to_rollup(m));
    if (s.coarse.settled(*b)) s.coarse.settle(*b);  // handed over: the rows and sketch keep what the windows need
  }
  s.pending_minutes.clear();
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.minute < b.minute; });
  return out;
}

void WindowEngine::minutes_stored(std::span<const MinuteRollup> stored) {
  State& s = *state_;
  if (!s.coarse.spills()) return;
  for (const MinuteRollup& r : stored) {
    Bucket* b = s.coarse.find(r.minute);
    // Changed since taken (pending again): the copy is already behind.
    if (b == nullptr || b->pending || b->spilled || r.through == 0) continue;
    b->stored_through = r.through;
    b->through_known = true;
    if (s.coarse.settled(*b)) s.coarse.settle(*b);
  }
}

std::optional<MinuteRollup> WindowEngine::minute_rollup(std::int64_t minute) const {
  const Bucket* b = state_->coarse.find(minute);
  if (!state_->minute_held(b, minute) || b->users_trimmed) return std::nullopt;
  return b->to_rollup(minute);
}

std::optional<UserProfile> WindowEngine::user_profile(Id user) const {
  const State& s = *state_;
  const ProfileState* found = s.profiles.find(user);
  if (found == nullptr) return std::nullopt;
  const ProfileState& p = *found;
  UserProfile out;
  out.user = p.user;
  for (std::size_t t = 0; t < kEventTypeCount; ++t) out.events[t] = p.events[t];
  out.spend_minor = p.spend_minor;
  out.first_seen_ms = p.first_seen_ms;
  out.last_seen_ms = p.last_seen_ms;
  std::vector<RankedId> cats;
  cats.reserve(p.categories.size());
  for (const auto& [id, n] : p.categories) cats.push_back({id, n});
  keep_best(cats, s.config.top_categories_per_user, ranks_before);
  out.top_categories = std::move(cats);
  out.recent.reserve(p.recent.size());
  for (std::size_t i = 0; i < p.recent.size(); ++i) out.recent.push_back(p.recent_at(i));
  return out;
}

std::optional<FilteredView> WindowEngine::filtered_view(const EventFilter& filter, WindowSpan span,
                                                        std::size_t top) const {
  const State& s = *state_;
  if (s.config.filter_buffer_events == 0) return std::nullopt;
  return filtered_window(s.buffered(), filter, span, s.has_events, s.watermark_ms, top ? top : s.config.top_n);
}

std::optional<FilteredMinutes> WindowEngine::filtered_minutes(const EventFilter& filter, std::int64_t from_minute,
                                                              std::int64_t to_minute, bool breakdowns) const {
  const State& s = *state_;
  if (s.config.filter_buffer_events == 0) return std::nullopt;
  return shoppulse::filtered_minutes(s.buffered(), filter, from_minute, to_minute, breakdowns);
}

WindowMemory WindowEngine::memory() const {
  const State& s = *state_;
  WindowMemory m;
  m.windows = s.fine.memory_bytes() + s.coarse.memory_bytes();
  m.user_profiles = s.profiles.memory_bytes();
  m.resident_profiles = s.profiles.size();
  m.evicted_profiles = s.profiles_evicted;
  for (const Bucket& b : s.coarse.ring()) m.spilled_minutes += b.spilled ? 1 : 0;
  for (const Bucket& b : s.fine.ring())
    m.packed_seconds += b.held() && b.index >= s.fine.horizon() && !b.packed_users.empty() ? 1 : 0;
  m.filter_buffer = s.buffer.size() * sizeof(BufferedEvent);  // reserved whole, resident as filled
  m.user_profiles += s.eviction_candidates.capacity() * sizeof(s.eviction_candidates[0]);
  return m;
}

TimestampMs WindowEngine::watermark_ms() const noexcept { return state_->watermark_ms; }
Sequence WindowEngine::applied_through() const noexcept { return state_->applied_through; }

// Layout: header counters, tier ends, held buckets (as encoded rollups),
// pending minutes, profiles, filter buffer. Window aggregates are not stored: they are a pure
// function of the buckets and the ends, so restore rebuilds them.
std::string WindowEngine::checkpoint(std::size_t expected_bytes) const {
  const State& s = *state_;
  ByteWriter w;
  // Room for the expected size and half as much again (the filter buffer, part
  // of the state, fills for its first 2 M events): the buffer is then not
  // copied (and its pages not faulted in twice) while it grows to 100 MiB
  // and more. The room is zero-filled, so what is not written is touched
  // too: half more than the last size, against twice the final size when
  // it grows from nothing.
  w.reserve(expected_bytes + expected_bytes / 2);
  w.u8(kCheckpointFormat);
  w.svarint(s.config.allowed_lateness_ms);
  w.u8(s.has_events ? 1 : 0);
  w.svarint(s.max_event_time_ms);
  w.varint(s.applied_through);
  w.varint(s.events_applied);
  w.varint(s.events_too_late);
  w.svarint(s.fine.end());
  w.svarint(s.coarse.end());

  const auto write_tier = [&](const Tier& tier, bool keep_pending) {
    std::vector<const Bucket*> held;
    for (const Bucket& b : tier.ring())
      if (b.held() && (b.index >= tier.horizon() || (keep_pending && b.pending))) held.push_back(&b);
    w.varint(held.size());
    for (const Bucket* b : held) {
      w.svarint(b->index);
      w.u8(static_cast<std::uint8_t>((b->pending ? kBucketPending : 0) | (b->users_trimmed ? kBucketUsersTrimmed : 0) |
                                     (b->spilled ? kBucketSpilled : 0)));
      // A frozen bucket without users is this encoding already (Bucket::freeze).
      if (b->is_frozen() && !b->has_users()) w.bytes(b->frozen);
      else w.bytes(encode_rollup(b->to_rollup(b->index)));  // a spilled one: counts only
      // A spilled bucket's store sequence; 0 for the others (restored, they
      // are not known to match their store copy until written again).
      w.varint(b->spilled ? b->stored_through : 0);
    }
  };
  write_tier(s.fine, false);
  write_tier(s.coarse, true);

  // The coarse tier's users: each row's newest minute per cell as its
  // distance back from the end (0 = none), then each held minute's sketch.
  w.varint(s.coarse.users_tracked());
  s.coarse.for_each_user([&](Id u, const std::array<std::int64_t, Tier::kUserCells>& last) {
    w.varint(u);
    for (std::int64_t m : last) w.varint(m == kNoBucket ? 0 : static_cast<std::uint64_t>(s.coarse.end() - m));
  });
  std::vector<std::int64_t> sketched;
  if (s.coarse.started())
    for (std::int64_t m = s.coarse.horizon(); m < s.coarse.end(); ++m)
      if (s.coarse.sketch(m) != nullptr) sketched.push_back(m);
  w.varint(sketched.size());
  for (std::int64_t m : sketched) {
    w.svarint(m);
    for (const auto& cell : s.coarse.sketch(m)->cells) write_sketch_cell(w, cell);
  }

  w.varint(s.evicted_pending.size());
  for (const auto& r : s.evicted_pending) {
    w.svarint(r.minute);
    w.bytes(encode_rollup(r));
  }

  w.varint(s.profiles.size());
  s.profiles.for_each_with_lists([&](const ProfileState& p) {
    w.varint(p.user);
    for (auto n : p.events) w.varint(n);
    w.svarint(p.spend_minor);
    w.svarint(p.first_seen_ms);
    w.svarint(p.last_seen_ms);
    w.varint(p.categories.size());
    for (const auto& [id, n] : p.categories) {
      w.varint(id);
      w.varint(n);
    }
    w.varint(p.recent.size());
    for (std::size_t i = p.recent.size(); i-- > 0;) write_event(w, p.recent_at(i));  // oldest first
  });

  // Filter buffer, oldest first; time and sequence as deltas from the
  // previous event (arrival order keeps both small), about 15 bytes an event.
  // The buffer keeps no sequences (nothing reads them back): each is written
  // as 0, a delta of one byte, and read as such by every format.
  w.svarint(s.covered_from_ms);
  const BufferedEvents buffered = s.buffered();
  w.varint(buffered.older.size() + buffered.newer.size());
  w.reserve(w.size() + 16 * (buffered.older.size() + buffered.newer.size()));
  TimestampMs prev_time = 0;
  Sequence prev_seq = 0;
  const auto put = [&](const Event& e) {
    w.svarint(static_cast<std::int64_t>(static_cast<std::uint64_t>(e.time_ms) - static_cast<std::uint64_t>(prev_time)));
    w.svarint(static_cast<std::int64_t>(e.sequence - prev_seq));
    prev_time = e.time_ms;
    prev_seq = e.sequence;
    write_event_body(w, e);
  };
  for (const BufferedEvent& e : buffered.older) put(e.event());
  for (const BufferedEvent& e : buffered.newer) put(e.event());
  return w.take();
}

Result<WindowEngine> WindowEngine::restore(const WindowConfig& config, std::string_view bytes) {
  const auto corrupt = [](const char* what) { return make_error(Errc::corrupt, std::string("checkpoint: ") + what); };
  ByteReader r(bytes);
  const std::uint8_t format = r.u8();
  if (format != kCheckpointFormat && format != kCheckpointFormatV4 && format != kCheckpointFormatV3 &&
      format != kCheckpointFormatV2 && format != kCheckpointFormatV1)
    return corrupt("unknown format");
  const std::int64_t lateness = r.svarint();
  if (r.failed()) return corrupt("truncated header");
  if (lateness != config.allowed_lateness_ms)
    return make_error(Errc::invalid_argument, "checkpoint: taken with a different allowed lateness",
                      "allowed_lateness_ms");
  WindowEngine engine(config);
  State& s = *engine.state_;
  s.has_events = r.u8() != 0;
  s.max_event_time_ms = r.svarint();
  s.applied_through = r.varint();
  s.events_applied = r.varint();
  s.events_too_late = r.varint();
  const std::int64_t fine_end = r.svarint();
  const std::int64_t coarse_end = r.svarint();
  // Times this far out are not real and would overflow the bucket arithmetic.
  constexpr std::int64_t kTimeLimit = std::int64_t{1} << 60;
  if (r.failed() || s.max_event_time_ms > kTimeLimit || s.max_event_time_ms < -kTimeLimit)
    return corrupt("truncated header");
  s.watermark_ms = s.has_events ? s.max_event_time_ms - config.allowed_lateness_ms : 0;
  if (s.has_events != (fine_end != kNoBucket) || s.has_events != (coarse_end != kNoBucket) ||
      (s.has_events && (fine_end != floor_div(s.watermark_ms, kFineWidthMs) ||
                        coarse_end != floor_div(s.watermark_ms, kCoarseWidthMs))))
    return corrupt("inconsistent watermark");

  const auto read_tier = [&](Tier& tier) -> bool {
    const std::size_t n = r.count(3);
    for (std::size_t i = 0; i < n && !r.failed(); ++i) {
      const std::int64_t index = r.svarint();
      const std::uint8_t flags = r.u8();
      const bool pending = (flags & kBucketPending) != 0;
      const bool trimmed = format >= kCheckpointFormatV3 && (flags & kBucketUsersTrimmed) != 0;
      const bool spilled = format >= kCheckpointFormat && (flags & kBucketSpilled) != 0;
      if (format >= kCheckpointFormat ? flags > 7 : format >= kCheckpointFormatV3 ? flags > 3 : flags > 1)
        return false;
      const std::string_view encoded = r.bytes();
      const Sequence stored_through = format >= kCheckpointFormat ? r.varint() : 0;
      if (r.failed() || index == kNoBucket) return false;
      // A spilled minute is settled (no users of its own) and has a store
      // copy; only the coarse tier of an engine with a store spills.
      if (spilled && (!trimmed || pending || stored_through == 0 || &tier != &s.coarse || !tier.spills()))
        return false;
      auto rollup = decode_rollup(index, encoded);
      if (!rollup) return false;
      // Users are sorted; id 0 means "no user" and never comes from an event.
      if (!rollup->users.empty() && rollup->users.front().first == kNoId) return false;
      if (spilled && (!rollup->products.empty() || !rollup->categories.empty() || !rollup->users.empty()))
        return false;
      Bucket& b = tier.slot(index);
      if (b.held()) return false;  // two buckets for one slot
      b.index = index;
      b.assign(*rollup);
      b.pending = pending;
      b.users_trimmed = trimmed;
      // The store copy may be newer than this checkpoint (a late event since):
      // the tier reads its sequence when it first loads it.
      b.spilled = spilled;
      b.stored_through = spilled ? stored_through : 0;
      b.through_known = false;
      if (pending) s.pending_minutes.push_back(index);
    }
    return !r.failed();
  };
  if (!read_tier(s.fine) || !read_tier(s.coarse)) return corrupt("bad bucket");
  s.fine.reset_end(fine_end);
  try {
    s.coarse.reset_end(coarse_end);  // reads the spilled minutes of the current windows back
  } catch (const windows::StoredMinuteLost& lost) {
    return make_error(Errc::corrupt, std::string("checkpoint: a spilled ") + lost.what());
  }
  if (format >= kCheckpointFormatV3) {
    const std::size_t n_users = r.count(1 + Tier::kUserCells);
    for (std::size_t i = 0; i < n_users && !r.failed(); ++i) {
      const Id user = r.u32();
      std::array<std::int64_t, Tier::kUserCells> last;
      for (auto& m : last) {
        const std::uint64_t back = r.varint();
        // Rows are counted back from the end, which an engine without
        // events does not have (coarse_end is then the no-bucket sentinel).
        if (back > (std::uint64_t{1} << 40) || !s.has_events) r.fail();
        m = back == 0 || r.failed() ? kNoBucket : coarse_end - static_cast<std::int64_t>(back);
      }
      if (r.failed() || !s.has_events || !s.coarse.restore_user(user, last)) return corrupt("bad user row");
    }
    const std::size_t n_sketches = r.count(1 + Tier::kUserCells);
    for (std::size_t i = 0; i < n_sketches && !r.failed(); ++i) {
      const std::int64_t minute = r.svarint();
      Tier::Sketch sketch;
      for (auto& cell : sketch.cells)
        if (!r.failed() && !read_sketch_cell(r, cell, format < kCheckpointFormatV4)) r.fail();
      if (r.failed() || !s.has_events || !s.coarse.restore_sketch(minute, sketch)) return corrupt("bad sketch");
    }
  }
  // Settle every minute a running engine would have settled: older formats
  // kept every minute's users (just rebuilt into rows and sketches), and no
  // format keeps a bucket frozen.
  std::vector<std::int64_t> held;
  for (const Bucket& b : s.coarse.ring())
    if (b.held()) held.push_back(b.index);
  for (std::int64_t m : held)
    if (Bucket* b = s.coarse.find(m); s.coarse.settled(*b)) s.coarse.settle(*b);

  const std::size_t n_evicted = r.count(2);
  for (std::size_t i = 0; i < n_evicted && !r.failed(); ++i) {
    const std::int64_t minute = r.svarint();
    auto rollup = decode_rollup(minute, r.bytes());
    if (r.failed() || !rollup) return corrupt("bad evicted minute");
    s.evicted_pending.push_back(std::move(*rollup));
  }

  const std::size_t n_profiles = r.count(12);
  for (std::size_t i = 0; i < n_profiles && !r.failed(); ++i) {
    ProfileState p;
    p.user = r.u32();
    for (auto& n : p.events) {
      const std::uint64_t v = r.varint();
      if (v > UINT32_MAX) r.fail();
      n = static_cast<std::uint32_t>(v);
    }
    p.spend_minor = r.svarint();
    p.first_seen_ms = r.svarint();
    p.last_seen_ms = r.svarint();
    const std::size_t n_categories = r.count(2);
    for (std::size_t c = 0; c < n_categories && !r.failed(); ++c) {
      const Id id = r.u32();
      const std::uint64_t n = r.varint();
      if (n > UINT32_MAX) r.fail();
      p.categories.emplace_back(id, static_cast<std::uint32_t>(n));
    }
    const std::size_t n_recent = r.count(13);
    for (std::size_t k = 0; k < n_recent && !r.failed(); ++k) p.remember(read_event(r), config.recent_events_per_user);
    if (r.failed() || p.user == kNoId || s.profiles.find(p.user)) return corrupt("bad profile");
    const Id user = p.user;
    s.profiles.account(static_cast<std::ptrdiff_t>(ProfileTable::heap_bytes(p)));
    s.profiles.get_or_add(user) = std::move(p);
  }

  if (format == kCheckpointFormatV1) {
    // No buffer was kept: nothing up to the newest event time is covered.
    s.covered_from_ms = s.has_events ? s.max_event_time_ms + 1 : INT64_MIN;
  } else {
    s.covered_from_ms = r.svarint();
    const std::size_t n_buffered = r.count(11);
    TimestampMs prev_time = 0;
    Sequence prev_seq = 0;
    for (std::size_t i = 0; i < n_buffered && !r.failed(); ++i) {
      Event e;
      // Wrapping arithmetic: deltas were taken modulo 2^64.
      e.time_ms = static_cast<TimestampMs>(static_cast<std::uint64_t>(prev_time) +
                                           static_cast<std::uint64_t>(r.svarint()));
      e.sequence = prev_seq + static_cast<Sequence>(r.svarint());
      prev_time = e.time_ms;
      prev_seq = e.sequence;
      read_event_body(r, e);
      if (!r.failed()) s.buffer_event(e);  // a smaller bound keeps the newest
    }
    if (r.failed()) return corrupt("bad filter buffer");
  }
  if (r.failed() || !r.at_end()) return corrupt("malformed bytes");
  return engine;
}

}  // namespace shoppulse
