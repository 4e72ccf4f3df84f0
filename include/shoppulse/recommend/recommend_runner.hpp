#pragma once
// The recommend thread: owns the Recommender.
//
// Role: on start, restores the Recommender from its latest checkpoint (when
// there is one taken under the same learning settings) and replays the log
// after it; then applies the events the engine thread hands over through
// offer(), publishes an immutable RecommendSnapshot (cold-start lists, stats)
// every publish interval, and checkpoints every checkpoint interval and at
// stop, and also every checkpoint_every_events applied events (replayed ones
// included, so a process killed often still bounds its next replay).
// Personal queries run as tasks on the recommend thread between
// batches, so a query answered after an event was offered reflects it
// (offer → applied is one loop iteration, well under a second). No query
// waits for the start-up: while the checkpoint is decoded (on a decoder
// thread) they run against an empty Recommender, during the replay between
// log chunks against the state as far as it got.
// Nothing is lost when the hand-off ring is full: offer() drops, and the
// thread notices the sequence gap and re-reads the missing events from the
// log, so the state always equals a replay of the log in order.
// Lifecycle: start() spawns the thread; stop() finishes queued queries,
// writes a checkpoint and joins.
// Threading: offer() from ONE producer thread (the engine thread); every
// other public method from any thread (wait_until() to wait for the
// recommend thread's progress without polling). A periodic checkpoint also runs a
// child process (see core/background_encoding.hpp) and a thread that stores
// its bytes; stop() waits for both.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "shoppulse/core/partition_ownership.hpp"
#include "shoppulse/core/clock.hpp"
#include "shoppulse/core/result.hpp"
#include "shoppulse/eventlog/storage.hpp"
#include "shoppulse/recommend/recommender.hpp"

namespace shoppulse {

struct RecommendRunnerConfig {
  std::int64_t publish_interval_ms = 200;  // snapshot period; ms
  std::size_t ring_capacity = 1u << 16;    // events between engine and recommend thread; events
  std::size_t max_pending_queries = 4096;  // queued tasks; more → overloaded
  std::size_t snapshot_list_length = 50;   // items in each published cold-start list
  std::int64_t checkpoint_interval_ms = 60000;  // recommender checkpoint period; ms (0 = only at stop)
  // Periodic checkpoints are serialised by a forked copy of the process, so
  // the recommend thread pauses only for the fork; false = serialise on the
  // recommend thread (the checkpoint at stop always does). Default true.
  bool checkpoint_in_background = true;
  std::uint64_t checkpoint_every_events = 2000000;  // also checkpoint after this many applied events; 0 = off; events
  // Called on the recommend thread whenever applied_through advances; must
  // not block.
  std::function<void(Sequence)> on_progress;
  // The last sequence the feeder (the window engine) has dealt with: applied
  // and offered, or replayed after a restart without offering. Events up to
  // it that never came through the ring are read from the log; events after
  // it are left to come through the ring. Called on the recommend thread
  // when the ring is empty. Unset: no feeder, so an idle recommend thread
  // reads the log up to its end.
  std::function<Sequence()> fed_through;
  // Cluster mode: the partitions whose events count. On a new set the
  // recommender is rebuilt on its thread (from a checkpoint of that set,
  // else empty, then the log read again through the set) while readers keep
  // the last published snapshot. nullptr: every event counts.
  const PartitionOwnership* ownership = nullptr;
};

// Published by the recommend thread; immutable once shared.
struct RecommendSnapshot {
  TimestampMs now_ms = 0;  // newest event time applied
  Sequence applied_through = 0;  // last sequence reflected
  std::vector<Recommendation> popular;
  std::vector<Recommendation> trending;
  std::vector<std::pair<Id, double>> top_propensity;
  RecommenderStats stats;
  // Recommender::approximate_memory_bytes(), refreshed at most every 5 s.
  std::size_t memory_bytes = 0;
};

struct RecommendRunnerStats {
  std::string state = "stopped";  // restoring (decoding the checkpoint), replaying, running, stopped
  bool caught_up = false;          // the start-up replay has reached the end of the log
  Sequence replay_target = 0;      // last logged sequence when the replay began
  Sequence restored_through = 0;   // covered by the checkpoint restored at start; 0 = none
  std::uint64_t replayed_events = 0;  // read from the log at start, after the checkpoint
  std::uint64_t checkpoints = 0;      // written since start
  std::size_t checkpoint_bytes = 0;   // size of the last one written
  TimestampMs last_checkpoint_ms = 0; // wall clock of the last one written
  std::int64_t checkpoint_pause_ms = 0;  // how long the last one held the recommend thread (the fork, in the background)
  std::uint64_t gap_reads = 0;     // times events were read from the log once running (a full ring, a replay)
  std::uint64_t gap_read_events = 0;  // events those reads handed to the recommender
  std::uint64_t dropped_offers = 0;  // events offer() could not hand over (re-read later)
  // The thread's back-off sleeps while its ring was empty, and their total.
  std::uint64_t idle_waits = 0;
  std::chrono::microseconds idle_wait{0};
  Sequence applied_through = 0;
  // Cluster mode (RecommendRunnerConfig::ownership): the set the published
  // state covers, whether a rebuild for a newer set is running, rebuilds
  // since start.
  std::uint64_t owned_version = 0;
  bool rebuilding = false;
  std::uint64_t rebuilds = 0;
};

class RecommendRunner {
 public:
  RecommendRunner(RecommenderConfig recommender, RecommendRunnerConfig config, const EventLog& log,
                  CheckpointStore& checkpoints, const Clock& clock);
  ~RecommendRunner();
  RecommendRunner(const RecommendRunner&) = delete;
  RecommendRunner& operator=(const RecommendRunner&) = delete;

  void start();
  void stop();

  // Producer thread only (the engine thread, after WindowEngine::apply).
  // Never blocks.
  void offer(std::span<const Event> events) noexcept;

  // Runs task on the recommend thread. overloaded when too many are queued,
  // unavailable when stopped.
  Result<void> run_on_recommender(std::function<void(const Recommender&)> task);

  // Never null (empty before the first publish).
  std::shared_ptr<const RecommendSnapshot> latest() const;
  RecommendRunnerStats stats() const;

  // Blocks until ready(stats) is true or the deadline passes; answers
  // ready(). ready sees the stats at once and again after each change to
  // them (applied_through, a published snapshot, a new state; not the idle
  // back-off counters), with the runner's lock held: it must be quick and
  // must not call the runner. Its dropped_offers is as of the last publish.
  // Nothing is polled; with no waiter a change costs one read of a counter.
  bool wait_until(const std::function<bool(const RecommendRunnerStats&)>& ready,
                  std::chrono::steady_clock::time_point deadline) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace shoppulse
