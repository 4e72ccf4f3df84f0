#pragma once
// What every benchmark prints: a header naming the run and the machine, its
// parameters, its results beside their targets, and notes. One line per
// figure, `name  value unit  [target ...]`, so runs diff and grep well.
// Targets are printed, never asserted.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shoppulse::bench {

class Report {
 public:
  // Prints the header: benchmark, full or quick run, CPUs, load average.
  Report(std::string_view benchmark, bool quick);
  // Prints the load average again, so a disturbed run is visible.
  ~Report();
  Report(const Report&) = delete;
  Report& operator=(const Report&) = delete;

  void section(std::string_view title);
  void param(std::string_view name, std::string_view value);
  void param(std::string_view name, std::int64_t value);
  void param(std::string_view name, double value, std::string_view unit = {});
  // value in unit; target is free text such as ">= 10 M events/s".
  void result(std::string_view name, double value, std::string_view unit, std::string_view target = {});
  void note(std::string_view text);

 private:
  std::string benchmark_;
  std::chrono::steady_clock::time_point started_;
};

// Monotonic elapsed time since construction or the last restart().
class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  void restart() { start_ = std::chrono::steady_clock::now(); }
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

// p in [0, 1]; sorts values. 0 for an empty vector.
double percentile(std::vector<double>& values, double p);

}  // namespace shoppulse::bench
