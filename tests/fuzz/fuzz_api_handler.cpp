// The HTTP request handler: the transport-free function from ApiRequest to
// ApiResponse, over the real ingestor, engine and recommender on the memory
// store (one backend shared by every input, so state builds up as a server's
// would). The input picks a method, a route (or a route with fuzzed
// segments), a content type, a query and a body.
// Properties: respond is called exactly once; the status is one the API
// documents and never 500 (the memory store does not fail); a JSON answer
// is valid JSON; a refused POST leaves the event log unchanged, and an
// accepted POST /api/events adds exactly `accepted` events.
#include <simdjson.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <set>

#include "fuzz_input.hpp"
#include "shoppulse/api/api.hpp"
#include "shoppulse/core/log.hpp"
#include "shoppulse/eventlog/memory_store.hpp"

using namespace shoppulse;
using namespace shoppulse::api;

namespace {

constexpr TimestampMs kNow = 1709294400000;

class FixedSystem final : public SystemControl {
 public:
  std::vector<ComponentStatus> components() const override {
    return {{"data_generator", "stopped", true, 0, 0, ""}, {"stream_processor", "running", true, 0, 0, ""}};
  }
  Result<void> start_component(std::string_view name) override { return act(name); }
  Result<void> stop_component(std::string_view name) override { return act(name); }
  SystemFigures figures() const override { return {}; }

 private:
  static Result<void> act(std::string_view name) {
    if (name != "data_generator" && name != "stream_processor")
      return make_error(Errc::not_found, "no component " + std::string(name));
    return {};
  }
};

// Lives for the whole fuzzing run; libFuzzer exits without destructors.
struct Backend {
  Backend() {
    WindowConfig window;
    window.filter_buffer_events = 4096;
    EngineRunnerConfig runner;
    runner.publish_interval_ms = 0;
    RecommenderConfig rc;
    rc.max_items = 2000;
    rc.max_users = 2000;
    recommend = std::make_unique<RecommendRunner>(rc, RecommendRunnerConfig{}, *store, *store, clock);
    runner.on_applied = [this](std::span<const Event> events) { recommend->offer(events); };
    engine = std::make_unique<EngineRunner>(window, runner, ring, *store, *store, *store, clock, metrics);
    ingestor = std::make_unique<Ingestor>(IngestConfig{}, *store, dictionary, ring, clock, metrics);
    if (!ingestor->start().ok()) std::abort();
    recommend->start();
    engine->start();
    ApiConfig api;
    api.max_limit = 50;
    api.max_trend_points = 500;
    handler = make_api_handler(
        ApiContext{dictionary, *ingestor, *engine, *recommend, *store, system, metrics, clock, api, store.get()});
  }

  std::unique_ptr<Storage> store = make_memory_store();
  Dictionary dictionary;
  SpscRing<Event> ring{1 << 12};
  ManualClock clock{kNow};
  MetricsRegistry metrics;
  FixedSystem system;
  std::unique_ptr<RecommendRunner> recommend;
  std::unique_ptr<EngineRunner> engine;
  std::unique_ptr<Ingestor> ingestor;
  std::unique_ptr<Handler> handler;
};

Backend& backend() {
  static Backend* b = [] {
    set_log_level(LogLevel::error);
    return new Backend;
  }();
  return *b;
}

const char* const kMethods[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"};
const char* const kRoutes[] = {
    "/", "/api/health", "/api/events", "/api/import", "/api/analytics/real-time", "/api/analytics/trends",
    "/api/analytics/user/", "/api/analytics/propensity", "/api/products/recommendations/user/",
    "/api/products/", "/api/products/trending", "/api/products/popular", "/api/products/categories/",
    "/api/system/status", "/api/system/logs", "/api/system/start-component/", "/api/system/stop-component/",
    "/openapi.json", "/metrics", "/api/analytics/", "/api/system/"};
const char* const kContentTypes[] = {"application/json", "application/x-ndjson", "text/csv", "", "text/plain"};
const char* const kSuffixes[] = {"", "u1", "p1", "p1/similar", "c1/popular", "data_generator", "stream_processor"};

const std::set<int> kDocumented = {200, 201, 202, 204, 400, 404, 405, 409, 413, 415, 503};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Backend& b = backend();
  fuzz::FuzzInput in(data, size);
  ApiRequest request;
  request.method = kMethods[in.byte() % std::size(kMethods)];
  request.path = kRoutes[in.byte() % std::size(kRoutes)];
  const std::uint8_t suffix = in.byte();
  request.path += suffix < 128 ? std::string(kSuffixes[suffix % std::size(kSuffixes)]) : in.text(24);
  request.content_type = kContentTypes[in.byte() % std::size(kContentTypes)];
  request.query = in.text(120);
  request.body = std::string(in.rest());

  const bool post = request.method == "POST";
  const bool events = post && request.path == "/api/events";
  const Sequence before = b.store->stats().last_sequence;

  auto promise = std::make_shared<std::promise<ApiResponse>>();
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto future = promise->get_future();
  b.handler->handle(request, [promise, calls](ApiResponse r) {
    if (calls->fetch_add(1) == 0) promise->set_value(std::move(r));
  });
  FUZZ_CHECK(future.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
  const ApiResponse response = future.get();
  FUZZ_CHECK(calls->load() == 1);
  if (!kDocumented.count(response.status)) {
    std::fprintf(stderr, "%s %s?%s -> %d %s\n", request.method.c_str(), request.path.c_str(), request.query.c_str(),
                 response.status, response.body.c_str());
  }
  FUZZ_CHECK(kDocumented.count(response.status) == 1);

  if (response.content_type == "application/json") {
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element doc;
    const bool valid = parser.parse(response.body).get(doc) == simdjson::SUCCESS;
    if (!valid) std::fprintf(stderr, "invalid JSON from %s %s: %s\n", request.method.c_str(), request.path.c_str(),
                             response.body.c_str());
    FUZZ_CHECK(valid);
    if (events && response.status == 200) {
      std::uint64_t accepted = 0;
      FUZZ_CHECK(doc["accepted"].get(accepted) == simdjson::SUCCESS);
      FUZZ_CHECK(b.store->stats().last_sequence == before + accepted);
    }
  }
  if (post && response.status >= 400) FUZZ_CHECK(b.store->stats().last_sequence == before);
  return 0;
}
