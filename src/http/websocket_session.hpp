#pragma once
// Entry point for one /ws/real-time connection; the session class lives in
// websocket_session.cpp so only that translation unit compiles Beast's
// WebSocket implementation.
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <memory>

#include "shared_state.hpp"

namespace shoppulse::http {

// Completes the upgrade for request (a slot must already be reserved with
// SharedState::try_reserve_websocket; the session releases it) and then
// pushes every broadcast to the client until either side closes.
void start_websocket_session(boost::beast::tcp_stream stream,
                             boost::beast::http::request<boost::beast::http::string_body> request,
                             std::shared_ptr<SharedState> state, std::chrono::steady_clock::time_point started,
                             std::shared_ptr<void> connection_slot);
void start_websocket_session(boost::beast::ssl_stream<boost::beast::tcp_stream> stream,
                             boost::beast::http::request<boost::beast::http::string_body> request,
                             std::shared_ptr<SharedState> state, std::chrono::steady_clock::time_point started,
                             std::shared_ptr<void> connection_slot);

}  // namespace shoppulse::http
