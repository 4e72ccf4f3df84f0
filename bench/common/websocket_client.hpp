#pragma once
// The client side of RFC 6455, minimal: a blocking opening handshake, then an
// incremental reader of the server's (unmasked) frames and a writer of masked
// client frames. No extensions are offered, so frames are never compressed.
// Threading: one thread per reader.
#include <cstdint>
#include <string>
#include <string_view>

namespace shoppulse::bench {

// Connects to 127.0.0.1:port, sends the upgrade for target and reads the 101.
// On success fd is the (blocking) socket and leftover holds any bytes read
// past the handshake response (the start of the first frame).
bool open_websocket(std::uint16_t port, std::string_view target, int& fd, std::string& leftover,
                    std::string& error);

enum class WsOpcode : std::uint8_t { continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10 };

struct WsMessage {
  WsOpcode opcode = WsOpcode::text;  // text/binary for data (reassembled), or a control opcode
  std::string payload;
};

class WebSocketReader {
 public:
  void append(const char* data, std::size_t n) { buffer_.append(data, n); }
  // The next complete data message or control frame, if buffered. False when
  // more bytes are needed; sets protocol_error() on a malformed stream.
  bool next(WsMessage& out);
  bool protocol_error() const noexcept { return error_; }

 private:
  std::string buffer_;
  std::size_t read_ = 0;
  std::string partial_;  // payload of an unfinished fragmented message
  WsOpcode partial_opcode_ = WsOpcode::text;
  bool error_ = false;
};

// A masked client frame (FIN set) carrying payload.
std::string client_frame(WsOpcode opcode, std::string_view payload);

}  // namespace shoppulse::bench
