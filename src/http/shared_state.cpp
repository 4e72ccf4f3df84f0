#include "shared_state.hpp"

#include <vector>

#include "window_subscription.hpp"

namespace shoppulse::http {

HttpMetrics::HttpMetrics(MetricsRegistry& registry) {
  constexpr const char* kDuration = "shoppulse_http_request_duration_seconds";
  constexpr const char* kDurationHelp = "HTTP request latency from header received to response written";
  durations_[static_cast<int>(RouteClass::api)] = &registry.histogram(kDuration, kDurationHelp, R"(route="api")");
  durations_[static_cast<int>(RouteClass::static_file)] =
      &registry.histogram(kDuration, kDurationHelp, R"(route="static")");
  durations_[static_cast<int>(RouteClass::ws)] = &registry.histogram(kDuration, kDurationHelp, R"(route="ws")");
  durations_[static_cast<int>(RouteClass::metrics)] =
      &registry.histogram(kDuration, kDurationHelp, R"(route="metrics")");
  constexpr const char* kRequests = "shoppulse_http_requests_total";
  constexpr const char* kRequestsHelp = "HTTP responses sent, by status class";
  for (int i = 0; i < 5; ++i) {
    by_status_[i] = &registry.counter(kRequests, kRequestsHelp, "status=\"" + std::to_string(i + 1) + "xx\"");
  }
}

void HttpMetrics::record(RouteClass route, int status, std::chrono::steady_clock::duration elapsed) noexcept {
  durations_[static_cast<int>(route)]->observe(elapsed);
  const int status_class = status / 100;
  if (status_class >= 1 && status_class <= 5) by_status_[status_class - 1]->add();
}

SharedState::SharedState(HttpConfig config, api::Handler& handler, auth::Authorizer* authorizer, AssetTable table,
                         HttpMetrics& metrics, std::shared_ptr<std::atomic<std::size_t>> websocket_count)
    : config_(std::move(config)),
      handler_(handler),
      authorizer_(authorizer),
      assets_(table, config_.static_dir),
      metrics_(metrics),
      websocket_count_(std::move(websocket_count)) {}

void SharedState::close() {
  std::lock_guard lock(gate_mutex_);
  running_ = false;
}

bool SharedState::try_reserve_websocket() noexcept {
  auto current = websocket_count_->load(std::memory_order_relaxed);
  do {
    if (current >= config_.ws_max_clients) return false;
  } while (!websocket_count_->compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
  return true;
}

void SharedState::release_websocket() noexcept { websocket_count_->fetch_sub(1, std::memory_order_relaxed); }

std::shared_ptr<void> SharedState::try_reserve_connection() {
  auto current = connections_.load(std::memory_order_relaxed);
  do {
    if (current >= config_.max_connections) return nullptr;
  } while (!connections_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
  // The token's deleter gives the slot back; it holds the state alive.
  return std::shared_ptr<void>(static_cast<void*>(this), [self = shared_from_this()](void*) {
    self->connections_.fetch_sub(1, std::memory_order_relaxed);
  });
}

void SharedState::join(BroadcastTarget* key, std::weak_ptr<BroadcastTarget> session) {
  std::lock_guard lock(sessions_mutex_);
  sessions_[key] = std::move(session);
}

void SharedState::leave(BroadcastTarget* key) {
  std::lock_guard lock(sessions_mutex_);
  sessions_.erase(key);
}

std::shared_ptr<const std::string> SharedState::latest() const {
  std::lock_guard lock(sessions_mutex_);
  return latest_;
}

void SharedState::broadcast(std::shared_ptr<const std::string> msg) {
  std::vector<std::shared_ptr<BroadcastTarget>> targets;
  {
    std::lock_guard lock(sessions_mutex_);
    latest_ = msg;
    targets.reserve(sessions_.size());
    for (auto& [key, weak] : sessions_) {
      if (auto session = weak.lock()) targets.push_back(std::move(session));
    }
  }
  // Sending outside the lock: send() only posts to the session's strand.
  for (auto& target : targets) target->send(msg);
}

std::shared_ptr<const std::string> SharedState::with_windows(const std::shared_ptr<const std::string>& msg,
                                                             unsigned mask) {
  if (!msg || mask >= variants_.size() || mask == kAllWindows) return msg;
  std::lock_guard lock(variants_mutex_);
  if (variants_of_ != msg) {
    variants_of_ = msg;
    variants_.fill(nullptr);
  }
  auto& variant = variants_[mask];
  if (!variant) variant = std::make_shared<const std::string>(select_windows(*msg, mask));
  return variant;
}

}  // namespace shoppulse::http
