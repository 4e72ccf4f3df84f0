// shoppulse inside another program: its own config, its own events fed
// in-process (no HTTP), a snapshot read back, and the dashboard served.
//   embed_app DATA_DIR [PORT] [--serve]
// Without --serve it exits 0 once the snapshot shows every event fed in and
// the dashboard answered; with it, it serves until Ctrl-C.
#include <csignal>
#include <condition_variable>
#include <cstdio>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "shoppulse/app/application.hpp"
#include "http_get.hpp"

int main(int argc, char** argv) {
  using namespace shoppulse;
  if (argc < 2) return std::fprintf(stderr, "usage: embed_app DATA_DIR [PORT] [--serve]\n"), 2;
  app::AppConfig config;
  config.eventlog.data_dir = argv[1];
  config.http.host = "127.0.0.1";
  config.http.port = argc > 2 ? static_cast<std::uint16_t>(std::stoi(argv[2])) : 0;
  config.generator_enabled = false;  // this program brings its own events
  if (auto r = app::finish(config); !r) return std::fprintf(stderr, "config: %s\n", r.error().detail.c_str()), 1;

  // Ctrl-C is taken by sigwait below; threads started later inherit the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto opened = app::Application::open(config);
  if (!opened) return std::fprintf(stderr, "open: %s\n", opened.error().detail.c_str()), 1;
  app::Application& shop = *opened.value();
  // Wake this thread whenever the engine publishes (the callback runs on the
  // engine thread and only signals).
  std::mutex mutex;
  std::condition_variable published;
  Sequence published_through = 0;
  (void)shop.on_snapshot([&](const std::shared_ptr<const WindowSnapshot>& s) {
    std::lock_guard lock(mutex);
    published_through = s->applied_through;
    published.notify_all();
  });
  if (auto r = shop.start(); !r) return std::fprintf(stderr, "start: %s\n", r.error().detail.c_str()), 1;

  std::vector<RawEvent> events;
  for (int i = 0; i < 100; ++i) {
    RawEvent e;
    e.event_id = "till-" + std::to_string(i);  // a retry of the same batch is not counted twice
    e.user_id = "customer-" + std::to_string(i % 7);
    e.product_id = "sku-" + std::to_string(i % 12);
    e.category_id = "shelf-" + std::to_string(i % 3);
    e.type = i % 5 == 0 ? EventType::purchase : EventType::view;
    e.price_minor = 450;
    events.push_back(std::move(e));
  }
  // done runs on the ingest thread once the batch is durable.
  std::promise<Result<IngestReceipt>> durable;
  if (auto r = shop.ingest(std::move(events), [&](Result<IngestReceipt> receipt) { durable.set_value(receipt); }); !r)
    return std::fprintf(stderr, "ingest: %s\n", r.error().detail.c_str()), 1;
  const auto receipt = durable.get_future().get();
  if (!receipt) return std::fprintf(stderr, "ingest: %s\n", receipt.error().detail.c_str()), 1;
  std::printf("durable: %llu new events\n", (unsigned long long)receipt.value().accepted);

  // The engine publishes a snapshot every windows.publish_interval; wait for
  // one that includes the batch.
  {
    std::unique_lock lock(mutex);
    published.wait(lock, [&] { return published_through >= receipt.value().last_sequence; });
  }
  const auto snapshot = shop.snapshot();
  std::printf("snapshot: %llu events applied, watermark %lld\n", (unsigned long long)snapshot->events_applied,
              (long long)snapshot->watermark_ms);

  const std::string page = http_get(shop.port(), "/dashboard/");
  std::printf("dashboard: http://127.0.0.1:%u/dashboard/ (%zu bytes)\n", unsigned(shop.port()), page.size());
  if (argc > 3 && std::string(argv[3]) == "--serve") {
    int sig = 0;
    sigwait(&stop_signals, &sig);
  }
  shop.stop();
  return page.rfind("HTTP/1.1 200", 0) == 0 && page.find("html") != std::string::npos ? 0 : 1;
}
