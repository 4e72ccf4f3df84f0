#pragma once
// Live figures in Redis, for other services of the shop to read.
//
// Role: after each published snapshot, writes the real-time figures of every
// window, the hot products and categories of every window, and each closed
// minute's counters to Redis in one pipelined round trip, then publishes a
// message on a channel so a service can subscribe instead of polling.
//
// Key schema (P = redis.key_prefix, default "shoppulse"; SPAN is 1m, 5m, 15m,
// 1h or 24h; every value is a decimal string):
//   P:snapshot            hash  watermark_ms, max_event_time_ms, applied_through,
//                               events_applied, written_ms
//   P:window:SPAN         hash  start_ms, end_ms, events, view, click, add_to_cart,
//                               remove_from_cart, favorite, purchase, rate (counts
//                               per type), revenue_minor, active_users, viewers,
//                               purchasers, conversion_rate, average_order_value_minor
//   P:hot:products:SPAN   zset  member = product id as sent, score = interactions
//                               (the window's top N, windows.top_n)
//   P:hot:categories:SPAN zset  member = category, score = interactions
//   P:minute:M            hash  M = minutes since the epoch (UTC); events, the
//                               counts per type, revenue_minor, active_users,
//                               viewers, purchasers; written when the minute closes (again
//                               if a late event re-closes it); expires after
//                               redis.minute_ttl
//   channel P:snapshots   message {"watermark_ms":..,"applied_through":..} after
//                               the keys of that snapshot are written
// The keys of one snapshot are written in one MULTI/EXEC, so a reader never
// sees a window hash from one snapshot beside a hot list from another.
//
// Delivery: newest only. The engine thread hands over a snapshot and never
// waits: the mailbox holds one snapshot, and a newer one replaces an unwritten
// one (counted as skipped). Closed minutes wait in a bounded map; beyond
// redis.max_pending_minutes the oldest are dropped (counted). While Redis is
// unreachable the writer reconnects with exponential backoff and, once back,
// writes the newest snapshot and the minutes still pending.
//
// Lifecycle: construct, start() spawns the writer thread, stop() writes what is
// pending if connected, then joins; start() again resumes (the "redis"
// component's start/stop).
// Threading: every public method is callable from any thread; the writer
// thread alone owns the connection.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>

#include "shoppulse/core/dictionary.hpp"
#include "shoppulse/core/metrics.hpp"
#include "shoppulse/windows/window_snapshot.hpp"

namespace shoppulse {

struct RedisConfig {
  std::string host;                       // empty: no Redis (env REDIS_HOST)
  std::uint16_t port = 6379;              // env REDIS_PORT
  std::string key_prefix = "shoppulse";   // first part of every key and of the channel
  std::int64_t minute_ttl_ms = 86400000;  // per-minute hashes expire after this; ms
  std::int64_t timeout_ms = 2000;         // connect and command timeout; ms
  std::int64_t max_backoff_ms = 5000;     // longest wait between reconnects; ms
  std::size_t max_pending_minutes = 1440; // closed minutes waiting for Redis; oldest dropped beyond
};

struct RedisFiguresStats {
  std::string state = "stopped";  // stopped, connecting, running, disconnected
  bool connected = false;
  std::uint64_t snapshots_written = 0;
  std::uint64_t snapshots_skipped = 0;  // replaced in the mailbox before being written
  std::uint64_t minutes_written = 0;
  std::uint64_t minutes_dropped = 0;    // pending minutes dropped beyond the bound
  std::uint64_t failures = 0;           // failed connects and writes
  std::uint64_t reconnects = 0;         // connections made after the first
  std::uint64_t backlog = 0;            // snapshots (0 or 1) plus minutes waiting
  std::string last_error;
  TimestampMs last_written_watermark_ms = 0;
  double last_write_seconds = 0;        // duration of the last round trip
};

class RedisFiguresSink {
 public:
  RedisFiguresSink(RedisConfig config, const Dictionary& dictionary, MetricsRegistry& metrics);
  ~RedisFiguresSink();
  RedisFiguresSink(const RedisFiguresSink&) = delete;
  RedisFiguresSink& operator=(const RedisFiguresSink&) = delete;

  void start();
  void stop();

  // Never blocks on Redis. A snapshot not yet written is replaced.
  void offer_snapshot(std::shared_ptr<const WindowSnapshot> snapshot);
  // Closed minutes as the windows module encodes them (encode_rollup).
  void offer_minutes(std::span<const std::pair<std::int64_t, std::string>> minutes);

  RedisFiguresStats stats() const;
  const RedisConfig& config() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace shoppulse
