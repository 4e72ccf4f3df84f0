#include "shoppulse/adapters/mongodb_checkpoints.hpp"

#include <algorithm>

#include "shoppulse/core/log.hpp"

namespace shoppulse {
namespace {

const Logger kLog("mongodb");
constexpr std::chrono::milliseconds kFirstBackoff(1000);
constexpr std::chrono::milliseconds kMaxBackoff(30000);

}  // namespace

MongoCheckpoints::MongoCheckpoints(MongoConfig config, MetricsRegistry& metrics)
    : config_(std::move(config)),
      written_counter_(metrics.counter("shoppulse_mongodb_checkpoints_written_total",
                                       "Engine and recommender checkpoints stored in MongoDB")),
      failure_counter_(metrics.counter("shoppulse_mongodb_checkpoint_failures_total",
                                       "Checkpoint reads and writes to MongoDB that failed")) {}

Result<std::shared_ptr<MongoStore>> MongoCheckpoints::connected() const {
  // The stats stay readable (health requests) while a connection is tried.
  std::lock_guard connecting(connect_mutex_);
  {
    std::lock_guard lock(mutex_);
    if (store_) return store_;
    if (std::chrono::steady_clock::now() < retry_at_)
      return make_error(Errc::unavailable, "mongodb: not connected, retrying later: " + stats_.last_error);
  }
  auto opened = open_mongodb_store(config_);
  std::lock_guard lock(mutex_);
  if (!opened) {
    backoff_ = std::clamp(backoff_ * 2, kFirstBackoff, kMaxBackoff);
    retry_at_ = std::chrono::steady_clock::now() + backoff_;
    stats_.failures++;
    stats_.state = "disconnected";
    stats_.last_error = opened.error().detail;
    failure_counter_.add(1);
    return std::move(opened).error();
  }
  backoff_ = std::chrono::milliseconds(0);
  store_ = std::shared_ptr<MongoStore>(std::move(opened).value());
  return store_;
}

void MongoCheckpoints::failed(const std::shared_ptr<MongoStore>& store, const std::string& detail) const {
  const bool reachable = store->ping().ok();
  std::lock_guard lock(mutex_);
  stats_.failures++;
  stats_.state = "disconnected";
  stats_.last_error = detail;
  failure_counter_.add(1);
  if (!reachable && store_ == store) {
    store_.reset();
    backoff_ = kFirstBackoff;
    retry_at_ = std::chrono::steady_clock::now() + backoff_;
  }
}

Result<void> MongoCheckpoints::put_checkpoint(std::string_view name, const Checkpoint& checkpoint) {
  auto store = connected();
  if (!store) return std::move(store).error();
  auto put = (*store)->put_checkpoint(name, checkpoint);
  if (!put) {
    failed(*store, put.error().detail);
    return put;
  }
  written_counter_.add(1);
  std::lock_guard lock(mutex_);
  stats_.written++;
  stats_.state = "running";
  return {};
}

Result<std::optional<Checkpoint>> MongoCheckpoints::get_checkpoint(std::string_view name) const {
  auto store = connected();
  if (!store) return std::move(store).error();
  auto got = (*store)->get_checkpoint(name);
  if (!got) {
    failed(*store, got.error().detail);
    return got;
  }
  {
    std::lock_guard lock(mutex_);
    stats_.state = "running";
  }
  if (*got) kLog.info("checkpoint read from MongoDB", {{"checkpoint", std::string(name)},
                                                            {"covers_through", std::to_string((*got)->covers_through)},
                                                            {"bytes", std::to_string((*got)->bytes.size())}});
  return got;
}

MongoCheckpointsStats MongoCheckpoints::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace shoppulse
