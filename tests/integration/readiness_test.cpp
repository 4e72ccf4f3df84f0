// Restart with a large log through the real binary: after kill -9 the server
// says it is replaying (readiness 503, answers complete:false), answers
// queries promptly from the state as far as it got, holds min_sequence
// requests until their write is applied, and then is ready with complete
// answers; checkpoints by event count bound the next replay.
#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "harness.hpp"

using namespace shoppulse::integration;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t kEvents = 600000;
constexpr std::uint64_t kBatch = 20000;

// Real-shaped enough to cost the recommender: many users and products,
// mostly views, an event every few milliseconds over the last hours.
std::string batch_body(std::uint64_t first, std::uint64_t n, std::int64_t t0) {
  static constexpr const char* kTypes[] = {"view", "view", "view", "view", "view", "view", "click", "add_to_cart",
                                           "view", "purchase"};
  std::string body;
  body.reserve(n * 140);
  for (std::uint64_t i = first; i < first + n; ++i) {
    const std::uint64_t user = (i * 2654435761u) % 60000;
    const std::uint64_t product = (i * 40503u + user) % 30000;
    body += R"({"user_id":"u)" + std::to_string(user) + R"(","event_type":")" + kTypes[i % 10] +
            R"(","product_id":"p)" + std::to_string(product) + R"(","category_id":"c)" + std::to_string(product % 300) +
            R"(","price":"9.90","timestamp":)" + std::to_string(t0 + static_cast<std::int64_t>(i) * 10) + "}\n";
  }
  return body;
}

// POSTs one NDJSON batch, again while the ingest queue refuses it (503);
// the answer, which must be 200.
HttpResponse post_batch(const ServerProcess& server, std::string_view body) {
  HttpResponse r;
  REQUIRE(poll_until(
      [&] {
        r = server.post("/api/events", body, "application/x-ndjson");
        return r.status != 503;
      },
      Millis(120000), Millis(50)));
  REQUIRE(r.status == 200);
  return r;
}

// POSTs every event, retrying batches the ingest queue refuses (503).
struct Loaded {
  std::uint64_t last = 0;
  std::string incarnation;  // of the last POST's answer
};

Loaded load(const ServerProcess& server, std::int64_t t0) {
  Loaded loaded;
  for (std::uint64_t first = 0; first < kEvents; first += kBatch) {
    const Json answer(post_batch(server, batch_body(first, kBatch, t0)).body);
    loaded.last = answer.u64("/last_sequence");
    loaded.incarnation = answer.str("/incarnation");
  }
  return loaded;
}

// The read-your-writes token of a POST answer: its sequence with its incarnation.
std::string after(std::uint64_t sequence, const std::string& incarnation) {
  return "min_sequence=" + std::to_string(sequence) + "&incarnation=" + incarnation;
}

std::vector<std::string> sets(std::vector<std::string> extra) {
  // No checkpoint before the kill: the restart replays the whole log.
  std::vector<std::string> s{"http.host=127.0.0.1", "windows.allowed_lateness=0", "windows.checkpoint_interval=1h", "recommend.checkpoint_interval=0",
                             "windows.checkpoint_every_events=0", "recommend.checkpoint_every_events=0",
                             "api.max_wait=120s"};
  s.insert(s.end(), extra.begin(), extra.end());
  return s;
}

}  // namespace

