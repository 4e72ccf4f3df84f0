// bench_engine: WindowEngine::apply on one core, on pre-interned events, for
// three workloads: the generator with a small and a large catalogue, and the
// amplified Taobao file named by BENCH_TAOBAO (skipped, saying so, when it is
// not set or absent); then the cost of snapshot() and of a checkpoint, in
// place and in a forked child. Events are applied in
// slices of the engine runner's pop batch; each generated pass re-applies the
// same events shifted forward in event time (the shift happens outside the
// timed region); the Taobao file is applied once, in file order.
#include <fmt/core.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "common/background_probe.hpp"
#include "common/machine_limits.hpp"
#include "common/options.hpp"
#include "common/report.hpp"
#include "common/system_probe.hpp"
#include "common/workload.hpp"
#include "shoppulse/importer/importer.hpp"
#include "shoppulse/windows/window_engine.hpp"

using namespace shoppulse;
using namespace shoppulse::bench;

namespace {

constexpr TimestampMs kStartMs = 1700000000000;  // 2023-11-14, any fixed time works

struct Catalogue {
  const char* name;
  std::size_t users;
  std::size_t products;
  std::size_t categories = 20;
};

// publish_every > 0: a snapshot() after every that many events, as the
// runner publishes after each batch that asks to see its writes; timed apart
// from apply().
void apply_and_report(Report& report, std::vector<Event>& batch, int passes, std::size_t slice,
                      std::size_t closed_every, std::size_t publish_every, int snapshots) {
  const std::size_t events = batch.size();
  const TimestampMs span_ms = batch.back().time_ms - batch.front().time_ms + 1;
  report.param("passes over them (shifted in event time)", static_cast<std::int64_t>(passes));
  report.param("events applied", static_cast<std::int64_t>(events * passes));
  report.param("apply() slice (runner pop batch)", static_cast<std::int64_t>(slice));
  report.param("event time covered", double(span_ms) * passes / 1000.0, "s");
  report.param("take_closed_minutes() every", fmt::format("{} events (timed with apply)", closed_every));
  report.param("snapshot() every", publish_every == 0 ? std::string("never while applying")
                                                       : fmt::format("{} events (timed apart from apply)", publish_every));

  WindowEngine engine{WindowConfig{}};
  double apply_seconds = 0, apply_cpu_seconds = 0;
  std::size_t applied = 0, rollups = 0, since_closed = 0, since_published = 0;
  std::vector<double> publish_costs;  // s each
  std::vector<double> pass_rates;
  for (int pass = 0; pass < passes; ++pass) {
    if (pass > 0) {
      for (Event& e : batch) {
        e.time_ms += span_ms;
        e.sequence += events;
      }
    }
    Stopwatch watch;
    const double cpu0 = thread_cpu_seconds();
    double pass_publish_seconds = 0;
    for (std::size_t i = 0, n = 0; i < batch.size(); i += n) {
      // A slice ends early where a snapshot is due.
      n = std::min(slice, batch.size() - i);
      if (publish_every > 0) n = std::min(n, publish_every - since_published);
      engine.apply(std::span<const Event>(batch.data() + i, n));
      since_closed += n;
      if (since_closed >= closed_every) {
        rollups += engine.take_closed_minutes().size();
        since_closed = 0;
      }
      since_published += n;
      if (publish_every > 0 && since_published >= publish_every) {
        Stopwatch publish;
        const auto snap = engine.snapshot();
        publish_costs.push_back(publish.seconds());
        pass_publish_seconds += publish_costs.back();
        since_published = 0;
      }
    }
    // The snapshots run on this thread: their time is taken out of both.
    const double s = watch.seconds() - pass_publish_seconds;
    apply_cpu_seconds += thread_cpu_seconds() - cpu0 - pass_publish_seconds;
    apply_seconds += s;
    applied += batch.size();
    pass_rates.push_back(double(batch.size()) / s);
  }
  const double best = *std::max_element(pass_rates.begin(), pass_rates.end());
  report.result("apply rate (all passes)", double(applied) / apply_seconds / 1e6, "M events/s",
                ">= 10 M events/s on one core");
  report.result("apply rate (best pass)", best / 1e6, "M events/s");
  report.result("apply rate per CPU-second of the thread", double(applied) / apply_cpu_seconds / 1e6, "M events/s");
  report.result("CPU share the thread got while applying", apply_cpu_seconds / apply_seconds, "");
  report.result("apply cost per event", apply_seconds / double(applied) * 1e9, "ns");
  report.result("minute rollups closed", double(rollups), "");
  if (!publish_costs.empty()) {
    double publish_seconds = 0;
    for (double c : publish_costs) publish_seconds += c;
    std::vector<double> us(publish_costs);
    for (double& c : us) c *= 1e6;
    report.result("snapshot() while applying: cost per event", publish_seconds / double(applied) * 1e9, "ns");
    report.result("snapshot() while applying: p50", percentile(us, 0.5), "us");
    report.result("snapshot() while applying: p99", percentile(us, 0.99), "us");
  }

  std::vector<double> costs;
  std::size_t events_in_snapshot = 0;
  for (int i = 0; i < snapshots; ++i) {
    Stopwatch watch;
    auto snap = engine.snapshot();
    costs.push_back(watch.seconds() * 1e6);
    events_in_snapshot = snap ? snap->events_applied : 0;
  }
  double sum = 0, max = 0;
  for (double c : costs) {
    sum += c;
    max = std::max(max, c);
  }
  report.param("snapshot() calls", static_cast<std::int64_t>(snapshots));
  report.result("snapshot() mean", sum / double(costs.size()), "us");
  report.result("snapshot() p50", percentile(costs, 0.5), "us");
  report.result("snapshot() p99", percentile(costs, 0.99), "us");
  report.result("snapshot() max", max, "us", "one per publish interval (200 ms)");
  report.result("events_applied in last snapshot", double(events_in_snapshot), "");
  // A checkpoint of this state: what the engine thread pays for one written
  // in place (windows.checkpoint_in_background = false: encode, then the
  // store's write on top) against one in the background (the fork only).
  {
    Stopwatch encode_watch;
    const std::string bytes = engine.checkpoint();
    report.result("checkpoint() in place: engine thread pause (encode only, before the write)",
                  encode_watch.seconds() * 1e3, "ms");
    report.result("checkpoint size", double(bytes.size()) / (1 << 20), "MiB");
    report_background_checkpoint(report, "engine", [&engine] { return engine.checkpoint(); }, bytes);
  }
  const WindowMemory memory = engine.memory();
  report.result("engine memory: windows", double(memory.windows) / (1 << 20), "MiB");
  report.result("engine memory: user profiles", double(memory.user_profiles) / (1 << 20), "MiB");
  report.result("engine memory: filter buffer", double(memory.filter_buffer) / (1 << 20), "MiB");
  report.result("RSS after this workload", double(rss_bytes()) / (1 << 20), "MiB");
}

void run_catalogue(Report& report, const Catalogue& cat, std::size_t events, int passes, std::size_t slice,
                   double event_rate, std::size_t closed_every, std::size_t publish_every, int snapshots) {
  report.section(fmt::format("workload: generated, {} catalogue: {} users, {} products, {} categories", cat.name,
                             cat.users, cat.products, cat.categories));
  Stopwatch gen;
  EventInterner interner;
  GeneratorConfig config = shop_config(cat.users, cat.products);
  config.categories_count = cat.categories;
  std::vector<Event> batch = make_events(config, events, kStartMs, event_rate, interner);
  const double gen_s = gen.seconds();
  report.param("events generated (ShopSimulator + interning)", static_cast<std::int64_t>(events));
  report.param("distinct users / products / categories",
               fmt::format("{} / {} / {}", interner.distinct(IdKind::user), interner.distinct(IdKind::product),
                           interner.distinct(IdKind::category)));
  report.param("event-time rate", event_rate, "events/s");
  report.result("ShopSimulator + intern rate (setup)", double(events) / gen_s / 1e6, "M events/s");
  apply_and_report(report, batch, passes, slice, closed_every, publish_every, snapshots);
}

// The amplified Taobao file (bench/workloads/amplify_taobao.py), read whole
// and interned before the timed region; `limit` > 0 keeps its first rows.
void run_taobao(Report& report, std::size_t limit, std::size_t slice, std::size_t closed_every,
                std::size_t publish_every, int snapshots) {
  const char* path = std::getenv("BENCH_TAOBAO");
  report.section("workload: amplified Taobao (BENCH_TAOBAO)");
  if (path == nullptr || !std::filesystem::exists(path)) {
    report.param("skipped", path == nullptr ? std::string("BENCH_TAOBAO is not set (bench/run_all.sh sets it when the sample exists)")
                                            : fmt::format("{} does not exist", path));
    return;
  }
  Stopwatch load;
  auto loaded = load_events(path, ImportFormat::taobao_csv);
  if (!loaded) {
    report.param("skipped", fmt::format("{} did not load: {}", path, loaded.error().detail));
    return;
  }
  std::vector<Event>& batch = loaded->events;
  if (limit > 0 && batch.size() > limit) batch.resize(limit);
  report.param("file", path);
  report.param("events read (import_file + interning, not timed)", static_cast<std::int64_t>(batch.size()));
  report.param("distinct users / products / categories",
               fmt::format("{} / {} / {}", loaded->dictionary->table(IdKind::user).size(),
                           loaded->dictionary->table(IdKind::product).size(),
                           loaded->dictionary->table(IdKind::category).size()));
  report.result("load time (setup)", load.seconds(), "s");
  report.result("dictionary memory", double(loaded->dictionary->memory_bytes()) / (1 << 20), "MiB");
  report.result("dictionary bytes per id",
                double(loaded->dictionary->memory_bytes()) /
                    double(loaded->dictionary->table(IdKind::user).size() +
                           loaded->dictionary->table(IdKind::product).size() +
                           loaded->dictionary->table(IdKind::category).size()),
                "B");
  report.result("the events themselves (not part of the engine)",
                double(batch.capacity() * sizeof(Event)) / (1 << 20), "MiB");
  apply_and_report(report, batch, 1, slice, closed_every, publish_every, snapshots);
}

}  // namespace

