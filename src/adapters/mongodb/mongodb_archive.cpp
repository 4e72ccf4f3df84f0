#include "shoppulse/adapters/mongodb_archive.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "shoppulse/core/log.hpp"
#include "shoppulse/core/owner_thread.hpp"

namespace shoppulse {
namespace {

const Logger kLog("mongodb");
constexpr std::int64_t kFirstBackoffMs = 100;

}  // namespace

struct MongoEventArchive::State {
  const MongoConfig mongo;
  const MongoArchiveConfig config;
  const EventLog& log;
  CheckpointStore& checkpoints;
  const Dictionary& dictionary;
  Counter& archived_counter;

  mutable std::mutex mutex;  // guards stats and the thread flags
  std::condition_variable wake;
  OwnerThread thread;
  MongoArchiveStats stats;
  bool ever_connected = false;

  State(MongoConfig m, MongoArchiveConfig c, const EventLog& l, CheckpointStore& cp, const Dictionary& d,
        MetricsRegistry& metrics)
      : mongo(std::move(m)),
        config(c),
        log(l),
        checkpoints(cp),
        dictionary(d),
        archived_counter(metrics.counter("shoppulse_mongodb_events_archived_total",
                                         "Logged events written to the MongoDB events collection")) {
    metrics.gauge("shoppulse_mongodb_archive_backlog", "Logged events not yet archived to MongoDB", [this] {
      Sequence through = 0;
      {
        std::lock_guard lock(mutex);
        through = stats.archived_through;
      }
      return double(log.logged_after(through));  // from the log now, not the thread's last look
    });
  }

  // Waits up to ms, or less when stop is requested; true when stopping.
  bool pause_for(std::int64_t ms) { return thread.pause(mutex, wake, std::chrono::milliseconds(ms)); }
  bool stopping() const { return thread.stop_requested(mutex); }

  void fail(std::string error) {
    std::lock_guard lock(mutex);
    stats.failures++;
    stats.state = "disconnected";
    if (stats.last_error != error) kLog.warn("MongoDB event archive unavailable", {{"error", error}});
    stats.last_error = std::move(error);
  }

  void run() {
    Sequence through = 0;
    // After a power loss or a repair, sequences past what the log kept
    // name other events now: those are sent again.
    if (auto cp = checkpoints.get_checkpoint(kCheckpointName); cp && cp->has_value())
      through = checkpoint_still_holds_through(log, **cp);
    {
      std::lock_guard lock(mutex);
      stats.archived_through = through;
    }
    std::unique_ptr<MongoStore> store;
    std::int64_t backoff_ms = kFirstBackoffMs;
    auto backoff = [&] {
      const bool stop = pause_for(backoff_ms);
      backoff_ms = std::min(backoff_ms * 2, std::max(config.max_backoff_ms, kFirstBackoffMs));
      return stop;
    };
    std::vector<LogRecord> batch;
    for (;;) {
      // Stopping: one more batch is archived, if MongoDB answers.
      const bool stop = stopping();
      if (!store) {
        {
          std::lock_guard lock(mutex);
          stats.state = "connecting";
        }
        auto opened = open_mongodb_store(mongo);
        if (!opened) {
          fail(opened.error().detail);
          if (stop || backoff()) break;
          continue;
        }
        store = std::move(opened).value();
        std::lock_guard lock(mutex);
        if (ever_connected) stats.reconnects++;
        ever_connected = true;
        stats.state = "running";
        kLog.info("event archive connected to MongoDB", {{"archived_through", std::to_string(through)}});
      }
      const EventLogStats ls = log.stats();
      if (ls.last_sequence <= through) {
        if (stop || pause_for(config.idle_poll_ms)) break;
        continue;
      }
      if (ls.first_sequence > through + 1) {
        std::lock_guard lock(mutex);
        stats.skipped += ls.first_sequence - (through + 1);
      }
      batch.clear();
      auto read = log.read(through + 1, [&](std::span<const LogRecord> run) {
        const std::size_t take = std::min(config.batch_max_events - batch.size(), run.size());
        batch.insert(batch.end(), run.begin(), run.begin() + static_cast<std::ptrdiff_t>(take));
        return batch.size() < config.batch_max_events;
      });
      if (!read || batch.empty()) {
        fail(read ? "log read returned nothing" : "read log: " + read.error().detail);
        if (stop || backoff()) break;
        continue;
      }
      if (auto put = store->archive_events(batch, dictionary); !put) {
        fail(put.error().detail);
        // A server that still answers keeps its pool (the request failed,
        // not the connection).
        if (!store->ping()) store.reset();
        if (stop || backoff()) break;
        continue;  // again from the checkpoint: nothing is skipped
      }
      const Sequence last = batch.back().event.sequence;
      if (auto put = checkpoints.put_checkpoint(kCheckpointName, Checkpoint{last, {}, log.incarnation()}); !put) {
        fail("checkpoint: " + put.error().detail);
        if (stop || backoff()) break;
        continue;
      }
      through = last;
      backoff_ms = kFirstBackoffMs;
      archived_counter.add(batch.size());
      std::lock_guard lock(mutex);
      stats.archived += batch.size();
      stats.archived_through = through;
      stats.state = "running";
      if (stop) break;  // the rest waits for the next start
    }
  }
};

MongoEventArchive::MongoEventArchive(MongoConfig mongo, MongoArchiveConfig config, const EventLog& log,
                                     CheckpointStore& checkpoints, const Dictionary& dictionary,
                                     MetricsRegistry& metrics)
    : state_(std::make_unique<State>(std::move(mongo), config, log, checkpoints, dictionary, metrics)) {}

MongoEventArchive::~MongoEventArchive() { stop(); }

void MongoEventArchive::start() {
  State& s = *state_;
  s.thread.start(s.mutex, [&s] { s.run(); });
}

void MongoEventArchive::stop() {
  State& s = *state_;
  s.thread.stop(s.mutex, s.wake, [&s] { s.stats.state = "stopped"; });
}

MongoArchiveStats MongoEventArchive::stats() const {
  MongoArchiveStats out;
  {
    std::lock_guard lock(state_->mutex);
    out = state_->stats;
  }
  out.backlog = state_->log.logged_after(out.archived_through);
  return out;
}

}  // namespace shoppulse
