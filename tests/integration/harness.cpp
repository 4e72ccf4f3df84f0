#include "harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

extern char** environ;

namespace shoppulse::integration {
namespace {

using Clock = std::chrono::steady_clock;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return out;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return std::string(s);
}

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + (errno ? std::string(": ") + std::strerror(errno) : std::string()));
}

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

// Owns a connected TCP socket to 127.0.0.1.
class Socket {
 public:
  Socket(std::uint16_t port, Clock::time_point deadline) : deadline_(deadline) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) fail("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      if (errno != EINPROGRESS) fail("connect to port " + std::to_string(port));
      wait_for(POLLOUT, "connect");
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        errno = err;
        fail("connect to port " + std::to_string(port));
      }
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  void set_deadline(Clock::time_point d) { deadline_ = d; }
  // How the peer ended the connection: a reset rather than an orderly close.
  bool was_reset() const { return reset_; }
  Clock::time_point opened() const { return opened_; }

  // Writes everything. Returns false if the peer closed early (EPIPE /
  // ECONNRESET): a server may answer 413 without reading the whole body.
  bool write_all(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n > 0) {
        bytes.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        wait_for(POLLOUT, "send");
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) return false;
      fail("send");
    }
    return true;
  }

  // Reads some bytes; 0 at EOF. Throws on timeout. `reset_is_eof`: treat
  // ECONNRESET as EOF (after an early close the reply may already be in).
  std::size_t read_some(std::string& out, bool reset_is_eof = true) {
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        out.append(buf, static_cast<std::size_t>(n));
        return static_cast<std::size_t>(n);
      }
      if (n == 0) return 0;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        wait_for(POLLIN, "recv");
        continue;
      }
      if (errno == EINTR) continue;
      if (errno == ECONNRESET && reset_is_eof) {
        reset_ = true;
        return 0;
      }
      fail("recv");
    }
  }

  // Waits for readability up to `timeout`; false on timeout.
  bool readable_within(Millis timeout) {
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
    return r > 0;
  }

 private:
  void wait_for(short events, const char* what) {
    for (;;) {
      pollfd p{fd_, events, 0};
      const int ms = remaining_ms(deadline_);
      if (ms == 0) {
        errno = 0;
        fail(std::string("timed out waiting for ") + what);
      }
      const int r = ::poll(&p, 1, ms);
      if (r > 0) return;
      if (r < 0 && errno != EINTR) fail("poll");
    }
  }

  int fd_ = -1;
  Clock::time_point deadline_;
  Clock::time_point opened_ = Clock::now();
  bool reset_ = false;
};

// Parses a response from `data` (headers complete); reads more as needed.
HttpResponse read_response(Socket& sock, std::string data, bool head_request) {
  std::size_t header_end;
  while ((header_end = data.find("\r\n\r\n")) == std::string::npos) {
    if (sock.read_some(data) == 0) {
      errno = 0;
      const auto ms = std::chrono::duration_cast<Millis>(Clock::now() - sock.opened()).count();
      const std::string what = "connection " + std::string(sock.was_reset() ? "reset" : "closed") +
                               " before the response headers (got " + std::to_string(data.size()) + " bytes, " +
                               std::to_string(ms) + " ms after connecting)";
      if (data.empty()) throw ClosedWithoutAnswer(what);
      fail(what);
    }
  }
  HttpResponse resp;
  std::istringstream head(data.substr(0, header_end));
  std::string line;
  std::getline(head, line);
  if (line.rfind("HTTP/1.", 0) != 0 || line.size() < 12) {
    errno = 0;
    fail("bad status line: " + line);
  }
  resp.status = std::stoi(line.substr(9, 3));
  while (std::getline(head, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    resp.headers.emplace_back(trim(line.substr(0, colon)), trim(line.substr(colon + 1)));
  }
  std::string rest = data.substr(header_end + 4);
  if (head_request || resp.status == 204 || resp.status == 304 || resp.status / 100 == 1) return resp;

  const auto te = resp.header("Transfer-Encoding");
  const auto cl = resp.header("Content-Length");
  if (te && lower(*te).find("chunked") != std::string::npos) {
    std::size_t pos = 0;
    for (;;) {
      std::size_t eol;
      while ((eol = rest.find("\r\n", pos)) == std::string::npos)
        if (sock.read_some(rest) == 0) fail("EOF inside chunk header");
      const std::size_t size = std::stoul(rest.substr(pos, eol - pos), nullptr, 16);
      pos = eol + 2;
      if (size == 0) break;  // trailers are ignored
      while (rest.size() < pos + size + 2)
        if (sock.read_some(rest) == 0) fail("EOF inside chunk");
      resp.body.append(rest, pos, size);
      pos += size + 2;
    }
  } else if (cl) {
    const std::size_t len = std::stoul(*cl);
    while (rest.size() < len)
      if (sock.read_some(rest) == 0) {
        errno = 0;
        fail("EOF before Content-Length bytes");
      }
    resp.body = rest.substr(0, len);
  } else {
    while (sock.read_some(rest) > 0) {
    }
    resp.body = std::move(rest);
  }
  return resp;
}

std::string json_pointer_error(std::string_view pointer, simdjson::error_code code, const std::string& text) {
  return "JSON pointer " + std::string(pointer) + ": " + simdjson::error_message(code) + " in " +
         text.substr(0, 600);
}

}  // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  const std::string want = lower(name);
  for (const auto& [k, v] : headers)
    if (lower(k) == want) return v;
  return std::nullopt;
}

