#include "shoppulse/windows/engine_runner.hpp"

#include <pthread.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <limits>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "shoppulse/core/background_checkpoint.hpp"
#include "shoppulse/core/checkpoint_restore.hpp"
#include "shoppulse/core/heap.hpp"
#include "shoppulse/core/log.hpp"
#include "shoppulse/core/owner_thread.hpp"
#include "shoppulse/core/progress_signal.hpp"
#include "shoppulse/core/task_queue.hpp"
#include "tier.hpp"

namespace shoppulse {
namespace {
const Logger kLog("windows");
constexpr std::string_view kCheckpointName = "window_engine";
constexpr std::size_t kPopBatch = 8192;
}  // namespace

struct EngineRunner::State {
  WindowConfig window_config;
  EngineRunnerConfig config;
  SpscRing<Event>& ring;
  EventLog& log;
  RollupStore& rollups;
  // Where rollups are written first and read back (the embedded store when
  // MongoDB or Redis also take copies, which may lag behind it).
  const RollupStore& local_rollups;
  CheckpointStore& checkpoints;
  const Clock& clock;
  std::array<Counter*, kEventTypeCount> type_counters{};
  Counter& too_late_counter;
  // The stages of the engine thread's loop (live, and replaying the log).
  Histogram& apply_seconds;
  Histogram& publish_seconds;
  Histogram& checkpoint_pause_seconds;

  mutable std::mutex mutex;  // guards the fields below up to `owner`
  std::condition_variable wake;
  mutable ProgressSignal progress;  // an Update for each change to `stats` but the idle counters
  std::shared_ptr<const WindowSnapshot> latest = std::make_shared<WindowSnapshot>();
  bool paused = false;
  EngineStats stats;
  OwnerThread owner;
  TaskQueue<WindowEngine> queries;  // point queries, run between batches
  std::uint64_t queued_tasks = 0;   // ever queued; wakes the thread while a checkpoint decodes

  // Engine thread only.
  std::uint64_t applied_since_checkpoint = 0;
  // What the stored checkpoint holds (the sequence applied through and the
  // owned set's version), so that one with nothing new is not written
  // again: a checkpoint of the amplified Taobao log is ~130 MB, and a stop
  // right after the count-triggered one used to write the same state twice.
  Sequence checkpointed_through = 0;
  std::uint64_t checkpointed_version = 0;
  // Cluster mode: the set the engine being built or run covers, and whether
  // it is a rebuild (its progress is not published until it caught up).
  std::shared_ptr<const OwnedPartitions> covered;
  bool rebuilding = false;

  // Set when the engine's state no longer agrees with the rollup store (a
  // spilled minute's copy lost): the next restore ignores the checkpoint.
  bool skip_checkpoint = false;

  // The background checkpoint in flight (at most one): the child encoding
  // it and the thread that stores its bytes. Started and joined by the
  // engine thread.
  BackgroundCheckpointWriter background;
  // The newest event time of the engine state the stored checkpoint holds
  // (0: none known). Rollup retention counts back from it, not from the
  // running engine: until a checkpoint in flight is stored, a restart
  // restores the previous one, and the minutes it reads back must remain.
  std::atomic<TimestampMs> stored_watermark_ms{0};

