#pragma once
// Runs range queries (any [from, to) of event time) against the event log on
// one bounded worker thread, beside a TimeIndex it keeps up to date.
//
// Why one worker of its own rather than the engine thread or the I/O threads:
// a range query reads up to range.max_scan_events events from the log, tens
// to hundreds of milliseconds of work that must neither hold the live windows
// (the engine thread) nor a connection's thread. One worker with a small
// bounded queue caps the memory and CPU range queries can take; a query
// beyond the queue is refused with `overloaded` (503 + Retry-After) at once,
// and one whose range needs more than max_scan_events reads is refused with
// `payload_too_large` (413) before any read. The worker also owns the time
// index: it reads the whole log once at start (queries meanwhile answer
// `unavailable`, 503) and then the newly logged events before every query and
// whenever it is idle for index_interval.
//
// Lifecycle: constructed over a log that outlives it; start() once, stop()
// once (also by the destructor): queued queries are answered `unavailable`.
// Threading: submit(), stats() from any thread; jobs run on the worker.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "shoppulse/core/partition_ownership.hpp"
#include "shoppulse/core/result.hpp"
#include "shoppulse/eventlog/storage.hpp"
#include "shoppulse/range/time_index.hpp"

namespace shoppulse::range {

struct RangeRunnerConfig {
  // Most log events one query may read (the sequences its range spans,
  // previous period included); beyond it the query is refused. events.
  std::uint64_t max_scan_events = 5'000'000;
  // Most queries waiting for the worker; beyond it they are refused. queries.
  std::size_t max_queued = 8;
  // How often an idle worker indexes newly logged events. ms.
  std::int64_t index_interval_ms = 1000;
  // Cluster mode: queries count only events of these partitions (the set
  // current when the query starts); nullptr: every event of the log.
  const PartitionOwnership* ownership = nullptr;
};

struct ScanFigures {
  std::uint64_t read = 0;      // log events read
  std::uint64_t in_range = 0;  // of them, inside the asked range
  double seconds = 0;          // wall time of the read
};

// What a job sees on the worker thread.
class RangeScope {
 public:
  virtual ~RangeScope() = default;
  // Calls fn with every logged event with time in [from_ms, to_ms), in
  // sequence order (not time order). payload_too_large when the range spans
  // more than max_scan_events sequences; a log read error as it is.
  virtual Result<ScanFigures> scan(TimestampMs from_ms, TimestampMs to_ms,
                                   const std::function<void(const Event&)>& fn) = 0;
  virtual const TimeIndex& index() const = 0;
};

struct RangeRunnerStats {
  bool indexed = false;             // the start-up read of the log is done
  Sequence indexed_through = 0;
  std::uint64_t queries = 0;        // run
  std::uint64_t refused = 0;        // queue full or too large
  std::uint64_t events_scanned = 0; // by queries, in total
  double scan_seconds = 0;          // spent reading for queries, in total
  std::size_t index_bytes = 0;
};

class RangeRunner {
 public:
  using Job = std::function<void(RangeScope&)>;
  // Called instead of the job when it is not run (stopping): gets the reason.
  using Refused = std::function<void(Error)>;

  RangeRunner(RangeRunnerConfig config, const EventLog& log);
  ~RangeRunner();
  RangeRunner(const RangeRunner&) = delete;
  RangeRunner& operator=(const RangeRunner&) = delete;

  void start();
  void stop();

  // Queues job; overloaded when max_queued are waiting, unavailable while
  // the index is still being built or the worker is not running.
  Result<void> submit(Job job, Refused refused);

  RangeRunnerStats stats() const;
  const RangeRunnerConfig& config() const noexcept { return config_; }

 private:
  class Scope;
  void run();
  Result<void> catch_up();

  RangeRunnerConfig config_;
  const EventLog& log_;
  TimeIndex index_;  // worker thread only

  mutable std::mutex mutex_;  // guards everything below
  std::condition_variable wake_;
  std::deque<std::pair<Job, Refused>> queue_;
  bool running_ = false;
  bool stopping_ = false;
  RangeRunnerStats stats_;
  std::thread worker_;
};

}  // namespace shoppulse::range
