// The Redis live-figures writer against a real redis-server the test starts.
#include <catch2/catch.hpp>

#include <string>

#include "redis_client.hpp"
#include "server_process.hpp"
#include "shoppulse/adapters/redis_figures.hpp"
#include "shoppulse/windows/rollup.hpp"

using namespace shoppulse;
using shoppulse::servers::Millis;
using shoppulse::servers::RedisClient;
using shoppulse::servers::RedisServer;
using shoppulse::servers::wait_for;

namespace {

RedisConfig config_for(const RedisServer& server) {
  RedisConfig c;
  c.host = "127.0.0.1";
  c.port = server.port();
  c.key_prefix = "sp";
  c.max_backoff_ms = 200;
  c.timeout_ms = 2000;
  return c;
}

// A snapshot whose every window has distinct figures and a top list.
std::shared_ptr<const WindowSnapshot> make_snapshot(Dictionary& dict, TimestampMs watermark) {
  auto snap = std::make_shared<WindowSnapshot>();
  snap->watermark_ms = watermark;
  snap->max_event_time_ms = watermark + 5;
  snap->applied_through = Sequence(watermark / 1000);
  snap->events_applied = 4242;
  const Id p1 = dict.table(IdKind::product).intern("sku-1").first;
  const Id p2 = dict.table(IdKind::product).intern("sku-2").first;
  const Id c1 = dict.table(IdKind::category).intern("shoes").first;
  for (std::size_t i = 0; i < kWindowSpanCount; ++i) {
    WindowView& w = snap->windows[i];
    w.span = static_cast<WindowSpan>(i);
    w.end_ms = watermark;
    w.start_ms = watermark - span_ms(w.span);
    w.current.events[std::size_t(EventType::view)] = 100 * (i + 1);
    w.current.events[std::size_t(EventType::purchase)] = 10 * (i + 1);
    w.current.revenue_minor = std::int64_t(12345 * (i + 1));
    w.current.active_users = 7 * (i + 1);
    w.current.funnel[std::size_t(FunnelStep::view)] = 40;
    w.current.funnel[std::size_t(FunnelStep::purchase)] = 10;
    w.top_products = {{p2, 50 + i}, {p1, 20}};
    w.top_categories = {{c1, 70 + i}};
  }
  return snap;
}

}  // namespace

TEST_CASE("A published snapshot lands in Redis as window hashes and hot-item sorted sets, then is announced",
          "[redis]") {
  RedisServer server;
  server.start();
  Dictionary dict;
  MetricsRegistry metrics;
  RedisFiguresSink sink(config_for(server), dict, metrics);
  RedisClient subscriber(server.port());
  subscriber.subscribe("sp:snapshots");
  sink.start();

  const auto snap = make_snapshot(dict, 1'700'000'000'000);
  sink.offer_snapshot(snap);

  const auto message = subscriber.next_message();
  REQUIRE(message);
  CHECK(*message == "{\"watermark_ms\":1700000000000,\"applied_through\":1700000000}");

  RedisClient redis(server.port());
  const auto head = redis.hgetall("sp:snapshot");
  CHECK(head.at("watermark_ms") == "1700000000000");
  CHECK(head.at("applied_through") == "1700000000");
  CHECK(head.at("events_applied") == "4242");
  for (const WindowView& w : snap->windows) {
    const std::string span(to_string(w.span));
    INFO("window " << span);
    const auto h = redis.hgetall("sp:window:" + span);
    CHECK(h.at("start_ms") == std::to_string(w.start_ms));
    CHECK(h.at("end_ms") == std::to_string(w.end_ms));
    CHECK(h.at("view") == std::to_string(w.current.count(EventType::view)));
    CHECK(h.at("purchase") == std::to_string(w.current.count(EventType::purchase)));
    CHECK(h.at("click") == "0");
    CHECK(h.at("events") == std::to_string(w.current.total_events()));
    CHECK(h.at("revenue_minor") == std::to_string(w.current.revenue_minor));
    CHECK(h.at("active_users") == std::to_string(w.current.active_users));
    CHECK(h.at("conversion_rate") == "0.25");
    const auto hot = redis.zrevrange("sp:hot:products:" + span);
    REQUIRE(hot.size() == 2);
    CHECK(hot[0].first == "sku-2");
    CHECK(hot[0].second == std::to_string(w.top_products[0].count));
    CHECK(hot[1] == std::pair<std::string, std::string>{"sku-1", "20"});
    const auto cats = redis.zrevrange("sp:hot:categories:" + span);
    REQUIRE(cats.size() == 1);
    CHECK(cats[0].first == "shoes");
  }
  // The message is published inside the write; the writer counts the write
  // once EXEC has answered, which may be after the subscriber saw it.
  REQUIRE(wait_for([&] { return sink.stats().snapshots_written == 1; }, Millis(10000)));
  const RedisFiguresStats st = sink.stats();
  CHECK(st.state == "running");
  CHECK(st.backlog == 0);
  CHECK(metrics.render_prometheus().find("shoppulse_redis_snapshots_written_total 1") != std::string::npos);
  sink.stop();
  CHECK(sink.stats().state == "stopped");
}

