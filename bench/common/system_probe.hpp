#pragma once
// What benchmarks read from and ask of the operating system (Linux).
#include <cstdint>
#include <filesystem>
#include <string>

#include "shoppulse/core/steady_time.hpp"

namespace shoppulse::bench {

unsigned online_cpus();
std::string cpu_model();      // "model name" of /proc/cpuinfo, or "unknown"
std::string load_average();   // the three figures of /proc/loadavg
std::uint64_t rss_bytes();    // resident set, from /proc/self/statm
double process_cpu_seconds(); // user + system time of every thread so far
using shoppulse::thread_cpu_seconds;  // CPU time of the calling thread so far (core)

// Raises the soft RLIMIT_NOFILE to at least `wanted` (up to the hard limit);
// returns the soft limit now in force.
std::uint64_t raise_fd_limit(std::uint64_t wanted);

// Pins the calling thread to one CPU; false when the kernel refuses.
bool pin_to_cpu(unsigned cpu);

// A fresh directory under the system temp dir, removed with its contents on
// destruction. Lifecycle: owned by the benchmark's main thread.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }
  std::uint64_t bytes_on_disk() const;

 private:
  std::filesystem::path path_;
};

}  // namespace shoppulse::bench
