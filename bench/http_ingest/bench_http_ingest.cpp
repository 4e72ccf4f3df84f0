// bench_http_ingest: POST /api/events with NDJSON bodies over keep-alive
// connections, one client thread per connection, against the whole
// Application (generator off) in this process. Each request is answered once
// its events are durable (durability "process") and handed to the engine, so
// the accepted rate is the HTTP -> parse -> log -> ring rate.
//
// Bodies are rendered up front from the ShopSimulator without timestamps
// (the server stamps them at ingest, so every event is current), and cycled.
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
#include "common/workload.hpp"

using namespace shoppulse;
using namespace shoppulse::bench;

namespace {

struct ClientResult {
  std::uint64_t accepted = 0;
  std::uint64_t requests = 0;
  std::uint64_t refused = 0;  // 503: the ingest queue was full
  std::uint64_t failed = 0;   // any other status or a transport error
  std::vector<double> latencies_ms;
  std::string first_error;
};

std::uint64_t accepted_of(const std::string& body) {
  const auto at = body.find("\"accepted\":");
  return at == std::string::npos ? 0 : std::strtoull(body.c_str() + at + 11, nullptr, 10);
}

}  // namespace

int main(int argc, char** argv) {
  Options opts(argc, argv);
  const int clients = static_cast<int>(opts.integer("clients", 2, 2));
  const auto body_events = static_cast<std::size_t>(opts.integer("body-events", 10000, 10000));
  const auto bodies_per_client = static_cast<std::size_t>(opts.integer("bodies-per-client", 8, 2));
  const double seconds = opts.number("seconds", 8, 1);
  const auto http_threads = static_cast<unsigned>(opts.integer("http-threads", 2, 2));
  opts.finish();

  Report report("bench_http_ingest", opts.quick());
  report.section("parameters");
  report.param("client threads (one keep-alive connection each)", static_cast<std::int64_t>(clients));
  report.param("events per request body (NDJSON)", static_cast<std::int64_t>(body_events));
  report.param("distinct bodies per client (cycled)", static_cast<std::int64_t>(bodies_per_client));
  report.param("timed window", seconds, "s");
  report.param("server", fmt::format("Application, generator off, {} HTTP I/O threads, durability process",
                                     http_threads));

  ShopSimulator simulator(shop_config(1000, 500));
  std::vector<std::vector<std::string>> bodies(static_cast<std::size_t>(clients));
  std::size_t body_bytes = 0;
  for (auto& mine : bodies) {
    for (std::size_t b = 0; b < bodies_per_client; ++b) {
      const auto raw = make_raw_events(simulator, body_events, 0, 100000);
      mine.push_back(render_ndjson(raw, false));
      body_bytes += mine.back().size();
    }
  }
  const double mean_body = double(body_bytes) / double(clients * bodies_per_client);
  report.param("mean body size", mean_body / 1e6, "MB");

  AppFixture app;
  AppSettings settings;
  settings.http_threads = http_threads;
  std::string error;
  if (!app.start(settings, error)) {
    report.note("application failed to start: " + error);
    return 1;
  }

  report.section("results");
  std::vector<ClientResult> results(static_cast<std::size_t>(clients));
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  const std::uint64_t appended0 = app.app().ingestor().stats().appended_events;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      ClientResult& r = results[static_cast<std::size_t>(c)];
      HttpClient client;
      if (!client.connect(app.port())) {
        r.first_error = client.error();
        ++r.failed;
        return;
      }
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      Stopwatch watch;
      std::size_t next = 0;
      HttpResponse response;
      while (watch.seconds() < seconds) {
        const std::string& body = bodies[static_cast<std::size_t>(c)][next++ % bodies_per_client];
        Stopwatch one;
        if (!client.request("POST", "/api/events", "application/x-ndjson", body, response)) {
          if (r.first_error.empty()) r.first_error = client.error();
          ++r.failed;
          if (!client.connect(app.port())) break;
          continue;
        }
        r.latencies_ms.push_back(one.seconds() * 1e3);
        ++r.requests;
        if (response.status == 200) {
          r.accepted += accepted_of(response.body);
        } else if (response.status == 503) {
          ++r.refused;
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        } else {
          ++r.failed;
          if (r.first_error.empty()) r.first_error = fmt::format("HTTP {}: {}", response.status, response.body.substr(0, 200));
        }
        if (response.close && !client.connect(app.port())) break;
      }
    });
  }
  Stopwatch watch;
  const double cpu0 = process_cpu_seconds();
  go.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();
  const double s = watch.seconds();
  const double cpu = process_cpu_seconds() - cpu0;
  const std::uint64_t appended = app.app().ingestor().stats().appended_events - appended0;

  ClientResult all;
  for (auto& r : results) {
    all.accepted += r.accepted;
    all.requests += r.requests;
    all.refused += r.refused;
    all.failed += r.failed;
    all.latencies_ms.insert(all.latencies_ms.end(), r.latencies_ms.begin(), r.latencies_ms.end());
    if (all.first_error.empty()) all.first_error = r.first_error;
  }
  report.result("accepted events", double(all.accepted), "");
  report.result("accepted rate", double(all.accepted) / s / 1e3, "k events/s", ">= 500 k events/s");
  report.result("request body throughput", double(all.requests) * mean_body / s / 1e6, "MB/s");
  report.result("requests", double(all.requests), "");
  report.result("request latency p50", percentile(all.latencies_ms, 0.5), "ms");
  report.result("request latency p99", percentile(all.latencies_ms, 0.99), "ms");
  report.result("refused with 503 (queue full)", double(all.refused), "");
  report.result("failed (other status or transport)", double(all.failed), "");
  report.result("appended to the log (server side)", double(appended), "");
  report.result("process CPU / wall (server + clients)", cpu / s, "cpus");
  if (!all.first_error.empty()) report.note("first error: " + all.first_error);
  app.stop();

  measure_machine_limits(report, opts.quick());
  return 0;
}
