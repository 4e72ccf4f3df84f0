// The HTTP client of the query layer: the one translation unit of the
// cluster module that sees Boost.Beast.
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

#include "shoppulse/cluster/query.hpp"

namespace shoppulse::cluster {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

constexpr std::uint64_t kMaxBody = 256ull << 20;  // a member's answer of a top list with every candidate is far less

// One GET: resolve, connect, write, read, all before one deadline.
class Call : public std::enable_shared_from_this<Call> {
 public:
  Call(net::io_context& ioc, std::string host, std::string port, std::string target, std::string authorization,
       std::int64_t timeout_ms, MemberClient::Done done)
      : resolver_(ioc),
        stream_(ioc),
        deadline_(ioc),
        host_(std::move(host)),
        port_(std::move(port)),
        timeout_(std::chrono::milliseconds(timeout_ms)),
        done_(std::move(done)) {
    request_.method(bhttp::verb::get);
    request_.target(target);
    request_.version(11);
    request_.set(bhttp::field::host, host_ + ":" + port_);
    request_.set(bhttp::field::connection, "close");
    if (!authorization.empty()) request_.set(bhttp::field::authorization, authorization);
    parser_.body_limit(kMaxBody);
  }

  void run() {
    deadline_.expires_after(timeout_);
    deadline_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec) return;  // cancelled: the call finished first
      self->timed_out_ = true;
      self->resolver_.cancel();
      beast::error_code ignored;
      self->stream_.socket().close(ignored);
    });
    stream_.expires_after(timeout_);
    resolver_.async_resolve(host_, port_, [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type r) {
      if (ec) return self->fail("resolve", ec);
      self->stream_.async_connect(r, [self](beast::error_code ec, const tcp::endpoint&) {
        if (ec) return self->fail("connect", ec);
        bhttp::async_write(self->stream_, self->request_, [self](beast::error_code ec, std::size_t) {
          if (ec) return self->fail("write", ec);
          bhttp::async_read(self->stream_, self->buffer_, self->parser_, [self](beast::error_code ec, std::size_t) {
            if (ec) return self->fail("read", ec);
            MemberClient::Answer a;
            auto& res = self->parser_.get();
            a.status = static_cast<int>(res.result_int());
            a.content_type = std::string(res[bhttp::field::content_type]);
            a.next_cursor = std::string(res["X-Next-Cursor"]);
            a.body = std::move(res.body());
            self->finish(std::move(a));
          });
        });
      });
    });
  }

 private:
  void fail(const char* step, beast::error_code ec) {
    MemberClient::Answer a;
    a.error = timed_out_ ? std::string("timed out") : std::string(step) + ": " + ec.message();
    finish(std::move(a));
  }
  void finish(MemberClient::Answer a) {
    if (!done_) return;
    deadline_.cancel();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    auto done = std::move(done_);
    done_ = nullptr;
    done(std::move(a));
  }

  tcp::resolver resolver_;
  beast::tcp_stream stream_;
  net::steady_timer deadline_;
  std::string host_, port_;
  std::chrono::milliseconds timeout_;
  MemberClient::Done done_;
  bhttp::request<bhttp::empty_body> request_;
  bhttp::response_parser<bhttp::string_body> parser_;
  beast::flat_buffer buffer_;
  bool timed_out_ = false;
};

}  // namespace

struct MemberClient::State {
  net::io_context ioc;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::thread thread;
};

MemberClient::MemberClient() : state_(std::make_unique<State>()) {}
MemberClient::~MemberClient() { stop(); }

void MemberClient::start() {
  if (state_->thread.joinable()) return;
  state_->ioc.restart();
  state_->work.emplace(state_->ioc.get_executor());
  state_->thread = std::thread([s = state_.get()] { s->ioc.run(); });
}

void MemberClient::stop() {
  if (!state_->thread.joinable()) return;
  state_->work.reset();
  // Calls in flight end by their deadline; nothing new is started.
  state_->thread.join();
}

void MemberClient::post(std::function<void()> task) { net::post(state_->ioc, std::move(task)); }

void MemberClient::get(const std::string& advertise, std::string target, std::string authorization,
                       std::int64_t timeout_ms, Done done) {
  const std::size_t colon = advertise.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == advertise.size()) {
    Answer a;
    a.error = "advertised address \"" + advertise + "\" is not host:port";
    return done(std::move(a));
  }
  std::string host = advertise.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  auto call = std::make_shared<Call>(state_->ioc, std::move(host), advertise.substr(colon + 1), std::move(target),
                                     std::move(authorization), timeout_ms, std::move(done));
  net::post(state_->ioc, [call] { call->run(); });
}

}  // namespace shoppulse::cluster
