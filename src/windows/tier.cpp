#include "tier.hpp"

#include <algorithm>
#include <bit>

namespace shoppulse::windows {
namespace {

// Bits i of the result: bit 2i (span i's current window) of `windows`.
std::uint32_t current_spans(std::uint32_t windows) noexcept {
  std::uint32_t out = 0;
  for (std::uint32_t i = 0; windows >> (2 * i); ++i)
    if ((windows >> (2 * i)) & 1u) out |= 1u << i;
  return out;
}

void add_count(FlatMap<std::uint64_t>& map, Id id, std::uint64_t n) { map[id] += n; }

void subtract_count(FlatMap<std::uint64_t>& map, Id id, std::uint64_t n) {
  std::uint64_t* v = map.find(id);
  if (v == nullptr) return;  // unreachable while buckets and windows agree
  *v -= n;
  if (*v == 0) map.erase(id);
}

}  // namespace

Tier::Tier(std::int64_t width_ms, std::initializer_list<WindowSpan> spans, std::int64_t allowed_lateness_ms,
           UserTracking tracking)
    : width_ms_(width_ms),
      tracking_(tracking),
      users_(tracking == UserTracking::per_bucket ? kUserCells * 2 * spans.size() : 0),
      products_(spans.size()),
      categories_(spans.size()) {
  for (WindowSpan s : spans) {
    const std::int64_t length = span_ms(s) / width_ms;
    spans_.push_back(s);
    lengths_.push_back(length);
    horizon_length_ = std::max(horizon_length_, 2 * length);
    longest_ = std::max(longest_, length);
  }
  totals_.resize(2 * spans_.size());
  devices_.resize(spans_.size());
  locations_.resize(spans_.size());
  // Held buckets run from the horizon to the newest event, which is at most
  // the lateness (rounded up) plus one partial bucket past the end.
  const std::int64_t ahead = (std::max<std::int64_t>(allowed_lateness_ms, 0) + width_ms - 1) / width_ms + 2;
  ring_.resize(static_cast<std::size_t>(horizon_length_ + ahead + 1));
  if (tracking_ == UserTracking::last_seen) {
    heads_.resize(ring_.size());
    for (auto& h : heads_) h.fill(kNoId);
    list_sizes_.resize(ring_.size());
    for (auto& n : list_sizes_) n.fill(0);
    sketches_.resize(ring_.size());
    sketch_index_.resize(ring_.size(), kNoBucket);
    previous_.resize(spans_.size());
    previous_stale_.assign(spans_.size(), 2);
    previous_estimate_.resize(spans_.size());
    blocks_.resize(ring_.size() / static_cast<std::size_t>(kBlockBuckets) + 2);
  }
}

int Tier::span_index(WindowSpan span) const noexcept {
  for (std::size_t i = 0; i < spans_.size(); ++i)
    if (spans_[i] == span) return static_cast<int>(i);
  return -1;
}

std::uint32_t Tier::membership(std::int64_t bucket, std::int64_t end) const noexcept {
  std::uint32_t mask = 0;
  if (bucket >= end) return 0;
  for (std::size_t i = 0; i < lengths_.size(); ++i) {
    const std::int64_t l = lengths_[i];
    if (bucket >= end - l)
      mask |= 1u << (2 * i);
    else if (bucket >= end - 2 * l)
      mask |= 1u << (2 * i + 1);
  }
  return mask;
}

namespace {

// Applies `apply` to each item in order, its id's index entry in `rows`
// requested kIndexAhead items ahead and its row kRowAhead ahead (the first
// ones before the walk starts): ids scattered over tables of millions of
// ids then overlap their cache misses.
template <class Item, class Rows, class IdOf, class Apply>
void walk_prefetched(const std::vector<Item>& items, const Rows& rows, IdOf id_of, Apply apply) {
  constexpr std::size_t kIndexAhead = 16, kRowAhead = 8;
  const std::size_t n = items.size();
  for (std::size_t i = 0; i < std::min(n, kIndexAhead); ++i) rows.prefetch_index(id_of(items[i]));
  for (std::size_t i = 0; i < std::min(n, kRowAhead); ++i) rows.prefetch_row(id_of(items[i]));
  for (std::size_t i = 0; i < n; ++i) {
    if (i + kIndexAhead < n) rows.prefetch_index(id_of(items[i + kIndexAhead]));
    if (i + kRowAhead < n) rows.prefetch_row(id_of(items[i + kRowAhead]));
    apply(items[i]);
  }
}

}  // namespace

void Tier::apply_user(Id user, std::uint8_t mask, bool any, std::uint32_t added, std::uint32_t removed) {
  std::uint16_t* row = users_.get_or_add(user);
  for (std::uint32_t bits = added; bits; bits &= bits - 1) {
    const int w = std::countr_zero(bits);
    std::uint16_t* c = row + w * kUserCells;
    WindowTotals& t = totals_[static_cast<std::size_t>(w)];
    if (any && c[0]++ == 0) ++t.active_users;
    for (std::size_t k = 0; k < kFunnelSteps; ++k)
      if ((mask & type_bit(kFunnelTypes[k])) && c[1 + k]++ == 0) ++t.funnel[k];
  }
  if (removed == 0) return;
  for (std::uint32_t bits = removed; bits; bits &= bits - 1) {
    const int w = std::countr_zero(bits);
    std::uint16_t* c = row + w * kUserCells;
    WindowTotals& t = totals_[static_cast<std::size_t>(w)];
    if (any && --c[0] == 0) --t.active_users;
    for (std::size_t k = 0; k < kFunnelSteps; ++k)
      if ((mask & type_bit(kFunnelTypes[k])) && --c[1 + k] == 0) --t.funnel[k];
  }
  // A user in no window has every count at zero (a step implies `any`).
  for (std::size_t w = 0; w < totals_.size(); ++w)
    if (row[w * kUserCells] != 0) return;
  users_.release(user);
}

void Tier::move_bucket(Bucket& b, std::uint32_t added, std::uint32_t removed) {
  move_aggregates(b, added, removed);
  apply_product_moves();
  queue_user_moves(b, added, removed);
  apply_user_moves();
}

void Tier::apply_product_moves() {
  // As for the users: one run over the products of every bucket an advance
  // moves (a product's count only adds and subtracts; an id is listed
  // whenever an add leaves it at the threshold or above, whatever the order).
  walk_prefetched(product_moves_, products_, [](const ProductMove& m) { return m.product; },
                  [&](const ProductMove& m) { products_.apply(m.product, m.count, m.added, m.removed); });
  product_moves_.clear();
}

void Tier::queue_user_moves(const Bucket& b, std::uint32_t added, std::uint32_t removed) {
  b.for_each_user([&](Id u, std::uint8_t m) { user_moves_.push_back(UserMove{u, m, added, removed}); });
}

void Tier::apply_user_moves() {
  // One run over the users of every bucket an advance moves: a second holds
  // few users on real data (~14 on the Taobao sample), too few for a
  // bucket's own run to overlap its cache misses.
  walk_prefetched(user_moves_, users_, [](const UserMove& m) { return m.user; },
                  [&](const UserMove& m) { apply_user(m.user, m.mask, true, m.added, m.removed); });
  user_moves_.clear();
}

void Tier::move_aggregates(Bucket& b, std::uint32_t added, std::uint32_t removed) {
  for (std::uint32_t bits = added; bits; bits &= bits - 1) {
    WindowTotals& t = totals_[static_cast<std::size_t>(std::countr_zero(bits))];
    for (std::size_t k = 0; k < kEventTypeCount; ++k) t.events[k] += b.events[k];
    t.revenue_minor += b.revenue_minor;
  }
  for (std::uint32_t bits = removed; bits; bits &= bits - 1) {
    WindowTotals& t = totals_[static_cast<std::size_t>(std::countr_zero(bits))];
    for (std::size_t k = 0; k < kEventTypeCount; ++k) t.events[k] -= b.events[k];
    t.revenue_minor -= b.revenue_minor;
  }
  const std::uint32_t spans_added = current_spans(added);
  const std::uint32_t spans_removed = current_spans(removed);
  if ((spans_added | spans_removed) == 0) return;  // only previous windows: KPIs only
  if (b.spilled) Bucket::details_of(load_stored(b), details_);
  else b.details(details_);
  // Queued like the users (apply_user_moves()): the caller applies them.
  for (const auto& [p, n] : details_.products) product_moves_.push_back(ProductMove{p, spans_added, spans_removed, n});
  for (const auto& [c, n] : details_.categories) categories_.apply(c, n, spans_added, spans_removed);
  for (std::size_t i = 0; i < spans_.size(); ++i) {
    if ((spans_added >> i) & 1u) {
      for (const auto& [d, n] : details_.devices) add_count(devices_[i], d, n);
      for (const auto& [l, n] : details_.locations) add_count(locations_[i], l, n);
    }
    if ((spans_removed >> i) & 1u) {
      for (const auto& [d, n] : details_.devices) subtract_count(devices_[i], d, n);
      for (const auto& [l, n] : details_.locations) subtract_count(locations_[i], l, n);
    }
  }
}

void Tier::touch(Id user, std::uint8_t mask, std::int64_t bucket) {
  SeenCell* row = seen_.get_or_add(user);
  touch_cell(user, row, 0, bucket);
  for (std::size_t k = 0; k < kFunnelSteps; ++k)
    if (mask & type_bit(kFunnelTypes[k])) touch_cell(user, row, 1 + k, bucket);
}

void Tier::touch_cell(Id user, SeenCell* row, std::size_t cell, std::int64_t bucket) {
  SeenCell& s = row[cell];
  if (s.last != kNoBucket && s.last >= bucket) return;
  // Counts agree with end_ for every bucket older than this one (leaving
  // buckets are walked before entering ones), so "was in" reads end_ too.
  for (std::size_t i = 0; i < lengths_.size(); ++i) {
    const std::int64_t start = end_ - lengths_[i];
    const bool was_in = s.last != kNoBucket && s.last >= start;
    if (bucket >= start && !was_in) ++user_count(2 * i, cell);
  }
  if (s.last != kNoBucket) unlink(user, s, cell);
  s.last = bucket;
  Id& head = heads_[ring_pos(bucket)][cell];
  ++list_sizes_[ring_pos(bucket)][cell];
  s.prev = kNoId;
  s.next = head;
  if (head != kNoId) seen_.find(head)[cell].prev = user;
  head = user;
}

void Tier::unlink(Id user, SeenCell& s, std::size_t cell) noexcept {
  (void)user;
  if (s.prev != kNoId) seen_.find(s.prev)[cell].next = s.next;
  else heads_[ring_pos(s.last)][cell] = s.next;
  --list_sizes_[ring_pos(s.last)][cell];
  if (s.next != kNoId) seen_.find(s.next)[cell].prev = s.prev;
  s.prev = s.next = kNoId;
}

void Tier::leave(std::int64_t bucket, std::uint32_t leaving) {
  const std::size_t pos = ring_pos(bucket);
  // A user leaves a window with the minute iff the minute is its newest in
  // the cell: the cell's list, whose length is kept.
  for (std::size_t c = 0; c < kUserCells; ++c)
    for (std::uint32_t bits = leaving; bits; bits &= bits - 1)
      user_count(2 * static_cast<std::size_t>(std::countr_zero(bits)), c) -= list_sizes_[pos][c];
  if (bucket >= end_ - longest_) return;  // still in the longest window: the lists stay
  // Out of every window: the rows let go of the minute. Funnel cells before
  // `any`: a user's newest bucket for a step is never newer than for any
  // event, so a row is empty once `any` leaves.
  for (std::size_t c = kUserCells; c-- > 0;) {
    Id u = heads_[pos][c];
    while (u != kNoId) {
      SeenCell* row = seen_.find(u);
      SeenCell& s = row[c];
      const Id next = s.next;
      s = SeenCell{};
      if (c == 0) seen_.release(u);  // every cell is back to SeenCell{}, as a reused row must be
      u = next;
    }
    heads_[pos][c] = kNoId;
    list_sizes_[pos][c] = 0;
  }
}

Tier::Sketch& Tier::sketch_for(std::int64_t bucket) {
  const std::size_t pos = ring_pos(bucket);
  auto& sk = sketches_[pos];
  if (!sk) {
    sk = std::make_unique<Sketch>();
  } else if (sketch_index_[pos] != bucket) {
    block_changed(sketch_index_[pos]);  // the slot's older bucket loses its sketch
    sk->clear();
  }
  sketch_index_[pos] = bucket;
  block_changed(bucket);  // the caller is about to add to it
  return *sk;
}

void Tier::block_changed(std::int64_t bucket) noexcept {
  if (bucket == kNoBucket || blocks_.empty()) return;
  const std::int64_t block = floor_div(bucket, kBlockBuckets);
  const auto n = static_cast<std::int64_t>(blocks_.size());
  BlockUnion& u = blocks_[static_cast<std::size_t>(((block % n) + n) % n)];
  if (u.block == block) u.current = false;
}

const Tier::Sketch* Tier::block_union(std::int64_t block) const {
  const auto n = static_cast<std::int64_t>(blocks_.size());
  BlockUnion& u = blocks_[static_cast<std::size_t>(((block % n) + n) % n)];
  if (u.block != block || !u.current) {
    if (!u.sketch) u.sketch = std::make_unique<Sketch>();
    else u.sketch->clear();
    u.empty = true;
    for (std::int64_t m = block * kBlockBuckets; m < (block + 1) * kBlockBuckets; ++m)
      if (const Sketch* sk = sketch(m)) {
        u.sketch->merge(*sk);
        u.empty = false;
      }
    u.block = block;
    u.current = true;
  }
  return u.empty ? nullptr : u.sketch.get();
}

const Tier::Sketch* Tier::sketch(std::int64_t bucket) const noexcept {
  if (tracking_ != UserTracking::last_seen) return nullptr;
  const std::size_t pos = ring_pos(bucket);
  return sketches_[pos] && sketch_index_[pos] == bucket ? sketches_[pos].get() : nullptr;
}

void Tier::add_to_sketch(const Bucket& b) {
  if (!b.has_users()) return;
  Sketch& sk = sketch_for(b.index);
  b.for_each_user([&](Id u, std::uint8_t mask) {
    const std::uint64_t h = sketch_hash(u);
    sk.add(0, h);
    for (std::size_t k = 0; k < kFunnelSteps; ++k)
      if (mask & type_bit(kFunnelTypes[k])) sk.add(1 + k, h);
  });
}

void Tier::mark_previous_changed(std::uint32_t windows) noexcept {
  for (std::size_t i = 0; i < spans_.size(); ++i)
    if ((windows >> (2 * i + 1)) & 1u) previous_stale_[i] = 2;
}

void Tier::settle(Bucket& b) {
  b.users = FlatMap<std::uint8_t>{};
  b.users_trimmed = true;
  if (b.spilled) return;
  if (stored_ && b.stored_through != 0) b.spill();
  else b.freeze();
}

MinuteRollup Tier::load_stored(Bucket& b) {
  const auto lost = [&](const std::string& why) { return StoredMinuteLost("minute " + std::to_string(b.index) + why); };
  auto loaded = stored_ ? stored_(b.index) : Result<std::optional<MinuteRollup>>(std::nullopt);
  if (!loaded) throw lost(" of the rollup store unreadable: " + loaded.error().detail);
  if (!*loaded) throw lost(" is not in the rollup store");
  MinuteRollup r = std::move(**loaded);
  if (r.through < b.stored_through || (b.through_known && r.through != b.stored_through))
    throw lost(" of the rollup store covers sequence " + std::to_string(r.through) + ", the engine holds it through " +
               std::to_string(b.stored_through));
  b.stored_through = r.through;
  b.through_known = true;
  return r;
}

bool Tier::take_back(Bucket& b, const Event& e) {
  if (!b.through_known || e.sequence > b.stored_through) {
    MinuteRollup r = load_stored(b);
    if (e.sequence > b.stored_through) {
      b.unspill(r);
      return true;
    }
  }
  b.add_counts_only(e);
  return false;
}

bool Tier::restore_user(Id user, const std::array<std::int64_t, kUserCells>& last) {
  if (user == kNoId || last[0] == kNoBucket) return false;
  for (std::int64_t m : last)
    if (m != kNoBucket && (m < end_ - longest_ || m >= end_ || m > last[0])) return false;
  SeenCell* row = seen_.get_or_add(user);
  for (std::size_t c = 0; c < kUserCells; ++c)
    if (last[c] != kNoBucket) touch_cell(user, row, c, last[c]);
  return true;
}

bool Tier::restore_sketch(std::int64_t bucket, const Sketch& sketch) {
  if (bucket >= end_ || bucket < horizon()) return false;
  sketch_for(bucket).merge(sketch);
  mark_previous_changed(membership(bucket, end_));
  return true;
}

void Tier::prefetch_moving(std::int64_t old_end, std::int64_t new_end) const noexcept {
  // On a slow event clock an advance moves a few buckets (one a boundary),
  // each last written minutes of event time ago: their slots, then their
  // users' and details' arrays are asked for before the first is read, so
  // their cache misses overlap instead of coming one after another.
  constexpr std::size_t kMost = 16;
  std::size_t n = 0;
  for (std::int64_t index : candidates_) {
    if (n == kMost) break;
    if (membership(index, old_end) == membership(index, new_end)) continue;
    prefetch_all(&ring_[ring_pos(index)], sizeof(Bucket));
    ++n;
  }
  n = 0;
  for (std::int64_t index : candidates_) {
    if (n == kMost) break;
    if (membership(index, old_end) == membership(index, new_end)) continue;
    const Bucket& b = ring_[ring_pos(index)];
    if (b.index == index) b.prefetch_contents();
    ++n;
  }
}

void Tier::advance(std::int64_t new_end) {
  if (end_ == kNoBucket) {
    reset_end(new_end);
    return;
  }
  if (new_end <= end_) return;
  const std::int64_t old_end = end_;
  const std::int64_t k = new_end - old_end;
  // A bucket changes windows only if it lies within k of a boundary: the
  // end, or the start of a current or previous window.
  candidates_.clear();
  const auto boundaries = static_cast<std::int64_t>(2 * lengths_.size() + 1);
  if (k * boundaries >= static_cast<std::int64_t>(ring_.size())) {
    for (const Bucket& b : ring_)
      if (b.held()) candidates_.push_back(b.index);
    // Oldest first: a user's row is freed with its newest bucket, after the
    // older buckets of its funnel cells have let it go.
    std::sort(candidates_.begin(), candidates_.end());
  } else {
    const auto range = [&](std::int64_t from) {
      for (std::int64_t b = from; b < from + k; ++b) candidates_.push_back(b);
    };
    range(old_end);
    for (std::int64_t l : lengths_) {
      range(old_end - l);
      range(old_end - 2 * l);
    }
    std::sort(candidates_.begin(), candidates_.end());
    candidates_.erase(std::unique(candidates_.begin(), candidates_.end()), candidates_.end());
  }
  end_ = new_end;
  prefetch_moving(old_end, new_end);
  if (tracking_ == UserTracking::per_bucket) {
    // Every moving bucket's sums first, its users queued; then all the
    // users as one run (a user's counts only add and subtract, so the order
    // of buckets does not change them); then each bucket is packed, frozen
    // or dropped, which needs its users and details no more.
    moved_.clear();
    for (std::int64_t index : candidates_) {
      Bucket* b = find(index);
      if (b == nullptr) continue;
      const std::uint32_t before = membership(index, old_end);
      const std::uint32_t after = membership(index, new_end);
      if (before == after) continue;
      move_aggregates(*b, after & ~before, before & ~after);
      queue_user_moves(*b, after & ~before, before & ~after);
      moved_.emplace_back(b, before, after);
    }
    apply_product_moves();
    apply_user_moves();
    for (const auto& [b, before, after] : moved_) {
      const std::int64_t index = b->index;
      // Closed, its users are read again only whole, as it crosses the next
      // boundary: packed. A late event unpacks them (Bucket::add); they are
      // packed again only once the second leaves the current windows, so a
      // second packs at most twice however many late events reach it.
      const bool closing = before == 0, leaving = index < end_ - longest_ && !b->details_dropped;
      if (index < end_ - longest_) b->drop_details();  // out of every current window for good
      else if (closing && b->worth_freezing()) b->freeze();  // closed: read again only as it leaves a window
      if (after != 0 && (closing || leaving) && b->worth_packing()) b->pack_users(pack_scratch_);
    }
    return;
  }
  // last_seen: first every bucket's sums and the users leaving with it, so
  // that the counts agree with the new end for everything already inside;
  // then the buckets entering from ahead of the end bring their users.
  for (std::int64_t index : candidates_) {
    const std::uint32_t before = membership(index, old_end);
    const std::uint32_t after = membership(index, new_end);
    if (before == after) continue;
    const std::size_t pos = ring_pos(index);
    Bucket* b = find(index);
    if (b == nullptr) continue;  // lists and sketches of the slot belong to its own bucket
    mark_previous_changed(before ^ after);
    move_aggregates(*b, after & ~before, before & ~after);
    const std::uint32_t leaving = current_spans(before & ~after);
    if (leaving != 0) leave(index, leaving);
    if (after == 0 && sketches_[pos] && sketch_index_[pos] == index) {  // past the horizon
      sketches_[pos].reset();
      block_changed(index);
    }
  }
  apply_product_moves();
  for (std::int64_t index : candidates_) {
    if (membership(index, old_end) != 0 || membership(index, new_end) == 0) continue;
    const Bucket* b = find(index);
    if (b == nullptr) continue;
    add_to_sketch(*b);
    if (index < end_ - longest_) continue;  // straight into the previous windows
    moving_.clear();
    b->for_each_user([&](Id u, std::uint8_t m) { moving_.emplace_back(u, m); });
    walk_prefetched(moving_, seen_, [](const auto& m) { return m.first; },
                    [&](const auto& m) { touch(m.first, static_cast<std::uint8_t>(m.second), index); });
  }
  // Buckets closed before this advance (so pending or handed over) that are
  // now far enough behind the end drop their own users; those closed by this
  // advance wait until WindowEngine::take_closed_minutes() has taken them.
  const std::int64_t from = std::max(old_end - kUserTrimLag, horizon());
  const std::int64_t to = std::min(new_end - kUserTrimLag, old_end);
  for (std::int64_t m = from; m < to; ++m)
    if (Bucket* b = find(m); b != nullptr && !(b->users_trimmed && (b->is_frozen() || b->spilled)) && settled(*b))
      settle(*b);
}

void Tier::reset_end(std::int64_t end) {
  end_ = end;
  product_moves_.clear();  // left by an advance that threw (StoredMinuteLost)
  user_moves_.clear();
  for (auto& t : totals_) t = WindowTotals{};
  for (auto& m : devices_) m.clear();
  for (auto& m : locations_) m.clear();
  users_.clear();
  products_.clear();
  categories_.clear();
  if (tracking_ == UserTracking::last_seen) {
    seen_.clear();
    for (auto& h : heads_) h.fill(kNoId);
    for (auto& n : list_sizes_) n.fill(0);
    for (auto& sk : sketches_) sk.reset();
    for (auto& p : previous_) p.reset();
    previous_stale_.assign(spans_.size(), 2);
    for (auto& u : blocks_) u = BlockUnion{};
  }
  if (end_ == kNoBucket) return;
  if (tracking_ == UserTracking::per_bucket) {
    for (Bucket& b : ring_) {
      if (!b.held()) continue;
      const std::uint32_t windows = membership(b.index, end_);
      if (windows != 0) move_bucket(b, windows, 0);
      if (b.index < end_ - longest_) b.drop_details();
      else if (windows != 0 && b.worth_freezing()) b.freeze();
      if (windows != 0 && b.worth_packing()) b.pack_users(pack_scratch_);
    }
    return;
  }
  std::vector<Bucket*> held;
  for (Bucket& b : ring_)
    if (b.held() && membership(b.index, end_) != 0) held.push_back(&b);
  std::sort(held.begin(), held.end(), [](const Bucket* a, const Bucket* b) { return a->index < b->index; });
  for (Bucket* b : held) {
    move_aggregates(*b, membership(b->index, end_), 0);
    add_to_sketch(*b);
    if (b->index >= end_ - longest_)
      b->for_each_user([&](Id u, std::uint8_t m) { touch(u, m, b->index); });
  }
  apply_product_moves();
}

void Tier::on_event(const Event& e, std::int64_t bucket, std::uint8_t mask_before, bool with_details) {
  if (tracking_ == UserTracking::per_bucket && bucket < end_ - longest_)
    if (Bucket* b = find(bucket); b != nullptr && !b->details_dropped) b->drop_details();  // a late event's new bucket
  const std::uint32_t windows = membership(bucket, end_);
  if (windows == 0) return;  // not inside any window yet; it enters when the end passes it
  const auto type = static_cast<std::size_t>(e.type);
  const std::int64_t revenue = e.revenue_minor();
  for (std::uint32_t bits = windows; bits; bits &= bits - 1) {
    WindowTotals& t = totals_[static_cast<std::size_t>(std::countr_zero(bits))];
    ++t.events[type];
    t.revenue_minor += revenue;
  }
  if (tracking_ == UserTracking::last_seen) {
    // Only late events get here (the bucket is already inside the windows).
    const std::uint64_t h = sketch_hash(e.user);
    sketch_for(bucket).add(0, h);
    for (std::size_t k = 0; k < kFunnelSteps; ++k)
      if (e.type == kFunnelTypes[k]) sketch_for(bucket).add(1 + k, h);
    mark_previous_changed(windows);
    if (bucket >= end_ - longest_) touch(e.user, type_bit(e.type), bucket);
  } else {
    const auto gained = static_cast<std::uint8_t>(type_bit(e.type) & ~mask_before);
    if (gained) apply_user(e.user, gained, mask_before == 0, windows, 0);
  }
  const std::uint32_t spans = current_spans(windows);
  if (spans == 0 || !with_details) return;
  if (e.product != kNoId) products_.apply(e.product, 1, spans, 0);
  if (e.category != kNoId) categories_.apply(e.category, 1, spans, 0);
  for (std::uint32_t bits = spans; bits; bits &= bits - 1) {
    const auto i = static_cast<std::size_t>(std::countr_zero(bits));
    if (e.device != kNoId) ++devices_[i][e.device];
    if (e.location != kNoId) ++locations_[i][e.location];
  }
}

Kpis Tier::kpis(WindowSpan span, bool previous) const {
  const WindowTotals& t = totals_[2 * static_cast<std::size_t>(span_index(span)) + (previous ? 1 : 0)];
  Kpis k;
  k.events = t.events;
  k.revenue_minor = t.revenue_minor;
  k.active_users = t.active_users;
  k.funnel = t.funnel;
  if (tracking_ == UserTracking::last_seen && previous) {
    const auto i = static_cast<std::size_t>(span_index(span));
    if (previous_stale_[i] == 2) {
      // The union of the previous window's minutes: whole blocks by their
      // unions, the rest minute by minute.
      if (!previous_[i]) previous_[i] = std::make_unique<Sketch>();
      previous_[i]->clear();
      const std::int64_t length = lengths_[i];
      const std::int64_t last = end_ - length;
      for (std::int64_t m = end_ - 2 * length; m < last;) {
        if (floor_div(m, kBlockBuckets) * kBlockBuckets == m && m + kBlockBuckets <= last) {
          if (const Sketch* u = block_union(floor_div(m, kBlockBuckets))) previous_[i]->merge(*u);
          m += kBlockBuckets;
          continue;
        }
        if (const Sketch* sk = sketch(m)) previous_[i]->merge(*sk);
        ++m;
      }
    }
    if (previous_stale_[i] != 0) {
      for (std::size_t c = 0; c < kUserCells; ++c) previous_estimate_[i][c] = previous_[i]->estimate(c);
      previous_stale_[i] = 0;
    }
    k.active_users = previous_estimate_[i][0];
    for (std::size_t f = 0; f < kFunnelSteps; ++f) k.funnel[f] = previous_estimate_[i][1 + f];
    k.users_estimated = true;
  }
  return k;
}

std::vector<RankedId> Tier::top_products(WindowSpan span, std::size_t limit) const {
  return products_.top(static_cast<std::size_t>(span_index(span)), limit);
}

std::vector<RankedId> Tier::top_categories(WindowSpan span, std::size_t limit) const {
  return categories_.top(static_cast<std::size_t>(span_index(span)), limit);
}

std::vector<RankedId> Tier::devices(WindowSpan span) const {
  const auto& map = devices_[static_cast<std::size_t>(span_index(span))];
  return ranked(map, map.size());
}

std::vector<RankedId> Tier::locations(WindowSpan span) const {
  const auto& map = locations_[static_cast<std::size_t>(span_index(span))];
  return ranked(map, map.size());
}

std::size_t Tier::memory_bytes() const noexcept {
  std::size_t n = ring_.capacity() * sizeof(Bucket) + users_.memory_bytes() + products_.memory_bytes() +
                  categories_.memory_bytes() + candidates_.capacity() * sizeof(std::int64_t) +
                  moving_.capacity() * sizeof(moving_[0]) +
                  pack_scratch_.entries.capacity() * sizeof(pack_scratch_.entries[0]) + pack_scratch_.bytes.capacity() +
                  (details_.products.capacity() + details_.categories.capacity() + details_.devices.capacity() +
                   details_.locations.capacity()) *
                      sizeof(details_.products[0]);
  for (const Bucket& b : ring_) n += b.memory_bytes();
  for (const auto& m : devices_) n += m.memory_bytes();
  for (const auto& m : locations_) n += m.memory_bytes();
  n += seen_.memory_bytes() + heads_.capacity() * sizeof(heads_[0]) + list_sizes_.capacity() * sizeof(list_sizes_[0]) +
       sketches_.capacity() * (sizeof(sketches_[0]) + sizeof(sketch_index_[0])) +
       previous_stale_.capacity() + previous_estimate_.capacity() * sizeof(previous_estimate_[0]);
  for (const auto& sk : sketches_)
    if (sk) n += sk->memory_bytes();
  for (const auto& sk : previous_)
    n += sizeof(sk) + (sk ? sk->memory_bytes() : 0);
  for (const auto& u : blocks_)
    n += sizeof(u) + (u.sketch ? u.sketch->memory_bytes() : 0);
  return n;
}

}  // namespace shoppulse::windows
