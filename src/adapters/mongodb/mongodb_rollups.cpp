#include "shoppulse/adapters/mongodb_rollups.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <set>
#include <vector>

#include "shoppulse/core/log.hpp"
#include "shoppulse/core/owner_thread.hpp"

namespace shoppulse {
namespace {

const Logger kLog("mongodb");
constexpr std::int64_t kFirstBackoffMs = 100;
constexpr std::int64_t kNoDrop = std::numeric_limits<std::int64_t>::min();

}  // namespace

struct MongoRollups::State {
  MongoConfig config;
  RollupStore& local;
  const bool read_from_mongodb;
  const std::size_t max_pending;
  const std::int64_t max_backoff_ms;
  Counter& written_counter;

  mutable std::mutex mutex;  // guards everything below
  std::condition_variable wake;
  OwnerThread thread;
  std::set<std::int64_t> marked;     // minutes to upsert
  std::int64_t drop_before = kNoDrop;  // retention to apply
  std::shared_ptr<MongoStore> store;   // set by the writer once connected; shared with readers
  MongoRollupsStats stats;
  bool ever_connected = false;

  State(MongoConfig c, RollupStore& l, bool read, std::size_t max, std::int64_t backoff, MetricsRegistry& m)
      : config(std::move(c)),
        local(l),
        read_from_mongodb(read),
        max_pending(max),
        max_backoff_ms(backoff),
        written_counter(m.counter("shoppulse_mongodb_rollups_written_total", "Minute rollups upserted into MongoDB")) {
    m.gauge("shoppulse_mongodb_backlog", "Closed minutes not yet written to MongoDB", [this] {
      std::lock_guard lock(mutex);
      return double(marked.size());
    });
  }

  // With the mutex held.
  void mark(std::int64_t minute) {
    marked.insert(minute);
    while (marked.size() > max_pending) {
      marked.erase(marked.begin());
      stats.minutes_dropped++;
    }
  }

  void fail(std::unique_lock<std::mutex>&, std::string error) {
    stats.failures++;
    stats.state = "disconnected";
    if (stats.last_error != error) kLog.warn("MongoDB unavailable", {{"error", error}});
    stats.last_error = std::move(error);
  }