  State(WindowConfig wc, EngineRunnerConfig c, SpscRing<Event>& r, EventLog& l, RollupStore& ro,
        CheckpointStore& cp, const Clock& k, MetricsRegistry& m)
      : window_config(std::move(wc)),
        config(c),
        ring(r),
        log(l),
        rollups(ro),
        local_rollups(c.read_back ? *c.read_back : ro),
        checkpoints(cp),
        clock(k),
        too_late_counter(m.counter("shoppulse_events_too_late_total",
                                   "Events older than every live window when they arrived")),
        apply_seconds(m.histogram("shoppulse_engine_apply_seconds",
                                  "The engine applying one batch: a take from the ring (up to 8192 events), or "
                                  "a chunk of the log while it replays")),
        publish_seconds(m.histogram("shoppulse_engine_publish_seconds",
                                    "Closing finished minutes into the rollup store and publishing a snapshot")),
        checkpoint_pause_seconds(m.histogram(
            "shoppulse_engine_checkpoint_pause_seconds",
            "What a periodic checkpoint holds the engine thread for (the fork of its background encoder, or the "
            "whole checkpoint when written in place)")),
        queries(c.max_pending_queries, "the engine"),
        background(std::string(kCheckpointName), "sp-engine-cp") {
    queries.set_on_failure([](const std::exception& e) { kLog.error("query failed", {{"error", e.what()}}); });
    for (std::size_t t = 0; t < kEventTypeCount; ++t)
      type_counters[t] = &m.counter("shoppulse_events_total", "Events applied by the engine, by type",
                                    "type=\"" + std::string(to_string(static_cast<EventType>(t))) + "\"");
    // Spilled minutes are read back from the store they were written to
    // first. The windows look back 48 h (two of the longest span) plus the
    // open minute: a shorter retention would drop minutes they still need.
    const std::int64_t held_ms = 2 * span_ms(WindowSpan::h24) + 60'000;
    if (c.spill_minutes && (c.rollup_retention_ms <= 0 || c.rollup_retention_ms >= held_ms)) {
      const RollupStore& store = local_rollups;
      window_config.stored_minute = [&store](std::int64_t minute) { return read_minute(store, minute); };
    }
  }
  // The writer thread reports into the members below it: it ends first.
  ~State() { background.join(); }


  // One stored minute, decoded; nullopt when the store has none.
  static Result<std::optional<MinuteRollup>> read_minute(const RollupStore& store, std::int64_t minute) {
    std::optional<MinuteRollup> found;
    std::optional<Error> bad;
    auto scanned = store.scan_minutes(minute, minute + 1, [&](std::int64_t m, std::string_view bytes) {
      auto d = decode_rollup(m, bytes);
      if (d) found = std::move(d).value();
      else bad = d.error();
    });
    if (!scanned) return scanned.error();
    if (bad) return *bad;
    return found;
  }

  void set_state(std::string s) {
    ProgressSignal::Update update(progress, mutex);
    stats.state = std::move(s);
  }

  void publish(const WindowEngine& engine) {
    // A rebuild publishes once, caught up: until then readers keep the
    // snapshot of the previous set rather than a partial one of the new.
    if (rebuilding) return;
    std::shared_ptr<const WindowSnapshot> snap = engine.snapshot();
    const WindowMemory memory = engine.memory();
    const Sequence through = engine.applied_through();
    {
      ProgressSignal::Update update(progress, mutex);
      latest = snap;
      stats.applied_through = through;
      stats.memory = memory;
      if (covered) {
        stats.owned_version = covered->version;
        stats.owned = covered->list();
      }
    }
    if (config.on_published) config.on_published(through);
    if (config.on_snapshot) config.on_snapshot(snap);
  }

  void timed_apply(WindowEngine& engine, std::span<const Event> events) {
    const auto began = std::chrono::steady_clock::now();
    engine.apply(events);
    apply_seconds.observe_since(began);
  }

  void flush_and_publish(WindowEngine& engine) {
    const auto began = std::chrono::steady_clock::now();
    flush_rollups(engine);
    publish(engine);
    publish_seconds.observe_since(began);
  }

  void flush_rollups(WindowEngine& engine) {
    auto closed = engine.take_closed_minutes();
    if (closed.empty()) return;
    std::vector<std::pair<std::int64_t, std::string>> encoded;
    encoded.reserve(closed.size());
    const Sequence through = engine.applied_through();
    for (MinuteRollup& r : closed) {
      r.through = through;
      // A minute re-closed by a late event after the engine dropped its own
      // users: join the new users with the stored ones (rare: events later
      // than Tier::kUserTrimLag minutes).
      if (r.users_partial) {
        auto stored = read_minute(local_rollups, r.minute);
        if (!stored && stored.error().code != Errc::corrupt)
          throw std::runtime_error("rollup read failed: " + stored.error().detail);
        if (!stored)  // rewritten with the late users only: a restart would meet the same bytes
          kLog.warn("stored minute unreadable; its users are replaced by the late event's",
                    {{"minute", std::to_string(r.minute)}, {"detail", stored.error().detail}});
        else if (*stored) merge_partial_users(r, **stored);
      }
      encoded.emplace_back(r.minute, encode_rollup(r));
    }
    auto put = rollups.put_minutes(encoded);
    if (!put) throw std::runtime_error("rollup write failed: " + put.error().detail);
    engine.minutes_stored(closed);
  }

