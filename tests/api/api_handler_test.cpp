#include <catch2/catch.hpp>

#include <simdjson.h>

#include <chrono>
#include <future>
#include <memory>
#include <cctype>
#include <map>
#include <set>
#include <string>

#include "event_export.hpp"
#include "shoppulse/api/api.hpp"
#include "shoppulse/core/log.hpp"
#include "shoppulse/core/time_format.hpp"
#include "shoppulse/eventlog/memory_store.hpp"

using namespace shoppulse;
using namespace shoppulse::api;
using namespace std::chrono_literals;
namespace dom = simdjson::dom;

namespace {

// 2024-03-01T12:00:00Z: the manual clock's time.
constexpr TimestampMs kNow = 1709294400000;
// The known stream starts a minute earlier, on a second boundary.
constexpr TimestampMs kBase = kNow - 60000;

class FakeSystem final : public SystemControl {
 public:
  std::vector<ComponentStatus> components() const override { return components_; }
  Result<void> start_component(std::string_view name) override { return act(name); }
  Result<void> stop_component(std::string_view name) override { return act(name); }
  SystemFigures figures() const override { return {}; }

  std::vector<ComponentStatus> components_{{"data_generator", "stopped", true, 0, 0, ""},
                                           {"stream_processor", "running", true, 0, 0, ""}};

 private:
  Result<void> act(std::string_view name) {
    if (name != "data_generator" && name != "stream_processor")
      return make_error(Errc::not_found, "no component " + std::string(name));
    return {};
  }
};

// The real ingest and engine over the memory store; the handler is called directly.
ApiConfig rig_api() {
  ApiConfig api;
  api.max_wait_ms = 300;
  return api;
}

struct Rig {
  explicit Rig(std::size_t max_profiles = WindowConfig{}.max_profiles, ApiConfig api = rig_api()) {
    WindowConfig window;
    window.allowed_lateness_ms = 0;
    window.max_profiles = max_profiles;
    EngineRunnerConfig runner;
    runner.publish_interval_ms = 0;  // publish on every pass: the manual clock never moves by itself
    RecommendRunnerConfig recommend_config;
    recommend_config.on_progress = [this](Sequence s) { gate.advance(Stage::recommender, s); };
    recommend = std::make_unique<RecommendRunner>(RecommenderConfig{}, recommend_config, *store, *store, clock);
    runner.on_applied = [this](std::span<const Event> events) { recommend->offer(events); };
    runner.on_published = [this](Sequence s) { gate.advance(Stage::windows, s); };
    engine = std::make_unique<EngineRunner>(window, runner, ring, *store, *store, *store, clock, metrics);
    ingestor = std::make_unique<Ingestor>(IngestConfig{}, *store, dictionary, ring, clock, metrics);
    REQUIRE(ingestor->start().ok());
    gate.start();
    recommend->start();
    engine->start();
    handler = make_api_handler(ApiContext{dictionary, *ingestor, *engine, *recommend, *store, system, metrics, clock,
                                          api, store.get(), store.get(), &gate});
  }
  ~Rig() {
    gate.stop();
    handler.reset();
    ingestor->stop();  // producer first, then the consumer drains
    engine->stop();
    recommend->stop();
  }

  ApiResponse call(std::string method, std::string path, std::string query = {}, std::string content_type = {},
                   std::string body = {}) {
    return send(
        ApiRequest{std::move(method), std::move(path), std::move(query), std::move(content_type), std::move(body)});
  }
  ApiResponse send(ApiRequest request) {
    auto promise = std::make_shared<std::promise<ApiResponse>>();
    auto calls = std::make_shared<std::atomic<int>>(0);
    auto future = promise->get_future();
    handler->handle(std::move(request),
                    [promise, calls](ApiResponse r) {
                      if (calls->fetch_add(1) == 0) promise->set_value(std::move(r));
                    });
    REQUIRE(future.wait_for(10s) == std::future_status::ready);
    ApiResponse r = future.get();
    CHECK(calls->load() == 1);
    drain(r);
    return r;
  }

  // A streamed body (GET /api/events) pulled to its end into r.body, piece
  // by piece as the http module would.
  static void drain(ApiResponse& r) {
    if (!r.stream) return;
    for (std::size_t pieces = 0;; ++pieces) {
      REQUIRE(pieces < 1000000);
      auto promise = std::make_shared<std::promise<Result<BodyPiece>>>();
      auto future = promise->get_future();
      r.stream->pull([promise](Result<BodyPiece> piece) { promise->set_value(std::move(piece)); });
      REQUIRE(future.wait_for(10s) == std::future_status::ready);
      Result<BodyPiece> piece = future.get();
      REQUIRE(piece.ok());
      r.body += piece->bytes;
      if (piece->last) break;
    }
    r.stream.reset();
  }
  ApiResponse get(std::string path, std::string query = {}) { return call("GET", std::move(path), std::move(query)); }
  ApiResponse post_events(std::string content_type, std::string body) {
    return call("POST", "/api/events", {}, std::move(content_type), std::move(body));
  }

  // The waits below block on the runners' own change signal (wait_until)
  // rather than polling; the deadline only turns a hang into a failure.
  static std::chrono::steady_clock::time_point deadline() { return std::chrono::steady_clock::now() + 60s; }

  // Waits until the recommend thread has applied sequence `through`.
  void wait_recommended(Sequence through) {
    REQUIRE(recommend->wait_until([&](const RecommendRunnerStats& s) { return s.applied_through >= through; },
                                  deadline()));
  }

  // Pauses the engine and waits until its thread says so: an iteration that
  // began before pause() may still take what is in the ring.
  void pause_engine() {
    engine->pause();
    REQUIRE(engine->wait_until([](const EngineStats& s) { return s.state == "paused"; }, deadline()));
  }

  // Waits until /api/ready answers 200 (derived state caught up after start):
  // both threads have caught up with the log and neither is still restoring.
  void wait_ready() {
    REQUIRE(engine->wait_until(
        [](const EngineStats& s) {
          return s.caught_up && s.state != "starting" && s.state != "failed" && s.state != "stopped";
        },
        deadline()));
    REQUIRE(recommend->wait_until(
        [](const RecommendRunnerStats& s) { return s.caught_up && s.state != "restoring" && s.state != "stopped"; },
        deadline()));
    REQUIRE(get("/api/ready").status == 200);
  }

  // Waits until the engine's published snapshot covers sequence `through`
  // (EngineStats::applied_through is published with the snapshot).
  void wait_applied(Sequence through) {
    REQUIRE(engine->wait_until([&](const EngineStats& s) { return s.applied_through >= through; }, deadline()));
    REQUIRE(engine->latest()->applied_through >= through);
  }

  std::shared_ptr<MemoryStoreFaults> faults = std::make_shared<MemoryStoreFaults>();
  std::unique_ptr<Storage> store = make_memory_store(faults);
  Dictionary dictionary;
  SpscRing<Event> ring{1 << 14};
  ManualClock clock{kNow};
  MetricsRegistry metrics;
  FakeSystem system;
  SequenceGate gate;
  std::unique_ptr<RecommendRunner> recommend;
  std::unique_ptr<EngineRunner> engine;
  std::unique_ptr<Ingestor> ingestor;
  std::unique_ptr<Handler> handler;
};

std::string ts(TimestampMs offset) { return "\"" + format_iso8601(kBase + offset) + "\""; }

// Seven counted events in the first seconds after kBase, then one event ten
// seconds later that moves the watermark past them (allowed lateness is 0,
// and a window holds whole seconds before the watermark's second).
std::string known_stream() {
  return "{\"user_id\":\"u1\",\"event_type\":\"view\",\"product_id\":\"p1\",\"category_id\":\"c1\",\"device\":\"mobile\","
         "\"location\":\"Beijing\",\"timestamp\":" + ts(1000) + "}\n"
         "{\"user_id\":\"u1\",\"event_type\":\"click\",\"product_id\":\"p1\",\"category_id\":\"c1\",\"device\":\"mobile\","
         "\"location\":\"Beijing\",\"timestamp\":" + ts(1500) + "}\n"
         "{\"user_id\":\"u1\",\"event_type\":\"add_to_cart\",\"product_id\":\"p1\",\"device\":\"mobile\","
         "\"location\":\"Beijing\",\"timestamp\":" + ts(2000) + "}\n"
         "{\"user_id\":\"u1\",\"event_type\":\"purchase\",\"product_id\":\"p1\",\"category_id\":\"c1\",\"device\":\"mobile\","
         "\"location\":\"Beijing\",\"price\":19.99,\"quantity\":2,\"timestamp\":" + ts(2500) + "}\n"
         "{\"user_id\":\"u2\",\"event_type\":\"view\",\"product_id\":\"p2\",\"category_id\":\"c2\",\"device\":\"desktop\","
         "\"location\":\"Shanghai\",\"timestamp\":" + ts(3000) + "}\n"
         "{\"user_id\":\"u2\",\"event_type\":\"view\",\"product_id\":\"p1\",\"category_id\":\"c1\",\"device\":\"desktop\","
         "\"location\":\"Shanghai\",\"timestamp\":" + ts(3100) + "}\n"
         "{\"user_id\":\"u3\",\"event_type\":\"purchase\",\"product_id\":\"p2\",\"category_id\":\"c2\",\"device\":\"mobile\","
         "\"price\":\"5.00\",\"timestamp\":" + ts(4000) + "}\n"
         "{\"user_id\":\"u9\",\"event_type\":\"view\",\"timestamp\":" + ts(10000) + "}\n";
}

// Loads the known stream through the API and waits for the engine to apply it.
void load_known_stream(Rig& rig) {
  const ApiResponse r = rig.post_events("application/x-ndjson", known_stream());
  REQUIRE(r.status == 200);
  // User answers carry the engine's profile and the recommender's
  // propensity, and wait for both: let both have the stream.
  rig.wait_applied(8);
  rig.wait_recommended(8);
}

struct Json {
  explicit Json(const std::string& text) {
    INFO(text);
    REQUIRE(parser.parse(text).get(root) == simdjson::SUCCESS);
  }
  dom::parser parser;
  dom::element root;
};

std::string header(const ApiResponse& r, std::string_view name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return {};
}

void check_error(const ApiResponse& r, int status, std::string_view error, std::string_view field) {
  INFO(r.body);
  CHECK(r.status == status);
  CHECK(r.content_type == "application/json");
  Json json(r.body);
  CHECK(std::string_view(json.root["error"]) == error);
  if (field.empty()) CHECK(json.root["field"].error() == simdjson::NO_SUCH_FIELD);
  else CHECK(std::string_view(json.root["field"]) == field);
}

}  // namespace

TEST_CASE("an unknown path is 404 and names the path", "[api][routing]") {
  Rig rig;
  const ApiResponse r = rig.get("/api/nope");
  check_error(r, 404, "not_found", "");
  CHECK(r.body.find("/api/nope") != std::string::npos);
  check_error(rig.get("/api/analytics"), 404, "not_found", "");
  check_error(rig.get("/api/analytics/real-time/extra"), 404, "not_found", "");
  check_error(rig.call("POST", "/api/nope"), 404, "not_found", "");
}

