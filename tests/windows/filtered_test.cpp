#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <tuple>

#include "oracle.hpp"
#include "shoppulse/windows/filtered.hpp"
#include "shoppulse/windows/window_engine.hpp"

using namespace shoppulse;
using shoppulse::test::Oracle;
using shoppulse::test::StreamShape;

namespace {

constexpr WindowSpan kSpans[] = {WindowSpan::m1, WindowSpan::m5, WindowSpan::m15, WindowSpan::h1, WindowSpan::h24};

// category, product, device, location
const EventFilter kFilters[] = {
    {2, kNoId, kNoId, kNoId},  // one category
    {kNoId, kNoId, 1, kNoId},  // one device
    {3, kNoId, 2, 1},          // category + device + location
    {kNoId, 7, kNoId, kNoId},  // one product
    {kNoId, 5, 3, 4},          // product + device + location
    {99, kNoId, kNoId, kNoId}, // a category nobody used
    {kNoId, kNoId, kNoId, 0xFFFFFFFFu},  // the API's "unknown name" id
};

void require_same_kpis(const Kpis& got, const Kpis& want) {
  REQUIRE(got.events == want.events);
  REQUIRE(got.revenue_minor == want.revenue_minor);
  REQUIRE(got.active_users == want.active_users);
  REQUIRE(got.funnel == want.funnel);
}

// The oracle counts only the events it was given, so callers hand it exactly
// the events the buffer should hold.
void require_view_matches(const WindowView& view, const Oracle& oracle, std::int64_t watermark, WindowSpan span,
                          const EventFilter& f, std::size_t top_n) {
  const std::int64_t width = span_ms(span) <= 900'000 ? 1000 : 60'000;
  const std::int64_t end = test::floor_div(watermark, width) * width;
  const std::int64_t len = span_ms(span);
  REQUIRE(view.span == span);
  REQUIRE(view.end_ms == end);
  REQUIRE(view.start_ms == end - len);
  require_same_kpis(view.current, oracle.kpis(end - len, end, f));
  require_same_kpis(view.previous, oracle.kpis(end - 2 * len, end - len, f));
  REQUIRE(view.top_products == oracle.ranked(end - len, end, [](const Event& e) { return e.product; }, top_n, f));
  REQUIRE(view.top_categories == oracle.ranked(end - len, end, [](const Event& e) { return e.category; }, top_n, f));
  REQUIRE(view.devices == oracle.ranked(end - len, end, [](const Event& e) { return e.device; }, 1000, f));
  REQUIRE(view.locations == oracle.ranked(end - len, end, [](const Event& e) { return e.location; }, 1000, f));
}

void require_same_rollup(const MinuteRollup& got, const MinuteRollup& want) {
  INFO("minute " << want.minute);
  REQUIRE(got.minute == want.minute);
  REQUIRE(got.events == want.events);
  REQUIRE(got.revenue_minor == want.revenue_minor);
  REQUIRE(got.users == want.users);
  REQUIRE(got.products == want.products);
  REQUIRE(got.categories == want.categories);
  REQUIRE(got.devices == want.devices);
  REQUIRE(got.locations == want.locations);
}

void require_same_filtered(const WindowEngine& a, const WindowEngine& b, std::int64_t from, std::int64_t to) {
  for (const EventFilter& f : kFilters) {
    for (WindowSpan span : kSpans) {
      const auto x = a.filtered_view(f, span);
      const auto y = b.filtered_view(f, span);
      REQUIRE(x.has_value());
      REQUIRE(y.has_value());
      REQUIRE(x->complete == y->complete);
      REQUIRE(x->covered_from_ms == y->covered_from_ms);
      REQUIRE(x->view.start_ms == y->view.start_ms);
      REQUIRE(x->view.end_ms == y->view.end_ms);
      require_same_kpis(x->view.current, y->view.current);
      require_same_kpis(x->view.previous, y->view.previous);
      REQUIRE(x->view.top_products == y->view.top_products);
      REQUIRE(x->view.top_categories == y->view.top_categories);
      REQUIRE(x->view.devices == y->view.devices);
      REQUIRE(x->view.locations == y->view.locations);
    }
    const auto x = a.filtered_minutes(f, from, to);
    const auto y = b.filtered_minutes(f, from, to);
    REQUIRE(x->complete == y->complete);
    REQUIRE(x->minutes.size() == y->minutes.size());
    for (std::size_t i = 0; i < x->minutes.size(); ++i)
      REQUIRE(encode_rollup(x->minutes[i]) == encode_rollup(y->minutes[i]));
  }
}

}  // namespace

