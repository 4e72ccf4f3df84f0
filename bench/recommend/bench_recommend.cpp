// bench_recommend: the Recommender on one core, on two workloads.
//  - generated: ShopSimulator events (Zipf product popularity, users with 1-3
//    preferred categories, per-user activity skew), 100k users x 50k
//    products, a fast event clock;
//  - taobao-amplified: the Taobao sample repeated --taobao-copies times with
//    ids offset per copy and time shifted by the sample's span, the rule of
//    bench/workloads/amplify_taobao.py (45 copies: 4,963,500 events, ~3.0 M
//    users, ~3.8 M items, ~14 events per second of event time), built in
//    memory from the sample; skipped, with a message, when the sample is
//    absent.
// Each workload, pre-interned, is applied in slices of the recommend
// thread's pop batch; then personal queries for random users with each
// strategy, similar() for random and for popular products, the cold-start
// lists, the model's statistics and resident memory, and the checkpoint.
// Every figure is printed under a section that names its workload.
#include <fmt/core.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "common/background_probe.hpp"
#include "common/machine_limits.hpp"
#include "common/options.hpp"
#include "common/report.hpp"
#include "common/system_probe.hpp"
#include "common/workload.hpp"
#include "shoppulse/core/byte_codec.hpp"
#include "shoppulse/importer/importer.hpp"
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

struct Workload {
  std::string name;
  std::vector<Event> events;
  std::size_t users = 0, products = 0, categories = 0, locations = 0;
  double rss_before = 0;
};

struct RunSettings {
  std::size_t slice = 4096;
  int queries = 500;
  std::size_t limit = 10;
};

// The Taobao sample repeated `copies` times, copy k with user and item ids
// offset by k x (the sample's distinct count) and time by k x span: the same
// structure amplify_taobao.py writes, interned as the importer would.
bool taobao_amplified(Report& report, std::size_t copies, std::size_t limit_rows, Workload& w) {
  const char* env = std::getenv("SHOPPULSE_TAOBAO_CSV");
  const std::string path = env ? env : SHOPPULSE_TAOBAO_SAMPLE;
  auto loaded = load_events(path, ImportFormat::taobao_csv);
  if (!loaded) {
    report.note(fmt::format("skip: workload taobao-amplified: the Taobao sample is not available ({})",
                            loaded.error().detail));
    return false;
  }
  const std::vector<Event>& sample = loaded->events;
  if (sample.empty()) {
    report.note("skip: workload taobao-amplified: the Taobao sample is empty");
    return false;
  }
  const Dictionary& dict = *loaded->dictionary;
  const Id users = static_cast<Id>(dict.table(IdKind::user).size());
  const Id products = static_cast<Id>(dict.table(IdKind::product).size());
  TimestampMs first = sample.front().time_ms, last = sample.front().time_ms;
  for (const Event& e : sample) {
    first = std::min(first, e.time_ms);
    last = std::max(last, e.time_ms);
  }
  const TimestampMs span = last - first + 1000;  // the script's span: last - first + 1 s
  w.events.reserve(std::min(limit_rows ? limit_rows : sample.size() * copies, sample.size() * copies));
  Sequence seq = 0;
  for (std::size_t k = 0; k < copies; ++k)
    for (const Event& e : sample) {
      if (limit_rows && w.events.size() >= limit_rows) break;
      Event c = e;
      const Id kk = static_cast<Id>(k);
      if (c.user != kNoId) c.user += kk * users;
      if (c.product != kNoId) c.product += kk * products;
      c.time_ms += static_cast<TimestampMs>(k) * span;
      c.sequence = ++seq;
      w.events.push_back(c);
    }
  w.users = std::size_t{users} * copies;
  w.products = std::size_t{products} * copies;
  w.categories = dict.table(IdKind::category).size();
  w.locations = dict.table(IdKind::location).size();
  const double hours = double(w.events.back().time_ms - w.events.front().time_ms) / 3.6e6;
  report.param("taobao-amplified: sample", path);
  report.param("taobao-amplified: copies", static_cast<std::int64_t>(copies));
  report.param("taobao-amplified: events", static_cast<std::int64_t>(w.events.size()));
  report.param("taobao-amplified: users / products / categories (at most)",
               fmt::format("{} / {} / {}", w.users, w.products, w.categories));
  report.param("taobao-amplified: event time covered", hours, "h");
  report.param("taobao-amplified: event-time rate", double(w.events.size()) / (hours * 3600), "events/s");
  return true;
}

