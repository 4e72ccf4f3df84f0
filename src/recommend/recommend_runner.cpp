#include "shoppulse/recommend/recommend_runner.hpp"

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "log_order.hpp"
#include "shoppulse/core/background_checkpoint.hpp"
#include "shoppulse/core/checkpoint_restore.hpp"
#include "shoppulse/core/heap.hpp"
#include "shoppulse/core/log.hpp"
#include "shoppulse/core/owner_thread.hpp"
#include "shoppulse/core/progress_signal.hpp"
#include "shoppulse/core/task_queue.hpp"
#include "shoppulse/ring/spsc_ring.hpp"

namespace shoppulse {
namespace {
const Logger kLog("recommend");
constexpr std::size_t kPopBatch = 4096;
constexpr std::string_view kCheckpointName = "recommender";
// The purchase-propensity list scores every tracked user: refreshed in the
// snapshot at most this often (ms of wall time), not at every publish.
constexpr std::int64_t kPropensityPublishMs = 1000;
// approximate_memory_bytes() walks every pooled state: at most this often.
constexpr std::int64_t kMemoryPublishMs = 5000;
}  // namespace

struct RecommendRunner::State {
  RecommenderConfig recommender_config;
  RecommendRunnerConfig config;
  const EventLog& log;
  CheckpointStore& checkpoints;
  const Clock& clock;
  SpscRing<Event> ring;
  std::atomic<bool> dropped{false};          // offer() lost events since the last catch-up
  std::atomic<std::uint64_t> dropped_count{0};

  mutable std::mutex mutex;  // guards the fields below
  std::condition_variable wake;
  mutable ProgressSignal progress;  // an Update for each change to `stats` but the idle counters
  std::shared_ptr<const RecommendSnapshot> latest = std::make_shared<RecommendSnapshot>();
  RecommendRunnerStats stats;
  OwnerThread owner;
  TaskQueue<Recommender> queries;  // personal queries, run between batches
  TimestampMs propensity_published = 0;  // wall clock of the last top_propensity in a snapshot
  TimestampMs memory_measured = 0;       // wall clock of the last approximate_memory_bytes()
  std::size_t memory_bytes = 0;

  // The background checkpoint in flight (at most one): the child writing it
  // and the thread that waits for the bytes and stores them.
  BackgroundCheckpointWriter background;
  std::uint64_t queued_tasks = 0;  // ever queued; wakes the thread while a checkpoint decodes

  // Recommend thread only.
  // Cluster mode: the set the recommender being built or run covers, and
  // whether it is a rebuild (not published until it caught up).
  std::shared_ptr<const OwnedPartitions> covered;
  bool rebuilding = false;
  Sequence checkpointed = 0;  // covered by the newest checkpoint written or restored
  std::uint64_t applied_since_checkpoint = 0;
  TimestampMs last_publish = 0;

  State(RecommenderConfig rc, RecommendRunnerConfig c, const EventLog& l, CheckpointStore& cp, const Clock& k)
      : recommender_config(std::move(rc)),
        config(c),
        log(l),
        checkpoints(cp),
        clock(k),
        ring(c.ring_capacity),
        queries(c.max_pending_queries, "the recommender"),
        background(std::string(kCheckpointName), "sp-recommend-cp") {
    queries.set_on_failure([](const std::exception& e) { kLog.error("query failed", {{"error", e.what()}}); });
  }
  // The writer thread reports into the members below it: it ends first.
  ~State() { background.join(); }

  void run_queries(const Recommender& r) { queries.run_all(r); }

