#pragma once
// A minimal blocking HTTP/1.1 client over one keep-alive TCP connection, for
// load generation: no TLS, no redirects, no proxies. Understands
// Content-Length and chunked responses. Threading: one thread per client.
#include <cstdint>
#include <string>
#include <string_view>

namespace shoppulse::bench {

struct HttpResponse {
  int status = 0;
  std::string body;
  bool close = false;  // the server said Connection: close
};

class HttpClient {
 public:
  HttpClient() = default;
  ~HttpClient();
  HttpClient(HttpClient&& other) noexcept;
  HttpClient& operator=(HttpClient&& other) noexcept;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Connects to 127.0.0.1:port (TCP_NODELAY). False with error() set on failure.
  bool connect(std::uint16_t port);
  void close();
  bool connected() const noexcept { return fd_ >= 0; }

  // Sends one request; the body is written straight from the caller's buffer.
  bool send(std::string_view method, std::string_view target, std::string_view content_type = {},
            std::string_view body = {});
  // Reads the next response.
  bool receive(HttpResponse& out);
  bool request(std::string_view method, std::string_view target, std::string_view content_type,
               std::string_view body, HttpResponse& out) {
    return send(method, target, content_type, body) && receive(out);
  }

  const std::string& error() const noexcept { return error_; }

 private:
  bool fill();  // reads more bytes into buffer_; false on EOF or error
  bool fail(std::string what);

  int fd_ = -1;
  std::string buffer_;    // received, not yet consumed
  std::size_t read_ = 0;  // consumed prefix of buffer_
  std::string error_;
};

}  // namespace shoppulse::bench
