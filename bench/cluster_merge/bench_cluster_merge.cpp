// bench_cluster_merge: the cost of merging members' partial answers in the
// cluster query layer (src/cluster/merge.cpp), one thread, on answers shaped
// as the routes write them: a per-minute series of 60 points (trends,
// step=1m, one hour), a popular-products answer with 10k candidates per
// member (limit 10 asked as 10k), trending's whole candidate lists (10k
// products with three hours of counts per member, added and ranked), and
// the real-time window. Each workload is
// merged for 3, 10 and 100 members; the figure is the time of one merge
// (parse every part, merge, write the answer), p50 and p99 over the runs.
#include <fmt/core.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "common/options.hpp"
#include "common/report.hpp"
#include "shoppulse/cluster/merge.hpp"

using namespace shoppulse;
using namespace shoppulse::bench;
using namespace shoppulse::cluster;

namespace {

std::string kpis(std::mt19937_64& rng) {
  const auto n = [&](int max) { return std::to_string(rng() % std::uint64_t(max)); };
  return "\"active_users\":" + n(500) + ",\"page_views\":" + n(5000) + ",\"clicks\":" + n(2000) +
         ",\"add_to_cart\":" + n(300) + ",\"remove_from_cart\":" + n(50) + ",\"favorites\":" + n(100) +
         ",\"purchases\":" + n(80) + ",\"ratings\":0,\"total_events\":" + n(8000) + ",\"revenue\":" + n(100000) +
         ".25,\"average_order_value\":12.50,\"conversion_rate\":3.5,\"viewers\":" + n(400) + ",\"purchasers\":" +
         n(60);
}

// trends?step=1m over one hour.
std::string series(std::mt19937_64& rng, int points) {
  std::string out = "{\"step\":\"1m\",\"from\":\"2026-12-04T10:00:00Z\",\"to\":\"2026-12-04T11:00:00Z\",\"points\":[";
  for (int m = 0; m < points; ++m) {
    out += fmt::format("{}{{\"start\":\"2026-12-04T{:02}:{:02}:00Z\",", m ? "," : "", 10 + m / 60, m % 60);
    out += kpis(rng) + ",\"unique_users\":" + std::to_string(rng() % 500) + "}";
  }
  return out + "],\"complete\":true,\"applied_sequence\":1,\"logged_sequence\":1}";
}

// popular with `candidates` products, best first, ids overlapping between
// members (one catalogue of 3 x candidates).
std::string popular(std::mt19937_64& rng, int candidates) {
  std::vector<std::pair<std::int64_t, int>> items;
  std::vector<int> ids(std::size_t(candidates) * 3);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = int(i);
  std::shuffle(ids.begin(), ids.end(), rng);
  for (int i = 0; i < candidates; ++i) items.emplace_back(std::int64_t(1 + rng() % 1000), ids[std::size_t(i)]);
  std::sort(items.begin(), items.end(), [](auto& a, auto& b) { return a.first > b.first; });
  std::string out = "{\"products\":[";
  for (std::size_t i = 0; i < items.size(); ++i)
    out += fmt::format("{}{{\"product_id\":\"p{}\",\"category_id\":\"c{}\",\"interactions\":{}}}", i ? "," : "",
                       items[i].second, items[i].second % 97, items[i].first);
  return out +
         "],\"start\":\"2026-12-04T10:00:00Z\",\"end\":\"2026-12-04T11:00:00Z\",\"event_type\":\"all\","
         "\"complete\":true,\"applied_sequence\":1,\"logged_sequence\":1}";
}

// trending's whole candidate list (scope=local&limit=all) of a member that
// counted `candidates` products in its last three clock hours, ids
// overlapping between members (one catalogue of 3 x candidates).
std::string trending(std::mt19937_64& rng, int candidates) {
  constexpr std::int64_t kNow = 1796400000000;  // 2026-12-04, any fixed clock works
  const std::int64_t hour = kNow / 3600000;
  std::string out = "{\"algorithm\":\"trending\",\"now\":" + std::to_string(kNow) + ",\"candidates\":[";
  for (int i = 0; i < candidates; ++i) {
    const auto id = rng() % std::uint64_t(3 * candidates);
    const auto back = std::int64_t(rng() % 3);
    out += fmt::format("{}{{\"product_id\":\"p{}\",\"category_id\":\"c{}\",\"last_seen\":{},\"hour\":{},"
                       "\"counts\":[{},{},{}]}}",
                       i ? "," : "", id, id % 97, kNow - back * 3600000, hour - back, rng() % 20, rng() % 20,
                       rng() % 20);
  }
  return out + "],\"complete\":true,\"applied_sequence\":1,\"logged_sequence\":1}";
}

std::string realtime(std::mt19937_64& rng) {
  std::string out = "{" + kpis(rng) + ",\"popular_products\":[";
  for (int i = 0; i < 10; ++i)
    out += fmt::format("{}{{\"product_id\":\"p{}\",\"interactions\":{}}}", i ? "," : "", rng() % 100, 100 - i);
  out += "],\"time_window\":\"5m\",\"window\":{\"start\":\"2026-12-04T10:55:00Z\",\"end\":\"2026-12-04T11:00:00Z\"},"
         "\"previous\":{" + kpis(rng) + "},\"funnel\":[";
  const char* steps[] = {"view", "click", "add_to_cart", "purchase"};
  for (int i = 0; i < 4; ++i)
    out += fmt::format("{}{{\"step\":\"{}\",\"users\":{},\"previous_users\":{}}}", i ? "," : "", steps[i],
                       400 - 90 * i, 380 - 90 * i);
  return out + "],\"currency\":\"CNY\",\"complete\":true,\"applied_sequence\":1,\"logged_sequence\":1}";
}

void run(Report& report, const std::string& name, const std::vector<std::string>& bodies, const MergeOptions& o,
         int runs) {
  std::vector<double> us;
  std::size_t bytes = 0;
  for (const auto& b : bodies) bytes += b.size();
  for (int r = 0; r < runs; ++r) {
    Stopwatch w;
    auto merged = merge_answers(bodies, o);
    us.push_back(w.seconds() * 1e6);
    if (!merged) {
      report.note(name + ": merge failed: " + merged.error().detail);
      return;
    }
  }
  report.result(name + " bytes in", double(bytes), "B");
  report.result(name + " p50", percentile(us, 0.5), "us");
  report.result(name + " p99", percentile(us, 0.99), "us");
}

}  // namespace