  void run() {
    std::int64_t backoff_ms = kFirstBackoffMs;
    std::unique_lock lock(mutex);
    auto wait_backoff = [&] {
      wake.wait_for(lock, std::chrono::milliseconds(backoff_ms), [&] { return thread.stop_requested(); });
      backoff_ms = std::min(backoff_ms * 2, std::max(max_backoff_ms, kFirstBackoffMs));
    };
    for (;;) {
      if (!store) {
        stats.state = "connecting";
        lock.unlock();
        auto opened = open_mongodb_store(config);
        lock.lock();
        if (!opened) {
          fail(lock, opened.error().detail);
          if (thread.stop_requested()) break;
          wait_backoff();
          if (thread.stop_requested()) break;
          continue;
        }
        store = std::shared_ptr<MongoStore>(std::move(opened).value());
        if (ever_connected) stats.reconnects++;
        ever_connected = true;
        stats.state = "running";
        backoff_ms = kFirstBackoffMs;
        kLog.info("connected to MongoDB");
      }
      wake.wait(lock, [&] { return thread.stop_requested() || !marked.empty() || drop_before != kNoDrop; });
      if (marked.empty() && drop_before == kNoDrop) break;  // stopping, nothing left
      // Take up to one bulk of the oldest marks; their newest bytes come
      // from the embedded store.
      std::vector<std::int64_t> take;
      for (auto it = marked.begin(); it != marked.end() && take.size() < std::max<std::size_t>(config.bulk_size, 1); ++it)
        take.push_back(*it);
      const std::int64_t drop = drop_before;
      std::shared_ptr<MongoStore> mongo = store;
      lock.unlock();
      std::vector<std::pair<std::int64_t, std::string>> minutes;
      std::string error;
      for (const std::int64_t m : take) {
        auto r = local.scan_minutes(m, m + 1, [&](std::int64_t minute, std::string_view bytes) {
          minutes.emplace_back(minute, std::string(bytes));
        });
        if (!r) error = "read local rollup: " + r.error().detail;
      }
      if (error.empty() && !minutes.empty()) {
        if (auto put = mongo->put_minutes(minutes); !put) error = put.error().detail;
      }
      if (error.empty() && drop != kNoDrop) {
        if (auto d = mongo->drop_minutes_before(drop); !d) error = d.error().detail;
      }
      // After a failure: a server that still answers keeps its pool (the
      // request failed, not the connection).
      const bool reachable = error.empty() || mongo->ping().ok();
      lock.lock();
      if (!error.empty()) {
        fail(lock, std::move(error));
        if (!reachable) store.reset();
        if (thread.stop_requested()) break;
        wait_backoff();
        if (thread.stop_requested()) break;
        continue;
      }
      for (const std::int64_t m : take) marked.erase(m);
      if (drop != kNoDrop && drop_before == drop) drop_before = kNoDrop;
      stats.minutes_written += minutes.size();
      written_counter.add(minutes.size());
      stats.state = "running";
      backoff_ms = kFirstBackoffMs;
    }
  }
};

MongoRollups::MongoRollups(MongoConfig config, RollupStore& local, bool read_from_mongodb,
                           std::size_t max_pending_minutes, std::int64_t max_backoff_ms, MetricsRegistry& metrics)
    : state_(std::make_unique<State>(std::move(config), local, read_from_mongodb, max_pending_minutes, max_backoff_ms,
                                     metrics)) {}

MongoRollups::~MongoRollups() { stop(); }

void MongoRollups::start() {
  State& s = *state_;
  // Backfill: every minute the embedded store holds is written again.
  std::vector<std::int64_t> all;
  auto scanned = s.local.scan_minutes(std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max(),
                                      [&](std::int64_t m, std::string_view) { all.push_back(m); });
  if (!scanned) kLog.warn("cannot list local rollups for the MongoDB backfill", {{"detail", scanned.error().detail}});
  {
    std::lock_guard lock(s.mutex);
    for (const std::int64_t m : all) s.mark(m);
  }
  s.thread.start(s.mutex, [&s] { s.run(); });
}

void MongoRollups::stop() {
  State& s = *state_;
  s.thread.stop(s.mutex, s.wake, [&s] { s.stats.state = "stopped"; });
}

MongoRollupsStats MongoRollups::stats() const {
  std::lock_guard lock(state_->mutex);
  MongoRollupsStats out = state_->stats;
  out.backlog = state_->marked.size();
  return out;
}

Result<void> MongoRollups::put_minutes(std::span<const std::pair<std::int64_t, std::string>> minutes) {
  State& s = *state_;
  if (auto r = s.local.put_minutes(minutes); !r) return r;
  {
    std::lock_guard lock(s.mutex);
    for (const auto& [m, bytes] : minutes) s.mark(m);
  }
  s.wake.notify_one();
  return {};
}

Result<void> MongoRollups::scan_minutes(std::int64_t from_minute, std::int64_t to_minute,
                                        const std::function<void(std::int64_t, std::string_view)>& fn) const {
  const State& s = *state_;
  if (!s.read_from_mongodb) return s.local.scan_minutes(from_minute, to_minute, fn);
  std::shared_ptr<MongoStore> mongo;
  {
    std::lock_guard lock(s.mutex);
    mongo = s.store;
  }
  if (!mongo) return make_error(Errc::unavailable, "mongodb: not connected (storage.rollups = mongodb)");
  return mongo->scan_minutes(from_minute, to_minute, fn);
}

Result<void> MongoRollups::drop_minutes_before(std::int64_t before_minute) {
  State& s = *state_;
  if (auto r = s.local.drop_minutes_before(before_minute); !r) return r;
  {
    std::lock_guard lock(s.mutex);
    s.drop_before = std::max(s.drop_before, before_minute);
    s.marked.erase(s.marked.begin(), s.marked.lower_bound(before_minute));
  }
  s.wake.notify_one();
  return {};
}

}  // namespace shoppulse