TEST_CASE("After kill -9 with a large log the server replays visibly, answers promptly and reads your writes",
          "[integration][readiness]") {
  TempDir dir;
  const std::int64_t t0 = now_ms() - static_cast<std::int64_t>(kEvents) * 10 - 60000;
  ServerProcess server({dir.path() / "data", {}, false, sets({}), Millis(10000)});
  server.start();
  const Loaded loaded = load(server, t0);
  const std::uint64_t logged = loaded.last;
  REQUIRE(logged == kEvents);
  REQUIRE(loaded.incarnation.size() == 16);
  // Wait for the live windows through min_sequence (ready only covers the start).
  const Json caught_up = server.get_json("/api/analytics/real-time?window=24h&" + after(logged, loaded.incarnation));
  CHECK(caught_up.root()["complete"].get_bool().value());
  CHECK(caught_up.u64("/applied_sequence") == logged);
  // The window ends at the watermark's minute: the newest events are not in it.
  const std::uint64_t in_window = caught_up.u64("/total_events");
  CHECK(in_window > kEvents * 9 / 10);
  wait_ready(server, Millis(300000));

  server.kill_hard();
  server.start();

  // Replaying: readiness 503 with the reason, health 200 saying so.
  const HttpResponse not_ready = server.get("/api/ready");
  INFO(not_ready.body);
  REQUIRE(not_ready.status == 503);
  CHECK(not_ready.header("Retry-After") == std::optional<std::string>("1"));
  const Json not_ready_json(not_ready.body);
  CHECK_FALSE(not_ready_json.root()["ready"].get_bool().value());
  CHECK(!not_ready_json.str("/reason").empty());
  CHECK(not_ready_json.u64("/derived_state/logged_sequence") == logged);
  const Json health = server.get_json("/api/health");
  const std::string status = health.str("/status");
  CHECK((status == "starting" || status == "replaying"));

  // A user query during the replay answers at once from the state as far as
  // it got (or says it is not there yet), and the answer says it is partial.
  const auto asked = std::chrono::steady_clock::now();
  const HttpResponse user = server.get("/api/analytics/user/u1");
  const auto took = std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - asked);
  INFO("user query took " << took.count() << " ms: " << user.body);
  CHECK((user.status == 200 || user.status == 503));
  if (user.status == 200) CHECK_FALSE(Json(user.body).root()["complete"].get_bool().value());
  const HttpResponse realtime = server.get("/api/analytics/real-time?window=24h");
  REQUIRE(realtime.status == 200);
  const Json partial(realtime.body);
  // Answered before the replay ended: readiness is still 503.
  CHECK(server.get("/api/ready").status == 503);
  CHECK_FALSE(partial.root()["complete"].get_bool().value());
  CHECK(partial.u64("/applied_sequence") < logged);
  CHECK(partial.u64("/logged_sequence") == logged);

  // Read your writes across the replay: a new shopper's event, then a query
  // with its sequence that is answered only once it is applied.
  const HttpResponse posted = server.post(
      "/api/events", R"({"user_id":"fresh-shopper","event_type":"view","product_id":"p1","category_id":"c1"})",
      "application/json");
  REQUIRE(posted.status == 200);
  const std::uint64_t mine = Json(posted.body).u64("/last_sequence");
  const std::string incarnation = Json(posted.body).str("/incarnation");
  CHECK(mine == logged + 1);
  // kill -9 in process mode may lose the unsynced tail, so the log has a new
  // incarnation; it kept every event of the old one, whose sequences still
  // name the same events. A sequence without its incarnation, or of an
  // incarnation the log never had, is refused.
  CHECK(incarnation != loaded.incarnation);
  CHECK(server.get("/api/analytics/real-time?window=24h&" + after(logged, loaded.incarnation)).status == 200);
  const HttpResponse bare = server.get("/api/analytics/real-time?window=24h&min_sequence=" + std::to_string(mine));
  CHECK(bare.status == 400);
  CHECK(Json(bare.body).str("/field") == "incarnation");
  const HttpResponse stranger =
      server.get("/api/analytics/real-time?window=24h&" + after(logged, "0123456789abcdef"));
  CHECK(stranger.status == 409);
  CHECK(Json(stranger.body).str("/error") == "incarnation_changed");
  CHECK(Json(stranger.body).str("/incarnation") == incarnation);
  const HttpResponse read_back = server.get("/api/analytics/user/fresh-shopper?" + after(mine, incarnation));
  INFO(read_back.body);
  REQUIRE(read_back.status == 200);
  const Json mine_json(read_back.body);
  CHECK(mine_json.u64("/total_events") == 1);
  CHECK(mine_json.u64("/applied_sequence") >= mine);
  CHECK(mine_json.root()["complete"].get_bool().value());

  // Then ready, healthy, complete.
  wait_ready(server, Millis(300000));
  CHECK(server.get_json("/api/health").str("/status") == "healthy");
  const Json complete = server.get_json("/api/analytics/real-time?window=24h&" + after(mine, incarnation));
  CHECK(complete.root()["complete"].get_bool().value());
  CHECK(complete.u64("/applied_sequence") == mine);
  const Json recs = server.get_json("/api/products/recommendations/user/u1");
  CHECK(recs.root()["complete"].get_bool().value());
  CHECK(recs.u64("/applied_sequence") == mine);
  server.stop();
}

