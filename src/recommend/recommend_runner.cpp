#include "shoppulse/recommend/recommend_runner.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "log_order.hpp"
#include "shoppulse/core/log.hpp"
#include "shoppulse/core/owner_thread.hpp"
#include "shoppulse/core/task_queue.hpp"
#include "shoppulse/ring/spsc_ring.hpp"

namespace shoppulse {
namespace {
const Logger kLog("recommend");
constexpr std::size_t kPopBatch = 4096;
constexpr std::string_view kCheckpointName = "recommender";
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
  std::shared_ptr<const RecommendSnapshot> latest = std::make_shared<RecommendSnapshot>();
  RecommendRunnerStats stats;
  OwnerThread owner;
  TaskQueue<Recommender> queries;  // personal queries, run between batches
  std::uint64_t queued_tasks = 0;  // ever queued; wakes the thread while a checkpoint decodes

  // Recommend thread only.
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
        queries(c.max_pending_queries, "the recommender") {}

  void run_queries(const Recommender& r) { queries.run_all(r); }

  void publish(const Recommender& r) {
    last_publish = clock.now_ms();
    auto snap = std::make_shared<RecommendSnapshot>();
    snap->now_ms = r.now_ms();
    snap->applied_through = r.applied_through();
    snap->popular = r.popular({config.snapshot_list_length, kNoId, kNoId});
    snap->trending = r.trending(config.snapshot_list_length);
    snap->top_propensity = r.propensity().top_propensity(config.snapshot_list_length);
    snap->stats = r.stats();
    std::lock_guard lock(mutex);
    latest = std::move(snap);
    stats.applied_through = r.applied_through();
    stats.dropped_offers = dropped_count.load(std::memory_order_relaxed);
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
      std::lock_guard lock(mutex);
      if (stats.state == std::string_view("replaying")) stats.replayed_events += events.size();
      return more && !owner.stop_requested();
    });
    if (!read) kLog.warn("log read failed", {{"detail", read.error().detail}});
    return n;
  }

  void progressed(const Recommender& r) {
    {
      std::lock_guard lock(mutex);
      stats.applied_through = r.applied_through();
    }
    if (config.on_progress) config.on_progress(r.applied_through());
  }

  void apply_popped(Recommender& r, std::span<const Event> events) {
    const Sequence before = r.applied_through();
    const std::size_t reads =
        recommend_detail::apply_in_log_order(r, events, [&](Sequence until) { read_log(r, until); });
    applied_since_checkpoint += r.applied_through() - before;
    {
      std::lock_guard lock(mutex);
      stats.gap_reads += reads;
    }
    progressed(r);
  }

  bool checkpoint_due_by_count() const noexcept {
    return config.checkpoint_every_events > 0 && applied_since_checkpoint >= config.checkpoint_every_events;
  }

  void set_state(const char* state) {
    std::lock_guard lock(mutex);
    stats.state = state;
  }

  // The latest checkpoint when it decodes under this configuration, else
  // empty. Decoded on a decoder thread of its own while this thread answers queued
  // queries from an empty Recommender; the decoder thread owns what it decodes until
  // it hands it over under the mutex.
  Recommender restore() {
    set_state("restoring");
    std::optional<Recommender> loaded;
    bool decoded = false;  // guarded by mutex
    std::thread decoder([&] {
      std::optional<Recommender> out;
      try {
        auto cp = checkpoints.get_checkpoint(kCheckpointName);
        if (!cp) {
          kLog.warn("checkpoint read failed, replaying the whole log", {{"detail", cp.error().detail}});
        } else if (*cp) {
          auto restored = Recommender::restore(recommender_config, (*cp)->bytes);
          if (restored) out.emplace(std::move(restored).value());
          else kLog.warn("checkpoint unusable, replaying the whole log", {{"detail", restored.error().detail}});
        }
      } catch (const std::exception& e) {
        kLog.warn("checkpoint unusable, replaying the whole log", {{"detail", e.what()}});
        out.reset();
      }
      {
        std::lock_guard lock(mutex);
        loaded = std::move(out);
        decoded = true;
        if (loaded) stats.restored_through = loaded->applied_through();
      }
      wake.notify_all();
    });
    {
      const Recommender stand_in(recommender_config);
      std::uint64_t served = ~std::uint64_t{0};
      std::unique_lock lock(mutex);
      for (;;) {
        wake.wait(lock, [&] { return decoded || queued_tasks != served; });
        if (decoded) break;
        served = queued_tasks;
        lock.unlock();
        run_queries(stand_in);
        lock.lock();
      }
    }
    decoder.join();
    if (loaded) return std::move(*loaded);
    return Recommender(recommender_config);
  }

  // Skipped when nothing was applied since the last one.
  void write_checkpoint(const Recommender& r) {
    applied_since_checkpoint = 0;  // a failed write is retried after as many events again
    Sequence& written_through = checkpointed;
    if (r.applied_through() == written_through) return;
    const TimestampMs started = clock.now_ms();
    const std::string bytes = r.checkpoint();
    auto put = checkpoints.put_checkpoint(kCheckpointName, Checkpoint{r.applied_through(), bytes});
    if (!put) {
      kLog.warn("checkpoint failed", {{"detail", put.error().detail}});
      return;
    }
    written_through = r.applied_through();
    std::lock_guard lock(mutex);
    ++stats.checkpoints;
    stats.checkpoint_bytes = bytes.size();
    stats.last_checkpoint_ms = clock.now_ms();
    stats.checkpoint_pause_ms = stats.last_checkpoint_ms - started;
  }

  void run() {
    Recommender r = restore();
    checkpointed = r.applied_through();
    {
      std::lock_guard lock(mutex);
      stats.state = "replaying";
      stats.replayed_events = 0;
      stats.caught_up = false;
      stats.replay_target = log.next_sequence() - 1;
    }
    publish(r);
    progressed(r);
    const Sequence restored_through = checkpointed;
    const std::uint64_t replayed = read_log(r, 0);
    kLog.info("recommender restored", {{"from_checkpoint", std::to_string(restored_through)},
                                       {"replayed_events", std::to_string(replayed)}});
    {
      std::lock_guard lock(mutex);
      stats.replayed_events = replayed;
      stats.state = "running";
    }
    publish(r);
    {
      std::lock_guard lock(mutex);
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
      const std::size_t n = ring.pop_some(buffer);
      if (n > 0) apply_popped(r, std::span<const Event>(buffer.data(), n));
      if (n == 0 && dropped.exchange(false, std::memory_order_acq_rel)) {
        read_log(r, 0);  // the newest events were lost: catch up to the log's end
        std::lock_guard lock(mutex);
        ++stats.gap_reads;
      }
      run_queries(r);
      const TimestampMs now = clock.now_ms();
      if (now - last_publish >= config.publish_interval_ms) {
        publish(r);
        last_publish = now;
      }
      if ((config.checkpoint_interval_ms > 0 && now - last_checkpoint >= config.checkpoint_interval_ms) ||
          checkpoint_due_by_count()) {
        write_checkpoint(r);
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
        } else if (idle % 64 == 32 && log.next_sequence() > r.applied_through() + 1) {
          // The engine hands over only the events it applies live; events it
          // replayed after a restart of its own reach us from the log.
          read_log(r, 0);
          std::lock_guard lock(mutex);
          ++stats.gap_reads;
        } else {
          std::unique_lock lock(mutex);
          wake.wait_for(lock, std::chrono::milliseconds(idle < 256 ? 1 : 5));
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
    s.stats.state = "stopped";
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

RecommendRunnerStats RecommendRunner::stats() const {
  std::lock_guard lock(state_->mutex);
  RecommendRunnerStats st = state_->stats;
  st.dropped_offers = state_->dropped_count.load(std::memory_order_relaxed);
  return st;
}

}  // namespace shoppulse