HttpResponse http_request(std::uint16_t port, std::string_view method, std::string_view target,
                          std::string_view body, const Headers& headers, Millis timeout) {
  std::string req;
  req.reserve(body.size() + 256);
  req.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  req.append("Host: 127.0.0.1:").append(std::to_string(port)).append("\r\n");
  bool has_length = false;
  for (const auto& [k, v] : headers) {
    req.append(k).append(": ").append(v).append("\r\n");
    if (lower(k) == "content-length" || lower(k) == "transfer-encoding") has_length = true;
  }
  if (!has_length && (!body.empty() || method == "POST" || method == "PUT"))
    req.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  req.append("Connection: close\r\n\r\n");
  req.append(body);
  try {
    return http_raw(port, req, timeout);
  } catch (const ClosedWithoutAnswer& e) {
    // A request that can be repeated without effect is sent once more, as
    // HTTP clients do (RFC 9110, 9.2.2) when a connection ends before any
    // byte of the answer; a POST is not, so its failure stays the test's.
    if (method != "GET" && method != "HEAD" && method != "OPTIONS") throw;
    std::fprintf(stderr, "%.*s %.*s: %s; sent again on a new connection\n", static_cast<int>(method.size()),
                 method.data(), static_cast<int>(target.size()), target.data(), e.what());
    return http_raw(port, req, timeout);
  }
}

HttpResponse http_raw(std::uint16_t port, std::string_view bytes, Millis timeout) {
  Socket sock(port, Clock::now() + scaled(timeout));
  sock.write_all(bytes);  // an early close still leaves the reply to read
  const bool head = bytes.rfind("HEAD ", 0) == 0;
  return read_response(sock, {}, head);
}

Json::Json(std::string_view text) : text_(text), parser_(std::make_unique<simdjson::dom::parser>()) {
  if (auto code = parser_->parse(text_).get(root_))
    throw std::runtime_error(std::string("invalid JSON (") + simdjson::error_message(code) + "): " +
                             text_.substr(0, 600));
}

simdjson::dom::element Json::at(std::string_view pointer) const {
  simdjson::dom::element e;
  if (auto code = root_.at_pointer(pointer).get(e)) throw std::runtime_error(json_pointer_error(pointer, code, text_));
  return e;
}

bool Json::has(std::string_view pointer) const {
  simdjson::dom::element e;
  return root_.at_pointer(pointer).get(e) == simdjson::SUCCESS;
}

std::int64_t Json::i64(std::string_view pointer) const {
  std::int64_t v = 0;
  if (auto code = at(pointer).get_int64().get(v)) throw std::runtime_error(json_pointer_error(pointer, code, text_));
  return v;
}

