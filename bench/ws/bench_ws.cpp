// bench_ws: many WebSocket clients on /ws/real-time, all read by one epoll
// thread. For every tick the server renders one snapshot whose top-level
// "timestamp" is its clock at render time (ms); the delay of a tick at a
// client is receipt time minus that timestamp (both the system clock of this
// one process). Every client should receive every tick: a tick that some
// client got and another did not is a gap for the other.
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/core.h>

#include <chrono>
#include <map>
#include <thread>
#include <vector>

#include "common/app_fixture.hpp"
#include "common/machine_limits.hpp"
#include "common/options.hpp"
#include "common/report.hpp"
#include "common/system_probe.hpp"
#include "common/websocket_client.hpp"
#include "shoppulse/core/time_format.hpp"

using namespace shoppulse;
using namespace shoppulse::bench;

namespace {

double wall_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct Client {
  int fd = -1;
  WebSocketReader reader;
  std::vector<TimestampMs> ticks;  // render timestamps received, in order
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
  bool closed = false;
};

// The top-level "timestamp" of a broadcast: the first one in the text (the
// per-window copies come later, under "windows").
std::optional<TimestampMs> render_time(std::string_view text) {
  constexpr std::string_view kKey = "\"timestamp\":\"";
  const auto at = text.find(kKey);
  if (at == std::string_view::npos) return std::nullopt;
  const auto start = at + kKey.size();
  const auto end = text.find('"', start);
  if (end == std::string_view::npos) return std::nullopt;
  return parse_iso8601(text.substr(start, end - start));
}

}  // namespace

