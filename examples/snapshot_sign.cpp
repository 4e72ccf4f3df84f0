// Live snapshots from a callback: the hook an appliance uses to drive a
// display or an LED sign. The callback runs on the engine thread and must
// return quickly, so it only hands the snapshot over; this program's own
// "sign" thread (here: main) renders it.
//   snapshot_sign DATA_DIR [LINES]
// Runs the built-in generator, prints LINES sign updates (default 5), exits 0.
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include "shoppulse/app/application.hpp"

int main(int argc, char** argv) {
  using namespace shoppulse;
  if (argc < 2) return std::fprintf(stderr, "usage: snapshot_sign DATA_DIR [LINES]\n"), 2;
  const int lines = argc > 2 ? std::stoi(argv[2]) : 5;
  app::AppConfig config;
  config.eventlog.data_dir = argv[1];
  config.serve_http = false;           // a sign needs no web server
  config.generator_enabled = true;     // the built-in shop feeds it
  config.generator.events_per_second = 200;
  if (auto r = app::finish(config); !r) return std::fprintf(stderr, "config: %s\n", r.error().detail.c_str()), 1;

  auto opened = app::Application::open(config);
  if (!opened) return std::fprintf(stderr, "open: %s\n", opened.error().detail.c_str()), 1;
  app::Application& shop = *opened.value();

  std::mutex mutex;
  std::condition_variable changed;
  std::shared_ptr<const WindowSnapshot> newest;  // guarded by mutex
  (void)shop.on_snapshot([&](const std::shared_ptr<const WindowSnapshot>& snapshot) {
    std::lock_guard lock(mutex);
    newest = snapshot;  // keeping the pointer is fine: snapshots are immutable
    changed.notify_one();
  });
  if (auto r = shop.start(); !r) return std::fprintf(stderr, "start: %s\n", r.error().detail.c_str()), 1;

  Sequence shown = 0;
  for (int i = 0; i < lines;) {
    std::shared_ptr<const WindowSnapshot> s;
    {
      std::unique_lock lock(mutex);
      changed.wait(lock, [&] { return newest && newest->applied_through > shown; });
      s = newest;
    }
    shown = s->applied_through;
    const Kpis& k = s->window(WindowSpan::m1).current;
    std::printf("[sign] last minute: %llu shoppers, %llu orders, %lld.%02lld revenue\n",
                (unsigned long long)k.active_users, (unsigned long long)k.count(EventType::purchase),
                (long long)(k.revenue_minor / 100), (long long)(k.revenue_minor % 100));
    ++i;
  }
  shop.stop();
  return 0;
}
