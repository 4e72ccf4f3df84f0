#include "shoppulse/api/api.hpp"
#include "shoppulse/api/reason_text.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "json_writer.hpp"
#include "event_export.hpp"
#include "figures_json.hpp"
#include "query_params.hpp"
#include "range_routes.hpp"
#include "shoppulse/api/trend_model.hpp"
#include "shoppulse/core/log.hpp"
#include "shoppulse/core/thread_spare.hpp"
#include "shoppulse/core/time_format.hpp"
#include "shoppulse/importer/importer.hpp"
#include "shoppulse/ingest/event_parser.hpp"
#include "shoppulse/windows/filtered.hpp"
#include "shoppulse/windows/rollup.hpp"

namespace shoppulse::api {

std::string reason_text(ReasonKind kind, std::string_view related) {
  const std::string r(related);
  switch (kind) {
    case ReasonKind::viewed_together: return "viewed together with " + r;
    case ReasonKind::similar_users: return "liked by shoppers similar to you";
    case ReasonKind::category_interest: return "because you like category " + r;
    case ReasonKind::popular_in_location: return "popular in " + r + " this hour";
    case ReasonKind::recently_viewed: return "you looked at this recently";
    case ReasonKind::popular_in_category: return "popular in category " + r;
    case ReasonKind::trending: return "trending this hour";
    case ReasonKind::popular: return "popular right now";
  }
  return "popular right now";
}
namespace {

constexpr std::int64_t kMinuteMs = 60000;

// The log incarnation as clients see it: 16 lower-case hex digits, the same
// text as the durability mark and `shoppulse verify` print.
std::string incarnation_text(std::uint64_t id) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(id));
  return text;
}

ApiResponse json_response(int status, std::string body) {
  ApiResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}


// The `window` of a look-back over the minute rollups: any duration up to
// 31 days, `fallback` when absent.
template <class Params>
Result<std::int64_t> lookback_param(const Params& params, std::int64_t fallback) {
  const auto w = param(params, "window");
  if (!w) return fallback;
  const auto d = parse_api_duration(*w);
  if (!d || *d > 31LL * 86400000)
    return make_error(Errc::invalid_argument,
                      "must be minutes, hours or days up to 31d, like 5m, 1h, 24h, 1d; got \"" + std::string(*w) + "\"",
                      "window");
  return *d;
}

// A real-time window: one the engine keeps (1m, 5m, 15m, 1h, 24h = 1d).
std::optional<WindowSpan> parse_window_param(std::string_view text) {
  const auto ms = parse_api_duration(text);
  if (!ms) return std::nullopt;
  for (std::size_t i = 0; i < kWindowSpanCount; ++i)
    if (span_ms(static_cast<WindowSpan>(i)) == *ms) return static_cast<WindowSpan>(i);
  return std::nullopt;
}

// A time that is unknown while nothing has happened (an empty window, no
// watermark yet) is null, never the epoch.
void write_time(JsonWriter& w, std::string_view key, TimestampMs ms, bool known) {
  w.key(key);
  if (known) w.value(format_iso8601(ms));
  else w.null();
}




void write_window(JsonWriter& w, const WindowView& v, const WindowSnapshot& snap, const Dictionary& dict,
                  TimestampMs now_ms) {
  write_kpis(w, v.current);
  write_ranked(w, "popular_products", "product_id", "interactions", v.top_products, dict, IdKind::product);
  write_ranked(w, "popular_categories", "category_id", "interactions", v.top_categories, dict, IdKind::category);
  w.field("timestamp", format_iso8601(now_ms));
  w.field("time_window", to_string(v.span));
  // Before the first event there is no watermark and no window in event time.
  const bool known = snap.watermark_ms > 0;
  w.key("window").begin_object();
  write_time(w, "start", v.start_ms, known);
  write_time(w, "end", v.end_ms, known);
  write_time(w, "watermark", snap.watermark_ms, known);
  w.end_object();
  w.key("previous").begin_object();
  write_kpis(w, v.previous);
  write_time(w, "start", v.start_ms - span_ms(v.span), known);
  write_time(w, "end", v.start_ms, known);
  w.field("users_estimated", v.previous.users_estimated);
  w.end_object();
  static constexpr std::array<std::string_view, kFunnelSteps> kSteps{"view", "click", "add_to_cart", "purchase"};
  w.key("funnel").begin_array();
  for (std::size_t i = 0; i < kFunnelSteps; ++i) {
    w.begin_object().field("step", kSteps[i]).field("users", v.current.funnel[i]);
    w.field("previous_users", v.previous.funnel[i]).end_object();
  }
  w.end_array();
  write_ranked(w, "devices", "device", "events", v.devices, dict, IdKind::device);
  write_ranked(w, "locations", "location", "events", v.locations, dict, IdKind::location);
}

// What every analytics answer says about its coverage of the log:
// applied_sequence is the newest logged event the state it was computed from
// reflects, logged_sequence the newest logged when the request arrived, and
// complete whether the answer covers every event logged by then (and, for
// filtered answers, whether the event buffer still held the whole range).
void write_coverage(JsonWriter& w, Sequence applied, Sequence logged, bool buffer_complete = true) {
  w.field("complete", buffer_complete && applied >= logged);
  w.field("applied_sequence", applied).field("logged_sequence", logged);
}

// The real-time answer of `view` (the window of the snapshot `snap`, or one
// computed on the engine thread at snap's watermark).
std::string render_realtime(const WindowView& view, const WindowSnapshot& snap, const Dictionary& dict,
                            TimestampMs now, std::string_view currency, Sequence logged) {
  JsonWriter w;
  w.begin_object();
  write_window(w, view, snap, dict, now);
  w.field("currency", currency);
  write_coverage(w, snap.applied_through, logged);
  w.end_object();
  return w.take();
}

// A drill-down of real-time and trends: the filters, and whether the
// engine's event buffer held every event of the range.
struct DrillDown : DrillDownFilters {
  bool complete = true;  // the engine's event buffer held every event of the range
  TimestampMs covered_from_ms = INT64_MIN;
};

Result<DrillDown> parse_drill_down(const Params& params, const Dictionary& dict) {
  auto filters = parse_drill_down_filters(params, dict);
  if (!filters) return std::move(filters).error();
  DrillDown out;
  static_cast<DrillDownFilters&>(out) = std::move(filters).value();
  return out;
}

// The echo of a filtered answer: the filters, and where the bounded event
// buffer (windows.filter_buffer_events) starts when it no longer holds every
// event of the range (the answer is then not complete; see write_coverage).
void write_drill_down(JsonWriter& w, const DrillDown& d) {
  write_filters(w, d.given);
  if (!d.complete && d.covered_from_ms != INT64_MIN) w.field("covered_from", format_iso8601(d.covered_from_ms));
}

// A client should ask again shortly: answers 503 with a one-second Retry-After.
ApiResponse retry_soon(std::string detail) {
  ApiResponse r = error_response(make_error(Errc::unavailable, std::move(detail)));
  for (auto& [k, v] : r.headers)
    if (k == "Retry-After") v = "1";
  return r;
}

Error filters_disabled() {
  return make_error(Errc::invalid_argument, "filtered queries are off (windows.filter_buffer_events = 0)",
                    "category");
}

struct Route {
  std::string method;
  std::vector<std::string> segments;  // "{}" matches one segment
  std::function<void(const ApiRequest&, const std::vector<std::string>&, Respond&)> handle;
  Stages reads = 0;  // derived state the answer comes from; min_sequence= waits for it (0: not accepted)
  // The query parameters the route takes (with min_sequence and incarnation
  // when reads != 0); any other is refused with 400 naming it.
  std::vector<std::string> params;
};


// A trend's points, and the applied sequence of the state they came from.
struct TrendPoints {
  std::vector<TrendPoint> points;
  Sequence applied = 0;
};

