// Recommendations through the real server: fresh within a second of a
// shopper's first events, and the same after kill -9 and restart.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

using namespace shoppulse::integration;
using namespace std::chrono_literals;

namespace {

std::string line(const std::string& user, const std::string& product, const std::string& type, std::int64_t t) {
  return R"({"user_id":")" + user + R"(","event_type":")" + type + R"(","product_id":")" + product +
         R"(","category_id":"cat_r","location":"上海","price":"10.00","timestamp":)" + std::to_string(t) + "}\n";
}

std::vector<std::string> products_of(const Json& json) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < json.size("/recommendations"); ++i)
    out.push_back(json.str("/recommendations/" + std::to_string(i) + "/product_id"));
  return out;
}

}  // namespace

TEST_CASE("A new shopper's recommendations follow their first events within a second, and survive kill -9",
          "[integration][recommend]") {
  TempDir dir;
  ServerProcess server({dir.path() / "data", {}, false, {}, Millis(10000)});
  server.start();
  const std::int64_t t0 = now_ms() - 120000;
  std::string body;
  // Shoppers who view rec_a also view rec_b; rec_c is popular on its own.
  for (int u = 0; u < 8; ++u) {
    const std::string user = "r_user_" + std::to_string(u);
    body += line(user, "rec_a", "view", t0 + u * 1000);
    body += line(user, "rec_b", "view", t0 + u * 1000 + 200);
  }
  for (int u = 8; u < 20; ++u) body += line("r_user_" + std::to_string(u), "rec_c", "view", t0 + u * 1000);
  REQUIRE(server.post("/api/events", body, "application/x-ndjson").status == 200);

  // First event of a new shopper: within a second, item-CF recommends what
  // is viewed together with it.
  const auto posted = std::chrono::steady_clock::now();
  REQUIRE(server.post("/api/events", line("r_newbie", "rec_a", "view", t0 + 30000)).status == 200);
  bool fresh = poll_until(
      [&] {
        const Json r = server.get_json("/api/products/recommendations/user/r_newbie?algorithm=item_cf");
        const auto products = products_of(r);
        return !products.empty() && products.front() == "rec_b";
      },
      Millis(1000), Millis(10));
  CHECK(fresh);
  CHECK(std::chrono::steady_clock::now() - posted < 1500ms);

  // The newbie buys rec_b: it is never recommended to them again.
  REQUIRE(server.post("/api/events", line("r_newbie", "rec_b", "purchase", t0 + 31000)).status == 200);
  REQUIRE(poll_until([&] {
    const auto products = products_of(server.get_json("/api/products/recommendations/user/r_newbie?limit=20"));
    return std::find(products.begin(), products.end(), "rec_b") == products.end();
  }));
  const std::string before = server.get_json("/api/products/recommendations/user/r_newbie?limit=20").text();
  const std::string similar_before = server.get_json("/api/products/rec_a/similar").text();

  server.kill_hard();
  server.start();
  // The recommend thread replays the log on start; wait until it has.
  std::string after;
  REQUIRE(poll_until([&] {
    after = server.get_json("/api/products/recommendations/user/r_newbie?limit=20").text();
    return after == before;
  }));
  CHECK(after == before);
  CHECK(server.get_json("/api/products/rec_a/similar").text() == similar_before);
  // No checkpoint was due yet (default period one minute): the whole log was replayed.
  const Json replayed = server.get_json("/api/system/status");
  CHECK(replayed.u64("/recommender/restored_through") == 0);
  CHECK(replayed.u64("/recommender/replayed_events") == 30);

  // A clean stop checkpoints: the next start restores it and replays nothing.
  REQUIRE(server.stop() == 0);
  server.start();
  REQUIRE(poll_until([&] { return server.get_json("/api/system/status").str("/recommender/state") == "running"; }));
  const Json restored = server.get_json("/api/system/status");
  CHECK(restored.u64("/recommender/restored_through") == 30);
  CHECK(restored.u64("/recommender/replayed_events") == 0);
  CHECK(restored.u64("/recommender/checkpoint_bytes") == 0);  // none written since this start
  CHECK(server.get_json("/api/products/recommendations/user/r_newbie?limit=20").text() == before);
  CHECK(server.get_json("/api/products/rec_a/similar").text() == similar_before);
  server.stop();
}

TEST_CASE("After kill -9 the recommender restores its periodic checkpoint and replays only the log after it",
          "[integration][recommend]") {
  TempDir dir;
  ServerProcess server({dir.path() / "data", {}, false, {"recommend.checkpoint_interval=100ms"}, Millis(10000)});
  server.start();
  const std::int64_t t0 = now_ms() - 120000;
  std::string first;
  for (int u = 0; u < 6; ++u) {
    const std::string user = "k_user_" + std::to_string(u);
    first += line(user, "k_a", "view", t0 + u * 1000);
    first += line(user, "k_b", "add_to_cart", t0 + u * 1000 + 300);
  }
  REQUIRE(server.post("/api/events", first, "application/x-ndjson").status == 200);
  REQUIRE(poll_until([&] {
    const Json st = server.get_json("/api/system/status");
    return st.u64("/recommender/checkpoints") > 0 && st.u64("/recommender/applied_through") == 12;
  }));
  // A periodic checkpoint has landed (covering some or all of the 12
  // events: which one depends on timing, and the checks below hold for any);
  // the 13th event is applied, then the process is killed.
  REQUIRE(poll_until([&] { return server.get_json("/api/system/status").u64("/recommender/checkpoint_bytes") > 0; }));
  REQUIRE(server.post("/api/events", line("k_new", "k_a", "view", t0 + 20000)).status == 200);
  REQUIRE(poll_until([&] { return server.get_json("/api/system/status").u64("/recommender/applied_through") == 13; }));
  const std::string before = server.get_json("/api/products/recommendations/user/k_new?limit=20").text();
  server.kill_hard();

  server.start();
  REQUIRE(poll_until([&] { return server.get_json("/api/system/status").str("/recommender/state") == "running"; }));
  const Json st = server.get_json("/api/system/status");
  const std::uint64_t restored = st.u64("/recommender/restored_through");
  CHECK(restored >= 1);  // a periodic checkpoint was restored, not the whole log replayed
  CHECK(restored <= 13);
  CHECK(st.u64("/recommender/replayed_events") == 13 - restored);
  CHECK(server.get_json("/api/products/recommendations/user/k_new?limit=20").text() == before);
  server.stop();
}
