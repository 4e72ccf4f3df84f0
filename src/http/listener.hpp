#pragma once
// Accepts TCP connections and starts one HttpSession per connection.
// Lifecycle: created by HttpServer::start() with an already bound and
// listening acceptor (so bind errors surface synchronously); lives while an
// accept (or its back-off timer) is pending and dies with the io_context.
// Thread: its own strand.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <memory>

#include "shared_state.hpp"

namespace shoppulse::http {

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  // tls: the server's certificate for HTTPS; null serves plain HTTP.
  Listener(boost::asio::io_context& ioc, boost::asio::ip::tcp::acceptor acceptor, std::shared_ptr<SharedState> state,
           std::shared_ptr<boost::asio::ssl::context> tls);
  void run();

 private:
  void do_accept();
  void on_accept(boost::system::error_code ec, boost::asio::ip::tcp::socket socket);
  // Answers 503 and closes: the connection limit is reached.
  void refuse(boost::asio::ip::tcp::socket socket);

  boost::asio::io_context& ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<SharedState> state_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  boost::asio::steady_timer backoff_timer_;
  std::chrono::milliseconds backoff_{0};  // grows while accept keeps failing, 0 after a success
  // Refused connections still reading their client's last bytes before they
  // close (lingering close); shared with them, which run on their own strands.
  static constexpr std::size_t kMaxLingering = 64;
  std::shared_ptr<std::atomic<std::size_t>> lingering_ = std::make_shared<std::atomic<std::size_t>>(0);
};

}  // namespace shoppulse::http