TEST_CASE("A hot list that shrinks leaves no stale members behind", "[redis]") {
  RedisServer server;
  server.start();
  Dictionary dict;
  MetricsRegistry metrics;
  RedisFiguresSink sink(config_for(server), dict, metrics);
  sink.start();
  sink.offer_snapshot(make_snapshot(dict, 1'700'000'000'000));
  REQUIRE(wait_for([&] { return sink.stats().snapshots_written == 1; }, Millis(10000)));
  auto smaller = std::make_shared<WindowSnapshot>(*make_snapshot(dict, 1'700'000'060'000));
  for (WindowView& w : smaller->windows) w.top_products.resize(1);
  smaller->windows[0].top_products.clear();
  sink.offer_snapshot(smaller);
  REQUIRE(wait_for([&] { return sink.stats().snapshots_written == 2; }, Millis(10000)));
  RedisClient redis(server.port());
  CHECK(redis.zrevrange("sp:hot:products:1m").empty());
  CHECK(redis.zrevrange("sp:hot:products:5m").size() == 1);
}

TEST_CASE("Closed minutes become per-minute hashes that expire", "[redis]") {
  RedisServer server;
  server.start();
  Dictionary dict;
  MetricsRegistry metrics;
  RedisConfig cfg = config_for(server);
  cfg.minute_ttl_ms = 3'600'000;
  RedisFiguresSink sink(cfg, dict, metrics);
  sink.start();

  MinuteRollup r;
  r.minute = 28'333'333;
  r.events[std::size_t(EventType::view)] = 9;
  r.events[std::size_t(EventType::add_to_cart)] = 3;
  r.events[std::size_t(EventType::purchase)] = 2;
  r.revenue_minor = 5000;
  r.users = {{1, type_bit(EventType::view)},
             {2, std::uint8_t(type_bit(EventType::view) | type_bit(EventType::purchase))},
             {3, type_bit(EventType::add_to_cart)}};
  const std::vector<std::pair<std::int64_t, std::string>> minutes{{r.minute, encode_rollup(r)}};
  sink.offer_minutes(minutes);
  REQUIRE(wait_for([&] { return sink.stats().minutes_written == 1; }, Millis(10000)));

  RedisClient redis(server.port());
  const auto h = redis.hgetall("sp:minute:28333333");
  CHECK(h.at("view") == "9");
  CHECK(h.at("add_to_cart") == "3");
  CHECK(h.at("purchase") == "2");
  CHECK(h.at("events") == "14");
  CHECK(h.at("revenue_minor") == "5000");
  CHECK(h.at("active_users") == "3");
  CHECK(h.at("viewers") == "2");
  CHECK(h.at("purchasers") == "1");
  const long long ttl = redis.integer({"PTTL", "sp:minute:28333333"});
  CHECK(ttl > 0);
  CHECK(ttl <= 3'600'000);
}

TEST_CASE("While Redis is down the writer reports it, keeps only the newest snapshot, and writes it once Redis is back",
          "[redis]") {
  RedisServer server;
  server.start();
  Dictionary dict;
  MetricsRegistry metrics;
  RedisFiguresSink sink(config_for(server), dict, metrics);
  sink.start();
  sink.offer_snapshot(make_snapshot(dict, 1'000'000));
  REQUIRE(wait_for([&] { return sink.stats().snapshots_written == 1; }, Millis(10000)));

  server.stop();
  sink.offer_snapshot(make_snapshot(dict, 2'000'000));
  REQUIRE(wait_for([&] { return sink.stats().state == "disconnected"; }, Millis(10000)));
  sink.offer_snapshot(make_snapshot(dict, 3'000'000));
  sink.offer_snapshot(make_snapshot(dict, 4'000'000));
  {
    const RedisFiguresStats st = sink.stats();
    CHECK(st.snapshots_skipped == 2);
    CHECK(st.backlog == 1);
    CHECK(st.failures >= 1);
    CHECK_FALSE(st.last_error.empty());
    CHECK_FALSE(st.connected);
  }

  server.start();
  REQUIRE(wait_for([&] { return sink.stats().snapshots_written == 2; }, Millis(20000)));
  const RedisFiguresStats st = sink.stats();
  CHECK(st.state == "running");
  CHECK(st.reconnects >= 1);
  CHECK(st.last_written_watermark_ms == 4'000'000);
  RedisClient redis(server.port());
  CHECK(redis.hgetall("sp:snapshot").at("watermark_ms") == "4000000");
}

TEST_CASE("Pending minutes beyond the bound drop the oldest while Redis is unreachable", "[redis]") {
  RedisServer server;  // never started: its port answers nobody
  Dictionary dict;
  MetricsRegistry metrics;
  RedisConfig cfg;
  cfg.host = "127.0.0.1";
  cfg.port = servers::free_port();
  cfg.max_backoff_ms = 100;
  cfg.max_pending_minutes = 3;
  RedisFiguresSink sink(cfg, dict, metrics);
  sink.start();
  std::vector<std::pair<std::int64_t, std::string>> minutes;
  for (std::int64_t m = 10; m < 15; ++m) {
    MinuteRollup r;
    r.minute = m;
    minutes.emplace_back(m, encode_rollup(r));
  }
  sink.offer_minutes(minutes);
  REQUIRE(wait_for([&] { return sink.stats().state == "disconnected"; }, Millis(10000)));
  const RedisFiguresStats st = sink.stats();
  CHECK(st.minutes_dropped == 2);
  CHECK(st.backlog == 3);
  CHECK(st.last_error.find("connect to 127.0.0.1:") != std::string::npos);
  sink.stop();
  CHECK(sink.stats().state == "stopped");
}
