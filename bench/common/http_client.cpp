#include "common/http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

namespace shoppulse::bench {
namespace {

constexpr std::size_t kReadChunk = 64 << 10;

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

HttpClient::~HttpClient() { close(); }

HttpClient::HttpClient(HttpClient&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      buffer_(std::move(other.buffer_)),
      read_(other.read_),
      error_(std::move(other.error_)) {}

HttpClient& HttpClient::operator=(HttpClient&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    buffer_ = std::move(other.buffer_);
    read_ = other.read_;
    error_ = std::move(other.error_);
  }
  return *this;
}

bool HttpClient::fail(std::string what) {
  error_ = std::move(what);
  close();
  return false;
}

bool HttpClient::connect(std::uint16_t port) {
  close();
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return fail(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return fail(std::string("connect: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // best effort: only latency depends on it
  buffer_.clear();
  read_ = 0;
  return true;
}

void HttpClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool HttpClient::send(std::string_view method, std::string_view target, std::string_view content_type,
                      std::string_view body) {
  if (fd_ < 0) return fail("not connected");
  std::string head;
  head.reserve(160);
  head.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  if (!content_type.empty()) head.append("Content-Type: ").append(content_type).append("\r\n");
  if (!body.empty() || method == "POST" || method == "PUT")
    head.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  head.append("\r\n");
  iovec parts[2] = {{head.data(), head.size()}, {const_cast<char*>(body.data()), body.size()}};
  std::size_t index = 0;
  while (index < 2) {
    msghdr msg{};
    msg.msg_iov = parts + index;
    msg.msg_iovlen = 2 - index;
    const ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(std::string("send: ") + std::strerror(errno));
    }
    std::size_t left = static_cast<std::size_t>(n);
    while (index < 2 && left >= parts[index].iov_len) left -= parts[index++].iov_len;
    if (index < 2) {
      parts[index].iov_base = static_cast<char*>(parts[index].iov_base) + left;
      parts[index].iov_len -= left;
    }
  }
  return true;
}

bool HttpClient::fill() {
  if (read_ > 0 && read_ * 2 >= buffer_.size()) {
    buffer_.erase(0, read_);
    read_ = 0;
  }
  const std::size_t old = buffer_.size();
  buffer_.resize(old + kReadChunk);
  ssize_t n;
  do n = ::recv(fd_, buffer_.data() + old, kReadChunk, 0);
  while (n < 0 && errno == EINTR);
  buffer_.resize(old + static_cast<std::size_t>(n > 0 ? n : 0));
  if (n == 0) return fail("connection closed by server");
  if (n < 0) return fail(std::string("recv: ") + std::strerror(errno));
  return true;
}

bool HttpClient::receive(HttpResponse& out) {
  if (fd_ < 0) return fail("not connected");
  std::size_t head_end;
  while ((head_end = buffer_.find("\r\n\r\n", read_)) == std::string::npos)
    if (!fill()) return false;
  const std::string_view head(buffer_.data() + read_, head_end - read_);
  // "HTTP/1.1 200 OK"
  const auto sp = head.find(' ');
  if (head.substr(0, 5) != "HTTP/" || sp == std::string_view::npos || head.size() < sp + 4)
    return fail("malformed status line");
  out.status = std::atoi(std::string(head.substr(sp + 1, 3)).c_str());
  out.close = false;
  out.body.clear();
  std::optional<std::size_t> length;
  bool chunked = false;
  std::size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos < head.size()) {
    const std::size_t start = pos + 2;
    std::size_t end = head.find("\r\n", start);
    if (end == std::string_view::npos) end = head.size();
    const std::string_view line = head.substr(start, end - start);
    const auto colon = line.find(':');
    if (colon != std::string_view::npos) {
      const std::string_view name = trim(line.substr(0, colon));
      const std::string_view value = trim(line.substr(colon + 1));
      if (iequals(name, "content-length")) length = std::strtoull(std::string(value).c_str(), nullptr, 10);
      else if (iequals(name, "transfer-encoding")) chunked = value.find("chunked") != std::string_view::npos;
      else if (iequals(name, "connection")) out.close = iequals(value, "close");
    }
    pos = end;
  }
  read_ = head_end + 4;
  if (chunked) {
    for (;;) {
      std::size_t line_end;
      while ((line_end = buffer_.find("\r\n", read_)) == std::string::npos)
        if (!fill()) return false;
      const std::size_t size = std::strtoull(buffer_.c_str() + read_, nullptr, 16);
      read_ = line_end + 2;
      while (buffer_.size() - read_ < size + 2)
        if (!fill()) return false;
      out.body.append(buffer_, read_, size);
      read_ += size + 2;
      if (size == 0) break;  // no trailers are sent by the servers we test
    }
  } else if (length) {
    while (buffer_.size() - read_ < *length)
      if (!fill()) return false;
    out.body.assign(buffer_, read_, *length);
    read_ += *length;
  }
  if (read_ == buffer_.size()) {
    buffer_.clear();
    read_ = 0;
  }
  return true;
}

}  // namespace shoppulse::bench
