#pragma once
// State shared by every connection of one HttpServer: configuration, the api
// handler, static assets, metrics, the WebSocket registry and the latest
// broadcast message. No Beast here, so the broadcaster and listener stay light.
//
// Lifecycle: created by HttpServer::start(), kept alive by sessions and
// in-flight api callbacks (shared_ptr); close() marks the server stopped so
// late api responses are dropped instead of posted to a dead io_context.
// Threading: every member is safe to call from any thread.
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "shoppulse/api/handler.hpp"
#include "shoppulse/core/metrics.hpp"
#include "shoppulse/http/http_server.hpp"
#include "static_assets.hpp"

namespace shoppulse::http {

// Something that accepts broadcast messages; implemented by the WebSocket
// session so the registry needs no WebSocket headers.
class BroadcastTarget {
 public:
  virtual ~BroadcastTarget() = default;
  // Thread: any. Queues msg for sending; replaces an unsent older message.
  virtual void send(std::shared_ptr<const std::string> msg) = 0;
};

enum class RouteClass { api, static_file, ws, metrics };

// The per-route histograms and per-status-class counters, registered once.
class HttpMetrics {
 public:
  explicit HttpMetrics(MetricsRegistry& registry);
  void record(RouteClass route, int status, std::chrono::steady_clock::duration elapsed) noexcept;

 private:
  std::array<Histogram*, 4> durations_{};  // indexed by RouteClass
  std::array<Counter*, 5> by_status_{};    // 1xx..5xx
};

class SharedState : public std::enable_shared_from_this<SharedState> {
 public:
  SharedState(HttpConfig config, api::Handler& handler, auth::Authorizer* authorizer, AssetTable table,
              HttpMetrics& metrics, std::shared_ptr<std::atomic<std::size_t>> websocket_count);

  const HttpConfig& config() const noexcept { return config_; }
  api::Handler& handler() const noexcept { return handler_; }
  auth::Authorizer* authorizer() const noexcept { return authorizer_; }
  const StaticAssets& assets() const noexcept { return assets_; }
  HttpMetrics& metrics() const noexcept { return metrics_; }

  // Runs f() under the gate lock only while the server runs, so f may post to
  // the io_context without racing its destruction.
  template <class F>
  void if_running(F&& f) {
    std::lock_guard lock(gate_mutex_);
    if (running_) f();
  }
  void close();  // called by stop() before the io_context is destroyed

  // Reserves one of config().ws_max_clients slots; false when all are taken.
  bool try_reserve_websocket() noexcept;
  void release_websocket() noexcept;

  // One of config().max_connections slots, held for as long as the returned
  // token lives (by the HTTP session, then by its WebSocket session); null
  // when all are taken.
  std::shared_ptr<void> try_reserve_connection();
  std::size_t connections() const noexcept { return connections_.load(std::memory_order_relaxed); }
  std::size_t websocket_clients() const noexcept { return websocket_count_->load(std::memory_order_relaxed); }

  void join(BroadcastTarget* key, std::weak_ptr<BroadcastTarget> session);
  void leave(BroadcastTarget* key);

  std::shared_ptr<const std::string> latest() const;
  // Stores msg as the latest message and hands it to every joined session.
  void broadcast(std::shared_ptr<const std::string> msg);

  // msg with only the windows of mask (see window_subscription.hpp). Each
  // variant of the latest message is rendered once and shared by every
  // session subscribed to the same windows.
  std::shared_ptr<const std::string> with_windows(const std::shared_ptr<const std::string>& msg, unsigned mask);

 private:
  const HttpConfig config_;
  api::Handler& handler_;
  auth::Authorizer* const authorizer_;
  const StaticAssets assets_;
  HttpMetrics& metrics_;
  std::shared_ptr<std::atomic<std::size_t>> websocket_count_;  // shared with the metrics gauge
  std::atomic<std::size_t> connections_{0};

  std::mutex gate_mutex_;
  bool running_ = true;

  mutable std::mutex sessions_mutex_;
  std::unordered_map<BroadcastTarget*, std::weak_ptr<BroadcastTarget>> sessions_;  // at most ws_max_clients
  std::shared_ptr<const std::string> latest_;

  std::mutex variants_mutex_;
  std::shared_ptr<const std::string> variants_of_;  // the message the variants were cut from
  std::array<std::shared_ptr<const std::string>, 32> variants_;  // by window mask
};

}  // namespace shoppulse::http