  void publish(const Recommender& r) {
    last_publish = clock.now_ms();
    if (rebuilding) return;  // readers keep the previous set's snapshot meanwhile
    auto snap = std::make_shared<RecommendSnapshot>();
    snap->now_ms = r.now_ms();
    snap->applied_through = r.applied_through();
    snap->popular = r.popular({config.snapshot_list_length, kNoId, kNoId});
    snap->trending = r.trending(config.snapshot_list_length);
    const TimestampMs wall = clock.now_ms();
    if (wall - propensity_published >= kPropensityPublishMs || !latest_has_propensity()) {
      snap->top_propensity = r.propensity().top_propensity(config.snapshot_list_length);
      propensity_published = wall;
    } else {
      std::lock_guard lock(mutex);
      snap->top_propensity = latest->top_propensity;
    }
    snap->stats = r.stats();
    if (memory_measured == 0 || wall - memory_measured >= kMemoryPublishMs) {
      memory_bytes = r.approximate_memory_bytes();
      memory_measured = wall;
    }
    snap->memory_bytes = memory_bytes;
    ProgressSignal::Update update(progress, mutex);
    latest = std::move(snap);
    stats.applied_through = r.applied_through();
    if (covered) stats.owned_version = covered->version;
    stats.dropped_offers = dropped_count.load(std::memory_order_relaxed);
  }

  bool latest_has_propensity() {
    std::lock_guard lock(mutex);
    return !latest->top_propensity.empty();
  }

  // Applies log records after applied_through() and before `until` (0 = to the end).
  std::uint64_t read_log(Recommender& r, Sequence until) {
    std::uint64_t n = 0;
    std::vector<Event> events;
    auto read = log.read(r.applied_through() + 1, [&](std::span<const LogRecord> records) {
      events.clear();
      bool more = true;
      for (const LogRecord& rec : records) {
        if (until != 0 && rec.event.sequence >= until) {
          more = false;
          break;
        }
        events.push_back(rec.event);
      }
      r.apply(events);
      n += events.size();
      applied_since_checkpoint += events.size();
      progressed(r);
      // Between chunks (a start-up replay reads millions): queries see the
      // state as far as it got, and a long read publishes and checkpoints.
      run_queries(r);
      if (clock.now_ms() - last_publish >= config.publish_interval_ms) publish(r);
      if (checkpoint_due_by_count()) write_checkpoint(r);
      std::unique_lock lock(mutex);
      const bool go_on = more && !owner.stop_requested();
      if (stats.state == std::string_view("replaying")) {
        ProgressSignal::Update update(progress, std::move(lock));
        stats.replayed_events += events.size();
      }
      return go_on;
    });
    if (!read) kLog.warn("log read failed", {{"detail", read.error().detail}});
    return n;
  }

  // A read of the log for events the hand-off ring did not deliver. It is
  // counted before it starts, so whoever sees its progress sees it counted.
  void gap_read(Recommender& r, Sequence until) {
    {
      ProgressSignal::Update update(progress, mutex);
      ++stats.gap_reads;
    }
    const std::uint64_t n = read_log(r, until);
    ProgressSignal::Update update(progress, mutex);
    stats.gap_read_events += n;
  }

  // The last sequence a read of the log should reach: what the feeder has
  // dealt with, or the log's end without one.
  Sequence fed_through() const {
    const Sequence logged = log.next_sequence() - 1;
    return config.fed_through ? std::min(config.fed_through(), logged) : logged;
  }
  // gap_read's bound (exclusive) for reaching fed_through().
  Sequence read_until() const { return fed_through() + 1; }
  bool behind_feeder(const Recommender& r) const { return fed_through() > r.applied_through(); }

  void progressed(const Recommender& r) {
    {
      ProgressSignal::Update update(progress, mutex);
      stats.applied_through = r.applied_through();
    }
    if (config.on_progress) config.on_progress(r.applied_through());
  }

  void apply_popped(Recommender& r, std::span<const Event> events) {
    const Sequence before = r.applied_through();
    recommend_detail::apply_in_log_order(r, events, [&](Sequence until) { gap_read(r, until); });
    applied_since_checkpoint += r.applied_through() - before;
    progressed(r);
  }

  bool checkpoint_due_by_count() const noexcept {
    return config.checkpoint_every_events > 0 && applied_since_checkpoint >= config.checkpoint_every_events;
  }

  void set_state(const char* state) {
    ProgressSignal::Update update(progress, mutex);
    stats.state = state;
  }