  bool checkpoint_due_by_count() const noexcept {
    return config.checkpoint_every_events > 0 && applied_since_checkpoint >= config.checkpoint_every_events;
  }

  // Any thread, once a checkpoint is stored: its partition mark (cluster
  // mode) and the figures.
  void checkpoint_stored(Sequence through, std::uint64_t bytes, const std::optional<std::string>& set_text,
                         std::int64_t pause_ms) {
    if (set_text) {
      if (auto marked = put_partition_mark(checkpoints, kCheckpointName, through, *set_text); !marked)
        kLog.warn("checkpoint partition mark failed", {{"detail", marked.error().detail}});
    }
    ProgressSignal::Update update(progress, mutex);
    stats.last_checkpoint_ms = clock.now_ms();
    ++stats.checkpoints;
    stats.checkpoint_bytes = bytes;
    stats.checkpoint_pause_ms = pause_ms;
  }

  std::optional<std::string> covered_text() const {
    return covered ? std::optional<std::string>(covered->text()) : std::nullopt;
  }

  // The size of the last stored checkpoint (its writer thread notes it):
  // the next one's buffer is made at about that size at once, whichever
  // process encodes it.
  std::size_t last_checkpoint_bytes() const {
    std::lock_guard lock(mutex);
    return stats.checkpoint_bytes;
  }

  // Whether the stored checkpoint already holds this state (a checkpoint
  // of the amplified Taobao log is ~130 MB: not written twice).
  bool checkpoint_current(const WindowEngine& engine, std::uint64_t version) const noexcept {
    return checkpointed_through != 0 && engine.applied_through() == checkpointed_through &&
           version == checkpointed_version;
  }

  // Periodic and count-triggered checkpoints: the engine is frozen by a
  // fork and encoded by the child, so the engine thread (and the queries it
  // answers) waits only for the fork; the writer thread stores the bytes.
  // While the previous one is still being written, it is waited for with
  // `wait`; without, false: this one is due again on the next pass. Falls
  // back to the foreground when the fork fails.
  bool checkpoint_in_background(const WindowEngine& engine, bool wait) {
    if (background.in_flight()) {
      if (!wait && background.busy()) return false;
      background.join();
    }
    if (background.take_failed()) checkpointed_through = 0;
    applied_since_checkpoint = 0;  // a failed write is retried after as many events again
    // Cluster mode before the first assignment the engine holds nothing: the
    // checkpoint of the last run's set is worth more than an empty one.
    if (covered && covered->version == 0) return true;
    const std::uint64_t version = covered ? covered->version : 0;
    if (checkpoint_current(engine, version)) return true;
    const Sequence through = engine.applied_through();
    auto started = background.start(
        [&engine, expected = last_checkpoint_bytes()] { return engine.checkpoint(expected); },
        [this, through, incarnation = log.incarnation()](std::uint64_t size, const BackgroundEncoding::Read& read) {
          return checkpoints.put_checkpoint_from(kCheckpointName, through, incarnation, size, read);
        },
        [this, through, watermark = engine.watermark_ms(), set_text = covered_text()](std::uint64_t bytes,
                                                                                        std::int64_t pause_ms) {
          checkpoint_stored(through, bytes, set_text, pause_ms);
          stored_watermark_ms.store(watermark, std::memory_order_relaxed);
        });
    if (!started) {
      kLog.warn("background checkpoint unavailable, writing in the foreground", {{"detail", started.error().detail}});
      write_checkpoint(engine, /*in_place=*/true);
      return true;
    }
    checkpointed_through = through;  // reset when the writer says it failed
    checkpointed_version = version;
    return true;
  }

