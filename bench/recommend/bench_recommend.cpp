// bench_recommend: the Recommender on one core, at the scale of a large shop.
// ShopSimulator events (Zipf product popularity, users with 1-3 preferred
// categories, per-user activity skew), pre-interned, are applied in slices of
// the recommend thread's pop batch; then personal queries for random users
// with each strategy, similar() for random and for popular products, and the
// model's statistics and resident memory.
#include <fmt/core.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "common/machine_limits.hpp"
#include "common/options.hpp"
#include "common/report.hpp"
#include "common/system_probe.hpp"
#include "common/workload.hpp"
#include "shoppulse/recommend/recommender.hpp"

using namespace shoppulse;
using namespace shoppulse::bench;

namespace {

constexpr TimestampMs kStartMs = 1700000000000;  // 2023-11-14, any fixed time works

struct Latency {
  std::vector<double> us;
  double items = 0;  // items returned, summed
};

void report_latency(Report& report, const std::string& what, Latency& l, std::string_view target) {
  double sum = 0, max = 0;
  for (double v : l.us) {
    sum += v;
    max = std::max(max, v);
  }
  const double n = double(l.us.size());
  report.result(what + " mean", sum / n, "us");
  report.result(what + " p50", percentile(l.us, 0.5), "us");
  report.result(what + " p99", percentile(l.us, 0.99), "us", target);
  report.result(what + " max", max, "us");
  report.result(what + " items returned (mean)", l.items / n, "");
}

}  // namespace

