#include "common/websocket_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace shoppulse::bench {
namespace {

std::string base64(const unsigned char* data, std::size_t n) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < n; i += 3) {
    const std::uint32_t b0 = data[i];
    const std::uint32_t b1 = i + 1 < n ? data[i + 1] : 0;
    const std::uint32_t b2 = i + 2 < n ? data[i + 2] : 0;
    const std::uint32_t v = (b0 << 16) | (b1 << 8) | b2;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < n ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back(i + 2 < n ? kAlphabet[v & 63] : '=');
  }
  return out;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

bool open_websocket(std::uint16_t port, std::string_view target, int& fd, std::string& leftover,
                    std::string& error) {
  fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  auto fail = [&](std::string what) {
    error = std::move(what);
    ::close(fd);
    fd = -1;
    return false;
  };
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return fail(std::string("connect: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // best effort

  thread_local std::mt19937 rng(std::random_device{}());
  unsigned char nonce[16];
  for (auto& b : nonce) b = static_cast<unsigned char>(rng());
  std::string request;
  request.append("GET ").append(target).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  request.append("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n");
  request.append("Sec-WebSocket-Key: ").append(base64(nonce, sizeof nonce)).append("\r\n\r\n");
  if (!write_all(fd, request)) return fail(std::string("send: ") + std::strerror(errno));

  std::string got;
  std::size_t head_end;
  char buf[4096];
  while ((head_end = got.find("\r\n\r\n")) == std::string::npos) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("connection closed during handshake");
    got.append(buf, static_cast<std::size_t>(n));
  }
  if (got.compare(0, 12, "HTTP/1.1 101") != 0) return fail("handshake refused: " + got.substr(0, got.find('\r')));
  leftover = got.substr(head_end + 4);
  return true;
}

bool WebSocketReader::next(WsMessage& out) {
  for (;;) {
    const std::size_t avail = buffer_.size() - read_;
    if (avail < 2) break;
    const auto* p = reinterpret_cast<const unsigned char*>(buffer_.data() + read_);
    const bool fin = p[0] & 0x80;
    const auto opcode = static_cast<WsOpcode>(p[0] & 0x0f);
    const bool masked = p[1] & 0x80;
    std::uint64_t len = p[1] & 0x7f;
    std::size_t header = 2;
    if (len == 126) {
      if (avail < 4) break;
      len = (std::uint64_t(p[2]) << 8) | p[3];
      header = 4;
    } else if (len == 127) {
      if (avail < 10) break;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
      header = 10;
    }
    if (masked) {
      error_ = true;  // a server must not mask (RFC 6455 5.1)
      return false;
    }
    if (avail < header + len) break;
    const std::string_view payload(buffer_.data() + read_ + header, static_cast<std::size_t>(len));
    read_ += header + static_cast<std::size_t>(len);
    const bool control = static_cast<std::uint8_t>(opcode) & 0x8;
    if (control) {
      out.opcode = opcode;
      out.payload.assign(payload);
      return true;
    }
    if (opcode != WsOpcode::continuation) {
      partial_opcode_ = opcode;
      partial_.clear();
    }
    partial_.append(payload);
    if (fin) {
      out.opcode = partial_opcode_;
      out.payload.swap(partial_);
      partial_.clear();
      return true;
    }
  }
  if (read_ > 0 && read_ * 2 >= buffer_.size()) {
    buffer_.erase(0, read_);
    read_ = 0;
  }
  return false;
}

std::string client_frame(WsOpcode opcode, std::string_view payload) {
  std::string out;
  out.push_back(static_cast<char>(0x80 | static_cast<std::uint8_t>(opcode)));
  if (payload.size() < 126) {
    out.push_back(static_cast<char>(0x80 | payload.size()));
  } else if (payload.size() < 65536) {
    out.push_back(static_cast<char>(0x80 | 126));
    out.push_back(static_cast<char>(payload.size() >> 8));
    out.push_back(static_cast<char>(payload.size() & 0xff));
  } else {
    out.push_back(static_cast<char>(0x80 | 127));
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((std::uint64_t(payload.size()) >> (8 * i)) & 0xff));
  }
  thread_local std::mt19937 rng(std::random_device{}());
  const std::uint32_t key = rng();
  unsigned char mask[4];
  std::memcpy(mask, &key, 4);
  out.append(reinterpret_cast<const char*>(mask), 4);
  for (std::size_t i = 0; i < payload.size(); ++i) out.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
  return out;
}

}  // namespace shoppulse::bench
