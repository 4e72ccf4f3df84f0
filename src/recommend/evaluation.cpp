#include "shoppulse/recommend/evaluation.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <unordered_set>

namespace shoppulse {

RankingMetrics score_rankings(std::span<const RankedCase> cases, std::size_t k, std::size_t catalogue) {
  RankingMetrics m;
  std::unordered_set<Id> shown;
  for (const RankedCase& c : cases) {
    if (c.relevant.empty()) continue;
    ++m.users;
    const std::unordered_set<Id> relevant(c.relevant.begin(), c.relevant.end());
    const std::size_t n = std::min(k, c.recommended.size());
    std::size_t hits = 0;
    double dcg = 0;
    for (std::size_t i = 0; i < n; ++i) {
      shown.insert(c.recommended[i]);
      if (relevant.count(c.recommended[i])) {
        ++hits;
        dcg += 1.0 / std::log2(static_cast<double>(i) + 2.0);
      }
    }
    double ideal = 0;
    for (std::size_t i = 0; i < std::min(k, relevant.size()); ++i) ideal += 1.0 / std::log2(static_cast<double>(i) + 2.0);
    m.hit_rate += hits > 0 ? 1.0 : 0.0;
    m.precision += static_cast<double>(hits) / static_cast<double>(k);
    m.recall += static_cast<double>(hits) / static_cast<double>(relevant.size());
    m.ndcg += ideal > 0 ? dcg / ideal : 0;
  }
  if (m.users > 0) {
    const double u = static_cast<double>(m.users);
    m.hit_rate /= u;
    m.precision /= u;
    m.recall /= u;
    m.ndcg /= u;
  }
  m.coverage = catalogue ? static_cast<double>(shown.size()) / static_cast<double>(catalogue) : 0;
  return m;
}

double auc(std::span<const PropensityOutcome> outcomes) {
  std::vector<std::pair<double, bool>> v;
  v.reserve(outcomes.size());
  std::size_t pos = 0;
  for (const PropensityOutcome& o : outcomes) {
    v.emplace_back(o.score, o.purchased);
    pos += o.purchased;
  }
  const std::size_t neg = v.size() - pos;
  if (pos == 0 || neg == 0) return 0.5;
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  // Mann-Whitney U with mid-ranks for ties.
  double rank_sum = 0;
  for (std::size_t i = 0; i < v.size();) {
    std::size_t j = i;
    while (j < v.size() && v[j].first == v[i].first) ++j;
    const double mid = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    for (std::size_t t = i; t < j; ++t)
      if (v[t].second) rank_sum += mid;
    i = j;
  }
  const double p = static_cast<double>(pos), n = static_cast<double>(neg);
  return (rank_sum - p * (p + 1) / 2) / (p * n);
}

EvaluationResult evaluate(std::span<const Event> events, const EvaluationOptions& options) {
  EvaluationResult result;
  if (events.empty()) return result;
  TimestampMs first = events.front().time_ms, last = first;
  for (const Event& e : events) {
    first = std::min(first, e.time_ms);
    last = std::max(last, e.time_ms);
  }
  const TimestampMs split = first + static_cast<TimestampMs>(static_cast<double>(last - first) * options.train_fraction);
  result.split_ms = split;

  Recommender model(options.recommender);
  std::vector<Event> train;
  std::map<Id, std::vector<Id>> later;  // user -> products after the split, ordered map for determinism
  std::unordered_set<Id> catalogue;
  std::map<Id, std::unordered_set<Id>> touched_before;
  for (const Event& e : events) {
    const bool interest = options.recommender.type_weights[static_cast<std::size_t>(e.type)] > 0;
    if (e.time_ms < split) {
      train.push_back(e);
      if (e.product != kNoId) catalogue.insert(e.product);
      if (interest && e.user != kNoId && e.product != kNoId) touched_before[e.user].insert(e.product);
    } else {
      ++result.test_events;
      if (interest && e.user != kNoId && e.product != kNoId) later[e.user].push_back(e.product);
    }
  }
  result.train_events = train.size();
  result.catalogue = catalogue.size();
  model.apply(train);

  // Products each test user bought before the split are never recommended,
  // so they are not counted as relevant either.
  std::map<Id, std::unordered_set<Id>> bought_before;
  for (const Event& e : train)
    if (e.type == EventType::purchase && e.user != kNoId) bought_before[e.user].insert(e.product);

  struct Case {
    Id user;
    std::vector<Id> relevant;
  };
  std::vector<Case> cases;
  for (auto& [user, products] : later) {
    auto before = touched_before.find(user);
    if (before == touched_before.end()) continue;
    std::vector<Id> relevant;
    std::unordered_set<Id> seen;
    for (Id p : products) {
      if (!seen.insert(p).second) continue;
      if (bought_before[user].count(p)) continue;
      if (options.only_new_items && before->second.count(p)) continue;
      relevant.push_back(p);
    }
    if (relevant.empty()) continue;
    cases.push_back({user, std::move(relevant)});
    if (options.max_users && cases.size() >= options.max_users) break;
  }

  // The cluster's models: partition p learns the training events of the
  // users partition_of puts in p (events without a user stay with none).
  std::vector<Recommender> shards;
  if (options.partitions > 0 && options.partition_of) {
    result.partitions = options.partitions;
    shards.reserve(options.partitions);
    for (std::uint32_t p = 0; p < options.partitions; ++p) {
      shards.emplace_back(options.recommender);
      shards.back().set_keep([&options, p](const Event& e) {
        return e.user != kNoId && options.partition_of(e.user) == p;
      });
      shards.back().apply(train);
    }
  }

  auto rank = [&](const Recommender& m, Id user, Strategy s) {
    RecommendQuery q;
    q.user = user;
    q.limit = options.k;
    q.strategy = s;
    std::vector<Id> out;
    for (const Recommendation& r : m.recommend(q)) out.push_back(r.product);
    return out;
  };
  for (Strategy s : {Strategy::popularity, Strategy::item_cf, Strategy::user_cf, Strategy::hybrid}) {
    std::vector<RankedCase> ranked, sharded;
    ranked.reserve(cases.size());
    double overlap = 0;
    std::size_t compared = 0;
    for (const Case& c : cases) {
      ranked.push_back({rank(model, c.user, s), c.relevant});
      if (shards.empty()) continue;
      sharded.push_back({rank(shards[options.partition_of(c.user)], c.user, s), c.relevant});
      const std::vector<Id>& one = ranked.back().recommended;
      if (one.empty()) continue;
      const std::unordered_set<Id> in_one(one.begin(), one.end());
      std::size_t same = 0;
      for (Id id : sharded.back().recommended) same += in_one.count(id);
      overlap += static_cast<double>(same) / static_cast<double>(one.size());
      ++compared;
    }
    result.recommenders.push_back({std::string(to_string(s)), score_rankings(ranked, options.k, catalogue.size())});
    if (!shards.empty())
      result.partitioned.push_back({std::string(to_string(s)), score_rankings(sharded, options.k, catalogue.size()),
                                    compared ? overlap / static_cast<double>(compared) : 0});
  }

  PurchasePropensity propensity(options.recommender.propensity);
  std::vector<PropensityOutcome> outcomes;
  propensity.set_outcome_observer([&](const PropensityOutcome& o) {
    if (o.time_ms >= split) outcomes.push_back(o);
  });
  propensity.apply(events);
  result.auc = auc(outcomes);
  result.propensity_examples = outcomes.size();
  for (const PropensityOutcome& o : outcomes) result.propensity_positives += o.purchased;

  // The cluster's propensity: each partition's model sees only its users'
  // events; the AUC is taken over every partition's outcomes together.
  if (!shards.empty()) {
    std::vector<PropensityOutcome> cluster_outcomes;
    std::vector<Event> part;
    for (std::uint32_t p = 0; p < options.partitions; ++p) {
      part.clear();
      for (const Event& e : events)
        if (e.user != kNoId && options.partition_of(e.user) == p) part.push_back(e);
      PurchasePropensity model_p(options.recommender.propensity);
      model_p.set_outcome_observer([&](const PropensityOutcome& o) {
        if (o.time_ms >= split) cluster_outcomes.push_back(o);
      });
      model_p.apply(part);
    }
    result.partitioned_auc = auc(cluster_outcomes);
  }
  return result;
}

namespace {
std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// "hit_rate@k": ..., "precision@k": ..., ..., "coverage": ... (no braces).
std::string metrics_json(const RankingMetrics& m, const std::string& at) {
  return "\"hit_rate" + at + "\": " + number(m.hit_rate) + ", \"precision" + at + "\": " + number(m.precision) +
         ", \"recall" + at + "\": " + number(m.recall) + ", \"ndcg" + at + "\": " + number(m.ndcg) +
         ", \"coverage\": " + number(m.coverage);
}
}  // namespace

std::string to_json(const EvaluationResult& r, std::size_t k) {
  const std::string at = "@" + std::to_string(k);
  std::string out = "{\"recommenders\": {";
  for (std::size_t i = 0; i < r.recommenders.size(); ++i) {
    const RankingMetrics& m = r.recommenders[i].metrics;
    if (i) out += ", ";
    out += "\"" + r.recommenders[i].name + "\": {" + metrics_json(m, at) + ", \"users\": " + std::to_string(m.users) + "}";
  }
  out += "}";
  if (r.partitions > 0) {
    out += ", \"cluster\": {\"partitions\": " + std::to_string(r.partitions) + ", \"recommenders\": {";
    for (std::size_t i = 0; i < r.partitioned.size(); ++i) {
      const PartitionedResult& p = r.partitioned[i];
      if (i) out += ", ";
      out += "\"" + p.name + "\": {" + metrics_json(p.metrics, at) + ", \"overlap" + at + "\": " + number(p.overlap) +
             ", \"users\": " + std::to_string(p.metrics.users) + "}";
    }
    out += "}, \"propensity_auc\": " + number(r.partitioned_auc) + "}";
  }
  out += ", \"propensity\": {\"auc\": " + number(r.auc) + ", \"examples\": " +
         std::to_string(r.propensity_examples) + ", \"positives\": " + std::to_string(r.propensity_positives) + "}";
  out += ", \"split\": {\"time_ms\": " + std::to_string(r.split_ms) + ", \"train_events\": " +
         std::to_string(r.train_events) + ", \"test_events\": " + std::to_string(r.test_events) +
         ", \"catalogue\": " + std::to_string(r.catalogue) + "}}";
  return out;
}

std::string to_table(const EvaluationResult& r, std::size_t k) {
  std::string out;
  char line[256];
  const std::string ks = std::to_string(k);
  auto row = [&](const std::string& name, const RankingMetrics& m, const char* extra) {
    std::snprintf(line, sizeof line, "%-12s %10.4f %10.4f %10.4f %10.4f %10.4f %7zu%s\n", name.c_str(), m.hit_rate,
                  m.precision, m.recall, m.ndcg, m.coverage, m.users, extra);
    out += line;
  };
  std::snprintf(line, sizeof line, "%-12s %10s %10s %10s %10s %10s %7s\n", "recommender", ("HR@" + ks).c_str(),
                ("P@" + ks).c_str(), ("R@" + ks).c_str(), ("NDCG@" + ks).c_str(), "coverage", "users");
  out += line;
  for (const StrategyResult& s : r.recommenders) row(s.name, s.metrics, "");
  if (r.partitions > 0) {
    std::snprintf(line, sizeof line, "cluster of %u partitions (each user answered by the model of its partition):\n",
                  r.partitions);
    out += line;
    for (const PartitionedResult& p : r.partitioned) {
      char overlap[64];
      std::snprintf(overlap, sizeof overlap, "  overlap@%zu with one node %.4f", k, p.overlap);
      row(p.name, p.metrics, overlap);
    }
    std::snprintf(line, sizeof line, "propensity AUC %.4f with each partition's model\n", r.partitioned_auc);
    out += line;
  }
  std::snprintf(line, sizeof line, "propensity AUC %.4f over %zu examples (%zu positive)\n", r.auc,
                r.propensity_examples, r.propensity_positives);
  out += line;
  std::snprintf(line, sizeof line, "train %zu events, test %zu events, catalogue %zu products\n", r.train_events,
                r.test_events, r.catalogue);
  out += line;
  return out;
}

}  // namespace shoppulse