class ApiHandler final : public Handler {
 public:
  explicit ApiHandler(ApiContext ctx)
      : ctx_(std::move(ctx)),
        err_json_(ctx_.metrics.counter("shoppulse_ingest_errors_total", "Rejected ingest requests by reason",
                                       "reason=\"invalid\"")),
        err_overloaded_(ctx_.metrics.counter("shoppulse_ingest_errors_total", "Rejected ingest requests by reason",
                                             "reason=\"overloaded\"")),
        err_media_(ctx_.metrics.counter("shoppulse_ingest_errors_total", "Rejected ingest requests by reason",
                                        "reason=\"unsupported_media_type\"")),
        err_storage_(ctx_.metrics.counter("shoppulse_ingest_errors_total", "Rejected ingest requests by reason",
                                          "reason=\"storage\"")),
        parse_seconds_(ctx_.metrics.histogram("shoppulse_ingest_parse_seconds",
                                              "Parsing one POST /api/events body into events, on the HTTP thread")) {
    using P = std::vector<std::string>;
    const P drill{"category", "product", "device", "location"};
    auto with = [](P a, const P& b) {
      a.insert(a.end(), b.begin(), b.end());
      return a;
    };
    add("GET", "/", {}, [this](auto& rq, auto& a, auto& r) { service_info(r); });
    add("GET", "/api/health", {}, [this](auto& rq, auto& a, auto& r) { health(r); });
    add("GET", "/api/system/status", {}, [this](auto& rq, auto& a, auto& r) { status(r); });
    add("GET", "/api/cluster", {}, [this](auto& rq, auto& a, auto& r) {
      r(json_response(200, ctx_.cluster_status ? ctx_.cluster_status() : std::string("{\"enabled\":false}")));
    });
    add("GET", "/api/system/logs", {"limit"}, [this](auto& rq, auto& a, auto& r) { logs(rq, r); });
    add("POST", "/api/system/start-component/{}", {},
        [this](auto& rq, auto& a, auto& r) { component(a[0], true, r); });
    add("POST", "/api/system/stop-component/{}", {},
        [this](auto& rq, auto& a, auto& r) { component(a[0], false, r); });
    add("GET", "/api/ready", {}, [this](auto& rq, auto& a, auto& r) { ready(r); });
    add("GET", "/api/analytics/real-time", with({"window"}, drill),
        [this](auto& rq, auto& a, auto& r) { realtime(rq, r); }, kWindows);
    // The WebSocket's message, once (README, API): what a cluster member
    // gives for a node's push to merge (README, Cluster).
    add("GET", "/api/analytics/snapshot", {}, [this](auto& rq, auto& a, auto& r) { snapshot(r); }, kWindows);
    add("GET", "/api/analytics/trends", with({"from", "to", "step", "forecast"}, drill),
        [this](auto& rq, auto& a, auto& r) { trends(rq, r); }, kWindows);
    add("GET", "/api/analytics/user/{}", {}, [this](auto& rq, auto& a, auto& r) { user(a[0], r); },
        kWindows | kRecommender);
    add("GET", "/api/products/popular", {"window", "end", "event_type", "limit", "category"},
        [this](auto& rq, auto& a, auto& r) { popular(rq, std::nullopt, r); }, kWindows);
    add("GET", "/api/products/categories/{}/popular", {"window", "end", "event_type", "limit"},
        [this](auto& rq, auto& a, auto& r) { popular(rq, a[0], r); }, kWindows);
    add("POST", "/api/events", {}, [this](auto& rq, auto& a, auto& r) { ingest(rq, r); });
    add("GET", "/api/events", {"from", "to", "user_id", "product_id", "event_type", "limit", "cursor"},
        [this](auto& rq, auto& a, auto& r) { export_events(rq, r); });
    add("GET", "/api/users", {"search", "limit", "cursor"}, [this](auto& rq, auto& a, auto& r) { users(rq, r); },
        kWindows);
    add("GET", "/api/products", {"search", "category", "window", "end", "limit", "cursor", "ids"},
        [this](auto& rq, auto& a, auto& r) { products(rq, r); }, kWindows);
    add("GET", "/api/products/recommendations/user/{}",
        {"algorithm", "limit", "category", "exclude", "exclude_viewed"},
        [this](auto& rq, auto& a, auto& r) { recommendations(rq, a[0], r); }, kRecommender);
    add("GET", "/api/products/{}/similar", {"limit", "of"}, [this](auto& rq, auto& a, auto& r) { similar(rq, a[0], r); },
        kRecommender);
    add("GET", "/api/products/trending", {"limit", "category"},
        [this](auto& rq, auto& a, auto& r) { trending(rq, r); }, kRecommender);
    add("GET", "/api/analytics/propensity", {"limit"}, [this](auto& rq, auto& a, auto& r) { top_propensity(rq, r); },
        kRecommender);
    add("POST", "/api/import", {"format", "force"}, [this](auto& rq, auto& a, auto& r) { import(rq, r); });
    // Any [from, to) of event time, from the log (range_routes.cpp).
    for (RangeRoute& route : range_routes(ctx_))
      add(route.method, route.path, std::move(route.params), std::move(route.handle));
    add("GET", "/openapi.json", {}, [](auto& rq, auto& a, auto& r) {
      ApiResponse resp;
      resp.body = std::string(openapi_document());
      // The document changes only with the build.
      resp.headers.emplace_back("Cache-Control", "public, max-age=300");
      r(std::move(resp));
    });
    add("GET", "/metrics", {}, [this](auto& rq, auto& a, auto& r) {
      ApiResponse resp;
      resp.content_type = "text/plain; version=0.0.4";
      resp.body = ctx_.metrics.render_prometheus();
      resp.headers.emplace_back("Cache-Control", "no-store");
      r(std::move(resp));
    });
    if (ctx_.log) {
      ExportLimits limits;
      limits.max_page = ctx_.config.export_max_page;
      exporter_ = std::make_unique<EventExporter>(*ctx_.log, ctx_.dictionary, limits, ctx_.ownership);
    }
  }

  ~ApiHandler() override {
    // A running import ends once ingest refuses its batches (ingest stops
    // before the handler is destroyed).
    if (import_thread_.joinable()) import_thread_.join();
  }

  void handle(ApiRequest request, Respond respond) override {
    const auto segments = split_path(request.path);
    bool path_matched = false;
    std::string allow;  // methods of the routes matching the path, for 405
    for (const Route& route : routes_) {
      if (route.segments.size() != segments.size()) continue;
      std::vector<std::string> args;
      bool match = true;
      for (std::size_t i = 0; i < segments.size() && match; ++i) {
        if (route.segments[i] == "{}") args.push_back(segments[i]);
        else match = route.segments[i] == segments[i];
      }
      if (!match) continue;
      path_matched = true;
      if (allow.find(route.method) == std::string::npos) {
        allow += (allow.empty() ? "" : ", ") + route.method;
        if (route.method == "GET") allow += ", HEAD";
      }
      const bool head_as_get = request.method == "HEAD" && route.method == "GET";
      if (route.method != request.method && !head_as_get) continue;
      if (auto refused = refuse_unknown_params(route, request)) return respond(std::move(*refused));
      if (route.reads != 0) return after_min_sequence(route, std::move(request), std::move(args), std::move(respond));
      route.handle(request, args, respond);
      // The route is done with the request (one that answers later keeps
      // copies): its body goes back to this thread for the next large one.
      SpareBody::give(std::move(request.body));
      return;
    }
    if (path_matched) {
      ApiResponse refused =
          error_response(make_error(Errc::method_not_allowed, request.method + " is not supported on " + request.path));
      refused.headers.emplace_back("Allow", allow + ", OPTIONS");
      respond(std::move(refused));
    } else
      respond(error_response(make_error(Errc::not_found, "no such path: " + request.path)));
  }

 private:
  using Fn = std::function<void(const ApiRequest&, const std::vector<std::string>&, Respond&)>;
  void add(std::string method, std::string_view path, std::vector<std::string> params, Fn fn, Stages reads = 0) {
    if (reads != 0) {
      params.emplace_back("min_sequence");
      params.emplace_back("incarnation");
    }
    // Every route takes scope=local|cluster; the cluster query layer in
    // front of this handler reads it (README, Cluster, Queries).
    params.emplace_back("scope");
    routes_.push_back(Route{std::move(method), split_path(path), std::move(fn), reads, std::move(params)});
  }

  // Unknown query parameters are refused rather than ignored: a misspelt
  // filter would otherwise answer unfiltered figures.
  static std::optional<ApiResponse> refuse_unknown_params(const Route& route, const ApiRequest& request) {
    std::vector<std::string> unknown;
    for (const auto& [k, v] : parse_query(request.query))
      if (std::find(route.params.begin(), route.params.end(), k) == route.params.end() &&
          std::find(unknown.begin(), unknown.end(), k) == unknown.end())
        unknown.push_back(k);
    if (unknown.empty()) return std::nullopt;
    std::string names, taken;
    for (const auto& u : unknown) names += (names.empty() ? "" : ", ") + u;
    for (const auto& p : route.params) taken += (taken.empty() ? "" : ", ") + p;
    ApiResponse r = error_response(make_error(
        Errc::invalid_argument,
        "unknown query parameter" + std::string(unknown.size() > 1 ? "s " : " ") + names +
            (taken.empty() ? "; this route takes none" : "; this route takes " + taken),
        unknown.front()));
    return r;
  }

  // The newest logged sequence; answers are complete when they reflect it.
  Sequence logged_sequence() const {
    if (ctx_.log) {
      const Sequence next = ctx_.log->next_sequence();
      return next > 0 ? next - 1 : 0;
    }
    return ctx_.ingestor.stats().last_sequence;
  }

  // Read-your-writes: with min_sequence=N (the last_sequence a POST returned)
  // the route runs once the state it reads has applied N, through the gate's
  // completion, never by holding this thread; after api.max_wait, 503.
  void after_min_sequence(const Route& route, ApiRequest request, std::vector<std::string> args, Respond respond) {
    const auto params = parse_query(request.query);
    const auto text = param(params, "min_sequence");
    if (!text) return route.handle(request, args, respond);
    Sequence wanted = 0;
    if (text->empty() || text->size() > 19 ||
        !std::all_of(text->begin(), text->end(), [](char c) { return c >= '0' && c <= '9'; }))
      return respond(error_response(
          make_error(Errc::invalid_argument, "must be a sequence number (the last_sequence of a POST)", "min_sequence")));
    wanted = std::stoull(*text);
    if (!ctx_.gate)
      return respond(error_response(make_error(Errc::invalid_argument, "not supported here", "min_sequence")));
    // A sequence names an event only together with the log's incarnation: a
    // log that tracks incarnations needs the one the POST answered, and
    // refuses a sequence an unclean restart may have given to other events.
    if (ctx_.log && ctx_.log->incarnation() != 0) {
      const auto given = param(params, "incarnation");
      if (!given)
        return respond(error_response(make_error(
            Errc::invalid_argument, "min_sequence needs the incarnation the POST answered beside last_sequence",
            "incarnation")));
      if (given->size() != 16 || !std::all_of(given->begin(), given->end(), [](char c) {
            return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
          }))
        return respond(error_response(
            make_error(Errc::invalid_argument, "must be 16 lower-case hex digits (the incarnation of a POST)",
                       "incarnation")));
      const std::uint64_t incarnation = std::stoull(*given, nullptr, 16);
      if (!ctx_.log->still_names_same_event(incarnation, wanted)) {
        JsonWriter w;
        w.begin_object().field("error", "incarnation_changed");
        w.field("detail", "sequence " + std::to_string(wanted) + " of incarnation " + *given +
                              " may have been lost by an unclean stop; the log is now incarnation " +
                              incarnation_text(ctx_.log->incarnation()) + ": send the events again");
        w.field("field", "incarnation").field("incarnation", incarnation_text(ctx_.log->incarnation()));
        w.end_object();
        return respond(json_response(409, w.take()));
      }
    }
    const Sequence logged = logged_sequence();
    if (wanted > logged)
      return respond(error_response(make_error(
          Errc::invalid_argument,
          "beyond the newest logged sequence " + std::to_string(logged) + "; it may never be applied",
          "min_sequence")));
    const std::int64_t max_wait = ctx_.config.max_wait_ms;
    SequenceGate& gate = *ctx_.gate;
    const Stages reads = route.reads;
    auto waited = gate.wait(reads, wanted, std::chrono::milliseconds(max_wait),
                            [&route, request = std::move(request), args = std::move(args), respond, wanted, max_wait,
                             reads, &gate](bool ready) mutable {
                              if (ready) return route.handle(request, args, respond);
                              Sequence applied = ~Sequence{0};
                              if (reads & kWindows) applied = std::min(applied, gate.applied(Stage::windows));
                              if (reads & kRecommender) applied = std::min(applied, gate.applied(Stage::recommender));
                              respond(retry_soon("min_sequence " + std::to_string(wanted) +
                                                 " not applied within " + std::to_string(max_wait) +
                                                 " ms (api.max_wait); applied through " + std::to_string(applied)));
                            });
    if (!waited) respond(error_response(waited.error()));
  }

  // The shop's zone (api.time_zone), null when none is configured.
  void write_time_zone(JsonWriter& w) const {
    w.key("time_zone");
    if (ctx_.config.time_zone.empty())
      w.null();
    else
      w.value(ctx_.config.time_zone);
  }