std::uint64_t Json::u64(std::string_view pointer) const {
  std::uint64_t v = 0;
  if (auto code = at(pointer).get_uint64().get(v)) throw std::runtime_error(json_pointer_error(pointer, code, text_));
  return v;
}

double Json::num(std::string_view pointer) const {
  double v = 0;
  if (auto code = at(pointer).get_double().get(v)) throw std::runtime_error(json_pointer_error(pointer, code, text_));
  return v;
}

std::string Json::str(std::string_view pointer) const {
  std::string_view v;
  if (auto code = at(pointer).get_string().get(v)) throw std::runtime_error(json_pointer_error(pointer, code, text_));
  return std::string(v);
}

std::int64_t Json::cents(std::string_view pointer) const {
  // The double nearest a two-decimal amount times 100 rounds to the exact cents.
  const double v = num(pointer);
  return static_cast<std::int64_t>(v >= 0 ? v * 100.0 + 0.5 : v * 100.0 - 0.5);
}

std::size_t Json::size(std::string_view pointer) const {
  simdjson::dom::array a;
  if (auto code = at(pointer).get_array().get(a)) throw std::runtime_error(json_pointer_error(pointer, code, text_));
  return a.size();
}

bool Json::is_null(std::string_view pointer) const { return at(pointer).is_null(); }

TempDir::TempDir(std::string_view prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string(base && *base ? base : "/tmp") + "/" + std::string(prefix) + "-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) fail("mkdtemp " + templ);
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

ServerProcess::ServerProcess(ServerOptions options) : options_(std::move(options)) {
  if (options_.log_file.empty()) options_.log_file = options_.data_dir.string() + ".log";
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      // It died while the test still counted on it (a sanitizer report, an
      // abort): the test saw only closed connections, so say why here.
      const std::string how = WIFEXITED(st) ? "exited with code " + std::to_string(WEXITSTATUS(st))
                                            : "was killed by signal " + std::to_string(WTERMSIG(st));
      std::fprintf(stderr, "shoppulse (pid %d) %s before the test ended; its log ends with:\n%s\n",
                   static_cast<int>(pid_), how.c_str(), log_tail(16000).c_str());
    } else {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &st, 0);
    }
  }
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
  std::error_code ec;
  std::filesystem::remove(options_.log_file, ec);
}

