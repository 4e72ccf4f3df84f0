#include <catch2/catch.hpp>

#include <cmath>
#include <map>

#include "oracle.hpp"
#include "shoppulse/windows/window_engine.hpp"

using namespace shoppulse;
namespace Catch {
template <>
struct StringMaker<shoppulse::RankedId> {
  static std::string convert(const shoppulse::RankedId& r) { return std::to_string(r.id) + ":" + std::to_string(r.count); }
};
}  // namespace Catch
using shoppulse::test::Oracle;
using shoppulse::test::StreamShape;

namespace {

constexpr WindowSpan kSpans[] = {WindowSpan::m1, WindowSpan::m5, WindowSpan::m15, WindowSpan::h1, WindowSpan::h24};

void require_same_kpis(const Kpis& got, const Kpis& want) {
  REQUIRE(got.events == want.events);
  REQUIRE(got.revenue_minor == want.revenue_minor);
  REQUIRE(got.active_users == want.active_users);
  REQUIRE(got.funnel == want.funnel);
}

// The previous 1h and 24h windows estimate their users (HyperLogLog, 1.6 %
// standard error): within 5 % or 2 of the exact count; the rest is exact.
void require_same_previous(const WindowView& view, const Kpis& want) {
  const Kpis& got = view.previous;
  if (!got.users_estimated) return require_same_kpis(got, want);
  REQUIRE((view.span == WindowSpan::h1 || view.span == WindowSpan::h24));
  REQUIRE(got.events == want.events);
  REQUIRE(got.revenue_minor == want.revenue_minor);
  const auto close = [](std::uint64_t a, std::uint64_t b) {
    return std::abs(static_cast<double>(a) - static_cast<double>(b)) <= std::max(2.0, 0.05 * static_cast<double>(b));
  };
  INFO("estimated users " << got.active_users << ", exact " << want.active_users);
  REQUIRE(close(got.active_users, want.active_users));
  for (std::size_t k = 0; k < kFunnelSteps; ++k) REQUIRE(close(got.funnel[k], want.funnel[k]));
}

void require_matches_oracle(const WindowSnapshot& snap, const Oracle& oracle, const WindowConfig& config) {
  REQUIRE(snap.watermark_ms == oracle.watermark());
  REQUIRE(snap.events_applied == oracle.events().size());
  REQUIRE(snap.events_too_late == oracle.too_late());
  for (WindowSpan span : kSpans) {
    INFO("span " << to_string(span));
    const WindowView& view = snap.window(span);
    const std::int64_t end = oracle.end_ms(span);
    const std::int64_t len = span_ms(span);
    REQUIRE(view.span == span);
    REQUIRE(view.end_ms == end);
    REQUIRE(view.start_ms == end - len);
    require_same_kpis(view.current, oracle.kpis(end - len, end));
    require_same_previous(view, oracle.kpis(end - 2 * len, end - len));
    REQUIRE(view.top_products == oracle.ranked(end - len, end, [](const Event& e) { return e.product; }, config.top_n));
    REQUIRE(view.top_categories ==
            oracle.ranked(end - len, end, [](const Event& e) { return e.category; }, config.top_n));
    REQUIRE(view.devices == oracle.ranked(end - len, end, [](const Event& e) { return e.device; }, 1000));
    REQUIRE(view.locations == oracle.ranked(end - len, end, [](const Event& e) { return e.location; }, 1000));
  }
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

void require_same_snapshot(const WindowSnapshot& a, const WindowSnapshot& b) {
  REQUIRE(a.watermark_ms == b.watermark_ms);
  REQUIRE(a.max_event_time_ms == b.max_event_time_ms);
  REQUIRE(a.applied_through == b.applied_through);
  REQUIRE(a.events_applied == b.events_applied);
  REQUIRE(a.events_too_late == b.events_too_late);
  for (std::size_t i = 0; i < kWindowSpanCount; ++i) {
    const WindowView& x = a.windows[i];
    const WindowView& y = b.windows[i];
    REQUIRE(x.start_ms == y.start_ms);
    REQUIRE(x.end_ms == y.end_ms);
    require_same_kpis(x.current, y.current);
    require_same_kpis(x.previous, y.previous);
    REQUIRE(x.top_products == y.top_products);
    REQUIRE(x.top_categories == y.top_categories);
    REQUIRE(x.devices == y.devices);
    REQUIRE(x.locations == y.locations);
  }
}

// Applies the stream in uneven batches, checking the snapshot and the closed
// minutes against the oracle after each; returns every minute ever taken.
struct Replay {
  WindowEngine engine;
  Oracle oracle;
  std::map<std::int64_t, MinuteRollup> closed;  // latest version of each taken minute
  std::size_t reclosed = 0;                      // minutes taken more than once

  explicit Replay(const WindowConfig& config) : engine(config), oracle(config) {}

  void take() {
    auto minutes = engine.take_closed_minutes();
    for (std::size_t i = 0; i < minutes.size(); ++i) {
      if (i > 0) REQUIRE(minutes[i - 1].minute < minutes[i].minute);
      // Closed means the watermark has passed the minute's end.
      REQUIRE((minutes[i].minute + 1) * 60'000 <= oracle.watermark());
      if (closed.count(minutes[i].minute)) ++reclosed;
      // As the engine runner does with the stored minute.
      if (minutes[i].users_partial) {
        REQUIRE(closed.count(minutes[i].minute) == 1);
        merge_partial_users(minutes[i], closed.at(minutes[i].minute));
      }
      closed[minutes[i].minute] = std::move(minutes[i]);
    }
  }
};

}  // namespace

TEST_CASE("an engine that has seen no events publishes an all-zero snapshot", "[windows]") {
  WindowEngine engine(WindowConfig{});
  const auto snap = engine.snapshot();
  REQUIRE(snap->watermark_ms == 0);
  REQUIRE(snap->events_applied == 0);
  for (WindowSpan span : kSpans) {
    const WindowView& view = snap->window(span);
    REQUIRE(view.span == span);
    REQUIRE(view.current.total_events() == 0);
    REQUIRE(view.previous.active_users == 0);
    REQUIRE(view.top_products.empty());
    REQUIRE(view.devices.empty());
  }
  REQUIRE(engine.take_closed_minutes().empty());
  REQUIRE_FALSE(engine.user_profile(1).has_value());
  REQUIRE_FALSE(engine.minute_rollup(0).has_value());
}

TEST_CASE("window spans print and parse as 1m 5m 15m 1h 24h", "[windows]") {
  for (WindowSpan span : kSpans) {
    WindowSpan parsed = WindowSpan::m1;
    REQUIRE(parse_window_span(to_string(span), parsed));
    REQUIRE(parsed == span);
  }
  WindowSpan out;
  REQUIRE_FALSE(parse_window_span("2m", out));
  REQUIRE_FALSE(parse_window_span("", out));
  REQUIRE(span_ms(WindowSpan::h24) == 86'400'000);
  Kpis k;
  REQUIRE(k.conversion_rate() == 0.0);
  REQUIRE(k.average_order_value_minor() == 0);
  k.funnel = {4, 0, 0, 1};
  k.events[static_cast<std::size_t>(EventType::purchase)] = 2;
  k.revenue_minor = 900;
  REQUIRE(k.conversion_rate() == Approx(0.25));
  REQUIRE(k.average_order_value_minor() == 450);
  REQUIRE(k.total_events() == 2);
}

TEST_CASE("every window matches a brute-force recount of all events on random out-of-order streams",
          "[windows]") {
  const auto [seed, lateness, step] = GENERATE(table<std::uint64_t, std::int64_t, std::int64_t>(
      {{1, 5000, 3000}, {2, 0, 2500}, {3, 90'000, 4000}, {4, 5000, 400}, {5, 30'000, 6000}}));
  INFO("seed " << seed << " lateness " << lateness);
  WindowConfig config;
  config.allowed_lateness_ms = lateness;
  config.top_n = 4;
  StreamShape shape;
  shape.seed = seed;
  shape.lateness_ms = lateness;
  shape.mean_step_ms = step;
  const auto events = test::random_stream(shape);

  Replay replay(config);
  std::mt19937 rng(static_cast<unsigned>(seed));
  for (std::size_t i = 0; i < events.size();) {
    const std::size_t n = std::min<std::size_t>(events.size() - i, 1 + rng() % 300);
    replay.engine.apply(std::span(events).subspan(i, n));
    for (std::size_t k = 0; k < n; ++k) replay.oracle.apply(events[i + k]);
    i += n;
    require_matches_oracle(*replay.engine.snapshot(), replay.oracle, config);
    replay.take();
  }
  REQUIRE(replay.engine.applied_through() == events.size());
  REQUIRE(replay.oracle.too_late() > 0);  // the stream exercises dropping
  const auto final_snap = replay.engine.snapshot();
  REQUIRE(final_snap->window(WindowSpan::m15).current.total_events() > 0);  // the comparison is not vacuous
  REQUIRE(final_snap->window(WindowSpan::h24).previous.total_events() > 0);

  SECTION("closed minutes hold exactly their events, re-closed after late changes") {
    const std::int64_t coarse_end = test::floor_div(replay.oracle.watermark(), 60'000);
    std::set<std::int64_t> minutes;
    for (std::size_t i = 0; i < events.size(); ++i)
      if (!replay.oracle.dropped(i)) minutes.insert(test::floor_div(events[i].time_ms, 60'000));
    for (std::int64_t m : minutes) {
      if (m >= coarse_end) {
        REQUIRE(replay.closed.count(m) == 0);
        continue;
      }
      REQUIRE(replay.closed.count(m) == 1);
      require_same_rollup(replay.closed.at(m), *replay.oracle.rollup(m));
    }
    REQUIRE(static_cast<std::ptrdiff_t>(replay.closed.size()) == std::count_if(minutes.begin(), minutes.end(), [&](auto m) { return m < coarse_end; }));
    REQUIRE(replay.reclosed > 0);
  }

  SECTION("minutes still held with their users match the oracle, open or closed") {
    // Closed minutes keep their own users for a few minutes only (then the
    // rollup store has them); the open ones and the newest closed ones answer.
    const std::int64_t end = test::floor_div(replay.oracle.watermark(), 60'000);
    const std::int64_t horizon = end - 2 * 1440;
    const std::int64_t last = test::floor_div(replay.oracle.watermark() + lateness, 60'000) + 1;
    std::size_t answered = 0;
    for (std::int64_t m = horizon; m <= last; ++m) {
      const auto got = replay.engine.minute_rollup(m);
      const auto want = replay.oracle.rollup(m);
      if (m >= end - 3) REQUIRE(got.has_value() == want.has_value());
      if (!want) REQUIRE_FALSE(got.has_value());
      if (got) {
        require_same_rollup(*got, *want);
        ++answered;
      }
    }
    REQUIRE(answered > 0);
  }

  SECTION("user profiles count every event however late") {
    for (Id u = 0; u <= shape.users + 1; ++u) {
      INFO("user " << u);
      test::require_same_profile(replay.engine.user_profile(u), replay.oracle.profile(u));
    }
  }
}

TEST_CASE("windows over millions of sparse ids, with shoppers and products constantly leaving, match the brute-force recount",
          "[windows]") {
  // Thousands of users and products spread over ids up to ~4M (as interned
  // real data is), so the id-indexed rows grow to millions of slots and rows
  // are freed and reused as buckets leave the windows; day jumps evict
  // whole tiers.
  const auto seed = GENERATE(21u, 22u);
  INFO("seed " << seed);
  WindowConfig config;
  config.top_n = 5;
  StreamShape shape;
  shape.seed = seed;
  shape.events = 4000;
  shape.users = 2000;
  shape.products = 3000;
  shape.mean_step_ms = 400;
  auto events = test::random_stream(shape);
  constexpr std::uint64_t kSpread = 3'999'971;  // ids -> (id * 1951) mod kSpread: one-to-one for ids below it
  const auto spread = [](Id id) { return id == kNoId ? kNoId : static_cast<Id>(std::uint64_t{id} * 1951 % kSpread); };
  std::set<Id> users;
  Id largest = 0;
  for (Event& e : events) {
    e.user = spread(e.user);
    e.product = spread(e.product);
    users.insert(e.user);
    largest = std::max({largest, e.user, e.product});
  }
  REQUIRE(largest > 3'000'000);

  Replay replay(config);
  std::mt19937 rng(seed);
  for (std::size_t i = 0; i < events.size();) {
    const std::size_t n = std::min<std::size_t>(events.size() - i, 1 + rng() % 400);
    replay.engine.apply(std::span(events).subspan(i, n));
    for (std::size_t k = 0; k < n; ++k) replay.oracle.apply(events[i + k]);
    i += n;
    require_matches_oracle(*replay.engine.snapshot(), replay.oracle, config);
    replay.take();
  }
  const auto final_snap = replay.engine.snapshot();
  REQUIRE(final_snap->window(WindowSpan::m15).current.active_users > 100);  // many users at once
  REQUIRE(replay.oracle.too_late() > 0);
  for (Id u : users) test::require_same_profile(replay.engine.user_profile(u), replay.oracle.profile(u));

  // A checkpoint taken now restores the same windows, rows rebuilt from the buckets.
  auto restored = WindowEngine::restore(config, replay.engine.checkpoint());
  REQUIRE(restored.ok());
  require_same_snapshot(*restored->snapshot(), *final_snap);
}

TEST_CASE("busy seconds, whose users are packed once closed, match the brute-force recount, late events and all",
          "[windows]") {
  // About 125 events a second of event time from 2000 users: every closed
  // second holds more than enough users to be packed (Bucket::worth_packing),
  // a quarter of the events land up to 10 minutes late in seconds already
  // packed (which unpacks them), and 16 minutes of event time take seconds
  // out of every current window (which packs them again).
  const auto seed = GENERATE(31u, 32u);
  INFO("seed " << seed);
  WindowConfig config;
  config.top_n = 5;
  StreamShape shape;
  shape.seed = seed;
  shape.events = 120'000;
  shape.users = 2000;
  shape.products = 500;
  shape.mean_step_ms = 8;
  shape.day_jumps = false;
  const auto events = test::random_stream(shape);
  Replay replay(config);
  std::mt19937 rng(seed);
  std::size_t checks = 0, most_packed = 0;
  for (std::size_t i = 0; i < events.size();) {
    const std::size_t n = std::min<std::size_t>(events.size() - i, 1 + rng() % 600);
    replay.engine.apply(std::span(events).subspan(i, n));
    for (std::size_t k = 0; k < n; ++k) replay.oracle.apply(events[i + k]);
    i += n;
    if (++checks % 8 == 0 || i == events.size()) require_matches_oracle(*replay.engine.snapshot(), replay.oracle, config);
    most_packed = std::max(most_packed, replay.engine.memory().packed_seconds);
  }
  REQUIRE(most_packed > 30);  // half a minute of seconds and more were packed at once
  const auto final_snap = replay.engine.snapshot();
  REQUIRE(final_snap->window(WindowSpan::m1).current.active_users > 64 * 60 / 4);  // busy seconds, not a handful
  REQUIRE(final_snap->window(WindowSpan::m5).previous.total_events() > 0);
  auto restored = WindowEngine::restore(config, replay.engine.checkpoint());
  REQUIRE(restored.ok());
  require_same_snapshot(*restored->snapshot(), *final_snap);
  REQUIRE(restored->memory().packed_seconds >= replay.engine.memory().packed_seconds);
}

TEST_CASE("the engine reports its memory by part, growing with what it holds", "[windows]") {
  WindowConfig config;
  config.filter_buffer_events = 1000;
  WindowEngine engine(config);
  const WindowMemory empty = engine.memory();
  CHECK(empty.user_profiles == 0);
  CHECK(empty.filter_buffer == 0);
  StreamShape shape;
  shape.users = 500;
  shape.events = 5000;
  const auto events = test::random_stream(shape);
  engine.apply(events);
  const WindowMemory full = engine.memory();
  CHECK(full.windows > empty.windows);
  CHECK(full.user_profiles > 0);
  CHECK(full.filter_buffer == 1000 * sizeof(BufferedEvent));  // the buffer stops at its bound
  auto restored = WindowEngine::restore(config, engine.checkpoint());
  REQUIRE(restored.ok());
  const WindowMemory again = restored->memory();
  CHECK(again.filter_buffer == full.filter_buffer);
  // Profiles restored with exactly the capacity they need hold no more than the originals.
  CHECK(again.user_profiles > 0);
  CHECK(again.user_profiles <= full.user_profiles);
}

TEST_CASE("a late event for a closed minute hands the minute out again", "[windows]") {
  WindowConfig config;
  config.allowed_lateness_ms = 1000;
  WindowEngine engine(config);
  const std::int64_t base = 600 * 60'000;  // minute 600
  std::vector<Event> first{{base + 10, 1, 0, 1, 5, 2}, {base + 125'000, 2, 0, 2, 5, 2}};
  engine.apply(first);
  auto taken = engine.take_closed_minutes();
  REQUIRE(taken.size() == 1);
  REQUIRE(taken[0].minute == 600);
  REQUIRE(taken[0].users.size() == 1);
  REQUIRE(engine.take_closed_minutes().empty());

  Event late{base + 59'000, 3, 250, 3, 5, 2};
  late.type = EventType::purchase;
  engine.apply(std::span(&late, 1));
  taken = engine.take_closed_minutes();
  REQUIRE(taken.size() == 1);
  REQUIRE(taken[0].minute == 600);
  REQUIRE(taken[0].users.size() == 2);
  REQUIRE(taken[0].revenue_minor == 250);
  REQUIRE(engine.minute_rollup(602).has_value());  // open minute, still readable
  REQUIRE_FALSE(engine.minute_rollup(601).has_value());
}

TEST_CASE("a restored checkpoint behaves exactly like the engine it was taken from", "[windows]") {
  const auto [seed, lateness] = GENERATE(table<std::uint64_t, std::int64_t>({{11, 5000}, {12, 70'000}, {13, 0}}));
  INFO("seed " << seed);
  WindowConfig config;
  config.allowed_lateness_ms = lateness;
  config.recent_events_per_user = 6;
  config.top_categories_per_user = 2;
  StreamShape shape;
  shape.seed = seed;
  shape.lateness_ms = lateness;
  const auto events = test::random_stream(shape);
  const std::size_t half = events.size() / 2;

  WindowEngine original(config);
  original.apply(std::span(events).first(half / 2));
  (void)original.take_closed_minutes();  // some minutes handed out, others still pending
  original.apply(std::span(events).subspan(half / 2, half - half / 2));

  const std::string bytes = original.checkpoint();
  // The size a checkpoint is told to expect (the runner passes the last one
  // a forked child encoded) changes only its buffer: too small, exact or too
  // large, the same bytes.
  for (const std::size_t expected : {std::size_t{0}, std::size_t{1}, bytes.size() / 2, bytes.size(), bytes.size() * 3}) {
    const std::string again = original.checkpoint(expected);
    REQUIRE(again == bytes);
    CHECK(again.capacity() >= expected);  // the room was made at once, and kept
  }
  auto restored = WindowEngine::restore(config, bytes);
  REQUIRE(restored.ok());
  REQUIRE(restored->checkpoint() == bytes);
  require_same_snapshot(*restored->snapshot(), *original.snapshot());

  for (std::size_t i = half; i < events.size(); i += 97) {
    const auto batch = std::span(events).subspan(i, std::min<std::size_t>(97, events.size() - i));
    original.apply(batch);
    restored->apply(batch);
    require_same_snapshot(*restored->snapshot(), *original.snapshot());
    const auto a = original.take_closed_minutes();
    const auto b = restored->take_closed_minutes();
    REQUIRE(a.size() == b.size());
    for (std::size_t k = 0; k < a.size(); ++k) REQUIRE(encode_rollup(a[k]) == encode_rollup(b[k]));
  }
  for (Id u = 1; u <= shape.users; ++u) test::require_same_profile(restored->user_profile(u), original.user_profile(u));
  REQUIRE(restored->checkpoint() == original.checkpoint());

  SECTION("an empty engine round-trips too") {
    WindowEngine empty(config);
    auto again = WindowEngine::restore(config, empty.checkpoint());
    REQUIRE(again.ok());
    require_same_snapshot(*again->snapshot(), *empty.snapshot());
  }
  SECTION("damaged checkpoints are refused, never crash") {
    for (std::size_t cut = 0; cut < bytes.size(); cut += 1 + bytes.size() / 300) {
      auto r = WindowEngine::restore(config, std::string_view(bytes).substr(0, cut));
      REQUIRE_FALSE(r.ok());
      REQUIRE(r.error().code == Errc::corrupt);
    }
    std::mt19937 rng(3);
    for (int i = 0; i < 200; ++i) {
      std::string damaged = bytes;
      damaged[rng() % damaged.size()] ^= static_cast<char>(1 + rng() % 255);
      (void)WindowEngine::restore(config, damaged);  // ok or an error; must not crash
    }
    WindowConfig other = config;
    other.allowed_lateness_ms = lateness + 1;
    auto mismatch = WindowEngine::restore(other, bytes);
    REQUIRE_FALSE(mismatch.ok());
    REQUIRE(mismatch.error().code == Errc::invalid_argument);
  }
}

namespace {

// The rollup store as the engine runner keeps it: each closed minute encoded
// under its number, users_partial rollups joined with the stored copy, every
// write stamped with the sequence applied. read() is the engine's
// WindowConfig::stored_minute.
struct MinuteStore {
  std::map<std::int64_t, std::string> bytes;
  std::size_t reads = 0;

  Result<std::optional<MinuteRollup>> read(std::int64_t minute) {
    ++reads;
    const auto it = bytes.find(minute);
    if (it == bytes.end()) return std::optional<MinuteRollup>{};
    auto decoded = decode_rollup(minute, it->second);
    if (!decoded) return decoded.error();
    return std::optional<MinuteRollup>(std::move(decoded).value());
  }
  void flush(WindowEngine& engine) {
    auto closed = engine.take_closed_minutes();
    for (MinuteRollup& r : closed) {
      r.through = engine.applied_through();
      if (r.users_partial) {
        auto stored = read(r.minute);
        REQUIRE(stored.ok());
        REQUIRE(stored->has_value());
        merge_partial_users(r, **stored);
      }
      bytes[r.minute] = encode_rollup(r);
    }
    engine.minutes_stored(closed);
  }
  WindowConfig attach(WindowConfig config) {
    config.stored_minute = [this](std::int64_t minute) { return read(minute); };
    return config;
  }
};

StreamShape long_stream(std::uint64_t seed, bool day_jumps = true) {
  // Two days and more of event time at a minute a step, with late events up
  // to 55 h back: minutes settle, spill, leave both windows, and take late
  // events long after they spilled.
  StreamShape shape;
  shape.seed = seed;
  shape.events = 6000;
  shape.users = 60;
  shape.products = 300;
  shape.lateness_ms = 5000;
  shape.mean_step_ms = 30'000;
  shape.day_jumps = day_jumps;
  return shape;
}

}  // namespace

TEST_CASE("with a rollup store, settled minutes keep their details only there and every window still matches the recount",
          "[windows][spill]") {
  const std::uint64_t seed = GENERATE(21, 22);
  INFO("seed " << seed);
  const StreamShape shape = long_stream(seed);
  const auto events = test::random_stream(shape);
  WindowConfig plain;
  plain.top_n = 1000;  // every product: a spilled minute read back wrong shows in the ranking
  MinuteStore store;
  const WindowConfig config = store.attach(plain);

  WindowEngine spilling(config);
  WindowEngine frozen(plain);  // the same engine keeping its minutes in memory
  Oracle oracle(config);
  std::size_t most_spilled = 0;
  std::mt19937 rng(static_cast<unsigned>(seed));
  for (std::size_t i = 0; i < events.size();) {
    const std::size_t n = std::min<std::size_t>(events.size() - i, 1 + rng() % 200);
    spilling.apply(std::span(events).subspan(i, n));
    frozen.apply(std::span(events).subspan(i, n));
    for (std::size_t k = 0; k < n; ++k) oracle.apply(events[i + k]);
    i += n;
    require_matches_oracle(*spilling.snapshot(), oracle, config);
    require_same_snapshot(*spilling.snapshot(), *frozen.snapshot());
    store.flush(spilling);
    (void)frozen.take_closed_minutes();
    most_spilled = std::max(most_spilled, spilling.memory().spilled_minutes);
  }
  // Not vacuous: minutes spilled, were read back, and took late events.
  INFO("spilled " << most_spilled << ", store reads " << store.reads);
  REQUIRE(most_spilled > 100);
  REQUIRE(store.reads > most_spilled);
  REQUIRE(frozen.memory().spilled_minutes == 0);
  REQUIRE(spilling.memory().windows < frozen.memory().windows);

  // The store holds every closed minute exactly (the oracle's rollup).
  const std::int64_t end = test::floor_div(oracle.watermark(), 60'000);
  std::size_t checked = 0;
  for (const auto& [minute, bytes] : store.bytes) {
    if (minute < end - 2 * 1440) continue;  // past the horizon late events skip it
    auto r = decode_rollup(minute, bytes);
    REQUIRE(r.ok());
    require_same_rollup(*r, *oracle.rollup(minute));
    ++checked;
  }
  REQUIRE(checked > 200);
}

TEST_CASE("an engine restored after a crash agrees with its rollup store, however far the store got past the checkpoint",
          "[windows][spill]") {
  const std::uint64_t seed = GENERATE(31, 32, 33);
  INFO("seed " << seed);
  // Without day jumps, so that the minutes late events rewrote after the
  // checkpoint are still inside the windows when the replay passes the crash.
  const auto events = test::random_stream(long_stream(seed, false));
  WindowConfig plain;
  plain.top_n = 1000;
  MinuteStore store;
  const WindowConfig config = store.attach(plain);

  // The first run checkpoints at `at`, goes on to `crash` (writing minutes,
  // late ones included, past the checkpoint) and dies there.
  const std::size_t at = events.size() / 2, crash = at + 400;
  std::string checkpoint;
  {
    WindowEngine first(config);
    for (std::size_t i = 0; i < crash; i += 50) {
      first.apply(std::span(events).subspan(i, std::min<std::size_t>(50, crash - i)));
      store.flush(first);
      if (i + 50 == at) checkpoint = first.checkpoint();
    }
    REQUIRE(first.memory().spilled_minutes > 100);
  }
  REQUIRE_FALSE(checkpoint.empty());
  // Late events rewrote minutes after the checkpoint: the replay meets
  // events its store copies already count.
  REQUIRE(std::count_if(store.bytes.begin(), store.bytes.end(), [&](const auto& kv) {
            return decode_rollup(kv.first, kv.second)->through > at;
          }) > 10);

  SECTION("the replay from the checkpoint counts each event once") {
    auto restored = WindowEngine::restore(config, checkpoint);
    REQUIRE(restored.ok());
    Oracle oracle(config);
    for (std::size_t i = 0; i < at; ++i) oracle.apply(events[i]);
    for (std::size_t i = at; i < events.size(); i += 50) {
      const std::size_t n = std::min<std::size_t>(50, events.size() - i);
      restored->apply(std::span(events).subspan(i, n));
      for (std::size_t k = 0; k < n; ++k) oracle.apply(events[i + k]);
      // Until the replay passes the crash, the minutes read back from the
      // store may already count events it has not reached; from there on
      // the state is exact.
      if (i + n >= crash) require_matches_oracle(*restored->snapshot(), oracle, config);
      store.flush(*restored);
    }
    const std::int64_t end = test::floor_div(oracle.watermark(), 60'000);
    for (const auto& [minute, bytes] : store.bytes) {
      if (minute < end - 2 * 1440) continue;
      auto r = decode_rollup(minute, bytes);
      REQUIRE(r.ok());
      require_same_rollup(*r, *oracle.rollup(minute));
    }
    // And its own checkpoint restores to the same state.
    auto again = WindowEngine::restore(config, restored->checkpoint());
    REQUIRE(again.ok());
    require_same_snapshot(*again->snapshot(), *restored->snapshot());
  }

  SECTION("a checkpoint whose spilled minutes the store lost or rolled back is refused") {
    auto probe = WindowEngine::restore(config, checkpoint);
    REQUIRE(probe.ok());
    const std::int64_t end = test::floor_div(probe->watermark_ms(), 60'000);
    // The newest minute of the 24 h window that the store holds and whose
    // details the restore reads back.
    std::int64_t victim = INT64_MIN;
    for (auto it = store.bytes.rbegin(); it != store.bytes.rend(); ++it)
      if (it->first < end - 10 && it->first >= end - 1440) {
        victim = it->first;
        break;
      }
    REQUIRE(victim != INT64_MIN);
    const std::string kept = store.bytes.at(victim);
    store.bytes.erase(victim);
    auto lost = WindowEngine::restore(config, checkpoint);
    REQUIRE_FALSE(lost.ok());
    REQUIRE(lost.error().code == Errc::corrupt);
    REQUIRE_THAT(lost.error().detail, Catch::Contains("minute " + std::to_string(victim)));

    auto older = decode_rollup(victim, kept);
    REQUIRE(older.ok());
    older->through = 1;  // a copy from before the one the checkpoint knows
    store.bytes[victim] = encode_rollup(*older);
    auto behind = WindowEngine::restore(config, checkpoint);
    REQUIRE_FALSE(behind.ok());
    REQUIRE_THAT(behind.error().detail, Catch::Contains("covers sequence 1"));

    auto without_store = WindowEngine::restore(plain, checkpoint);
    REQUIRE_FALSE(without_store.ok());  // spilled minutes need their store
    store.bytes[victim] = kept;
    REQUIRE(WindowEngine::restore(config, checkpoint).ok());
  }
}