TEST_CASE("a known path with the wrong method is 405", "[api][routing]") {
  Rig rig;
  check_error(rig.call("POST", "/api/health"), 405, "method_not_allowed", "");
  check_error(rig.call("PUT", "/api/events"), 405, "method_not_allowed", "");
  check_error(rig.call("DELETE", "/api/analytics/real-time"), 405, "method_not_allowed", "");
  check_error(rig.call("GET", "/api/system/start-component/data_generator"), 405, "method_not_allowed", "");
  check_error(rig.call("DELETE", "/api/events"), 405, "method_not_allowed", "");
}

TEST_CASE("HEAD is answered like GET", "[api][routing]") {
  Rig rig;
  const ApiResponse head = rig.call("HEAD", "/api/health");
  const ApiResponse get = rig.get("/api/health");
  CHECK(head.status == 200);
  CHECK(head.content_type == get.content_type);
  CHECK(rig.call("HEAD", "/api/analytics/real-time").status == 200);
  CHECK(rig.call("HEAD", "/metrics").status == 200);
}

TEST_CASE("the service root lists the endpoints", "[api][routing]") {
  Rig rig;
  const ApiResponse r = rig.get("/");
  REQUIRE(r.status == 200);
  Json json(r.body);
  CHECK(std::string_view(json.root["name"]) == "shoppulse");
  bool found = false;
  for (dom::element e : dom::array(json.root["endpoints"]))
    if (std::string_view(e) == "POST /api/events") found = true;
  CHECK(found);
}

TEST_CASE("the service root and the status say the shop's time zone, or null when none is configured",
          "[api][system]") {
  {
    Rig rig;
    CHECK(Json(rig.get("/").body).root["time_zone"].is_null());
    CHECK(Json(rig.get("/api/system/status").body).root["time_zone"].is_null());
  }
  ApiConfig api = rig_api();
  api.time_zone = "Asia/Shanghai";
  Rig rig(WindowConfig{}.max_profiles, api);
  CHECK(std::string_view(Json(rig.get("/").body).root["time_zone"]) == "Asia/Shanghai");
  CHECK(std::string_view(Json(rig.get("/api/system/status").body).root["time_zone"]) == "Asia/Shanghai");
}

TEST_CASE("health reports healthy, or degraded when a component is not", "[api][system]") {
  Rig rig;
  rig.wait_ready();
  {
    Json json(rig.get("/api/health").body);
    CHECK(std::string_view(json.root["status"]) == "healthy");
    CHECK(std::string_view(json.root["components"]["stream_processor"]["state"]) == "running");
  }
  rig.system.components_[1].healthy = false;
  rig.system.components_[1].last_error = "boom";
  Json json(rig.get("/api/health").body);
  CHECK(std::string_view(json.root["status"]) == "degraded");
  CHECK(std::string_view(json.root["components"]["stream_processor"]["status"]) == "unhealthy");
  CHECK(std::string_view(json.root["components"]["stream_processor"]["last_error"]) == "boom");
}

TEST_CASE("component control answers for known components and 404 for others", "[api][system]") {
  Rig rig;
  const ApiResponse started = rig.call("POST", "/api/system/start-component/data_generator");
  REQUIRE(started.status == 200);
  Json json(started.body);
  CHECK(std::string_view(json.root["component"]) == "data_generator");
  CHECK(std::string_view(json.root["status"]) == "started");
  CHECK(rig.call("POST", "/api/system/stop-component/stream_processor").status == 200);
  check_error(rig.call("POST", "/api/system/stop-component/kettle"), 404, "not_found", "");
}

TEST_CASE("system status is valid JSON with the ingest and engine figures", "[api][system]") {
  Rig rig;
  load_known_stream(rig);
  const ApiResponse r = rig.get("/api/system/status");
  REQUIRE(r.status == 200);
  Json json(r.body);
  CHECK(std::uint64_t(json.root["throughput"]["events_applied"]) == 8);
  CHECK(std::string_view(json.root["ingest"]["watermark"]) == format_iso8601(kBase + 10000));
}

TEST_CASE("real-time analytics report the known stream's exact figures", "[api][realtime]") {
  Rig rig;
  load_known_stream(rig);
  const ApiResponse r = rig.get("/api/analytics/real-time");
  REQUIRE(r.status == 200);
  CHECK(r.content_type == "application/json");
  INFO(r.body);
  Json json(r.body);
  const dom::element& j = json.root;

  CHECK(std::string_view(j["time_window"]) == "5m");
  CHECK(std::string_view(j["timestamp"]) == format_iso8601(kNow));
  CHECK(std::string_view(j["window"]["end"]) == format_iso8601(kBase + 10000));
  CHECK(std::string_view(j["window"]["start"]) == format_iso8601(kBase + 10000 - 300000));
  CHECK(std::string_view(j["window"]["watermark"]) == format_iso8601(kBase + 10000));

  CHECK(std::uint64_t(j["active_users"]) == 3);
  CHECK(std::uint64_t(j["page_views"]) == 3);
  CHECK(std::uint64_t(j["clicks"]) == 1);
  CHECK(std::uint64_t(j["add_to_cart"]) == 1);
  CHECK(std::uint64_t(j["remove_from_cart"]) == 0);
  CHECK(std::uint64_t(j["favorites"]) == 0);
  CHECK(std::uint64_t(j["purchases"]) == 2);
  CHECK(std::uint64_t(j["ratings"]) == 0);
  CHECK(std::uint64_t(j["total_events"]) == 7);
  CHECK(std::uint64_t(j["viewers"]) == 2);
  CHECK(std::uint64_t(j["purchasers"]) == 2);
  CHECK(double(j["conversion_rate"]) == 100.0);
  // Money is written exactly, as decimal text.
  CHECK(r.body.find("\"revenue\":44.98,") != std::string::npos);
  CHECK(r.body.find("\"average_order_value\":22.49,") != std::string::npos);

  const dom::array products = j["popular_products"];
  REQUIRE(products.size() == 2);
  CHECK(std::string_view(products.at(0)["product_id"]) == "p1");
  CHECK(std::uint64_t(products.at(0)["interactions"]) == 5);
  CHECK(std::string_view(products.at(1)["product_id"]) == "p2");
  CHECK(std::uint64_t(products.at(1)["interactions"]) == 2);

  const dom::array categories = j["popular_categories"];
  REQUIRE(categories.size() == 2);
  CHECK(std::string_view(categories.at(0)["category_id"]) == "c1");
  CHECK(std::uint64_t(categories.at(0)["interactions"]) == 4);
  CHECK(std::string_view(categories.at(1)["category_id"]) == "c2");
  CHECK(std::uint64_t(categories.at(1)["interactions"]) == 2);

  const dom::array funnel = j["funnel"];
  REQUIRE(funnel.size() == 4);
  const std::pair<const char*, std::uint64_t> steps[] = {{"view", 2}, {"click", 1}, {"add_to_cart", 1}, {"purchase", 2}};
  for (std::size_t i = 0; i < 4; ++i) {
    INFO(steps[i].first);
    CHECK(std::string_view(funnel.at(i)["step"]) == steps[i].first);
    CHECK(std::uint64_t(funnel.at(i)["users"]) == steps[i].second);
    CHECK(std::uint64_t(funnel.at(i)["previous_users"]) == 0);
  }

  const dom::array devices = j["devices"];
  REQUIRE(devices.size() == 2);
  CHECK(std::string_view(devices.at(0)["device"]) == "mobile");
  CHECK(std::uint64_t(devices.at(0)["events"]) == 5);
  CHECK(std::string_view(devices.at(1)["device"]) == "desktop");
  CHECK(std::uint64_t(devices.at(1)["events"]) == 2);
  const dom::array locations = j["locations"];
  REQUIRE(locations.size() == 2);
  CHECK(std::string_view(locations.at(0)["location"]) == "Beijing");
  CHECK(std::uint64_t(locations.at(0)["events"]) == 4);
  CHECK(std::string_view(locations.at(1)["location"]) == "Shanghai");
  CHECK(std::uint64_t(locations.at(1)["events"]) == 2);

  CHECK(std::uint64_t(j["previous"]["total_events"]) == 0);
  CHECK(std::string_view(j["previous"]["end"]) == format_iso8601(kBase + 10000 - 300000));
  CHECK(r.body.find("\"previous\":{\"active_users\":0,") != std::string::npos);
}

TEST_CASE("real-time analytics answer for every named window", "[api][realtime]") {
  Rig rig;
  load_known_stream(rig);
  for (const char* w : {"1m", "5m", "15m", "1h", "24h"}) {
    INFO(w);
    const ApiResponse r = rig.get("/api/analytics/real-time", std::string("window=") + w);
    REQUIRE(r.status == 200);
    Json json(r.body);
    CHECK(std::string_view(json.root["time_window"]) == w);
  }
  Json one_minute(rig.get("/api/analytics/real-time", "window=1m").body);
  CHECK(std::uint64_t(one_minute.root["total_events"]) == 7);
}

TEST_CASE("real-time analytics with whole lists (a cluster merge's second round) list every product of the window",
          "[api][realtime]") {
  Rig rig;
  // 12 products (windows.top_n is 10), product k viewed k+1 times; a later
  // event moves the watermark past them.
  std::string body;
  int n = 0;
  for (int k = 0; k < 12; ++k)
    for (int v = 0; v <= k; ++v, ++n)
      body += "{\"user_id\":\"w" + std::to_string(n) + "\",\"event_type\":\"view\",\"product_id\":\"q" +
              std::to_string(k) + "\",\"category_id\":\"c" + std::to_string(k) + "\",\"timestamp\":" +
              ts(1000 + n) + "}\n";
  body += "{\"user_id\":\"w9\",\"event_type\":\"view\",\"timestamp\":" + ts(10000) + "}\n";
  REQUIRE(rig.post_events("application/x-ndjson", body).status == 200);
  rig.wait_applied(Sequence(n + 1));

  const ApiResponse cut = rig.get("/api/analytics/real-time");
  REQUIRE(cut.status == 200);
  ApiRequest whole{"GET", "/api/analytics/real-time", "", "", ""};
  whole.whole_lists = true;
  const ApiResponse all = rig.send(std::move(whole));
  REQUIRE(all.status == 200);
  Json cut_json(cut.body), all_json(all.body);
  CHECK(dom::array(cut_json.root["popular_products"]).size() == 10);
  CHECK(dom::array(cut_json.root["popular_categories"]).size() == 10);
  const dom::array products = all_json.root["popular_products"];
  REQUIRE(products.size() == 12);
  CHECK(std::string_view(products.at(0)["product_id"]) == "q11");
  CHECK(std::uint64_t(products.at(0)["interactions"]) == 12);
  CHECK(std::string_view(products.at(11)["product_id"]) == "q0");
  CHECK(std::uint64_t(products.at(11)["interactions"]) == 1);
  CHECK(dom::array(all_json.root["popular_categories"]).size() == 12);
  // Everything else as the published snapshot says it.
  CHECK(std::uint64_t(all_json.root["total_events"]) == std::uint64_t(cut_json.root["total_events"]));
  CHECK(std::uint64_t(all_json.root["active_users"]) == std::uint64_t(cut_json.root["active_users"]));
  CHECK(std::string_view(all_json.root["window"]["end"]) == std::string_view(cut_json.root["window"]["end"]));
}