void ServerProcess::start() {
  if (pid_ > 0) throw std::logic_error("server already running");
  const std::string binary = shoppulse_binary();
  std::vector<std::string> args{binary,      "--port", "0", "--data-dir", options_.data_dir.string(),
                                "--generator", options_.generator ? "on" : "off"};
  for (const auto& s : options_.sets) {
    args.push_back("--set");
    args.push_back(s);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The environment overrides defaults (API_PORT, ...): leave those out so
  // only our flags decide.
  std::vector<std::string> env_store;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view kv = *e;
    if (kv.rfind("API_HOST=", 0) == 0 || kv.rfind("API_PORT=", 0) == 0 || kv.rfind("LOG_LEVEL=", 0) == 0 ||
        kv.rfind("SHOPPULSE_DATA_DIR=", 0) == 0)
      continue;
    env_store.emplace_back(kv);
  }
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);

  int out_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) fail("pipe2");
  const int log_fd = ::open(options_.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) fail("open " + options_.log_file.string());
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) fail("fork");
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
    if (::getppid() != parent) ::_exit(127);
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    if (options_.max_open_files != 0) {
      const rlimit limit{options_.max_open_files, options_.max_open_files};
      if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) ::_exit(126);
    }
    ::execve(binary.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(log_fd);
  pid_ = pid;
  stdout_fd_ = out_pipe[0];

  // Read stdout until the "listening on http://host:PORT" line.
  const auto deadline = Clock::now() + scaled(options_.startup_timeout);
  std::string out;
  const std::string marker = "shoppulse listening on http://";
  std::size_t at = std::string::npos;
  while ((at = out.find(marker)) == std::string::npos || out.find('\n', at) == std::string::npos) {
    pollfd p{stdout_fd_, POLLIN, 0};
    const int ms = remaining_ms(deadline);
    if (ms == 0 || ::poll(&p, 1, ms) <= 0) {
      kill_hard();
      errno = 0;
      fail("shoppulse did not print its port within the start-up timeout; stdout: " + out + "\nlog:\n" + log_tail());
    }
    char buf[512];
    const ssize_t n = ::read(stdout_fd_, buf, sizeof buf);
    if (n <= 0) {
      const int code = stop(Millis(5000));
      errno = 0;
      fail("shoppulse exited during start-up with code " + std::to_string(code) + "; stdout: " + out + "\nlog:\n" +
           log_tail());
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  const std::size_t eol = out.find('\n', at);
  const std::string hostport = out.substr(at + marker.size(), eol - at - marker.size());
  port_ = static_cast<std::uint16_t>(std::stoul(hostport.substr(hostport.rfind(':') + 1)));

  const bool healthy = poll_until(
      [&] {
        try {
          return http_request(port_, "GET", "/api/health", {}, {}, Millis(2000)).status == 200;
        } catch (const std::exception&) {
          return false;
        }
      },
      Millis(remaining_ms(deadline) + 1), Millis(20));
  if (!healthy) {
    kill_hard();
    errno = 0;
    fail("shoppulse did not answer /api/health in time; log:\n" + log_tail());
  }
}

int ServerProcess::stop(Millis timeout) {
  if (pid_ <= 0) return exit_code_;
  ::kill(pid_, SIGTERM);
  const auto deadline = Clock::now() + scaled(timeout);
  int st = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) break;
    if (r < 0 && errno != EINTR) break;
    if (Clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &st, 0);
      break;
    }
    std::this_thread::sleep_for(Millis(10));  // reaping cadence, not synchronisation
  }
  pid_ = -1;
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
  stdout_fd_ = -1;
  exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? -WTERMSIG(st) : -1;
  return exit_code_;
}

void ServerProcess::kill_hard() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int st = 0;
  ::waitpid(pid_, &st, 0);
  pid_ = -1;
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
  stdout_fd_ = -1;
  exit_code_ = -SIGKILL;
}

bool ServerProcess::alive() {
  if (pid_ <= 0) return false;
  int st = 0;
  if (::waitpid(pid_, &st, WNOHANG) == pid_) {
    pid_ = -1;
    exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
    return false;
  }
  return true;
}

std::string ServerProcess::log_tail(std::size_t bytes) const {
  std::ifstream in(options_.log_file, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return all.size() > bytes ? all.substr(all.size() - bytes) : all;
}

template <class Request>
HttpResponse ServerProcess::with_log_on_failure(std::string_view what, Request&& request) const {
  try {
    return request();
  } catch (const std::runtime_error& e) {
    // A connection that broke says nothing of why: the server's own account
    // of the moment goes with the failure.
    throw std::runtime_error(std::string(what) + ": " + e.what() + log_account());
  }
}

std::string ServerProcess::log_account() const { return "\nthe server's log ends with:\n" + log_tail(6000); }

HttpResponse ServerProcess::get(std::string_view target) const {
  return with_log_on_failure("GET " + std::string(target),
                             [&] { return http_request(port_, "GET", target, {}, options_.headers); });
}

HttpResponse ServerProcess::post(std::string_view target, std::string_view body, std::string_view content_type) const {
  Headers h = options_.headers;
  if (!content_type.empty()) h.emplace_back("Content-Type", std::string(content_type));
  return with_log_on_failure("POST " + std::string(target), [&] { return http_request(port_, "POST", target, body, h); });
}

Json ServerProcess::get_json(std::string_view target) const {
  const HttpResponse r = get(target);
  if (r.status != 200)
    throw std::runtime_error("GET " + std::string(target) + " answered " + std::to_string(r.status) + ": " + r.body +
                             (r.status >= 500 ? log_account() : std::string()));
  return Json(r.body);
}

WebSocketClient::WebSocketClient(std::uint16_t port, std::string_view path, Millis timeout) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) fail("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fail("websocket connect");
  // 16 random bytes, base64: the key only has to be unpredictable enough.
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::random_device rd;
  unsigned char raw[16];
  for (auto& b : raw) b = static_cast<unsigned char>(rd());
  std::string key;
  for (int i = 0; i < 16; i += 3) {
    const unsigned v = (raw[i] << 16) | ((i + 1 < 16 ? raw[i + 1] : 0) << 8) | (i + 2 < 16 ? raw[i + 2] : 0);
    key += kB64[(v >> 18) & 63];
    key += kB64[(v >> 12) & 63];
    key += i + 1 < 16 ? kB64[(v >> 6) & 63] : '=';
    key += i + 2 < 16 ? kB64[v & 63] : '=';
  }
  std::string req = "GET " + std::string(path) + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                    "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
                    "\r\nSec-WebSocket-Version: 13\r\n\r\n";
  if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) fail("websocket send");
  const auto deadline = Clock::now() + scaled(timeout);
  std::size_t end;
  while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, remaining_ms(deadline)) <= 0) {
      errno = 0;
      fail("websocket handshake timed out");
    }
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) fail("websocket handshake: connection closed");
    buffer_.append(buf, static_cast<std::size_t>(n));
  }
  const std::string head = buffer_.substr(0, end);
  buffer_.erase(0, end + 4);
  if (head.rfind("HTTP/1.1 101", 0) != 0) {
    errno = 0;
    fail("websocket handshake refused: " + head);
  }
}

