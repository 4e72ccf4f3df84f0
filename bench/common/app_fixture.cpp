#include "common/app_fixture.hpp"

#include <chrono>

#include "shoppulse/core/log.hpp"

namespace shoppulse::bench {

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

AppFixture::AppFixture() : dir_("shoppulse-bench-app") {}

AppFixture::~AppFixture() { stop(); }

bool AppFixture::start(const AppSettings& s, std::string& error) {
  set_log_level(LogLevel::warning);  // keep the report readable
  config_ = app::AppConfig{};
  config_.http.host = "127.0.0.1";
  config_.http.port = 0;
  config_.http.threads = s.http_threads;
  config_.http.ws_interval_ms = s.ws_interval_ms;
  config_.eventlog.data_dir = dir_.path().string();
  config_.generator_enabled = s.generator;
  config_.generator.events_per_second = s.generator_events_per_second;
  config_.generator.batch_size = s.generator_batch;
  if (auto r = app::finish(config_); !r) {
    error = r.error().field + ": " + r.error().detail;
    return false;
  }
  const double t0 = steady_seconds();
  auto opened = app::Application::open(config_);
  open_s_ = steady_seconds() - t0;
  if (!opened) {
    error = "open: " + opened.error().detail;
    return false;
  }
  app_ = std::move(opened).value();
  start_began_ = steady_seconds();
  if (auto r = app_->start(); !r) {
    error = "start: " + r.error().detail;
    return false;
  }
  start_s_ = steady_seconds() - start_began_;
  return true;
}

void AppFixture::stop() {
  if (app_) app_->stop();
  app_.reset();
}

}  // namespace shoppulse::bench
