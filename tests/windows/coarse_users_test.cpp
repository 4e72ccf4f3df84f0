// The coarse tier's users (1h and 24h windows): exact current windows from
// per-user last-seen minutes, estimated previous windows from per-minute
// sketches, memory that follows the users rather than minutes x users, and
// checkpoints of the format before; and what a bucket keeps of its products
// once its part in the current windows is over.
#include <catch2/catch.hpp>

#include <zlib.h>

#include <array>
#include <cmath>
#include <map>
#include <random>
#include <string>

#include "oracle.hpp"
#include "shoppulse/core/byte_codec.hpp"
#include "tier.hpp"
#include "user_sketch.hpp"
#include "shoppulse/windows/window_engine.hpp"

using namespace shoppulse;
using shoppulse::test::Oracle;
using shoppulse::test::StreamShape;

namespace {

constexpr WindowSpan kSpans[] = {WindowSpan::m1, WindowSpan::m5, WindowSpan::m15, WindowSpan::h1, WindowSpan::h24};

std::string from_hex(std::string_view hex) {
  std::string bytes;
  std::string digits;
  for (char c : hex)
    if (std::isxdigit(static_cast<unsigned char>(c))) digits.push_back(c);
  for (std::size_t i = 0; i + 1 < digits.size(); i += 2)
    bytes.push_back(static_cast<char>(std::stoi(digits.substr(i, 2), nullptr, 16)));
  return bytes;
}

std::string gunzip(const std::string& gz) {
  z_stream z{};
  REQUIRE(inflateInit2(&z, 16 + MAX_WBITS) == Z_OK);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  std::string out;
  char buf[1 << 16];
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
  }
  inflateEnd(&z);
  REQUIRE(rc == Z_STREAM_END);
  return out;
}

// The stream the checkpoint fixtures were taken from.
std::vector<Event> fixture_stream() {
  StreamShape shape;
  shape.seed = 77;
  shape.events = 900;
  shape.users = 40;
  shape.products = 15;
  shape.mean_step_ms = 90'000;
  shape.day_jumps = false;
  return test::random_stream(shape);
}

bool coarse(WindowSpan s) { return s == WindowSpan::h1 || s == WindowSpan::h24; }

// An estimate within 5 % of the truth, or within 2 for small counts.
void require_close(std::uint64_t got, std::uint64_t want) {
  const double allowed = std::max(2.0, 0.05 * static_cast<double>(want));
  INFO("estimate " << got << " exact " << want);
  REQUIRE(std::abs(static_cast<double>(got) - static_cast<double>(want)) <= allowed);
}

// The estimates (any event, then each funnel step) that one sketch of all
// the users of [lo, hi) gives. A union of minute sketches holds exactly the
// registers of that sketch, however the minutes were grouped and merged, so
// the engine's previous windows must give these figures to the unit.
std::array<std::uint64_t, 1 + kFunnelSteps> sketched_users(const Oracle& oracle, std::int64_t lo, std::int64_t hi) {
  const EventType funnel_types[] = {EventType::view, EventType::click, EventType::add_to_cart, EventType::purchase};
  windows::UserSketch<1 + kFunnelSteps> sketch;
  for (const Event& e : oracle.events()) {
    if (e.time_ms < lo || e.time_ms >= hi) continue;
    const std::uint64_t h = windows::sketch_hash(e.user);
    sketch.add(0, h);
    for (std::size_t k = 0; k < kFunnelSteps; ++k)
      if (e.type == funnel_types[k]) sketch.add(1 + k, h);
  }
  std::array<std::uint64_t, 1 + kFunnelSteps> out{};
  for (std::size_t c = 0; c < out.size(); ++c) out[c] = sketch.estimate(c);
  return out;
}