  void service_info(Respond& respond) {
    JsonWriter w;
    w.begin_object();
    w.field("name", "shoppulse").field("version", ctx_.config.version);
    write_time_zone(w);
    w.field("description", "Real-time e-commerce analytics in one process");
    w.field("status", "running");
    w.field("dashboard", "/dashboard/").field("docs", "/docs").field("openapi", "/openapi.json");
    w.field("health", "/api/health").field("metrics", "/metrics");
    w.field("websocket", "/ws/real-time");
    auto name = [](const Route& r) {
      std::string p;
      for (const auto& s : r.segments) p += "/" + (s == "{}" ? std::string("{id}") : s);
      return r.method + " " + (p.empty() ? "/" : p);
    };
    w.key("endpoints").begin_array();
    for (const Route& r : routes_) w.value(name(r));
    w.end_array();
    // The query parameters each endpoint takes; any other is refused (400).
    w.key("parameters").begin_object();
    for (const Route& r : routes_) {
      w.key(name(r)).begin_array();
      for (const auto& p : r.params) w.value(p);
      w.end_array();
    }
    w.end_object();
    // What a client needs to greet an empty install: how many events the
    // log holds, and how to send the first.
    const Sequence logged = logged_sequence();
    w.field("events", logged);
    if (logged == 0)
      w.field("first_event",
              "curl -X POST -H 'Content-Type: application/json' -d "
              "'{\"user_id\":\"u1\",\"event_type\":\"view\",\"product_id\":\"p1\"}' <this server>/api/events");
    w.field("timestamp", format_iso8601(ctx_.clock.now_ms()));
    w.end_object();
    respond(json_response(200, w.take()));
  }

  void write_components(JsonWriter& w, const std::vector<ComponentStatus>& comps) {
    w.key("components").begin_object();
    for (const auto& c : comps) {
      w.key(c.name).begin_object();
      w.field("status", c.healthy ? "healthy" : "unhealthy").field("state", c.state);
      w.field("failures", c.failures).field("restarts", c.restarts);
      if (!c.last_error.empty()) w.field("last_error", c.last_error);
      if (c.backlog) w.field("backlog", *c.backlog);
      w.end_object();
    }
    w.end_object();
  }

  // Where derived state stands against the log after a start.
  struct Progress {
    EngineStats windows;
    RecommendRunnerStats recommender;
    Sequence logged = 0;
    // starting (a checkpoint is being decoded), replaying (the log after it
    // is being applied), or caught_up.
    std::string_view phase() const {
      if (windows.state == "starting" || windows.state == "stopped" || recommender.state == "restoring" ||
          recommender.state == "stopped")
        return "starting";
      if (!windows.caught_up || !recommender.caught_up) return "replaying";
      return "caught_up";
    }
    Sequence applied() const { return std::min(windows.applied_through, recommender.applied_through); }
  };

  Progress progress() const {
    Progress p;
    p.logged = logged_sequence();  // first: what the state is compared with
    p.windows = ctx_.engine.stats();
    p.recommender = ctx_.recommend.stats();
    return p;
  }

  static void write_progress(JsonWriter& w, const Progress& p) {
    w.key("derived_state").begin_object();
    w.field("applied_sequence", p.applied()).field("logged_sequence", p.logged);
    const Sequence behind = p.logged > p.applied() ? p.logged - p.applied() : 0;
    w.field("events_behind", behind);
    w.key("windows").begin_object().field("state", p.windows.state).field("caught_up", p.windows.caught_up);
    w.field("applied_sequence", p.windows.applied_through).field("replay_target", p.windows.replay_target);
    w.field("replayed_events", p.windows.replayed_events).end_object();
    w.key("recommender").begin_object().field("state", p.recommender.state);
    w.field("caught_up", p.recommender.caught_up).field("applied_sequence", p.recommender.applied_through);
    w.field("replay_target", p.recommender.replay_target);
    w.field("replayed_events", p.recommender.replayed_events).end_object();
    w.end_object();
  }

  // Liveness: always 200 while the process answers. The status says
  // starting / replaying until derived state has caught up with the log
  // after a start, degraded while a component is unhealthy, else healthy.
  void health(Respond& respond) {
    const Progress p = progress();
    const auto comps = ctx_.system.components();
    const bool all = std::all_of(comps.begin(), comps.end(), [](const auto& c) { return c.healthy; });
    std::string_view status = "healthy";
    if (!all) status = "degraded";
    else if (p.phase() != "caught_up") status = p.phase();
    JsonWriter w;
    w.begin_object().field("status", status);
    write_progress(w, p);
    write_components(w, comps);
    w.field("timestamp", format_iso8601(ctx_.clock.now_ms())).end_object();
    respond(json_response(200, w.take()));
  }

  // Readiness: 503 with the reason and Retry-After until the windows and the
  // recommender have caught up with the log after a start (and while the
  // stream processor is failed), then 200.
  void ready(Respond& respond) {
    const Progress p = progress();
    const bool failed = p.windows.state == "failed";
    const std::string_view phase = p.phase();
    const bool ok = !failed && phase == "caught_up";
    JsonWriter w;
    w.begin_object().field("ready", ok).field("status", ok ? std::string_view("ready") : failed ? "failed" : phase);
    if (!ok) {
      std::string reason;
      if (failed) reason = "the stream processor failed and is restarting: " + p.windows.last_error;
      else if (phase == "starting") reason = "restoring derived state from its checkpoints";
      else
        reason = "replaying the event log: applied " + std::to_string(p.applied()) + " of " +
                 std::to_string(p.logged);
      w.field("reason", reason);
    }
    write_progress(w, p);
    w.field("timestamp", format_iso8601(ctx_.clock.now_ms())).end_object();
    ApiResponse r = json_response(ok ? 200 : 503, w.take());
    if (!ok) r.headers.emplace_back("Retry-After", "1");
    respond(std::move(r));
  }

  void status(Respond& respond) {
    const auto comps = ctx_.system.components();
    const SystemFigures f = ctx_.system.figures();
    const auto snap = ctx_.engine.latest();
    JsonWriter w;
    w.begin_object();
    w.field("status", "running").field("version", ctx_.config.version);
    write_time_zone(w);
    const BuildInfo& build = build_info();
    w.key("build").begin_object();
    w.field("version", build.version).field("git_commit", build.git_commit).field("build_type", build.build_type);
    w.field("compiler", build.compiler);
    w.key("libraries").begin_object();
    for (const LibraryVersion& l : build.libraries) w.field(l.name, l.version);
    w.end_object().end_object();
    w.field("uptime_seconds", f.uptime_seconds);
    write_components(w, comps);
    w.key("throughput").begin_object();
    w.field("events_per_second", f.events_per_second);
    w.field("events_ingested", f.ingest.appended_events);
    w.field("events_applied", snap->events_applied);
    w.field("duplicates", f.ingest.duplicate_events).end_object();
    w.key("ingest").begin_object();
    w.field("queued_events", f.ingest.queued_events).field("appends", f.ingest.appends);
    w.field("append_failures", f.ingest.append_failures).field("last_sequence", f.ingest.last_sequence);
    const std::uint64_t applied = f.engine.applied_through;
    w.field("lag_events", f.ingest.last_sequence > applied ? f.ingest.last_sequence - applied : 0);
    write_time(w, "watermark", snap->watermark_ms, snap->watermark_ms > 0);
    w.field("lag_ms", snap->max_event_time_ms > 0 ? ctx_.clock.now_ms() - snap->max_event_time_ms : 0);
    w.end_object();
    w.key("ring").begin_object().field("occupancy", f.ring_occupancy).field("capacity", f.ring_capacity);
    w.end_object();
    w.key("event_log").begin_object();
    w.field("first_sequence", f.event_log.first_sequence).field("last_sequence", f.event_log.last_sequence);
    w.field("blocks", f.event_log.blocks).field("bytes", f.event_log.bytes);
    w.field("scrubs", f.event_log.scrubs).field("scrubbed_table_files", f.event_log.scrubbed_table_files);
    w.key("damage");
    if (f.event_log.damage.empty()) w.null();
    else w.value(f.event_log.damage);
    w.end_object();
    w.key("stream_processor").begin_object();
    w.field("state", f.engine.state).field("replayed_events", f.engine.replayed_events);
    w.field("applied_through", f.engine.applied_through).field("events_too_late", snap->events_too_late);
    w.field("publishes_on_demand", f.engine.publishes_on_demand);
    w.field("checkpoints", f.engine.checkpoints).field("checkpoint_bytes", f.engine.checkpoint_bytes);
    w.field("checkpoint_pause_ms", f.engine.checkpoint_pause_ms);
    w.end_object();
    const RecommendRunnerStats rs = ctx_.recommend.stats();
    const RecommenderStats model = ctx_.recommend.latest()->stats;
    w.key("recommender").begin_object();
    w.field("state", rs.state).field("restored_through", rs.restored_through);
    w.field("replayed_events", rs.replayed_events).field("applied_through", rs.applied_through);
    w.field("checkpoints", rs.checkpoints).field("checkpoint_bytes", rs.checkpoint_bytes);
    w.field("checkpoint_pause_ms", rs.checkpoint_pause_ms);
    w.field("items", model.items).field("users", model.users).field("neighbour_entries", model.neighbour_entries);
    w.end_object();
    // Heap bytes by component (capacities), beside the process RSS; thread
    // stacks, code and the allocator's free lists are unattributed.
    const WindowMemory& wm = f.engine.memory;
    const std::uint64_t dictionary_bytes = ctx_.dictionary.memory_bytes();
    const std::uint64_t recommender_bytes = ctx_.recommend.latest()->memory_bytes;
    const std::uint64_t attributed = dictionary_bytes + wm.windows + wm.user_profiles + wm.filter_buffer +
                                     recommender_bytes + f.event_log.memtable_bytes + f.event_log.block_cache_bytes +
                                     f.event_log.table_readers_bytes + f.range_index_bytes + f.event_rings_bytes +
                                     f.heap_free_bytes;
    w.key("memory").begin_object().field("rss_bytes", f.rss_bytes);
    w.key("components").begin_object();
    w.field("dictionary", dictionary_bytes).field("windows", std::uint64_t{wm.windows});
    w.field("user_profiles", std::uint64_t{wm.user_profiles}).field("filter_buffer", std::uint64_t{wm.filter_buffer});
    w.field("recommender", recommender_bytes);
    w.field("rocksdb_memtables", f.event_log.memtable_bytes).field("rocksdb_block_cache", f.event_log.block_cache_bytes);
    w.field("rocksdb_table_readers", f.event_log.table_readers_bytes);
    w.field("range_index", f.range_index_bytes);
    w.field("event_rings", f.event_rings_bytes);
    // Freed by the components, kept by the allocator for reuse.
    w.field("allocator_free", f.heap_free_bytes);
    w.end_object();
    w.field("unattributed_bytes", f.rss_bytes > attributed ? f.rss_bytes - attributed : 0);
    w.field("rocksdb_budget_bytes", f.event_log.memory_budget_bytes);
    w.field("allocator", f.allocator);
    // Minutes of the 1h/24h windows whose details only the rollup store holds.
    w.field("spilled_minutes", std::uint64_t{wm.spilled_minutes});
    // Seconds of the 1m/5m/15m windows whose users are held packed.
    w.field("packed_seconds", std::uint64_t{wm.packed_seconds});
    w.end_object();
    w.field("websocket_clients", f.websocket_clients);
    w.field("timestamp", format_iso8601(ctx_.clock.now_ms()));
    w.end_object();
    respond(json_response(200, w.take()));
  }

