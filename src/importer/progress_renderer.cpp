#include "shoppulse/importer/progress_renderer.hpp"

#include <unistd.h>

#include <cmath>

namespace shoppulse {
namespace {

std::string human_bytes(std::uint64_t b) {
  char buf[32];
  if (b >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.2f GB", static_cast<double>(b) / (1ull << 30));
  else if (b >= (1ull << 20)) std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(b) / (1ull << 20));
  else if (b >= 1024) std::snprintf(buf, sizeof buf, "%.1f KB", static_cast<double>(b) / 1024);
  else std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
  return buf;
}

std::string human_rate(double r) {
  char buf[32];
  if (r >= 1e6) std::snprintf(buf, sizeof buf, "%.2fM", r / 1e6);
  else if (r >= 1e3) std::snprintf(buf, sizeof buf, "%.1fk", r / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f", r);
  return buf;
}

std::string clock_text(double seconds) {
  const long s = static_cast<long>(std::lround(std::max(0.0, seconds)));
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

}  // namespace

bool stream_is_terminal(std::FILE* stream) noexcept { return stream && ::isatty(::fileno(stream)) == 1; }

ProgressRenderer::ProgressRenderer(std::FILE* out, bool tty, double plain_interval_s)
    : out_(out), tty_(tty), plain_interval_s_(plain_interval_s) {}

std::string ProgressRenderer::format_line(const ImportProgress& p, bool with_bar, std::size_t bar_width) {
  std::string line;
  const bool known = p.bytes_total > 0;
  const double fraction = known ? std::min(1.0, static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total)) : 0;
  if (with_bar && known) {
    const std::size_t full = static_cast<std::size_t>(fraction * static_cast<double>(bar_width));
    line += '[';
    line.append(full, '#');
    line.append(bar_width - full, '.');
    line += "] ";
  }
  char buf[64];
  if (known) {
    std::snprintf(buf, sizeof buf, "%5.1f%% ", fraction * 100);
    line += buf;
    line += human_bytes(p.bytes_done) + "/" + human_bytes(p.bytes_total);
  } else {
    line += human_bytes(p.bytes_done);
  }
  line += "  " + std::to_string(p.events) + " events";
  if (p.bad_lines) line += ", " + std::to_string(p.bad_lines) + " bad lines";
  line += "  " + human_rate(p.events_per_s) + " ev/s";
  if (p.finished) {
    line += "  done in " + clock_text(p.elapsed_s);
  } else if (known && fraction > 0 && p.elapsed_s > 0) {
    line += "  ETA " + clock_text(p.elapsed_s * (1 - fraction) / fraction);
  }
  return line;
}

void ProgressRenderer::operator()(const ImportProgress& p) {
  if (!out_) return;
  if (tty_) {
    // "\x1b[K" clears what a longer previous line left behind.
    std::fprintf(out_, "\r%s\x1b[K%s", format_line(p, true).c_str(), p.finished ? "\n" : "");
    std::fflush(out_);
    return;
  }
  if (!p.finished && p.elapsed_s - last_plain_s_ < plain_interval_s_) return;
  last_plain_s_ = p.elapsed_s;
  std::fprintf(out_, "import: %s\n", format_line(p, false).c_str());
  std::fflush(out_);
}

}  // namespace shoppulse
