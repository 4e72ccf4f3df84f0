#pragma once
// An Application (engine + HTTP server in one object) listening on
// 127.0.0.1, port 0, over a fresh temp data dir that is removed afterwards.
// Lifecycle: start() opens and starts it; the destructor stops it, then
// removes the data dir. Threading: owned by the benchmark's main thread.
#include <memory>
#include <string>

#include "common/system_probe.hpp"
#include "shoppulse/app/app_config.hpp"
#include "shoppulse/app/application.hpp"

namespace shoppulse::bench {

struct AppSettings {
  bool generator = false;
  double generator_events_per_second = 10;
  std::size_t generator_batch = 50;
  unsigned http_threads = 2;
  std::int64_t ws_interval_ms = 1000;
};

class AppFixture {
 public:
  AppFixture();
  ~AppFixture();

  // Opens and starts; false with error set. Times both steps.
  bool start(const AppSettings& settings, std::string& error);
  void stop();

  std::uint16_t port() const noexcept { return app_ ? app_->port() : 0; }
  app::Application& app() noexcept { return *app_; }
  const app::AppConfig& config() const noexcept { return config_; }
  const TempDir& data_dir() const noexcept { return dir_; }
  double open_seconds() const noexcept { return open_s_; }
  double start_seconds() const noexcept { return start_s_; }
  // steady_clock seconds since epoch of the moment start() began.
  double start_began() const noexcept { return start_began_; }

 private:
  TempDir dir_;
  app::AppConfig config_;
  std::unique_ptr<app::Application> app_;
  double open_s_ = 0, start_s_ = 0, start_began_ = 0;
};

// steady_clock now in seconds, comparable with AppFixture::start_began().
double steady_seconds();

}  // namespace shoppulse::bench
