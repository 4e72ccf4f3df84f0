#pragma once
// The REST API: a pure mapping from ApiRequest to ApiResponse over the
// engine's published state. Live figures come from immutable snapshots,
// history from the rollup store, per-user data from tasks run on the engine
// thread. Threading: handle() runs on I/O threads and never blocks on the
// engine; long work completes through Respond.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shoppulse/api/handler.hpp"
#include "shoppulse/api/sequence_gate.hpp"
#include "shoppulse/core/partition_ownership.hpp"
#include "shoppulse/core/build_info.hpp"
#include "shoppulse/core/clock.hpp"
#include "shoppulse/core/dictionary.hpp"
#include "shoppulse/core/metrics.hpp"
#include "shoppulse/eventlog/storage.hpp"
#include "shoppulse/ingest/ingestor.hpp"
#include "shoppulse/range/range_runner.hpp"
#include "shoppulse/recommend/recommend_runner.hpp"
#include "shoppulse/windows/engine_runner.hpp"

namespace shoppulse::api {

struct ComponentStatus {
  std::string name;
  std::string state;  // running, stopped, paused, replaying, failed
  bool healthy = true;
  std::uint64_t failures = 0;
  std::uint64_t restarts = 0;
  std::string last_error;
  std::optional<std::uint64_t> backlog{};  // items waiting (adapters); absent when not applicable
};

struct SystemFigures {
  double uptime_seconds = 0;
  std::uint64_t rss_bytes = 0;
  std::uint64_t heap_free_bytes = 0;    // freed memory the allocator keeps (counted in RSS)
  std::string allocator;                // the heap allocator: jemalloc, glibc or sanitizer
  std::uint64_t range_index_bytes = 0;  // the range worker's time index of the log
  // The rings between ingest and the engine and between the engine and the
  // recommender: allocated whole at start (their capacity in events).
  std::uint64_t event_rings_bytes = 0;
  double events_per_second = 0;  // appended to the log, over the last few seconds
  EventLogStats event_log;
  IngestStats ingest;
  EngineStats engine;
  std::size_t ring_occupancy = 0;
  std::size_t ring_capacity = 0;
  std::size_t websocket_clients = 0;
};

// Implemented by the application, which owns the components.
class SystemControl {
 public:
  virtual ~SystemControl() = default;
  virtual std::vector<ComponentStatus> components() const = 0;
  // not_found for a name other than data_generator / stream_processor.
  virtual Result<void> start_component(std::string_view name) = 0;
  virtual Result<void> stop_component(std::string_view name) = 0;
  virtual SystemFigures figures() const = 0;
};

struct ApiConfig {
  std::string currency = "CNY";   // ISO 4217 code reported beside money
  // IANA time zone of the shop (e.g. "Asia/Shanghai"), reported by /api and
  // /api/system/status for clients to show times in; empty = none set.
  std::string time_zone;
  std::size_t max_limit = 1000;   // largest accepted limit= parameter
  std::size_t max_trend_points = 10000;  // largest number of points one trends request may ask for
  // Largest page of GET /api/events (limit=) and most log records one page
  // reads; pages are streamed, so this bounds time, not memory. events.
  std::size_t export_max_page = 1'000'000;
  std::int64_t max_wait_ms = 5000;  // longest a min_sequence= request waits for derived state; ms
  // How long minute rollups are kept behind the newest event (the log's
  // eventlog.retention_max_age); 0 = for ever. Older minutes are answered
  // null, not zero. ms
  std::int64_t rollup_retention_ms = 0;
  std::string version{build_info().version};  // reported by /api and /api/system/status
};

struct ApiContext {
  const Dictionary& dictionary;
  Ingestor& ingestor;
  EngineRunner& engine;
  RecommendRunner& recommend;
  const RollupStore& rollups;
  SystemControl& system;
  MetricsRegistry& metrics;
  const Clock& clock;
  ApiConfig config;
  // Where completed uploads are recorded (POST /api/import skips the same
  // bytes again); nullptr keeps no record.
  CheckpointStore* records = nullptr;
  // The log whose newest sequence answers are compared with ("complete");
  // nullptr: the ingestor's last sequence.
  const EventLog* log = nullptr;
  // Holds min_sequence= requests until derived state has applied them;
  // nullptr: min_sequence= is refused (400).
  SequenceGate* gate = nullptr;
  // Answers any [from, to) of event time from the log (GET
  // /api/analytics/range, /funnel, /cohorts); nullptr: those answer 503.
  range::RangeRunner* range = nullptr;
  // Cluster mode (cluster.enabled): accepted events of POST /api/events and
  // /api/import go here (produced to Kafka) instead of the ingestor; empty:
  // the ingestor.
  std::function<Result<void>(std::vector<RawEvent>&&, IngestDone)> submit_events;
  // Cluster mode: blocks until that many events fit where submit_events
  // puts them, or the deadline passes (true: they fit); what an import does
  // before each batch and after an overloaded refusal.
  std::function<bool(std::size_t, std::chrono::steady_clock::time_point)> wait_for_room;
  // Cluster mode: the JSON body of GET /api/cluster; empty: {"enabled": false}.
  std::function<std::string()> cluster_status;
  // Cluster mode: the partitions whose events GET /api/events exports;
  // nullptr: every event of the log.
  const PartitionOwnership* ownership = nullptr;
};

std::unique_ptr<Handler> make_api_handler(ApiContext context);

// The message the WebSocket broadcasts: the default window's real-time
// fields at top level (as GET /api/analytics/real-time) plus every window
// under "windows".
// Money fields are in `currency` (ISO 4217), which the message carries, and
// it says which logged sequence it covers as every analytics answer does
// (logged_sequence: the newest logged when it was rendered).
std::string render_broadcast(const WindowSnapshot& snapshot, const Dictionary& dictionary, TimestampMs now_ms,
                             std::string_view currency = "CNY", Sequence logged_sequence = 0);

// The OpenAPI 3 description of every endpoint, served at /openapi.json.
std::string_view openapi_document() noexcept;

// One error-to-status mapping for every response.
ApiResponse error_response(const Error& error);

}  // namespace shoppulse::api