TEST_CASE("real-time analytics reject an unknown window naming the parameter", "[api][realtime]") {
  Rig rig;
  for (const char* q : {"window=2m", "window=", "window=5M", "window=300s", "window=5m%20"}) {
    INFO(q);
    check_error(rig.get("/api/analytics/real-time", q), 400, "invalid_argument", "window");
  }
}

TEST_CASE("real-time analytics before any event are all zero", "[api][realtime]") {
  Rig rig;
  const ApiResponse r = rig.get("/api/analytics/real-time");
  REQUIRE(r.status == 200);
  Json json(r.body);
  CHECK(std::uint64_t(json.root["total_events"]) == 0);
  CHECK(dom::array(json.root["popular_products"]).size() == 0);
  CHECK(r.body.find("\"revenue\":0.00,") != std::string::npos);
}

TEST_CASE("trends reject bad step, from, to and range naming the parameter", "[api][trends]") {
  Rig rig;
  check_error(rig.get("/api/analytics/trends", "step=2m"), 400, "invalid_argument", "step");
  check_error(rig.get("/api/analytics/trends", "step="), 400, "invalid_argument", "step");
  check_error(rig.get("/api/analytics/trends", "from=yesterday"), 400, "invalid_argument", "from");
  check_error(rig.get("/api/analytics/trends", "to=2024-13-01"), 400, "invalid_argument", "to");
  check_error(rig.get("/api/analytics/trends", "from=2024-03-01T12:00:00Z&to=2024-03-01T11:00:00Z"), 400,
              "invalid_argument", "to");
  check_error(rig.get("/api/analytics/trends", "from=2024-03-01T12:00:00Z&to=2024-03-01T12:00:00Z"), 400,
              "invalid_argument", "to");
  // 10001 one-minute points is more than max_trend_points.
  check_error(rig.get("/api/analytics/trends", "from=2001-01-01T00:00:00Z&to=2001-01-07T22:41:00Z&step=1m"), 400,
              "invalid_argument", "from");
  check_error(rig.get("/api/analytics/trends", "forecast=soon"), 400, "invalid_argument", "forecast");
}

TEST_CASE("trends accept the largest allowed range", "[api][trends]") {
  Rig rig;
  const ApiResponse r = rig.get("/api/analytics/trends", "from=2001-01-01T00:00:00Z&to=2001-01-07T22:40:00Z&step=1m");
  REQUIRE(r.status == 200);
  Json json(r.body);
  CHECK(dom::array(json.root["points"]).size() == 10000);
}

TEST_CASE("trends add up the known stream per minute, including the open minute", "[api][trends]") {
  Rig rig;
  load_known_stream(rig);
  const ApiResponse r = rig.get("/api/analytics/trends", "from=2024-03-01T11:58:00Z&to=2024-03-01T12:00:00Z&step=1m");
  REQUIRE(r.status == 200);
  INFO(r.body);
  Json json(r.body);
  CHECK(std::string_view(json.root["step"]) == "1m");
  CHECK(std::string_view(json.root["from"]) == "2024-03-01T11:58:00.000Z");
  CHECK(std::string_view(json.root["to"]) == "2024-03-01T12:00:00.000Z");
  const dom::array points = json.root["points"];
  REQUIRE(points.size() == 2);
  CHECK(std::uint64_t(points.at(0)["page_views"]) == 0);
  CHECK(std::string_view(points.at(1)["start"]) == "2024-03-01T11:59:00.000Z");
  // The minute still open holds every event, the watermark's own second too.
  CHECK(std::uint64_t(points.at(1)["page_views"]) == 4);
  CHECK(std::uint64_t(points.at(1)["clicks"]) == 1);
  CHECK(std::uint64_t(points.at(1)["add_to_cart"]) == 1);
  CHECK(std::uint64_t(points.at(1)["purchases"]) == 2);
  CHECK(std::uint64_t(points.at(1)["unique_users"]) == 4);
  CHECK(r.body.find("\"revenue\":44.98,") != std::string::npos);
}

TEST_CASE("real-time and trends drill down by category, product, device and location", "[api][realtime][filters]") {
  Rig rig;
  load_known_stream(rig);
  const auto realtime = [&](const std::string& query) {
    const ApiResponse r = rig.get("/api/analytics/real-time", query);
    INFO(query << " -> " << r.body);
    REQUIRE(r.status == 200);
    return r;
  };

  SECTION("one category: exact figures over its events only, and the filters echoed") {
    const ApiResponse r = realtime("category=c1");
    Json json(r.body);
    const dom::element& j = json.root;
    CHECK(std::string_view(j["time_window"]) == "5m");
    CHECK(std::string_view(j["window"]["end"]) == format_iso8601(kBase + 10000));
    CHECK(std::string_view(j["window"]["start"]) == format_iso8601(kBase + 10000 - 300000));
    CHECK(std::string_view(j["window"]["watermark"]) == format_iso8601(kBase + 10000));
    CHECK(std::uint64_t(j["active_users"]) == 2);
    CHECK(std::uint64_t(j["page_views"]) == 2);
    CHECK(std::uint64_t(j["clicks"]) == 1);
    CHECK(std::uint64_t(j["add_to_cart"]) == 0);  // that event had no category
    CHECK(std::uint64_t(j["purchases"]) == 1);
    CHECK(std::uint64_t(j["total_events"]) == 4);
    CHECK(std::uint64_t(j["viewers"]) == 2);
    CHECK(std::uint64_t(j["purchasers"]) == 1);
    CHECK(double(j["conversion_rate"]) == 50.0);
    CHECK(r.body.find("\"revenue\":39.98,") != std::string::npos);
    const dom::array products = j["popular_products"];
    REQUIRE(products.size() == 1);
    CHECK(std::string_view(products.at(0)["product_id"]) == "p1");
    CHECK(std::uint64_t(products.at(0)["interactions"]) == 4);
    const dom::array devices = j["devices"];
    REQUIRE(devices.size() == 2);
    CHECK(std::string_view(devices.at(0)["device"]) == "mobile");
    CHECK(std::uint64_t(devices.at(0)["events"]) == 3);
    CHECK(std::string_view(devices.at(1)["device"]) == "desktop");
    CHECK(std::uint64_t(devices.at(1)["events"]) == 1);
    const dom::array funnel = j["funnel"];
    const std::uint64_t users[] = {2, 1, 0, 1};
    for (std::size_t i = 0; i < 4; ++i) CHECK(std::uint64_t(funnel.at(i)["users"]) == users[i]);
    CHECK(std::uint64_t(j["previous"]["total_events"]) == 0);
    CHECK(std::string_view(j["filters"]["category"]) == "c1");
    CHECK(j["filters"]["device"].error() == simdjson::NO_SUCH_FIELD);
    CHECK(bool(j["complete"]) == true);
  }

  SECTION("one device") {
    const ApiResponse r = realtime("window=1m&device=mobile");
    Json json(r.body);
    const dom::element& j = json.root;
    CHECK(std::string_view(j["time_window"]) == "1m");
    CHECK(std::uint64_t(j["active_users"]) == 2);
    CHECK(std::uint64_t(j["total_events"]) == 5);
    CHECK(std::uint64_t(j["viewers"]) == 1);
    CHECK(std::uint64_t(j["purchasers"]) == 2);
    CHECK(double(j["conversion_rate"]) == 200.0);
    CHECK(r.body.find("\"revenue\":44.98,") != std::string::npos);
    const dom::array categories = j["popular_categories"];
    REQUIRE(categories.size() == 2);
    CHECK(std::string_view(categories.at(0)["category_id"]) == "c1");
    CHECK(std::uint64_t(categories.at(0)["interactions"]) == 3);
    const dom::array locations = j["locations"];
    REQUIRE(locations.size() == 1);
    CHECK(std::string_view(locations.at(0)["location"]) == "Beijing");
    CHECK(std::uint64_t(locations.at(0)["events"]) == 4);
    CHECK(std::string_view(j["filters"]["device"]) == "mobile");
  }

  SECTION("filters combine") {
    Json json(realtime("category=c1&device=desktop&location=Shanghai&product=p1").body);
    CHECK(std::uint64_t(json.root["total_events"]) == 1);
    CHECK(std::uint64_t(json.root["active_users"]) == 1);
    CHECK(std::string_view(json.root["filters"]["product"]) == "p1");
    CHECK(std::string_view(json.root["filters"]["location"]) == "Shanghai");
    Json none(realtime("category=c2&location=Beijing").body);
    CHECK(std::uint64_t(none.root["total_events"]) == 0);
  }

  SECTION("an unknown name is no error: nothing matches") {
    const ApiResponse r = realtime("window=24h&category=nobody-uses-this");
    Json json(r.body);
    CHECK(std::uint64_t(json.root["total_events"]) == 0);
    CHECK(std::uint64_t(json.root["active_users"]) == 0);
    CHECK(dom::array(json.root["popular_products"]).size() == 0);
    CHECK(dom::array(json.root["devices"]).size() == 0);
    CHECK(r.body.find("\"revenue\":0.00,") != std::string::npos);
    CHECK(std::string_view(json.root["filters"]["category"]) == "nobody-uses-this");
  }

  SECTION("empty filter values mean no filter: the unfiltered answer, unchanged") {
    const ApiResponse r = realtime("category=&device=");
    CHECK(r.body.find("\"filters\"") == std::string::npos);
    Json json(r.body);
    CHECK(std::uint64_t(json.root["total_events"]) == 7);
  }

  SECTION("malformed parameters are still 400") {
    check_error(rig.get("/api/analytics/real-time", "category=c1&category=c2"), 400, "invalid_argument", "category");
    check_error(rig.get("/api/analytics/real-time", "window=2m&device=mobile"), 400, "invalid_argument", "window");
    check_error(rig.get("/api/analytics/trends", "step=2m&device=mobile"), 400, "invalid_argument", "step");
    check_error(rig.get("/api/analytics/trends", "location=a&location=b"), 400, "invalid_argument", "location");
  }

  SECTION("trends count only the matching events") {
    const ApiResponse r =
        rig.get("/api/analytics/trends", "from=2024-03-01T11:58:00Z&to=2024-03-01T12:00:00Z&step=1m&device=mobile");
    REQUIRE(r.status == 200);
    INFO(r.body);
    Json json(r.body);
    const dom::array points = json.root["points"];
    REQUIRE(points.size() == 2);
    CHECK(std::uint64_t(points.at(0)["page_views"]) == 0);
    CHECK(std::uint64_t(points.at(1)["page_views"]) == 1);  // u9's device-less view is out
    CHECK(std::uint64_t(points.at(1)["clicks"]) == 1);
    CHECK(std::uint64_t(points.at(1)["add_to_cart"]) == 1);
    CHECK(std::uint64_t(points.at(1)["purchases"]) == 2);
    CHECK(std::uint64_t(points.at(1)["unique_users"]) == 2);
    CHECK(std::uint64_t(points.at(1)["purchasers"]) == 2);
    CHECK(r.body.find("\"revenue\":44.98,") != std::string::npos);
    CHECK(std::string_view(json.root["filters"]["device"]) == "mobile");
    CHECK(bool(json.root["complete"]) == true);

    Json by_category(rig.get("/api/analytics/trends",
                             "from=2024-03-01T11:58:00Z&to=2024-03-01T12:00:00Z&category=c1").body);
    const dom::array c1 = by_category.root["points"];
    CHECK(std::uint64_t(c1.at(1)["page_views"]) == 2);
    CHECK(std::uint64_t(c1.at(1)["purchases"]) == 1);
    CHECK(std::uint64_t(c1.at(1)["unique_users"]) == 2);
    Json unknown(rig.get("/api/analytics/trends",
                         "from=2024-03-01T11:58:00Z&to=2024-03-01T12:00:00Z&product=nope").body);
    CHECK(std::uint64_t(dom::array(unknown.root["points"]).at(1)["page_views"]) == 0);
  }
}

