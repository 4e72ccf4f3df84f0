#pragma once
// One bucket tier of the window engine: a ring of equal-width buckets and the
// sliding windows (current and previous of each span) built on them.
//
// Role: the fine tier (1 s buckets) serves 1m/5m/15m, the coarse tier (60 s
// buckets, which double as minute rollups) serves 1h/24h. The ring holds every
// bucket from the horizon (end - 2 x longest span) up to the newest event.
// Windows move incrementally: when the end advances, only the buckets that
// cross a window boundary are visited, each once, with the set of windows it
// enters and leaves. Products and categories: a row per dense id (DenseRows)
// holds its interactions in each current window (previous windows report
// KPIs only). Lifecycle: owned by the engine state. Threading: the engine
// thread.
//
// Distinct users, two ways (UserTracking):
//
// per_bucket (the fine tier, 30 minutes of 1 s buckets): every bucket keeps
// its users with their type masks; a user's row holds, per window, the number
// of buckets in the window where the user did anything and did each funnel
// step, so distinct counts stay exact and change only when such a count
// crosses zero. Memory: the users of every second of the last 30 minutes, a
// bound set by the event rate over a fixed 30 minutes.
//
// last_seen (the coarse tier, 48 hours of minutes): keeping each minute's
// users for 48 hours made memory grow with minutes x users per minute (about
// 5 MiB a minute at 50k events/s with 600k users a minute), so a minute keeps its own
// users only until it is closed and handed over as a rollup (kUserTrimLag
// minutes past the end); after that it is "trimmed" and holds only the users
// of late events arriving since, which the rollup store merges into the
// minute it already has (MinuteRollup::users_partial).
//  - Current windows stay exact from one row per user present in the longest
//    current window (24 h): per cell (any event, then each funnel step) the
//    newest minute inside the windows where the user did it. A user is in a
//    current window of length L iff that minute >= end - L, so a window's
//    distinct count changes only when a user's newest minute crosses its
//    start. Each cell is on an intrusive doubly linked list of the users
//    whose newest minute it is, headed at that minute's ring slot, so a
//    minute leaving a window visits only the users whose last activity it
//    was (moving to a newer minute unlinks in O(1)). A minute entering the
//    windows (crossing the end) is one pass over its users, done while the
//    minute still has them. Memory: 80 bytes per user seen in the last 24 h
//    plus the index pages of DenseRows; nothing per minute.
//  - Previous windows (1 h before the current hour, the 24 h before the
//    current day) report their distinct users and funnel as estimates:
//    each minute has a HyperLogLog sketch per cell (user_sketch.hpp, at most
//    20 KiB, 1.6 % standard error), built when the minute enters the windows and
//    updated by late events; a previous window merges its minutes' sketches
//    when asked after it changed (once a minute of event time, or after a
//    late event into it), so the per-event path never merges. Kpis say so
//    (users_estimated). Memory: at most 20 KiB per held minute (~58 MiB),
//    about 4 bytes per user and cell while a cell has fewer than 1024.
//  Events and revenue of every window stay exact (plain sums per bucket).
// Products, categories, devices and locations of a bucket are needed while
// it is in a current window (to subtract them when it leaves) and, for a
// minute, to re-close its rollup after a late event. So:
//  - a 1-second bucket drops them once it is older than the 15 m window
//    (Bucket::drop_details; previous windows report totals and users only);
//  - a settled minute keeps them frozen as its encoded rollup
//    (Bucket::freeze, ~4 bytes a product instead of ~65 in maps), decoded
//    when it leaves the 1 h and the 24 h window and thawed by a late event.
//  Memory without a rollup store: the minutes' frozen products grow for 48 h
//  with distinct products per minute (about 4 bytes per product and type a
//  minute, gigabytes a day at tens of thousands of events a second).
// Spilled minutes (with a rollup store, set_stored()): a settled minute the
// store holds exactly as it is (Bucket::stored_through) drops its details
// from memory instead of freezing them (Bucket::spill); the tier reads the
// store's copy back as the minute leaves the 1 h and the 24 h window, and
// when a late event changes it (Bucket::unspill, then the minute is closed
// and written again). The store copy records the sequence it covers
// (MinuteRollup::through), which makes replay after a restore exact: the
// checkpoint restores the bucket's counts, the windows are rebuilt from the
// store copies, and a replayed event already in its minute's copy adds to
// the counts and users only (Bucket::add_counts_only). A copy that is
// missing, unreadable or older than the bucket expects throws
// StoredMinuteLost. Memory: nothing per settled minute but its counts and
// sketch; each minute is read back twice (a point read of its rollup).
// Weighed and not taken: HyperLogLog for the current windows (the brief
// demands them exact); coarser buckets for the older half (still minutes x
// users); a byte budget degrading old minutes (a bound by configuration,
// where this one follows the distinct users of the day by construction).
#include <array>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "aggregates.hpp"
#include "dense_rows.hpp"
#include "top_counts.hpp"
#include "user_sketch.hpp"
#include "shoppulse/windows/window_snapshot.hpp"

