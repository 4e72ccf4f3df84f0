#pragma once
// The whole engine and server in one object, for main() and for programs that
// embed shoppulse.
//
// Lifecycle: open() opens storage and begins loading the dictionary (outside
// cluster mode, on threads of its own); start() starts the components in
// dependency order (the derived states restoring while the load ends, then
// ingest, HTTP, generator) and returns once the load has; stop()
// stops them in reverse order, draining and flushing; the destructor stops.
// Threading: open/start/stop/on_snapshot from one thread; the rest from any.
// Embedding: see examples/ and the README's "Embedding" section.
#include <functional>
#include <memory>
#include <vector>

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

  // In-process ingest: the same path as POST /api/events, without HTTP.
  // Any thread; never blocks. Returns overloaded when the ingest queue is
  // full (nothing was taken: retry the same batch once
  // ingestor().wait_for_room(n, deadline) says there is room) and unavailable
  // before start() or after stop(). On success, done (may be empty) runs
  // later on the ingest thread once the events are durable and handed to
  // the engine; it must not block. A missing time_ms is set at ingest;
  // an event_id makes a retry idempotent.
  Result<void> ingest(std::vector<RawEvent>&& events, IngestDone done = {});

  // The newest published snapshot; any thread; never null after start().
  // Snapshots are immutable: keep and read one from any thread.
  std::shared_ptr<const WindowSnapshot> snapshot() const;

  // Called on the engine thread with every snapshot it publishes (every
  // windows.publish_interval, and after the replay at start). It must return
  // quickly: the engine applies no events while it runs. Hand the snapshot
  // to a thread of your own for slow work (a display, a sign); the pointer
  // may be kept. Set before start(); invalid_argument after.
  using SnapshotCallback = std::function<void(const std::shared_ptr<const WindowSnapshot>&)>;
  Result<void> on_snapshot(SnapshotCallback callback);

  // True once the windows and the recommender have caught up with the log
  // after the start and the engine runs (the rule of GET /api/ready); any thread.
  bool ready() const;
  Ingestor& ingestor() noexcept;
  EngineRunner& engine() noexcept;
  RecommendRunner& recommend() noexcept;
  // The Kafka source; null without kafka.servers.
  KafkaSource* kafka_source() noexcept;
  // Named records beside the event log (checkpoints, completed imports).
  CheckpointStore& records() noexcept;
  // Whole once start() has returned.
  const Dictionary& dictionary() const noexcept;
  // Called about once a second by the owner to refresh the ingest rate.
  void sample_rate();

 private:
  Application();
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace shoppulse::app
