#pragma once
// The engine thread: owns the WindowEngine and everything derived from events.
//
// Role: restores the engine from its latest checkpoint plus a replay of the
// log tail, then consumes the ring, publishes an immutable snapshot every
// publish interval, hands closed minutes to the rollup store, checkpoints
// periodically, every checkpoint_every_events applied events (replayed ones
// included, so a process killed often still bounds its next replay) and at
// stop. Point queries (a user's profile, an open minute) run as tasks on the
// engine thread between batches; while a checkpoint is being decoded they run
// against an empty engine, and during the replay between log chunks against
// the engine as far as it got, so no query waits for the start-up to end.
// Snapshots are published during the replay too.
// Lifecycle: start() spawns the thread; pause()/resume() stop and restart
// consumption (the "stream_processor" component); stop() drains the ring,
// flushes and checkpoints, then joins. A failure on the thread is logged,
// counted, and followed by a restart from checkpoint + replay with backoff.
// Threading: every public method is callable from any thread; wait_until()
// lets another thread wait for the engine thread's progress without polling.
// A background checkpoint also runs a child process and a thread that
// stores its bytes; stop() waits for both.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "shoppulse/core/clock.hpp"
#include "shoppulse/core/metrics.hpp"
#include "shoppulse/core/partition_ownership.hpp"
#include "shoppulse/core/result.hpp"
#include "shoppulse/eventlog/storage.hpp"
#include "shoppulse/ring/spsc_ring.hpp"
#include "shoppulse/windows/window_engine.hpp"

namespace shoppulse {

struct EngineRunnerConfig {
  std::int64_t publish_interval_ms = 200;      // snapshot period; ms
  std::int64_t checkpoint_interval_ms = 60000; // derived-state checkpoint period; ms
  std::uint64_t checkpoint_every_events = 2000000;  // also checkpoint after this many applied events; 0 = off; events
  // Periodic and count-triggered checkpoints are encoded by a forked copy of
  // the process (core/background_encoding.hpp) and stored by a thread of
  // the runner, so the engine thread waits only for the fork; the one at
  // stop, at a change of owned partitions and the fallback when the fork
  // fails are encoded and written on the engine thread.
  bool checkpoint_in_background = true;
  std::size_t max_pending_queries = 4096;      // queued point queries; more → overloaded
  std::int64_t rollup_retention_ms = 0;        // drop rollups older than this before the watermark; 0 = keep; ms
  // Settled minutes keep their products, categories, devices and locations
  // only in the rollup store, read back as they leave the 1 h and 24 h
  // windows (WindowConfig::stored_minute). Off when rollup_retention_ms is
  // under 48 h 1 min, since the windows need their minutes for 48 h.
  bool spill_minutes = true;
  // The store rollups are written to first, where the engine reads them back
  // (spilled minutes, and the users a late event's re-closed minute joins);
  // nullptr: the runner's rollup store. A copy elsewhere (MongoDB) may lag.
  const RollupStore* read_back = nullptr;
  // Downstream stages (recommendations) see every live event after the
  // windows have: called on the engine thread, must not block. Replayed
  // events are not passed on; a downstream stage replays the log itself.
  std::function<void(std::span<const Event>)> on_applied;
  // Called on the engine thread after each published snapshot with the
  // sequence it reflects; must not block.
  std::function<void(Sequence)> on_published;
  // Asked on the engine thread after each applied batch: the smallest
  // sequence a reader waits to see published (~0 when none). Once the engine
  // has applied it, the engine publishes at once instead of at the next
  // publish_interval, at most once per min_publish_gap_ms of steady time so
  // a stream of readers cannot make publishing the engine's main work.
  std::function<Sequence()> wanted_sequence;
  std::int64_t min_publish_gap_ms = 2;  // ms
  // Called on the engine thread with each snapshot it publishes (also those
  // published after a replay), after latest() returns it; must not block.
  // The app hands it to the embedder's callback and to sinks of live
  // figures (Redis).
  std::function<void(const std::shared_ptr<const WindowSnapshot>&)> on_snapshot;
  // Cluster mode: the partitions whose events count. On a new set the
  // engine is rebuilt on this thread (from a checkpoint of that set, else
  // empty, then the log read again through the set) while readers keep the
  // last published snapshot. nullptr: every event counts.
  const PartitionOwnership* ownership = nullptr;
};

struct EngineStats {
  std::string state = "stopped";  // starting (decoding the checkpoint), replaying, running, paused, failed, stopped
  bool caught_up = false;          // the start-up replay has reached the end of the log
  Sequence replay_target = 0;      // last logged sequence when the replay began
  Sequence replay_from = 0;        // first sequence that replay reads (after the checkpoint)
  std::uint64_t replayed_events = 0;
  std::uint64_t applied_events = 0;  // live, from the ring
  std::uint64_t failures = 0;
  std::uint64_t restarts = 0;
  std::string last_error;
  Sequence applied_through = 0;    // reflected by the latest published snapshot
  std::int64_t last_checkpoint_ms = 0;
  WindowMemory memory;  // as of the last publish
  std::uint64_t checkpoints = 0;   // written since start
  std::uint64_t checkpoint_bytes = 0;   // size of the last one written
  std::int64_t checkpoint_pause_ms = 0;  // how long the last one held the engine thread (the fork, in the background; else encode and write)
  std::uint64_t publishes_on_demand = 0;  // early publishes for a waiting reader (wanted_sequence)
  // The thread's back-off sleeps while the ring was empty, and their total.
  std::uint64_t idle_waits = 0;
  std::chrono::microseconds idle_wait{0};
  // Cluster mode (EngineRunnerConfig::ownership): the set the published
  // state covers, whether a rebuild for a newer set is running, and the
  // rebuilds since start.
  std::uint64_t owned_version = 0;
  std::vector<std::int32_t> owned;
  bool rebuilding = false;
  std::uint64_t rebuilds = 0;
};

class EngineRunner {
 public:
  EngineRunner(WindowConfig window_config, EngineRunnerConfig config, SpscRing<Event>& ring, EventLog& log,
               RollupStore& rollups, CheckpointStore& checkpoints, const Clock& clock, MetricsRegistry& metrics);
  ~EngineRunner();
  EngineRunner(const EngineRunner&) = delete;
  EngineRunner& operator=(const EngineRunner&) = delete;

  void start();
  void stop();
  void pause();
  void resume();

  // The newest published snapshot; never null after start() (may be empty).
  std::shared_ptr<const WindowSnapshot> latest() const;

  // Runs task on the engine thread with read access to the engine.
  // overloaded when too many are queued, unavailable when stopped.
  Result<void> run_on_engine(std::function<void(const WindowEngine&)> task);

  EngineStats stats() const;

  // Blocks until ready(stats) is true or the deadline passes; answers
  // ready(). ready sees the stats at once and again after each change the
  // engine thread makes to them (a published snapshot, applied_through, a
  // new state; not the idle back-off counters), with the runner's lock
  // held: it must be quick and must not call the runner. Nothing is polled;
  // with no waiter the engine thread pays one read of a counter per change.
  bool wait_until(const std::function<bool(const EngineStats&)>& ready,
                  std::chrono::steady_clock::time_point deadline) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace shoppulse
