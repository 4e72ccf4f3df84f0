#include "http_session.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <optional>
#include <string>

#include "api_encoding.hpp"
#include "request_text.hpp"
#include "shoppulse/core/log.hpp"
#include "shoppulse/core/thread_spare.hpp"
#include "websocket_session.hpp"

namespace shoppulse::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;

namespace {

constexpr std::size_t kHeaderLimitBytes = 16 * 1024;
constexpr std::string_view kWebSocketPath = "/ws/real-time";
constexpr std::string_view kServerName = "shoppulse";
// No inline script anywhere (the dashboard and /docs load their scripts from
// files); inline styles stay allowed for the charts and Swagger UI.
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
constexpr std::string_view kPreflightMaxAgeSeconds = "600";
constexpr std::chrono::seconds kTlsHandshakeTimeout{10};


// Bodies a browser can only send after a CORS preflight, so a cross-site
// form or beacon cannot reach a mutating route.
bool accepted_body_type(std::string_view path, std::string_view content_type) {
  if (content_type == "application/json" || content_type == "application/x-ndjson" ||
      content_type == "application/ndjson" || content_type == "application/jsonl" ||
      content_type == "application/json-seq")
    return true;
  return path == "/api/import" && content_type == "text/csv";
}

bool is_api_path(std::string_view path) {
  return path.substr(0, 5) == "/api/" || path == "/" || path == "/metrics" || path == "/openapi.json";
}

bool is_parse_error(const beast::error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category();
}

// Role: one HTTP/1.1 connection. Reads the header first so an oversized body
// is refused with 413 before any of it is read, then reads the body, routes
// the request and writes the reply; keep-alive requests are handled one at a
// time (pipelined bytes wait in the buffer). Lifecycle: lives while an
// operation is pending, including the wait for an api response; hands its
// socket to a WebSocket session on upgrade. Thread: everything runs on the
// connection's strand; api responses arrive from any thread and are posted
// back to it.
//
// Stream is beast::tcp_stream (plain HTTP) or beast::ssl_stream over it
// (HTTPS: the TLS handshake comes first, a TLS close_notify last).
template <class Stream>
class HttpSession : public std::enable_shared_from_this<HttpSession<Stream>> {
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;
  using std::enable_shared_from_this<HttpSession<Stream>>::shared_from_this;
  using std::enable_shared_from_this<HttpSession<Stream>>::weak_from_this;

 public:
  template <class... StreamArgs>
  HttpSession(std::shared_ptr<SharedState> state, std::shared_ptr<void> slot, StreamArgs&&... stream_args)
      : stream_(std::forward<StreamArgs>(stream_args)...),
        state_(std::move(state)),
        slot_(std::move(slot)),
        response_wait_(stream_.get_executor()) {
    beast::error_code ec;
    const auto peer = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    if (!ec) client_address_ = peer.address().to_string();
  }

