#include "shoppulse/range/range_runner.hpp"

#include <chrono>
#include <optional>

#include "shoppulse/core/log.hpp"

namespace shoppulse::range {
namespace {
const Logger kLog("range");
}

class RangeRunner::Scope final : public RangeScope {
 public:
  Scope(RangeRunner& runner) : runner_(runner) {}
  Result<ScanFigures> scan(TimestampMs from_ms, TimestampMs to_ms,
                           const std::function<void(const Event&)>& fn) override {
    ScanFigures figures;
    const auto span = runner_.index_.span(from_ms, to_ms);
    if (!span) return figures;
    if (span->length() > runner_.config_.max_scan_events) {
      {
        std::lock_guard lock(runner_.mutex_);
        ++runner_.stats_.refused;
      }
      return make_error(Errc::payload_too_large,
                        "the range spans " + std::to_string(span->length()) +
                            " logged events, more than range.max_scan_events (" +
                            std::to_string(runner_.config_.max_scan_events) + "); ask for a shorter range",
                        "from");
    }
    const auto started = std::chrono::steady_clock::now();
    const Sequence last = span->last;
    std::optional<PartitionFilter> keep;
    if (const PartitionOwnership* o = runner_.config_.ownership) keep.emplace(o->dictionary(), o->current());
    auto read = runner_.log_.read(span->first, [&](std::span<const LogRecord> records) {
      for (const LogRecord& r : records) {
        if (r.event.sequence > last) return false;
        ++figures.read;
        if (r.event.time_ms < from_ms || r.event.time_ms >= to_ms) continue;
        if (keep && !(*keep)(r.event)) continue;
        ++figures.in_range;
        fn(r.event);
      }
      return true;
    });
    figures.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    {
      std::lock_guard lock(runner_.mutex_);
      runner_.stats_.events_scanned += figures.read;
      runner_.stats_.scan_seconds += figures.seconds;
    }
    if (!read) return std::move(read).error();
    return figures;
  }
  const TimeIndex& index() const override { return runner_.index_; }

 private:
  RangeRunner& runner_;
};

RangeRunner::RangeRunner(RangeRunnerConfig config, const EventLog& log) : config_(config), log_(log) {}

RangeRunner::~RangeRunner() { stop(); }

void RangeRunner::start() {
  std::lock_guard lock(mutex_);
  if (running_ || stopping_) return;
  running_ = true;
  worker_ = std::thread([this] { run(); });
}

void RangeRunner::stop() {
  {
    std::lock_guard lock(mutex_);
    if (!running_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
  std::deque<std::pair<Job, Refused>> left;
  {
    std::lock_guard lock(mutex_);
    running_ = false;
    left.swap(queue_);
  }
  for (auto& [job, refused] : left) refused(make_error(Errc::unavailable, "shutting down"));
}

Result<void> RangeRunner::submit(Job job, Refused refused) {
  {
    std::lock_guard lock(mutex_);
    if (!running_ || stopping_) return make_error(Errc::unavailable, "range queries are not running");
    if (!stats_.indexed)
      return make_error(Errc::unavailable, "the time index is still being built from the log: " +
                                               std::to_string(stats_.indexed_through) + " events read so far");
    if (queue_.size() >= config_.max_queued) {
      ++stats_.refused;
      return make_error(Errc::overloaded, std::to_string(queue_.size()) +
                                              " range queries are already waiting (range.max_queued)");
    }
    queue_.emplace_back(std::move(job), std::move(refused));
  }
  wake_.notify_one();
  return {};
}

RangeRunnerStats RangeRunner::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

Result<void> RangeRunner::catch_up() {
  const Sequence next = log_.next_sequence();
  if (next == 0 || index_.indexed_through() + 1 >= next) return {};
  const Sequence through = next - 1;
  auto read = log_.read(index_.indexed_through() + 1, [&](std::span<const LogRecord> records) {
    for (const LogRecord& r : records) {
      if (r.event.sequence > through) return false;
      index_.add(r.event);
    }
    std::lock_guard lock(mutex_);
    return !stopping_;
  });
  std::lock_guard lock(mutex_);
  stats_.indexed_through = index_.indexed_through();
  stats_.index_bytes = index_.memory_bytes();
  return read;
}

void RangeRunner::run() {
  const auto started = std::chrono::steady_clock::now();
  if (auto r = catch_up(); !r) kLog.warn("time index read failed", {{"error", r.error().detail}});
  {
    std::lock_guard lock(mutex_);
    stats_.indexed = true;
  }
  kLog.info("time index built",
            {{"events", std::to_string(index_.events())},
             {"ms", std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::steady_clock::now() - started)
                                       .count())}});
  Scope scope(*this);
  for (;;) {
    std::pair<Job, Refused> item;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, std::chrono::milliseconds(config_.index_interval_ms),
                     [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      if (queue_.empty()) {
        lock.unlock();
        if (auto r = catch_up(); !r) kLog.warn("time index read failed", {{"error", r.error().detail}});
        continue;
      }
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    if (auto r = catch_up(); !r) {
      item.second(std::move(r).error());
      continue;
    }
    item.first(scope);
    std::lock_guard lock(mutex_);
    ++stats_.queries;
  }
}

}  // namespace shoppulse::range
