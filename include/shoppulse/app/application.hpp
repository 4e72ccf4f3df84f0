#pragma once
// The whole engine and server in one object, for main() and for programs that
// embed shoppulse.
//
// Lifecycle: open() loads storage and the dictionary; start() starts the
// components in dependency order (engine, ingest, HTTP, generator); stop()
// stops them in reverse order, draining and flushing; the destructor stops.
// Threading: open/start/stop from one thread; the rest from any.
#include <memory>

#include "shoppulse/api/api.hpp"
#include "shoppulse/app/app_config.hpp"

namespace shoppulse::app {

class Application {
 public:
  static Result<std::unique_ptr<Application>> open(const AppConfig& config);
  ~Application();

  Result<void> start();
  void stop();

  std::uint16_t port() const noexcept;  // bound HTTP port, after start()
  Ingestor& ingestor() noexcept;
  EngineRunner& engine() noexcept;
  RecommendRunner& recommend() noexcept;
  // Named records beside the event log (checkpoints, completed imports).
  CheckpointStore& records() noexcept;
  const Dictionary& dictionary() const noexcept;
  // Called about once a second by the owner to refresh the ingest rate.
  void sample_rate();

 private:
  Application();
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace shoppulse::app