  // The latest checkpoint when it decodes under this configuration, else
  // empty. Decoded on a thread of its own while this thread answers queued
  // queries from an empty Recommender.
  Recommender restore() {
    set_state("restoring");
    const Recommender stand_in(recommender_config);
    std::optional<Recommender> loaded = decode_while_serving<Recommender>(
        mutex, wake, queued_tasks,
        [&] {
          return read_checkpoint<Recommender>(
              checkpoints, kCheckpointName, kLog,
              [&](const Checkpoint& cp) {
                const std::string set = covered ? covered->text() : std::string{};
                return checkpoint_unusable(log, checkpoints, kCheckpointName, cp,
                                           covered ? std::optional<std::string_view>(set) : std::nullopt);
              },
              [&](std::string_view bytes) { return Recommender::restore(recommender_config, bytes); });
        },
        [&] { run_queries(stand_in); });
    if (!loaded) return Recommender(recommender_config);
    {
      ProgressSignal::Update update(progress, mutex);
      stats.restored_through = loaded->applied_through();
    }
    return std::move(*loaded);
  }

  // Any thread, once a checkpoint is stored: its partition mark (cluster
  // mode) and the figures.
  void checkpoint_stored(Sequence through, std::uint64_t size, std::int64_t pause_ms, const std::string& set_text) {
    if (!set_text.empty()) {
      if (auto marked = put_partition_mark(checkpoints, kCheckpointName, through, set_text); !marked)
        kLog.warn("checkpoint partition mark failed", {{"detail", marked.error().detail}});
    }
    ProgressSignal::Update update(progress, mutex);
    ++stats.checkpoints;
    stats.checkpoint_bytes = size;
    stats.last_checkpoint_ms = clock.now_ms();
    stats.checkpoint_pause_ms = pause_ms;
  }

  // The size of the last stored checkpoint (its writer thread notes it):
  // the next one's buffer is made at about that size at once, whichever
  // process encodes it.
  std::size_t last_checkpoint_bytes() const {
    std::lock_guard lock(mutex);
    return stats.checkpoint_bytes;
  }

  // Periodic checkpoints: the model is frozen by a fork and serialised by
  // the child, so the recommend thread (and the queries it answers) only
  // waits for the fork; a thread of ours stores the bytes. Skipped when
  // nothing was applied since the last one or one is still being written.
  // Falls back to the foreground when the fork fails.
  void checkpoint_in_background(const Recommender& r, Sequence& written_through) {
    // Cluster mode before the first assignment the recommender holds
    // nothing: the checkpoint of the last run's set is worth more.
    if (covered && covered->version == 0) return;
    if (background.take_failed()) written_through = 0;
    if (r.applied_through() == written_through) {
      applied_since_checkpoint = 0;
      return;
    }
    if (background.in_flight()) {
      if (background.busy()) return;
      background.join();
    }
    applied_since_checkpoint = 0;  // a failed write is retried after as many events again
    const Sequence through = r.applied_through();
    auto started = background.start(
        [&r, expected = last_checkpoint_bytes()] { return r.checkpoint(expected); },
        [this, through, incarnation = log.incarnation()](std::uint64_t size, const BackgroundEncoding::Read& read) {
          return checkpoints.put_checkpoint_from(kCheckpointName, through, incarnation, size, read);
        },
        [this, through, set_text = covered_text()](std::uint64_t bytes, std::int64_t pause_ms) {
          checkpoint_stored(through, bytes, pause_ms, set_text);
        });
    if (!started) {
      kLog.warn("background checkpoint unavailable, writing in the foreground", {{"detail", started.error().detail}});
      write_checkpoint(r, written_through, /*in_place=*/true);
      return;
    }
    written_through = through;
  }

  std::string covered_text() const { return covered ? covered->text() : std::string(); }

  // Skipped when nothing was applied since the last one.
  void write_checkpoint(const Recommender& r) { write_checkpoint(r, checkpointed); }

