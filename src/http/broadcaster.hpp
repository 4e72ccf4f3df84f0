#pragma once
// Calls the BroadcastSource once per ws_interval_ms and hands the message to
// every WebSocket session through SharedState::broadcast.
// Lifecycle: started by HttpServer::start(); lives while its timer wait is
// pending and dies with the io_context. Thread: one I/O thread per tick.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>

#include "shared_state.hpp"

namespace shoppulse::http {

class Broadcaster : public std::enable_shared_from_this<Broadcaster> {
 public:
  Broadcaster(boost::asio::io_context& ioc, std::chrono::milliseconds interval, BroadcastSource source,
              std::shared_ptr<SharedState> state);
  void run();

 private:
  void do_wait();
  void on_tick(boost::system::error_code ec);

  boost::asio::steady_timer timer_;
  std::chrono::milliseconds interval_;
  BroadcastSource source_;
  std::shared_ptr<SharedState> state_;
};

}  // namespace shoppulse::http