TEST_CASE("Checkpoints by event count bound the replay of a process killed before any periodic checkpoint",
          "[integration][readiness]") {
  TempDir dir;
  const std::int64_t t0 = now_ms() - static_cast<std::int64_t>(kEvents) * 10 - 60000;
  ServerProcess server({dir.path() / "data", {}, false, sets({}), Millis(10000)});
  server.start();
  const Loaded loaded = load(server, t0);
  REQUIRE(loaded.last == kEvents);
  const std::string figures = "/api/analytics/real-time?window=24h&" + after(kEvents, loaded.incarnation);
  const std::uint64_t in_window = server.get_json(figures).u64("/total_events");
  wait_ready(server, Millis(300000));
  server.kill_hard();

  // Restarted with checkpoints every 200k events and killed as soon as it is
  // ready: the periodic checkpoint never came, the count-based ones did.
  ServerProcess counted({dir.path() / "data", {}, false,
                         sets({"windows.checkpoint_every_events=200000", "recommend.checkpoint_every_events=200000"}),
                         Millis(10000)});
  counted.start();
  wait_ready(counted, Millis(300000));
  const Json first = counted.get_json("/api/system/status");
  CHECK(first.u64("/stream_processor/replayed_events") == kEvents);
  // Taken at 200k, 400k and 600k during the replay; each one's size and
  // the time it held the engine thread are reported.
  CHECK(first.u64("/stream_processor/checkpoints") >= 3);
  CHECK(first.u64("/stream_processor/checkpoint_bytes") > 100000);
  CHECK(first.i64("/stream_processor/checkpoint_pause_ms") >= 0);
  CHECK(counted.get_json(figures).u64("/total_events") == in_window);
  counted.kill_hard();

  counted.start();
  wait_ready(counted, Millis(300000));
  const Json second = counted.get_json("/api/system/status");
  CHECK(second.u64("/stream_processor/replayed_events") == 0);  // checkpointed at 600k during the last replay
  CHECK(second.u64("/recommender/restored_through") == kEvents);
  CHECK(second.u64("/recommender/replayed_events") == 0);
  CHECK(counted.get_json(figures).u64("/total_events") == in_window);
  counted.stop();
}

TEST_CASE("A reader waiting for its write is answered by a snapshot published for it, not at the next interval",
          "[integration][readiness]") {
  TempDir dir;
  // Snapshots every hour: a read-your-writes answer that came from the
  // periodic publish would wait out api.max_wait (60 s) and answer 503.
  ServerProcess server({dir.path() / "data", {}, false,
                        {"http.host=127.0.0.1", "windows.publish_interval=1h", "api.max_wait=60s"}, Millis(10000)});
  server.start();
  wait_ready(server, Millis(300000));
  const std::int64_t t0 = now_ms() - 60000;
  for (std::uint64_t round = 0; round < 3; ++round) {
    const HttpResponse posted = server.post("/api/events", batch_body(round * 100, 100, t0), "application/x-ndjson");
    REQUIRE(posted.status == 200);
    const Json receipt(posted.body);
    const std::uint64_t mine = receipt.u64("/last_sequence");
    const HttpResponse read = server.get("/api/analytics/real-time?window=24h&" +
                                         after(mine, receipt.str("/incarnation")));
    INFO(read.body);
    REQUIRE(read.status == 200);
    const Json figures(read.body);
    CHECK(figures.u64("/applied_sequence") >= mine);
    CHECK(figures.root()["complete"].get_bool().value());
  }
  // Each read above was answered within a one-hour publish interval, so each
  // needed an early publish; the engine counts one before it releases its reader.
  CHECK(server.get_json("/api/system/status").u64("/stream_processor/publishes_on_demand") >= 3);
  server.stop();
}

namespace {

// Three hours of events ending a minute ago (one every 72 ms), then late ones
// back in its first two and a half hours: minutes the 1h/24h windows had
// settled and spilled to the rollup store by then.
constexpr std::uint64_t kSpillEvents = 150000;
constexpr std::uint64_t kLateEvents = 300;

std::string spill_body(std::uint64_t first, std::uint64_t n, std::int64_t t0) {
  static constexpr const char* kTypes[] = {"view", "view", "view", "click", "add_to_cart", "view", "purchase"};
  std::string body;
  for (std::uint64_t i = first; i < first + n; ++i) {
    const std::uint64_t product = (i * 40503u) % 3000;
    body += R"({"user_id":"u)" + std::to_string((i * 2654435761u) % 5000) + R"(","event_type":")" + kTypes[i % 7] +
            R"(","product_id":"p)" + std::to_string(product) + R"(","category_id":"c)" + std::to_string(product % 60) +
            R"(","price":"9.90","timestamp":)" + std::to_string(t0 + static_cast<std::int64_t>(i) * 72) + "}\n";
  }
  return body;
}