namespace shoppulse::windows {

inline std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  const std::int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// The running sums of one window that need no per-id state.
struct WindowTotals {
  std::array<std::uint64_t, kEventTypeCount> events{};
  std::int64_t revenue_minor = 0;
  std::uint64_t active_users = 0;
  std::array<std::uint64_t, kFunnelSteps> funnel{};
};

enum class UserTracking : std::uint8_t { per_bucket, last_seen };

// A spilled minute's copy in the rollup store could not be used (missing,
// unreadable, or older than the minute the engine holds). The engine's state
// no longer agrees with its store: the runner rebuilds it from the log.
struct StoredMinuteLost : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Tier {
 public:
  // Minutes a last_seen tier keeps a closed bucket's own users past the end
  // (the open minutes that queries read from the engine lie within it).
  static constexpr std::int64_t kUserTrimLag = 3;

  Tier(std::int64_t width_ms, std::initializer_list<WindowSpan> spans, std::int64_t allowed_lateness_ms,
       UserTracking tracking = UserTracking::per_bucket);

  std::int64_t width_ms() const noexcept { return width_ms_; }
  UserTracking tracking() const noexcept { return tracking_; }
  bool started() const noexcept { return end_ != kNoBucket; }
  std::int64_t end() const noexcept { return end_; }  // in buckets; kNoBucket before the first event
  // Oldest bucket that can still matter to a window; older events skip this tier.
  std::int64_t horizon() const noexcept { return end_ - horizon_length_; }

  Bucket& slot(std::int64_t bucket) noexcept { return ring_[ring_pos(bucket)]; }
  Bucket* find(std::int64_t bucket) noexcept {
    Bucket& s = slot(bucket);
    return s.index == bucket ? &s : nullptr;
  }
  const Bucket* find(std::int64_t bucket) const noexcept { return const_cast<Tier*>(this)->find(bucket); }
  const std::vector<Bucket>& ring() const noexcept { return ring_; }

  // Moves every window's end to new_end (no-op unless it grows). Must run
  // before a slot is reused for a bucket past the old end, so that leaving
  // buckets are still in the ring when they are subtracted.
  void advance(std::int64_t new_end);
  // Sets the end without sliding and rebuilds every window from the ring
  // (used on restore). A last_seen tier takes the users of its untrimmed
  // buckets; those of trimmed ones come back through restore_user().
  void reset_end(std::int64_t end);
  // Records that an event landed in `bucket` (already added to it), updating
  // the windows that currently cover that bucket.
  // with_details false: the event's product, category, device and location
  // are already in the windows (see take_back()).
  void on_event(const Event& e, std::int64_t bucket, std::uint8_t mask_before, bool with_details = true);
  // Cache hints for an event on_event() gets soon, in two steps some events
  // apart: the index entries of the rows it writes (the event's product and
  // category, and its user in a per_bucket tier), then those rows.
  void prefetch_index(const Event& e) const noexcept {
    if (e.product != kNoId) products_.prefetch_index(e.product);
    if (e.category != kNoId) categories_.prefetch_index(e.category);
    if (tracking_ == UserTracking::per_bucket && e.user != kNoId) users_.prefetch_index(e.user);
  }
  void prefetch_rows(const Event& e) const noexcept {
    if (e.product != kNoId) products_.prefetch_row(e.product);
    if (e.category != kNoId) categories_.prefetch_row(e.category);
    if (tracking_ == UserTracking::per_bucket && e.user != kNoId) users_.prefetch_row(e.user);
  }

  // last_seen: whether the bucket may settle now (closed long enough and
  // handed over), and settling it: its own users are dropped and its details
  // frozen (Bucket::freeze).
  bool settled(const Bucket& b) const noexcept {
    return tracking_ == UserTracking::last_seen && !b.pending && b.index < end_ - kUserTrimLag;
  }
  void settle(Bucket& b);