WebSocketClient::~WebSocketClient() {
  if (fd_ >= 0) ::close(fd_);
}

std::optional<std::string> WebSocketClient::read_text(Millis timeout) {
  const auto deadline = Clock::now() + scaled(timeout);
  auto need = [&](std::size_t n) -> bool {
    while (buffer_.size() < n) {
      pollfd p{fd_, POLLIN, 0};
      const int ms = remaining_ms(deadline);
      if (ms == 0 || ::poll(&p, 1, ms) <= 0) return false;
      char buf[65536];
      const ssize_t got = ::recv(fd_, buf, sizeof buf, 0);
      if (got <= 0) return false;
      buffer_.append(buf, static_cast<std::size_t>(got));
    }
    return true;
  };
  std::string message;
  for (;;) {
    if (!need(2)) return std::nullopt;
    const auto b0 = static_cast<unsigned char>(buffer_[0]);
    const auto b1 = static_cast<unsigned char>(buffer_[1]);
    const bool fin = b0 & 0x80;
    const unsigned opcode = b0 & 0x0F;
    const bool masked = b1 & 0x80;
    std::uint64_t len = b1 & 0x7F;
    std::size_t header = 2;
    if (len == 126) {
      if (!need(4)) return std::nullopt;
      len = (std::uint64_t(static_cast<unsigned char>(buffer_[2])) << 8) | static_cast<unsigned char>(buffer_[3]);
      header = 4;
    } else if (len == 127) {
      if (!need(10)) return std::nullopt;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<unsigned char>(buffer_[2 + i]);
      header = 10;
    }
    if (masked) header += 4;  // servers must not mask; tolerate it anyway
    if (!need(header + len)) return std::nullopt;
    std::string payload = buffer_.substr(header, len);
    if (masked)
      for (std::size_t i = 0; i < payload.size(); ++i) payload[i] ^= buffer_[header - 4 + (i % 4)];
    buffer_.erase(0, header + len);
    if (opcode == 0x8) return std::nullopt;  // close
    if (opcode == 0x9) {                     // ping → pong
      send_frame(0xA, payload);
      continue;
    }
    if (opcode == 0xA) continue;
    message += payload;
    if (fin) return message;
  }
}

void WebSocketClient::send_text(std::string_view text) { send_frame(0x1, text); }
void WebSocketClient::send_binary(std::string_view bytes) { send_frame(0x2, bytes); }

void WebSocketClient::close() {
  if (fd_ < 0) return;
  send_frame(0x8, std::string("\x03\xe8", 2));
  ::close(fd_);
  fd_ = -1;
}

