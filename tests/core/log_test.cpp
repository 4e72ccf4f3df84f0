#include <catch2/catch.hpp>

#include "shoppulse/core/log.hpp"

using namespace shoppulse;

namespace {
// Restores the process-wide level so tests do not leak settings into each other.
struct LevelGuard {
  ~LevelGuard() {
    set_log_level(LogLevel::info);
    set_log_format(LogFormat::logfmt);
  }
};
}  // namespace

TEST_CASE("parse_log_level accepts every level name in any case", "[core][log]") {
  LogLevel level = LogLevel::critical;
  CHECK(parse_log_level("debug", level));
  CHECK(level == LogLevel::debug);
  CHECK(parse_log_level("INFO", level));
  CHECK(level == LogLevel::info);
  CHECK(parse_log_level("Warning", level));
  CHECK(level == LogLevel::warning);
  CHECK(parse_log_level("ERROR", level));
  CHECK(level == LogLevel::error);
  CHECK(parse_log_level("critical", level));
  CHECK(level == LogLevel::critical);
}

TEST_CASE("parse_log_level accepts WARN as warning", "[core][log]") {
  LogLevel level = LogLevel::debug;
  CHECK(parse_log_level("WARN", level));
  CHECK(level == LogLevel::warning);
  CHECK(parse_log_level("warn", level));
  CHECK(level == LogLevel::warning);
}

TEST_CASE("parse_log_level rejects unknown names and leaves the level unchanged", "[core][log]") {
  LogLevel level = LogLevel::error;
  for (const char* text : {"", "verbose", "trace", "fatal", "inf", "debug ", " info", "warnings"}) {
    INFO('"' << text << '"');
    CHECK_FALSE(parse_log_level(text, level));
    CHECK(level == LogLevel::error);
  }
}

TEST_CASE("a logger is enabled for its level and above only", "[core][log]") {
  LevelGuard guard;
  const Logger log("test");
  set_log_level(LogLevel::warning);
  CHECK_FALSE(log.enabled(LogLevel::debug));
  CHECK_FALSE(log.enabled(LogLevel::info));
  CHECK(log.enabled(LogLevel::warning));
  CHECK(log.enabled(LogLevel::error));
  CHECK(log.enabled(LogLevel::critical));
  set_log_level(LogLevel::debug);
  CHECK(log.enabled(LogLevel::debug));
  set_log_level(LogLevel::critical);
  CHECK_FALSE(log.enabled(LogLevel::error));
  CHECK(log.enabled(LogLevel::critical));
}

TEST_CASE("a line below the level is not written", "[core][log]") {
  LevelGuard guard;
  const Logger log("test");
  set_log_level(LogLevel::error);
  log.info("core-log-test-suppressed-line");
  log.debug("core-log-test-suppressed-debug");
  for (const std::string& line : recent_log_lines(200)) {
    CHECK(line.find("core-log-test-suppressed") == std::string::npos);
  }
}

TEST_CASE("a written line is kept among the recent lines with its module and fields", "[core][log]") {
  LevelGuard guard;
  const Logger log("coretest");
  set_log_level(LogLevel::info);
  set_log_format(LogFormat::logfmt);
  log.warn("core log test line", {{"events", "3"}});
  const auto recent = recent_log_lines(1);
  REQUIRE(recent.size() == 1);
  CHECK(recent[0].find("level=warning") != std::string::npos);
  CHECK(recent[0].find("module=coretest") != std::string::npos);
  CHECK(recent[0].find(R"(msg="core log test line")") != std::string::npos);
  CHECK(recent[0].find("events=3") != std::string::npos);

  set_log_format(LogFormat::json);
  log.error("json line", {{"detail", "a \"quoted\" word"}});
  const auto json = recent_log_lines(1);
  REQUIRE(json.size() == 1);
  CHECK(json[0].front() == '{');
  CHECK(json[0].back() == '}');
  CHECK(json[0].find(R"("level":"error")") != std::string::npos);
  CHECK(json[0].find(R"("module":"coretest")") != std::string::npos);
  CHECK(json[0].find(R"("detail":"a \"quoted\" word")") != std::string::npos);
}