TEST_CASE("popular products reject bad window, limit, event_type and end naming the parameter",
          "[api][popular]") {
  Rig rig;
  for (const char* q : {"window=90s", "window=0m", "window=32d", "window=abc", "window=-5m", "window="}) {
    INFO(q);
    check_error(rig.get("/api/products/popular", q), 400, "invalid_argument", "window");
  }
  for (const char* q : {"limit=0", "limit=abc", "limit=1001", "limit=", "limit=-1", "limit=1.5",
                        "limit=9999999999"}) {
    INFO(q);
    check_error(rig.get("/api/products/popular", q), 400, "invalid_argument", "limit");
  }
  check_error(rig.get("/api/products/popular", "event_type=bogus"), 400, "invalid_argument", "event_type");
  check_error(rig.get("/api/products/popular", "end=soon"), 400, "invalid_argument", "end");
  CHECK(rig.get("/api/products/popular", "limit=1000&window=31d").status == 200);
}

TEST_CASE("popular products rank the known stream's products", "[api][popular]") {
  Rig rig;
  load_known_stream(rig);
  {
    const ApiResponse r = rig.get("/api/products/popular", "window=5m");
    REQUIRE(r.status == 200);
    INFO(r.body);
    Json json(r.body);
    const dom::array products = json.root["products"];
    REQUIRE(products.size() == 2);
    CHECK(std::string_view(products.at(0)["product_id"]) == "p1");
    CHECK(std::uint64_t(products.at(0)["interactions"]) == 5);
    CHECK(std::string_view(products.at(1)["product_id"]) == "p2");
    CHECK(std::uint64_t(products.at(1)["interactions"]) == 2);
    CHECK(std::string_view(json.root["event_type"]) == "all");
  }
  {
    Json json(rig.get("/api/products/popular", "window=5m&limit=1").body);
    CHECK(dom::array(json.root["products"]).size() == 1);
  }
  {
    Json json(rig.get("/api/products/popular", "event_type=purchase").body);
    const dom::array products = json.root["products"];
    REQUIRE(products.size() == 2);
    CHECK(std::uint64_t(products.at(0)["interactions"]) == 1);
    CHECK(std::uint64_t(products.at(1)["interactions"]) == 1);
  }
  {
    Json json(rig.get("/api/products/categories/c2/popular").body);
    const dom::array products = json.root["products"];
    REQUIRE(products.size() == 1);
    CHECK(std::string_view(products.at(0)["product_id"]) == "p2");
    CHECK(std::string_view(json.root["category_id"]) == "c2");
  }
  {
    Json json(rig.get("/api/products/popular", "category=nobody-uses-this").body);
    CHECK(dom::array(json.root["products"]).size() == 0);
  }
}

TEST_CASE("popular products of an unknown category path are 404", "[api][popular]") {
  Rig rig;
  check_error(rig.get("/api/products/categories/c404/popular"), 404, "not_found", "");
}

TEST_CASE("an unknown user is 404", "[api][user]") {
  Rig rig;
  load_known_stream(rig);
  check_error(rig.get("/api/analytics/user/nobody"), 404, "not_found", "user_id");
}

TEST_CASE("a user whose profile was evicted is 404 and the answer says it was evicted", "[api][user]") {
  Rig rig(2);  // windows.max_profiles: u1 (seen first) and u2 make way for u3 and u9
  load_known_stream(rig);
  const ApiResponse r = rig.get("/api/analytics/user/u1");
  check_error(r, 404, "not_found", "");
  CHECK(r.body.find("evicted") != std::string::npos);
  CHECK(rig.get("/api/analytics/user/u9").status == 200);
}

TEST_CASE("a known user's profile sums their events and spend", "[api][user]") {
  Rig rig;
  load_known_stream(rig);
  const ApiResponse r = rig.get("/api/analytics/user/u1");
  REQUIRE(r.status == 200);
  INFO(r.body);
  Json json(r.body);
  CHECK(std::string_view(json.root["user_id"]) == "u1");
  CHECK(std::uint64_t(json.root["total_events"]) == 4);
  CHECK(std::uint64_t(json.root["events"]["purchase"]) == 1);
  CHECK(std::string_view(json.root["currency"]) == "CNY");
  CHECK(r.body.find("\"total_spend\":39.98,") != std::string::npos);
  CHECK(std::string_view(json.root["first_seen"]) == format_iso8601(kBase + 1000));
  CHECK(std::string_view(json.root["last_seen"]) == format_iso8601(kBase + 2500));
  const dom::array recent = json.root["recent_events"];
  REQUIRE(recent.size() == 4);
  CHECK(std::string_view(recent.at(0)["event_type"]) == "purchase");  // newest first
}

TEST_CASE("POST /api/events accepts a JSON object or array and reports sequences", "[api][events]") {
  Rig rig;
  {
    const ApiResponse r = rig.post_events("application/json", R"({"user_id":"a","event_type":"view"})");
    REQUIRE(r.status == 200);
    Json json(r.body);
    CHECK(std::uint64_t(json.root["accepted"]) == 1);
    CHECK(std::uint64_t(json.root["duplicates"]) == 0);
    CHECK(std::uint64_t(json.root["first_sequence"]) == 1);
    CHECK(std::uint64_t(json.root["last_sequence"]) == 1);
  }
  {
    const ApiResponse r = rig.post_events(
        "application/json", R"([{"user_id":"a","event_type":"view"},{"user_id":"b","event_type":"click"}])");
    REQUIRE(r.status == 200);
    Json json(r.body);
    CHECK(std::uint64_t(json.root["accepted"]) == 2);
    CHECK(std::uint64_t(json.root["first_sequence"]) == 2);
    CHECK(std::uint64_t(json.root["last_sequence"]) == 3);
  }
  CHECK(rig.post_events("", R"({"user_id":"c","event_type":"view"})").status == 200);  // no type: JSON
}

TEST_CASE("POST /api/events accepts NDJSON", "[api][events]") {
  Rig rig;
  for (const char* type : {"application/x-ndjson", "application/ndjson", "application/jsonl"}) {
    INFO(type);
    const ApiResponse r =
        rig.post_events(type, "{\"user_id\":\"a\",\"event_type\":\"view\"}\r\n{\"user_id\":\"b\",\"event_type\":\"view\"}\r\n");
    REQUIRE(r.status == 200);
    Json json(r.body);
    CHECK(std::uint64_t(json.root["accepted"]) == 2);
  }
}

TEST_CASE("POST /api/events with another content type is 415", "[api][events]") {
  Rig rig;
  for (const char* type : {"text/plain", "application/xml", "multipart/form-data"}) {
    INFO(type);
    check_error(rig.post_events(type, R"({"user_id":"a","event_type":"view"})"), 415, "unsupported_media_type", "");
  }
  CHECK(rig.store->next_sequence() == 1);
}

TEST_CASE("a rejected body is 400 naming the line and field", "[api][events]") {
  Rig rig;
  const ApiResponse r = rig.post_events("application/x-ndjson",
                                        "{\"user_id\":\"a\",\"event_type\":\"view\"}\n"
                                        "{\"user_id\":\"b\",\"event_type\":\"purchase\",\"price\":\"1.999\"}\n");
  check_error(r, 400, "invalid_argument", "price");
  Json json(r.body);
  CHECK(std::int64_t(json.root["line"]) == 2);
  CHECK(rig.store->next_sequence() == 1);  // nothing from a rejected body is kept

  const ApiResponse array = rig.post_events("application/json",
                                            R"([{"user_id":"a","event_type":"view"},{"event_type":"view"}])");
  check_error(array, 400, "invalid_argument", "user_id");
  CHECK(std::int64_t(Json(array.body).root["line"]) == 2);

  const ApiResponse garbage = rig.post_events("application/json", "{\"user_id\":");
  check_error(garbage, 400, "invalid_argument", "");
}

TEST_CASE("a duplicate event_id is reported with null sequences", "[api][events]") {
  Rig rig;
  REQUIRE(rig.post_events("application/json", R"({"event_id":"e1","user_id":"a","event_type":"view"})").status ==
          200);
  const ApiResponse r = rig.post_events("application/json", R"({"event_id":"e1","user_id":"a","event_type":"view"})");
  REQUIRE(r.status == 200);
  CHECK(r.body == R"({"accepted":0,"duplicates":1,"first_sequence":null,"last_sequence":null})");
}

TEST_CASE("a storage failure is 503 with Retry-After and counted", "[api][events]") {
  Rig rig;
  rig.faults->fail_appends = true;
  const ApiResponse failed = rig.post_events("application/json", R"({"user_id":"a","event_type":"view"})");
  check_error(failed, 503, "io_error", "");
  CHECK(header(failed, "Retry-After") == "5");
  rig.faults->fail_appends = false;
  CHECK(rig.post_events("application/json", R"({"user_id":"a","event_type":"view"})").status == 200);
  CHECK(rig.get("/metrics").body.find("shoppulse_ingest_errors_total{reason=\"storage\"} 1\n") != std::string::npos);
}

TEST_CASE("POST /api/events after ingest stopped is 503 with Retry-After", "[api][events]") {
  Rig rig;
  rig.ingestor->stop();
  const ApiResponse r = rig.post_events("application/json", R"({"user_id":"a","event_type":"view"})");
  check_error(r, 503, "unavailable", "");
  CHECK(header(r, "Retry-After") == "5");
}

