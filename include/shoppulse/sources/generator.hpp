#pragma once
// The in-process event generator: simulated shoppers walking the funnel.
//
// Role: produces RawEvent batches at a configured rate and hands them to a
// sink (the ingestor). Lifecycle: start() spawns its thread, stop() joins it;
// restartable. A failure on the thread (an exception from the sink or the
// simulator) is counted and the thread restarts itself after a backoff that
// doubles up to 30 s; the batch in hand is kept and delivered first. Threading: its own thread; start/stop/stats from any thread.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "shoppulse/core/clock.hpp"
#include "shoppulse/core/steady_time.hpp"
#include "shoppulse/core/event.hpp"
#include "shoppulse/core/result.hpp"

namespace shoppulse {

// Mirrors the seed's DATA_GENERATOR_CONFIG, with the seed's defaults.
struct GeneratorConfig {
  double events_per_second = 10;  // target rate; events/s
  std::size_t batch_size = 50;    // events per hand-off (smaller batches when the rate is low)
  std::size_t users_count = 1000;
  std::size_t products_count = 500;
  std::size_t categories_count = 20;
  // Relative weights of event types for the funnel walk; keys are event types.
  std::vector<std::pair<std::string, double>> behavior_patterns{
      {"view", 0.6}, {"click", 0.25}, {"add_to_cart", 0.1}, {"purchase", 0.04}, {"rate", 0.01}};
  double price_min = 10.0;  // price_range.min; currency units
  double price_max = 1000.0;  // price_range.max; currency units
  std::vector<std::string> devices{"mobile", "desktop", "tablet"};
  std::vector<std::string> locations{"北京", "上海", "深圳", "杭州", "广州"};
  std::uint64_t seed = 42;  // same seed, same catalogue and shoppers
};

// Deterministic event model without timing: same config + same start time,
// same events. The generator thread paces it; benchmarks call it directly.
class ShopSimulator {
 public:
  explicit ShopSimulator(const GeneratorConfig& config);
  ~ShopSimulator();
  ShopSimulator(ShopSimulator&&) noexcept;
  // Appends n events with timestamps spread evenly over [from_ms, to_ms).
  void next(std::size_t n, TimestampMs from_ms, TimestampMs to_ms, std::vector<RawEvent>& out);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Accepts a batch; returns overloaded/unavailable when it cannot take it now
// (the generator then waits and retries the same batch: nothing is dropped).
using GeneratorSink = std::function<Result<void>(std::vector<RawEvent>&&)>;

struct GeneratorStats {
  bool running = false;
  std::uint64_t events_generated = 0;
  std::uint64_t batches_refused = 0;  // times the sink pushed back
  std::uint64_t failures = 0;         // times the generator thread failed (an exception escaped)
  std::uint64_t restarts = 0;         // automatic restarts after a failure, with backoff
  std::string last_error;
};

class Generator {
 public:
  // clock stamps the events; time paces them (and times backoffs).
  Generator(GeneratorConfig config, GeneratorSink sink, const Clock& clock,
            SteadyTime& time = system_steady_time());
  ~Generator();
  void start();
  void stop();
  GeneratorStats stats() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

Result<void> validate(const GeneratorConfig& config);  // invalid_argument naming the key

}  // namespace shoppulse
