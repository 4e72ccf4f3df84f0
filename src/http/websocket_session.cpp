#include "websocket_session.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "window_subscription.hpp"

namespace shoppulse::http {

namespace beast = boost::beast;
namespace net = boost::asio;
namespace websocket = beast::websocket;

namespace {

// Client messages are subscriptions (anything else is ignored); anything
// larger is a protocol error.
constexpr std::size_t kMaxClientMessageBytes = 64 * 1024;
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
// With no frame from the client for this long the server pings once, then
// closes; browsers answer pings, so only dead or stuck clients are dropped.
constexpr auto kIdleTimeout = std::chrono::seconds(60);

// Role: pushes broadcast messages to one WebSocket client. Each session keeps
// at most one message in flight and one pending; a newer tick replaces the
// pending one, so a slow client skips ticks instead of queueing them.
// Lifecycle: lives while a read or write is pending; unregisters and releases
// its client slot on destruction. Thread: all work on the connection's strand;
// send() may be called from any thread and posts to it.
// Stream: beast::tcp_stream, or beast::ssl_stream over it for wss://.
template <class Stream>
class WebSocketSession : public BroadcastTarget, public std::enable_shared_from_this<WebSocketSession<Stream>> {
  using std::enable_shared_from_this<WebSocketSession<Stream>>::shared_from_this;
  using std::enable_shared_from_this<WebSocketSession<Stream>>::weak_from_this;

 public:
  WebSocketSession(Stream&& socket, std::shared_ptr<SharedState> state,
                   std::chrono::steady_clock::time_point started, std::shared_ptr<void> connection_slot)
      : ws_(std::move(socket)), state_(std::move(state)), started_(started), slot_(std::move(connection_slot)) {}

  ~WebSocketSession() override {
    state_->leave(this);
    state_->release_websocket();
  }

  void run(beast::http::request<beast::http::string_body> request) {
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = kHandshakeTimeout;
    timeouts.idle_timeout = kIdleTimeout;
    timeouts.keep_alive_pings = true;
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(beast::http::field::server, "shoppulse"); }));
    // permessage-deflate when the client offers it: the snapshot repeats
    // most of its text every second and compresses well.
    websocket::permessage_deflate deflate;
    deflate.server_enable = true;
    ws_.set_option(deflate);
    ws_.read_message_max(kMaxClientMessageBytes);
    ws_.text(true);
    ws_.async_accept(request, beast::bind_front_handler(&WebSocketSession::on_accept, shared_from_this()));
  }

  void send(std::shared_ptr<const std::string> msg) override {
    net::post(ws_.get_executor(), [self = shared_from_this(), msg = std::move(msg)]() mutable {
      self->enqueue(self->state_->with_windows(msg, self->windows_));
    });
  }

 private:
  void on_accept(beast::error_code ec) {
    state_->metrics().record(RouteClass::ws, ec ? 400 : 101, std::chrono::steady_clock::now() - started_);
    if (ec) return;
    state_->join(this, weak_from_this());
    if (auto latest = state_->latest()) enqueue(state_->with_windows(latest, windows_));
    do_read();
  }

  void do_read() {
    ws_.async_read(buffer_, beast::bind_front_handler(&WebSocketSession::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) {
      closed_ = true;  // closed by the client, timed out, or a protocol error
      return;
    }
    // A subscribe message narrows the windows this client is sent, from the
    // next message on (the latest is sent at once). Any other message is
    // answered with an error naming the problem, and the subscription stays.
    const std::string text = beast::buffers_to_string(buffer_.data());
    auto mask = ws_.got_text() ? parse_subscription(text)
                               : Result<unsigned>(make_error(Errc::invalid_argument, "binary messages are not read; "
                                                                                     "send a text subscribe message"));
    if (mask) {
      windows_ = *mask;
      if (auto latest = state_->latest()) enqueue(state_->with_windows(latest, windows_));
    } else {
      reply(std::make_shared<const std::string>(refusal_message(mask.error())));
    }
    buffer_.consume(buffer_.size());
    do_read();
  }

  // Sends msg now, or keeps it in `waiting` (pending_ for snapshots,
  // reply_ for an answer to the client's own message) until the write in
  // flight ends; a newer message replaces one still waiting there. An answer
  // goes before a waiting snapshot (see on_write), so a snapshot never
  // replaces it.
  void send(std::shared_ptr<const std::string> msg, std::shared_ptr<const std::string>& waiting) {
    if (closed_) return;
    if (in_flight_) {
      waiting = std::move(msg);
      return;
    }
    in_flight_ = std::move(msg);
    do_write();
  }
  void enqueue(std::shared_ptr<const std::string> msg) { send(std::move(msg), pending_); }
  void reply(std::shared_ptr<const std::string> msg) { send(std::move(msg), reply_); }

  void do_write() {
    ws_.async_write(net::buffer(*in_flight_),
                    beast::bind_front_handler(&WebSocketSession::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    in_flight_.reset();
    if (ec) {
      closed_ = true;
      pending_.reset();
      reply_.reset();
      return;
    }
    std::shared_ptr<const std::string>& next = reply_ ? reply_ : pending_;
    if (next) {
      in_flight_ = std::move(next);
      do_write();
    }
  }

  websocket::stream<Stream> ws_;
  beast::flat_buffer buffer_;
  std::shared_ptr<SharedState> state_;
  std::chrono::steady_clock::time_point started_;
  std::shared_ptr<void> slot_;  // the connection's place under http.max_connections
  std::shared_ptr<const std::string> in_flight_;  // the message being written
  std::shared_ptr<const std::string> pending_;    // the newest message not yet written
  std::shared_ptr<const std::string> reply_;      // an answer to the client not yet written
  bool closed_ = false;
  unsigned windows_ = kAllWindows;  // the windows this client subscribed to
};

}  // namespace

void start_websocket_session(beast::tcp_stream stream, beast::http::request<beast::http::string_body> request,
                             std::shared_ptr<SharedState> state, std::chrono::steady_clock::time_point started,
                             std::shared_ptr<void> connection_slot) {
  auto session = std::make_shared<WebSocketSession<beast::tcp_stream>>(std::move(stream), std::move(state), started,
                                                                       std::move(connection_slot));
  session->run(std::move(request));
}

void start_websocket_session(beast::ssl_stream<beast::tcp_stream> stream,
                             beast::http::request<beast::http::string_body> request,
                             std::shared_ptr<SharedState> state, std::chrono::steady_clock::time_point started,
                             std::shared_ptr<void> connection_slot) {
  auto session = std::make_shared<WebSocketSession<beast::ssl_stream<beast::tcp_stream>>>(
      std::move(stream), std::move(state), started, std::move(connection_slot));
  session->run(std::move(request));
}

}  // namespace shoppulse::http