  void run() {
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&HttpSession::start, shared_from_this()));
  }

  // Called on the strand with the handler's response.
  void deliver(api::ApiResponse response) {
    if (!awaiting_response_) return;  // the handler responded twice; the first reply won
    awaiting_response_ = false;
    api_response_ = std::move(response);
    response_wait_.cancel();
  }

 private:
  std::chrono::milliseconds idle_timeout() const {
    return std::chrono::milliseconds(state_->config().idle_timeout_ms);
  }

  void start() {
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(kTlsHandshakeTimeout);
      stream_.async_handshake(net::ssl::stream_base::server,
                              [self = shared_from_this()](beast::error_code ec) {
                                if (!ec) self->do_read();  // a failed handshake just drops the connection
                              });
    } else {
      do_read();
    }
  }

  void do_read() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimitBytes);
    parser_->body_limit(state_->config().body_limit_bytes);
    version_ = 11;
    keep_alive_ = false;
    head_ = false;
    route_ = RouteClass::api;
    cors_origin_.clear();
    public_key_ = false;
    beast::get_lowest_layer(stream_).expires_after(idle_timeout());
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             beast::bind_front_handler(&HttpSession::on_read_header, shared_from_this()));
  }

  void on_read_header(beast::error_code ec, std::size_t) {
    started_ = std::chrono::steady_clock::now();
    if (ec) return on_read_error(ec);
    const auto& req = parser_->get();
    version_ = req.version();
    keep_alive_ = req.keep_alive();
    head_ = req.method() == bhttp::verb::head;
    // Only "chunked" is understood; anything else would leave the body's
    // end unknown (request smuggling), so the connection is closed.
    const auto codings = req.equal_range(bhttp::field::transfer_encoding);
    if (codings.first != codings.second) {
      const std::string_view coding = codings.first->value();
      if (std::next(codings.first) != codings.second || !beast::iequals(trim_blanks(coding), "chunked"))
        return send_error(bhttp::status::not_implemented, "unsupported_transfer_encoding",
                          "only Transfer-Encoding: chunked is supported", true);
    }
    const auto length = parser_->content_length();
    if (length && *length > state_->config().body_limit_bytes) return reply_too_large();
    if (parser_->is_done()) return on_request();
    // A large body goes into this thread's spare buffer (core/thread_spare.hpp;
    // the body's reader starts with the body's first bytes, after this).
    if (length && *length >= kSpareBodyMin) parser_->get().body() = SpareBody::take();
    if (beast::iequals(req[bhttp::field::expect], "100-continue")) {
      auto interim = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_, 11);
      interim->set(bhttp::field::server, kServerName);
      response_ = interim;
      beast::get_lowest_layer(stream_).expires_after(idle_timeout());
      return bhttp::async_write(stream_, *interim, [self = shared_from_this()](beast::error_code ec, std::size_t) {
        self->response_.reset();
        if (!ec) self->do_read_body();
      });
    }
    do_read_body();
  }

  void do_read_body() {
    beast::get_lowest_layer(stream_).expires_after(idle_timeout());
    bhttp::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) return on_read_error(ec);
    on_request();
  }

  void on_read_error(const beast::error_code& ec) {
    if (ec == bhttp::error::body_limit) return reply_too_large();
    if (ec == bhttp::error::header_limit) {
      return send_error(bhttp::status::request_header_fields_too_large, "header_too_large",
                        "request header exceeds " + std::to_string(kHeaderLimitBytes) + " bytes", true);
    }
    if (is_parse_error(ec) && ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
      return send_error(bhttp::status::bad_request, "bad_request", "malformed HTTP request: " + ec.message(), true);
    }
    // End of stream, timeout or reset: nothing useful to reply.
    do_close();
  }

  // 413 and close: the body (or its rest) is never read. Beast already
  // reports body_limit from the header read when Content-Length is too big.
  void reply_too_large() {
    const auto limit = std::to_string(state_->config().body_limit_bytes);
    // The fields are stored as parsed, so Content-Length is there even when
    // the parser stopped at the end of the header.
    const std::string_view length = parser_->get()[bhttp::field::content_length];
    const std::string detail = !length.empty()
                                   ? "body of " + std::string(length) + " bytes exceeds the limit of " + limit + " bytes"
                                   : "chunked body exceeds the limit of " + limit + " bytes";
    send_error(bhttp::status::payload_too_large, "payload_too_large", detail, true);
  }

  void on_request() {
    auto& req = parser_->get();
    const std::string_view target = req.target();
    const auto question = target.find('?');
    const std::string_view raw_path = target.substr(0, question);
    const std::string_view query =
        question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);
    if (raw_path.empty() || raw_path.front() != '/') {
      return send_error(bhttp::status::bad_request, "bad_request", "request target must be an absolute path");
    }
    auto path = decode_path(raw_path);
    if (!path) {
      return send_error(bhttp::status::bad_request, "bad_request", "malformed percent-encoding in path");
    }

    if (req.method() == bhttp::verb::options) return answer_options(*path);
    const bool websocket = *path == kWebSocketPath && beast::websocket::is_upgrade(req);
    if (auto* authorizer = state_->authorizer()) {
      auth::AuthRequest check;
      check.method = req.method_string();
      check.path = *path;
      check.host = req[bhttp::field::host];
      check.origin = req[bhttp::field::origin];
      check.authorization = req[bhttp::field::authorization];
      const std::string query_key = websocket ? query_value(query, "key") : std::string();
      check.query_key = query_key;
      check.client_address = client_address_;
      check.websocket = websocket;
      check.tls = kTls;
      auto decision = authorizer->check(check);
      cors_origin_ = std::move(decision.cors_origin);
      public_key_ = decision.public_key;
      if (!decision.allowed()) {
        if (*path == kWebSocketPath) route_ = RouteClass::ws;
        std::vector<std::pair<std::string, std::string>> extra;
        if (decision.status == 401) extra.emplace_back("WWW-Authenticate", "Bearer");
        if (decision.status == 429) extra.emplace_back("Retry-After", std::to_string(decision.retry_after_s));
        return send_error(static_cast<bhttp::status>(decision.status), decision.code, decision.detail, false,
                          extra);
      }
    }
    if (*path == kWebSocketPath) return upgrade();
    // POST is the only method a cross-site page may send without a
    // preflight; the other methods have no routes and answer 405.
    if (req.method() == bhttp::verb::post &&
        !accepted_body_type(*path, normalize_content_type(req[bhttp::field::content_type]))) {
      return send_error(bhttp::status::unsupported_media_type, "unsupported_media_type",
                        "Content-Type must be application/json or application/x-ndjson"
                        " (text/csv for /api/import)");
    }
    // A browser opening the root gets the dashboard; API clients (curl sends
    // */*) get the JSON service information.
    if (*path == "/" && parser_->get()[bhttp::field::accept].find("text/html") != std::string_view::npos)
      return serve_static("/index.html", "/index.html");
    if (is_api_path(*path)) return call_api(std::move(*path), std::string(query));
    serve_static(raw_path, *path);
  }

  void upgrade() {
    route_ = RouteClass::ws;
    auto& req = parser_->get();
    if (!beast::websocket::is_upgrade(req)) {
      return send_error(bhttp::status::upgrade_required, "upgrade_required",
                        "use a WebSocket client for " + std::string(kWebSocketPath));
    }
    if (!state_->try_reserve_websocket()) {
      return send_error(bhttp::status::service_unavailable, "too_many_clients",
                        "WebSocket client limit of " + std::to_string(state_->config().ws_max_clients) + " reached",
                        true);
    }
    beast::get_lowest_layer(stream_).expires_never();  // the WebSocket stream sets its own timeouts
    start_websocket_session(std::move(stream_), parser_->release(), state_, started_, std::move(slot_));
  }

  void call_api(std::string path, std::string query) {
    route_ = path == "/metrics" ? RouteClass::metrics : RouteClass::api;
    auto& req = parser_->get();
    api::ApiRequest request;
    request.method = std::string(req.method_string());
    request.path = std::move(path);
    request.query = std::move(query);
    request.content_type = normalize_content_type(req[bhttp::field::content_type]);
    request.body = std::move(req.body());
    request.browser_events_only = public_key_;
    request.authorization = std::string(req[bhttp::field::authorization]);

    // The pending timer keeps this session alive until the response is
    // delivered; the callback holds only a weak reference, so a handler that
    // keeps it past stop() cannot touch a destroyed io_context.
    awaiting_response_ = true;
    api_response_.reset();
    response_wait_.expires_at(net::steady_timer::time_point::max());
    response_wait_.async_wait(beast::bind_front_handler(&HttpSession::on_api_response, shared_from_this()));
    beast::get_lowest_layer(stream_).expires_never();

    std::weak_ptr<HttpSession> weak = weak_from_this();
    auto state = state_;
    try {
      state_->handler().handle(std::move(request), [weak, state](api::ApiResponse response) {
        state->if_running([&] {
          auto self = weak.lock();
          if (!self) return;
          auto executor = self->stream_.get_executor();
          net::post(executor, [self = std::move(self), response = std::move(response)]() mutable {
            self->deliver(std::move(response));
          });
        });
      });
    } catch (const std::exception& e) {
      // A handler that throws still gets its client an answer (500, the
      // detail in the log) instead of a connection closed with none.
      api::ApiResponse failed;
      failed.status = 500;
      failed.content_type = "application/json";
      failed.body = json_error("internal", e.what());
      deliver(std::move(failed));
    }
  }

  void on_api_response(beast::error_code) {
    if (!api_response_) {  // woken without a response (should not happen): keep waiting
      response_wait_.async_wait(beast::bind_front_handler(&HttpSession::on_api_response, shared_from_this()));
      return;
    }
    api::ApiResponse response = std::move(*api_response_);
    api_response_.reset();
    if (response.status == 500) {
      // A storage or internal failure's detail can name files and library
      // internals: it goes to the log, the client gets the code only.
      static const Logger log("http");
      log.error("request failed", {{"path", std::string(parser_->get().target())}, {"response", response.body}});
      response.body = json_error(error_code_of(response.body), "internal error; the server log has the details");
      response.content_type = "application/json";
    }
    if (response.stream && response.status == 200) return start_stream(std::move(response));
    const auto& req = parser_->get();
    encode_api_response(response, ApiEncodingRequest{req.method_string(), req[bhttp::field::if_none_match],
                                                     req[bhttp::field::accept_encoding]});
    bhttp::response<bhttp::string_body> res;
    res.result(static_cast<unsigned>(response.status));
    for (const auto& [name, value] : response.headers) res.insert(name, value);
    if (response.status == 304) {
      // A 304 carries no body, no Content-Length and no Content-Type.
      return send(std::move(res), false);
    }
    res.set(bhttp::field::content_type, response.content_type);
    res.body() = std::move(response.body);
    res.prepare_payload();
    if (head_) res.body().clear();  // Content-Length still describes the GET body
    send(std::move(res), false);
  }

  // A streamed answer: the header, then the body a piece at a time, the next
  // piece asked for only once the last is written (so a client that stops
  // reading stops the production, and one piece is in memory). Chunked on
  // HTTP/1.1; HTTP/1.0 gets the bytes until the connection closes. A write
  // that fails (client gone) or times out (client not reading for
  // http.idle_timeout) ends the connection and drops the stream; a stream
  // that fails after the header closes the connection without the body's
  // end, so the client sees an incomplete answer rather than a short one.
  void start_stream(api::ApiResponse response) {
    const auto& req = parser_->get();
    const bool gzip = encode_stream_response(response, req[bhttp::field::accept_encoding]);
    body_stream_ = std::move(response.stream);
    gzip_ = gzip ? std::make_unique<GzipStream>() : nullptr;
    chunked_ = version_ >= 11;
    auto res = std::make_shared<bhttp::response<bhttp::empty_body>>();
    res->result(static_cast<unsigned>(response.status));
    for (const auto& [name, value] : response.headers) res->insert(name, value);
    res->set(bhttp::field::content_type, response.content_type);
    if (chunked_) res->chunked(true);
    decorate(*res, !chunked_);
    stream_header_ = res;
    stream_serializer_ = std::make_unique<bhttp::response_serializer<bhttp::empty_body>>(*res);
    beast::get_lowest_layer(stream_).expires_after(idle_timeout());
    bhttp::async_write_header(stream_, *stream_serializer_,
                              beast::bind_front_handler(&HttpSession::on_stream_header, shared_from_this()));
  }

  void on_stream_header(beast::error_code ec, std::size_t) {
    if (ec) return end_stream(ec, false);
    if (head_) return end_stream({}, !chunked_);
    pull_piece();
  }

  void pull_piece() {
    // As for an api response: the pending timer keeps the session alive, the
    // callback holds a weak reference.
    awaiting_piece_ = true;
    piece_.reset();
    response_wait_.expires_at(net::steady_timer::time_point::max());
    response_wait_.async_wait(beast::bind_front_handler(&HttpSession::on_piece, shared_from_this()));
    beast::get_lowest_layer(stream_).expires_never();
    std::weak_ptr<HttpSession> weak = weak_from_this();
    auto state = state_;
    body_stream_->pull([weak, state](Result<api::BodyPiece> piece) {
      state->if_running([&] {
        auto self = weak.lock();
        if (!self) return;
        auto executor = self->stream_.get_executor();
        net::post(executor, [self = std::move(self), piece = std::move(piece)]() mutable {
          self->deliver_piece(std::move(piece));
        });
      });
    });
  }

  void deliver_piece(Result<api::BodyPiece> piece) {
    if (!awaiting_piece_) return;
    awaiting_piece_ = false;
    piece_.emplace(std::move(piece));
    response_wait_.cancel();
  }

  void on_piece(beast::error_code) {
    if (!piece_) {  // woken without a piece (should not happen): keep waiting
      response_wait_.async_wait(beast::bind_front_handler(&HttpSession::on_piece, shared_from_this()));
      return;
    }
    Result<api::BodyPiece> piece = std::move(*piece_);
    piece_.reset();
    if (!piece) {
      static const Logger log("http");
      log.error("streamed answer failed after its header",
                {{"path", std::string(parser_->get().target())}, {"error", piece.error().detail}});
      return end_stream({}, true);
    }
    const bool last = piece->last;
    if (gzip_) {
      piece_out_ = gzip_->compress(piece->bytes, last);
      if (gzip_->failed()) return end_stream({}, true);
    } else {
      piece_out_ = std::move(piece->bytes);
    }
    if (piece_out_.empty()) return last ? write_stream_end() : pull_piece();
    beast::get_lowest_layer(stream_).expires_after(idle_timeout());
    auto written = beast::bind_front_handler(&HttpSession::on_piece_written, shared_from_this(), last);
    if (chunked_) net::async_write(stream_, bhttp::make_chunk(net::buffer(piece_out_)), std::move(written));
    else net::async_write(stream_, net::buffer(piece_out_), std::move(written));
  }

  void on_piece_written(bool last, beast::error_code ec, std::size_t) {
    piece_out_.clear();
    if (ec) return end_stream(ec, false);
    if (last) return write_stream_end();
    pull_piece();
  }

  void write_stream_end() {
    if (!chunked_) return end_stream({}, true);  // the close ends an HTTP/1.0 body
    beast::get_lowest_layer(stream_).expires_after(idle_timeout());
    net::async_write(stream_, bhttp::make_chunk_last(), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->end_stream(ec, false);
    });
  }

  // The stream is over: written whole, cut short by a failed stream (close
  // set: the connection closes without the body's end) or by a failed write
  // (ec set: nothing more is written and the session ends).
  void end_stream(beast::error_code ec, bool close) {
    state_->metrics().record(route_, status_, std::chrono::steady_clock::now() - started_);
    body_stream_.reset();
    gzip_.reset();
    stream_serializer_.reset();
    stream_header_.reset();
    if (ec) return;
    if (close || !keep_alive_) return do_close();
    do_read();
  }

  void serve_static(std::string_view raw_path, const std::string& path) {
    route_ = RouteClass::static_file;
    auto& req = parser_->get();
    if (req.method() != bhttp::verb::get && req.method() != bhttp::verb::head) {
      return send_error(bhttp::status::method_not_allowed, "method_not_allowed",
                        std::string(req.method_string()) + " is not allowed on " + path, false,
                        {{"Allow", "GET, HEAD, OPTIONS"}});
    }
    StaticRequest request{raw_path, path, req[bhttp::field::if_none_match], req[bhttp::field::accept_encoding]};
    auto reply = std::make_shared<StaticReply>(state_->assets().serve(request));

    bhttp::response<bhttp::span_body<const char>> res;
    res.result(static_cast<unsigned>(reply->status));
    if (!reply->content_type.empty()) res.set(bhttp::field::content_type, reply->content_type);
    if (!reply->etag.empty()) res.set(bhttp::field::etag, reply->etag);
    if (!reply->cache_control.empty()) res.set(bhttp::field::cache_control, reply->cache_control);
    if (reply->vary) res.set(bhttp::field::vary, "Accept-Encoding");
    if (reply->gzip) res.set(bhttp::field::content_encoding, "gzip");
    const std::string_view body = reply->body();
    if (reply->status == 304) {
      // A 304 carries no body and no Content-Length.
    } else if (head_) {
      res.content_length(body.size());
    } else {
      res.body() = bhttp::span_body<const char>::value_type(body.data(), body.size());
      res.prepare_payload();
    }
    keep_alive_data_ = std::move(reply);  // owns the bytes the span points into
    send(std::move(res), false);
  }

  // OPTIONS: a CORS preflight from an allowed origin gets the methods and
  // headers it may use; any other preflight is refused; a plain OPTIONS
  // lists the methods.
  void answer_options(const std::string& path) {
    auto& req = parser_->get();
    const std::string_view origin = req[bhttp::field::origin];
    bhttp::response<bhttp::empty_body> res{bhttp::status::no_content, version_};
    if (!origin.empty() && !req[bhttp::field::access_control_request_method].empty()) {
      auto* authorizer = state_->authorizer();
      const std::string allowed =
          authorizer ? authorizer->preflight_origin(origin, path, req[bhttp::field::host], kTls) : std::string();
      if (allowed.empty())
        return send_error(bhttp::status::forbidden, "origin_not_allowed", "requests from this origin are not allowed");
      cors_origin_ = allowed;
      res.set(bhttp::field::access_control_allow_methods, "GET, HEAD, POST");
      res.set(bhttp::field::access_control_allow_headers, "Authorization, Content-Type");
      res.set(bhttp::field::access_control_max_age, kPreflightMaxAgeSeconds);
    } else {
      res.set(bhttp::field::allow, "GET, HEAD, POST, OPTIONS");
    }
    send(std::move(res), false);
  }

  void send_error(bhttp::status status, std::string_view code, const std::string& detail, bool close = false,
                  const std::vector<std::pair<std::string, std::string>>& extra = {}) {
    bhttp::response<bhttp::string_body> res{status, version_};
    res.set(bhttp::field::content_type, "application/json");
    for (const auto& [name, value] : extra) res.set(name, value);
    res.body() = json_error(code, detail);
    res.prepare_payload();
    if (head_) res.body().clear();
    send(std::move(res), close);
  }

  // The headers every answer carries, and its keep-alive.
  template <class Body>
  void decorate(bhttp::response<Body>& res, bool close) {
    res.version(version_);
    res.set(bhttp::field::server, kServerName);
    res.set("X-Content-Type-Options", "nosniff");
    res.set("Referrer-Policy", "no-referrer");
    res.set("Content-Security-Policy", kContentSecurityPolicy);
    res.set("X-Frame-Options", "DENY");
    if (!cors_origin_.empty()) {
      res.set(bhttp::field::access_control_allow_origin, cors_origin_);
      res.set(bhttp::field::access_control_expose_headers, "Retry-After, ETag, X-Next-Cursor");
      res.set(bhttp::field::vary, res[bhttp::field::vary].empty() ? std::string("Origin")
                                                                  : std::string(res[bhttp::field::vary]) + ", Origin");
    }
    res.keep_alive(keep_alive_ && !close);
    status_ = static_cast<int>(res.result_int());
  }

  template <class Body>
  void send(bhttp::response<Body>&& res, bool close) {
    decorate(res, close);
    auto message = std::make_shared<bhttp::response<Body>>(std::move(res));
    response_ = message;
    beast::get_lowest_layer(stream_).expires_after(idle_timeout());
    bhttp::async_write(stream_, *message,
                       beast::bind_front_handler(&HttpSession::on_write, shared_from_this(), message->need_eof()));
  }

  void on_write(bool close, beast::error_code ec, std::size_t) {
    state_->metrics().record(route_, status_, std::chrono::steady_clock::now() - started_);
    response_.reset();
    keep_alive_data_.reset();
    if (ec) return;
    if (close) return do_close();
    do_read();
  }

  void do_close() {
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(kTlsHandshakeTimeout);
      stream_.async_shutdown([self = shared_from_this()](beast::error_code) {});  // deliberately ignored: peer may be gone
    } else {
      beast::error_code ec;
      stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ec);  // deliberately ignored: peer may be gone
    }
  }

  Stream stream_;
  std::shared_ptr<SharedState> state_;
  std::shared_ptr<void> slot_;  // this connection's place under http.max_connections
  std::string client_address_;
  net::steady_timer response_wait_;  // pending while the api handler works
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<api::ApiResponse> api_response_;
  bool awaiting_response_ = false;
  std::shared_ptr<void> response_;         // the message being written
  std::shared_ptr<void> keep_alive_data_;  // bytes a span body points into
  // A streamed answer being written (start_stream).
  std::shared_ptr<api::BodyStream> body_stream_;
  std::shared_ptr<bhttp::response<bhttp::empty_body>> stream_header_;
  std::unique_ptr<bhttp::response_serializer<bhttp::empty_body>> stream_serializer_;
  std::unique_ptr<GzipStream> gzip_;
  std::optional<Result<api::BodyPiece>> piece_;  // delivered, not yet taken
  std::string piece_out_;                        // the bytes being written
  bool awaiting_piece_ = false;
  bool chunked_ = true;
  // Per-request context.
  std::chrono::steady_clock::time_point started_;
  RouteClass route_ = RouteClass::api;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bool head_ = false;
  int status_ = 0;
  std::string cors_origin_;  // echoed in Access-Control-Allow-Origin
  bool public_key_ = false;  // the request came with a public (browser) key
};

}  // namespace

void start_http_session(net::ip::tcp::socket socket, std::shared_ptr<SharedState> state, std::shared_ptr<void> slot) {
  std::make_shared<HttpSession<beast::tcp_stream>>(std::move(state), std::move(slot), std::move(socket))->run();
}

void start_https_session(net::ip::tcp::socket socket, net::ssl::context& tls, std::shared_ptr<SharedState> state,
                         std::shared_ptr<void> slot) {
  std::make_shared<HttpSession<beast::ssl_stream<beast::tcp_stream>>>(std::move(state), std::move(slot),
                                                                      std::move(socket), tls)
      ->run();
}

}  // namespace shoppulse::http
