#pragma once
// The windowing engine: all live window state, per-minute rollups and per-user
// profiles, advanced by event time.
//
// Role: consumes events in log order, keeps sliding windows (1m/5m/15m/1h/24h
// plus the previous window of each) ending at the watermark, closes minutes
// into rollups, keeps a profile per user. Lifecycle: created by the engine
// runner, fed by replay then by the live ring. Threading: not thread-safe; one
// thread (the engine thread) owns it. Readers get immutable snapshots.
//
// Event time: an event counts in the windows covering its own timestamp. The
// watermark is the max event time seen minus allowed lateness. Windows of 1m,
// 5m and 15m move in 1-second buckets, 1h and 24h in 1-minute buckets: a
// window of length L covers [floor(watermark, bucket) - L, floor(watermark, bucket)).
// Replaying the same events in the same order yields identical results.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shoppulse/core/event.hpp"
#include "shoppulse/core/result.hpp"
#include "shoppulse/windows/filtered.hpp"
#include "shoppulse/windows/rollup.hpp"
#include "shoppulse/windows/window_snapshot.hpp"

namespace shoppulse {

struct WindowConfig {
  std::int64_t allowed_lateness_ms = 2000;  // watermark = max event time - this; ms; default 2000
  std::size_t top_n = 10;                   // entries in top products/categories; default 10
  std::size_t recent_events_per_user = 20;  // events kept per user profile; default 20
  std::size_t top_categories_per_user = 5;  // categories listed per profile; default 5
  // Most recent events kept for filtered queries (filtered_view,
  // filtered_minutes); 0 disables them. Each costs sizeof(BufferedEvent), 44 bytes.
  std::size_t filter_buffer_events = 2'000'000;  // events; default 2,000,000
  // Most user profiles kept; past it the least recently seen eighth is
  // evicted. A later event of an evicted user starts a new profile. 0 = no
  // bound. Default 500,000.
  std::size_t max_profiles = 500'000;
  // Profiles of users without an event for this long (event time, against
  // the newest event) are evicted, checked every 2^18 events. ms; 0 = never;
  // default 7 days, the event log's default retention.
  std::int64_t profile_max_idle_ms = 7LL * 24 * 3600 * 1000;
  // The rollup store's copy of a closed minute (nullopt: not stored), read
  // on the engine thread. Set: a settled minute whose copy the runner
  // reported with minutes_stored() keeps its products, categories, devices
  // and locations only there, read back as it leaves the 1 h and 24 h
  // windows (memory flat in the minutes held), and every applied event must
  // carry its log sequence. The store must keep minutes for 48 h past the
  // watermark. Empty: settled minutes keep them in memory, compressed.
  std::function<Result<std::optional<MinuteRollup>>(std::int64_t minute)> stored_minute;
};

// Heap bytes the engine holds, by part (capacities: what the allocator keeps).
struct WindowMemory {
  std::size_t windows = 0;        // buckets of both tiers and the per-id rows of the live windows
  std::size_t user_profiles = 0;  // one per user seen: counts, categories, recent events
  std::size_t filter_buffer = 0;  // the newest events kept for filtered queries
  std::size_t resident_profiles = 0;       // user profiles in memory
  std::uint64_t evicted_profiles = 0;      // profiles evicted since start (or restore)
  std::size_t spilled_minutes = 0;         // held minutes whose details are only in the rollup store
  std::size_t packed_seconds = 0;          // held seconds whose users are packed (aggregates.hpp)
};

struct UserProfile {
  Id user = kNoId;
  std::array<std::uint64_t, kEventTypeCount> events{};
  std::int64_t spend_minor = 0;  // sum of purchase revenue
  TimestampMs first_seen_ms = 0;
  TimestampMs last_seen_ms = 0;
  std::vector<RankedId> top_categories;  // by interactions, ties by smaller id
  std::vector<Event> recent;             // newest first (by arrival order)
};

class WindowEngine {
 public:
  explicit WindowEngine(const WindowConfig& config);
  ~WindowEngine();
  WindowEngine(WindowEngine&&) noexcept;
  WindowEngine& operator=(WindowEngine&&) noexcept;

  // Applies events in log order. Events older than every live window still
  // update user profiles and (if their minute is still held) rollups.
  void apply(std::span<const Event> events);

  // Cluster mode: events `keep` refuses (their user's partition is counted
  // by another node) only advance applied_through(). Not part of a
  // checkpoint: set it again after restore(). Empty: every event counts.
  void set_keep(std::function<bool(const Event&)> keep);

  // Builds an immutable snapshot of every live window (cost grows with the
  // number of distinct products/categories in windows; call at publish rate).
  std::shared_ptr<const WindowSnapshot> snapshot() const;

  // Rollups of minutes closed since the last call: minutes whose end the
  // watermark has passed, and closed minutes changed since by late events.
  // Ascending by minute; each minute at most once per call.
  std::vector<MinuteRollup> take_closed_minutes();
  // The rollups last taken were written to the store with `through` (the
  // sequence applied when they were taken) and the write succeeded: with
  // stored_minute set, their minutes may drop their details once settled.
  void minutes_stored(std::span<const MinuteRollup> stored);

  // Rollup of a minute still held in memory (closed or open), for queries
  // touching the newest minutes before they are closed.
  std::optional<MinuteRollup> minute_rollup(std::int64_t minute) const;

  std::optional<UserProfile> user_profile(Id user) const;

  // The live window of `span` (and its previous window) recomputed over the
  // buffered events matching `filter`, with the live engine's boundaries.
  // nullopt when filtering is disabled (filter_buffer_events = 0). Cost: one
  // pass over the buffer.
  // top: entries of its top lists (0: config top_n; SIZE_MAX: all).
  std::optional<FilteredView> filtered_view(const EventFilter& filter, WindowSpan span, std::size_t top = 0) const;
  // The live window of `span` as snapshot() publishes it, with `top` entries
  // in its top lists (SIZE_MAX: every product and category in the window):
  // what a cluster merge asks for when the top_n of each node cannot prove
  // the merged top list. Engine thread.
  WindowView window_view(WindowSpan span, std::size_t top) const;
  // Minute rollups of [from_minute, to_minute) over the buffered events
  // matching `filter`; nullopt when filtering is disabled. Without
  // breakdowns only events, revenue and users are filled (enough for trends).
  std::optional<FilteredMinutes> filtered_minutes(const EventFilter& filter, std::int64_t from_minute,
                                                  std::int64_t to_minute, bool breakdowns = true) const;

  // Cheap (no walk over users or events); call at publish rate.
  WindowMemory memory() const;

  TimestampMs watermark_ms() const noexcept;
  Sequence applied_through() const noexcept;

  // Serialises the whole state, the filter buffer included; restore() yields
  // an engine that behaves exactly like this one for every later event.
  // Restoring into a smaller filter buffer keeps the newest events.
  // `expected_bytes`, the size of the last checkpoint if the caller kept it,
  // sizes the buffer once (with room to grow) instead of growing it from
  // nothing; it changes no byte of the result.
  std::string checkpoint(std::size_t expected_bytes = 0) const;
  static Result<WindowEngine> restore(const WindowConfig& config, std::string_view bytes);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace shoppulse
