#pragma once
// Entry point for one HTTP connection; the session class itself lives in
// http_session.cpp so only that translation unit compiles Beast's HTTP parser.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <memory>

#include "shared_state.hpp"

namespace shoppulse::http {

// Reads requests on socket (keep-alive, one at a time), routes each to the
// api handler, the static assets or a WebSocket upgrade, and writes replies.
// slot: the connection's reservation (SharedState::try_reserve_connection).
void start_http_session(boost::asio::ip::tcp::socket socket, std::shared_ptr<SharedState> state,
                        std::shared_ptr<void> slot);
// The same over TLS with the server's certificate in tls.
void start_https_session(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& tls,
                         std::shared_ptr<SharedState> state, std::shared_ptr<void> slot);

}  // namespace shoppulse::http