  // A checkpoint as configured: in the background or on this thread.
  // False when it was put off because the one in flight is not written yet
  // (with `wait`, that one is waited for instead).
  bool take_checkpoint(const WindowEngine& engine, bool wait = false) {
    if (config.checkpoint_in_background) return checkpoint_in_background(engine, wait);
    write_checkpoint(engine);
    return true;
  }

  // On the engine thread, after the one in flight: at stop, at a change of
  // owned partitions, or when configured so.
  // in_place: encoded on this thread, never by a forked child (the fork
  // just failed).
  void write_checkpoint(const WindowEngine& engine, bool in_place = false) {
    applied_since_checkpoint = 0;  // a failed write is retried after as many events again
    background.join();             // never let an older checkpoint land after this one
    if (background.take_failed()) checkpointed_through = 0;
    // Cluster mode before the first assignment the engine holds nothing: the
    // checkpoint of the last run's set is worth more than an empty one.
    if (covered && covered->version == 0) return;
    const std::uint64_t version = covered ? covered->version : 0;
    if (checkpoint_current(engine, version)) return;
    // The engine thread neither applies nor answers meanwhile: the pause
    // is reported (stream_processor.checkpoint_pause_ms).
    const Sequence through = engine.applied_through();
    // With background checkpoints a forked child encodes this one too and
    // it is stored in parts as it arrives: the state is never held twice.
    const bool ok = write_waiting(
        background, config.checkpoint_in_background && !in_place, checkpoints, kCheckpointName, through,
        log.incarnation(), [&engine, expected = last_checkpoint_bytes()] { return engine.checkpoint(expected); },
        [&](std::string&& bytes) { return Checkpoint{through, std::move(bytes), log.incarnation()}; },
        [this, through, set_text = covered_text()](std::uint64_t bytes, std::int64_t pause_ms) {
          checkpoint_stored(through, bytes, set_text, pause_ms);
        });
    if (!ok) return;
    checkpointed_through = engine.applied_through();
    checkpointed_version = version;
    stored_watermark_ms.store(engine.watermark_ms(), std::memory_order_relaxed);
  }

  // Like the log's retention, age counts back from the newest event.
  void drop_old_rollups(const WindowEngine& engine) {
    if (config.rollup_retention_ms <= 0 || engine.applied_through() == 0) return;
    // The stored checkpoint's state may be older than the engine's (one
    // written in the background lands later): count back from the older.
    const TimestampMs stored = stored_watermark_ms.load(std::memory_order_relaxed);
    const TimestampMs newest = stored > 0 ? std::min(engine.watermark_ms(), stored) : engine.watermark_ms();
    auto dropped = rollups.drop_minutes_before((newest - config.rollup_retention_ms) / 60000);
    if (!dropped) kLog.warn("rollup retention failed", {{"detail", dropped.error().detail}});
  }

  void count(std::span<const Event> events) {
    std::array<std::uint64_t, kEventTypeCount> n{};
    for (const Event& e : events) ++n[static_cast<std::size_t>(e.type)];
    for (std::size_t t = 0; t < kEventTypeCount; ++t)
      if (n[t]) type_counters[t]->add(n[t]);
  }

  void run_queries(const WindowEngine& engine) { queries.run_all(engine); }

  // The latest usable checkpoint, decoded on a thread of its own while this
  // thread answers queued queries from an empty engine (decoding a large
  // checkpoint takes seconds).
  std::optional<WindowEngine> load_checkpoint() {
    const WindowEngine stand_in(window_config);
    return decode_while_serving<WindowEngine>(
        mutex, wake, queued_tasks,
        [&] {
          return read_checkpoint<WindowEngine>(
              checkpoints, kCheckpointName, kLog,
              [&](const Checkpoint& cp) {
                const std::string set = covered ? covered->text() : std::string{};
                return checkpoint_unusable(log, checkpoints, kCheckpointName, cp,
                                           covered ? std::optional<std::string_view>(set) : std::nullopt);
              },
              [&](std::string_view bytes) { return WindowEngine::restore(window_config, bytes); });
        },
        [&] { run_queries(stand_in); });
  }

