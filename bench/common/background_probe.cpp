#include "common/background_probe.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>

#include <fmt/core.h>

#include "common/system_probe.hpp"
#include "shoppulse/core/background_encoding.hpp"
#include "shoppulse/eventlog/rocksdb_store.hpp"

namespace shoppulse::bench {
namespace {

// Resets the kernel's peak-RSS mark (VmHWM) to the current RSS.
bool reset_peak_rss() {
  const int fd = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, "5", 1) == 1;
  ::close(fd);
  return ok;
}

// VmHWM of /proc/self/status, bytes.
std::uint64_t peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "VmHWM:") {
      std::uint64_t kib = 0;
      status >> kib;
      return kib * 1024;
    }
    status.ignore(1 << 12, '\n');
  }
  return 0;
}

}  // namespace

void report_background_checkpoint(Report& report, std::string_view thread,
                                  const std::function<std::string()>& encode, const std::string& in_place) {
  BackgroundEncoding background;
  Stopwatch fork_watch;
  const auto started = background.start(encode);
  const double pause_ms = fork_watch.seconds() * 1e3;
  if (!started) {
    report.note("background checkpoint: fork failed: " + started.error().detail);
    return;
  }
  report.result(fmt::format("background checkpoint: {} thread pause (fork)", thread), pause_ms, "ms", "<= 50 ms");
  Stopwatch child_watch;
  const auto from_child = background.finish();
  report.result("background checkpoint: bytes ready after the fork (child encodes)", child_watch.seconds() * 1e3,
                "ms");
  report.result("background checkpoint equals checkpoint() (1 = yes)",
                from_child && from_child.value() == in_place ? 1 : 0, "");

  // What the writer thread holds while it stores the child's bytes into a
  // RocksDB store (the server's default): streamed part by part from the
  // pipe (put_checkpoint_from, what the runners do), against taken whole
  // from the pipe and then stored (put_checkpoint).
  TempDir dir("shoppulse-bench-checkpoint");
  EventLogConfig config;
  config.data_dir = dir.path().string();
  auto store = open_rocksdb_store(config);
  if (!store) {
    report.note("background checkpoint store: " + store.error().detail);
    return;
  }
  for (const bool streamed : {true, false}) {
    const char* how = streamed ? "streamed from the child in parts" : "read whole, then stored";
    if (!background.start(encode)) return;
    const bool reset = reset_peak_rss();
    const std::uint64_t before = rss_bytes();
    Stopwatch store_watch;
    Result<void> stored;
    if (streamed) {
      stored = background.finish([&](std::uint64_t size, const BackgroundEncoding::Read& read) {
        return (*store)->put_checkpoint_from("probe", 1, 0, size, read);
      });
    } else {
      auto bytes = background.finish();
      stored = bytes ? (*store)->put_checkpoint("probe", Checkpoint{1, std::move(bytes).value(), 0})
                     : Result<void>(bytes.error());
    }
    const double seconds = store_watch.seconds();
    if (!stored) {
      report.note(fmt::format("background checkpoint store ({}): {}", how, stored.error().detail));
      continue;
    }
    report.result(fmt::format("background checkpoint stored, {}: child encodes, writer stores", how), seconds * 1e3,
                  "ms");
    if (reset) {
      const std::uint64_t peak = peak_rss_bytes();
      report.result(fmt::format("background checkpoint stored, {}: writer's peak RSS growth", how),
                    double(peak > before ? peak - before : 0) / (1 << 20), "MiB");
    }
  }
  auto back = (*store)->get_checkpoint("probe");
  report.result("background checkpoint read back equals checkpoint() (1 = yes)",
                back && *back && (*back)->bytes == in_place ? 1 : 0, "");
}

}  // namespace shoppulse::bench