std::string late_body(std::int64_t t0) {
  std::string body;
  for (std::uint64_t k = 0; k < kLateEvents; ++k)
    body += R"({"user_id":"late)" + std::to_string(k % 50) + R"(","event_type":"view","product_id":"p)" +
            std::to_string(k % 40) + R"(","category_id":"c)" + std::to_string(k % 40) +
            R"(","timestamp":)" + std::to_string(t0 + 500 + static_cast<std::int64_t>(k) * 30000) + "}\n";
  return body;
}

// POSTs the events (retrying batches refused with 503); the last sequence.
std::uint64_t post_all(const ServerProcess& server, const std::string& body_all) {
  std::uint64_t last = 0;
  std::size_t at = 0;
  while (at < body_all.size()) {
    // 10k lines a request.
    std::size_t end = at;
    for (int lines = 0; lines < 10000 && end < body_all.size(); ++lines) end = body_all.find('\n', end) + 1;
    last = Json(post_batch(server, std::string_view(body_all.data() + at, end - at)).body).u64("/last_sequence");
    at = end;
  }
  return last;
}

// The live windows' answers that must not depend on how the state got there.
std::vector<std::string> window_answers(const ServerProcess& server) {
  std::vector<std::string> answers;
  for (const char* window : {"1h", "24h"}) {
    answers.push_back(server.get_json(std::string("/api/products/popular?limit=100&window=") + window).text());
    answers.push_back(server.get_json(std::string("/api/analytics/real-time?window=") + window).text());
  }
  // When it was asked is not part of the answer.
  static const std::regex asked(R"("timestamp":"[^"]*",?)");
  for (std::string& a : answers) a = std::regex_replace(a, asked, "");
  return answers;
}

}  // namespace

TEST_CASE("After late events rewrote spilled minutes and kill -9, the windows equal a run that never crashed",
          "[integration][readiness][spill]") {
  TempDir dir;
  const std::int64_t t0 = now_ms() - static_cast<std::int64_t>(kSpillEvents) * 72 - 60000;
  const std::string events = spill_body(0, kSpillEvents, t0);
  const std::string late = late_body(t0);
  // A checkpoint at 100k events and none after (the next would be at 200k).
  const std::vector<std::string> config = sets({"windows.checkpoint_every_events=100000"});

  ServerProcess crashed({dir.path() / "crashed", {}, false, config, Millis(10000)});
  crashed.start();
  REQUIRE(post_all(crashed, events) == kSpillEvents);
  wait_applied(crashed, kSpillEvents, Millis(300000));
  // Settled minutes of the three hours are in the rollup store only.
  const std::uint64_t spilled = crashed.get_json("/api/system/status").u64("/memory/spilled_minutes");
  INFO("spilled minutes before the late events: " << spilled);
  CHECK(spilled > 100);
  const std::uint64_t logged = post_all(crashed, late);
  REQUIRE(logged == kSpillEvents + kLateEvents);
  wait_applied(crashed, logged, Millis(300000));
  crashed.kill_hard();
  crashed.start();
  wait_ready(crashed, Millis(300000));
  const Json restarted = crashed.get_json("/api/system/status");
  // Restored from the checkpoint at 100k, then the rest replayed, the late
  // events (the newest 300) included: each counted once, whether its
  // minute's stored copy already held it or not.
  const std::uint64_t replayed = restarted.u64("/stream_processor/replayed_events");
  INFO("replayed after the restore: " << replayed);
  CHECK(replayed >= kLateEvents);
  CHECK(replayed < logged);
  CHECK(restarted.u64("/memory/spilled_minutes") > 100);

  ServerProcess clean({dir.path() / "clean", {}, false, config, Millis(10000)});
  clean.start();
  REQUIRE(post_all(clean, events) == kSpillEvents);
  REQUIRE(post_all(clean, late) == logged);
  wait_applied(clean, logged, Millis(300000));

  const std::vector<std::string> expected = window_answers(clean);
  const std::vector<std::string> got = window_answers(crashed);
  REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("answer " << i);
    CHECK(got[i] == expected[i]);
  }
  // The late shoppers' events (6 each) are there after the replay.
  CHECK(crashed.get_json("/api/analytics/user/late0").u64("/total_events") == kLateEvents / 50);
  crashed.stop();
  clean.stop();
}
