#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "shoppulse/core/dictionary.hpp"
#include "shoppulse/core/key_partition.hpp"
#include "shoppulse/importer/importer.hpp"
#include "shoppulse/recommend/evaluation.hpp"

using namespace shoppulse;

namespace {
std::string sample_path() {
  if (const char* p = std::getenv("SHOPPULSE_TAOBAO_CSV")) return p;
  return SHOPPULSE_TAOBAO_SAMPLE;
}

// The sample spans 2 h 10 min and the test part 26 min: a 10-minute label
// horizon leaves 16 min of test examples whose labels are known.
EvaluationOptions sample_options() {
  EvaluationOptions options;
  options.recommender.propensity.horizon_ms = 10 * 60 * 1000;
  return options;
}

const RankingMetrics& metrics(const EvaluationResult& r, const std::string& name) {
  for (const StrategyResult& s : r.recommenders)
    if (s.name == name) return s.metrics;
  FAIL("no strategy " << name);
  throw;
}
}  // namespace

TEST_CASE("On the Taobao sample the personalised recommenders beat popularity on every metric", "[recommend][.slow]") {
  auto loaded = load_events(sample_path(), ImportFormat::taobao_csv);
  if (!loaded) {
    WARN("Taobao sample not available: " << loaded.error().detail);
    return;
  }
  REQUIRE(loaded->report.bad_lines == 0);
  EvaluationOptions options = sample_options();
  const EvaluationResult r = evaluate(loaded->events, options);
  std::printf("%s%s\n", to_table(r).c_str(), to_json(r).c_str());
  const RankingMetrics& pop = metrics(r, "popularity");
  for (const char* name : {"item_cf", "user_cf", "hybrid"}) {
    const RankingMetrics& m = metrics(r, name);
    INFO(name);
    CHECK(m.hit_rate > pop.hit_rate);
    CHECK(m.precision > pop.precision);
    CHECK(m.recall > pop.recall);
    CHECK(m.ndcg > pop.ndcg);
    CHECK(m.coverage > pop.coverage);
  }
  // Buyers rank above non-buyers: 0.68 with this horizon when written; the
  // strongest signal here is how well the event's category converts so far.
  CHECK(r.propensity_positives > 20);
  CHECK(r.auc > 0.6);
}

TEST_CASE("On the Taobao sample a cluster of 3 answering each user from its partition's model loses under 10 %",
          "[recommend][.slow]") {
  auto loaded = load_events(sample_path(), ImportFormat::taobao_csv);
  if (!loaded) {
    WARN("Taobao sample not available: " << loaded.error().detail);
    return;
  }
  EvaluationOptions options = sample_options();
  options.partitions = 3;
  const Dictionary& dictionary = *loaded->dictionary;
  options.partition_of = [&](Id user) { return key_partition(dictionary.name(IdKind::user, user), 3); };
  const EvaluationResult r = evaluate(loaded->events, options);
  std::printf("%s", to_table(r).c_str());
  REQUIRE(r.partitioned.size() == r.recommenders.size());
  for (std::size_t i = 0; i < r.recommenders.size(); ++i) {
    const RankingMetrics& one = r.recommenders[i].metrics;
    const RankingMetrics& cluster = r.partitioned[i].metrics;
    INFO(r.recommenders[i].name);
    CHECK(cluster.users == one.users);
    // The lists differ (overlap < 1: each node learned from a third of the
    // users) and stay personal (coverage well above popularity's).
    CHECK(r.partitioned[i].overlap < 1.0);
    if (r.recommenders[i].name == "hybrid" || r.recommenders[i].name == "item_cf") {
      // 0.0477 -> 0.0495 (hybrid) and 0.0259 -> 0.0259 (item_cf) when written.
      CHECK(cluster.hit_rate >= 0.9 * one.hit_rate);
      CHECK(cluster.ndcg >= 0.9 * one.ndcg);
    }
  }
}