int main(int argc, char** argv) {
  Options options(argc, argv);
  const int runs = int(options.integer("runs", 200, 5));
  const int candidates = int(options.integer("candidates", 10000, 1000));
  options.finish();
  Report report("cluster_merge", options.quick());
  report.param("runs", std::int64_t{runs});
  report.param("candidates", std::int64_t{candidates});
  std::mt19937_64 rng(42);
  for (int members : {3, 10, 100}) {
    report.section(fmt::format("{} members", members));
    std::vector<std::string> s, p, rt, tr;
    for (int m = 0; m < members; ++m) {
      s.push_back(series(rng, 60));
      rt.push_back(realtime(rng));
      if (members <= 10) p.push_back(popular(rng, candidates));
      if (members <= 10) tr.push_back(trending(rng, candidates));
    }
    run(report, "per-minute 60 points", s, MergeOptions{MergeKind::trends}, runs);
    MergeOptions rto{MergeKind::realtime};
    run(report, "real-time window", rt, rto, runs);
    if (!p.empty()) {
      MergeOptions po{MergeKind::popular};
      po.limit = 10;
      po.asked_limit = std::size_t(candidates);
      run(report, fmt::format("popular top 10 of {} candidates", candidates), p, po, std::max(5, runs / 10));
    }
    if (!tr.empty()) {
      MergeOptions to{MergeKind::trending};
      to.limit = 10;
      run(report, fmt::format("trending top 10 of {} candidates", candidates), tr, to, std::max(5, runs / 10));
    }
  }
  return 0;
}
