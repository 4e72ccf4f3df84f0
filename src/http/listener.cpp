#include "listener.hpp"

#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <string_view>

#include "http_session.hpp"

namespace shoppulse::http {

namespace net = boost::asio;

namespace {

// A failed accept is retried after this, doubling up to the maximum: out of
// descriptors (EMFILE) the pending connection stays in the backlog and an
// immediate retry would fail again at once, spinning a core.
constexpr std::chrono::milliseconds kFirstBackoff{10};
constexpr std::chrono::milliseconds kMaxBackoff{1000};

constexpr std::string_view kBusyResponse =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Server: shoppulse\r\n"
    "Content-Type: application/json\r\n"
    "Retry-After: 1\r\n"
    "Connection: close\r\n"
    "Content-Length: 81\r\n"
    "\r\n"
    R"({"error":"too_many_connections","detail":"connection limit reached; retry later"})";

}  // namespace

Listener::Listener(net::io_context& ioc, net::ip::tcp::acceptor acceptor, std::shared_ptr<SharedState> state,
                   std::shared_ptr<net::ssl::context> tls)
    : ioc_(ioc),
      acceptor_(std::move(acceptor)),
      state_(std::move(state)),
      tls_(std::move(tls)),
      backoff_timer_(acceptor_.get_executor()) {}

void Listener::run() { do_accept(); }

void Listener::do_accept() {
  // Each connection gets its own strand so its handlers never run concurrently.
  acceptor_.async_accept(net::make_strand(ioc_), [self = shared_from_this()](boost::system::error_code ec,
                                                                              net::ip::tcp::socket socket) {
    self->on_accept(ec, std::move(socket));
  });
}

void Listener::on_accept(boost::system::error_code ec, net::ip::tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
  if (ec) {
    backoff_ = backoff_.count() == 0 ? kFirstBackoff : std::min(kMaxBackoff, backoff_ * 2);
    backoff_timer_.expires_after(backoff_);
    backoff_timer_.async_wait([self = shared_from_this()](boost::system::error_code wait_ec) {
      if (!wait_ec) self->do_accept();
    });
    return;
  }
  backoff_ = std::chrono::milliseconds(0);
  auto slot = state_->try_reserve_connection();
  if (!slot) refuse(std::move(socket));  // in plain text even on a TLS port: the handshake would cost more
  else if (tls_) start_https_session(std::move(socket), *tls_, state_, std::move(slot));
  else start_http_session(std::move(socket), state_, std::move(slot));
  do_accept();
}

void Listener::refuse(net::ip::tcp::socket socket) {
  auto held = std::make_shared<net::ip::tcp::socket>(std::move(socket));
  net::async_write(*held, net::buffer(kBusyResponse.data(), kBusyResponse.size()),
                   [held](boost::system::error_code, std::size_t) {
                     boost::system::error_code ignored;
                     held->shutdown(net::ip::tcp::socket::shutdown_both, ignored);  // deliberately ignored
                     held->close(ignored);
                   });
}

}  // namespace shoppulse::http