TEST_CASE("filtered views and minutes match a brute-force recount of the matching events", "[windows][filtered]") {
  const auto [seed, lateness, step] = GENERATE(table<std::uint64_t, std::int64_t, std::int64_t>(
      {{21, 5000, 3000}, {22, 0, 2500}, {23, 90'000, 4000}, {24, 5000, 400}}));
  INFO("seed " << seed << " lateness " << lateness);
  WindowConfig config;
  config.allowed_lateness_ms = lateness;
  config.top_n = 4;
  StreamShape shape;
  shape.seed = seed;
  shape.lateness_ms = lateness;
  shape.mean_step_ms = step;
  shape.users = 30;
  const auto events = test::random_stream(shape);

  WindowEngine engine(config);
  Oracle oracle(config);
  std::mt19937 rng(static_cast<unsigned>(seed));
  std::uint64_t matched = 0;
  for (std::size_t i = 0; i < events.size();) {
    const std::size_t n = std::min<std::size_t>(events.size() - i, 1 + rng() % 700);
    engine.apply(std::span(events).subspan(i, n));
    for (std::size_t k = 0; k < n; ++k) oracle.apply(events[i + k]);
    i += n;
    for (const EventFilter& f : kFilters) {
      for (WindowSpan span : kSpans) {
        INFO("span " << to_string(span) << " filter " << f.category << "/" << f.product << "/" << f.device << "/"
                     << f.location);
        const auto got = engine.filtered_view(f, span);
        REQUIRE(got.has_value());
        REQUIRE(got->complete);  // the default buffer holds the whole stream
        require_view_matches(got->view, oracle, engine.watermark_ms(), span, f, config.top_n);
        matched += got->view.current.total_events();
      }
    }
  }
  REQUIRE(matched > 0);  // not vacuous

  SECTION("an empty filter gives the live snapshot") {
    const auto snap = engine.snapshot();
    for (WindowSpan span : kSpans) {
      const auto got = engine.filtered_view({}, span);
      const WindowView& live = snap->window(span);
      REQUIRE(got->view.start_ms == live.start_ms);
      require_same_kpis(got->view.current, live.current);
      require_same_kpis(got->view.previous, live.previous);
      REQUIRE(got->view.top_products == live.top_products);
      REQUIRE(got->view.devices == live.devices);
    }
  }

  SECTION("a filter nobody matches gives all zeros") {
    const auto got = engine.filtered_view({99, kNoId, kNoId, kNoId}, WindowSpan::h24);
    REQUIRE(got->view.current.total_events() == 0);
    REQUIRE(got->view.current.active_users == 0);
    REQUIRE(got->view.previous.total_events() == 0);
    REQUIRE(got->view.top_products.empty());
    REQUIRE(got->view.devices.empty());
    REQUIRE(got->view.end_ms > 0);
  }

  SECTION("filtered minutes are the engine's rollups of the matching events") {
    const std::int64_t coarse_end = test::floor_div(oracle.watermark(), 60'000);
    const std::int64_t from = coarse_end - 2 * 1440;
    const std::int64_t to = test::floor_div(oracle.watermark() + lateness, 60'000) + 2;
    for (const EventFilter& f : kFilters) {
      const auto got = engine.filtered_minutes(f, from, to);
      REQUIRE(got.has_value());
      REQUIRE(got->complete);
      std::size_t k = 0;
      for (std::int64_t m = from; m < to; ++m) {
        const auto want = oracle.rollup(m, f);
        if (!want) continue;
        REQUIRE(k < got->minutes.size());
        require_same_rollup(got->minutes[k++], *want);
      }
      REQUIRE(k == got->minutes.size());
      // The lean form (what trends use) agrees on everything it fills.
      const auto lean = engine.filtered_minutes(f, from, to, false);
      REQUIRE(lean->minutes.size() == got->minutes.size());
      for (std::size_t i = 0; i < lean->minutes.size(); ++i) {
        REQUIRE(lean->minutes[i].minute == got->minutes[i].minute);
        REQUIRE(lean->minutes[i].events == got->minutes[i].events);
        REQUIRE(lean->minutes[i].revenue_minor == got->minutes[i].revenue_minor);
        REQUIRE(lean->minutes[i].users == got->minutes[i].users);
        REQUIRE(lean->minutes[i].products.empty());
      }
    }
    // With no filter the rollups are exactly the engine's own held minutes.
    const auto all = engine.filtered_minutes({}, from, to);
    for (const auto& r : all->minutes) {
      if (const auto held = engine.minute_rollup(r.minute)) REQUIRE(encode_rollup(r) == encode_rollup(*held));
    }
  }
}

namespace {

// A filter buffer of 500 events, far smaller than the windows, and 5 s of
// allowed lateness; a random stream of 20 users to fill it.
WindowConfig small_buffer_config() {
  WindowConfig config;
  config.allowed_lateness_ms = 5000;
  config.filter_buffer_events = 500;
  return config;
}
std::vector<Event> small_buffer_stream(std::uint64_t seed, bool day_jumps) {
  StreamShape shape;
  shape.seed = seed;
  shape.users = 20;
  shape.day_jumps = day_jumps;
  return test::random_stream(shape);
}

}  // namespace

TEST_CASE("the filter buffer's memory figure counts the events it holds, not the room reserved for its bound",
          "[windows][filtered]") {
  // The buffer reserves room for its bound at the first event; pages become
  // resident as events fill it, and the figure follows them.
  WindowConfig config = small_buffer_config();
  const auto events = small_buffer_stream(37, /*day_jumps=*/true);
  Oracle all(config);
  for (const Event& e : events) all.apply(e);
  std::vector<std::size_t> kept_at;  // events kept (not too late) after each event
  std::size_t kept = 0;
  for (std::size_t i = 0; i < events.size(); ++i) kept_at.push_back(kept += all.dropped(i) ? 0 : 1);
  REQUIRE(kept > 1000);

  WindowEngine engine(config);
  CHECK(engine.memory().filter_buffer == 0);
  std::size_t per_event = 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    engine.apply(std::span<const Event>(&events[i], 1));
    const std::size_t bytes = engine.memory().filter_buffer;
    const std::size_t held = std::min<std::size_t>(kept_at[i], 500);
    INFO("after event " << i << ", " << held << " held");
    if (held == 0) {
      REQUIRE(bytes == 0);
      continue;
    }
    if (per_event == 0) per_event = bytes / held;
    REQUIRE(per_event >= 16);  // at least a time, a user and a product
    REQUIRE(per_event <= sizeof(Event));
    REQUIRE(bytes == held * per_event);
  }
  CHECK(engine.memory().filter_buffer == 500 * per_event);  // at its bound it stays there

  config.filter_buffer_events = 0;
  WindowEngine off(config);
  off.apply(events);
  CHECK(off.memory().filter_buffer == 0);
}

TEST_CASE("a buffer smaller than the window reports incomplete coverage and counts what it holds",
          "[windows][filtered]") {
  const WindowConfig config = small_buffer_config();
  // No day jumps: a day's worth of evicted events stays behind the watermark.
  const auto events = small_buffer_stream(31, /*day_jumps=*/false);

  WindowEngine engine(config);
  Oracle all(config);
  for (const Event& e : events) all.apply(e);
  engine.apply(events);

  // What the buffer should hold: the newest 500 events not dropped as too late.
  std::vector<std::size_t> kept;
  for (std::size_t i = 0; i < events.size(); ++i)
    if (!all.dropped(i)) kept.push_back(i);
  REQUIRE(kept.size() > 500);
  const std::size_t first_kept = kept.size() - 500;
  std::int64_t covered_from = INT64_MIN;
  for (std::size_t k = 0; k < first_kept; ++k) covered_from = std::max(covered_from, events[kept[k]].time_ms + 1);
  Oracle buffered(config);
  for (std::size_t k = first_kept; k < kept.size(); ++k) buffered.apply(events[kept[k]]);

  bool saw_complete = false, saw_incomplete = false;
  for (WindowSpan span : kSpans) {
    for (const EventFilter& f : kFilters) {
      INFO("span " << to_string(span));
      const auto got = engine.filtered_view(f, span);
      REQUIRE(got->covered_from_ms == covered_from);
      REQUIRE(got->complete == (covered_from <= got->view.start_ms - span_ms(span)));
      (got->complete ? saw_complete : saw_incomplete) = true;
      require_view_matches(got->view, buffered, engine.watermark_ms(), span, f, config.top_n);
      // Complete means the buffer answer is the whole-stream answer.
      if (got->complete) require_view_matches(got->view, all, engine.watermark_ms(), span, f, config.top_n);
    }
  }
  REQUIRE(saw_complete);
  REQUIRE(saw_incomplete);
  REQUIRE_FALSE(engine.filtered_view({}, WindowSpan::h24)->complete);

  const std::int64_t to = test::floor_div(engine.watermark_ms(), 60'000) + 1;
  REQUIRE_FALSE(engine.filtered_minutes({}, to - 1440, to)->complete);
  REQUIRE(engine.filtered_minutes({}, to - 1, to)->complete);

  SECTION("a disabled buffer refuses filtered queries") {
    WindowConfig off = config;
    off.filter_buffer_events = 0;
    WindowEngine none(off);
    none.apply(events);
    REQUIRE_FALSE(none.filtered_view({}, WindowSpan::m5).has_value());
    REQUIRE_FALSE(none.filtered_minutes({}, 0, 10).has_value());
  }
}

TEST_CASE("filtered results survive checkpoint and restore", "[windows][filtered]") {
  const auto [seed, lateness] = GENERATE(table<std::uint64_t, std::int64_t>({{41, 5000}, {42, 70'000}}));
  INFO("seed " << seed);
  WindowConfig config;
  config.allowed_lateness_ms = lateness;
  config.filter_buffer_events = 1200;
  StreamShape shape;
  shape.seed = seed;
  shape.lateness_ms = lateness;
  shape.users = 20;
  const auto events = test::random_stream(shape);
  const std::size_t half = events.size() / 2;

  WindowEngine original(config);
  original.apply(std::span(events).first(half));
  const std::string bytes = original.checkpoint();
  auto restored = WindowEngine::restore(config, bytes);
  REQUIRE(restored.ok());
  REQUIRE(restored->checkpoint() == bytes);
  const auto range = [&](const WindowEngine& e) {
    const std::int64_t to = test::floor_div(e.watermark_ms(), 60'000) + 2;
    return std::pair{to - 1500, to};
  };
  auto [from, to] = range(original);
  require_same_filtered(*restored, original, from, to);

  for (std::size_t i = half; i < events.size(); i += 211) {
    const auto batch = std::span(events).subspan(i, std::min<std::size_t>(211, events.size() - i));
    original.apply(batch);
    restored->apply(batch);
  }
  std::tie(from, to) = range(original);
  require_same_filtered(*restored, original, from, to);
  REQUIRE(restored->checkpoint() == original.checkpoint());

  SECTION("restoring into a smaller buffer keeps the newest events, as if it had always been smaller") {
    WindowConfig small = config;
    small.filter_buffer_events = 300;
    auto shrunk = WindowEngine::restore(small, original.checkpoint());
    REQUIRE(shrunk.ok());
    WindowEngine fresh(small);
    fresh.apply(events);
    require_same_filtered(*shrunk, fresh, from, to);
    REQUIRE(shrunk->checkpoint() == fresh.checkpoint());
  }

  SECTION("a checkpoint from before the buffer existed restores with filtered coverage starting afresh") {
    WindowConfig off = config;
    off.filter_buffer_events = 0;
    WindowEngine plain(off);
    plain.apply(std::span(events).first(half));
    // Written by the engine of format 2 with the buffer off, less the buffer
    // section (format 1 is format 2 without it).
    static const std::string hex41 =
#include "data/checkpoint_v1_seed41.inc"
        ;
    static const std::string hex42 =
#include "data/checkpoint_v1_seed42.inc"
        ;
    std::string v1;
    std::string digits;
    for (char c : seed == 41 ? hex41 : hex42)
      if (std::isxdigit(static_cast<unsigned char>(c))) digits.push_back(c);
    for (std::size_t i = 0; i + 1 < digits.size(); i += 2)
      v1.push_back(static_cast<char>(std::stoi(digits.substr(i, 2), nullptr, 16)));
    REQUIRE(v1[0] == 1);
    auto old = WindowEngine::restore(config, v1);
    REQUIRE(old.ok());
    const auto view = old->filtered_view({}, WindowSpan::m1);
    REQUIRE_FALSE(view->complete);
    REQUIRE(view->view.current.total_events() == 0);
    REQUIRE(old->watermark_ms() == plain.watermark_ms());
    // Events applied after the restore are covered again.
    old->apply(std::span(events).subspan(half));
    REQUIRE(old->filtered_view({}, WindowSpan::m1)->view.current.total_events() ==
            original.filtered_view({}, WindowSpan::m1)->view.current.total_events());
  }
}