TEST_CASE("metrics are served as Prometheus text with each name described once", "[api][metrics]") {
  Rig rig;
  (void)rig.post_events("text/plain", "x");
  const ApiResponse r = rig.get("/metrics");
  REQUIRE(r.status == 200);
  CHECK(r.content_type.rfind("text/plain", 0) == 0);
  std::size_t help = 0;
  for (std::size_t p = r.body.find("# HELP shoppulse_ingest_errors_total "); p != std::string::npos;
       p = r.body.find("# HELP shoppulse_ingest_errors_total ", p + 1))
    ++help;
  CHECK(help == 1);
  CHECK(r.body.find("shoppulse_ingest_errors_total{reason=\"unsupported_media_type\"} 1\n") != std::string::npos);
}

TEST_CASE("the OpenAPI document describes exactly the routes the API serves", "[api][routing]") {
  Rig rig;
  const ApiResponse doc = rig.get("/openapi.json");
  REQUIRE(doc.status == 200);
  Json spec(doc.body);
  // "GET /api/analytics/user/{user_id}" -> "GET /api/analytics/user/{}"
  auto normalise = [](std::string s) {
    std::string out;
    bool in_param = false;
    for (char c : s) {
      if (c == '{') {
        in_param = true;
        out += "{}";
      } else if (c == '}') {
        in_param = false;
      } else if (!in_param) {
        out += c;
      }
    }
    return out;
  };
  std::set<std::string> documented;
  for (auto [path, item] : dom::object(spec.root["paths"]))
    for (auto [method, op] : dom::object(item)) {
      std::string m(method);
      for (char& c : m) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      documented.insert(m + " " + normalise(std::string(path)));
    }
  Json info(rig.get("/").body);
  std::set<std::string> served;
  for (dom::element e : dom::array(info.root["endpoints"])) served.insert(normalise(std::string(std::string_view(e))));
  CHECK(documented == served);

  // Every operation has an operationId (unique), and its documented query
  // parameters are exactly those the route declares (any other is a 400).
  std::map<std::string, std::set<std::string>> documented_params, declared_params;
  std::set<std::string> operation_ids;
  std::size_t operations = 0;
  for (auto [path, item] : dom::object(spec.root["paths"]))
    for (auto [method, op] : dom::object(item)) {
      std::string m(method);
      for (char& c : m) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      const std::string name = m + " " + normalise(std::string(path));
      ++operations;
      std::string_view id;
      INFO(name);
      REQUIRE(op["operationId"].get(id) == simdjson::SUCCESS);
      operation_ids.insert(std::string(id));
      auto& params = documented_params[name];
      dom::array list;
      if (op["parameters"].get(list) != simdjson::SUCCESS) continue;
      for (dom::element p : list) {
        std::string_view ref;
        dom::element resolved = p;
        if (p["$ref"].get(ref) == simdjson::SUCCESS) {
          const std::string key(ref.substr(ref.rfind('/') + 1));
          resolved = spec.root["components"]["parameters"][key];
        }
        if (std::string_view(resolved["in"]) == "query") params.insert(std::string(std::string_view(resolved["name"])));
      }
    }
  CHECK(operation_ids.size() == operations);
  for (auto [name, list] : dom::object(info.root["parameters"])) {
    auto& params = declared_params[normalise(std::string(name))];
    for (dom::element p : dom::array(list)) params.insert(std::string(std::string_view(p)));
  }
  for (const auto& [name, params] : declared_params) {
    INFO(name);
    CHECK(documented_params[name] == params);
  }
  CHECK(documented_params.size() == declared_params.size());
}

TEST_CASE("every parameter and request body in the OpenAPI document has an example or a default", "[api][openapi]") {
  const Json spec{std::string(openapi_document())};
  std::size_t parameters = 0, bodies = 0;
  for (auto [path, item] : dom::object(spec.root["paths"]))
    for (auto [method, op] : dom::object(item)) {
      const std::string name = std::string(method) + " " + std::string(path);
      dom::array list;
      if (op["parameters"].get(list) == simdjson::SUCCESS) {
        for (dom::element p : list) {
          std::string_view ref;
          dom::element resolved = p;
          if (p["$ref"].get(ref) == simdjson::SUCCESS)
            resolved = spec.root["components"]["parameters"][std::string(ref.substr(ref.rfind('/') + 1))];
          dom::element unused;
          const bool shown = resolved["example"].get(unused) == simdjson::SUCCESS ||
                             resolved["examples"].get(unused) == simdjson::SUCCESS ||
                             resolved["schema"]["default"].get(unused) == simdjson::SUCCESS ||
                             resolved["schema"]["example"].get(unused) == simdjson::SUCCESS;
          INFO(name << " parameter " << std::string_view(resolved["name"]));
          CHECK(shown);
          ++parameters;
        }
      }
      dom::object content;
      if (op["requestBody"]["content"].get(content) == simdjson::SUCCESS) {
        for (auto [type, media] : content) {
          dom::element unused;
          INFO(name << " body " << std::string_view(type));
          CHECK((media["example"].get(unused) == simdjson::SUCCESS ||
                 media["examples"].get(unused) == simdjson::SUCCESS));
          ++bodies;
        }
      }
    }
  CHECK(parameters > 50);  // the walk saw the document's parameters
  CHECK(bodies >= 6);
}

namespace {
std::string view_line(const std::string& user, const std::string& product, TimestampMs offset,
                      const std::string& type = "view") {
  return "{\"user_id\":\"" + user + "\",\"event_type\":\"" + type + "\",\"product_id\":\"" + product +
         "\",\"category_id\":\"c1\",\"price\":\"10.00\",\"timestamp\":" + ts(offset) + "}\n";
}
std::vector<std::string> recommended_products(const ApiResponse& r) {
  Json json(r.body);
  std::vector<std::string> out;
  for (dom::element e : dom::array(json.root["recommendations"]))
    out.emplace_back(std::string_view(e["product_id"]));
  return out;
}
}  // namespace

TEST_CASE("a new shopper gets cold-start picks, then items viewed together with their first view", "[api][recommend]") {
  Rig rig;
  std::string body;
  // Shoppers who look at p1 also look at p2; p3 is popular on its own.
  for (int u = 0; u < 5; ++u) {
    body += view_line("u" + std::to_string(u), "p1", 1000 + u * 100);
    body += view_line("u" + std::to_string(u), "p2", 1050 + u * 100);
  }
  for (int u = 5; u < 15; ++u) body += view_line("u" + std::to_string(u), "p3", 2000 + u * 100);
  REQUIRE(rig.post_events("application/x-ndjson", body).status == 200);
  rig.wait_applied(20);
  rig.wait_recommended(20);

  const ApiResponse cold = rig.get("/api/products/recommendations/user/newbie");
  REQUIRE(cold.status == 200);
  Json cold_json(cold.body);
  CHECK(bool(cold_json.root["cold_start"]));
  CHECK(std::string_view(cold_json.root["algorithm"]) == "hybrid");
  CHECK(!recommended_products(cold).empty());

  REQUIRE(rig.post_events("application/json", view_line("newbie", "p1", 5000)).status == 200);
  rig.wait_recommended(21);  // how soon is a benchmark figure (bench_recommend), not asserted here
  const ApiResponse warm = rig.get("/api/products/recommendations/user/newbie", "algorithm=item_cf");
  REQUIRE(warm.status == 200);
  const std::vector<std::string> products = recommended_products(warm);
  REQUIRE(!products.empty());
  CHECK(products.front() == "p2");
  CHECK(warm.body.find("viewed together with p1") != std::string::npos);
}

TEST_CASE("recommendations never include what the shopper bought, and honour exclude and limit", "[api][recommend]") {
  Rig rig;
  std::string body;
  for (int u = 0; u < 6; ++u) {
    const std::string user = "u" + std::to_string(u);
    body += view_line(user, "p1", 1000 + u * 100) + view_line(user, "p2", 1010 + u * 100) +
            view_line(user, "p3", 1020 + u * 100) + view_line(user, "p4", 1030 + u * 100);
  }
  body += view_line("buyer", "p1", 9000) + view_line("buyer", "p2", 9010, "purchase");
  REQUIRE(rig.post_events("application/x-ndjson", body).status == 200);
  rig.wait_recommended(26);
  rig.wait_applied(26);  // the profile below lives on the engine thread
  const auto products = recommended_products(rig.get("/api/products/recommendations/user/buyer", "limit=10"));
  CHECK(products.size() >= 2);
  CHECK(std::find(products.begin(), products.end(), "p2") == products.end());
  const auto limited = recommended_products(rig.get("/api/products/recommendations/user/buyer", "limit=1&exclude=p3"));
  CHECK(limited.size() <= 1);
  CHECK(std::find(limited.begin(), limited.end(), "p3") == limited.end());
  check_error(rig.get("/api/products/recommendations/user/buyer", "algorithm=magic"), 400, "invalid_argument",
              "algorithm");
  check_error(rig.get("/api/products/recommendations/user/buyer", "category=nope"), 404, "not_found", "category");
  check_error(rig.get("/api/products/zzz/similar"), 404, "not_found", "");
  const ApiResponse similar = rig.get("/api/products/p1/similar", "limit=3");
  REQUIRE(similar.status == 200);
  CHECK(recommended_products(similar).size() == 3);
  CHECK(rig.get("/api/products/trending").status == 200);
  const ApiResponse top = rig.get("/api/analytics/propensity", "limit=5");
  REQUIRE(top.status == 200);
  Json top_json(top.body);
  CHECK(dom::array(top_json.root["users"]).size() <= 5);
  const ApiResponse profile = rig.get("/api/analytics/user/buyer");
  REQUIRE(profile.status == 200);
  Json profile_json(profile.body);
  CHECK(profile_json.root["purchase_propensity"].is_double());
}

TEST_CASE("trends with forecast add predicted points with intervals and flag anomalies", "[api][forecast]") {
  Rig rig;
  std::string body;
  // Minute-aligned, half an hour back: twelve minutes of a steady 3 views a
  // minute, then a burst of 40.
  const TimestampMs origin = (kBase - 1800000) / 60000 * 60000;
  const TimestampMs at = origin - kBase;  // offsets are relative to kBase
  for (int m = 0; m < 12; ++m)
    for (int k = 0; k < 3; ++k)
      body += view_line("u" + std::to_string(k), "p1", at + m * 60000 + k * 1000);
  for (int k = 0; k < 40; ++k) body += view_line("b" + std::to_string(k), "p2", at + 12 * 60000 + k * 100);
  body += view_line("tick", "p3", at + 20 * 60000);  // moves the watermark past the burst's minute
  REQUIRE(rig.post_events("application/x-ndjson", body).status == 200);
  rig.wait_applied(77);
  const std::string from = std::to_string(origin);
  const std::string to = std::to_string(origin + 13 * 60000);
  const ApiResponse r = rig.get("/api/analytics/trends", "from=" + from + "&to=" + to + "&step=1m&forecast=5m");
  REQUIRE(r.status == 200);
  Json json(r.body);
  dom::element forecast = json.root["forecast"];
  CHECK(bool(forecast["available"]));
  dom::array ahead = forecast["points"];
  CHECK(ahead.size() == 5);
  for (dom::element p : ahead) {
    const double value = p["page_views"]["value"], lower = p["page_views"]["lower"], upper = p["page_views"]["upper"];
    CHECK(lower <= value);
    CHECK(value <= upper);
  }
  dom::array points = json.root["points"];
  REQUIRE(points.size() == 13);
  bool burst_flagged = false;
  for (dom::element name : dom::array(points.at(12)["anomalies"]))
    if (std::string_view(name) == "page_views") burst_flagged = true;
  CHECK(burst_flagged);
  CHECK(dom::array(points.at(5)["anomalies"]).size() == 0);
  check_error(rig.get("/api/analytics/trends", "step=5m&forecast=7m"), 400, "invalid_argument", "forecast");
}

