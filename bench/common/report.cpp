#include "common/report.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common/system_probe.hpp"

namespace shoppulse::bench {
namespace {

constexpr int kNameWidth = 44;

std::string format_value(double v) {
  const double a = std::fabs(v);
  if (a >= 1000 || v == std::floor(v)) return fmt::format("{:.0f}", v);
  if (a >= 100) return fmt::format("{:.1f}", v);
  if (a >= 1) return fmt::format("{:.2f}", v);
  return fmt::format("{:.3g}", v);
}

}  // namespace

Report::Report(std::string_view benchmark, bool quick)
    : benchmark_(benchmark), started_(std::chrono::steady_clock::now()) {
  fmt::print("==== {} ({} run) ====\n", benchmark, quick ? "quick" : "full");
  fmt::print("  {:<{}} {} cpus, {}\n", "machine", kNameWidth, online_cpus(), cpu_model());
  fmt::print("  {:<{}} {}\n", "load average at start (1/5/15 min)", kNameWidth, load_average());
  std::fflush(stdout);
}

Report::~Report() {
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  const double cpu = process_cpu_seconds();
  fmt::print("  {:<{}} {:.1f} s wall, {:.1f} s CPU ({:.2f} of {} cpus)\n", "whole run", kNameWidth, wall, cpu,
             wall > 0 ? cpu / wall : 0.0, online_cpus());
  fmt::print("  {:<{}} {}\n", "load average at end (1/5/15 min)", kNameWidth, load_average());
  fmt::print("==== end {} ====\n\n", benchmark_);
  std::fflush(stdout);
}

void Report::section(std::string_view title) {
  fmt::print("-- {}\n", title);
  std::fflush(stdout);
}

void Report::param(std::string_view name, std::string_view value) {
  fmt::print("  param  {:<{}} {}\n", name, kNameWidth - 7, value);
}

void Report::param(std::string_view name, std::int64_t value) { param(name, std::string_view(fmt::format("{}", value))); }

void Report::param(std::string_view name, double value, std::string_view unit) {
  std::string text = format_value(value);
  if (!unit.empty()) text.append(" ").append(unit);
  param(name, std::string_view(text));
}

void Report::result(std::string_view name, double value, std::string_view unit, std::string_view target) {
  std::string text = format_value(value);
  if (!unit.empty()) text.append(" ").append(unit);
  if (target.empty()) fmt::print("  {:<{}} {}\n", name, kNameWidth, text);
  else fmt::print("  {:<{}} {:<24} target {}\n", name, kNameWidth, text, target);
  std::fflush(stdout);
}

void Report::note(std::string_view text) {
  fmt::print("  note: {}\n", text);
  std::fflush(stdout);
}

double percentile(std::vector<double>& values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double rank = p * double(values.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(rank));
  const auto hi = std::min(lo + 1, values.size() - 1);
  const double frac = rank - double(lo);
  return values[lo] * (1 - frac) + values[hi] * frac;
}

}  // namespace shoppulse::bench