  // The newest diagnostics lines, as written to stderr (logfmt or JSON).
  void logs(const ApiRequest& rq, Respond& respond) {
    const auto params = parse_query(rq.query);
    auto limit = parse_limit(params, 50, 200);
    if (!limit) return respond(error_response(limit.error()));
    JsonWriter w;
    w.begin_object().key("lines").begin_array();
    for (const std::string& line : recent_log_lines(*limit)) w.value(line);
    w.end_array().end_object();
    respond(json_response(200, w.take()));
  }

  void component(const std::string& name, bool start, Respond& respond) {
    auto r = start ? ctx_.system.start_component(name) : ctx_.system.stop_component(name);
    if (!r) return respond(error_response(r.error()));
    JsonWriter w;
    w.begin_object().field("component", name).field("action", start ? "start" : "stop");
    w.field("status", start ? "started" : "stopped");
    w.field("message", std::string(start ? "started " : "stopped ") + name).end_object();
    respond(json_response(200, w.take()));
  }

  void realtime(const ApiRequest& rq, Respond& respond) {
    const auto params = parse_query(rq.query);
    WindowSpan span = WindowSpan::m5;
    if (auto w = param(params, "window")) {
      const auto parsed = parse_window_param(*w);
      if (!parsed)
        return respond(error_response(make_error(
            Errc::invalid_argument, "must be one of 1m, 5m, 15m, 1h, 24h (= 1d); got \"" + *w + "\"", "window")));
      span = *parsed;
    }
    auto drill = parse_drill_down(params, ctx_.dictionary);
    if (!drill) return respond(error_response(drill.error()));
    const Sequence logged = logged_sequence();
    // Whole top lists (scope=local&limit=all, a cluster merge's second
    // round; README, Cluster): computed on the engine thread.
    const std::size_t top = rq.whole_lists ? SIZE_MAX : 0;
    if (drill->any()) return realtime_filtered(std::move(drill).value(), span, logged, top, respond);
    if (rq.whole_lists) {
      const Dictionary& dict = ctx_.dictionary;
      const Clock& clock = ctx_.clock;
      auto queued = ctx_.engine.run_on_engine(
          [span, respond, &dict, &clock, logged, currency = ctx_.config.currency](const WindowEngine& e) {
            WindowSnapshot at;  // render_realtime reads the watermark and applied_through
            at.watermark_ms = e.watermark_ms();
            at.applied_through = e.applied_through();
            respond(json_response(
                200, render_realtime(e.window_view(span, SIZE_MAX), at, dict, clock.now_ms(), currency, logged)));
          });
      if (!queued) respond(error_response(queued.error()));
      return;
    }
    const auto snap = ctx_.engine.latest();
    respond(json_response(200, render_realtime(snap->window(span), *snap, ctx_.dictionary, ctx_.clock.now_ms(),
                                               ctx_.config.currency, logged)));
  }

  void snapshot(Respond& respond) {
    const Sequence logged = logged_sequence();
    respond(json_response(200, render_broadcast(*ctx_.engine.latest(), ctx_.dictionary, ctx_.clock.now_ms(),
                                                ctx_.config.currency, logged)));
  }

  // Recomputed over the engine's event buffer, on the engine thread.
  void realtime_filtered(DrillDown drill, WindowSpan span, Sequence logged, std::size_t top, Respond& respond) {
    const Dictionary& dict = ctx_.dictionary;
    const Clock& clock = ctx_.clock;
    auto queued = ctx_.engine.run_on_engine([drill = std::move(drill), span, respond, &dict, &clock, logged, top,
                                             currency = ctx_.config.currency](const WindowEngine& e) mutable {
      const auto fv = e.filtered_view(drill.filter, span, top);
      if (!fv) return respond(error_response(filters_disabled()));
      drill.complete = fv->complete;
      drill.covered_from_ms = fv->covered_from_ms;
      WindowSnapshot at;  // write_window reads only the watermark from it
      at.watermark_ms = e.watermark_ms();
      JsonWriter w;
      w.begin_object();
      write_window(w, fv->view, at, dict, clock.now_ms());
      w.field("currency", currency);
      write_drill_down(w, drill);
      write_coverage(w, e.applied_through(), logged, drill.complete);
      w.end_object();
      respond(json_response(200, w.take()));
    });
    if (!queued) respond(error_response(queued.error()));
  }

  // A trend's points over [from, to) in steps of `step` minutes: folded one
  // minute at a time from the stored and open minutes (TrendFold holds one
  // step's users, never the range's), or with drill-down filters from the
  // minute rollups of the matching events rebuilt from the engine's event
  // buffer on the engine thread (recording the buffer's coverage in drill).
  void trend_points(std::shared_ptr<DrillDown> drill, std::int64_t from, std::int64_t to, std::int64_t step,
                    std::function<void(Result<TrendPoints>)> done) {
    if (!drill) {
      auto fold = std::make_shared<TrendFold>(from, to, step);
      return fold_minutes(
          from, to, [fold](MinuteRollup&& m) { fold->add(m); },
          [fold, done](Result<Sequence> applied) {
            if (!applied) return done(applied.error());
            done(TrendPoints{fold->finish(), *applied});
          });
    }
    auto queued = ctx_.engine.run_on_engine([drill, from, to, step, done](const WindowEngine& e) {
      auto fm = e.filtered_minutes(drill->filter, from, to, /*breakdowns=*/false);  // trends read users only
      if (!fm) return done(filters_disabled());
      drill->complete = fm->complete;
      drill->covered_from_ms = fm->covered_from_ms;
      done(TrendPoints{aggregate_trend(fm->minutes, from, to, step), e.applied_through()});
    });
    if (!queued) done(queued.error());
  }

  // Hands every minute rollup of [from, to) to `fold`, in ascending order:
  // closed minutes from the store as they are read, minutes still open from
  // the engine thread; then calls done with the applied sequence, on the
  // engine thread (or inline when nothing is open). No minute is kept once
  // folded, so a day of minutes (GET /api/products' default window) costs
  // one decoded minute, not 1,440 of them. The applied sequence reported is
  // the snapshot's read before the store, which the store's minutes cover
  // (closed minutes are written before each snapshot is published).
  // Without `with_users` the stored minutes come without their users (the
  // routes that read products and counts only).
  using Fold = std::function<void(MinuteRollup&&)>;
  void fold_minutes(std::int64_t from, std::int64_t to, Fold fold, std::function<void(Result<Sequence>)> done,
                    bool with_users = true) {
    const auto snap = ctx_.engine.latest();
    const Sequence applied = snap->applied_through;
    // Minutes at or after the watermark's minute may still change in the
    // engine: the store's copies of those wait for the engine's.
    const std::int64_t first_open = snap->watermark_ms > 0 ? snap->watermark_ms / kMinuteMs - 1 : to;
    auto open = std::make_shared<std::map<std::int64_t, MinuteRollup>>();
    std::optional<Error> failure;
    auto scanned = ctx_.rollups.scan_minutes(from, to, [&](std::int64_t m, std::string_view bytes) {
      if (failure) return;
      auto r = decode_rollup(m, bytes, with_users);
      if (!r) failure = r.error();
      else if (m >= first_open) open->emplace(m, std::move(r).value());
      else fold(std::move(r).value());
    });
    if (!scanned) return done(scanned.error());
    if (failure) return done(*failure);
    if (to <= first_open) return done(applied);
    auto finish = [open, fold = std::move(fold), applied, done] {
      for (auto& [m, r] : *open) fold(std::move(r));
      done(applied);
    };
    auto queued = ctx_.engine.run_on_engine([open, from, to, first_open, finish](const WindowEngine& engine) {
      for (std::int64_t m = std::max(from, first_open); m < to; ++m)
        if (auto r = engine.minute_rollup(m)) (*open)[m] = std::move(*r);
      finish();
    });
    if (!queued) finish();  // engine stopped: answer from history alone
  }

