#include "shoppulse/adapters/redis_figures.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "shoppulse/core/log.hpp"
#include "shoppulse/core/owner_thread.hpp"
#include "shoppulse/windows/rollup.hpp"

namespace shoppulse {
namespace {

const Logger kLog("redis");
constexpr std::int64_t kFirstBackoffMs = 100;

struct ContextDeleter {
  void operator()(redisContext* c) const noexcept { redisFree(c); }
};
using Connection = std::unique_ptr<redisContext, ContextDeleter>;

struct ReplyDeleter {
  void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

timeval to_timeval(std::int64_t ms) {
  return timeval{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
}

// One command's arguments, owned; hiredis takes them as argv/argvlen.
class Command {
 public:
  explicit Command(std::string_view name) { args_.emplace_back(name); }
  Command& arg(std::string_view a) {
    args_.emplace_back(a);
    return *this;
  }
  Command& arg(std::int64_t v) { return arg(std::to_string(v)); }
  Command& arg(std::uint64_t v) { return arg(std::to_string(v)); }
  Command& field(std::string_view name, std::int64_t v) { return arg(name).arg(v); }
  Command& field(std::string_view name, std::uint64_t v) { return arg(name).arg(v); }
  Command& field(std::string_view name, double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return arg(name).arg(std::string_view(buf));
  }
  std::size_t size() const noexcept { return args_.size(); }

  int append_to(redisContext* c) const {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    argv.reserve(args_.size());
    lens.reserve(args_.size());
    for (const auto& a : args_) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    return redisAppendCommandArgv(c, int(argv.size()), argv.data(), lens.data());
  }

 private:
  std::vector<std::string> args_;
};

void add_type_counts(Command& c, const std::array<std::uint64_t, kEventTypeCount>& events) {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < kEventTypeCount; ++i) {
    c.field(to_string(static_cast<EventType>(i)), events[i]);
    total += events[i];
  }
  c.field("events", total);
}

std::string context_error(const redisContext* c) {
  if (!c) return "cannot allocate a Redis context";
  return c->errstr[0] ? std::string(c->errstr) : "Redis connection error " + std::to_string(c->err);
}

}  // namespace

struct RedisFiguresSink::State {
  RedisConfig config;
  const Dictionary& dictionary;
  Counter& written_counter;
  Counter& skipped_counter;
  Counter& failure_counter;
  Histogram& write_seconds;

  mutable std::mutex mutex;  // guards everything below
  std::condition_variable wake;
  OwnerThread thread;
  std::shared_ptr<const WindowSnapshot> pending;  // the mailbox: newest unwritten snapshot
  std::map<std::int64_t, std::string> pending_minutes;
  RedisFiguresStats stats;
  bool ever_connected = false;

  State(RedisConfig c, const Dictionary& d, MetricsRegistry& m)
      : config(std::move(c)),
        dictionary(d),
        written_counter(m.counter("shoppulse_redis_snapshots_written_total", "Snapshots written to Redis")),
        skipped_counter(m.counter("shoppulse_redis_snapshots_skipped_total",
                                  "Snapshots replaced by a newer one before Redis took them")),
        failure_counter(m.counter("shoppulse_redis_failures_total", "Failed Redis connects and writes")),
        write_seconds(m.histogram("shoppulse_redis_write_seconds", "One pipelined write of a snapshot")) {
    m.gauge("shoppulse_redis_connected", "1 while the Redis writer holds a connection", [this] {
      std::lock_guard lock(mutex);
      return stats.connected ? 1.0 : 0.0;
    });
    m.gauge("shoppulse_redis_backlog", "Snapshots and closed minutes waiting for Redis", [this] {
      std::lock_guard lock(mutex);
      return double((pending ? 1 : 0) + pending_minutes.size());
    });
  }

  std::string key(std::string_view a, std::string_view b = {}) const {
    std::string k = config.key_prefix;
    k += ':';
    k += a;
    if (!b.empty()) {
      k += ':';
      k += b;
    }
    return k;
  }