int main(int argc, char** argv) {
  Options opts(argc, argv);
  const auto users = static_cast<std::size_t>(opts.integer("users", 100000, 2000));
  const auto products = static_cast<std::size_t>(opts.integer("products", 50000, 1000));
  const auto categories = static_cast<std::size_t>(opts.integer("categories", 500, 50));
  const auto events = static_cast<std::size_t>(opts.integer("events", 5000000, 50000));
  const double event_rate = opts.number("event-rate", 1000, 1000);
  const auto slice = static_cast<std::size_t>(opts.integer("slice", 4096, 4096));
  const int queries = static_cast<int>(opts.integer("queries", 500, 100));
  const auto limit = static_cast<std::size_t>(opts.integer("limit", 10, 10));
  opts.finish();

  Report report("bench_recommend", opts.quick());
  report.section("parameters");
  report.param("threads", "1 (the caller applies and queries; no runner)");
  const bool pinned = pin_to_cpu(0);
  report.param("pinned to cpu 0", pinned ? "yes" : "no");
  report.param("catalogue users / products / categories", fmt::format("{} / {} / {}", users, products, categories));
  report.param("events", static_cast<std::int64_t>(events));
  report.param("event-time rate", event_rate, "events/s");
  report.param("event time covered", double(events) / event_rate, "s");
  report.param("apply() slice (recommend thread pop batch)", static_cast<std::int64_t>(slice));
  report.param("queries per strategy (random users, uniform)", static_cast<std::int64_t>(queries));
  report.param("list length (limit)", static_cast<std::int64_t>(limit));
  report.param("RecommenderConfig", "library defaults");

  report.section("workload");
  const double rss_start = double(rss_bytes()) / (1 << 20);
  std::vector<Event> batch;
  std::size_t seen_users = 0, seen_products = 0, seen_categories = 0, seen_locations = 0;
  {
    GeneratorConfig config = shop_config(users, products);
    config.categories_count = categories;
    EventInterner interner;
    Stopwatch gen;
    batch = make_events(config, events, kStartMs, event_rate, interner);
    report.result("ShopSimulator + intern rate (setup)", double(events) / gen.seconds() / 1e6, "M events/s");
    seen_users = interner.distinct(IdKind::user);
    seen_products = interner.distinct(IdKind::product);
    seen_categories = interner.distinct(IdKind::category);
    seen_locations = interner.distinct(IdKind::location);
  }
  std::size_t interest = 0;
  const RecommenderConfig defaults;
  for (const Event& e : batch)
    if (defaults.type_weights[static_cast<std::size_t>(e.type)] > 0) ++interest;
  report.param("distinct users / products / categories / locations in the events",
               fmt::format("{} / {} / {} / {}", seen_users, seen_products, seen_categories, seen_locations));
  report.param("interest events (type weight > 0)", static_cast<std::int64_t>(interest));
  report.param("RSS at start", rss_start, "MiB");
  const double rss_before = double(rss_bytes()) / (1 << 20);
  report.result("RSS before the Recommender (events array included)", rss_before, "MiB");

  report.section("model update: Recommender::apply");
  Recommender rec;
  std::vector<double> quarter_s(4, 0.0);
  double apply_s = 0;
  const double cpu0 = thread_cpu_seconds();
  for (std::size_t i = 0; i < batch.size(); i += slice) {
    const std::size_t n = std::min(slice, batch.size() - i);
    Stopwatch watch;
    rec.apply(std::span<const Event>(batch.data() + i, n));
    const double s = watch.seconds();
    apply_s += s;
    quarter_s[std::min<std::size_t>(3, i * 4 / batch.size())] += s;
  }
  const double apply_cpu = thread_cpu_seconds() - cpu0;
  const double rss_after = double(rss_bytes()) / (1 << 20);
  report.result("apply cost per event (wall)", apply_s / double(events) * 1e9, "ns/event", "<= 2000 ns/event");
  report.result("apply cost per event (thread CPU)", apply_cpu / double(events) * 1e9, "ns/event");
  report.result("apply rate (wall)", double(events) / apply_s / 1e6, "M events/s");
  report.result("CPU share the thread got while applying", apply_cpu / apply_s, "");
  for (int q = 0; q < 4; ++q)
    report.result(fmt::format("apply cost per event, quarter {} of the events", q + 1),
                  quarter_s[static_cast<std::size_t>(q)] / (double(events) / 4) * 1e9, "ns/event");
  report.result("RSS after apply", rss_after, "MiB");
  report.result("RSS growth (the model)", rss_after - rss_before, "MiB");

  const RecommenderStats st = rec.stats();
  report.result("stats: items", double(st.items), "");
  report.result("stats: users", double(st.users), "");
  report.result("stats: neighbour entries", double(st.neighbour_entries), "");
  report.result("stats: neighbour entries per item", st.items ? double(st.neighbour_entries) / double(st.items) : 0,
                "");
  report.result("stats: applied events", double(st.applied_events), "");
  report.result("stats: evicted items / users", double(st.evicted_items + st.evicted_users), "");
  report.result("model bytes per event applied", (rss_after - rss_before) * (1 << 20) / double(events), "B");

  report.section("recommendation requests (random users)");
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<Id> pick_user(1, static_cast<Id>(std::max<std::size_t>(seen_users, 1)));
  std::uniform_int_distribution<Id> pick_product(1, static_cast<Id>(std::max<std::size_t>(seen_products, 1)));
  const double qcpu0 = thread_cpu_seconds();
  Stopwatch qwall;
  for (Strategy strategy : {Strategy::hybrid, Strategy::item_cf, Strategy::user_cf, Strategy::popularity}) {
    Latency lat;
    lat.us.reserve(static_cast<std::size_t>(queries));
    RecommendQuery query;
    query.limit = limit;
    query.strategy = strategy;
    for (int i = 0; i < queries / 10; ++i) {  // warm-up, not recorded
      query.user = pick_user(rng);
      (void)rec.recommend(query);
    }
    for (int i = 0; i < queries; ++i) {
      query.user = pick_user(rng);
      Stopwatch watch;
      const auto answer = rec.recommend(query);
      lat.us.push_back(watch.seconds() * 1e6);
      lat.items += double(answer.size());
    }
    report_latency(report, fmt::format("recommend {}", to_string(strategy)), lat, "p99 <= 1000 us");
  }

  report.section("similar() (item-CF neighbours)");
  {
    Latency lat;
    for (int i = 0; i < queries; ++i) {
      const Id p = pick_product(rng);
      Stopwatch watch;
      const auto answer = rec.similar(p, limit);
      lat.us.push_back(watch.seconds() * 1e6);
      lat.items += double(answer.size());
    }
    report_latency(report, "similar, random products", lat, "");
  }
  {
    PopularQuery pq;
    pq.limit = 100;
    const auto top = rec.popular(pq);
    Latency lat;
    if (!top.empty()) {
      for (int i = 0; i < queries; ++i) {
        const Id p = top[static_cast<std::size_t>(i) % top.size()].product;
        Stopwatch watch;
        const auto answer = rec.similar(p, limit);
        lat.us.push_back(watch.seconds() * 1e6);
        lat.items += double(answer.size());
      }
      report.param("popular products cycled", static_cast<std::int64_t>(top.size()));
      report_latency(report, "similar, 100 most popular products", lat, "");
    }
  }

  report.section("cold-start lists (the parts hybrid blends besides item/user CF)");
  {
    // Location ids are 1..distinct(location) (the simulator's cities).
    Latency loc, cat, trend;
    std::uniform_int_distribution<Id> pick_category(1, static_cast<Id>(std::max<std::size_t>(seen_categories, 1)));
    for (int i = 0; i < queries; ++i) {
      PopularQuery pq;
      pq.limit = limit;
      pq.location = static_cast<Id>(1 + static_cast<std::size_t>(i) % std::max<std::size_t>(seen_locations, 1));
      Stopwatch w1;
      loc.items += double(rec.popular(pq).size());
      loc.us.push_back(w1.seconds() * 1e6);
      pq.location = kNoId;
      pq.category = pick_category(rng);
      Stopwatch w2;
      cat.items += double(rec.popular(pq).size());
      cat.us.push_back(w2.seconds() * 1e6);
      Stopwatch w3;
      trend.items += double(rec.trending(limit).size());
      trend.us.push_back(w3.seconds() * 1e6);
    }
    report_latency(report, "popular in location (last hour)", loc, "");
    report_latency(report, "popular in category", cat, "");
    report_latency(report, "trending", trend, "");
  }
  report.result("CPU share the thread got while querying", (thread_cpu_seconds() - qcpu0) / qwall.seconds(), "");
  report.result("RSS after the queries", double(rss_bytes()) / (1 << 20), "MiB");

  // The recommend thread pauses for checkpoint() every
  // recommend.checkpoint_interval; a restart pays for restore().
  report.section("checkpoint of the model (recommend thread pause; restart)");
  {
    Stopwatch first_watch;
    (void)rec.checkpoint();
    report.result("checkpoint() time, first", first_watch.seconds() * 1e3, "ms");
    Stopwatch save_watch;  // later ones reuse the last size for their buffer
    const std::string bytes = rec.checkpoint();
    report.result("checkpoint() time, next", save_watch.seconds() * 1e3, "ms");
    report.result("checkpoint size", double(bytes.size()) / (1 << 20), "MiB");
    report.result("checkpoint bytes per event applied", double(bytes.size()) / double(events), "B");
    Stopwatch restore_watch;
    auto restored = Recommender::restore(RecommenderConfig{}, bytes);
    report.result("restore() time", restore_watch.seconds() * 1e3, "ms");
    if (!restored) {
      report.result("restore failed", 1, "");
    } else {
      RecommendQuery q;
      q.user = 1;
      const bool same = restored.value().recommend(q).size() == rec.recommend(q).size() &&
                        restored.value().stats().neighbour_entries == st.neighbour_entries;
      report.result("restored model answers like the original (1 = yes)", same ? 1 : 0, "");
      report.result("replay of the same events for comparison (apply time)", apply_s * 1e3, "ms");
    }
  }

  measure_machine_limits(report, opts.quick());
  return 0;
}