  void trends(const ApiRequest& rq, Respond& respond) {
    const auto params = parse_query(rq.query);
    std::int64_t step_min = 1;
    std::string step_text = param(params, "step").value_or("1m");
    {
      const auto d = parse_series_step(step_text);
      if (!d)
        return respond(error_response(make_error(
            Errc::invalid_argument, "must be one of 1m, 5m, 15m, 1h, 1d (= 24h); got \"" + step_text + "\"", "step")));
      step_min = *d / kMinuteMs;
    }
    const auto snap = ctx_.engine.latest();
    const TimestampMs ref = snap->max_event_time_ms > 0 ? snap->max_event_time_ms : ctx_.clock.now_ms();
    TimestampMs to_ms = (ref / kMinuteMs + 1) * kMinuteMs;
    if (auto t = param(params, "to")) {
      auto parsed = parse_time_param("to", *t);
      if (!parsed) return respond(error_response(parsed.error()));
      to_ms = *parsed;
    }
    TimestampMs from_ms = to_ms - 3600000;
    if (auto f = param(params, "from")) {
      auto parsed = parse_time_param("from", *f);
      if (!parsed) return respond(error_response(parsed.error()));
      from_ms = *parsed;
    }
    const std::int64_t step_ms = step_min * kMinuteMs;
    // Align to step boundaries so points are comparable across requests.
    const std::int64_t from_min = (from_ms / step_ms) * step_min;
    const std::int64_t to_min = ((to_ms + step_ms - 1) / step_ms) * step_min;
    if (to_min <= from_min)
      return respond(error_response(make_error(Errc::invalid_argument, "must be later than from", "to")));
    if (static_cast<std::size_t>((to_min - from_min) / step_min) > ctx_.config.max_trend_points)
      return respond(error_response(make_error(
          Errc::invalid_argument,
          "range holds more than " + std::to_string(ctx_.config.max_trend_points) + " points; use a larger step",
          "from")));
    std::size_t horizon = 0;
    if (auto f = param(params, "forecast")) {
      auto d = parse_api_duration(*f);
      if (!d || *d < step_ms || *d % step_ms != 0 || *d / step_ms > 1440)
        return respond(error_response(make_error(
            Errc::invalid_argument,
            "must be a whole number of steps (" + step_text + ") up to 1440 of them, like 30m; got \"" + *f + "\"",
            "forecast")));
      horizon = static_cast<std::size_t>(*d / step_ms);
    }
    // Points ending after the watermark's minute are still filling up: they
    // are marked partial and kept out of the model.
    const std::int64_t complete_before_min = snap->watermark_ms / kMinuteMs;
    auto parsed_drill = parse_drill_down(params, ctx_.dictionary);
    if (!parsed_drill) return respond(error_response(parsed_drill.error()));
    auto drill = parsed_drill->any() ? std::make_shared<DrillDown>(std::move(parsed_drill).value()) : nullptr;
    const Sequence logged = logged_sequence();
    trend_points(drill, from_min, to_min, step_min, [respond, from_min, to_min, step_min, step_text, horizon,
                                                     complete_before_min, drill, logged](auto result) mutable {
      if (!result) return respond(error_response(result.error()));
      const auto& points = result->points;
      std::size_t complete = 0;
      while (complete < points.size() &&
             points[complete].start_ms / kMinuteMs + step_min <= complete_before_min)
        ++complete;
      // The series the model follows (kTrendSeries), in the units the API reports.
      auto value_of = [](const TrendPoint& p, std::size_t series) -> double {
        switch (series) {
          case 0: return double(p.events[static_cast<std::size_t>(EventType::view)]);
          case 1: return double(p.events[static_cast<std::size_t>(EventType::purchase)]);
          case 2: return double(p.revenue_minor) / 100.0;
          default: return double(p.unique_users);
        }
      };
      TrendModel model;
      if (horizon > 0) {
        TrendSeries values;
        for (std::size_t k = 0; k < kTrendSeries.size(); ++k)
          for (std::size_t i = 0; i < complete; ++i) values[k].push_back(value_of(points[i], k));
        model = fit_trend_model(values, horizon);
      }
      JsonWriter w;
      w.begin_object().field("step", step_text);
      w.field("from", format_iso8601(from_min * kMinuteMs)).field("to", format_iso8601(to_min * kMinuteMs));
      w.key("points").begin_array();
      for (std::size_t i = 0; i < points.size(); ++i) {
        const TrendPoint& p = points[i];
        w.begin_object().field("start", format_iso8601(p.start_ms));
        write_point_counts(w, p.events, p.revenue_minor);
        w.field("unique_users", p.unique_users).field("viewers", p.viewers).field("purchasers", p.purchasers);
        w.field("conversion_rate", std::round(p.conversion_rate() * 10000.0) / 100.0);
        if (i >= complete) w.field("partial", true);
        if (horizon > 0 && i < complete) w.key("anomalies").raw(trend_anomalies_json(model, i));
        w.end_object();
      }
      w.end_array();
      if (horizon > 0) {
        const std::int64_t step_ms = step_min * kMinuteMs;
        const TimestampMs first = complete > 0 ? points[complete - 1].start_ms + step_ms : from_min * kMinuteMs;
        w.key("forecast").raw(trend_forecast_json(model, first, step_ms));
      }
      if (drill) write_drill_down(w, *drill);
      write_coverage(w, result->applied, logged, !drill || drill->complete);
      w.end_object();
      respond(json_response(200, w.take()));
    });
  }

  void user(const std::string& user_id, Respond& respond) {
    auto id = ctx_.dictionary.find(IdKind::user, user_id);
    if (!id) return respond(error_response(make_error(Errc::not_found, "unknown user: " + user_id, "user_id")));
    const Dictionary& dict = ctx_.dictionary;
    std::string currency = ctx_.config.currency;
    EngineRunner& engine = ctx_.engine;
    const Sequence logged = logged_sequence();
    // The propensity lives on the recommend thread, the profile on the engine
    // thread: ask one, then the other. applied: the recommender's, or no
    // bound when it could not be asked.
    auto with_propensity = [id = *id, user_id, respond, &dict, currency, &engine, logged](
                               std::optional<double> propensity, Sequence recommender_applied) {
      auto queued = engine.run_on_engine([id, user_id, respond, &dict, currency, propensity, logged,
                                          recommender_applied](const WindowEngine& e) {
      const Sequence applied = std::min(e.applied_through(), recommender_applied);
      auto profile = e.user_profile(id);
      if (!profile && applied < logged)
        // Known to the dictionary, not yet to the state still replaying.
        return respond(retry_soon("user " + user_id + " not yet in derived state, which has applied " +
                                  std::to_string(applied) + " of " + std::to_string(logged) + " logged events"));
      // Known to the dictionary and caught up, yet no profile: it was evicted
      // (windows.max_profiles, windows.profile_max_idle). Its events are
      // still in the log; its next event starts a new profile.
      if (!profile)
        return respond(error_response(make_error(
            Errc::not_found, "user " + user_id +
                                 " has no profile in memory: it was evicted as one of the least recently seen "
                                 "users (windows.max_profiles, windows.profile_max_idle); its next event starts a "
                                 "new one")));
      JsonWriter w;
      w.begin_object().field("user_id", user_id);
      w.key("events").begin_object();
      std::uint64_t total = 0;
      for (std::size_t t = 0; t < kEventTypeCount; ++t) {
        w.field(to_string(static_cast<EventType>(t)), profile->events[t]);
        total += profile->events[t];
      }
      w.end_object().field("total_events", total);
      w.field("page_views", profile->events[0]).field("purchases", profile->events[5]);
      w.key("total_spend").money(profile->spend_minor);
      w.field("currency", currency);
      w.field("first_seen", format_iso8601(profile->first_seen_ms));
      w.field("last_seen", format_iso8601(profile->last_seen_ms));
      w.key("purchase_propensity");
      if (propensity) w.value(std::round(*propensity * 1e4) / 1e4);
      else w.null();
      write_ranked(w, "top_categories", "category_id", "interactions", profile->top_categories, dict,
                   IdKind::category);
      w.key("recent_events").begin_array();
      for (const Event& ev : profile->recent) {
        w.begin_object().field("event_type", to_string(ev.type));
        w.field("product_id", dict.name(IdKind::product, ev.product));
        w.field("category_id", dict.name(IdKind::category, ev.category));
        w.key("price").money(ev.price_minor);
        w.field("quantity", ev.quantity);
        w.field("device", dict.name(IdKind::device, ev.device));
        w.field("location", dict.name(IdKind::location, ev.location));
        w.field("timestamp", format_iso8601(ev.time_ms)).field("sequence", ev.sequence);
        w.end_object();
      }
      w.end_array();
      write_coverage(w, applied, logged);
      w.end_object();
      respond(json_response(200, w.take()));
      });
      if (!queued) respond(error_response(queued.error()));
    };
    auto asked = ctx_.recommend.run_on_recommender([id = *id, with_propensity](const Recommender& r) {
      with_propensity(r.propensity().propensity(id), r.applied_through());
    });
    if (!asked) with_propensity(std::nullopt, ~Sequence{0});
  }

  void popular(const ApiRequest& rq, std::optional<std::string> category_path, Respond& respond) {
    const auto params = parse_query(rq.query);
    std::int64_t window_ms = 3600000;
    if (auto w = lookback_param(params, window_ms); !w) return respond(error_response(w.error()));
    else window_ms = *w;
    const auto snap = ctx_.engine.latest();
    const TimestampMs ref = snap->max_event_time_ms > 0 ? snap->max_event_time_ms : ctx_.clock.now_ms();
    TimestampMs end_ms = (ref / kMinuteMs + 1) * kMinuteMs;
    if (auto e = param(params, "end")) {
      auto parsed = parse_time_param("end", *e);
      if (!parsed) return respond(error_response(parsed.error()));
      end_ms = (*parsed / kMinuteMs) * kMinuteMs;
    }
    std::optional<EventType> type;
    if (auto t = param(params, "event_type"); t && *t != "all") {
      type = parse_event_type(*t);
      if (!type)
        return respond(error_response(make_error(Errc::invalid_argument, "unknown event type \"" + *t + "\"",
                                                 "event_type")));
    }
    auto limit = rq.whole_lists ? Result<std::size_t>(SIZE_MAX) : parse_limit(params, 10, ctx_.config.max_limit);
    if (!limit) return respond(error_response(limit.error()));
    std::optional<std::string> category_text = category_path ? category_path : param(params, "category");
    std::optional<Id> category;
    if (category_text) {
      category = ctx_.dictionary.find(IdKind::category, *category_text);
      if (!category) {
        if (category_path)
          return respond(error_response(make_error(Errc::not_found, "unknown category: " + *category_text)));
        category = kNoId - 1;  // a category nobody used: empty result
      }
    }
    const std::int64_t to_min = end_ms / kMinuteMs;
    const std::int64_t from_min = to_min - window_ms / kMinuteMs;
    const Dictionary& dict = ctx_.dictionary;
    const std::size_t n = *limit;
    const Sequence logged = logged_sequence();
    auto totals = std::make_shared<ProductTotals>(type, category);
    fold_minutes(from_min, to_min, [totals](MinuteRollup&& m) { totals->add(m); },
                    [respond, totals, n, &dict, from_min, to_min, category_text, type, logged](
                        Result<Sequence> applied) mutable {
                      if (!applied) return respond(error_response(applied.error()));
                      const auto top = totals->top(n);
                      JsonWriter w;
                      w.begin_object().key("products").begin_array();
                      for (const ProductRank& p : top) {
                        w.begin_object().field("product_id", dict.name(IdKind::product, p.product));
                        w.field("category_id", dict.name(IdKind::category, p.category));
                        w.field("interactions", p.interactions).end_object();
                      }
                      w.end_array();
                      w.field("start", format_iso8601(from_min * kMinuteMs));
                      w.field("end", format_iso8601(to_min * kMinuteMs));
                      w.field("event_type", type ? to_string(*type) : std::string_view("all"));
                      if (category_text) w.field("category_id", *category_text);
                      write_coverage(w, *applied, logged);
                      w.end_object();
                      respond(json_response(200, w.take()));
                    },
                    /*with_users=*/false);
  }