int main(int argc, char** argv) {
  Options opts(argc, argv);
  const auto clients_wanted = static_cast<std::size_t>(opts.integer("clients", 1000, 50));
  const double seconds = opts.number("seconds", 12, 1.5);
  const auto interval_ms = opts.integer("interval-ms", 1000, 250);
  const double rate = opts.number("generator-rate", 10000, 10000);
  const auto http_threads = static_cast<unsigned>(opts.integer("http-threads", 2, 2));
  opts.finish();

  Report report("bench_ws", opts.quick());
  report.section("parameters");
  const std::uint64_t fd_limit = raise_fd_limit(2 * clients_wanted + 256);
  report.param("WebSocket clients", static_cast<std::int64_t>(clients_wanted));
  report.param("reader", "1 epoll thread for all clients (the main thread)");
  report.param("timed window", seconds, "s");
  report.param("broadcast interval (http.ws_interval_ms)", static_cast<std::int64_t>(interval_ms));
  report.param("generator", fmt::format("{:.0f} events/s", rate));
  report.param("server", fmt::format("Application, {} HTTP I/O threads, empty temp data dir", http_threads));
  report.param("RLIMIT_NOFILE (soft, after raising)", static_cast<std::int64_t>(fd_limit));

  AppFixture app;
  AppSettings settings;
  settings.generator = true;
  settings.generator_events_per_second = rate;
  settings.http_threads = http_threads;
  settings.ws_interval_ms = interval_ms;
  std::string error;
  if (!app.start(settings, error)) {
    report.note("application failed to start: " + error);
    return 1;
  }

  report.section("connect");
  const int epoll = epoll_create1(EPOLL_CLOEXEC);
  std::vector<Client> clients(clients_wanted);
  std::size_t connected = 0;
  std::string first_error;
  Stopwatch connect_watch;
  for (std::size_t i = 0; i < clients.size(); ++i) {
    std::string leftover;
    if (!open_websocket(app.port(), "/ws/real-time", clients[i].fd, leftover, error)) {
      if (first_error.empty()) first_error = error;
      clients[i].closed = true;
      continue;
    }
    ++connected;
    clients[i].reader.append(leftover.data(), leftover.size());
    fcntl(clients[i].fd, F_SETFL, fcntl(clients[i].fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    epoll_ctl(epoll, EPOLL_CTL_ADD, clients[i].fd, &ev);
  }
  report.result("clients connected", double(connected), "");
  report.result("time to open them (sequential handshakes)", connect_watch.seconds(), "s");
  if (!first_error.empty()) report.note("first connect error: " + first_error);

  // Settle for two intervals, then time the window, then a grace period so
  // the last ticks of the window can still arrive everywhere.
  const double settle_ms = 2.0 * double(interval_ms);
  const double grace_ms = 250.0 + double(interval_ms);
  const double t_begin = wall_ms() + settle_ms;
  const double t_end = t_begin + seconds * 1000.0;
  std::vector<double> delays_ms;
  delays_ms.reserve(clients.size() * static_cast<std::size_t>(seconds * 1000.0 / double(interval_ms) + 4));
  std::map<TimestampMs, std::uint64_t> receivers;  // tick -> clients that got it
  std::uint64_t pongs = 0, protocol_errors = 0, unparsed = 0, closes = 0;
  std::vector<epoll_event> events(256);
  std::vector<char> buf(1 << 16);
  WsMessage msg;
  const double cpu0 = process_cpu_seconds();
  Stopwatch window_watch;
  while (wall_ms() < t_end + grace_ms) {
    const int n = epoll_wait(epoll, events.data(), static_cast<int>(events.size()), 50);
    for (int e = 0; e < n; ++e) {
      Client& c = clients[events[static_cast<std::size_t>(e)].data.u64];
      for (;;) {
        const ssize_t got = ::recv(c.fd, buf.data(), buf.size(), 0);
        if (got > 0) {
          c.reader.append(buf.data(), static_cast<std::size_t>(got));
          c.bytes += static_cast<std::uint64_t>(got);
          continue;
        }
        if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
          c.closed = true;
          epoll_ctl(epoll, EPOLL_CTL_DEL, c.fd, nullptr);
        }
        break;
      }
      const double now = wall_ms();
      while (c.reader.next(msg)) {
        if (msg.opcode == WsOpcode::ping) {
          const std::string pong = client_frame(WsOpcode::pong, msg.payload);
          if (::send(c.fd, pong.data(), pong.size(), MSG_NOSIGNAL) > 0) ++pongs;
          continue;
        }
        if (msg.opcode == WsOpcode::close) {
          ++closes;
          continue;
        }
        if (msg.opcode != WsOpcode::text) continue;
        ++c.messages;
        const auto rendered = render_time(msg.payload);
        if (!rendered) {
          ++unparsed;
          continue;
        }
        if (double(*rendered) < t_begin || double(*rendered) > t_end) continue;
        c.ticks.push_back(*rendered);
        ++receivers[*rendered];
        delays_ms.push_back(now - double(*rendered));
      }
      if (c.reader.protocol_error()) {
        ++protocol_errors;
        c.closed = true;
        epoll_ctl(epoll, EPOLL_CTL_DEL, c.fd, nullptr);
      }
    }
  }
  const double window_s = window_watch.seconds();
  const double cpu = process_cpu_seconds() - cpu0;

  report.section("results");
  std::uint64_t gaps = 0, clients_with_gaps = 0, still_open = 0, messages = 0, bytes = 0;
  for (const Client& c : clients) {
    if (c.fd < 0) continue;
    if (!c.closed) ++still_open;
    messages += c.messages;
    bytes += c.bytes;
    const std::uint64_t missing = receivers.size() - c.ticks.size();
    gaps += missing;
    if (missing) ++clients_with_gaps;
  }
  double max_delay = 0;
  for (double d : delays_ms) max_delay = std::max(max_delay, d);
  const double expected_ticks = seconds * 1000.0 / double(interval_ms);
  report.result("ticks rendered in the window (seen by any client)", double(receivers.size()), "",
                fmt::format("~{:.0f} (window / interval)", expected_ticks));
  report.result("tick deliveries measured", double(delays_ms.size()), "");
  report.result("render -> receipt delay p50", percentile(delays_ms, 0.5), "ms");
  report.result("render -> receipt delay p99", percentile(delays_ms, 0.99), "ms", "<= 50 ms");
  report.result("render -> receipt delay max", max_delay, "ms");
  report.result("missed ticks (gaps), all clients", double(gaps), "", "0");
  report.result("clients with at least one gap", double(clients_with_gaps), "");
  report.result("clients still open at the end", double(still_open), "");
  report.result("mean message size", messages ? double(bytes) / double(messages) : 0, "bytes");
  report.result("received by all clients (incl. settle)", double(bytes) / window_s / 1e6, "MB/s");
  report.result("pongs sent", double(pongs), "");
  report.result("close frames received", double(closes), "");
  report.result("protocol errors", double(protocol_errors), "");
  report.result("messages without a timestamp", double(unparsed), "");
  report.result("process CPU / wall (server + reader)", cpu / window_s, "cpus");

  for (Client& c : clients)
    if (c.fd >= 0) ::close(c.fd);
  ::close(epoll);
  app.stop();
  measure_machine_limits(report, opts.quick());
  return 0;
}
