#include "range_routes.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <set>
#include <unordered_map>

#include "figures_json.hpp"
#include "json_writer.hpp"
#include "query_params.hpp"
#include "shoppulse/core/time_format.hpp"
#include "shoppulse/range/analysis.hpp"
#include "shoppulse/windows/rollup.hpp"

namespace shoppulse::api {
namespace {

using range::RangeScope;

constexpr std::int64_t kMinuteMs = 60000;
constexpr std::int64_t kHourMs = 3600000;
constexpr std::int64_t kDayMs = 86400000;
constexpr std::int64_t kMaxFunnelWindowMs = 90 * kDayMs;
constexpr std::int64_t kMaxCohortPeriods = 1000;
constexpr std::size_t kDefaultTop = 10;
constexpr std::size_t kDefaultSeriesPoints = 1440;  // the automatic step keeps the series within this

// ISO-8601 or epoch milliseconds, as the rest of the API; absent is empty.
Result<std::optional<TimestampMs>> time_param(const Params& params, std::string_view name) {
  auto text = param(params, name);
  if (!text) return std::optional<TimestampMs>{};
  auto t = parse_time_param(name, *text);
  if (!t) return std::move(t).error();
  return std::optional<TimestampMs>(*t);
}

// The asked range; a missing end is the end of the minute of the newest
// logged event (the range ending now), a missing start `length` before it.
struct AskedRange {
  std::optional<TimestampMs> from, to;
  std::int64_t default_length_ms = kHourMs;
};

Result<AskedRange> asked_range(const Params& params, std::int64_t default_length_ms) {
  AskedRange r;
  r.default_length_ms = default_length_ms;
  auto from = time_param(params, "from");
  if (!from) return std::move(from).error();
  auto to = time_param(params, "to");
  if (!to) return std::move(to).error();
  r.from = *from;
  r.to = *to;
  if (r.from && r.to && *r.to <= *r.from)
    return make_error(Errc::invalid_argument, "must be later than from", "to");
  return r;
}

// On the worker: the range with its defaults filled from the time index.
std::pair<TimestampMs, TimestampMs> resolve(const AskedRange& asked, const range::TimeIndex& index,
                                            TimestampMs now_ms) {
  const TimestampMs newest = index.max_time().value_or(now_ms);
  const TimestampMs newest_end = (newest / kMinuteMs + 1) * kMinuteMs;
  TimestampMs to = newest_end;
  if (asked.to) to = *asked.to;
  else if (asked.from && *asked.from >= newest_end) to = *asked.from + asked.default_length_ms;
  const TimestampMs from = asked.from ? *asked.from : to - asked.default_length_ms;
  return {from, to};
}

Sequence logged_sequence(const ApiContext& ctx) {
  if (ctx.log) {
    const Sequence next = ctx.log->next_sequence();
    return next > 0 ? next - 1 : 0;
  }
  return ctx.ingestor.stats().last_sequence;
}

// The tail every range answer shares: what the scan read and how much of
// the log the time index covered, then the answer is sent.
void respond_scanned(JsonWriter& w, const range::ScanFigures& scan, Sequence applied, Sequence logged,
                     const Respond& respond) {
  w.key("scan").begin_object();
  w.field("events_read", scan.read).field("events_in_range", scan.in_range);
  w.field("seconds", std::round(scan.seconds * 1e4) / 1e4);
  w.end_object();
  w.field("complete", applied >= logged);
  w.field("applied_sequence", applied).field("logged_sequence", logged);
  w.end_object();
  ApiResponse r;
  r.body = w.take();
  respond(std::move(r));
}

double percent(std::uint64_t part, std::uint64_t whole) {
  return whole ? std::round(double(part) / double(whole) * 10000.0) / 100.0 : 0.0;
}

void respond_error(const Respond& respond, Error error) { respond(error_response(error)); }

// Queues job on the range worker; answers the refusal itself.
void submit(const ApiContext& ctx, const Respond& respond, std::function<void(RangeScope&)> job) {
  if (!ctx.range)
    return respond_error(respond, make_error(Errc::unavailable, "range queries are not available in this process"));
  auto queued = ctx.range->submit(std::move(job), [respond](Error e) { respond_error(respond, std::move(e)); });
  if (!queued) respond_error(respond, std::move(queued).error());
}

std::string step_text(std::int64_t step_ms) {
  switch (step_ms) {
    case kMinuteMs: return "1m";
    case 5 * kMinuteMs: return "5m";
    case 15 * kMinuteMs: return "15m";
    case kHourMs: return "1h";
    default: return "1d";
  }
}

// The start of t's minute.
TimestampMs floor_minute(TimestampMs t) {
  return (t >= 0 ? t / kMinuteMs : -((-t + kMinuteMs - 1) / kMinuteMs)) * kMinuteMs;
}

// Where the log's exact figures start when retention has dropped its oldest
// events: the start of the minute after the oldest retained event's (that
// minute may have lost events logged before it). nullopt when nothing was
// dropped. Assumes the dropped events are not later in event time than the
// oldest kept one, as with live ingest (within windows.allowed_lateness) and
// time-sorted imports. INT64_MAX when every logged event was dropped.
Result<std::optional<TimestampMs>> exact_from(const ApiContext& ctx) {
  if (!ctx.log) return std::optional<TimestampMs>{};
  const EventLogStats stats = ctx.log->stats();
  if (stats.first_sequence == 0)
    return ctx.log->next_sequence() > 1 ? std::optional<TimestampMs>(INT64_MAX) : std::optional<TimestampMs>{};
  if (stats.first_sequence <= 1) return std::optional<TimestampMs>{};
  std::optional<TimestampMs> oldest;
  auto read = ctx.log->read(stats.first_sequence, [&](std::span<const LogRecord> records) {
    if (!records.empty()) oldest = records.front().event.time_ms;
    return false;
  });
  if (!read) return std::move(read).error();
  if (!oldest) return std::optional<TimestampMs>(INT64_MAX);
  return std::optional<TimestampMs>(floor_minute(*oldest) + kMinuteMs);
}

// A period's figures from the per-minute rollups (whole minutes starting in
// [from, to)): counts, revenue, distinct users and funnel users from the
// users' type masks, a series of `step_ms` points from `from`, and the
// lists ranked as the log's answer ranks them (products and categories by
// events of any type, at most `limit`; every device and location).
struct RollupFigures {
  Kpis kpis;
  std::vector<range::SeriesPoint> series;
  std::vector<RankedId> top_products, top_categories, devices, locations;
};

Result<RollupFigures> rollup_figures(const RollupStore& store, TimestampMs from, TimestampMs to, std::int64_t step_ms,
                                     std::size_t limit) {
  const auto ceil_minute = [](TimestampMs t) {
    return t >= 0 ? (t + kMinuteMs - 1) / kMinuteMs : -(-t / kMinuteMs);
  };
  RollupFigures out;
  const std::int64_t points = (to - from + step_ms - 1) / step_ms;
  out.series.resize(static_cast<std::size_t>(points));
  for (std::int64_t i = 0; i < points; ++i) out.series[static_cast<std::size_t>(i)].start_ms = from + i * step_ms;
  std::unordered_map<Id, std::uint8_t> users;
  std::vector<std::uint64_t> products, categories, devices, locations;  // counts by id
  const auto add = [](std::vector<std::uint64_t>& counts, Id id, std::uint64_t n) {
    if (id == kNoId) return;
    if (counts.size() <= id) counts.resize(std::size_t{id} + 1, 0);
    counts[id] += n;
  };
  std::optional<Error> failure;
  auto scanned = store.scan_minutes(ceil_minute(from), ceil_minute(to), [&](std::int64_t m, std::string_view bytes) {
    if (failure) return;
    auto r = decode_rollup(m, bytes);
    if (!r) {
      failure = r.error();
      return;
    }
    const std::int64_t index = (m * kMinuteMs - from) / step_ms;
    range::SeriesPoint& point = out.series[static_cast<std::size_t>(std::clamp<std::int64_t>(index, 0, points - 1))];
    for (std::size_t t = 0; t < kEventTypeCount; ++t) {
      out.kpis.events[t] += r->events[t];
      point.events[t] += r->events[t];
    }
    out.kpis.revenue_minor += r->revenue_minor;
    point.revenue_minor += r->revenue_minor;
    for (const auto& [user, mask] : r->users) users[user] |= mask;
    for (const auto& p : r->products) add(products, p.product, p.count);
    for (const auto& c : r->categories) add(categories, c.category, c.count);
    for (const RankedId& d : r->devices) add(devices, d.id, d.count);
    for (const RankedId& l : r->locations) add(locations, l.id, l.count);
  });
  if (!scanned) return std::move(scanned).error();
  if (failure) return *failure;
  out.kpis.active_users = users.size();
  static constexpr std::array<EventType, kFunnelSteps> kStepTypes{EventType::view, EventType::click,
                                                                   EventType::add_to_cart, EventType::purchase};
  for (const auto& [user, mask] : users)
    for (std::size_t k = 0; k < kFunnelSteps; ++k)
      if (mask & type_bit(kStepTypes[k])) ++out.kpis.funnel[k];
  out.top_products = range::ranked_counts(products, limit);
  out.top_categories = range::ranked_counts(categories, limit);
  out.devices = range::ranked_counts(devices, devices.size());
  out.locations = range::ranked_counts(locations, locations.size());
  return out;
}

// The KPI fields with null values: figures neither the log nor the rollups hold.
void write_null_kpis(JsonWriter& w) {
  for (const char* key : {"active_users", "page_views", "clicks", "add_to_cart", "remove_from_cart", "favorites",
                          "purchases", "ratings", "total_events", "revenue", "average_order_value", "conversion_rate",
                          "viewers", "purchasers"})
    w.key(key).null();
}

void range_figures(const ApiContext& ctx, const ApiRequest& rq, const Respond& respond) {
  const auto params = parse_query(rq.query);
  auto asked = asked_range(params, kHourMs);
  if (!asked) return respond_error(respond, asked.error());
  std::optional<std::int64_t> step;
  if (auto s = param(params, "step")) {
    step = parse_series_step(*s);
    if (!step)
      return respond_error(respond, make_error(Errc::invalid_argument,
                                               "must be one of 1m, 5m, 15m, 1h, 1d; got \"" + *s + "\"", "step"));
  }
  auto parsed_limit = rq.whole_lists ? Result<std::size_t>(SIZE_MAX) : parse_limit(params, kDefaultTop, ctx.config.max_limit);
  if (!parsed_limit) return respond_error(respond, parsed_limit.error());
  const std::size_t limit = *parsed_limit;
  auto drill = parse_drill_down_filters(params, ctx.dictionary);
  if (!drill) return respond_error(respond, drill.error());
  const Sequence logged = logged_sequence(ctx);
  const TimestampMs now = ctx.clock.now_ms();
  submit(ctx, respond, [&ctx, respond, asked = *asked, step, limit, drill = std::move(drill).value(), logged,
                        now](RangeScope& scope) {
    const auto [from, to] = resolve(asked, scope.index(), now);
    const std::int64_t length = to - from;
    std::int64_t step_ms = step.value_or(0);
    if (!step) {
      for (std::int64_t s : kSeriesStepsMs) {
        step_ms = s;
        if ((length + s - 1) / s <= static_cast<std::int64_t>(kDefaultSeriesPoints)) break;
      }
    }
    if ((length + step_ms - 1) / step_ms > static_cast<std::int64_t>(ctx.config.max_trend_points))
      return respond_error(respond, make_error(Errc::invalid_argument,
                                               "the range holds more than " +
                                                   std::to_string(ctx.config.max_trend_points) +
                                                   " points of this step; use a larger step",
                                               "step"));
    range::RangeFigures figures(from, to, step_ms, limit);
    const Sequence applied = scope.index().indexed_through();
    auto scan = scope.scan(from - length, to, [&](const Event& e) {
      if (drill.filter.matches(e)) figures.add(e);
    });
    if (!scan) return respond_error(respond, scan.error());
    range::RangeSummary s = figures.finish();
    // A period that starts before the log's retained events is answered
    // from the per-minute rollups where they can (not split by drill-down
    // filters); what they cannot give is null, never a silent zero.
    auto exact = exact_from(ctx);
    if (!exact) return respond_error(respond, exact.error());
    const bool current_out = *exact && from < **exact;
    const bool previous_out = *exact && from - length < **exact;
    // Rollups are kept eventlog.retention_max_age behind the newest event;
    // a period starting before that has lost minutes there too.
    std::optional<TimestampMs> rollups_from;
    if (ctx.config.rollup_retention_ms > 0)
      if (const auto newest = scope.index().max_time())
        rollups_from = floor_minute(*newest - ctx.config.rollup_retention_ms);
    const bool current_aged = rollups_from && from < *rollups_from;
    const bool previous_aged = rollups_from && from - length < *rollups_from;
    std::optional<RollupFigures> current_rollups, previous_rollups;
    if (current_out && !drill.any() && !current_aged) {
      auto r = rollup_figures(ctx.rollups, from, to, step_ms, limit);
      if (!r) return respond_error(respond, r.error());
      current_rollups = std::move(r).value();
    }
    if (previous_out && !drill.any() && !previous_aged) {
      auto r = rollup_figures(ctx.rollups, from - length, from, length, limit);
      if (!r) return respond_error(respond, r.error());
      previous_rollups = std::move(r).value();
    }
    const Dictionary& dict = ctx.dictionary;
    JsonWriter w;
    w.begin_object();
    w.field("from", format_iso8601(from)).field("to", format_iso8601(to));
    if (drill.any()) write_filters(w, drill.given);
    if (previous_out) {
      w.key("retention").begin_object();
      w.key("exact_from");
      if (**exact == INT64_MAX) w.null();
      else w.value(format_iso8601(**exact));
      w.field("current_period", current_out ? (current_rollups ? "rollups" : "unavailable") : "log");
      w.field("previous_period", previous_rollups ? "rollups" : "unavailable");
      std::string detail =
          drill.any() ? "part of the range lies before the event log's retained events; the per-minute rollups "
                        "that still hold it are not split by drill-down filters, so its figures are null"
                      : "part of the range lies before the event log's retained events: its counts, revenue, "
                        "distinct users, funnel, series, top products and categories, devices and locations come "
                        "from the per-minute rollups";
      if (previous_aged && !drill.any())
        detail += "; a period starting before " + format_iso8601(*rollups_from) +
                  " is null: its rollups are dropped too (eventlog.retention_max_age)";
      w.field("detail", detail + "; exact figures from the log are available from exact_from on");
      w.end_object();
    }
    if (current_out && !current_rollups) {
      write_null_kpis(w);
      for (const char* key : {"popular_products", "popular_categories", "devices", "locations"}) w.key(key).null();
    } else {
      write_kpis(w, current_rollups ? current_rollups->kpis : s.current);
      const auto& products = current_rollups ? current_rollups->top_products : s.top_products;
      const auto& categories = current_rollups ? current_rollups->top_categories : s.top_categories;
      const auto& devices = current_rollups ? current_rollups->devices : s.devices;
      const auto& locations = current_rollups ? current_rollups->locations : s.locations;
      write_ranked(w, "popular_products", "product_id", "interactions", products, dict, IdKind::product);
      write_ranked(w, "popular_categories", "category_id", "interactions", categories, dict, IdKind::category);
      write_ranked(w, "devices", "device", "events", devices, dict, IdKind::device);
      write_ranked(w, "locations", "location", "events", locations, dict, IdKind::location);
    }
    static constexpr std::array<std::string_view, kFunnelSteps> kSteps{"view", "click", "add_to_cart", "purchase"};
    const bool current_funnel = !current_out || current_rollups;
    const bool previous_funnel = !previous_out || previous_rollups;
    const Kpis& current_kpis = current_rollups ? current_rollups->kpis : s.current;
    const Kpis& previous_kpis = previous_rollups ? previous_rollups->kpis : s.previous;
    w.key("funnel").begin_array();
    for (std::size_t i = 0; i < kFunnelSteps; ++i) {
      w.begin_object().field("step", kSteps[i]).key("users");
      if (current_funnel) w.value(current_kpis.funnel[i]);
      else w.null();
      w.key("previous_users");
      if (previous_funnel) w.value(previous_kpis.funnel[i]);
      else w.null();
      w.end_object();
    }
    w.end_array();
    w.key("previous").begin_object();
    if (previous_out && !previous_rollups) write_null_kpis(w);
    else write_kpis(w, previous_kpis);
    w.field("start", format_iso8601(from - length)).field("end", format_iso8601(from));
    w.end_object();
    w.field("step", step_text(step_ms));
    w.key("series");
    if (current_out && !current_rollups) {
      w.null();
    } else {
      w.begin_array();
      for (const range::SeriesPoint& p : current_rollups ? current_rollups->series : s.series) {
        w.begin_object().field("start", format_iso8601(p.start_ms));
        write_point_counts(w, p.events, p.revenue_minor);
        w.end_object();
      }
      w.end_array();
    }
    w.field("currency", ctx.config.currency);
    respond_scanned(w, *scan, applied, logged, respond);
  });
}

std::optional<EventType> step_type(std::string_view text) {
  // Taobao's behaviour names are accepted beside the event types.
  if (text == "pv") return EventType::view;
  if (text == "cart") return EventType::add_to_cart;
  if (text == "fav") return EventType::favorite;
  if (text == "buy") return EventType::purchase;
  return parse_event_type(text);
}

// A step's filter as the request gave it, echoed in the answer (an id
// nobody used has no name to look up).
struct StepFilterText {
  std::string category, product;
};

// "view,add_to_cart:category=42,purchase:product=p1"
Result<std::vector<range::StepSpec>> parse_steps(std::string_view text, const Dictionary& dict,
                                                 std::vector<StepFilterText>& texts) {
  std::vector<range::StepSpec> steps;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    const std::string_view item = text.substr(pos, comma - pos);
    pos = comma + 1;
    const std::size_t colon = item.find(':');
    range::StepSpec step;
    StepFilterText filter_text;
    const auto type = step_type(item.substr(0, colon));
    if (!type)
      return make_error(Errc::invalid_argument,
                        "step \"" + std::string(item) +
                            "\": the event type must be one of view, click, add_to_cart, remove_from_cart, favorite, "
                            "purchase, rate (or pv, cart, fav, buy)",
                        "steps");
    step.type = *type;
    if (colon != std::string_view::npos) {
      const std::string_view filter = item.substr(colon + 1);
      const std::size_t eq = filter.find('=');
      const std::string_view key = filter.substr(0, eq);
      if (eq == std::string_view::npos || eq + 1 == filter.size() || (key != "category" && key != "product"))
        return make_error(Errc::invalid_argument,
                          "step \"" + std::string(item) + "\": a filter is category=ID or product=ID", "steps");
      const std::string value(filter.substr(eq + 1));
      const IdKind kind = key == "category" ? IdKind::category : IdKind::product;
      const Id id = dict.find(kind, value).value_or(kUnmatchedId);
      (key == "category" ? step.category : step.product) = id;
      (key == "category" ? filter_text.category : filter_text.product) = value;
    }
    steps.push_back(step);
    texts.push_back(std::move(filter_text));
    if (comma == text.size()) break;
  }
  if (steps.size() < 2 || steps.size() > range::FunnelSpec::kMaxSteps)
    return make_error(Errc::invalid_argument,
                      "a funnel needs 2 to " + std::to_string(range::FunnelSpec::kMaxSteps) + " steps", "steps");
  return steps;
}

void write_step_figures(JsonWriter& w, const range::FunnelStepFigures& f, std::uint64_t previous_users,
                        std::uint64_t first_users) {
  w.field("users", f.users);
  w.field("conversion_from_previous", percent(f.users, previous_users));
  w.field("conversion_from_start", percent(f.users, first_users));
  w.field("dropped", previous_users - f.users);
  w.key("median_time_to_convert_ms");
  if (f.median_ms) w.value(static_cast<std::int64_t>(std::llround(*f.median_ms)));
  else w.null();
  w.key("average_time_to_convert_ms");
  if (f.average_ms) w.value(static_cast<std::int64_t>(std::llround(*f.average_ms)));
  else w.null();
}

void funnel(const ApiContext& ctx, const ApiRequest& rq, const Respond& respond) {
  const auto params = parse_query(rq.query);
  auto asked = asked_range(params, kHourMs);
  if (!asked) return respond_error(respond, asked.error());
  range::FunnelSpec spec;
  std::string window_text = param(params, "window").value_or("1d");
  const auto window = parse_api_duration(window_text);
  if (!window || *window > kMaxFunnelWindowMs)
    return respond_error(respond, make_error(Errc::invalid_argument,
                                             "must be minutes, hours or days up to 90d, like 30m, 1h or 1d; got \"" +
                                                 window_text + "\"",
                                             "window"));
  spec.window_ms = *window;
  const auto steps_text = param(params, "steps");
  std::vector<StepFilterText> filter_texts;
  const bool default_steps = !steps_text || steps_text->empty();
  if (default_steps) {
    // The canonical funnel, less the steps no event in the range has.
    for (EventType t : {EventType::view, EventType::click, EventType::add_to_cart, EventType::purchase})
      spec.steps.push_back(range::StepSpec{t});
  } else {
    auto steps = parse_steps(*steps_text, ctx.dictionary, filter_texts);
    if (!steps) return respond_error(respond, steps.error());
    spec.steps = std::move(steps).value();
  }
  const std::string breakdown = param(params, "breakdown").value_or("");
  if (breakdown == "device") spec.breakdown = range::Breakdown::device;
  else if (breakdown == "location") spec.breakdown = range::Breakdown::location;
  else if (!breakdown.empty())
    return respond_error(respond, make_error(Errc::invalid_argument,
                                             "must be device or location; got \"" + breakdown + "\"", "breakdown"));
  auto drill = parse_drill_down_filters(params, ctx.dictionary);
  if (!drill) return respond_error(respond, drill.error());
  const Sequence logged = logged_sequence(ctx);
  const TimestampMs now = ctx.clock.now_ms();
  submit(ctx, respond, [&ctx, respond, asked = *asked, spec = std::move(spec), default_steps, window_text, breakdown,
                        filter_texts = std::move(filter_texts), drill = std::move(drill).value(), logged,
                        now](RangeScope& scope) mutable {
    const auto [from, to] = resolve(asked, scope.index(), now);
    const Sequence applied = scope.index().indexed_through();
    // The drill-down filters select the events first; the funnel is then
    // counted over what is left, as if the shop had only those events.
    std::array<std::uint64_t, kEventTypeCount> type_counts{};
    range::FunnelCounter counter(spec);
    auto scan = scope.scan(from, to, [&](const Event& e) {
      if (!drill.filter.matches(e)) return;
      ++type_counts[static_cast<std::size_t>(e.type)];
      counter.add(e);
    });
    if (!scan) return respond_error(respond, scan.error());
    if (default_steps) {
      // Counted again over the steps the data has: a shopper cannot pass a
      // step no event matches. The second pass reads the same range.
      std::vector<range::StepSpec> present;
      for (const auto& s : spec.steps)
        if (type_counts[static_cast<std::size_t>(s.type)] > 0) present.push_back(s);
      if (present.size() != spec.steps.size()) {
        spec.steps = std::move(present);
        if (spec.steps.empty()) spec.steps.push_back(range::StepSpec{EventType::view});
        counter = range::FunnelCounter(spec);
        auto again = scope.scan(from, to, [&](const Event& e) {
          if (drill.filter.matches(e)) counter.add(e);
        });
        if (!again) return respond_error(respond, again.error());
      }
    }
    const range::FunnelResult result = counter.finish();
    const Dictionary& dict = ctx.dictionary;
    JsonWriter w;
    w.begin_object();
    w.field("from", format_iso8601(from)).field("to", format_iso8601(to));
    if (drill.any()) write_filters(w, drill.given);
    w.field("window", window_text).field("window_ms", spec.window_ms);
    w.key("breakdown");
    if (breakdown.empty()) w.null();
    else w.value(breakdown);
    w.field("default_steps", default_steps);
    w.key("steps").begin_array();
    const std::uint64_t first_users = result.steps.empty() ? 0 : result.steps.front().users;
    for (std::size_t k = 0; k < spec.steps.size(); ++k) {
      const range::StepSpec& s = spec.steps[k];
      w.begin_object().field("step", static_cast<std::uint64_t>(k + 1)).field("event_type", to_string(s.type));
      if (k < filter_texts.size() && !filter_texts[k].category.empty())
        w.field("category_id", filter_texts[k].category);
      if (k < filter_texts.size() && !filter_texts[k].product.empty()) w.field("product_id", filter_texts[k].product);
      write_step_figures(w, result.steps[k], k == 0 ? result.steps[k].users : result.steps[k - 1].users, first_users);
      w.end_object();
    }
    w.end_array();
    w.key("breakdowns").begin_array();
    const IdKind kind = spec.breakdown == range::Breakdown::device ? IdKind::device : IdKind::location;
    for (const range::FunnelGroup& g : result.groups) {
      w.begin_object().key("value");
      if (g.value == kNoId) w.null();
      else w.value(dict.name(kind, g.value));
      w.key("steps").begin_array();
      const std::uint64_t group_first = g.steps.front().users;
      for (std::size_t k = 0; k < g.steps.size(); ++k) {
        w.begin_object();
        write_step_figures(w, g.steps[k], k == 0 ? g.steps[k].users : g.steps[k - 1].users, group_first);
        w.end_object();
      }
      w.end_array().end_object();
    }
    w.end_array();
    w.key("event_types").begin_object();
    for (std::size_t t = 0; t < kEventTypeCount; ++t)
      if (type_counts[t] > 0) w.field(to_string(static_cast<EventType>(t)), type_counts[t]);
    w.end_object();
    respond_scanned(w, *scan, applied, logged, respond);
  });
}

void cohorts(const ApiContext& ctx, const ApiRequest& rq, const Respond& respond) {
  const auto params = parse_query(rq.query);
  const std::string period_text = param(params, "period").value_or("day");
  range::CohortPeriod period = range::CohortPeriod::day;
  if (period_text == "week") period = range::CohortPeriod::week;
  else if (period_text == "hour") period = range::CohortPeriod::hour;
  else if (period_text != "day")
    return respond_error(respond, make_error(Errc::invalid_argument,
                                             "must be hour, day or week; got \"" + period_text + "\"", "period"));
  const std::int64_t default_length = period == range::CohortPeriod::hour ? kDayMs
                                      : period == range::CohortPeriod::day ? 7 * kDayMs
                                                                            : 8 * 7 * kDayMs;
  auto asked = asked_range(params, default_length);
  if (!asked) return respond_error(respond, asked.error());
  auto drill = parse_drill_down_filters(params, ctx.dictionary);
  if (!drill) return respond_error(respond, drill.error());
  const Sequence logged = logged_sequence(ctx);
  const TimestampMs now = ctx.clock.now_ms();
  submit(ctx, respond, [&ctx, respond, asked = *asked, period, period_text, drill = std::move(drill).value(), logged,
                        now](RangeScope& scope) {
    const auto [from, to] = resolve(asked, scope.index(), now);
    if (range::CohortCounter::period_index(to - 1, period) - range::CohortCounter::period_index(from, period) >=
        kMaxCohortPeriods)
      return respond_error(respond, make_error(Errc::invalid_argument,
                                               "the range holds more than " + std::to_string(kMaxCohortPeriods) +
                                                   " periods; use period=week or a shorter range",
                                               "from"));
    const range::TimeIndex& index = scope.index();
    const Sequence applied = index.indexed_through();
    Result<range::ScanFigures> scan = range::ScanFigures{};
    range::CohortTable table;
    if (!drill.any()) {
      range::CohortCounter counter(from, to, period, [&index](Id user) { return index.first_seen(user); });
      scan = scope.scan(from, to, [&](const Event& e) { counter.add(e); });
      table = counter.finish();
    } else {
      // The filters select the events first: a shopper is first seen at
      // their first matching event, which may lie before the range, so the
      // log is read from its oldest event (within range.max_scan_events).
      std::unordered_map<Id, TimestampMs> first_match;
      range::CohortCounter counter(from, to, period, [&first_match](Id user) -> std::optional<TimestampMs> {
        const auto it = first_match.find(user);
        if (it == first_match.end()) return std::nullopt;
        return it->second;
      });
      const TimestampMs oldest = std::min(index.min_time().value_or(from), from);
      scan = scope.scan(oldest, to, [&](const Event& e) {
        if (!drill.filter.matches(e)) return;
        const auto [it, inserted] = first_match.try_emplace(e.user, e.time_ms);
        if (!inserted && e.time_ms < it->second) it->second = e.time_ms;
        counter.add(e);  // counts only events within [from, to)
      });
      table = counter.finish();
    }
    if (!scan) return respond_error(respond, scan.error());
    JsonWriter w;
    w.begin_object();
    w.field("from", format_iso8601(from)).field("to", format_iso8601(to)).field("period", period_text);
    if (drill.any()) write_filters(w, drill.given);
    w.field("first_seen", drill.any() ? "the shopper's first event in the event log that matches the filters"
                                      : "the shopper's first event in the event log");
    w.key("cohorts").begin_array();
    for (const range::Cohort& c : table.cohorts) {
      w.begin_object().field("start", format_iso8601(c.start_ms)).field("users", c.users);
      w.key("returning").begin_array();
      for (auto n : c.returning) w.value(n);
      w.end_array();
      w.key("retention").begin_array();
      for (auto n : c.returning) w.value(percent(n, c.users));
      w.end_array();
      w.end_object();
    }
    w.end_array();
    respond_scanned(w, *scan, applied, logged, respond);
  });
}

}  // namespace

std::vector<RangeRoute> range_routes(const ApiContext& ctx) {
  std::vector<RangeRoute> routes;
  routes.push_back({"GET",
                    "/api/analytics/range",
                    {"from", "to", "step", "limit", "category", "product", "device", "location"},
                    [&ctx](const ApiRequest& rq, const std::vector<std::string>&, Respond& r) { range_figures(ctx, rq, r); }});
  routes.push_back({"GET",
                    "/api/analytics/funnel",
                    {"from", "to", "steps", "window", "breakdown", "category", "product", "device", "location"},
                    [&ctx](const ApiRequest& rq, const std::vector<std::string>&, Respond& r) { funnel(ctx, rq, r); }});
  routes.push_back({"GET",
                    "/api/analytics/cohorts",
                    {"from", "to", "period", "category", "product", "device", "location"},
                    [&ctx](const ApiRequest& rq, const std::vector<std::string>&, Respond& r) { cohorts(ctx, rq, r); }});
  return routes;
}

}  // namespace shoppulse::api
