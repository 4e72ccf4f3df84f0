#include "listener.hpp"

#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <array>
#include <atomic>
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

namespace {

// A refused connection closes the way HTTP servers close after an error
// answer ("lingering close"): the 503, then our FIN, then whatever the client
// still sends is read and dropped until it closes too or kLinger passes.
// Closed at once, the socket would answer the client's remaining bytes with a
// reset: a client that sends its whole body before reading (curl, most
// libraries) then sees a failed send instead of the 503, and some systems drop
// the unread 503 on a reset. Up to kMaxDrained bytes are read and dropped.
class Refusal : public std::enable_shared_from_this<Refusal> {
 public:
  Refusal(net::ip::tcp::socket socket, std::shared_ptr<std::atomic<std::size_t>> lingering, bool linger)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), lingering_(std::move(lingering)), linger_(linger) {}
  ~Refusal() {
    if (linger_) lingering_->fetch_sub(1, std::memory_order_relaxed);
  }

  void start() {
    net::async_write(socket_, net::buffer(kBusyResponse.data(), kBusyResponse.size()),
                     [self = shared_from_this()](boost::system::error_code ec, std::size_t) { self->on_written(ec); });
  }

 private:
  void on_written(boost::system::error_code ec) {
    boost::system::error_code ignored;  // a client already gone needs no goodbye
    if (ec) return close();
    if (!linger_) return close_without_reset();
    socket_.shutdown(net::ip::tcp::socket::shutdown_send, ignored);
    timer_.expires_after(kLinger);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code wait_ec) {
      if (!wait_ec) self->close();
    });
    drain();
  }
  void drain() {
    socket_.async_read_some(net::buffer(sink_), [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ > kMaxDrained) return self->close();
      self->drain();
    });
  }
  void close() {
    boost::system::error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
  }
  // Not lingering (a flood): the bytes the client has already sent (its
  // request, usually whole by now) are read and dropped without waiting,
  // then our FIN. Closed with them unread, the socket would answer with a
  // reset: the client reads the 503 and then a reset instead of the end of
  // the answer (about half the refused requests did in a flood of 64
  // lingering refusals), and some systems drop unread data on a reset.
  void close_without_reset() {
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);
    while (!ec && drained_ <= kMaxDrained) drained_ += socket_.read_some(net::buffer(sink_), ec);
    socket_.shutdown(net::ip::tcp::socket::shutdown_send, ec);
    close();
  }

  static constexpr std::chrono::milliseconds kLinger{2000};
  static constexpr std::size_t kMaxDrained = 1024 * 1024;
  net::ip::tcp::socket socket_;
  net::steady_timer timer_;
  std::array<char, 4096> sink_{};
  std::size_t drained_ = 0;
  std::shared_ptr<std::atomic<std::size_t>> lingering_;
  bool linger_;
};

}  // namespace

void Listener::refuse(net::ip::tcp::socket socket) {
  // Beyond kMaxLingering refusals at once (a flood), the rest close at once:
  // a lingering refusal holds a descriptor, and descriptors are what a flood
  // exhausts.
  const bool linger = lingering_->fetch_add(1, std::memory_order_relaxed) < kMaxLingering;
  if (!linger) lingering_->fetch_sub(1, std::memory_order_relaxed);
  std::make_shared<Refusal>(std::move(socket), lingering_, linger)->start();
}

}  // namespace shoppulse::http
