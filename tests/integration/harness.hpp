#pragma once
// Test harness for the integration suite: runs the real shoppulse binary as a
// child process and talks to it over plain POSIX sockets, the way any client
// would. Nothing here links the product's libraries; the binary is a black box.
//
// Threading: every class here is used by one test thread at a time.
#include <simdjson.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shoppulse::integration {

using Headers = std::vector<std::pair<std::string, std::string>>;
using Millis = std::chrono::milliseconds;

// Default per-request timeout; generous so a loaded machine does not flake.
inline constexpr Millis kRequestTimeout{30000};

// Every timeout the harness waits on is multiplied by the environment's
// SHOPPULSE_TEST_TIME_SCALE (a whole number, default 1): a sanitizer build
// of the binary is several times slower, never differently correct.
Millis scaled(Millis timeout);

struct HttpResponse {
  int status = 0;
  Headers headers;
  std::string body;

  // Case-insensitive header lookup; the first match.
  std::optional<std::string> header(std::string_view name) const;
};

// A connection that ended (closed or reset) before any byte of the answer.
struct ClosedWithoutAnswer : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Sends one HTTP/1.1 request on a fresh connection ("Connection: close") and
// reads the whole response (Content-Length, chunked, or until EOF).
// Throws std::runtime_error on connect/IO failure or timeout. A GET, HEAD or
// OPTIONS whose connection ends before any byte of the answer is sent once
// more on a new connection (noted on stderr); ClosedWithoutAnswer if that
// one ends the same way.
HttpResponse http_request(std::uint16_t port, std::string_view method, std::string_view target,
                          std::string_view body = {}, const Headers& headers = {},
                          Millis timeout = kRequestTimeout);

// Sends bytes verbatim (for malformed-request tests) and reads the response.
HttpResponse http_raw(std::uint16_t port, std::string_view bytes, Millis timeout = kRequestTimeout);

// A parsed JSON document; owns its parser so elements stay valid.
class Json {
 public:
  explicit Json(std::string_view text);  // throws std::runtime_error on invalid JSON
  Json(const Json& other) : Json(other.text_) {}
  Json(Json&&) noexcept = default;  // the parser's buffers stay where they are
  Json& operator=(const Json&) = delete;
  Json& operator=(Json&&) noexcept = default;
  simdjson::dom::element root() const { return root_; }
  // JSON Pointer access ("/a/0/b"); throws with the pointer in the message.
  simdjson::dom::element at(std::string_view pointer) const;
  bool has(std::string_view pointer) const;
  std::int64_t i64(std::string_view pointer) const;
  std::uint64_t u64(std::string_view pointer) const;
  double num(std::string_view pointer) const;  // any JSON number
  std::string str(std::string_view pointer) const;
  // A money field (number with two decimals) in minor units, exactly.
  std::int64_t cents(std::string_view pointer) const;
  std::size_t size(std::string_view pointer) const;  // array length
  bool is_null(std::string_view pointer) const;
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::unique_ptr<simdjson::dom::parser> parser_;
  simdjson::dom::element root_;
};

// A fresh directory removed with everything in it on destruction.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "shoppulse-integ");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct ServerOptions {
  std::filesystem::path data_dir;       // required; the event log lives here
  std::filesystem::path log_file;       // child's stderr; default: <data_dir>.log
  bool generator = false;               // --generator on|off
  std::vector<std::string> sets;        // "key=value" pairs for --set
  Millis startup_timeout{10000};        // until /api/health answers
  std::uint64_t max_open_files = 0;     // RLIMIT_NOFILE (soft and hard) of the child; 0 inherits ours
  Headers headers;                      // sent with every get() and post() (an API key, say)
};

// Runs the shoppulse binary with args to completion (e.g. `keys create`),
// without a shell (arguments are passed as they are); returns its exit
// code and stdout, and with `with_stderr` its stderr too, interleaved as
// written. Past `timeout` the child is killed (exit_code -9). Throws on
// spawn failure.
struct CommandResult {
  int exit_code = -1;
  std::string out;
};
CommandResult run_shoppulse(const std::vector<std::string>& args, Millis timeout = Millis(30000),
                            bool with_stderr = false);

// The shoppulse binary as a child process on a port it picked itself
// (--port 0; the port is read from its "listening on" stdout line).
// Lifecycle: start() → running → stop() (SIGTERM) or kill_hard() (SIGKILL);
// start() may be called again afterwards on the same data dir. The destructor
// kills a still-running child.
class ServerProcess {
 public:
  explicit ServerProcess(ServerOptions options);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  void start();
  int stop(Millis timeout = Millis(20000));  // SIGTERM, waits; returns the exit code (-signal if signalled)
  void kill_hard();                          // SIGKILL, waits
  bool alive();                              // still running (reaps it if not)
  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  const ServerOptions& options() const { return options_; }
  std::string log_tail(std::size_t bytes = 4000) const;
  // The log's last 6 kB, headed, for a failure's message.
  std::string log_account() const;

  HttpResponse get(std::string_view target) const;
  HttpResponse post(std::string_view target, std::string_view body = {},
                    std::string_view content_type = "application/json") const;
  // GET that must answer 200 with JSON; throws otherwise.
  Json get_json(std::string_view target) const;

 private:
  template <class Request>
  HttpResponse with_log_on_failure(std::string_view what, Request&& request) const;
  ServerOptions options_;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::uint16_t port_ = 0;
  int exit_code_ = 0;
};

// Minimal RFC 6455 client: handshake, then reads server text frames
// (unmasked); frames it sends are masked. Control frames are handled inline.
class WebSocketClient {
 public:
  WebSocketClient(std::uint16_t port, std::string_view path, Millis timeout = Millis(10000));
  ~WebSocketClient();
  WebSocketClient(const WebSocketClient&) = delete;
  WebSocketClient& operator=(const WebSocketClient&) = delete;

  // The next text message, or nullopt on timeout / close.
  std::optional<std::string> read_text(Millis timeout);
  void send_text(std::string_view text);
  void send_binary(std::string_view bytes);
  void close();

 private:
  void send_frame(std::uint8_t opcode, std::string_view payload);
  int fd_ = -1;
  std::string buffer_;  // bytes read past the handshake
};

// Polls check() until it returns true or the deadline passes; returns the
// last result. No fixed sleeps elsewhere: every wait in the suite is this.
bool poll_until(const std::function<bool()>& check, Millis timeout = Millis(20000), Millis interval = Millis(20));

// Waits until the stream processor and the recommender have applied every
// logged event up to `sequence` (status.stream_processor.applied_through and
// status.recommender.applied_through). Throws on timeout.
void wait_applied(const ServerProcess& server, std::uint64_t sequence, Millis timeout = Millis(60000));
// The value of the first sample named exactly `series` (name and labels as
// rendered, e.g. `x_total{thread="engine"}`) in Prometheus text; NaN when
// there is none, so a missing series fails any comparison.
double metric_value(const std::string& prometheus_text, const std::string& series);

// Waits until /api/ready answers 200: the windows and the recommender have
// caught up with the log after a start. Throws on timeout.
void wait_ready(const ServerProcess& server, Millis timeout = Millis(60000));

// Milliseconds since the Unix epoch, from the system clock.
std::int64_t now_ms();
// "2024-05-01T12:34:56.789Z".
std::string iso8601(std::int64_t ms);

// Test settings: the binary path from CMake, the data dir from the env or CMake.
std::string shoppulse_binary();

}  // namespace shoppulse::integration
