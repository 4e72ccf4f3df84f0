#include "broadcaster.hpp"

#include <exception>

namespace shoppulse::http {

namespace net = boost::asio;

Broadcaster::Broadcaster(net::io_context& ioc, std::chrono::milliseconds interval, BroadcastSource source,
                         AsyncBroadcastSource async_source, std::shared_ptr<SharedState> state)
    : timer_(ioc),
      interval_(interval),
      source_(std::move(source)),
      async_source_(std::move(async_source)),
      state_(std::move(state)) {}

void Broadcaster::run() {
  if ((!source_ && !async_source_) || interval_.count() <= 0) return;
  timer_.expires_after(interval_);
  do_wait();
}

void Broadcaster::do_wait() {
  timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) { self->on_tick(ec); });
}

void Broadcaster::on_tick(boost::system::error_code ec) {
  if (ec) return;
  if (async_source_) {
    if (!in_flight_->exchange(true)) {
      try {
        async_source_([state = state_, in_flight = in_flight_](std::shared_ptr<const std::string> msg) {
          if (msg) state->if_running([&] { state->broadcast(std::move(msg)); });
          in_flight->store(false);
        });
      } catch (const std::exception&) {
        in_flight_->store(false);  // deliberately ignored: a failing source skips this tick only
      }
    }
  } else {
    std::shared_ptr<const std::string> msg;
    try {
      msg = source_();
    } catch (const std::exception&) {
      msg = nullptr;  // deliberately ignored: a failing source skips this tick only
    }
    if (msg) state_->broadcast(std::move(msg));
  }
  // Schedule from the previous deadline so the rate does not drift; after a
  // long stall, restart from now instead of firing a burst of late ticks.
  const auto next = timer_.expiry() + interval_;
  timer_.expires_at(next < std::chrono::steady_clock::now() ? std::chrono::steady_clock::now() + interval_ : next);
  do_wait();
}

}  // namespace shoppulse::http
