#include "listener.hpp"

#include <boost/asio/strand.hpp>

#include "http_session.hpp"

namespace shoppulse::http {

namespace net = boost::asio;

Listener::Listener(net::io_context& ioc, net::ip::tcp::acceptor acceptor, std::shared_ptr<SharedState> state)
    : ioc_(ioc), acceptor_(std::move(acceptor)), state_(std::move(state)) {}

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
  // A failed accept (e.g. out of descriptors) drops that one connection only.
  if (!ec) start_http_session(std::move(socket), state_);
  do_accept();
}

}  // namespace shoppulse::http
