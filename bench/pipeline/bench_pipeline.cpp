// bench_pipeline: the in-process data path without HTTP.
//   ShopSimulator batches -> Ingestor (RocksDB event log) -> ring -> EngineRunner
// Phase 1, durability "process": sustained rate over --seconds, then keeps
// feeding until --rss-events to show resident memory bounded by config.
// Phase 2, restart: a new EngineRunner over the same store, (a) from its
// checkpoint, (b) with no checkpoint, replaying the whole log.
// Phase 3, durability "fsync": sustained rate over --seconds.
//
// The simulator is slower than the pipeline, so a pool of simulated events
// is generated up front and copied batch by batch (fresh vectors, like a
// parsed request), each copy re-stamped with the wall clock.
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "common/machine_limits.hpp"
#include "common/options.hpp"
#include "common/report.hpp"
#include "common/system_probe.hpp"
#include "common/workload.hpp"
#include "shoppulse/core/clock.hpp"
#include "shoppulse/core/dictionary.hpp"
#include "shoppulse/core/log.hpp"
#include "shoppulse/core/metrics.hpp"
#include "shoppulse/eventlog/memory_store.hpp"
#include "shoppulse/eventlog/rocksdb_store.hpp"
#include "shoppulse/ingest/ingestor.hpp"
#include "shoppulse/ring/spsc_ring.hpp"
#include "shoppulse/windows/engine_runner.hpp"

using namespace shoppulse;
using namespace shoppulse::bench;
using namespace std::chrono_literals;

namespace {

struct Params {
  double seconds = 5;
  std::uint64_t rss_events = 0;  // keep feeding phase 1 until this many; 0 = no extra feeding
  std::size_t batch = 10000;
  std::size_t pool_events = 200000;
  std::size_t ring_capacity = 1 << 20;
};

// The pool of simulated events and the producer loop that feeds an Ingestor.
class Feeder {
 public:
  Feeder(const std::vector<RawEvent>& pool, std::size_t batch, const Clock& clock)
      : pool_(pool), batch_(batch), clock_(clock), last_ms_(clock.now_ms()) {}

  // Submits one batch, retrying while the ingestor says overloaded.
  bool submit_one(Ingestor& ingestor) {
    const std::size_t n = std::min(batch_, pool_.size() - offset_);
    std::vector<RawEvent> events(pool_.begin() + static_cast<std::ptrdiff_t>(offset_),
                                 pool_.begin() + static_cast<std::ptrdiff_t>(offset_ + n));
    offset_ = (offset_ + n) % pool_.size();
    const TimestampMs now = clock_.now_ms();
    const TimestampMs span = std::max<TimestampMs>(now - last_ms_, 0);
    for (std::size_t i = 0; i < n; ++i)
      events[i].time_ms = last_ms_ + span * static_cast<TimestampMs>(i) / static_cast<TimestampMs>(n);
    last_ms_ = now;
    for (;;) {
      auto r = ingestor.submit(std::move(events), {});
      if (r) break;
      if (r.error().code != Errc::overloaded) return false;
      ++refusals_;
      std::this_thread::sleep_for(200us);  // submit() leaves a refused batch with us
    }
    submitted_ += n;
    return true;
  }

  std::uint64_t submitted() const noexcept { return submitted_; }
  std::uint64_t refusals() const noexcept { return refusals_; }

 private:
  const std::vector<RawEvent>& pool_;
  const std::size_t batch_;
  const Clock& clock_;
  std::size_t offset_ = 0;
  TimestampMs last_ms_;
  std::uint64_t submitted_ = 0;
  std::uint64_t refusals_ = 0;
};

// Storage, dictionary, ring, ingestor and runner wired as the application does.
struct Pipeline {
  SystemClock clock;
  MetricsRegistry metrics;
  std::unique_ptr<Storage> storage;
  Dictionary dictionary;
  std::unique_ptr<SpscRing<Event>> ring;
  std::unique_ptr<EngineRunner> engine;
  std::unique_ptr<Ingestor> ingestor;

