#pragma once
// The HTTP/WebSocket front door. Beast stays inside src/http.
//
// Role: accepts connections, serves the embedded dashboard assets, upgrades
// /ws/real-time to WebSocket and broadcasts one snapshot per tick, and hands
// every other request to an api::Handler. Lifecycle: start() binds and spawns
// I/O threads; stop() closes the listener and all sessions and joins threads.
// Threading: start/stop from the owning thread; callbacks run on I/O threads.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "shoppulse/api/handler.hpp"
#include "shoppulse/auth/authorizer.hpp"
#include "shoppulse/core/metrics.hpp"
#include "shoppulse/core/result.hpp"

namespace shoppulse {

struct HttpConfig {
  std::string host = "127.0.0.1";            // listen address (API_HOST); loopback unless set
  std::uint16_t port = 8000;                 // listen port, 0 = any free (API_PORT)
  unsigned threads = 2;                      // I/O threads
  std::size_t body_limit_bytes = 16u << 20;  // larger bodies get 413 before being read; bytes
  std::int64_t idle_timeout_ms = 30000;      // an idle keep-alive connection closes after this; ms
  std::int64_t ws_interval_ms = 1000;        // WebSocket push period; ms
  std::size_t ws_max_clients = 10000;        // further upgrades get 503
  std::string static_dir;                    // serve dashboard files from here instead of the embedded table (development)
  std::size_t max_connections = 10000;       // open connections (HTTP and WebSocket); further ones get 503 and close
  std::string tls_cert;                      // PEM certificate chain; with tls_key the server speaks only HTTPS/WSS
  std::string tls_key;                       // PEM private key of tls_cert
};

// Returns the JSON to broadcast this tick, or null to skip the tick. Called
// once per tick on one I/O thread; the same string goes to every client.
using BroadcastSource = std::function<std::shared_ptr<const std::string>()>;

// The asynchronous form, for a message made elsewhere (a cluster node's,
// merged from every member's part): called once per tick on one I/O thread,
// it hands the message to deliver exactly once, from any thread (null: skip
// this tick). A tick that comes while the previous message is still on its
// way is skipped, so a slow source never piles up requests.
using BroadcastDeliver = std::function<void(std::shared_ptr<const std::string>)>;
using AsyncBroadcastSource = std::function<void(BroadcastDeliver)>;

class HttpServer {
 public:
  // authorizer: Host/Origin/key checks before every request; nullptr checks
  // nothing (tests of the transport alone). It must outlive the server.
  HttpServer(HttpConfig config, api::Handler& handler, BroadcastSource broadcast, MetricsRegistry& metrics,
             auth::Authorizer* authorizer = nullptr);
  HttpServer(HttpConfig config, api::Handler& handler, AsyncBroadcastSource broadcast, MetricsRegistry& metrics,
             auth::Authorizer* authorizer = nullptr);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // io_error naming the address when bind fails, invalid_argument when the
  // TLS certificate or key cannot be loaded.
  Result<void> start();
  void stop();
  std::uint16_t port() const noexcept;  // the bound port (after start)
  std::size_t websocket_clients() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace shoppulse
