#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "shoppulse/recommend/evaluation.hpp"

using namespace shoppulse;

TEST_CASE("Ranking metrics match a hand-computed example", "[recommend]") {
  std::vector<RankedCase> cases{
      {{1, 2, 3}, {2, 9}},  // one hit at rank 2 of two relevant
      {{4, 5, 6}, {7}},     // no hit
      {{1}, {}},            // no relevant items: not a test user
  };
  const RankingMetrics m = score_rankings(cases, 3, 12);
  CHECK(m.users == 2);
  CHECK(m.hit_rate == Approx(0.5));
  CHECK(m.precision == Approx((1.0 / 3) / 2));
  CHECK(m.recall == Approx(0.5 / 2));
  const double ndcg1 = (1 / std::log2(3.0)) / (1 + 1 / std::log2(3.0));
  CHECK(m.ndcg == Approx(ndcg1 / 2));
  CHECK(m.coverage == Approx(6.0 / 12));  // items of the empty case are not counted
}

TEST_CASE("AUC counts ordered pairs and halves ties", "[recommend]") {
  auto o = [](double s, bool y) { return PropensityOutcome{1, 0, s, y, {}}; };
  std::vector<PropensityOutcome> v{o(0.9, true), o(0.8, false), o(0.7, true), o(0.1, false)};
  CHECK(auc(v) == Approx(0.75));
  std::vector<PropensityOutcome> ties{o(0.5, true), o(0.5, false)};
  CHECK(auc(ties) == Approx(0.5));
  std::vector<PropensityOutcome> one_class{o(0.5, true)};
  CHECK(auc(one_class) == Approx(0.5));
}

namespace {
// Users 1..20 view 10 then 11 and users 1..5 view 12 (training); user 100
// views 10 and buys 12 before the split and views 11 and 12 after it, so
// item-CF learned from users 1..20 predicts 11 for user 100.
std::vector<Event> co_viewing_history() {
  std::vector<Event> events;
  TimestampMs t = 1511658000000;
  Sequence seq = 0;
  auto add = [&](Id u, Id p, EventType type) {
    Event e;
    e.user = u;
    e.product = p;
    e.type = type;
    e.time_ms = (t += 1000);
    e.sequence = ++seq;
    events.push_back(e);
  };
  for (Id u = 1; u <= 20; ++u) {
    add(u, 10, EventType::view);
    add(u, 11, EventType::view);
  }
  for (Id u = 1; u <= 5; ++u) add(u, 12, EventType::view);  // popular but unrelated to 10
  add(100, 10, EventType::view);
  add(100, 12, EventType::purchase);
  for (int i = 0; i < 8; ++i) add(200 + i, 13, EventType::view);  // filler to set the time span
  add(100, 11, EventType::view);
  add(100, 12, EventType::view);
  return events;
}
}  // namespace

TEST_CASE("Evaluation splits by time and reports every strategy as JSON and a table", "[recommend]") {
  const std::vector<Event> events = co_viewing_history();
  EvaluationOptions options;
  options.train_fraction = 0.85;
  options.k = 2;
  const EvaluationResult r = evaluate(events, options);
  REQUIRE(r.recommenders.size() == 4);
  CHECK(r.recommenders[0].name == "popularity");
  CHECK(r.recommenders[3].name == "hybrid");
  const RankingMetrics& item_cf = r.recommenders[1].metrics;
  CHECK(item_cf.users == 1);
  CHECK(item_cf.hit_rate == 1.0);
  CHECK(item_cf.ndcg == Approx(1.0));
  CHECK(r.partitions == 0);
  CHECK(r.partitioned.empty());
  const std::string json = to_json(r, 10);
  CHECK(json.find("\"recommenders\": {\"popularity\": {\"hit_rate@10\": ") != std::string::npos);
  CHECK(json.find("\"propensity\": {\"auc\": ") != std::string::npos);
  CHECK(json.find("\"cluster\"") == std::string::npos);
  CHECK(to_table(r, 10).find("NDCG@10") != std::string::npos);
}

TEST_CASE("A partitioned evaluation answers each user from the model of its partition's users", "[recommend]") {
  const std::vector<Event> events = co_viewing_history();
  EvaluationOptions options;
  options.train_fraction = 0.85;
  options.k = 2;

  SECTION("one partition is the single model: same metrics, same lists") {
    options.partitions = 1;
    options.partition_of = [](Id) { return 0u; };
    const EvaluationResult r = evaluate(events, options);
    REQUIRE(r.partitioned.size() == r.recommenders.size());
    for (std::size_t i = 0; i < r.recommenders.size(); ++i) {
      INFO(r.recommenders[i].name);
      CHECK(r.partitioned[i].name == r.recommenders[i].name);
      CHECK(r.partitioned[i].metrics.hit_rate == r.recommenders[i].metrics.hit_rate);
      CHECK(r.partitioned[i].metrics.ndcg == r.recommenders[i].metrics.ndcg);
      CHECK(r.partitioned[i].overlap == 1.0);
    }
  }
  SECTION("the co-viewers in the test user's partition: item-CF still finds 11") {
    options.partitions = 2;
    options.partition_of = [](Id u) { return u >= 200 ? 1u : 0u; };
    const EvaluationResult r = evaluate(events, options);
    REQUIRE(r.partitioned.size() == 4);
    CHECK(r.partitioned[1].name == "item_cf");
    CHECK(r.partitioned[1].metrics.hit_rate == 1.0);
    CHECK(r.partitioned[1].overlap == 1.0);
  }
  SECTION("the co-viewers in another partition: the test user's node never learned 10 -> 11") {
    options.partitions = 2;
    options.partition_of = [](Id u) { return u == 100 ? 0u : 1u; };
    const EvaluationResult r = evaluate(events, options);
    REQUIRE(r.partitioned.size() == 4);
    const PartitionedResult& item_cf = r.partitioned[1];
    CHECK(item_cf.metrics.users == 1);
    CHECK(item_cf.metrics.hit_rate == 0.0);
    CHECK(item_cf.overlap < 1.0);  // 11 is missing from the node's list
    CHECK(r.recommenders[1].metrics.hit_rate == 1.0);  // the single model still does
    const std::string json = to_json(r, 2);
    CHECK(json.find("\"cluster\": {\"partitions\": 2, \"recommenders\": {\"popularity\": {\"hit_rate@2\": ") !=
          std::string::npos);
    CHECK(json.find("\"overlap@2\": 0,") != std::string::npos);
    CHECK(to_table(r, 2).find("cluster of 2 partitions") != std::string::npos);
  }
}
