// bench_http_read: GET /api/analytics/real-time over keep-alive connections,
// one closed-loop client thread per connection, against the whole
// Application with its generator feeding events. Also: how soon after
// Application::start() begins on an empty data dir /api/health answers 200.
#include <fmt/core.h>

#include <atomic>
#include <thread>
#include <vector>

#include "common/app_fixture.hpp"
#include "common/http_client.hpp"
#include "common/machine_limits.hpp"
#include "common/options.hpp"
#include "common/report.hpp"
#include "common/system_probe.hpp"

using namespace shoppulse;
using namespace shoppulse::bench;

namespace {

struct ClientResult {
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;
  std::size_t last_body_bytes = 0;
  std::vector<double> latencies_ms;
  std::string first_error;
};

}  // namespace

int main(int argc, char** argv) {
  Options opts(argc, argv);
  const int clients = static_cast<int>(opts.integer("clients", 2, 2));
  const double seconds = opts.number("seconds", 8, 1);
  const double warmup = opts.number("warmup", 2, 0.3);
  const double rate = opts.number("generator-rate", 100000, 100000);
  const auto gen_batch = static_cast<std::size_t>(opts.integer("generator-batch", 1000, 1000));
  const auto http_threads = static_cast<unsigned>(opts.integer("http-threads", 2, 2));
  opts.finish();

  Report report("bench_http_read", opts.quick());
  report.section("parameters");
  report.param("client threads (one keep-alive connection each)", static_cast<std::int64_t>(clients));
  report.param("request", "GET /api/analytics/real-time");
  report.param("timed window", seconds, "s");
  report.param("warm-up with the generator before timing", warmup, "s");
  report.param("generator", fmt::format("{:.0f} events/s in batches of {}", rate, gen_batch));
  report.param("server", fmt::format("Application, {} HTTP I/O threads, empty temp data dir", http_threads));

  AppFixture app;
  AppSettings settings;
  settings.generator = true;
  settings.generator_events_per_second = rate;
  settings.generator_batch = gen_batch;
  settings.http_threads = http_threads;
  std::string error;
  if (!app.start(settings, error)) {
    report.note("application failed to start: " + error);
    return 1;
  }

  report.section("start-up on an empty data dir");
  {
    HttpClient probe;
    HttpResponse response;
    int attempts = 0;
    bool healthy = false;
    while (steady_seconds() - app.start_began() < 10) {
      ++attempts;
      if ((probe.connected() || probe.connect(app.port())) &&
          probe.request("GET", "/api/health", {}, {}, response) && response.status == 200) {
        healthy = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const double first_ok = steady_seconds() - app.start_began();
    report.result("Application::open()", app.open_seconds() * 1e3, "ms");
    report.result("Application::start()", app.start_seconds() * 1e3, "ms");
    report.result("start() begin -> first 200 from /api/health", first_ok * 1e3, "ms", "<= 1000 ms");
    report.result("health probes sent", double(attempts), "");
    if (!healthy) report.note("/api/health never answered 200 within 10 s: " + probe.error());
  }

  std::this_thread::sleep_for(std::chrono::duration<double>(warmup));
  report.section("results");
  std::vector<ClientResult> results(static_cast<std::size_t>(clients));
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      ClientResult& r = results[static_cast<std::size_t>(c)];
      r.latencies_ms.reserve(1 << 20);
      HttpClient client;
      if (!client.connect(app.port())) {
        r.first_error = client.error();
        ++r.failed;
        return;
      }
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      Stopwatch watch;
      HttpResponse response;
      while (watch.seconds() < seconds) {
        Stopwatch one;
        const bool sent = client.request("GET", "/api/analytics/real-time", {}, {}, response);
        const double ms = one.seconds() * 1e3;
        if (sent && response.status == 200) {
          ++r.ok;
          r.latencies_ms.push_back(ms);
          r.last_body_bytes = response.body.size();
        } else {
          ++r.failed;
          if (r.first_error.empty())
            r.first_error = sent ? fmt::format("HTTP {}", response.status) : client.error();
          if (!sent && !client.connect(app.port())) break;
        }
        if (sent && response.close && !client.connect(app.port())) break;
      }
    });
  }
  const std::uint64_t appended0 = app.app().ingestor().stats().appended_events;
  Stopwatch watch;
  const double cpu0 = process_cpu_seconds();
  go.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();
  const double s = watch.seconds();
  const double cpu = process_cpu_seconds() - cpu0;
  const std::uint64_t appended = app.app().ingestor().stats().appended_events - appended0;

  ClientResult all;
  for (auto& r : results) {
    all.ok += r.ok;
    all.failed += r.failed;
    all.last_body_bytes = std::max(all.last_body_bytes, r.last_body_bytes);
    all.latencies_ms.insert(all.latencies_ms.end(), r.latencies_ms.begin(), r.latencies_ms.end());
    if (all.first_error.empty()) all.first_error = r.first_error;
  }
  double max_ms = 0;
  for (double v : all.latencies_ms) max_ms = std::max(max_ms, v);
  report.result("requests answered 200", double(all.ok), "");
  report.result("request rate", double(all.ok) / s / 1e3, "k requests/s", ">= 20 k requests/s");
  report.result("latency p50", percentile(all.latencies_ms, 0.5), "ms");
  report.result("latency p99", percentile(all.latencies_ms, 0.99), "ms", "<= 5 ms");
  report.result("latency p99.9", percentile(all.latencies_ms, 0.999), "ms");
  report.result("latency max", max_ms, "ms");
  report.result("response body size", double(all.last_body_bytes), "bytes");
  report.result("failed requests", double(all.failed), "");
  report.result("events ingested meanwhile (generator)", double(appended) / s / 1e3, "k events/s");
  report.result("process CPU / wall (server + clients)", cpu / s, "cpus");
  if (!all.first_error.empty()) report.note("first error: " + all.first_error);
  app.stop();

  measure_machine_limits(report, opts.quick());
  return 0;
}