// Current windows exact; previous windows exact in events and revenue, their
// users exact for the fine spans and, for 1h/24h, the sketch of their users'
// estimate, within the estimate's bound of the truth.
// within_bound: also hold the estimates to 5 % of the truth (a statistical
// bound, which a stream of a few hundred recurring users can miss by a
// register collision or two; the sketch comparison is exact either way).
void require_matches(const WindowSnapshot& snap, const Oracle& oracle, bool within_bound = true) {
  for (WindowSpan span : kSpans) {
    INFO("span " << to_string(span));
    const WindowView& view = snap.window(span);
    const std::int64_t end = oracle.end_ms(span);
    const std::int64_t len = span_ms(span);
    REQUIRE(view.end_ms == end);
    const Kpis current = oracle.kpis(end - len, end);
    REQUIRE(view.current.events == current.events);
    REQUIRE(view.current.revenue_minor == current.revenue_minor);
    REQUIRE(view.current.active_users == current.active_users);
    REQUIRE(view.current.funnel == current.funnel);
    REQUIRE_FALSE(view.current.users_estimated);
    // What a minute brings into and takes out of a window, whether it still
    // has its maps or is frozen (Bucket::freeze) by then.
    REQUIRE(view.top_products == oracle.ranked(end - len, end, [](const Event& e) { return e.product; }, 10));
    REQUIRE(view.top_categories == oracle.ranked(end - len, end, [](const Event& e) { return e.category; }, 10));
    REQUIRE(view.devices == oracle.ranked(end - len, end, [](const Event& e) { return e.device; }, 1000));
    REQUIRE(view.locations == oracle.ranked(end - len, end, [](const Event& e) { return e.location; }, 1000));
    const Kpis previous = oracle.kpis(end - 2 * len, end - len);
    REQUIRE(view.previous.events == previous.events);
    REQUIRE(view.previous.revenue_minor == previous.revenue_minor);
    REQUIRE(view.previous.users_estimated == coarse(span));
    if (coarse(span)) {
      const auto sketched = sketched_users(oracle, end - 2 * len, end - len);
      REQUIRE(view.previous.active_users == sketched[0]);
      for (std::size_t k = 0; k < kFunnelSteps; ++k) REQUIRE(view.previous.funnel[k] == sketched[1 + k]);
      if (within_bound) {
        require_close(view.previous.active_users, previous.active_users);
        for (std::size_t k = 0; k < kFunnelSteps; ++k) require_close(view.previous.funnel[k], previous.funnel[k]);
      }
    } else {
      REQUIRE(view.previous.active_users == previous.active_users);
      REQUIRE(view.previous.funnel == previous.funnel);
    }
  }
}

std::vector<Event> stream(std::uint64_t seed, std::size_t events, std::uint32_t users, std::int64_t step_ms) {
  StreamShape shape;
  shape.seed = seed;
  shape.events = events;
  shape.users = users;
  shape.products = 40;
  shape.mean_step_ms = step_ms;
  shape.day_jumps = false;
  return test::random_stream(shape);
}

// Events from a fixed pool of users, `per_minute` a minute (each user of the
// pool in turn), for `minutes` minutes from `first_minute`.
void apply_minutes(WindowEngine& engine, std::uint32_t pool, std::uint32_t per_minute, std::int64_t first_minute,
                   std::int64_t minutes, std::uint32_t& next_user, Sequence& seq, std::uint32_t products = 50) {
  std::vector<Event> batch;
  for (std::int64_t m = first_minute; m < first_minute + minutes; ++m) {
    batch.clear();
    for (std::uint32_t i = 0; i < per_minute; ++i) {
      Event e;
      e.sequence = ++seq;
      e.time_ms = m * 60'000 + static_cast<std::int64_t>(i) * 60'000 / per_minute;
      e.user = 1 + next_user;
      next_user = (next_user + 1) % pool;
      e.type = i % 3 == 0 ? EventType::click : EventType::view;
      e.product = 1 + i % products;
      e.category = test::fixed_category(e.product);
      e.quantity = 1;
      batch.push_back(e);
    }
    engine.apply(batch);
    (void)engine.take_closed_minutes();
  }
}

// Applies `events` to the engine and the oracle in random batches of 1 to
// 60, calling `after()` after each batch (which may replace the engine).
template <class After>
void apply_in_batches(WindowEngine& engine, Oracle& oracle, const std::vector<Event>& events, std::uint64_t seed,
                      After&& after) {
  std::mt19937 rng(static_cast<unsigned>(seed));
  for (std::size_t i = 0; i < events.size();) {
    const std::size_t n = std::min<std::size_t>(events.size() - i, 1 + rng() % 60);
    engine.apply(std::span(events).subspan(i, n));
    for (std::size_t k = 0; k < n; ++k) oracle.apply(events[i + k]);
    i += n;
    after();
  }
}

}  // namespace