TEST_CASE("the newest log lines are served, oldest first, up to the limit", "[api][system]") {
  Rig rig;
  // The rig's threads log once when they have started; let them finish first.
  REQUIRE(rig.recommend->wait_until([](const RecommendRunnerStats& s) { return s.state == "running"; },
                                    Rig::deadline()));
  REQUIRE(rig.engine->wait_until([](const EngineStats& s) { return s.state == "running"; }, Rig::deadline()));
  const Logger log("test");
  for (int i = 0; i < 5; ++i) log.warn("api logs test line", {{"n", std::to_string(i)}});
  const ApiResponse r = rig.get("/api/system/logs", "limit=3");
  REQUIRE(r.status == 200);
  Json json(r.body);
  dom::array lines = json.root["lines"];
  REQUIRE(lines.size() == 3);
  CHECK(std::string_view(lines.at(2)).find("n=4") != std::string_view::npos);
  CHECK(std::string_view(lines.at(0)).find("n=2") != std::string_view::npos);
  check_error(rig.get("/api/system/logs", "limit=1000"), 400, "invalid_argument", "limit");
}

TEST_CASE("real-time answers and the broadcast name the currency of their money fields", "[api][realtime]") {
  Rig rig;
  Json json(rig.get("/api/analytics/real-time").body);
  CHECK(std::string_view(json.root["currency"]) == "CNY");
  Json message(render_broadcast(*rig.engine->latest(), rig.dictionary, kNow, "EUR"));
  CHECK(std::string_view(message.root["currency"]) == "EUR");
}

TEST_CASE("the broadcast says which logged sequence it covers", "[api][coverage]") {
  Rig rig;
  load_known_stream(rig);
  const Sequence logged = rig.store->next_sequence() - 1;
  rig.wait_applied(logged);
  Json caught_up(render_broadcast(*rig.engine->latest(), rig.dictionary, kNow, "CNY", logged));
  CHECK(bool(caught_up.root["complete"]));
  CHECK(std::uint64_t(caught_up.root["applied_sequence"]) == logged);
  Json behind(render_broadcast(*rig.engine->latest(), rig.dictionary, kNow, "CNY", logged + 1));
  CHECK_FALSE(bool(behind.root["complete"]));
  CHECK(std::uint64_t(behind.root["logged_sequence"]) == logged + 1);
}

TEST_CASE("an uploaded data set loads through ingest, reporting bad lines by number", "[api][import]") {
  Rig rig;
  const std::string ts = std::to_string((kBase - 60000) / 1000);  // Taobao timestamps are seconds
  const std::string csv = "1,101,7,pv," + ts + "\n" + "2,102,7,buy," + ts + "\n" + "3,103,7,teleport," + ts + "\n" +
                          "4,101,7,cart," + ts + "\n";
  const ApiResponse r = rig.call("POST", "/api/import", "format=taobao", "text/csv", csv);
  REQUIRE(r.status == 200);
  Json json(r.body);
  CHECK(std::uint64_t(json.root["accepted"]) == 3);
  CHECK(std::uint64_t(json.root["bad_lines"]) == 1);
  CHECK(std::uint64_t(json.root["problems"].at(0)["line"]) == 3);
  CHECK(std::uint64_t(json.root["last_sequence"]) == 3);
  rig.wait_applied(3);
  // The imported events are in the log and the engine like posted ones.
  CHECK(rig.get("/api/analytics/user/4").status == 200);
  CHECK_FALSE(bool(json.root["already_imported"]));
  // The same bytes again: on record as imported completely, skipped as a whole.
  Json again(rig.call("POST", "/api/import", "format=taobao", "text/csv", csv).body);
  CHECK(bool(again.root["already_imported"]));
  CHECK(std::uint64_t(again.root["through_sequence"]) == 3);
  CHECK(std::uint64_t(again.root["accepted"]) == 0);
  // Forced: read again, and every row is refused by its derived event id.
  Json forced(rig.call("POST", "/api/import", "format=taobao&force=true", "text/csv", csv).body);
  CHECK_FALSE(bool(forced.root["already_imported"]));
  CHECK(std::uint64_t(forced.root["accepted"]) == 0);
  CHECK(std::uint64_t(forced.root["duplicates"]) == 3);
  check_error(rig.call("POST", "/api/import", "format=taobao&force=maybe", "text/csv", csv), 400, "invalid_argument",
              "force");
  check_error(rig.call("POST", "/api/import", "format=excel", "text/csv", csv), 400, "invalid_argument", "format");
}

TEST_CASE("every analytics answer says which logged sequence it covers", "[api][coverage]") {
  Rig rig;
  load_known_stream(rig);
  const Sequence logged = rig.store->next_sequence() - 1;
  REQUIRE(logged > 0);
  rig.wait_applied(logged);
  rig.wait_recommended(logged);
  for (const char* path : {"/api/analytics/real-time", "/api/analytics/trends", "/api/analytics/user/u1",
                           "/api/products/popular", "/api/products/recommendations/user/u1",
                           "/api/products/trending", "/api/analytics/propensity"}) {
    INFO(path);
    const ApiResponse r = rig.get(path);
    REQUIRE(r.status == 200);
    Json json(r.body);
    CHECK(bool(json.root["complete"]));
    CHECK(std::uint64_t(json.root["applied_sequence"]) == logged);
    CHECK(std::uint64_t(json.root["logged_sequence"]) == logged);
  }
  // A newly logged event the windows have not applied: not complete.
  rig.pause_engine();
  const ApiResponse posted = rig.post_events("application/json", R"({"user_id":"u1","event_type":"view"})");
  REQUIRE(posted.status == 200);
  Json json(rig.get("/api/analytics/real-time").body);
  CHECK_FALSE(bool(json.root["complete"]));
  CHECK(std::uint64_t(json.root["applied_sequence"]) == logged);
  CHECK(std::uint64_t(json.root["logged_sequence"]) == logged + 1);
  rig.engine->resume();
}

TEST_CASE("min_sequence holds an answer until the state it reads has applied the write, bounded by max_wait",
          "[api][coverage]") {
  Rig rig;
  rig.wait_ready();
  rig.pause_engine();
  const ApiResponse posted =
      rig.post_events("application/json", R"({"user_id":"w1","event_type":"view","product_id":"p9"})");
  REQUIRE(posted.status == 200);
  const std::uint64_t last = std::uint64_t(Json(posted.body).root["last_sequence"]);

  // Paused windows never apply it: 503 with Retry-After after api.max_wait.
  const ApiResponse late = rig.get("/api/analytics/real-time", "min_sequence=" + std::to_string(last));
  check_error(late, 503, "unavailable", "");
  CHECK(header(late, "Retry-After") == "1");

  // Held (not refused) until applied, then reflecting the write.
  auto promise = std::make_shared<std::promise<ApiResponse>>();
  auto answer = promise->get_future();
  rig.handler->handle(ApiRequest{"GET", "/api/analytics/user/w1", "min_sequence=" + std::to_string(last), "", ""},
                      [promise](ApiResponse r) { promise->set_value(std::move(r)); });
  CHECK(answer.wait_for(0s) == std::future_status::timeout);
  rig.engine->resume();
  REQUIRE(answer.wait_for(10s) == std::future_status::ready);
  const ApiResponse r = answer.get();
  INFO(r.body);
  REQUIRE(r.status == 200);
  Json json(r.body);
  CHECK(bool(json.root["complete"]));
  CHECK(std::uint64_t(json.root["applied_sequence"]) >= last);
  CHECK(std::uint64_t(json.root["total_events"]) == 1);
  const ApiResponse realtime = rig.get("/api/analytics/real-time", "min_sequence=" + std::to_string(last));
  REQUIRE(realtime.status == 200);
  CHECK(std::uint64_t(Json(realtime.body).root["applied_sequence"]) >= last);

  // The recommender's answers wait for the recommender.
  const ApiResponse recs =
      rig.get("/api/products/recommendations/user/w1", "min_sequence=" + std::to_string(last));
  REQUIRE(recs.status == 200);
  CHECK(std::uint64_t(Json(recs.body).root["applied_sequence"]) >= last);

  check_error(rig.get("/api/analytics/real-time", "min_sequence=" + std::to_string(last + 1)), 400,
              "invalid_argument", "min_sequence");
  check_error(rig.get("/api/analytics/real-time", "min_sequence=abc"), 400, "invalid_argument", "min_sequence");
}

TEST_CASE("readiness is 200 once derived state has caught up, and health says so", "[api][system]") {
  Rig rig;
  rig.wait_ready();
  const ApiResponse r = rig.get("/api/ready");
  Json json(r.body);
  CHECK(bool(json.root["ready"]));
  CHECK(std::string_view(json.root["status"]) == "ready");
  Json health(rig.get("/api/health").body);
  CHECK(std::string_view(health.root["status"]) == "healthy");
  CHECK(bool(health.root["derived_state"]["windows"]["caught_up"]));
  CHECK(bool(health.root["derived_state"]["recommender"]["caught_up"]));
}

TEST_CASE("a refused parameter whose bytes are not UTF-8 is echoed as valid JSON", "[api][errors]") {
  Rig rig;
  // %FF decodes to a byte that is not UTF-8; the detail quotes the value.
  const ApiResponse r = rig.get("/api/products/recommendations/user/u1", "algorithm=item_%FFf");
  check_error(r, 400, "invalid_argument", "algorithm");
  CHECK(r.body.find("item_\\ufffdf") != std::string::npos);
}

TEST_CASE("an unknown query parameter is 400 naming it, on every route", "[api][hygiene]") {
  Rig rig;
  const ApiResponse r = rig.get("/api/analytics/real-time", "window=5m&windw=1h");
  check_error(r, 400, "invalid_argument", "windw");
  CHECK(r.body.find("this route takes window") != std::string::npos);
  check_error(rig.get("/api/analytics/trends", "stepp=5m"), 400, "invalid_argument", "stepp");
  check_error(rig.get("/api/health", "verbose=1"), 400, "invalid_argument", "verbose");
  check_error(rig.get("/api/products/popular", "categry=c1&limit=3"), 400, "invalid_argument", "categry");
  check_error(rig.get("/api/events", "user=u1"), 400, "invalid_argument", "user");
  check_error(rig.call("POST", "/api/events", "dry_run=true", "application/json", "{}"), 400, "invalid_argument",
              "dry_run");
  // Both unknown names are in the detail; the first is the field.
  const ApiResponse two = rig.get("/api/products/trending", "a=1&b=2&limit=3");
  check_error(two, 400, "invalid_argument", "a");
  CHECK(two.body.find("parameters a, b") != std::string::npos);
  // Declared ones pass, min_sequence where the route reads derived state.
  CHECK(rig.get("/api/analytics/real-time", "window=1h&category=c1").status == 200);
  CHECK(rig.get("/api/products/trending", "limit=3&min_sequence=0").status == 200);
  check_error(rig.get("/api/system/logs", "min_sequence=0"), 400, "invalid_argument", "min_sequence");
}

