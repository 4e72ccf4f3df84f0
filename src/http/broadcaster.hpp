#pragma once
// Calls the BroadcastSource once per ws_interval_ms and hands the message to
// every WebSocket session through SharedState::broadcast. With an
// AsyncBroadcastSource instead, asks it once per tick unless its previous
// message is still on its way, and broadcasts what it delivers (from the
// deliverer's thread, while the server runs).
// Lifecycle: started by HttpServer::start(); lives while its timer wait is
// pending and dies with the io_context. Thread: one I/O thread per tick.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <memory>

#include "shared_state.hpp"

namespace shoppulse::http {

class Broadcaster : public std::enable_shared_from_this<Broadcaster> {
 public:
  Broadcaster(boost::asio::io_context& ioc, std::chrono::milliseconds interval, BroadcastSource source,
              AsyncBroadcastSource async_source, std::shared_ptr<SharedState> state);
  void run();

 private:
  void do_wait();
  void on_tick(boost::system::error_code ec);

  boost::asio::steady_timer timer_;
  std::chrono::milliseconds interval_;
  BroadcastSource source_;
  AsyncBroadcastSource async_source_;
  // The asynchronous source's message is on its way (shared with its deliverer).
  std::shared_ptr<std::atomic<bool>> in_flight_ = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<SharedState> state_;
};

}  // namespace shoppulse::http