  // in_place: encoded on this thread, never by a forked child (the fork
  // just failed).
  void write_checkpoint(const Recommender& r, Sequence& written_through, bool in_place = false) {
    // Cluster mode before the first assignment the recommender holds
    // nothing: the checkpoint of the last run's set is worth more.
    if (covered && covered->version == 0) return;
    applied_since_checkpoint = 0;  // a failed write is retried after as many events again
    background.join();  // never let an older checkpoint land after this one
    if (background.take_failed()) written_through = 0;
    if (r.applied_through() == written_through) return;
    // The recommend thread neither applies nor answers meanwhile: the pause
    // (encoding and writing) is reported (recommender.checkpoint_pause_ms).
    const Sequence through = r.applied_through();
    // With background checkpoints a forked child encodes this one too and
    // it is stored in parts as it arrives: the model is never held twice.
    const bool ok = write_waiting(
        background, config.checkpoint_in_background && !in_place, checkpoints, kCheckpointName, through,
        log.incarnation(), [&r, expected = last_checkpoint_bytes()] { return r.checkpoint(expected); },
        [&](std::string&& bytes) { return Checkpoint{through, std::move(bytes), log.incarnation()}; },
        [this, through, set_text = covered_text()](std::uint64_t bytes, std::int64_t pause_ms) {
          checkpoint_stored(through, bytes, pause_ms, set_text);
        });
    if (ok) written_through = through;
  }

  // restore() for the current owned set (cluster mode): a checkpoint of
  // that set or nothing; before the first assignment nothing is owned and
  // the log is skipped (applied_through set past it with no event counted).
  Recommender restore_for_owned() {
    if (config.ownership) covered = config.ownership->current();
    if (covered && covered->version == 0) {
      Recommender r(recommender_config);
      r.set_keep([](const Event&) { return false; });
      return r;
    }
    Recommender r = restore();
    if (covered) r.set_keep(PartitionFilter(config.ownership->dictionary(), covered));
    return r;
  }