TEST_CASE("1h and 24h windows stay exact over several days of minutes, previous ones within the estimate's bound",
          "[windows][coarse]") {
  // ~4 days of event time (a minute and a half between events on average),
  // a few hundred users coming back across days, events late by up to hours.
  const auto [seed, users] = GENERATE(table<std::uint64_t, std::uint32_t>({{31, 300}, {32, 60}}));
  INFO("seed " << seed);
  const auto events = stream(seed, 4000, users, 90'000);
  REQUIRE(events.back().time_ms - events.front().time_ms > 3 * 86'400'000LL);
  WindowConfig config;
  config.allowed_lateness_ms = 5000;
  WindowEngine engine(config);
  Oracle oracle(config);
  std::size_t partial = 0;
  apply_in_batches(engine, oracle, events, seed, [&] {
    require_matches(*engine.snapshot(), oracle);
    for (const auto& r : engine.take_closed_minutes()) partial += r.users_partial;
  });
  REQUIRE(partial > 0);  // late events reached minutes whose users were dropped
  const auto snap = engine.snapshot();
  REQUIRE(snap->window(WindowSpan::h24).previous.active_users > 0);  // not vacuous
  REQUIRE(snap->window(WindowSpan::h1).current.active_users > 0);
}

TEST_CASE("previous 1h and 24h windows keep the sketch of their users across day jumps, times before 1970 and "
          "restores",
          "[windows][coarse]") {
  // The previous windows merge cached unions of 32-minute blocks: jumps of
  // more than a day move the whole ring, negative minutes divide downwards,
  // and a restored engine rebuilds the unions from its minutes' sketches.
  const auto [seed, shift, jumps, restore_every] = GENERATE(table<std::uint64_t, std::int64_t, bool, int>(
      {{61, 0, true, 0}, {62, -1'700'000'000'000LL - 3 * 86'400'000LL, false, 0}, {63, -1'700'000'000'000LL, true, 0},
       {64, 0, false, 37}, {65, -1'700'000'000'000LL - 86'400'000LL, true, 53}}));
  INFO("seed " << seed);
  StreamShape shape;
  shape.seed = seed;
  shape.events = 5000;
  shape.users = 400;
  shape.products = 40;
  shape.mean_step_ms = 60'000;
  shape.day_jumps = jumps;
  auto events = test::random_stream(shape);
  for (Event& e : events) e.time_ms += shift;
  WindowConfig config;
  config.allowed_lateness_ms = 5000;
  WindowEngine engine(config);
  Oracle oracle(config);
  int batches = 0;
  std::size_t with_previous_users = 0;
  apply_in_batches(engine, oracle, events, seed, [&] {
    require_matches(*engine.snapshot(), oracle, /*within_bound=*/false);
    (void)engine.take_closed_minutes();
    if (restore_every != 0 && ++batches % restore_every == 0) {
      auto restored = WindowEngine::restore(config, engine.checkpoint());
      REQUIRE(restored);
      engine = std::move(restored).value();
      require_matches(*engine.snapshot(), oracle, /*within_bound=*/false);
    }
    with_previous_users += engine.snapshot()->window(WindowSpan::h24).previous.active_users > 0;
  });
  REQUIRE(with_previous_users > 10);  // not vacuous
}

TEST_CASE("previous 1h and 24h distinct users of thousands of shoppers are estimated within 5 %",
          "[windows][coarse]") {
  // Tens of thousands of users over two days, so the estimate leaves linear
  // counting; the oracle counts exactly.
  const auto events = stream(41, 120'000, 60'000, 1'500);
  WindowConfig config;
  config.allowed_lateness_ms = 5000;
  WindowEngine engine(config);
  Oracle oracle(config);
  std::size_t checked = 0;
  for (std::size_t i = 0; i < events.size(); i += 20'000) {
    const auto batch = std::span(events).subspan(i, std::min<std::size_t>(20'000, events.size() - i));
    engine.apply(batch);
    for (const Event& e : batch) oracle.apply(e);
    require_matches(*engine.snapshot(), oracle);
    ++checked;
  }
  const auto snap = engine.snapshot();
  const std::int64_t end = oracle.end_ms(WindowSpan::h24);
  const Kpis exact = oracle.kpis(end - 2 * 86'400'000LL, end - 86'400'000LL);
  REQUIRE(exact.active_users > 10'000);  // past linear counting's range
  REQUIRE(snap->window(WindowSpan::h1).previous.active_users > 1'000);
  REQUIRE(checked == 6);
}

TEST_CASE("the windows' memory follows the users, not the minutes times the users of each minute",
          "[windows][coarse]") {
  // A fixed pool of users, all of them active every minute: keeping each
  // minute's own users (as the 24 h window once did) grows memory by the
  // pool's size every minute; last-seen rows do not grow at all, and what
  // does grow (one sketch per minute, until 48 h, at most 20 KiB: sparse
  // cells while few registers are set) is nearly the same for 1,000 users a
  // minute as for 12,000.
  const auto growth = [](std::uint32_t per_minute) {
    WindowConfig config;
    config.filter_buffer_events = 0;
    WindowEngine engine(config);
    std::uint32_t next = 0;
    Sequence seq = 0;
    const std::int64_t start = 28'000'000;
    apply_minutes(engine, per_minute, per_minute, start, 60, next, seq);
    const std::size_t at_60 = engine.memory().windows;
    apply_minutes(engine, per_minute, per_minute, start + 60, 60, next, seq);
    const std::size_t at_120 = engine.memory().windows;
    // Exact all along: every user of the pool is in the current hour and day.
    const auto snap = engine.snapshot();
    REQUIRE(snap->window(WindowSpan::h1).current.active_users == per_minute);
    REQUIRE(snap->window(WindowSpan::h24).current.active_users == per_minute);
    REQUIRE(snap->window(WindowSpan::h24).current.total_events() == std::uint64_t{per_minute} * 119);
    return static_cast<std::int64_t>(at_120) - static_cast<std::int64_t>(at_60);
  };
  const std::int64_t small = growth(1'000);
  const std::int64_t large = growth(12'000);
  INFO("growth over 60 minutes: " << small << " bytes at 1,000 users a minute, " << large << " at 12,000");
  constexpr std::int64_t kSketchBytes = 5 * 4096;
  REQUIRE(small <= 60 * (kSketchBytes + 12 * 1024));
  REQUIRE(large <= small + 256 * 1024);
}

TEST_CASE("a checkpoint of the format before (every minute's users) restores and goes on like an uninterrupted engine",
          "[windows][coarse]") {
  const std::string bytes = from_hex(
#include "data/checkpoint_v2.inc"
  );
  REQUIRE(static_cast<unsigned char>(bytes[0]) == 2);

  // The stream the checkpoint was taken from (its first 700 events).
  const auto events = fixture_stream();
  WindowConfig config;
  config.allowed_lateness_ms = 5000;

  auto restored = WindowEngine::restore(config, bytes);
  REQUIRE(restored.ok());
  WindowEngine straight(config);
  straight.apply(std::span(events).first(700));
  (void)straight.take_closed_minutes();
  Oracle oracle(config);
  for (std::size_t i = 0; i < 700; ++i) oracle.apply(events[i]);
  REQUIRE(restored->applied_through() == 700);
  require_matches(*restored->snapshot(), oracle);

  // Both go on identically, windows and closed minutes alike.
  std::map<std::int64_t, std::string> from_restored, from_straight;
  for (std::size_t i = 700; i < events.size(); i += 25) {
    const auto batch = std::span(events).subspan(i, std::min<std::size_t>(25, events.size() - i));
    restored->apply(batch);
    straight.apply(batch);
    for (const Event& e : batch) oracle.apply(e);
    require_matches(*restored->snapshot(), oracle);
    const auto a = restored->snapshot();
    const auto b = straight.snapshot();
    for (WindowSpan span : kSpans) {
      REQUIRE(a->window(span).current.active_users == b->window(span).current.active_users);
      REQUIRE(a->window(span).previous.active_users == b->window(span).previous.active_users);
      REQUIRE(a->window(span).previous.funnel == b->window(span).previous.funnel);
      REQUIRE(a->window(span).top_products == b->window(span).top_products);
    }
    for (const auto& r : restored->take_closed_minutes()) from_restored[r.minute] = encode_rollup(r) + (r.users_partial ? "p" : "");
    for (const auto& r : straight.take_closed_minutes()) from_straight[r.minute] = encode_rollup(r) + (r.users_partial ? "p" : "");
  }
  REQUIRE(from_restored == from_straight);
  REQUIRE(restored->memory().windows <= straight.memory().windows + 64 * 1024);

  SECTION("and its own checkpoint (the current format) restores to the same state") {
    const std::string again = restored->checkpoint();
    REQUIRE(static_cast<unsigned char>(again[0]) == 5);
    auto twice = WindowEngine::restore(config, again);
    REQUIRE(twice.ok());
    require_matches(*twice->snapshot(), oracle);
    REQUIRE(twice->checkpoint() == again);
  }
}

TEST_CASE("a format-3 checkpoint (dense sketches) restores to the state the current format writes, in far fewer bytes",
          "[windows][coarse]") {
  const std::string v3 = gunzip(from_hex(
#include "data/checkpoint_v3_gz.inc"
      ));
  REQUIRE(static_cast<unsigned char>(v3[0]) == 3);
  const auto events = fixture_stream();
  WindowConfig config;
  config.allowed_lateness_ms = 5000;
  WindowEngine straight(config);
  straight.apply(std::span(events).first(120));
  (void)straight.take_closed_minutes();

  auto restored = WindowEngine::restore(config, v3);
  REQUIRE(restored.ok());
  const std::string current = straight.checkpoint();
  REQUIRE(static_cast<unsigned char>(current[0]) == 5);
  // Same state: the restored engine writes the same current-format bytes.
  REQUIRE(restored->checkpoint() == current);
  // A minute of a few users: five nearly empty 4 KiB cells each in format 3
  // (sparse since format 4).
  INFO("format 3: " << v3.size() << " bytes, current format: " << current.size());
  REQUIRE(current.size() * 20 < v3.size());
}

TEST_CASE("sketch cells of many users (dense) and of few (sparse) survive a checkpoint", "[windows][coarse]") {
  // 3,000 users a minute: the `any` cell sets about 2,000 of its 4096
  // registers and is written whole; the click cell (a third of them) sets
  // about 900 and is written sparse. 90 minutes, so the previous hour holds
  // 30 of them.
  WindowConfig config;
  config.filter_buffer_events = 0;
  WindowEngine engine(config);
  std::uint32_t next = 0;
  Sequence seq = 0;
  apply_minutes(engine, 100'000, 3'000, 28'000'000, 90, next, seq);
  const std::string bytes = engine.checkpoint();
  auto restored = WindowEngine::restore(config, bytes);
  REQUIRE(restored.ok());
  REQUIRE(restored->checkpoint() == bytes);
  const auto a = engine.snapshot();
  const auto b = restored->snapshot();
  REQUIRE(a->window(WindowSpan::h1).previous.active_users > 50'000);  // past linear counting: not vacuous
  for (WindowSpan span : kSpans) {
    INFO("span " << to_string(span));
    REQUIRE(a->window(span).previous.active_users == b->window(span).previous.active_users);
    REQUIRE(a->window(span).previous.funnel == b->window(span).previous.funnel);
  }
}

TEST_CASE("a sketch cell holds the same registers sparse as a plain array does, and merges alike", "[windows][coarse]") {
  // Oracle: a plain array of 4096 registers with the same max rule.
  std::mt19937_64 rng(7);
  for (const std::size_t adds : {0, 1, 300, 1'024, 1'025, 5'000}) {
    INFO(adds << " adds");
    windows::SketchCell a, b;
    std::array<std::uint8_t, windows::kSketchRegisters> ra{}, rb{};
    for (std::size_t k = 0; k < adds; ++k) {
      const std::size_t i = rng() % windows::kSketchRegisters;
      const auto v = static_cast<std::uint8_t>(1 + rng() % 20);
      a.max(i, v);
      ra[i] = std::max(ra[i], v);
      const std::size_t j = rng() % windows::kSketchRegisters;
      const auto w = static_cast<std::uint8_t>(1 + rng() % 20);
      if (k % 3 == 0) {
        b.max(j, w);
        rb[j] = std::max(rb[j], w);
      }
    }
    const auto same = [](const windows::SketchCell& c, const std::array<std::uint8_t, windows::kSketchRegisters>& r) {
      std::array<std::uint8_t, windows::kSketchRegisters> got{};
      std::size_t prev = 0, n = 0;
      bool ordered = true;
      c.for_each_set([&](std::size_t i, std::uint8_t v) {
        ordered = ordered && (n == 0 || i > prev);
        prev = i;
        ++n;
        got[i] = v;
      });
      return ordered && got == r && c.set_count() == n;
    };
    REQUIRE(same(a, ra));
    REQUIRE(same(b, rb));
    a.merge(b);
    for (std::size_t i = 0; i < ra.size(); ++i) ra[i] = std::max(ra[i], rb[i]);
    REQUIRE(same(a, ra));
    // The estimate from the registers, as the dense form computes it.
    double sum = 0;
    std::size_t zeros = 0;
    for (std::uint8_t v : ra) {
      sum += std::ldexp(1.0, -static_cast<int>(v));
      zeros += v == 0;
    }
    constexpr double m = static_cast<double>(windows::kSketchRegisters);
    double e = 0.7213 / (1.0 + 1.079 / m) * m * m / sum;
    if (e <= 2.5 * m && zeros != 0) e = m * std::log(m / static_cast<double>(zeros));
    REQUIRE(std::llabs(static_cast<long long>(a.estimate()) - std::llround(e)) <= 1);
    // Sparse below the bound, never more than the dense form above it.
    REQUIRE(a.memory_bytes() <= windows::kSketchRegisters * 2);
  }
}

TEST_CASE("a partial rollup's users join the earlier rollup's, type masks combined", "[windows][coarse]") {
  MinuteRollup earlier;
  earlier.minute = 5;
  earlier.users = {{1, 0b01}, {3, 0b10}, {7, 0b01}};
  MinuteRollup partial;
  partial.minute = 5;
  partial.users_partial = true;
  partial.events[0] = 9;
  partial.users = {{2, 0b01}, {3, 0b01}};
  merge_partial_users(partial, earlier);
  REQUIRE_FALSE(partial.users_partial);
  REQUIRE(partial.users == std::vector<std::pair<Id, std::uint8_t>>{{1, 0b01}, {2, 0b01}, {3, 0b11}, {7, 0b01}});
  REQUIRE(partial.events[0] == 9);
}

TEST_CASE("a settled minute of the 1h and 24h windows holds its products in a few bytes each",
          "[windows][coarse]") {
  // 20,000 products a minute from a fixed catalogue, so the windows' own
  // rows stop growing after the first minute: what grows from then on is
  // each minute kept for the windows, its sketch and its products. As maps
  // those products cost ~65 bytes each (a minute of them ~1.3 MB); frozen
  // (the minute's encoded rollup) a few bytes.
  constexpr std::uint32_t kProducts = 20'000;
  WindowConfig config;
  config.filter_buffer_events = 0;
  config.top_n = 10;
  WindowEngine engine(config);
  std::uint32_t next = 0;
  Sequence seq = 0;
  const std::int64_t start = 28'000'000;
  apply_minutes(engine, 100, kProducts, start, 60, next, seq, kProducts);
  const std::size_t at_60 = engine.memory().windows;
  apply_minutes(engine, 100, kProducts, start + 60, 60, next, seq, kProducts);
  const std::size_t at_120 = engine.memory().windows;
  const std::int64_t growth = static_cast<std::int64_t>(at_120) - static_cast<std::int64_t>(at_60);
  INFO("growth over 60 minutes: " << growth << " bytes");
  constexpr std::int64_t kSketchBytes = 5 * 4096;
  REQUIRE(growth <= 60 * (kSketchBytes + kProducts * 8));
  // And the windows still count every product of every minute: the 1 h
  // window's products are the last 60 minutes', each product once a minute.
  const auto snap = engine.snapshot();
  REQUIRE(snap->window(WindowSpan::h1).top_products.size() == 10);
  for (const RankedId& r : snap->window(WindowSpan::h1).top_products) REQUIRE(r.count == 60);
  for (const RankedId& r : snap->window(WindowSpan::h24).top_products) REQUIRE(r.count == 119);
}

TEST_CASE("a 1-second bucket out of every current window keeps no products", "[windows][coarse]") {
  // 500 products a second from a fixed catalogue for 30 minutes. From the
  // 15th minute on, a second leaving the 15 m window drops its products (the
  // previous windows report totals and users only), so the second quarter
  // hour adds the seconds' users and totals and the minutes' frozen
  // products, not 900 seconds x 500 products in maps (~29 MB). Before that
  // a second is frozen as soon as the windows' end passed it.
  constexpr std::uint32_t kProducts = 500;
  WindowConfig config;
  config.filter_buffer_events = 0;
  WindowEngine engine(config);
  Sequence seq = 0;
  const std::int64_t start_ms = 28'000'000LL * 60'000;
  std::vector<Event> batch;
  std::size_t at_15 = 0;
  for (std::int64_t second = 0; second < 1800; ++second) {
    batch.clear();
    for (std::uint32_t i = 0; i < kProducts; ++i) {
      Event e;
      e.sequence = ++seq;
      e.time_ms = start_ms + second * 1000 + i;
      e.user = 1 + i % 10;
      e.type = EventType::view;
      e.product = 1 + i;
      e.category = test::fixed_category(e.product);
      batch.push_back(e);
    }
    engine.apply(batch);
    (void)engine.take_closed_minutes();
    if (second == 899) at_15 = engine.memory().windows;
  }
  const std::int64_t growth = static_cast<std::int64_t>(engine.memory().windows) - static_cast<std::int64_t>(at_15);
  INFO("growth from 15 to 30 minutes: " << growth << " bytes; at 15 minutes: " << at_15 << " bytes");
  // Inside the windows a closed second keeps its products encoded (about
  // 8 bytes a product), not in maps (~40 bytes each: 36.7 MB here before).
  REQUIRE(at_15 <= 900 * (2048 + kProducts * 10));
  REQUIRE(growth <= 900 * 3072 + 15 * (5 * 4096 + kProducts * 8));
  // The 15 m window still counts every product of its 900 seconds.
  const auto snap = engine.snapshot();
  for (const RankedId& r : snap->window(WindowSpan::m15).top_products) REQUIRE(r.count == 900);
  // Its previous window, [end - 30 m, end - 15 m), starts before the first
  // event: it holds the seconds from the start to end - 15 m.
  const WindowView& m15 = snap->window(WindowSpan::m15);
  const auto previous_seconds = static_cast<std::uint64_t>((m15.start_ms - start_ms) / 1000);
  REQUIRE(previous_seconds > 890);
  REQUIRE(m15.previous.total_events() == previous_seconds * kProducts);
}

TEST_CASE("a checkpoint with times no engine writes is refused as damaged before any arithmetic on them",
          "[windows][coarse][checkpoint]") {
  // Both found by the window_checkpoint fuzz target (UBSan: signed
  // overflow); the format is the current one, the lateness the config's.
  WindowConfig config;
  const auto header = [&](bool has_events, std::int64_t max_time) {
    ByteWriter w;
    w.u8(5);
    w.svarint(config.allowed_lateness_ms);
    w.u8(has_events ? 1 : 0);
    w.svarint(max_time);
    return w;
  };
  SECTION("the newest event time at the bottom of the range") {
    ByteWriter w = header(true, INT64_MIN);
    w.varint(0);  // applied through
    w.varint(0);  // events applied
    w.varint(0);  // events too late
    w.svarint(0);  // fine tier's end
    w.svarint(0);  // coarse tier's end: the header is whole, only its time is out of range
    const auto restored = WindowEngine::restore(config, w.view());
    REQUIRE_FALSE(restored.ok());
    CHECK(restored.error().code == Errc::corrupt);
    // Refused for its time, not for a format this hand-written header no
    // longer matches.
    CHECK(restored.error().detail.find("header") != std::string::npos);
  }
  SECTION("user rows in an engine that has no events, so no end to count them back from") {
    ByteWriter w = header(false, 0);
    w.varint(0);  // applied through
    w.varint(0);  // events applied
    w.varint(0);  // events too late
    w.svarint(windows::kNoBucket);  // fine tier's end
    w.svarint(windows::kNoBucket);  // coarse tier's end
    w.varint(0);  // fine buckets
    w.varint(0);  // coarse buckets
    w.varint(1);  // user rows
    w.varint(7);  // user
    for (std::size_t c = 0; c < windows::Tier::kUserCells; ++c) w.varint(13);  // minutes back
    for (int pad = 0; pad < 16; ++pad) w.u8(0);
    const auto restored = WindowEngine::restore(config, w.view());
    REQUIRE_FALSE(restored.ok());
    CHECK(restored.error().code == Errc::corrupt);
    CHECK(restored.error().detail.find("user row") != std::string::npos);
  }
}