  bool open(const std::string& dir, Durability durability, std::size_t ring_capacity, std::string& error) {
    EventLogConfig cfg;
    cfg.data_dir = dir;
    cfg.durability = durability;
    auto opened = open_rocksdb_store(cfg);
    if (!opened) {
      error = opened.error().detail;
      return false;
    }
    storage = std::move(opened).value();
    if (auto r = load_dictionary(*storage, dictionary); !r) {
      error = r.error().detail;
      return false;
    }
    ring = std::make_unique<SpscRing<Event>>(ring_capacity);
    engine = std::make_unique<EngineRunner>(WindowConfig{}, EngineRunnerConfig{}, *ring, *storage, *storage, *storage,
                                            clock, metrics);
    ingestor = std::make_unique<Ingestor>(IngestConfig{}, *storage, dictionary, *ring, clock, metrics);
    engine->start();
    if (auto r = ingestor->start(); !r) {
      error = r.error().detail;
      return false;
    }
    return true;
  }

  void stop() {
    if (ingestor) ingestor->stop();
    if (engine) engine->stop();
  }
};

// Waits until the engine has applied every event the ingestor logged;
// returns false on timeout. (By sequence, not by a count of live events: an
// engine thread that starts late picks the first events up by replaying the
// log, and those never count as live.)
bool wait_applied(EngineRunner& engine, const Ingestor& ingestor, std::uint64_t fed, double timeout_s) {
  Stopwatch watch;
  while (ingestor.stats().appended_events < fed || engine.stats().applied_through < ingestor.stats().last_sequence) {
    if (watch.seconds() > timeout_s) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

void sustained(Report& report, const char* title, Durability durability, const Params& p,
               const std::vector<RawEvent>& pool, TempDir& dir, std::uint64_t rss_events, const char* target) {
  report.section(title);
  Pipeline pipe;
  std::string error;
  const double rss_before = double(rss_bytes()) / (1 << 20);
  if (!pipe.open(dir.path().string(), durability, p.ring_capacity, error)) {
    report.note("open failed: " + error);
    return;
  }
  Feeder feeder(pool, p.batch, pipe.clock);
  Stopwatch watch;
  const double cpu0 = process_cpu_seconds();
  bool ok = true;
  while (ok && watch.seconds() < p.seconds) ok = feeder.submit_one(*pipe.ingestor);
  const double fed_s = watch.seconds();
  const std::uint64_t fed = feeder.submitted();
  const bool drained = wait_applied(*pipe.engine, *pipe.ingestor, fed, 120);
  const double total_s = watch.seconds();
  const double cpu = process_cpu_seconds() - cpu0;
  const IngestStats is = pipe.ingestor->stats();
  report.result("events submitted in the timed window", double(fed), "");
  report.result("submit rate (producer, queue-limited)", double(fed) / fed_s / 1e6, "M events/s");
  report.result("end-to-end rate (logged and applied)", double(fed) / total_s / 1e6, "M events/s", target);
  report.result("drain after the window", total_s - fed_s, "s");
  report.result("group commits", double(is.appends), "");
  report.result("mean events per group commit", is.appends ? double(is.appended_events) / double(is.appends) : 0, "");
  report.result("submits refused (queue full), retried", double(feeder.refusals()), "");
  report.result("append failures", double(is.append_failures), "");
  report.result("process CPU / wall during the window", cpu / total_s, "cpus");
  if (!ok) report.note("a submit failed with an error other than overloaded");
  if (!drained) report.note("the engine did not apply every event within 120 s");

  if (rss_events > 0) {
    // Memory: resident set after 1M events and after rss_events.
    std::vector<std::uint64_t> marks{1000000};
    if (rss_events > 1000000) marks.push_back(rss_events);
    report.param("resident set before opening the pipeline", rss_before, "MiB");
    for (std::uint64_t mark : marks) {
      while (ok && feeder.submitted() < mark) ok = feeder.submit_one(*pipe.ingestor);
      wait_applied(*pipe.engine, *pipe.ingestor, feeder.submitted(), 300);
      report.result(fmt::format("RSS after {} events", feeder.submitted()), double(rss_bytes()) / (1 << 20), "MiB",
                    "bounded by config");
    }
    const double all_s = watch.seconds();
    report.result(fmt::format("end-to-end rate over all {} events", feeder.submitted()),
                  double(feeder.submitted()) / all_s / 1e6, "M events/s");
    report.result("event log on disk", double(dir.bytes_on_disk()) / (1 << 20), "MiB");
  }
  pipe.stop();
}

void restart(Report& report, TempDir& dir, const Params& p) {
  report.section("restart over the phase-1 log");
  SystemClock clock;
  EventLogConfig cfg;
  cfg.data_dir = dir.path().string();
  auto opened = open_rocksdb_store(cfg);
  if (!opened) {
    report.note("reopen failed: " + opened.error().detail);
    return;
  }
  std::unique_ptr<Storage> storage = std::move(opened).value();
  report.result("events in the log", double(storage->stats().last_sequence), "");
  auto run = [&](const char* label, CheckpointStore& checkpoints, RollupStore& rollups, const char* target) {
    MetricsRegistry metrics;
    SpscRing<Event> ring(p.ring_capacity);
    Stopwatch watch;
    EngineRunner engine(WindowConfig{}, EngineRunnerConfig{}, ring, *storage, rollups, checkpoints, clock, metrics);
    engine.start();
    EngineStats st;
    while ((st = engine.stats()).state != "running") {
      if (st.state == "failed" || watch.seconds() > 300) break;
      std::this_thread::sleep_for(1ms);
    }
    const double s = watch.seconds();
    report.result(fmt::format("{}: time until running", label), s, "s");
    report.result(fmt::format("{}: replayed events", label), double(st.replayed_events), "");
    if (st.replayed_events > 0)
      report.result(fmt::format("{}: replay rate", label), double(st.replayed_events) / s / 1e6, "M events/s", target);
    if (st.state != "running") report.note(fmt::format("{}: ended in state {} ({})", label, st.state, st.last_error));
    engine.stop();
  };
  run("from checkpoint", *storage, *storage, "");
  // No checkpoint: the runner rebuilds every window from the whole log.
  auto empty = make_memory_store();
  run("full replay (no checkpoint)", *empty, *empty, ">= 2 M events/s");
}

}  // namespace

int main(int argc, char** argv) {
  Options opts(argc, argv);
  Params p;
  p.seconds = opts.number("seconds", 5, 0.5);
  p.rss_events = static_cast<std::uint64_t>(opts.integer("rss-events", 20000000, 1000000));
  p.batch = static_cast<std::size_t>(opts.integer("batch", 10000, 10000));
  p.pool_events = static_cast<std::size_t>(opts.integer("pool-events", 200000, 20000));
  const auto users = static_cast<std::size_t>(opts.integer("users", 1000, 1000));
  const auto products = static_cast<std::size_t>(opts.integer("products", 500, 500));
  opts.finish();
  set_log_level(LogLevel::warning);  // the components' info lines would interleave with the report

  Report report("bench_pipeline", opts.quick());
  report.section("parameters");
  report.param("threads", "producer (main), ingest, engine");
  report.param("catalogue", fmt::format("{} users, {} products", users, products));
  report.param("events per submitted batch", static_cast<std::int64_t>(p.batch));
  report.param("simulated event pool (copied per batch)", static_cast<std::int64_t>(p.pool_events));
  report.param("timed window per durability", p.seconds, "s");
  report.param("phase 1 keeps feeding until (for RSS)", static_cast<std::int64_t>(p.rss_events));
  report.param("ring capacity", static_cast<std::int64_t>(p.ring_capacity));
  report.param("ingest / window / runner / log config", "library defaults (IngestConfig{}, WindowConfig{}, ...)");
  report.param("data dir", "fresh temp dir per durability, on the system temp filesystem");

  ShopSimulator simulator(shop_config(users, products));
  Stopwatch gen;
  const std::vector<RawEvent> pool = make_raw_events(simulator, p.pool_events, SystemClock().now_ms(), 100000);
  report.result("pool generation (ShopSimulator)", double(p.pool_events) / gen.seconds() / 1e6, "M events/s");

  {
    TempDir dir("shoppulse-bench-pipeline");
    sustained(report, "durability process (WAL, no fsync)", Durability::process, p, pool, dir, p.rss_events,
              ">= 1 M events/s");
    restart(report, dir, p);
  }
  {
    TempDir dir("shoppulse-bench-pipeline-fsync");
    sustained(report, "durability fsync (WAL fsync per group commit)", Durability::fsync, p, pool, dir, 0,
              ">= 250 k events/s = 0.25 M");
  }
  measure_machine_limits(report, opts.quick());
  return 0;
}
