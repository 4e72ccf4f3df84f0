#include "shoppulse/http/http_server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/strand.hpp>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "asset_table.hpp"
#include "broadcaster.hpp"
#include "listener.hpp"
#include "shared_state.hpp"
#include "shoppulse/core/log.hpp"

namespace shoppulse {

namespace net = boost::asio;
using net::ip::tcp;

// Owns the io_context and its threads. The io_context is destroyed in stop(),
// which destroys every pending handler and with it every session, so stop()
// closes all connections without waiting for clients.
struct HttpServer::State {
  State(HttpConfig c, api::Handler& h, BroadcastSource b, MetricsRegistry& registry, auth::Authorizer* a)
      : config(std::move(c)),
        handler(h),
        authorizer(a),
        broadcast(std::move(b)),
        metrics(registry),
        websocket_count(std::make_shared<std::atomic<std::size_t>>(0)),
        table(http::active_asset_table()) {
    registry.gauge("shoppulse_websocket_clients", "Connected WebSocket clients",
                   [count = websocket_count] { return static_cast<double>(count->load(std::memory_order_relaxed)); });
  }

  HttpConfig config;
  api::Handler& handler;
  auth::Authorizer* authorizer;
  BroadcastSource broadcast;
  AsyncBroadcastSource async_broadcast;  // set instead of broadcast by the asynchronous constructor
  http::HttpMetrics metrics;
  std::shared_ptr<std::atomic<std::size_t>> websocket_count;
  http::AssetTable table;

  std::mutex lifecycle_mutex;  // serialises start() and stop()
  std::unique_ptr<net::io_context> ioc;
  std::shared_ptr<http::SharedState> shared;
  std::vector<std::thread> threads;
  std::atomic<std::uint16_t> port{0};
  bool started = false;
  bool stopped = false;
};

HttpServer::HttpServer(HttpConfig config, api::Handler& handler, BroadcastSource broadcast, MetricsRegistry& metrics,
                       auth::Authorizer* authorizer)
    : state_(std::make_unique<State>(std::move(config), handler, std::move(broadcast), metrics, authorizer)) {}

HttpServer::HttpServer(HttpConfig config, api::Handler& handler, AsyncBroadcastSource broadcast,
                       MetricsRegistry& metrics, auth::Authorizer* authorizer)
    : state_(std::make_unique<State>(std::move(config), handler, BroadcastSource{}, metrics, authorizer)) {
  state_->async_broadcast = std::move(broadcast);
}

HttpServer::~HttpServer() { stop(); }

Result<void> HttpServer::start() {
  std::lock_guard lock(state_->lifecycle_mutex);
  auto& s = *state_;
  if (s.started) return make_error(Errc::invalid_argument, "HttpServer::start called twice");
  const std::string address = s.config.host + ":" + std::to_string(s.config.port);
  std::shared_ptr<net::ssl::context> tls;
  if (!s.config.tls_cert.empty() || !s.config.tls_key.empty()) {
    tls = std::make_shared<net::ssl::context>(net::ssl::context::tls_server);
    boost::system::error_code tls_ec;
    tls->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                         net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 | net::ssl::context::no_tlsv1_1 |
                         net::ssl::context::single_dh_use,
                     tls_ec);
    if (!tls_ec) tls->use_certificate_chain_file(s.config.tls_cert, tls_ec);
    if (tls_ec) return make_error(Errc::invalid_argument, "cannot load the TLS certificate: " + tls_ec.message(), "http.tls_cert");
    tls->use_private_key_file(s.config.tls_key, net::ssl::context::pem, tls_ec);
    if (tls_ec) return make_error(Errc::invalid_argument, "cannot load the TLS key: " + tls_ec.message(), "http.tls_key");
  }
  auto ioc = std::make_unique<net::io_context>(static_cast<int>(std::max(1u, s.config.threads)));

  boost::system::error_code ec;
  tcp::resolver resolver(*ioc);
  const auto endpoints = resolver.resolve(s.config.host, std::to_string(s.config.port),
                                          tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) {
    return make_error(Errc::io_error, "cannot resolve listen address " + address + ": " + ec.message(), "host");
  }
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  tcp::acceptor acceptor(net::make_strand(*ioc));
  auto fail = [&](const char* step) {
    return make_error(Errc::io_error, std::string("cannot listen on ") + address + " (" + step + "): " + ec.message(),
                      "port");
  };
  acceptor.open(endpoint.protocol(), ec);
  if (ec) return fail("open");
  acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) return fail("reuse_address");
  acceptor.bind(endpoint, ec);
  if (ec) return fail("bind");
  acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  s.port = acceptor.local_endpoint(ec).port();

  s.shared = std::make_shared<http::SharedState>(s.config, s.handler, s.authorizer, s.table, s.metrics,
                                                 s.websocket_count);
  std::make_shared<http::Listener>(*ioc, std::move(acceptor), s.shared, std::move(tls))->run();
  std::make_shared<http::Broadcaster>(*ioc, std::chrono::milliseconds(s.config.ws_interval_ms), s.broadcast,
                                      s.async_broadcast, s.shared)
      ->run();

  s.ioc = std::move(ioc);
  s.started = true;
  const unsigned n = std::max(1u, s.config.threads);
  s.threads.reserve(n);
  for (unsigned i = 0; i < n; ++i) {
    s.threads.emplace_back([ioc = s.ioc.get()] {
      for (;;) {
        try {
          ioc->run();
          return;
        } catch (const std::exception& e) {
          // One failed handler must not stop the server; its connection is
          // gone (its session went with the unwound handler), so say why.
          static const Logger log("http");
          log.error("an I/O handler failed; its connection was dropped", {{"error", e.what()}});
        }
      }
    });
  }
  return {};
}

void HttpServer::stop() {
  std::lock_guard lock(state_->lifecycle_mutex);
  auto& s = *state_;
  if (!s.started || s.stopped) return;
  s.stopped = true;
  s.shared->close();  // late api responses are dropped from now on
  s.ioc->stop();
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  s.ioc.reset();  // destroys pending handlers: listener, broadcaster, sessions
}

std::uint16_t HttpServer::port() const noexcept { return state_->port.load(); }

std::size_t HttpServer::websocket_clients() const noexcept {
  return state_->websocket_count->load(std::memory_order_relaxed);
}

}  // namespace shoppulse