  WindowEngine restore() {
    background.join();  // the checkpoint read below is the newest one written
    {
      ProgressSignal::Update update(progress, mutex);
      stats.state = rebuilding ? "rebuilding" : "starting";
      stats.caught_up = false;
      stats.replayed_events = 0;
    }
    if (config.ownership) covered = config.ownership->current();
    // Cluster mode before the group's first assignment: nothing is owned,
    // so there is nothing to restore or replay (the set comes in a moment).
    const bool owns_nothing = covered && covered->version == 0;
    std::optional<WindowEngine> engine = owns_nothing || skip_checkpoint ? std::nullopt : load_checkpoint();
    skip_checkpoint = false;
    checkpointed_through = 0;
    stored_watermark_ms.store(0, std::memory_order_relaxed);
    if (engine) {
      checkpointed_through = engine->applied_through();  // the stored checkpoint is this state
      checkpointed_version = covered ? covered->version : 0;
      stored_watermark_ms.store(engine->watermark_ms(), std::memory_order_relaxed);
    } else {
      engine.emplace(window_config);
    }
    if (covered) engine->set_keep(PartitionFilter(config.ownership->dictionary(), covered));
    const Sequence from = owns_nothing ? log.next_sequence() : engine->applied_through() + 1;
    {
      ProgressSignal::Update update(progress, mutex);
      stats.state = "replaying";
      stats.replay_target = log.next_sequence() - 1;
      stats.replay_from = from;
    }
    publish(*engine);
    std::uint64_t replayed = 0;
    TimestampMs last_publish = clock.now_ms();
    std::vector<Event> events;
    auto read = log.read(from, [&](std::span<const LogRecord> records) {
      events.clear();
      for (const LogRecord& r : records) events.push_back(r.event);
      timed_apply(*engine, events);
      count(events);
      replayed += events.size();
      applied_since_checkpoint += events.size();
      {
        // Before the publish below: a reader that sees the sequence
        // published finds the replayed count that includes it.
        ProgressSignal::Update update(progress, mutex);
        stats.replayed_events = replayed;
      }
      // Between chunks: queries see the engine as far as it got, snapshots
      // show the progress, and a long replay checkpoints by count.
      run_queries(*engine);
      const TimestampMs now = clock.now_ms();
      if (now - last_publish >= config.publish_interval_ms) {
        flush_and_publish(*engine);
        last_publish = now;
      }
      // A replay is not put off: one encoding overlaps the next
      // checkpoint_every_events replayed events, so this rarely waits.
      if (checkpoint_due_by_count()) take_checkpoint(*engine, true);
      return !owner.stop_requested(mutex);
    });
    if (!read) throw std::runtime_error("log replay failed: " + read.error().detail);
    flush_rollups(*engine);
    // The replay's last checkpoint is stored before the engine says it
    // caught up: a process killed once ready replays no more than that.
    background.join();
    rebuilding = false;
    flush_and_publish(*engine);
    {
      ProgressSignal::Update update(progress, mutex);
      stats.caught_up = true;
    }
    // The decoded checkpoint and the replay's buffers are freed by now.
    release_free_heap();
    kLog.info("engine restored", {{"replayed_events", std::to_string(replayed)},
                                  {"applied_through", std::to_string(engine->applied_through())}});
    return std::move(*engine);
  }

  // Cluster mode: the owned set changed since the engine was built.
  bool ownership_changed() const noexcept {
    return config.ownership && covered && config.ownership->version() != covered->version;
  }

