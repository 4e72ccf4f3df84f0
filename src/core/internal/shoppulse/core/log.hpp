#pragma once
// Structured diagnostics: one Logger per module, JSON lines or logfmt on stderr.
// Check enabled() before formatting; never log on the per-event path.
#include <atomic>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shoppulse {

enum class LogLevel { debug = 0, info = 1, warning = 2, error = 3, critical = 4 };
enum class LogFormat { logfmt, json };

bool parse_log_level(std::string_view text, LogLevel& out) noexcept;  // case-insensitive; DEBUG..CRITICAL, WARN
void set_log_level(LogLevel level) noexcept;
void set_log_format(LogFormat format) noexcept;

// Keeps the last lines written, for the dashboard's "recent log lines".
std::vector<std::string> recent_log_lines(std::size_t max);

class Logger {
 public:
  using Field = std::pair<std::string_view, std::string>;
  explicit Logger(std::string_view module) : module_(module) {}
  bool enabled(LogLevel level) const noexcept;
  void log(LogLevel level, std::string_view message, std::initializer_list<Field> fields = {}) const;
  void info(std::string_view m, std::initializer_list<Field> f = {}) const { log(LogLevel::info, m, f); }
  void warn(std::string_view m, std::initializer_list<Field> f = {}) const { log(LogLevel::warning, m, f); }
  void error(std::string_view m, std::initializer_list<Field> f = {}) const { log(LogLevel::error, m, f); }
  void debug(std::string_view m, std::initializer_list<Field> f = {}) const {
    if (enabled(LogLevel::debug)) log(LogLevel::debug, m, f);
  }

 private:
  std::string_view module_;
};

}  // namespace shoppulse
