// bench_ring: SpscRing<Event> hand-off between two threads (producer pinned
// to cpu 0, consumer to cpu 1), pushing and popping in batches of 1, 64 and
// 1024 events. The consumer checks that sequences arrive complete and in
// order, so a fast but wrong ring cannot report a figure.
#include <fmt/core.h>

#include <atomic>
#include <thread>
#include <vector>

#include "common/machine_limits.hpp"
#include "common/options.hpp"
#include "common/report.hpp"
#include "common/system_probe.hpp"
#include "shoppulse/core/event.hpp"
#include "shoppulse/ring/spsc_ring.hpp"

using namespace shoppulse;
using namespace shoppulse::bench;

namespace {

struct RingRun {
  double seconds = 0;
  std::uint64_t events = 0;  // handed over
  std::uint64_t producer_spins = 0;  // push_some calls that moved nothing (ring full)
  std::uint64_t consumer_spins = 0;  // pop_some calls that moved nothing (ring empty)
  bool in_order = true;
};

// Hands over up to `events` events, stopping early after max_seconds; the
// consumer learns the final count from `total` once the producer is done.
RingRun run(std::size_t capacity, std::size_t batch, std::uint64_t events, double max_seconds, bool pin) {
  SpscRing<Event> ring(capacity);
  RingRun result;
  std::atomic<bool> go{false};
  std::atomic<std::uint64_t> total{~std::uint64_t{0}};
  std::thread consumer([&] {
    if (pin) pin_to_cpu(1);
    std::vector<Event> out(batch);
    std::uint64_t expected = 1, spins = 0;
    bool in_order = true;
    while (!go.load(std::memory_order_acquire)) {
    }
    for (;;) {
      const std::size_t n = ring.pop_some(out);
      if (n == 0) {
        // acquire: pairs with the producer's release store after its last push.
        if (expected > total.load(std::memory_order_acquire)) break;
        ++spins;
        continue;
      }
      for (std::size_t i = 0; i < n; ++i) in_order &= out[i].sequence == expected + i;
      expected += n;
    }
    result.consumer_spins = spins;
    result.in_order = in_order;
  });
  if (pin) pin_to_cpu(0);
  std::vector<Event> in(batch);
  for (std::size_t i = 0; i < batch; ++i) {
    in[i].time_ms = 1700000000000;
    in[i].user = static_cast<Id>(i + 1);
  }
  std::uint64_t next = 1, spins = 0;
  go.store(true, std::memory_order_release);
  Stopwatch watch;
  while (next <= events && ((next & 0xffff) > batch || watch.seconds() < max_seconds)) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(batch, events - next + 1));
    for (std::size_t i = 0; i < want; ++i) in[i].sequence = next + i;
    std::size_t done = 0;
    while (done < want) {
      const std::size_t n = ring.push_some(std::span<const Event>(in.data() + done, want - done));
      if (n == 0) ++spins;
      done += n;
    }
    next += want;
  }
  result.events = next - 1;
  total.store(next - 1, std::memory_order_release);
  consumer.join();
  result.seconds = watch.seconds();
  result.producer_spins = spins;
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  Options opts(argc, argv);
  const auto capacity = static_cast<std::size_t>(opts.integer("capacity", 1 << 16, 1 << 16));
  const auto events_single = static_cast<std::uint64_t>(opts.integer("events-single", 20000000, 200000));
  const auto events_batched = static_cast<std::uint64_t>(opts.integer("events-batched", 200000000, 2000000));
  const int repeats = static_cast<int>(opts.integer("repeats", 3, 1));
  const double max_seconds = opts.number("max-seconds", 2, 0.2);
  opts.finish();

  Report report("bench_ring", opts.quick());
  report.section("parameters");
  const bool pin = online_cpus() >= 2;
  report.param("threads", "2 (producer, consumer)");
  report.param("pinned", pin ? "producer cpu 0, consumer cpu 1" : "no (one cpu)");
  report.param("ring capacity", static_cast<std::int64_t>(SpscRing<Event>(capacity).capacity()));
  report.param("item", fmt::format("shoppulse::Event, {} bytes", sizeof(Event)));
  report.param("events per run (batch 1)", static_cast<std::int64_t>(events_single));
  report.param("events per run (batch 64, 1024)", static_cast<std::int64_t>(events_batched));
  report.param("runs per batch size (best reported)", static_cast<std::int64_t>(repeats));
  report.param("a run stops early after", max_seconds, "s");

  for (std::size_t batch : {std::size_t{1}, std::size_t{64}, std::size_t{1024}}) {
    report.section(fmt::format("batch {}", batch));
    const std::uint64_t events = batch == 1 ? events_single : events_batched;
    RingRun best;
    bool all_in_order = true;
    for (int r = 0; r < repeats; ++r) {
      RingRun one = run(capacity, batch, events, max_seconds, pin);
      all_in_order &= one.in_order;
      if (best.seconds == 0 || double(one.events) / one.seconds > double(best.events) / best.seconds) best = one;
    }
    report.result("events handed over (best run)", double(best.events), "");
    report.result("hand-off rate", double(best.events) / best.seconds / 1e6, "M events/s",
                  batch == 1 ? "(per-item reference)" : ">= 50 M events/s");
    report.result("hand-off bandwidth", double(best.events * sizeof(Event)) / best.seconds / 1e9, "GB/s");
    report.result("producer found ring full", double(best.producer_spins), "times");
    report.result("consumer found ring empty", double(best.consumer_spins), "times");
    report.result("sequences complete and in order", all_in_order ? 1 : 0, all_in_order ? "(yes)" : "(NO)");
  }
  measure_machine_limits(report, opts.quick());
  return 0;
}