  // Consumes until stop (returns false) or, in cluster mode, until the
  // owned partitions changed (returns true: rebuild).
  bool consume(WindowEngine& engine) {
    std::vector<Event> buffer(kPopBatch);
    std::vector<Event> fresh;
    fresh.reserve(kPopBatch);
    TimestampMs last_publish = clock.now_ms();
    TimestampMs last_checkpoint = last_publish;
    auto last_publish_steady = std::chrono::steady_clock::now();  // paces on-demand publishes only
    Sequence published_through = engine.applied_through();
    unsigned idle = 0;
    for (;;) {
      bool stopping, is_paused;
      {
        std::unique_lock lock(mutex);
        stopping = owner.stop_requested();
        is_paused = paused;
        // Written (and signalled) only when it changes: this runs every pass.
        const std::string_view now_state = is_paused ? "paused" : "running";
        if (stats.state != now_state) {
          ProgressSignal::Update update(progress, std::move(lock));
          stats.state = now_state;
        }
      }
      run_queries(engine);
      if (!stopping && ownership_changed()) {
        write_checkpoint(engine);  // of the set it covers, for when that set comes back
        return true;
      }
      std::size_t n = 0;
      if (!is_paused || stopping) {
        n = ring.pop_some(buffer);
        fresh.clear();
        // Events already covered by checkpoint + replay arrive again through
        // the ring after a restart; the sequence tells them apart.
        const Sequence through = engine.applied_through();
        for (std::size_t i = 0; i < n; ++i)
          if (buffer[i].sequence > through) fresh.push_back(buffer[i]);
        if (!fresh.empty()) {
          timed_apply(engine, fresh);
          count(fresh);
          applied_since_checkpoint += fresh.size();
          if (config.on_applied) config.on_applied(fresh);
          ProgressSignal::Update update(progress, mutex);
          stats.applied_events += fresh.size();
        }
      }
      const TimestampMs now = clock.now_ms();
      // A reader waiting (min_sequence) for a sequence the engine has now
      // applied gets its snapshot now rather than at the next interval.
      bool wanted = false;
      if (config.wanted_sequence) {
        const Sequence w = config.wanted_sequence();
        wanted = w > published_through && engine.applied_through() >= w &&
                 std::chrono::steady_clock::now() - last_publish_steady >=
                     std::chrono::milliseconds(config.min_publish_gap_ms);
      }
      if (now - last_publish >= config.publish_interval_ms || wanted || (stopping && n == 0)) {
        if (wanted) {
          // Counted before the publish releases its reader, so a reader that
          // was answered early always finds its publish counted.
          ProgressSignal::Update update(progress, mutex);
          stats.publishes_on_demand++;
        }
        flush_and_publish(engine);
        last_publish = now;
        last_publish_steady = std::chrono::steady_clock::now();
        published_through = engine.applied_through();
      }
      if (now - last_checkpoint >= config.checkpoint_interval_ms || checkpoint_due_by_count()) {
        // Timed only when taken: while the one before is still being
        // stored, each pass finds it due and returns at once.
        const auto began = std::chrono::steady_clock::now();
        if (take_checkpoint(engine)) {
          checkpoint_pause_seconds.observe_since(began);
          drop_old_rollups(engine);
          last_checkpoint = now;
        }
      }
      if (n == 0) {
        if (stopping) {
          write_checkpoint(engine);
          return false;
        }
        // Idle: back off gently so an idle engine costs almost nothing.
        if (++idle < 32) std::this_thread::yield();
        else {
          std::unique_lock lock(mutex);
          const auto began = std::chrono::steady_clock::now();
          wake.wait_for(lock, std::chrono::milliseconds(idle < 256 ? 1 : 5));
          // Not an Update: the idle counters change every back-off and are
          // not signalled (wait_until's contract), or an idle engine would
          // wake every waiter every few milliseconds.
          stats.idle_waits++;
          stats.idle_wait +=
              std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - began);
        }
      } else {
        idle = 0;
      }
    }
  }