  // Writer thread. Commands of one snapshot and the minutes taken with it.
  std::vector<Command> build(const WindowSnapshot* snap, const std::map<std::int64_t, std::string>& minutes,
                             std::uint64_t& minutes_ok) const {
    std::vector<Command> cmds;
    cmds.emplace_back("MULTI");
    if (snap) {
      Command& s = cmds.emplace_back("HSET");
      s.arg(key("snapshot"));
      s.field("watermark_ms", std::int64_t(snap->watermark_ms)).field("max_event_time_ms", std::int64_t(snap->max_event_time_ms));
      s.field("applied_through", std::uint64_t(snap->applied_through)).field("events_applied", snap->events_applied);
      s.field("written_ms", std::int64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count()));
      for (const WindowView& w : snap->windows) {
        const std::string span(to_string(w.span));
        Command& h = cmds.emplace_back("HSET");
        h.arg(key("window", span));
        h.field("start_ms", std::int64_t(w.start_ms)).field("end_ms", std::int64_t(w.end_ms));
        add_type_counts(h, w.current.events);
        h.field("revenue_minor", std::int64_t(w.current.revenue_minor));
        h.field("active_users", w.current.active_users);
        h.field("viewers", w.current.funnel[std::size_t(FunnelStep::view)]);
        h.field("purchasers", w.current.funnel[std::size_t(FunnelStep::purchase)]);
        h.field("conversion_rate", w.current.conversion_rate());
        h.field("average_order_value_minor", std::int64_t(w.current.average_order_value_minor()));
        add_ranking(cmds, key("hot:products", span), IdKind::product, w.top_products);
        add_ranking(cmds, key("hot:categories", span), IdKind::category, w.top_categories);
      }
    }
    for (const auto& [minute, bytes] : minutes) {
      auto rollup = decode_rollup(minute, bytes);
      if (!rollup) {
        kLog.warn("minute rollup not decodable; not written", {{"minute", std::to_string(minute)}});
        continue;
      }
      const MinuteRollup& r = rollup.value();
      std::uint64_t viewers = 0, purchasers = 0;
      for (const auto& [user, mask] : r.users) {
        if (mask & type_bit(EventType::view)) ++viewers;
        if (mask & type_bit(EventType::purchase)) ++purchasers;
      }
      const std::string k = key("minute", std::to_string(minute));
      Command& h = cmds.emplace_back("HSET");
      h.arg(k);
      add_type_counts(h, r.events);
      h.field("revenue_minor", std::int64_t(r.revenue_minor));
      h.field("active_users", std::uint64_t(r.users.size())).field("viewers", viewers).field("purchasers", purchasers);
      cmds.emplace_back("PEXPIRE").arg(k).arg(config.minute_ttl_ms);
      ++minutes_ok;
    }
    cmds.emplace_back("EXEC");
    if (snap) {
      char msg[96];
      std::snprintf(msg, sizeof msg, "{\"watermark_ms\":%lld,\"applied_through\":%llu}",
                    static_cast<long long>(snap->watermark_ms), static_cast<unsigned long long>(snap->applied_through));
      cmds.emplace_back("PUBLISH").arg(key("snapshots")).arg(std::string_view(msg));
    }
    return cmds;
  }

  void add_ranking(std::vector<Command>& cmds, const std::string& k, IdKind kind,
                   const std::vector<RankedId>& ranking) const {
    cmds.emplace_back("DEL").arg(k);
    if (ranking.empty()) return;
    Command& z = cmds.emplace_back("ZADD");
    z.arg(k);
    for (const RankedId& r : ranking) {
      const std::string name = dictionary.name(kind, r.id);
      if (name.empty()) continue;
      z.arg(r.count).arg(name);
    }
    if (z.size() == 2) cmds.pop_back();
  }

  // Writer thread: one pipelined round trip. Returns an error text or "".
  std::string write(redisContext* c, const std::vector<Command>& cmds) const {
    for (const Command& cmd : cmds) {
      if (cmd.append_to(c) != REDIS_OK) return context_error(c);
    }
    std::string error;
    for (std::size_t i = 0; i < cmds.size(); ++i) {
      void* raw = nullptr;
      if (redisGetReply(c, &raw) != REDIS_OK) return context_error(c);
      Reply reply(static_cast<redisReply*>(raw));
      if (!reply) return "no reply from Redis";
      if (reply->type == REDIS_REPLY_ERROR && error.empty()) error.assign(reply->str, reply->len);
      if (reply->type == REDIS_REPLY_ARRAY) {
        for (std::size_t j = 0; j < reply->elements; ++j) {
          const redisReply* e = reply->element[j];
          if (e->type == REDIS_REPLY_ERROR && error.empty()) error.assign(e->str, e->len);
        }
      }
      if (reply->type == REDIS_REPLY_NIL && i + 1 < cmds.size() && error.empty()) error = "transaction aborted";
    }
    return error;
  }

  Connection connect() const {
    const timeval tv = to_timeval(config.timeout_ms);
    Connection c(redisConnectWithTimeout(config.host.c_str(), config.port, tv));
    if (c && !c->err) redisSetTimeout(c.get(), tv);
    return c;
  }

  void fail(std::unique_lock<std::mutex>&, std::string error) {
    stats.failures++;
    failure_counter.add();
    stats.connected = false;
    stats.state = "disconnected";
    if (stats.last_error != error) kLog.warn("Redis unavailable", {{"error", error}});
    stats.last_error = std::move(error);
  }

