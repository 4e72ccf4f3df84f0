#pragma once
// Offline evaluation of the recommenders and the propensity model on an
// event history.
//
// Protocol: events are split by time at first + train_fraction x span. A
// Recommender learns the earlier part. Every user with interest events on
// both sides (up to max_users, smallest ids first) is a test case; their
// relevant set is the distinct products they showed interest in after the
// split, minus products they had already bought before it (those are never
// recommended). Each strategy returns k items per user; metrics are averaged
// over users. Coverage is distinct recommended products / products seen in
// training. Propensity is evaluated prequentially: the model runs over the
// whole history; each example opened after the split is scored before its
// label exists, and AUC is computed over those resolved by the end (examples
// resolve one horizon after they open, positive or not, so the last horizon
// of the history is left out whole rather than as positives only).
// Threading: a pure function of its inputs; runs on the caller's thread.
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "shoppulse/core/event.hpp"
#include "shoppulse/recommend/propensity.hpp"
#include "shoppulse/recommend/recommender.hpp"

namespace shoppulse {

struct EvaluationOptions {
  double train_fraction = 0.8;   // share of the time span used for training; (0, 1)
  std::size_t k = 10;            // list length the metrics are cut at
  std::size_t max_users = 0;     // test users evaluated; 0 = all
  bool only_new_items = false;   // relevant set: only products the user did not touch before the split
  RecommenderConfig recommender;
  // Also evaluate a cluster of `partitions` nodes (0: one node only): users
  // are split as the cluster's producers split them (partition_of(user), in
  // [0, partitions)), each partition's model learns only the events of its
  // users, and a test user is answered by their partition's model, as the
  // node owning the user answers in cluster mode.
  std::uint32_t partitions = 0;
  std::function<std::uint32_t(Id user)> partition_of;
};

struct RankingMetrics {
  double hit_rate = 0;   // share of users with at least one relevant item in the top k
  double precision = 0;  // relevant in top k / k, averaged over users
  double recall = 0;     // relevant in top k / relevant, averaged over users
  double ndcg = 0;       // binary-relevance NDCG@k, averaged over users
  double coverage = 0;   // distinct recommended products / catalogue size
  std::size_t users = 0;
};

struct StrategyResult {
  std::string name;  // popularity, item_cf, user_cf, hybrid
  RankingMetrics metrics;
};

// A strategy answered by partitioned models against the one model.
struct PartitionedResult {
  std::string name;
  RankingMetrics metrics;
  // Mean over test users of |cluster top k ∩ one-node top k| / |one-node
  // top k| (users whose one-node list is empty left out): 1 = same items.
  double overlap = 0;
};

struct EvaluationResult {
  std::vector<StrategyResult> recommenders;
  std::uint32_t partitions = 0;                 // 0: no cluster evaluated
  std::vector<PartitionedResult> partitioned;   // per strategy, when partitions > 0
  double partitioned_auc = 0.5;                 // propensity AUC with a model per partition
  double auc = 0.5;
  std::size_t propensity_examples = 0;
  std::size_t propensity_positives = 0;
  std::size_t train_events = 0;
  std::size_t test_events = 0;
  std::size_t catalogue = 0;
  TimestampMs split_ms = 0;
};

// One user's ranked list and relevant set, for score_rankings.
struct RankedCase {
  std::vector<Id> recommended;  // best first
  std::vector<Id> relevant;     // distinct
};

// Averages the ranking metrics at k over cases; coverage against catalogue.
RankingMetrics score_rankings(std::span<const RankedCase> cases, std::size_t k, std::size_t catalogue);

// Area under the ROC curve of scores against labels; ties count half. 0.5
// when one class is missing.
double auc(std::span<const PropensityOutcome> outcomes);

EvaluationResult evaluate(std::span<const Event> events, const EvaluationOptions& options = {});

// {"recommenders": {"<name>": {"hit_rate@10": ..., ...}}, "propensity": {"auc": ...}}
std::string to_json(const EvaluationResult& result, std::size_t k = 10);
// A fixed-width text table, one row per strategy, then the AUC line.
std::string to_table(const EvaluationResult& result, std::size_t k = 10);

}  // namespace shoppulse