int main(int argc, char** argv) {
  Options opts(argc, argv);
  const auto events = static_cast<std::size_t>(opts.integer("events", 2000000, 50000));
  const int passes = static_cast<int>(opts.integer("passes", 10, 2));
  const auto slice = static_cast<std::size_t>(opts.integer("slice", 8192, 8192));
  const double event_rate = opts.number("event-rate", 100000, 100000);
  const auto closed_every = static_cast<std::size_t>(opts.integer("closed-every", 1000000, 10000));
  const int snapshots = static_cast<int>(opts.integer("snapshots", 200, 10));
  // The HTTP path's publish cadence: one snapshot per 10k-event POST.
  const auto publish_every = static_cast<std::size_t>(opts.integer("publish-every", 10000, 10000));
  const auto taobao_events = static_cast<std::size_t>(opts.integer("taobao-events", 0, 50000));
  const bool generated = opts.integer("generated", 1, 1) != 0;
  // The real-shaped generated catalogue: Taobao-sized shoppers and items, a
  // slow event clock (the amplified Taobao file has ~14 events per second).
  const auto real_events = static_cast<std::size_t>(opts.integer("real-shaped-events", 2000000, 20000));
  const double real_rate = opts.number("real-shaped-event-rate", 14, 14);
  // Two builds compared side by side: one on each cpu, at the same time.
  const auto cpu = static_cast<unsigned>(opts.integer("cpu", 0, 0));
  opts.finish();

  Report report("bench_engine", opts.quick());
  report.section("parameters");
  report.param("threads", "1 (the caller applies; no runner)");
  const bool pinned = pin_to_cpu(cpu);
  report.param(fmt::format("pinned to cpu {}", cpu), pinned ? "yes" : "no");
  if (generated) {
    run_catalogue(report, {"small", 1000, 500}, events, passes, slice, event_rate, closed_every, publish_every, snapshots);
    run_catalogue(report, {"large", 100000, 50000}, events, passes, slice, event_rate, closed_every, publish_every, snapshots);
    if (real_events > 0)
      run_catalogue(report, {"real-shaped", 3000000, 3800000, 4000}, real_events, 1, slice, real_rate, closed_every,
                    publish_every, snapshots);
  }
  run_taobao(report, taobao_events, slice, closed_every, publish_every, snapshots);
  measure_machine_limits(report, opts.quick());
  return 0;
}