  void run() {
    Connection conn;
    std::int64_t backoff_ms = kFirstBackoffMs;
    std::unique_lock lock(mutex);
    for (;;) {
      wake.wait(lock, [&] { return thread.stop_requested() || pending || !pending_minutes.empty() || !conn; });
      const bool stopping = thread.stop_requested();
      if (!conn) {
        stats.state = "connecting";
        lock.unlock();
        Connection c = connect();
        lock.lock();
        if (!c || c->err) {
          fail(lock, "connect to " + config.host + ":" + std::to_string(config.port) + ": " + context_error(c.get()));
          if (stopping) break;
          wake.wait_for(lock, std::chrono::milliseconds(backoff_ms), [&] { return thread.stop_requested(); });
          backoff_ms = std::min(backoff_ms * 2, std::max<std::int64_t>(config.max_backoff_ms, kFirstBackoffMs));
          if (thread.stop_requested()) break;
          continue;
        }
        conn = std::move(c);
        if (ever_connected) stats.reconnects++;
        ever_connected = true;
        stats.connected = true;
        stats.state = "running";
        kLog.info("connected to Redis", {{"host", config.host}, {"port", std::to_string(config.port)}});
        continue;
      }
      if (!pending && pending_minutes.empty()) {
        if (stopping) break;
        continue;
      }
      std::shared_ptr<const WindowSnapshot> snap = std::move(pending);
      pending.reset();
      std::map<std::int64_t, std::string> minutes = std::move(pending_minutes);
      pending_minutes.clear();
      lock.unlock();
      std::uint64_t minutes_ok = 0;
      const auto cmds = build(snap.get(), minutes, minutes_ok);
      const auto t0 = std::chrono::steady_clock::now();
      std::string error = write(conn.get(), cmds);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      lock.lock();
      if (!error.empty()) {
        // Put back what was not written unless something newer came meanwhile.
        if (!pending) pending = std::move(snap);
        for (auto& [m, b] : minutes) pending_minutes.try_emplace(m, std::move(b));
        trim_minutes();
        if (conn->err) conn.reset();  // a transport error; a command error keeps the connection
        fail(lock, std::move(error));
        if (stopping) break;
        wake.wait_for(lock, std::chrono::milliseconds(backoff_ms), [&] { return thread.stop_requested(); });
        backoff_ms = std::min(backoff_ms * 2, std::max<std::int64_t>(config.max_backoff_ms, kFirstBackoffMs));
        continue;
      }
      backoff_ms = kFirstBackoffMs;
      write_seconds.observe(seconds);
      stats.last_write_seconds = seconds;
      stats.minutes_written += minutes_ok;
      if (snap) {
        stats.snapshots_written++;
        written_counter.add();
        stats.last_written_watermark_ms = snap->watermark_ms;
      }
      if (stopping && !pending && pending_minutes.empty()) break;
    }
    stats.connected = false;
  }

  // With the mutex held.
  void trim_minutes() {
    while (pending_minutes.size() > config.max_pending_minutes) {
      pending_minutes.erase(pending_minutes.begin());
      stats.minutes_dropped++;
    }
  }
};

RedisFiguresSink::RedisFiguresSink(RedisConfig config, const Dictionary& dictionary, MetricsRegistry& metrics)
    : state_(std::make_unique<State>(std::move(config), dictionary, metrics)) {}

RedisFiguresSink::~RedisFiguresSink() { stop(); }

void RedisFiguresSink::start() {
  State& s = *state_;
  s.thread.start(s.mutex, [&s] { s.run(); });
  std::lock_guard lock(s.mutex);
  if (s.stats.state == "stopped") s.stats.state = "connecting";
}

void RedisFiguresSink::stop() {
  State& s = *state_;
  s.thread.stop(s.mutex, s.wake, [&s] {
    s.stats.state = "stopped";
    s.stats.connected = false;
  });
}

void RedisFiguresSink::offer_snapshot(std::shared_ptr<const WindowSnapshot> snapshot) {
  State& s = *state_;
  {
    std::lock_guard lock(s.mutex);
    if (s.pending) {
      s.stats.snapshots_skipped++;
      s.skipped_counter.add();
    }
    s.pending = std::move(snapshot);
  }
  s.wake.notify_one();
}

void RedisFiguresSink::offer_minutes(std::span<const std::pair<std::int64_t, std::string>> minutes) {
  if (minutes.empty()) return;
  State& s = *state_;
  {
    std::lock_guard lock(s.mutex);
    for (const auto& [m, bytes] : minutes) s.pending_minutes[m] = bytes;
    s.trim_minutes();
  }
  s.wake.notify_one();
}

RedisFiguresStats RedisFiguresSink::stats() const {
  std::lock_guard lock(state_->mutex);
  RedisFiguresStats out = state_->stats;
  out.backlog = (state_->pending ? 1 : 0) + state_->pending_minutes.size();
  return out;
}

const RedisConfig& RedisFiguresSink::config() const noexcept { return state_->config; }

}  // namespace shoppulse