  void ingest(const ApiRequest& rq, Respond& respond) {
    BodyFormat format;
    if (rq.content_type == "application/x-ndjson" || rq.content_type == "application/ndjson" ||
        rq.content_type == "application/jsonl" || rq.content_type == "application/json-seq") {
      format = BodyFormat::ndjson;
    } else if (rq.content_type == "application/json" || rq.content_type.empty()) {
      format = BodyFormat::json;
    } else {
      err_media_.add();
      return respond(error_response(make_error(
          Errc::unsupported_media,
          "Content-Type must be application/json or application/x-ndjson, got " + rq.content_type)));
    }
    ParseOptions options;
    options.now_ms = ctx_.clock.now_ms();
    options.max_future_ms = ctx_.ingestor.config().max_future_ms;
    const auto parse_began = std::chrono::steady_clock::now();
    auto events = parse_events(rq.body, format, options);
    parse_seconds_.observe_since(parse_began);
    if (!events) {
      err_json_.add();
      return respond(error_response(events.error()));
    }
    if (rq.browser_events_only) {
      // A public key is in every visitor's hands: it may report shopping
      // behaviour, not ratings or anything the catalogue does not show.
      for (std::size_t i = 0; i < events->size(); ++i) {
        if ((*events)[i].type != EventType::rate) continue;
        err_json_.add();
        return respond(error_response(make_error(
            Errc::invalid_argument,
            "a public key may send view, click, add_to_cart, remove_from_cart, favorite and purchase events",
            "event_type", static_cast<long>(i + 1))));
      }
    }
    Counter& storage_errors = err_storage_;
    auto submitted = submit_events(std::move(events).value(), [respond, &storage_errors](auto result) {
      if (!result) {
        storage_errors.add();
        return respond(error_response(result.error()));
      }
      JsonWriter w;
      w.begin_object().field("accepted", result->accepted).field("duplicates", result->duplicates);
      if (result->accepted) w.field("first_sequence", result->first_sequence).field("last_sequence", result->last_sequence);
      else w.key("first_sequence").null().key("last_sequence").null();
      if (result->incarnation != 0) w.field("incarnation", incarnation_text(result->incarnation));
      w.end_object();
      respond(json_response(200, w.take()));
    });
    // The ingestor took what it needed (a local submit reads the events and
    // leaves them here): the vector goes back to this thread for the next body.
    recycle_events(std::move(events).value());
    if (!submitted) {
      if (submitted.error().code == Errc::overloaded) err_overloaded_.add();
      respond(error_response(submitted.error()));
    }
  }

  // The events of the log as NDJSON, one event a line with the field names
  // POST /api/events takes, so a download can be sent back as it is. The log
  // is read by sequence from the cursor (or its oldest retained event); from
  // and to are event time and filter rather than seek, as the log has no time
  // index, so one page reads at most export_max_page records: a page can end
  // with fewer than `limit` lines (even none) and still carry X-Next-Cursor.
  // The page is decided and then streamed by the exporter's worker
  // (event_export.hpp), never on the connection's thread. The cursor is the
  // log position after the page's last read record, so events logged while a
  // client pages appear once, on a later page.
  static constexpr std::size_t kExportDefaultLimit = 10000;

  void export_events(const ApiRequest& rq, Respond& respond) {
    const auto params = parse_query(rq.query);
    if (!exporter_)
      return respond(error_response(make_error(Errc::unavailable, "the event log cannot be read here")));
    auto limit = parse_limit(params, kExportDefaultLimit, exporter_->limits().max_page);
    if (!limit) return respond(error_response(limit.error()));
    ExportQuery query;
    query.limit = *limit;
    if (auto f = param(params, "from")) {
      auto parsed = parse_time_param("from", *f);
      if (!parsed) return respond(error_response(parsed.error()));
      query.from_ms = *parsed;
    }
    if (auto t = param(params, "to")) {
      auto parsed = parse_time_param("to", *t);
      if (!parsed) return respond(error_response(parsed.error()));
      query.to_ms = *parsed;
    }
    if (query.to_ms <= query.from_ms)
      return respond(error_response(make_error(Errc::invalid_argument, "must be later than from", "to")));
    if (auto t = param(params, "event_type"); t && !t->empty()) {
      query.type = parse_event_type(*t);
      if (!query.type)
        return respond(
            error_response(make_error(Errc::invalid_argument, "unknown event type \"" + *t + "\"", "event_type")));
    }
    // An id nobody used matches nothing: an empty page, not an error.
    if (auto u = param(params, "user_id"); u && !u->empty())
      query.user = ctx_.dictionary.find(IdKind::user, *u).value_or(kUnmatchedId);
    if (auto p = param(params, "product_id"); p && !p->empty())
      query.product = ctx_.dictionary.find(IdKind::product, *p).value_or(kUnmatchedId);
    if (auto c = param(params, "cursor")) {
      auto decoded = decode_export_cursor(*c, *ctx_.log);
      if (!decoded) return respond(error_response(decoded.error()));
      query.from_sequence = *decoded;
    }
    auto queued = exporter_->export_page(std::move(query), respond);
    if (!queued) respond(error_response(queued.error()));
  }

  // Ids of `kind` from the cursor on whose name contains `search` (ASCII
  // case-insensitive), up to limit; reads at most kListScanLimit names. The
  // cursor is the next id to look at; absent when the ids are exhausted.
  static constexpr std::size_t kListScanLimit = 1000000;
  struct IdPage {
    std::vector<Id> ids;
    std::optional<Id> next;
  };
  static Result<IdPage> page_ids(const Dictionary& dict, IdKind kind, const Params& params, std::size_t limit) {
    Id from = 1;
    if (auto c = param(params, "cursor")) {
      if (c->empty() || c->size() > 10 || !std::all_of(c->begin(), c->end(), [](char ch) { return ch >= '0' && ch <= '9'; }) ||
          std::stoull(*c) == 0 || std::stoull(*c) > 0xFFFFFFFEull)
        return make_error(Errc::invalid_argument, "not a cursor this endpoint gave (next_cursor)", "cursor");
      from = static_cast<Id>(std::stoull(*c));
    }
    std::string needle = param(params, "search").value_or("");
    auto lower = [](std::string text) {
      for (char& ch : text) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      return text;
    };
    needle = lower(std::move(needle));
    const std::size_t size = dict.table(kind).size();
    IdPage page;
    std::size_t scanned = 0;
    Id id = from;
    for (; id <= size && page.ids.size() < limit && scanned < kListScanLimit; ++id, ++scanned) {
      if (needle.empty() || lower(std::string(dict.name(kind, id))).find(needle) != std::string::npos)
        page.ids.push_back(id);
    }
    if (id <= size) page.next = id;
    return page;
  }

  // Users with their event counts as the engine's profiles keep them.
  void users(const ApiRequest& rq, Respond& respond) {
    const auto params = parse_query(rq.query);
    auto limit = parse_limit(params, 100, ctx_.config.max_limit);
    if (!limit) return respond(error_response(limit.error()));
    auto page = page_ids(ctx_.dictionary, IdKind::user, params, *limit);
    if (!page) return respond(error_response(page.error()));
    const Dictionary& dict = ctx_.dictionary;
    const Sequence logged = logged_sequence();
    auto queued = ctx_.engine.run_on_engine([page = std::move(page).value(), respond, &dict,
                                             logged](const WindowEngine& e) {
      JsonWriter w;
      w.begin_object().key("users").begin_array();
      for (Id id : page.ids) {
        w.begin_object().field("user_id", dict.name(IdKind::user, id));
        const auto profile = e.user_profile(id);
        std::uint64_t total = 0;
        w.key("events").begin_object();
        for (std::size_t t = 0; t < kEventTypeCount; ++t) {
          const std::uint64_t n = profile ? profile->events[t] : 0;
          w.field(to_string(static_cast<EventType>(t)), n);
          total += n;
        }
        w.end_object().field("total_events", total);
        w.key("total_spend").money(profile ? profile->spend_minor : 0);
        write_time(w, "first_seen", profile ? profile->first_seen_ms : 0, profile.has_value());
        write_time(w, "last_seen", profile ? profile->last_seen_ms : 0, profile.has_value());
        w.end_object();
      }
      w.end_array();
      w.key("next_cursor");
      if (page.next) w.value(std::to_string(*page.next));
      else w.null();
      write_coverage(w, e.applied_through(), logged);
      w.end_object();
      ApiResponse r = json_response(200, w.take());
      if (page.next) r.headers.emplace_back("X-Next-Cursor", std::to_string(*page.next));
      respond(std::move(r));
    });
    if (!queued) respond(error_response(queued.error()));
  }

  // Products with their interactions by event type over a window of event
  // time (default 24h up to the newest event), from the minute rollups.
  void products(const ApiRequest& rq, Respond& respond) {
    const auto params = parse_query(rq.query);
    // ids (with scope=local&limit=all only): the named products this node
    // knows, whatever the page, with the minute their category was last
    // seen; what a cluster's walk asks every member for a page's products.
    const bool by_ids = rq.whole_lists;
    if (!by_ids && param(params, "ids"))
      return respond(error_response(
          make_error(Errc::invalid_argument, "only with scope=local&limit=all (a cluster's walk asks it)", "ids")));
    auto limit = by_ids ? Result<std::size_t>(SIZE_MAX) : parse_limit(params, 100, ctx_.config.max_limit);
    if (!limit) return respond(error_response(limit.error()));
    std::int64_t window_ms = 1440 * kMinuteMs;
    if (auto w = lookback_param(params, window_ms); !w) return respond(error_response(w.error()));
    else window_ms = *w;
    std::optional<Id> category;
    if (auto c = param(params, "category"); c && !c->empty() && !by_ids)
      category = ctx_.dictionary.find(IdKind::category, *c).value_or(kUnmatchedId);
    Result<IdPage> page = IdPage{};
    if (by_ids) {
      const std::string ids = param(params, "ids").value_or("");
      for (const std::string_view name : comma_list(ids))
        if (auto id = ctx_.dictionary.find(IdKind::product, name)) page->ids.push_back(*id);
    } else {
      page = page_ids(ctx_.dictionary, IdKind::product, params, *limit);
    }
    if (!page) return respond(error_response(page.error()));
    const auto snap = ctx_.engine.latest();
    bool any = snap->max_event_time_ms > 0;
    const TimestampMs ref = any ? snap->max_event_time_ms : ctx_.clock.now_ms();
    std::int64_t to_min = ref / kMinuteMs + 1;
    if (auto e = param(params, "end")) {
      // The window's end pinned (a past minute, exclusive), as for popular.
      auto parsed = parse_time_param("end", *e);
      if (!parsed) return respond(error_response(parsed.error()));
      to_min = *parsed / kMinuteMs;
      any = true;
    }
    const std::int64_t from_min = to_min - window_ms / kMinuteMs;
    const Dictionary& dict = ctx_.dictionary;
    const Sequence logged = logged_sequence();
    auto shared_page = std::make_shared<IdPage>(std::move(page).value());
    struct Counts {
      std::array<std::uint64_t, kEventTypeCount> events{};
      Id category = kNoId;
      std::int64_t category_minute = -1;  // the minute `category` is from
    };
    // Only the page's products are counted, one minute at a time.
    auto counts = std::make_shared<std::map<Id, Counts>>();
    for (Id id : shared_page->ids) counts->emplace(id, Counts{});
    const auto add = [counts](MinuteRollup&& m) {
      for (const auto& pc : m.products)
        if (auto it = counts->find(pc.product); it != counts->end()) {
          it->second.events[static_cast<std::size_t>(pc.type)] += pc.count;
          it->second.category = pc.category;
          it->second.category_minute = m.minute;
        }
    };
    fold_minutes(from_min, to_min, add, [respond, shared_page, counts, category, &dict, from_min, to_min, any,
                                         logged, by_ids](Result<Sequence> applied) {
      if (!applied) return respond(error_response(applied.error()));
      JsonWriter w;
      w.begin_object().key("products").begin_array();
      for (Id id : shared_page->ids) {
        const Counts& c = (*counts)[id];
        if (category && c.category != *category) continue;
        w.begin_object().field("product_id", dict.name(IdKind::product, id));
        w.key("category_id");
        if (c.category != kNoId) w.value(dict.name(IdKind::category, c.category));
        else w.null();
        std::uint64_t total = 0;
        w.key("events").begin_object();
        for (std::size_t t = 0; t < kEventTypeCount; ++t) {
          w.field(to_string(static_cast<EventType>(t)), c.events[t]);
          total += c.events[t];
        }
        w.end_object().field("interactions", total);
        if (by_ids) w.field("category_minute", c.category_minute);
        w.end_object();
      }
      w.end_array();
      write_time(w, "start", from_min * kMinuteMs, any);
      write_time(w, "end", to_min * kMinuteMs, any);
      w.key("next_cursor");
      if (shared_page->next) w.value(std::to_string(*shared_page->next));
      else w.null();
      write_coverage(w, *applied, logged);
      w.end_object();
      ApiResponse r = json_response(200, w.take());
      if (shared_page->next) r.headers.emplace_back("X-Next-Cursor", std::to_string(*shared_page->next));
      respond(std::move(r));
    }, /*with_users=*/false);
  }