void WebSocketClient::send_frame(std::uint8_t opcode, std::string_view payload) {
  std::string frame;
  frame += static_cast<char>(0x80 | opcode);
  if (payload.size() < 126) {
    frame += static_cast<char>(0x80 | payload.size());
  } else if (payload.size() < 65536) {
    frame += static_cast<char>(0x80 | 126);
    frame += static_cast<char>(payload.size() >> 8);
    frame += static_cast<char>(payload.size() & 0xFF);
  } else {
    frame += static_cast<char>(0x80 | 127);
    for (int i = 7; i >= 0; --i) frame += static_cast<char>((std::uint64_t(payload.size()) >> (8 * i)) & 0xFF);
  }
  std::random_device rd;
  char mask[4];
  for (auto& m : mask) m = static_cast<char>(rd());
  frame.append(mask, 4);
  for (std::size_t i = 0; i < payload.size(); ++i) frame += static_cast<char>(payload[i] ^ mask[i % 4]);
  ::send(fd_, frame.data(), frame.size(), MSG_NOSIGNAL);
}

Millis scaled(Millis timeout) {
  static const long factor = [] {
    const char* text = std::getenv("SHOPPULSE_TEST_TIME_SCALE");
    const long f = text ? std::strtol(text, nullptr, 10) : 1;
    return f >= 1 ? f : 1;
  }();
  return timeout * factor;
}

bool poll_until(const std::function<bool()>& check, Millis timeout, Millis interval) {
  const auto deadline = Clock::now() + scaled(timeout);
  for (;;) {
    if (check()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

double metric_value(const std::string& text, const std::string& series) {
  std::size_t at = 0;
  while ((at = text.find(series + ' ', at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') return std::strtod(text.c_str() + at + series.size() + 1, nullptr);
    at += series.size();
  }
  return std::nan("");
}

void wait_applied(const ServerProcess& server, std::uint64_t sequence, Millis timeout) {
  std::string last;
  const bool ok = poll_until(
      [&] {
        const Json status = server.get_json("/api/system/status");
        last = status.text();
        // Both consumers of the log: user answers carry the recommender's
        // propensity and coverage beside the engine's figures.
        return status.u64("/stream_processor/applied_through") >= sequence &&
               status.u64("/recommender/applied_through") >= sequence;
      },
      timeout);
  if (!ok)
    throw std::runtime_error("stream processor and recommender did not apply through sequence " +
                             std::to_string(sequence) + "; last status: " + last);
}

void wait_ready(const ServerProcess& server, Millis timeout) {
  std::string last;
  const bool ok = poll_until(
      [&] {
        const HttpResponse r = server.get("/api/ready");
        last = r.body;
        return r.status == 200;
      },
      timeout);
  if (!ok) throw std::runtime_error("not ready in time; last /api/ready: " + last);
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<Millis>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string iso8601(std::int64_t ms) {
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

std::string shoppulse_binary() {
#ifdef SHOPPULSE_BINARY
  return SHOPPULSE_BINARY;
#else
  throw std::runtime_error("SHOPPULSE_BINARY was not defined at build time");
#endif
}

CommandResult run_shoppulse(const std::vector<std::string>& args, Millis timeout, bool with_stderr) {
  const std::string binary = shoppulse_binary();
  std::vector<std::string> all{binary};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  int out_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) fail("pipe2");
  const pid_t pid = ::fork();
  if (pid < 0) fail("fork");
  if (pid == 0) {
    ::dup2(out_pipe[1], STDOUT_FILENO);
    if (with_stderr) ::dup2(out_pipe[1], STDERR_FILENO);
    const int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      ::dup2(devnull, STDIN_FILENO);
      if (!with_stderr) ::dup2(devnull, STDERR_FILENO);
    }
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  CommandResult result;
  const auto deadline = Clock::now() + timeout;
  char buf[4096];
  for (;;) {
    pollfd p{out_pipe[0], POLLIN, 0};
    const int ms = remaining_ms(deadline);
    if (ms == 0 || ::poll(&p, 1, ms) <= 0) {
      ::kill(pid, SIGKILL);
      break;
    }
    const ssize_t n = ::read(out_pipe[0], buf, sizeof buf);
    if (n <= 0) break;
    result.out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(out_pipe[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  return result;
}

}  // namespace shoppulse::integration