  // The rollup store's copy of a minute (nullopt: none), read on this
  // thread. Set: settled minutes spill (see above). Unset: they freeze.
  using StoredMinute = std::function<Result<std::optional<MinuteRollup>>(std::int64_t minute)>;
  void set_stored(StoredMinute stored) { stored_ = std::move(stored); }
  bool spills() const noexcept { return static_cast<bool>(stored_); }
  // A spilled bucket's store copy, checked against stored_through (which it
  // then holds exactly); throws StoredMinuteLost.
  MinuteRollup load_stored(Bucket& b);
  // A late event for a spilled bucket: either its store copy already counts
  // it (replay after a restore: counts and users only, returns false) or the
  // bucket takes the copy back into maps (returns true: add it normally).
  bool take_back(Bucket& b, const Event& e);

  // last_seen state for checkpoints: each user row (the newest bucket per
  // cell, kNoBucket when none), by ascending id, and each held bucket's sketch.
  static constexpr std::size_t kUserCells = 1 + kFunnelSteps;  // any, then one per funnel step
  using Sketch = UserSketch<kUserCells>;
  template <class F>
  void for_each_user(F&& f) const {
    seen_.for_each_by_id([&](Id u, const SeenCell* row) {
      std::array<std::int64_t, kUserCells> last;
      for (std::size_t c = 0; c < kUserCells; ++c) last[c] = row[c].last;
      f(u, last);
    });
  }
  // The sketch of a held bucket, or null when it has none.
  const Sketch* sketch(std::int64_t bucket) const noexcept;
  // Restoring (after reset_end): a user's newest bucket per cell (must lie in
  // the longest current window, or be kNoBucket), and a bucket's sketch
  // (merged into what the ring rebuilt). False when out of range.
  bool restore_user(Id user, const std::array<std::int64_t, kUserCells>& last);
  bool restore_sketch(std::int64_t bucket, const Sketch& sketch);
  std::size_t users_tracked() const noexcept { return tracking_ == UserTracking::last_seen ? seen_.size() : users_.size(); }

  bool serves(WindowSpan span) const noexcept { return span_index(span) >= 0; }
  // The figures of a span this tier serves.
  Kpis kpis(WindowSpan span, bool previous) const;
  std::vector<RankedId> top_products(WindowSpan span, std::size_t limit) const;
  std::vector<RankedId> top_categories(WindowSpan span, std::size_t limit) const;
  std::vector<RankedId> devices(WindowSpan span) const;
  std::vector<RankedId> locations(WindowSpan span) const;

  // Heap bytes of the ring's buckets, the per-id rows and the sketches.
  std::size_t memory_bytes() const noexcept;

 private:
  // One cell of a last_seen user row: the newest bucket inside the windows
  // where the user did the cell's thing, and the links of that bucket's list.
  struct SeenCell {
    std::int64_t last = kNoBucket;
    Id prev = kNoId;
    Id next = kNoId;
  };

  std::size_t ring_pos(std::int64_t bucket) const noexcept {
    const auto n = static_cast<std::int64_t>(ring_.size());
    return static_cast<std::size_t>(((bucket % n) + n) % n);
  }
  int span_index(WindowSpan span) const noexcept;
  // Bit 2i: bucket in span i's current window at this end; bit 2i+1: in its previous.
  std::uint32_t membership(std::int64_t bucket, std::int64_t end) const noexcept;
  // Adds the bucket to the windows in `added` and subtracts it from those in `removed`.
  void move_bucket(Bucket& b, std::uint32_t added, std::uint32_t removed);
  // per_bucket, in two steps so that one advance walks the users of all its
  // moving buckets as one run: queue the bucket's users, then apply the run.
  void queue_user_moves(const Bucket& b, std::uint32_t added, std::uint32_t removed);
  void apply_user_moves();
  // Applies the product counts move_aggregates() queued.
  void apply_product_moves();
  void move_aggregates(Bucket& b, std::uint32_t added, std::uint32_t removed);
  void apply_user(Id user, std::uint8_t mask, bool first_in_bucket, std::uint32_t added, std::uint32_t removed);

