#include "shoppulse/core/log.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <mutex>

#include "shoppulse/core/clock.hpp"
#include "shoppulse/core/json_text.hpp"
#include "shoppulse/core/time_format.hpp"

namespace shoppulse {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::info)};
std::atomic<int> g_format{static_cast<int>(LogFormat::logfmt)};

constexpr std::size_t kRecentLines = 200;
std::mutex g_mutex;  // serialises writes to stderr and the recent-lines buffer
std::deque<std::string> g_recent;

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warning: return "warning";
    case LogLevel::error: return "error";
    case LogLevel::critical: return "critical";
  }
  return "info";
}

void json_escape(std::string& out, std::string_view s) { append_json_escaped(out, s); }

void logfmt_value(std::string& out, std::string_view s) {
  const bool quote = s.empty() || s.find_first_of(" =\"\t\n") != std::string_view::npos;
  if (!quote) {
    out += s;
    return;
  }
  out += '"';
  json_escape(out, s);
  out += '"';
}

}  // namespace

bool parse_log_level(std::string_view text, LogLevel& out) noexcept {
  std::string lower;
  for (const char c : text) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (lower == "debug") out = LogLevel::debug;
  else if (lower == "info") out = LogLevel::info;
  else if (lower == "warning" || lower == "warn") out = LogLevel::warning;
  else if (lower == "error") out = LogLevel::error;
  else if (lower == "critical") out = LogLevel::critical;
  else return false;
  return true;
}

void set_log_level(LogLevel level) noexcept { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }
void set_log_format(LogFormat format) noexcept { g_format.store(static_cast<int>(format), std::memory_order_relaxed); }

bool Logger::enabled(LogLevel level) const noexcept {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

void Logger::log(LogLevel level, std::string_view message, std::initializer_list<Field> fields) const {
  if (!enabled(level)) return;
  const std::string ts = format_iso8601(SystemClock{}.now_ms());
  std::string line;
  if (static_cast<LogFormat>(g_format.load(std::memory_order_relaxed)) == LogFormat::json) {
    line = fmt::format("{{\"ts\":\"{}\",\"level\":\"{}\",\"module\":\"", ts, level_name(level));
    json_escape(line, module_);
    line += "\",\"msg\":\"";
    json_escape(line, message);
    line += '"';
    for (const auto& [k, v] : fields) {
      line += ",\"";
      json_escape(line, k);
      line += "\":\"";
      json_escape(line, v);
      line += '"';
    }
    line += '}';
  } else {
    line = fmt::format("ts={} level={} module={} msg=", ts, level_name(level), module_);
    logfmt_value(line, message);
    for (const auto& [k, v] : fields) {
      line += ' ';
      line += k;
      line += '=';
      logfmt_value(line, v);
    }
  }
  std::lock_guard lock(g_mutex);
  std::fprintf(stderr, "%s\n", line.c_str());
  g_recent.push_back(std::move(line));
  if (g_recent.size() > kRecentLines) g_recent.pop_front();
}

std::vector<std::string> recent_log_lines(std::size_t max) {
  std::lock_guard lock(g_mutex);
  const std::size_t n = std::min(max, g_recent.size());
  return {g_recent.end() - static_cast<std::ptrdiff_t>(n), g_recent.end()};
}

}  // namespace shoppulse
