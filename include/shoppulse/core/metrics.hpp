#pragma once
// Process metrics in Prometheus text format. Counters and histograms are
// registered once at start-up and updated lock-free from any thread.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace shoppulse {

class Counter {
 public:
  void add(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// Fixed-bucket latency histogram in seconds. The bounds around 10 ms and
// 100 ms are closer together: the event path's freshness is judged there.
class Histogram {
 public:
  static constexpr std::array<double, 16> kBounds{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01,
                                                  0.025,  0.05,    0.075,  0.1,   0.25,   0.5,   1.0,    2.5};
  void observe(double seconds) noexcept;
  void observe(std::chrono::steady_clock::duration d) noexcept { observe(std::chrono::duration<double>(d).count()); }
  // The time from `began` until now.
  void observe_since(std::chrono::steady_clock::time_point began) noexcept {
    observe(std::chrono::steady_clock::now() - began);
  }
  std::array<std::uint64_t, kBounds.size() + 1> buckets() const noexcept;  // non-cumulative; last = +Inf
  double sum() const noexcept;
  std::uint64_t count() const noexcept;

 private:
  std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> buckets_{};
  std::atomic<std::uint64_t> sum_ns_{0};
};

class MetricsRegistry {
 public:
  // Registration happens at start-up (not on hot paths); returned references
  // stay valid for the registry's life. Labels are rendered verbatim, e.g.
  // R"(type="view")".
  Counter& counter(const std::string& name, const std::string& help, const std::string& labels = {});
  Histogram& histogram(const std::string& name, const std::string& help, const std::string& labels = {});
  // A value read at render time.
  void gauge(const std::string& name, const std::string& help, std::function<double()> read,
             const std::string& labels = {});
  // A monotonic total kept elsewhere (a component's own stats), read at
  // render time and described to Prometheus as a counter.
  void counter_read(const std::string& name, const std::string& help, std::function<double()> read,
                    const std::string& labels = {});

  std::string render_prometheus() const;

 private:
  struct Entry {
    std::string name, help, labels;
    enum class Kind { counter, histogram, gauge, counter_read } kind;
    Counter* counter = nullptr;
    Histogram* histogram = nullptr;
    std::function<double()> read;
  };
  mutable std::mutex mutex_;
  std::deque<Counter> counters_;
  std::deque<Histogram> histograms_;
  std::vector<Entry> entries_;
};

}  // namespace shoppulse