TEST_CASE("integer times before 2000 are refused as epoch seconds, with a hint, in every time parameter",
          "[api][hygiene]") {
  Rig rig;
  struct Case {
    const char* path;
    const char* query;
    const char* field;
  };
  for (const Case& c : {Case{"/api/analytics/trends", "from=1709290800", "from"},
                        Case{"/api/analytics/trends", "to=1709294400", "to"},
                        Case{"/api/products/popular", "end=1709294400", "end"},
                        Case{"/api/events", "from=1709290800", "from"},
                        Case{"/api/events", "to=1709294400", "to"}}) {
    INFO(c.path << "?" << c.query);
    const ApiResponse r = rig.get(c.path, c.query);
    check_error(r, 400, "invalid_argument", c.field);
    CHECK(r.body.find("epoch seconds?") != std::string::npos);
    CHECK(r.body.find("1709") != std::string::npos);
  }
  // The same instant in milliseconds is accepted.
  CHECK(rig.get("/api/analytics/trends", "from=1709290800000&to=1709294400000").status == 200);
  CHECK(rig.get("/api/products/popular", "end=1709294400000").status == 200);
}

TEST_CASE("one duration vocabulary: equal durations name the same window on every endpoint", "[api][hygiene]") {
  Rig rig;
  load_known_stream(rig);
  auto without_timestamp = [](std::string body) {
    const auto at = body.find("\"timestamp\":");
    return at == std::string::npos ? body : body.erase(at, body.find(',', at) - at);
  };
  const std::string day = without_timestamp(rig.get("/api/analytics/real-time", "window=24h").body);
  CHECK(without_timestamp(rig.get("/api/analytics/real-time", "window=1d").body) == day);
  CHECK(without_timestamp(rig.get("/api/analytics/real-time", "window=1440m").body) == day);
  CHECK(rig.get("/api/analytics/real-time", "window=60m").body.find("\"time_window\":\"1h\"") != std::string::npos);
  const std::string q = "from=2024-03-01T00:00:00Z&to=2024-03-03T00:00:00Z&step=";
  auto points = [&](const std::string& step) {
    const ApiResponse r = rig.get("/api/analytics/trends", q + step);
    REQUIRE(r.status == 200);
    const auto at = r.body.find("\"points\":");
    return r.body.substr(at, r.body.find("\"complete\"") - at);
  };
  CHECK(points("1d") == points("24h"));
  CHECK(points("1h") == points("60m"));
  CHECK(rig.get("/api/products/popular", "window=1d").status == 200);
  CHECK(rig.get("/api/products/popular", "window=24h").body == rig.get("/api/products/popular", "window=1d").body);
  // Seconds and milliseconds are no part of it; nor are upper-case units.
  for (const char* w : {"window=90s", "window=60000", "window=1H", "window=0m"}) {
    INFO(w);
    check_error(rig.get("/api/products/popular", w), 400, "invalid_argument", "window");
  }
  check_error(rig.get("/api/analytics/trends", "step=2h"), 400, "invalid_argument", "step");
  check_error(rig.get("/api/analytics/trends", "forecast=30s"), 400, "invalid_argument", "forecast");
  CHECK(rig.get("/api/analytics/trends", "step=5m&forecast=1h").status == 200);
}

TEST_CASE("an empty install answers null for times and says there are no events yet", "[api][onboarding]") {
  Rig rig;
  const ApiResponse rt = rig.get("/api/analytics/real-time");
  REQUIRE(rt.status == 200);
  Json json(rt.body);
  CHECK(json.root["window"]["start"].is_null());
  CHECK(json.root["window"]["end"].is_null());
  CHECK(json.root["window"]["watermark"].is_null());
  CHECK(json.root["previous"]["start"].is_null());
  CHECK(rt.body.find("1970") == std::string::npos);
  const std::string broadcast = render_broadcast(*rig.engine->latest(), rig.dictionary, kNow);
  CHECK(broadcast.find("1970") == std::string::npos);
  CHECK(broadcast.find("\"watermark\":null") != std::string::npos);
  // Before the engine's first publish, readers hold a snapshot of nothing:
  // it too names each window once (it named "5m" five times).
  const std::string before_first = render_broadcast(WindowSnapshot{}, rig.dictionary, kNow);
  Json nothing(before_first);
  for (const char* span : {"1m", "5m", "15m", "1h", "24h"}) {
    INFO(span);
    CHECK(nothing.root["windows"][span].is_object());
    CHECK(before_first.find("\"" + std::string(span) + "\":{") == before_first.rfind("\"" + std::string(span) + "\":{"));
  }
  Json status(rig.get("/api/system/status").body);
  CHECK(status.root["ingest"]["watermark"].is_null());
  Json info(rig.get("/").body);
  CHECK(std::uint64_t(info.root["events"]) == 0);
  CHECK(std::string_view(info.root["first_event"]).find("/api/events") != std::string_view::npos);
  CHECK(rig.get("/api/users").body.find("\"users\":[]") != std::string::npos);
  CHECK(rig.get("/api/events").body.empty());

  load_known_stream(rig);
  Json after(rig.get("/api/analytics/real-time").body);
  CHECK(std::string_view(after.root["window"]["watermark"]).substr(0, 4) == "2024");
  Json info_after(rig.get("/").body);
  CHECK(std::uint64_t(info_after.root["events"]) == 8);
  CHECK(info_after.root["first_event"].error() == simdjson::NO_SUCH_FIELD);
}

namespace {
// A stream of n events over users u0..u6, products p0..p4 and every browser
// event type, one second apart from kBase (so from/to cut it anywhere).
struct Posted {
  std::string user, product, type;
  TimestampMs time;
};
std::vector<Posted> varied_stream(std::size_t n, std::size_t offset = 0) {
  static const char* kTypes[] = {"view", "click", "add_to_cart", "favorite", "purchase"};
  std::vector<Posted> out;
  for (std::size_t i = offset; i < offset + n; ++i)
    out.push_back({"u" + std::to_string(i % 7), "p" + std::to_string(i % 5), kTypes[i % 5],
                   kBase + static_cast<TimestampMs>(i) * 1000});
  return out;
}
std::string ndjson(const std::vector<Posted>& events) {
  std::string body;
  for (const Posted& e : events)
    body += "{\"user_id\":\"" + e.user + "\",\"product_id\":\"" + e.product + "\",\"event_type\":\"" + e.type +
            "\",\"category_id\":\"c1\",\"price\":\"2.50\",\"timestamp\":" + ts(e.time - kBase) + "}\n";
  return body;
}
std::string key_of(const std::string& user, const std::string& product, const std::string& type, TimestampMs t) {
  return user + "|" + product + "|" + type + "|" + std::to_string(t);
}
// Pages through GET /api/events with query, returning each line's key and
// the number of pages; every line must parse and carry the ingest fields.
std::vector<std::string> export_all(Rig& rig, const std::string& query, std::size_t* pages = nullptr) {
  std::vector<std::string> keys;
  std::string cursor;
  std::size_t n = 0;
  for (;;) {
    const ApiResponse r = rig.get("/api/events", query + (cursor.empty() ? "" : "&cursor=" + cursor));
    INFO(r.body);
    REQUIRE(r.status == 200);
    CHECK(r.content_type == "application/x-ndjson");
    ++n;
    std::size_t pos = 0;
    while (pos < r.body.size()) {
      const std::size_t nl = r.body.find('\n', pos);
      REQUIRE(nl != std::string::npos);
      Json line(r.body.substr(pos, nl - pos));
      keys.push_back(key_of(std::string(std::string_view(line.root["user_id"])),
                            std::string(std::string_view(line.root["product_id"])),
                            std::string(std::string_view(line.root["event_type"])),
                            *parse_iso8601(std::string_view(line.root["timestamp"]))));
      pos = nl + 1;
    }
    cursor = header(r, "X-Next-Cursor");
    if (cursor.empty()) break;
    REQUIRE(n < 1000);
  }
  if (pages) *pages = n;
  return keys;
}
}  // namespace

TEST_CASE("GET /api/events pages through every logged event exactly once, filters as a brute force does",
          "[api][export]") {
  Rig rig;
  const auto events = varied_stream(60);
  REQUIRE(rig.post_events("application/x-ndjson", ndjson(events)).status == 200);
  std::vector<std::string> all;
  for (const Posted& e : events) all.push_back(key_of(e.user, e.product, e.type, e.time));

  std::size_t pages = 0;
  CHECK(export_all(rig, "limit=7", &pages) == all);  // log order is posting order
  CHECK(pages == 9);  // 8 full pages and the rest; the last has no cursor
  CHECK(export_all(rig, "limit=60", &pages) == all);
  CHECK(pages == 1);
  CHECK(export_all(rig, "") == all);

  // Each filter, and all together, against the posted list.
  struct Filter {
    std::string query;
    std::function<bool(const Posted&)> keep;
  };
  const TimestampMs from = kBase + 12000, to = kBase + 47000;
  const std::vector<Filter> filters{
      {"user_id=u3", [](const Posted& e) { return e.user == "u3"; }},
      {"product_id=p2", [](const Posted& e) { return e.product == "p2"; }},
      {"event_type=purchase", [](const Posted& e) { return e.type == "purchase"; }},
      {"from=" + std::to_string(from), [&](const Posted& e) { return e.time >= from; }},
      {"to=" + format_iso8601(to), [&](const Posted& e) { return e.time < to; }},
      {"user_id=u1&event_type=view&from=" + std::to_string(from) + "&to=" + std::to_string(to),
       [&](const Posted& e) { return e.user == "u1" && e.type == "view" && e.time >= from && e.time < to; }},
      {"user_id=nobody", [](const Posted&) { return false; }},
  };
  for (const Filter& f : filters) {
    INFO(f.query);
    std::vector<std::string> expected;
    for (const Posted& e : events)
      if (f.keep(e)) expected.push_back(key_of(e.user, e.product, e.type, e.time));
    CHECK(export_all(rig, f.query + "&limit=4") == expected);
  }
}