  // Cluster mode: the owned set changed. The state of the old set is
  // checkpointed (for when that set comes back) and dropped, and the
  // recommender is built again for the new one; readers keep the last
  // snapshot until it caught up with the log.
  void rebuild(Recommender& r) {
    write_checkpoint(r);
    background.join();
    {
      ProgressSignal::Update update(progress, mutex);
      stats.rebuilding = true;
      ++stats.rebuilds;
      stats.state = "rebuilding";
    }
    rebuilding = true;
    const auto began = std::chrono::steady_clock::now();
    r = Recommender(recommender_config);
    r = restore_for_owned();
    checkpointed = r.applied_through();
    read_log(r, 0);
    rebuilding = false;
    publish(r);
    progressed(r);
    {
      ProgressSignal::Update update(progress, mutex);
      stats.rebuilding = false;
      stats.state = "running";
    }
    kLog.info("recommender rebuilt for owned partitions",
              {{"partitions", covered->text()},
               {"ms", std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - began)
                                         .count())}});
  }

  void run() {
#ifdef __linux__
    pthread_setname_np(pthread_self(), "sp-recommend");  // for top, perf and the benchmarks
#endif
    Recommender r = restore_for_owned();
    checkpointed = r.applied_through();
    {
      ProgressSignal::Update update(progress, mutex);
      stats.state = "replaying";
      stats.replayed_events = 0;
      stats.caught_up = false;
      stats.replay_target = log.next_sequence() - 1;
    }
    publish(r);
    progressed(r);
    const Sequence restored_through = checkpointed;
    const std::uint64_t replayed = read_log(r, 0);
    // The decoded checkpoint and the replay's buffers are freed by now.
    release_free_heap();
    kLog.info("recommender restored", {{"from_checkpoint", std::to_string(restored_through)},
                                       {"replayed_events", std::to_string(replayed)}});
    {
      ProgressSignal::Update update(progress, mutex);
      stats.replayed_events = replayed;
      stats.state = "running";
    }
    publish(r);
    {
      ProgressSignal::Update update(progress, mutex);
      stats.caught_up = true;
    }
    std::vector<Event> buffer(kPopBatch);
    TimestampMs last_checkpoint = clock.now_ms();
    unsigned idle = 0;
    for (;;) {
      bool stopping;
      {
        std::lock_guard lock(mutex);
        stopping = owner.stop_requested();
      }
      if (!stopping && config.ownership && covered && config.ownership->version() != covered->version) {
        rebuild(r);
        last_checkpoint = clock.now_ms();
        continue;
      }
      const std::size_t n = ring.pop_some(buffer);
      if (n > 0) apply_popped(r, std::span<const Event>(buffer.data(), n));
      if (n == 0 && dropped.exchange(false, std::memory_order_acq_rel) && behind_feeder(r)) {
        gap_read(r, read_until());  // the newest events were lost: catch up to the feeder
      }
      run_queries(r);
      const TimestampMs now = clock.now_ms();
      if (now - last_publish >= config.publish_interval_ms) {
        publish(r);
        last_publish = now;
      }
      if ((config.checkpoint_interval_ms > 0 && now - last_checkpoint >= config.checkpoint_interval_ms) ||
          checkpoint_due_by_count()) {
        if (config.checkpoint_in_background) checkpoint_in_background(r, checkpointed);
        else write_checkpoint(r, checkpointed);
        last_checkpoint = now;
      }
      if (n == 0) {
        if (stopping) {
          publish(r);
          write_checkpoint(r);
          return;
        }
        if (++idle < 32) {
          std::this_thread::yield();
        } else if (idle % 64 == 32 && behind_feeder(r)) {
          // The engine hands over only the events it applies live; events it
          // replayed after a restart of its own reach us from the log. Events
          // it has not applied yet are left to the ring: reading those too
          // would decode from the log, in the import about three events in
          // four, what the ring then hands over again.
          gap_read(r, read_until());
        } else {
          std::unique_lock lock(mutex);
          const auto began = std::chrono::steady_clock::now();
          wake.wait_for(lock, std::chrono::milliseconds(idle < 256 ? 1 : 5));
          // Not an Update: the idle counters change every back-off and are
          // not signalled (wait_until's contract), or an idle thread would
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
};

RecommendRunner::RecommendRunner(RecommenderConfig recommender, RecommendRunnerConfig config, const EventLog& log,
                                 CheckpointStore& checkpoints, const Clock& clock)
    : state_(std::make_unique<State>(std::move(recommender), config, log, checkpoints, clock)) {}

RecommendRunner::~RecommendRunner() { stop(); }

void RecommendRunner::start() {
  State& s = *state_;
  s.owner.start(s.mutex, [&s] { s.run(); });
}

void RecommendRunner::stop() {
  State& s = *state_;
  s.owner.stop(s.mutex, s.wake, [&s] {
    // The one bare changed(): OwnerThread::stop runs this with the mutex
    // held and keeps its lock, so an Update here would lock it again. The
    // state changes in the same hold that marks the thread not running.
    s.stats.state = "stopped";
    s.progress.changed();
    s.queries.clear();
  });
}

void RecommendRunner::offer(std::span<const Event> events) noexcept {
  State& s = *state_;
  const std::size_t pushed = s.ring.push_some(events);
  if (pushed < events.size()) {
    s.dropped_count.fetch_add(events.size() - pushed, std::memory_order_relaxed);
    // release: pairs with the consumer's acq_rel exchange; the flag only
    // triggers a log read, so ordering with the ring is not required.
    s.dropped.store(true, std::memory_order_release);
  }
}

Result<void> RecommendRunner::run_on_recommender(std::function<void(const Recommender&)> task) {
  State& s = *state_;
  {
    std::lock_guard lock(s.mutex);
    if (!s.owner.accepting()) return make_error(Errc::unavailable, "recommender is stopped");
    if (auto pushed = s.queries.push(std::move(task)); !pushed) return pushed;
    ++s.queued_tasks;
  }
  s.wake.notify_all();
  return {};
}

std::shared_ptr<const RecommendSnapshot> RecommendRunner::latest() const {
  std::lock_guard lock(state_->mutex);
  return state_->latest;
}

bool RecommendRunner::wait_until(const std::function<bool(const RecommendRunnerStats&)>& ready,
                                 std::chrono::steady_clock::time_point deadline) const {
  State& s = *state_;
  std::unique_lock lock(s.mutex);
  return s.progress.wait_until(lock, deadline, [&] { return ready(s.stats); });
}

RecommendRunnerStats RecommendRunner::stats() const {
  std::lock_guard lock(state_->mutex);
  RecommendRunnerStats st = state_->stats;
  st.dropped_offers = state_->dropped_count.load(std::memory_order_relaxed);
  return st;
}

}  // namespace shoppulse