  static std::string reason_text(const Reason& reason, const Dictionary& dict) {
    return api::reason_text(reason.kind, dict.name(related_kind(reason.kind), reason.related));
  }

  static void write_recommendations(JsonWriter& w, const std::vector<Recommendation>& items, const Dictionary& dict) {
    w.key("recommendations").begin_array();
    for (const Recommendation& rec : items) {
      w.begin_object().field("product_id", dict.name(IdKind::product, rec.product));
      w.field("score", std::round(rec.score * 1e6) / 1e6);
      w.field("reason", reason_text(rec.reason, dict));
      w.field("reason_code", to_string(rec.reason.kind));
      if (rec.reason.related != kNoId) w.field("related_id", dict.name(related_kind(rec.reason.kind), rec.reason.related));
      w.end_object();
    }
    w.end_array();
  }

  // scope=local&limit=all, asked by a cluster's merge: every trending
  // candidate with its weighted counts per clock hour and the model's clock
  // (Recommender::trending_counts), which the merge adds over the members
  // and ranks (README, Cluster). The category filter is the merge's: the
  // candidates come unfiltered, with each product's category.
  void trending_counts(Respond& respond) {
    const Dictionary& dict = ctx_.dictionary;
    const Sequence logged = logged_sequence();
    auto queued = ctx_.recommend.run_on_recommender([respond, &dict, logged](const Recommender& r) {
      JsonWriter w;
      w.begin_object().field("algorithm", "trending").field("now", r.now_ms());
      w.key("candidates").begin_array();
      for (const Recommender::TrendCounts& t : r.trending_counts()) {
        w.begin_object().field("product_id", dict.name(IdKind::product, t.product));
        if (t.category != kNoId) w.field("category_id", dict.name(IdKind::category, t.category));
        w.field("last_seen", t.last_seen).field("hour", t.hour);
        w.key("counts").begin_array();
        for (const float c : t.counts) w.value(double(c));
        w.end_array().end_object();
      }
      w.end_array();
      write_coverage(w, r.applied_through(), logged);
      w.end_object();
      respond(json_response(200, w.take()));
    });
    if (!queued) respond(error_response(queued.error()));
  }

  // Resolves an optional id parameter; an unknown id is a 404 naming it.
  Result<Id> optional_id(const Params& params, std::string_view key, IdKind kind) {
    auto text = param(params, key);
    if (!text || text->empty()) return kNoId;
    auto id = ctx_.dictionary.find(kind, *text);
    if (!id) return make_error(Errc::not_found, "unknown " + std::string(to_string(kind)) + ": " + *text, std::string(key));
    return *id;
  }

  void recommendations(const ApiRequest& rq, const std::string& user_id, Respond& respond) {
    const auto params = parse_query(rq.query);
    auto limit = parse_limit(params, 10, ctx_.config.max_limit);
    if (!limit) return respond(error_response(limit.error()));
    RecommendQuery q;
    q.limit = *limit;
    const std::string algorithm = param(params, "algorithm").value_or("hybrid");
    if (algorithm == "hybrid") q.strategy = Strategy::hybrid;
    else if (algorithm == "item_cf") q.strategy = Strategy::item_cf;
    else if (algorithm == "user_cf") q.strategy = Strategy::user_cf;
    else if (algorithm == "popularity") q.strategy = Strategy::popularity;
    else
      return respond(error_response(make_error(
          Errc::invalid_argument, "must be one of hybrid, item_cf, user_cf, popularity; got \"" + algorithm + "\"",
          "algorithm")));
    auto category = optional_id(params, "category", IdKind::category);
    if (!category) return respond(error_response(category.error()));
    q.category = *category;
    if (auto ex = param(params, "exclude")) {
      for (const std::string_view item : comma_list(*ex))
        if (auto id = ctx_.dictionary.find(IdKind::product, item)) q.exclude.push_back(*id);
    }
    if (auto v = param(params, "exclude_viewed")) q.exclude_viewed = (*v == "true" || *v == "1");
    // An unknown user is a new shopper: cold start, not an error.
    const auto user = ctx_.dictionary.find(IdKind::user, user_id);
    q.user = user.value_or(kNoId);
    const Dictionary& dict = ctx_.dictionary;
    const Sequence logged = logged_sequence();
    auto queued = ctx_.recommend.run_on_recommender([q, user_id, algorithm, known = user.has_value(), respond,
                                                     &dict, logged](const Recommender& r) {
      const auto items = r.recommend(q);
      JsonWriter w;
      w.begin_object().field("user_id", user_id).field("algorithm", algorithm);
      w.field("cold_start", !known);
      write_recommendations(w, items, dict);
      write_coverage(w, r.applied_through(), logged);
      w.end_object();
      respond(json_response(200, w.take()));
    });
    if (!queued) respond(error_response(queued.error()));
  }

  void similar(const ApiRequest& rq, const std::string& product_id, Respond& respond) {
    const auto params = parse_query(rq.query);
    if (rq.whole_lists) return similar_row(product_id, param(params, "of").value_or(""), respond);
    if (param(params, "of"))
      return respond(error_response(
          make_error(Errc::invalid_argument, "only with scope=local&limit=all (a cluster's merge asks it)", "of")));
    auto limit = parse_limit(params, 10, ctx_.config.max_limit);
    if (!limit) return respond(error_response(limit.error()));
    auto product = ctx_.dictionary.find(IdKind::product, product_id);
    if (!product) return respond(error_response(make_error(Errc::not_found, "unknown product: " + product_id)));
    const Dictionary& dict = ctx_.dictionary;
    const std::size_t n = *limit;
    const Sequence logged = logged_sequence();
    auto queued = ctx_.recommend.run_on_recommender([id = *product, n, product_id, respond, &dict,
                                                     logged](const Recommender& r) {
      JsonWriter w;
      w.begin_object().field("product_id", product_id).field("algorithm", "item_cf");
      write_recommendations(w, r.similar(id, n), dict);
      write_coverage(w, r.applied_through(), logged);
      w.end_object();
      respond(json_response(200, w.take()));
    });
    if (!queued) respond(error_response(queued.error()));
  }

  // What a cluster's merge of similar items needs from this node (README,
  // Cluster, Queries): the product's co-occurrence row and engagement at
  // this model's clock, with the engagement of each of its neighbours and of
  // the products `of` names (comma-separated: the other members'
  // neighbours). An unknown product is a row without neighbours.
  void similar_row(const std::string& product_id, const std::string& of, Respond& respond) {
    const std::optional<Id> product = ctx_.dictionary.find(IdKind::product, product_id);
    std::vector<std::pair<std::string, Id>> asked;
    for (const std::string_view name : comma_list(of))
      asked.emplace_back(std::string(name), ctx_.dictionary.find(IdKind::product, name).value_or(kNoId));
    const Dictionary& dict = ctx_.dictionary;
    const Sequence logged = logged_sequence();
    auto queued = ctx_.recommend.run_on_recommender([product, product_id, asked = std::move(asked), respond, &dict,
                                                     logged](const Recommender& r) {
      const RecommenderConfig& c = r.config();
      const auto row = product ? r.similar_row(*product) : std::nullopt;
      JsonWriter w;
      w.begin_object().field("product_id", product_id).field("algorithm", "item_cf");
      // Known as one node knows a product (a 404 otherwise): by the dictionary.
      w.field("known", product.has_value()).field("now", r.now_ms());
      w.field("half_life_ms", c.similarity_half_life_ms).field("damping", c.popularity_damping);
      w.field("shrinkage", c.similarity_shrinkage);
      w.field("engagement", row ? row->engagement : 0.0);
      w.key("neighbours").begin_array();
      if (row)
        for (const auto& [id, co] : row->co)
          w.begin_object()
              .field("product_id", dict.name(IdKind::product, id))
              .field("co", co)
              .field("engagement", r.engagement(id))
              .end_object();
      w.end_array();
      w.key("engagements").begin_object();
      for (const auto& [name, id] : asked) w.field(name, id == kNoId ? 0.0 : r.engagement(id));
      w.end_object();
      write_coverage(w, r.applied_through(), logged);
      w.end_object();
      respond(json_response(200, w.take()));
    });
    if (!queued) respond(error_response(queued.error()));
  }