namespace {
// The exporter's answer to one page, and each pull's piece, waited for.
ApiResponse export_answer(EventExporter& exporter, ExportQuery query) {
  auto promise = std::make_shared<std::promise<ApiResponse>>();
  auto future = promise->get_future();
  auto queued = exporter.export_page(std::move(query), [promise](ApiResponse r) { promise->set_value(std::move(r)); });
  REQUIRE(queued.ok());
  REQUIRE(future.wait_for(10s) == std::future_status::ready);
  return future.get();
}
Result<BodyPiece> pull_piece(BodyStream& stream) {
  auto promise = std::make_shared<std::promise<Result<BodyPiece>>>();
  auto future = promise->get_future();
  stream.pull([promise](Result<BodyPiece> piece) { promise->set_value(std::move(piece)); });
  REQUIRE(future.wait_for(10s) == std::future_status::ready);
  return future.get();
}
}  // namespace

TEST_CASE("an export page is sent in pieces of about piece_bytes, each read only when pulled, the same lines as "
          "whole",
          "[api][export]") {
  Rig rig;
  for (std::size_t i = 0; i < 20; ++i)  // 20 appends of 100: blocks of at most 100 records
    REQUIRE(rig.post_events("application/x-ndjson", ndjson(varied_stream(100, i % 2 * 10))).status == 200);
  const std::string whole = rig.get("/api/events", "limit=1500").body;
  ExportLimits limits;
  limits.piece_bytes = 4096;
  EventExporter exporter(*rig.store, rig.dictionary, limits);
  ExportQuery query;
  query.limit = 1500;
  const ApiResponse answer = export_answer(exporter, query);
  REQUIRE(answer.stream);
  CHECK(header(answer, "X-Next-Cursor") == header(rig.get("/api/events", "limit=1500"), "X-Next-Cursor"));
  std::string body;
  std::size_t pieces = 0, largest = 0;
  for (;;) {
    Result<BodyPiece> piece = pull_piece(*answer.stream);
    REQUIRE(piece.ok());
    body += piece->bytes;
    largest = std::max(largest, piece->bytes.size());
    ++pieces;
    if (piece->last) break;
  }
  CHECK(body == whole);
  CHECK(pieces > whole.size() / (4096 + 100 * 400));
  // A piece ends after the block that takes it past piece_bytes: at most one
  // block (100 lines here) beyond it.
  const std::size_t line = whole.find('\n') + 1;
  CHECK(largest < 4096 + 100 * 2 * line);
}

TEST_CASE("at most max_open_pages exports are open; a dropped stream gives its place back, and a pull after the "
          "exporter stopped is unavailable",
          "[api][export]") {
  Rig rig;
  REQUIRE(rig.post_events("application/x-ndjson", ndjson(varied_stream(50))).status == 200);
  ExportLimits limits;
  limits.max_open_pages = 2;
  auto exporter = std::make_unique<EventExporter>(*rig.store, rig.dictionary, limits);
  ExportQuery query;
  ApiResponse first = export_answer(*exporter, query);
  ApiResponse second = export_answer(*exporter, query);
  REQUIRE(first.stream);
  REQUIRE(second.stream);
  CHECK(exporter->open_pages() == 2);
  auto refused = exporter->export_page(query, [](ApiResponse) {});
  REQUIRE(!refused.ok());
  CHECK(refused.error().code == Errc::overloaded);
  first.stream.reset();  // the client went away
  CHECK(exporter->open_pages() == 1);
  ApiResponse third = export_answer(*exporter, query);
  CHECK(third.stream);
  third.stream.reset();
  exporter.reset();  // the server stops while `second` is still open
  Result<BodyPiece> late = pull_piece(*second.stream);
  REQUIRE(!late.ok());
  CHECK(late.error().code == Errc::unavailable);
}

TEST_CASE("an export cursor stays valid across a concurrent POST, whose events come once on later pages",
          "[api][export]") {
  Rig rig;
  const auto first = varied_stream(20);
  REQUIRE(rig.post_events("application/x-ndjson", ndjson(first)).status == 200);
  const ApiResponse page1 = rig.get("/api/events", "limit=8");
  const std::string cursor = header(page1, "X-Next-Cursor");
  REQUIRE(!cursor.empty());
  const auto second = varied_stream(15, 20);
  REQUIRE(rig.post_events("application/x-ndjson", ndjson(second)).status == 200);
  std::vector<std::string> expected;
  for (const auto* list : {&first, &second})
    for (const Posted& e : *list) expected.push_back(key_of(e.user, e.product, e.type, e.time));
  expected.erase(expected.begin(), expected.begin() + 8);  // what page 1 held
  std::vector<std::string> paged;
  std::string next = cursor;
  while (!next.empty()) {
    const ApiResponse r = rig.get("/api/events", "limit=8&cursor=" + next);
    REQUIRE(r.status == 200);
    std::size_t pos = 0;
    while (pos < r.body.size()) {
      const std::size_t nl = r.body.find('\n', pos);
      Json line(r.body.substr(pos, nl - pos));
      paged.push_back(key_of(std::string(std::string_view(line.root["user_id"])),
                             std::string(std::string_view(line.root["product_id"])),
                             std::string(std::string_view(line.root["event_type"])),
                             *parse_iso8601(std::string_view(line.root["timestamp"]))));
      pos = nl + 1;
    }
    next = header(r, "X-Next-Cursor");
  }
  CHECK(paged == expected);
}

TEST_CASE("an export page reads no more records than the largest page holds, however selective its filter",
          "[api][export]") {
  // 20,000 views and then one purchase: the first page of purchases reads
  // the views only (no line, a cursor), the second finds the purchase.
  constexpr std::size_t kLargestPage = 20000;
  ApiConfig api = rig_api();
  api.export_max_page = kLargestPage;
  Rig rig(WindowConfig{}.max_profiles, api);
  std::string views;
  for (std::size_t i = 0; i < kLargestPage; ++i) {
    views += "{\"user_id\":\"u" + std::to_string(i % 100) + "\",\"event_type\":\"view\",\"product_id\":\"p1\"}\n";
    if ((i + 1) % 10000 == 0) {
      REQUIRE(rig.post_events("application/x-ndjson", views).status == 200);
      views.clear();
      rig.wait_applied(i + 1);  // the ingest queue is bounded
    }
  }
  REQUIRE(rig.post_events("application/x-ndjson",
                          "{\"user_id\":\"u1\",\"event_type\":\"purchase\",\"product_id\":\"p1\",\"price\":\"1.00\"}\n")
              .status == 200);
  const ApiResponse first = rig.get("/api/events", "event_type=purchase&limit=20000");
  REQUIRE(first.status == 200);
  CHECK(first.body.empty());
  const std::string cursor = header(first, "X-Next-Cursor");
  REQUIRE(!cursor.empty());
  const ApiResponse second = rig.get("/api/events", "event_type=purchase&limit=20000&cursor=" + cursor);
  REQUIRE(second.status == 200);
  CHECK(std::count(second.body.begin(), second.body.end(), '\n') == 1);
  CHECK(second.body.find("\"event_type\":\"purchase\"") != std::string::npos);
  CHECK(header(second, "X-Next-Cursor").empty());
}

TEST_CASE("an export can be posted back as it is, and bad limits and cursors are 400", "[api][export]") {
  Rig rig;
  load_known_stream(rig);
  const ApiResponse out = rig.get("/api/events");
  REQUIRE(out.status == 200);
  CHECK(out.body.find("\"price\":19.99") != std::string::npos);
  CHECK(out.body.find("\"quantity\":2") != std::string::npos);
  Rig other;
  const ApiResponse back = other.post_events("application/x-ndjson", out.body);
  INFO(back.body);
  REQUIRE(back.status == 200);
  CHECK(Json(back.body).root["accepted"].get_uint64().value() == 8);
  other.wait_applied(8);
  // The same figures from the copy as from the original.
  auto figures = [](Rig& r) {
    std::string body = r.get("/api/analytics/real-time", "window=1h").body;
    return body.substr(0, body.find("\"timestamp\""));
  };
  CHECK(figures(other) == figures(rig));

  check_error(rig.get("/api/events", "limit=1000001"), 400, "invalid_argument", "limit");
  CHECK(rig.get("/api/events", "limit=1000000").status == 200);
  check_error(rig.get("/api/events", "limit=0"), 400, "invalid_argument", "limit");
  for (const char* c : {"cursor=", "cursor=12", "cursor=0000000000000000.0", "cursor=000000000000000g.3",
                        "cursor=0000000000000000.-1", "cursor=0000000000000000."}) {
    INFO(c);
    check_error(rig.get("/api/events", c), 400, "invalid_argument", "cursor");
  }
  check_error(rig.get("/api/events", "event_type=buy"), 400, "invalid_argument", "event_type");
  check_error(rig.get("/api/events", "from=2024-03-01T12:00:00Z&to=2024-03-01T11:00:00Z"), 400, "invalid_argument",
              "to");
}

TEST_CASE("users and products are listed with their counts, searchable and paged", "[api][lists]") {
  Rig rig;
  const auto events = varied_stream(35);
  REQUIRE(rig.post_events("application/x-ndjson", ndjson(events)).status == 200);
  rig.wait_applied(35);
  // Brute force: counts per user and per product from the posted list.
  std::map<std::string, std::map<std::string, std::uint64_t>> by_user, by_product;
  for (const Posted& e : events) {
    ++by_user[e.user][e.type];
    ++by_product[e.product][e.type];
  }
  auto collect = [&](const std::string& path, const std::string& key, const std::string& query) {
    std::map<std::string, std::map<std::string, std::uint64_t>> seen;
    std::string cursor;
    std::size_t pages = 0;
    do {
      const ApiResponse r = rig.get(path, query + (cursor.empty() ? "" : "&cursor=" + cursor));
      INFO(r.body);
      REQUIRE(r.status == 200);
      Json json(r.body);
      for (dom::element item : dom::array(json.root[key.substr(0, key.find('_')) + "s"])) {
        auto& counts = seen[std::string(std::string_view(item[key]))];
        CHECK(counts.empty());  // once across pages
        for (auto [type, n] : dom::object(item["events"]))
          if (std::uint64_t(n) > 0) counts[std::string(type)] = std::uint64_t(n);
      }
      cursor = header(r, "X-Next-Cursor");
      std::string_view body_cursor;
      if (cursor.empty()) CHECK(json.root["next_cursor"].is_null());
      else CHECK((json.root["next_cursor"].get(body_cursor) == simdjson::SUCCESS && body_cursor == cursor));
      REQUIRE(++pages < 100);
    } while (!cursor.empty());
    return seen;
  };
  CHECK(collect("/api/users", "user_id", "limit=3") == by_user);
  CHECK(collect("/api/products", "product_id", "limit=2") == by_product);
  const auto u3 = collect("/api/users", "user_id", "search=U3");
  REQUIRE(u3.size() == 1);
  CHECK(u3.begin()->first == "u3");
  CHECK(collect("/api/products", "product_id", "search=p&category=c1") == by_product);
  CHECK(collect("/api/products", "product_id", "category=none").empty());
  check_error(rig.get("/api/users", "cursor=abc"), 400, "invalid_argument", "cursor");
  check_error(rig.get("/api/products", "window=90s"), 400, "invalid_argument", "window");
}