  // last_seen.
  std::uint64_t& user_count(std::size_t window, std::size_t cell) noexcept {
    WindowTotals& t = totals_[window];
    return cell == 0 ? t.active_users : t.funnel[cell - 1];
  }
  // The user did the cells of `mask` (type bits; any is implied) in `bucket`,
  // which is inside the longest current window at end_.
  void touch(Id user, std::uint8_t mask, std::int64_t bucket);
  void touch_cell(Id user, SeenCell* row, std::size_t cell, std::int64_t bucket);
  void unlink(Id user, SeenCell& s, std::size_t cell) noexcept;
  // The users whose newest bucket per cell is `bucket` leave the current
  // windows in `leaving` (span bits); past the longest they are forgotten.
  void leave(std::int64_t bucket, std::uint32_t leaving);
  // Cache hints for the first candidates of an advance that change windows.
  void prefetch_moving(std::int64_t old_end, std::int64_t new_end) const noexcept;
  Sketch& sketch_for(std::int64_t bucket);
  void add_to_sketch(const Bucket& b);
  // The bucket's sketch changed or went: the union of its block is rebuilt
  // when next asked for.
  void block_changed(std::int64_t bucket) noexcept;
  // The union of the sketches of block `block`'s buckets, or null when none
  // of them has one.
  const Sketch* block_union(std::int64_t block) const;
  void mark_previous_changed(std::uint32_t windows) noexcept;

  std::int64_t width_ms_;
  UserTracking tracking_;
  StoredMinute stored_;
  std::int64_t horizon_length_ = 0;
  std::int64_t longest_ = 0;  // longest span, in buckets
  std::int64_t end_ = kNoBucket;
  std::vector<Bucket> ring_;
  std::vector<WindowSpan> spans_;
  std::vector<std::int64_t> lengths_;           // in buckets, per span
  std::vector<WindowTotals> totals_;            // 2 per span: current, previous
  std::vector<FlatMap<std::uint64_t>> devices_;    // per span, current window
  std::vector<FlatMap<std::uint64_t>> locations_;  // per span, current window
  DenseRows<std::uint16_t> users_;     // per_bucket: kUserCells per window; a count is at most a window's length in buckets
  TopCounts products_;  // a column per span: interactions in its current window
  TopCounts categories_;
  std::vector<std::int64_t> candidates_;  // scratch of advance(), kept to avoid allocating
  std::vector<std::pair<Id, std::uint64_t>> moving_;  // scratch of advance() (last_seen): ids and their mask
  struct UserMove {
    Id user;
    std::uint8_t mask;
    std::uint32_t added, removed;
  };
  std::vector<UserMove> user_moves_;  // queued by queue_user_moves()
  struct ProductMove {
    Id product;
    std::uint32_t added, removed;  // current spans
    std::uint64_t count;
  };
  std::vector<ProductMove> product_moves_;  // queued by move_aggregates()
  std::vector<std::tuple<Bucket*, std::uint32_t, std::uint32_t>> moved_;  // scratch of advance() (per_bucket)
  PackedUsers::Scratch pack_scratch_;                   // scratch of Bucket::pack_users()
  Bucket::Details details_;                          // scratch of move_aggregates()

  // last_seen only.
  DenseRows<SeenCell> seen_{kUserCells};
  std::vector<std::array<Id, kUserCells>> heads_;  // per ring slot: first user of each cell's list
  // Per ring slot: the length of each cell's list, so that a minute leaving
  // a window it does not leave the tier with (1 h, not 24 h) subtracts its
  // users without walking them.
  std::vector<std::array<std::uint32_t, kUserCells>> list_sizes_;
  std::vector<std::unique_ptr<Sketch>> sketches_;  // per ring slot, for the bucket the slot holds
  std::vector<std::int64_t> sketch_index_;         // bucket each sketch belongs to
  // Per span: the merged sketch of its previous window, rebuilt when stale.
  // Mutable: a cache filled by the const kpis() on the engine thread.
  mutable std::vector<std::unique_ptr<Sketch>> previous_;
  // Per aligned block of kBlockBuckets buckets (a slot per block, by block
  // modulo the slots): the union of its buckets' sketches. A previous window
  // is rebuilt from the unions of the blocks it covers whole and the
  // sketches of the buckets at its two ragged ends, so a 24 h window that
  // slid merges ~45 unions and at most 62 minutes instead of 1,440 minutes;
  // a block's union is built once (32 merges) and kept until one of its
  // buckets' sketches changes (a late event, a bucket entering). Mutable:
  // filled by kpis(), like previous_.
  static constexpr std::int64_t kBlockBuckets = 32;
  struct BlockUnion {
    std::int64_t block = kNoBucket;  // the block the slot's union is of
    bool current = false;            // false: rebuild before use
    bool empty = true;               // none of the block's buckets has a sketch
    std::unique_ptr<Sketch> sketch;
  };
  mutable std::vector<BlockUnion> blocks_;
  mutable std::vector<std::uint8_t> previous_stale_;
  mutable std::vector<std::array<std::uint64_t, kUserCells>> previous_estimate_;
};

}  // namespace shoppulse::windows