  void trending(const ApiRequest& rq, Respond& respond) {
    const auto params = parse_query(rq.query);
    if (rq.whole_lists) return trending_counts(respond);
    auto limit = parse_limit(params, 10, ctx_.config.max_limit);
    if (!limit) return respond(error_response(limit.error()));
    auto category = optional_id(params, "category", IdKind::category);
    if (!category) return respond(error_response(category.error()));
    const Dictionary& dict = ctx_.dictionary;
    const Sequence logged = logged_sequence();
    auto queued = ctx_.recommend.run_on_recommender([n = *limit, c = *category, respond, &dict,
                                                     logged](const Recommender& r) {
      JsonWriter w;
      w.begin_object().field("algorithm", "trending");
      write_recommendations(w, r.trending(n, c), dict);
      write_coverage(w, r.applied_through(), logged);
      w.end_object();
      respond(json_response(200, w.take()));
    });
    if (!queued) respond(error_response(queued.error()));
  }

  void top_propensity(const ApiRequest& rq, Respond& respond) {
    const auto params = parse_query(rq.query);
    auto limit = parse_limit(params, 10, ctx_.config.max_limit);
    if (!limit) return respond(error_response(limit.error()));
    const Dictionary& dict = ctx_.dictionary;
    const Sequence logged = logged_sequence();
    auto queued = ctx_.recommend.run_on_recommender([n = *limit, respond, &dict, logged](const Recommender& r) {
      JsonWriter w;
      w.begin_object().key("users").begin_array();
      for (const auto& [user, p] : r.propensity().top_propensity(n)) {
        w.begin_object().field("user_id", dict.name(IdKind::user, user));
        w.field("purchase_propensity", std::round(p * 1e4) / 1e4).end_object();
      }
      w.end_array();
      w.field("trained_examples", r.propensity().trained_examples());
      w.field("horizon_seconds", r.config().propensity.horizon_ms / 1000);
      write_coverage(w, r.applied_through(), logged);
      w.end_object();
      respond(json_response(200, w.take()));
    });
    if (!queued) respond(error_response(queued.error()));
  }

  // Uploaded data sets load on a worker thread (one import at a time), so
  // backpressure from the ingestor never blocks an I/O thread.
  void import(const ApiRequest& rq, Respond& respond) {
    const auto params = parse_query(rq.query);
    const std::string format_text = param(params, "format").value_or("");
    std::optional<ImportFormat> format;
    if (format_text == "taobao") format = ImportFormat::taobao_csv;
    else if (format_text == "rees46") format = ImportFormat::rees46_csv;
    else if (format_text == "ndjson") format = ImportFormat::ndjson;
    if (!format)
      return respond(error_response(make_error(
          Errc::invalid_argument, "must be taobao, rees46 or ndjson; got \"" + format_text + "\"", "format")));
    const auto force = param(params, "force");
    if (force && *force != "true" && *force != "false")
      return respond(error_response(make_error(Errc::invalid_argument, "must be true or false", "force")));
    std::lock_guard lock(import_mutex_);
    if (import_running_)
      return respond(error_response(make_error(Errc::unavailable, "an import is already running; retry later")));
    if (import_thread_.joinable()) import_thread_.join();
    import_running_ = true;
    import_thread_ = std::thread([this, body = rq.body, format = *format, format_text, respond,
                                  forced = force == "true"]() mutable {
      ApiResponse answer = run_import(body, format, format_text, forced);
      {
        // Free before answering: a client may send the next import as soon
        // as it has this answer.
        std::lock_guard done(import_mutex_);
        import_running_ = false;
      }
      respond(std::move(answer));
    });
  }

  ApiResponse run_import(const std::string& body, ImportFormat format, const std::string& format_text, bool force) {
    // The same bytes imported completely before are skipped as a whole (see
    // ImportFingerprint); derived event ids alone forget after a while.
    std::string record;
    if (ctx_.records) {
      ImportFingerprint fingerprint;
      fingerprint.add(body);
      record = fingerprint.record_name(format_text);
      auto done = ctx_.records->get_checkpoint(record);
      if (!done) return error_response(done.error());
      if (*done && !force) {
        JsonWriter w;
        w.begin_object().field("format", format_text).field("already_imported", true);
        w.field("recorded", (*done)->bytes).field("through_sequence", (*done)->covers_through);
        w.field("accepted", 0).end_object();
        return json_response(200, w.take());
      }
    }
    // Every batch's completion is counted so the answer comes only once all
    // of them are durable in the log.
    struct Pending {
      std::mutex mutex;
      std::condition_variable cv;
      std::size_t outstanding = 0;
      std::uint64_t accepted = 0, duplicates = 0;
      Sequence first = 0, last = 0;
      std::optional<Error> failure;
    };
    auto pending = std::make_shared<Pending>();
    ImportOptions options;
    options.clock = &ctx_.clock;
    auto report = import_text(body, format, options, [&](std::vector<RawEvent>&& batch) -> Result<void> {
      {
        std::lock_guard lock(pending->mutex);
        if (pending->failure) return *pending->failure;
        ++pending->outstanding;
      }
      // Cluster mode: Kafka's producer queue refuses a batch part way when
      // it fills, so a batch waits for room for all of it first.
      if (ctx_.submit_events && ctx_.wait_for_room)
        ctx_.wait_for_room(batch.size(), std::chrono::steady_clock::now() + std::chrono::seconds(1));
      for (;;) {
        auto submitted = submit_events(std::move(batch), [pending](Result<IngestReceipt> r) {
          std::lock_guard lock(pending->mutex);
          if (r) {
            if (r->accepted && pending->first == 0) pending->first = r->first_sequence;
            if (r->accepted) pending->last = r->last_sequence;
            pending->accepted += r->accepted;
            pending->duplicates += r->duplicates;
          } else if (!pending->failure) {
            pending->failure = r.error();
          }
          --pending->outstanding;
          pending->cv.notify_all();
        });
        if (submitted) return {};
        // Full: submitted again once the ingest thread (or, in cluster
        // mode, Kafka's acknowledgements) made room.
        const bool can_wait = !ctx_.submit_events || ctx_.wait_for_room;
        if (submitted.error().code != Errc::overloaded || !can_wait) {
          std::lock_guard lock(pending->mutex);
          --pending->outstanding;
          return submitted;
        }
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
        if (!ctx_.submit_events) ctx_.ingestor.wait_for_room(batch.size(), deadline);
        else ctx_.wait_for_room(batch.size(), deadline);
      }
    });
    std::unique_lock lock(pending->mutex);
    pending->cv.wait(lock, [&] { return pending->outstanding == 0; });
    if (!report) return error_response(report.error());
    if (pending->failure) return error_response(*pending->failure);
    if (!record.empty()) {
      const std::string what = std::to_string(report->lines) + " lines, " + std::to_string(pending->accepted) +
                               " events added";
      const Sequence through = pending->accepted ? pending->last : ctx_.ingestor.stats().last_sequence;
      if (auto put = ctx_.records->put_checkpoint(record, Checkpoint{through, what}); !put)
        return error_response(put.error());
    }
    JsonWriter w;
    w.begin_object().field("format", format_text).field("already_imported", false);
    w.field("lines", report->lines).field("accepted", pending->accepted);
    w.field("duplicates", pending->duplicates + report->duplicates).field("bad_lines", report->bad_lines);
    w.field("zero_prices", report->zero_prices);
    if (pending->accepted) w.field("first_sequence", pending->first).field("last_sequence", pending->last);
    else w.key("first_sequence").null().key("last_sequence").null();
    w.key("problems").begin_array();
    for (const ImportProblem& p : report->problems) {
      w.begin_object().field("line", p.line).field("reason", p.reason).end_object();
    }
    w.end_array().end_object();
    return json_response(200, w.take());
  }

  // The ingestor, or in cluster mode the Kafka write path.
  Result<void> submit_events(std::vector<RawEvent>&& events, IngestDone done) {
    if (ctx_.submit_events) return ctx_.submit_events(std::move(events), std::move(done));
    return ctx_.ingestor.submit(std::move(events), std::move(done));
  }

  ApiContext ctx_;
  std::vector<Route> routes_;
  std::mutex import_mutex_;  // guards import_running_ and import_thread_
  bool import_running_ = false;
  std::thread import_thread_;
  std::unique_ptr<EventExporter> exporter_;  // GET /api/events; absent without a log
  Counter& err_json_;
  Counter& err_overloaded_;
  Counter& err_media_;
  Counter& err_storage_;
  Histogram& parse_seconds_;
};

}  // namespace

ApiResponse error_response(const Error& error) {
  int status = 500;
  ApiResponse r;
  switch (error.code) {
    case Errc::invalid_argument: status = 400; break;
    case Errc::not_found: status = 404; break;
    case Errc::method_not_allowed: status = 405; break;
    case Errc::payload_too_large: status = 413; break;
    case Errc::unsupported_media: status = 415; break;
    case Errc::overloaded:
      status = 503;
      r.headers.emplace_back("Retry-After", "1");
      break;
    case Errc::unavailable:
      status = 503;
      r.headers.emplace_back("Retry-After", "5");
      break;
    case Errc::no_space:
      // 507 Insufficient Storage: the request was fine and will be taken
      // once space is freed; the store resumes on its own.
      status = 507;
      r.headers.emplace_back("Retry-After", "5");
      break;
    case Errc::io_error:
      status = 503;
      r.headers.emplace_back("Retry-After", "5");
      break;
    case Errc::corrupt:
    case Errc::internal: status = 500; break;
  }
  JsonWriter w;
  w.begin_object().field("error", to_string(error.code)).field("detail", error.detail);
  if (!error.field.empty()) w.field("field", error.field);
  if (error.line > 0) w.field("line", static_cast<std::int64_t>(error.line));
  w.end_object();
  r.status = status;
  r.body = w.take();
  return r;
}

std::string render_broadcast(const WindowSnapshot& snap, const Dictionary& dict, TimestampMs now_ms,
                             std::string_view currency, Sequence logged_sequence) {
  JsonWriter w;
  w.begin_object().field("type", "snapshot").field("currency", currency);
  write_window(w, snap.window(WindowSpan::m5), snap, dict, now_ms);
  w.field("events_applied", snap.events_applied);
  write_coverage(w, snap.applied_through, logged_sequence);
  w.key("windows").begin_object();
  for (std::size_t i = 0; i < kWindowSpanCount; ++i) {
    const WindowView& v = snap.windows[i];
    w.key(to_string(v.span)).begin_object();
    write_window(w, v, snap, dict, now_ms);
    w.end_object();
  }
  w.end_object().end_object();
  return w.take();
}

std::unique_ptr<Handler> make_api_handler(ApiContext context) { return std::make_unique<ApiHandler>(std::move(context)); }

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  std::size_t pos = 1;
  while (pos <= path.size()) {
    std::size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > pos) out.emplace_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

}  // namespace shoppulse::api