  void run() {
#ifdef __linux__
    pthread_setname_np(pthread_self(), "sp-engine");  // for top, perf and the benchmarks
#endif
    std::int64_t backoff_ms = 500;
    for (;;) {
      try {
        WindowEngine engine = restore();
        backoff_ms = 500;
        while (consume(engine)) {
          // The owned partitions changed: rebuilt from the log through the
          // new set. The old state goes first (it may be large), and with it
          // the rollups written from it.
          {
            ProgressSignal::Update update(progress, mutex);
            stats.rebuilding = true;
            ++stats.rebuilds;
          }
          rebuilding = true;
          engine = WindowEngine(window_config);
          if (auto dropped = rollups.drop_minutes_before(std::numeric_limits<std::int64_t>::max()); !dropped)
            kLog.warn("rollups of the previous partitions not dropped", {{"detail", dropped.error().detail}});
          const auto began = std::chrono::steady_clock::now();
          engine = restore();
          {
            ProgressSignal::Update update(progress, mutex);
            stats.rebuilding = false;
          }
          kLog.info("engine rebuilt for owned partitions",
                    {{"partitions", covered->text()},
                     {"ms", std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::steady_clock::now() - began)
                                               .count())}});
        }
        set_state("stopped");
        return;
      } catch (const std::exception& e) {
        // The store lost a minute the checkpoint relies on: rebuild from the log.
        if (dynamic_cast<const windows::StoredMinuteLost*>(&e) != nullptr) skip_checkpoint = true;
        {
          ProgressSignal::Update update(progress, mutex);
          ++stats.failures;
          stats.last_error = e.what();
          stats.state = "failed";
        }
        kLog.error("engine failed; restarting from checkpoint", {{"error", e.what()},
                                                                 {"backoff_ms", std::to_string(backoff_ms)}});
        std::unique_lock lock(mutex);
        const bool stop =
            wake.wait_for(lock, std::chrono::milliseconds(backoff_ms), [&] { return owner.stop_requested(); });
        {
          ProgressSignal::Update update(progress, std::move(lock));  // the wait's hold of the mutex
          if (stop) {
            stats.state = "stopped";
            return;
          }
          ++stats.restarts;
        }
        backoff_ms = std::min<std::int64_t>(backoff_ms * 2, 30000);
      }
    }
  }
};

EngineRunner::EngineRunner(WindowConfig window_config, EngineRunnerConfig config, SpscRing<Event>& ring,
                           EventLog& log, RollupStore& rollups, CheckpointStore& checkpoints, const Clock& clock,
                           MetricsRegistry& metrics)
    : state_(std::make_unique<State>(window_config, config, ring, log, rollups, checkpoints, clock, metrics)) {}

EngineRunner::~EngineRunner() { stop(); }

void EngineRunner::start() {
  State& s = *state_;
  s.owner.start(s.mutex, [&s] { s.run(); });
}

void EngineRunner::stop() {
  State& s = *state_;
  // The thread ran every query queued before stop was requested; later ones
  // were refused by run_on_engine, except any queued while a failed engine
  // was waiting to restart: those are dropped with the engine.
  s.owner.stop(s.mutex, s.wake, [&s] { s.queries.clear(); });
}

void EngineRunner::pause() {
  {
    std::lock_guard lock(state_->mutex);
    state_->paused = true;
  }
  state_->wake.notify_all();  // an idle thread says "paused" now, not after its back-off
}

void EngineRunner::resume() {
  {
    std::lock_guard lock(state_->mutex);
    state_->paused = false;
  }
  state_->wake.notify_all();
}

std::shared_ptr<const WindowSnapshot> EngineRunner::latest() const {
  std::lock_guard lock(state_->mutex);
  return state_->latest;
}

Result<void> EngineRunner::run_on_engine(std::function<void(const WindowEngine&)> task) {
  State& s = *state_;
  {
    std::lock_guard lock(s.mutex);
    if (!s.owner.accepting()) return make_error(Errc::unavailable, "stream processor is stopped");
    if (auto pushed = s.queries.push(std::move(task)); !pushed) return pushed;
    ++s.queued_tasks;
  }
  s.wake.notify_all();
  return {};
}

EngineStats EngineRunner::stats() const {
  std::lock_guard lock(state_->mutex);
  return state_->stats;
}

bool EngineRunner::wait_until(const std::function<bool(const EngineStats&)>& ready,
                              std::chrono::steady_clock::time_point deadline) const {
  State& s = *state_;
  std::unique_lock lock(s.mutex);
  return s.progress.wait_until(lock, deadline, [&] { return ready(s.stats); });
}

}  // namespace shoppulse