void run(Report& report, Workload& w, const RunSettings& r) {
  const std::size_t n_events = w.events.size();
  const std::size_t slice = r.slice;
  const int queries = r.queries;
  const std::size_t limit = r.limit;
  std::size_t interest = 0;
  const RecommenderConfig defaults;
  for (const Event& e : w.events)
    if (defaults.type_weights[static_cast<std::size_t>(e.type)] > 0) ++interest;
  report.section(w.name + ": workload");
  report.param("interest events (type weight > 0)", static_cast<std::int64_t>(interest));
  w.rss_before = double(rss_bytes()) / (1 << 20);
  report.result("RSS before the Recommender (events array included)", w.rss_before, "MiB");

  report.section(w.name + ": " "model update: Recommender::apply");
  Recommender rec;
  std::vector<double> quarter_s(4, 0.0);
  double apply_s = 0;
  const double cpu0 = thread_cpu_seconds();
  for (std::size_t i = 0; i < w.events.size(); i += slice) {
    const std::size_t n = std::min(slice, w.events.size() - i);
    Stopwatch watch;
    rec.apply(std::span<const Event>(w.events.data() + i, n));
    const double s = watch.seconds();
    apply_s += s;
    quarter_s[std::min<std::size_t>(3, i * 4 / w.events.size())] += s;
  }
  const double apply_cpu = thread_cpu_seconds() - cpu0;
  const double rss_after = double(rss_bytes()) / (1 << 20);
  report.result("apply cost per event (wall)", apply_s / double(n_events) * 1e9, "ns/event", "<= 2000 ns/event");
  report.result("apply cost per event (thread CPU)", apply_cpu / double(n_events) * 1e9, "ns/event");
  report.result("apply rate (wall)", double(n_events) / apply_s / 1e6, "M events/s");
  report.result("CPU share the thread got while applying", apply_cpu / apply_s, "");
  for (int q = 0; q < 4; ++q)
    report.result(fmt::format("apply cost per event, quarter {} of the events", q + 1),
                  quarter_s[static_cast<std::size_t>(q)] / (double(n_events) / 4) * 1e9, "ns/event");
  report.result("RSS after apply", rss_after, "MiB");
  report.result("RSS growth (the model)", rss_after - w.rss_before, "MiB");
  report.note("RSS growth undercounts a workload run after another: freed memory is reused");
  Stopwatch memory_watch;
  const std::size_t model_bytes = rec.approximate_memory_bytes();
  report.result("model memory (approximate_memory_bytes)", double(model_bytes) / (1 << 20), "MiB");
  report.result("approximate_memory_bytes() time", memory_watch.seconds() * 1e3, "ms");

  const RecommenderStats st = rec.stats();
  report.result("stats: items", double(st.items), "");
  report.result("stats: users", double(st.users), "");
  report.result("stats: neighbour entries", double(st.neighbour_entries), "");
  report.result("stats: neighbour entries per item", st.items ? double(st.neighbour_entries) / double(st.items) : 0,
                "");
  report.result("stats: applied events", double(st.applied_events), "");
  report.result("stats: evicted items / users", double(st.evicted_items + st.evicted_users), "");
  report.result("model bytes per event applied", (rss_after - w.rss_before) * (1 << 20) / double(n_events), "B");

  report.section(w.name + ": " "recommendation requests (random users)");
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<Id> pick_user(1, static_cast<Id>(std::max<std::size_t>(w.users, 1)));
  std::uniform_int_distribution<Id> pick_product(1, static_cast<Id>(std::max<std::size_t>(w.products, 1)));
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

  report.section(w.name + ": " "similar() (item-CF neighbours)");
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

  report.section(w.name + ": " "cold-start lists (the parts hybrid blends besides item/user CF)");
  {
    // Location ids are 1..distinct(location) (the simulator's cities).
    Latency loc, cat, trend;
    std::uniform_int_distribution<Id> pick_category(1, static_cast<Id>(std::max<std::size_t>(w.categories, 1)));
    for (int i = 0; i < queries; ++i) {
      PopularQuery pq;
      pq.limit = limit;
      pq.location = static_cast<Id>(1 + static_cast<std::size_t>(i) % std::max<std::size_t>(w.locations, 1));
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

  // checkpoint() is what a foreground checkpoint (and the one at stop)
  // holds the recommend thread for; a background one holds it for the fork
  // only. A restart pays for restore().
  report.section(w.name + ": " "checkpoint of the model (recommend thread pause; restart)");
  {
    Stopwatch first_watch;
    (void)rec.checkpoint();
    report.result("checkpoint() time, first", first_watch.seconds() * 1e3, "ms");
    Stopwatch save_watch;  // later ones reuse the last size for their buffer
    const std::string bytes = rec.checkpoint();
    report.result("checkpoint() time, next", save_watch.seconds() * 1e3, "ms");
    report.result("checkpoint size", double(bytes.size()) / (1 << 20), "MiB");
    report.result("checkpoint bytes per event applied", double(bytes.size()) / double(n_events), "B");
    {
      Stopwatch propensity_watch;
      ByteWriter part;
      rec.propensity().save(part);
      report.result("of which the propensity model", double(part.size()) / (1 << 20), "MiB");
      report.result("propensity save time", propensity_watch.seconds() * 1e3, "ms");
    }
    {
      // What the recommend thread pays for a periodic checkpoint
      // (recommend.checkpoint_in_background = true): the fork only.
      report_background_checkpoint(report, "recommend", [&rec] { return rec.checkpoint(); }, bytes);
    }
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
}

}  // namespace

int main(int argc, char** argv) {
  Options opts(argc, argv);
  const auto users = static_cast<std::size_t>(opts.integer("users", 100000, 2000));
  const auto products = static_cast<std::size_t>(opts.integer("products", 50000, 1000));
  const auto categories = static_cast<std::size_t>(opts.integer("categories", 500, 50));
  const auto events = static_cast<std::size_t>(opts.integer("events", 5000000, 50000));
  const double event_rate = opts.number("event-rate", 1000, 1000);
  const bool generated = opts.integer("generated", 1, 1) != 0;
  const auto copies = static_cast<std::size_t>(opts.integer("taobao-copies", 45, 1));
  const auto taobao_rows = static_cast<std::size_t>(opts.integer("taobao-rows", 0, 50000));
  RunSettings settings;
  settings.slice = static_cast<std::size_t>(opts.integer("slice", 4096, 4096));
  settings.queries = static_cast<int>(opts.integer("queries", 500, 100));
  settings.limit = static_cast<std::size_t>(opts.integer("limit", 10, 10));
  // Two builds compared side by side: one on each cpu, at the same time.
  const auto cpu = static_cast<unsigned>(opts.integer("cpu", 0, 0));
  opts.finish();

  Report report("bench_recommend", opts.quick());
  report.section("parameters");
  report.param("threads", "1 (the caller applies and queries; no runner)");
  const bool pinned = pin_to_cpu(cpu);
  report.param(fmt::format("pinned to cpu {}", cpu), pinned ? "yes" : "no");
  report.param("apply() slice (recommend thread pop batch)", static_cast<std::int64_t>(settings.slice));
  report.param("queries per strategy (random users, uniform)", static_cast<std::int64_t>(settings.queries));
  report.param("list length (limit)", static_cast<std::int64_t>(settings.limit));
  report.param("RecommenderConfig", "library defaults");
  report.param("RSS at start", double(rss_bytes()) / (1 << 20), "MiB");

  if (generated) {
    Workload w;
    w.name = "generated";
    report.section("generated: parameters");
    report.param("generated: catalogue users / products / categories",
                 fmt::format("{} / {} / {}", users, products, categories));
    report.param("generated: events", static_cast<std::int64_t>(events));
    report.param("generated: event-time rate", event_rate, "events/s");
    report.param("generated: event time covered", double(events) / event_rate, "s");
    GeneratorConfig config = shop_config(users, products);
    config.categories_count = categories;
    EventInterner interner;
    Stopwatch gen;
    w.events = make_events(config, events, kStartMs, event_rate, interner);
    report.result("generated: ShopSimulator + intern rate (setup)", double(events) / gen.seconds() / 1e6,
                  "M events/s");
    w.users = interner.distinct(IdKind::user);
    w.products = interner.distinct(IdKind::product);
    w.categories = interner.distinct(IdKind::category);
    w.locations = interner.distinct(IdKind::location);
    report.param("generated: distinct users / products / categories / locations in the events",
                 fmt::format("{} / {} / {} / {}", w.users, w.products, w.categories, w.locations));
    run(report, w, settings);
  }
  if (copies > 0) {
    Workload w;
    w.name = "taobao-amplified";
    report.section("taobao-amplified: parameters");
    if (taobao_amplified(report, copies, taobao_rows, w)) run(report, w, settings);
  }

  measure_machine_limits(report, opts.quick());
  return 0;
}
