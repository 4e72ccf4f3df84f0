#include "common/background_probe.hpp"

#include <fmt/core.h>

#include "shoppulse/core/background_encoding.hpp"

namespace shoppulse::bench {

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
}

}  // namespace shoppulse::bench
