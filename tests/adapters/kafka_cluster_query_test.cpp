// The cluster query layer on a real broker: three cluster nodes and one
// single node get the same slice of the Taobao sample (spread over the
// cluster's nodes, whole to the single node); once every node has consumed
// its partitions, every analytics and product endpoint asked of EVERY
// cluster node equals the single node's answer, with complete coverage; a
// user's profile and recommendations come from the member owning the user's
// partition whichever node is asked; the user list pages through every
// member's users. A member stopped with SIGSTOP is reported missing within
// cluster.query_timeout (and fails a page of its users).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cluster_rig.hpp"
#include "integration/taobao_dataset.hpp"
#include "json_tree.hpp"
#include "shoppulse/cluster/query.hpp"
#include "shoppulse/core/key_partition.hpp"

namespace si = shoppulse::integration;
namespace sj = shoppulse::cluster::json;
using namespace shoppulse::cluster_rig;

namespace {

constexpr std::size_t kSlice = 10000;
constexpr std::int64_t kQueryTimeoutMs = 2000;

struct Slice {
  std::vector<std::string> events;  // JSON objects of POST /api/events
  std::vector<std::string> users;   // in order of first appearance
  std::int64_t min_ms = 0, max_ms = 0;
};

Slice taobao_slice() {
  std::ifstream in(si::taobao_dataset_path());
  Slice s;
  std::set<std::string> seen;
  std::string line;
  s.min_ms = INT64_MAX;
  while (s.events.size() < kSlice && std::getline(in, line)) {
    std::vector<std::string> f;
    std::size_t pos = 0;
    for (;;) {
      const std::size_t comma = line.find(',', pos);
      f.push_back(line.substr(pos, comma - pos));
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
    if (f.size() != 5) continue;
    const std::string type = f[3] == "pv" ? "view" : f[3] == "buy" ? "purchase" : f[3] == "cart" ? "add_to_cart"
                                                                                                  : "favorite";
    const std::int64_t ms = std::stoll(f[4]) * 1000;
    s.min_ms = std::min(s.min_ms, ms);
    s.max_ms = std::max(s.max_ms, ms);
    const std::string user = "u" + f[0];
    if (seen.insert(user).second) s.users.push_back(user);
    // Prices make revenue: a purchase costs its item id modulo 10000 cents.
    std::string e = "{\"event_id\":\"t" + std::to_string(s.events.size()) + "\",\"user_id\":\"" + user +
                    "\",\"event_type\":\"" + type + "\",\"product_id\":\"p" + f[1] + "\",\"category_id\":\"c" + f[2] +
                    "\",\"timestamp\":" + std::to_string(ms);
    if (type == "purchase") {
      const long cents = 100 + std::stol(f[1]) % 10000;
      e += ",\"price\":" + std::to_string(cents / 100) + "." + (cents % 100 < 10 ? "0" : "") + std::to_string(cents % 100);
    }
    s.events.push_back(e + "}");
  }
  return s;
}

// What two answers may differ in: when and by which node they were made,
// and a user's purchase propensity, which each node's recommender learns
// from its own users (README: not merged).
// A funnel step's times to convert are per member (README: the median is
// one member's, the average weighted by users up to rounding).
bool ignored(const std::string& key) {
  // "seconds": how long a range answer's read of the log took (scan), which
  // differs between nodes and runs (0.00 against 0.01 on a loaded machine).
  return key == "coverage" || key == "applied_sequence" || key == "logged_sequence" || key == "timestamp" ||
         key == "sequence" || key == "purchase_propensity" || key == "median_time_to_convert_ms" ||
         key == "average_time_to_convert_ms" || key == "seconds";
}

// The WebSocket push's top lists are merged in one round from each member's
// windows.top_n, not provably the top of the union (coverage.exact_top;
// README): compared only where that is asked.
bool skip_top_lists = false;

bool is_id(const std::string& k) {
  return k == "product_id" || k == "category_id" || k == "device" || k == "location";
}

// What a top list ranks by: a count, or trending's score.
bool is_rank(const std::string& k) { return k == "interactions" || k == "events" || k == "score"; }

// A top list as count (or score) -> ids. Ties are broken by each node's own
// dictionary order on one node and by the id's text in a merge, so the ids
// of the lowest count, where the list is cut, are not compared, only how
// many.
std::string ranked_text(const sj::Value& list) {
  std::map<double, std::set<std::string>, std::greater<>> by_count;
  double lowest = HUGE_VAL;
  for (const sj::Value& e : list.a) {
    std::string id;
    double count = 0;
    for (const auto& [k, v] : e.o) {
      if (is_id(k) && id.empty()) id = v.s;
      if (is_rank(k)) count = v.kind == sj::Value::integer ? double(v.i) : v.d;
    }
    by_count[count].insert(id);
    lowest = std::min(lowest, count);
  }
  std::string out;
  for (const auto& [count, ids] : by_count) {
    char rank[64];
    std::snprintf(rank, sizeof rank, "%.6f", count);
    out += std::string(rank) + "x" + std::to_string(ids.size()) + ":";
    if (count != lowest)
      for (const std::string& id : ids) out += id + ",";
    out += ";";
  }
  return out;
}

bool is_ranked(const sj::Value& v) {
  if (v.kind != sj::Value::array || v.a.empty() || v.a.front().kind != sj::Value::object) return false;
  bool id = false, count = false;
  for (const auto& [k, x] : v.a.front().o) {
    id = id || is_id(k);
    count = count || is_rank(k);
  }
  return id && count && !v.a.front().find("start");
}

// The answer as comparable text: fields sorted, top lists as ranked_text,
// numbers as integers or with two decimals.
void canonical(const sj::Value& v, std::string& out) {
  switch (v.kind) {
    case sj::Value::object: {
      std::vector<std::pair<std::string, const sj::Value*>> fields;
      for (const auto& [k, x] : v.o)
        if (!ignored(k) && !(skip_top_lists && (k == "popular_products" || k == "popular_categories")))
          fields.emplace_back(k, &x);
      std::sort(fields.begin(), fields.end());
      out += "{";
      for (const auto& [k, x] : fields) {
        out += k + "=";
        canonical(*x, out);
        out += ",";
      }
      out += "}";
      break;
    }
    case sj::Value::array:
      if (is_ranked(v)) {
        out += "ranked(" + ranked_text(v) + ")";
        break;
      }
      out += "[";
      for (const sj::Value& x : v.a) {
        canonical(x, out);
        out += ",";
      }
      out += "]";
      break;
    case sj::Value::integer: out += std::to_string(v.i); break;
    case sj::Value::number: {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.2f", v.d);
      out += buf;
      break;
    }
    case sj::Value::string: out += "\"" + v.s + "\""; break;
    case sj::Value::boolean: out += v.b ? "true" : "false"; break;
    case sj::Value::null: out += "null"; break;
  }
}

std::string canonical(const std::string& body) {
  auto v = sj::parse(body);
  REQUIRE(v);
  std::string out;
  canonical(*v, out);
  return out;
}

// The answer's coverage: complete for the merged routes.
void check_complete_coverage(const std::string& body) {
  const si::Json j(body);
  CHECK(j.str("/coverage/scope") == "cluster");
  CHECK(j.i64("/coverage/partitions") == kPartitions);
  CHECK(j.i64("/coverage/current") == kPartitions);
  CHECK(j.i64("/coverage/members") == kNodes);
  CHECK(j.size("/coverage/missing") == 0);
}

// The fields of a real-time answer that a window of the WebSocket message
// also has, as comparable text (the answer's own fields, such as currency
// and the coverage of the log, are left out).
std::string canonical_shared(const sj::Value& window, const std::string& answer_body) {
  auto answer = sj::parse(answer_body);
  REQUIRE(answer);
  std::string got, want;
  for (const auto& [k, v] : window.o) {
    const sj::Value* a = answer->find(k);
    if (!a) continue;
    sj::Value one, other;
    one.kind = other.kind = sj::Value::object;
    one.o.emplace_back(k, v);
    other.o.emplace_back(k, *a);
    canonical(one, got);
    canonical(other, want);
  }
  CHECK(!got.empty());
  return got == want ? "equal" : "WebSocket " + got + "\nREST " + want;
}

struct Resume {
  pid_t pid;
  ~Resume() { ::kill(pid, SIGCONT); }
};

// Every thread of pid is stopped (state T in /proc): a stop signal has
// taken effect, not only been sent.
bool all_threads_stopped(pid_t pid) {
  const std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
  std::error_code ec;
  std::size_t seen = 0;
  for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
    std::ifstream stat(task.path() / "stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const std::size_t close = text.rfind(')');  // the name may hold spaces and parentheses
    if (close == std::string::npos || close + 2 >= text.size()) return false;
    if (text[close + 2] != 'T' && text[close + 2] != 't') return false;
    ++seen;
  }
  return !ec && seen > 0;
}


// Walks one paged route of one node: GETs target, then again with each
// cursor the answer names, until none. page() reads an answer and returns
// its next cursor. Returns how many pages it took.
std::size_t walk_pages(const si::ServerProcess& node, const std::string& target,
                       const std::function<std::optional<std::string>(const si::HttpResponse&)>& page) {
  std::size_t pages = 0;
  std::optional<std::string> cursor;
  do {
    const std::string asked = cursor ? target + "&cursor=" + *cursor : target;
    const si::HttpResponse r = node.get(asked);
    INFO(asked << ": " << r.body.substr(0, 400));
    REQUIRE(r.status == 200);
    REQUIRE(++pages < 10000);
    cursor = page(r);
  } while (cursor);
  return pages;
}

// The next cursor of a JSON page: its body's next_cursor, which the
// X-Next-Cursor header repeats.
std::optional<std::string> next_cursor_of(const sj::Value& page, const si::HttpResponse& r) {
  const sj::Value* next = page.find("next_cursor");
  REQUIRE(next);
  std::optional<std::string> cursor;
  if (next->kind == sj::Value::string) cursor = next->s;
  CHECK(r.header("X-Next-Cursor") == cursor);
  return cursor;
}

}  // namespace

TEST_CASE("Every analytics and product endpoint on every cluster node answers what a single node with every event "
          "answers, with complete coverage; a stopped member is reported missing within the query timeout",
          "[kafka][cluster][integration]") {
  const Slice slice = taobao_slice();
  REQUIRE(slice.events.size() == kSlice);
  const std::string topic = fresh_topic("cquery");
  broker().create_topic(topic, kPartitions);

  std::vector<std::unique_ptr<si::TempDir>> dirs;
  std::vector<std::unique_ptr<si::ServerProcess>> nodes;
  for (int n = 0; n < kNodes; ++n) {
    dirs.push_back(std::make_unique<si::TempDir>("shoppulse-cquery"));
    si::ServerOptions o = cluster_node(*dirs.back(), topic);
    // Five minutes of lateness: a node reads its partitions in batches, one
    // partition's events a little behind another's, none of them too late.
    for (std::string& set : o.sets)
      if (set.rfind("windows.allowed_lateness=", 0) == 0) set = "windows.allowed_lateness=5m";
    o.sets.push_back("cluster.query_timeout=" + std::to_string(kQueryTimeoutMs) + "ms");
    o.sets.push_back("cluster.node_id=node" + std::to_string(n));
    nodes.push_back(std::make_unique<si::ServerProcess>(o));
    nodes.back()->start();
  }
  require_or_show_logs(si::poll_until([&] { return settled(nodes); }, si::Millis(90000), si::Millis(200)), nodes,
                       "membership did not settle");

  si::TempDir single_dir("shoppulse-cquery-single");
  si::ServerProcess single(si::ServerOptions{single_dir.path() / "data",
                                             {},
                                             false,
                                             {"http.host=127.0.0.1", "windows.allowed_lateness=5m",
                                              "ingest.dedupe_max_ids=0"}});
  single.start();

  constexpr std::size_t kPost = 500;
  for (std::size_t first = 0, b = 0; first < slice.events.size(); first += kPost, ++b) {
    std::string body = "[";
    for (std::size_t i = first; i < std::min(first + kPost, slice.events.size()); ++i)
      body += (i > first ? "," : "") + slice.events[i];
    body += "]";
    const si::HttpResponse r = nodes[b % kNodes]->post("/api/events", body);
    INFO(r.body);
    REQUIRE(r.status == 200);
    REQUIRE(single.post("/api/events", body).status == 200);
  }

  // Every event in some node's log, and applied by the single node.
  const auto logged_total = [&] {
    std::size_t total = 0;
    for (const auto& node : nodes) total += logged(*node).size();
    return total;
  };
  REQUIRE(si::poll_until([&] { return caught_up(nodes) && logged_total() == kSlice; }, si::Millis(120000),
                         si::Millis(250)));
  si::wait_applied(single, kSlice);
  // One more event per partition, six minutes after the slice's newest: every
  // node's watermark (newest event time less the five minutes of lateness)
  // is then the same, one minute after the slice, so every node's windows
  // are the single node's and hold the whole slice.
  std::string ticks = "[";
  for (std::uint32_t p = 0, k = 0; p < std::uint32_t(kPartitions); ++k) {
    const std::string user = "tick" + std::to_string(k);
    if (shoppulse::key_partition(user, kPartitions) != p) continue;
    ticks += std::string(p ? "," : "") + "{\"event_id\":\"tick" + std::to_string(p) + "\",\"user_id\":\"" + user +
             "\",\"event_type\":\"view\",\"product_id\":\"tick\",\"category_id\":\"tick\",\"timestamp\":" +
             std::to_string(slice.max_ms + 6 * 60000) + "}";
    ++p;
  }
  ticks += "]";
  REQUIRE(nodes[0]->post("/api/events", ticks).status == 200);
  REQUIRE(single.post("/api/events", ticks).status == 200);

  // Consumed everywhere (lag 0) and applied: the cluster's 24 h window, as
  // any node merges it, and the single node's hold every event of the slice.
  const auto total_events = [](const si::ServerProcess& node) {
    const si::HttpResponse r = node.get("/api/analytics/real-time?window=24h");
    return r.status == 200 ? si::Json(r.body).i64("/total_events") : -1;
  };
  std::string seen;
  const bool applied = si::poll_until(
      [&] {
        seen = "single " + std::to_string(total_events(single));
        bool all = caught_up(nodes) && total_events(single) == std::int64_t(kSlice);
        for (const auto& node : nodes) {
          const std::int64_t t = total_events(*node);
          seen += " node " + std::to_string(t);
          all = all && t == std::int64_t(kSlice);
        }
        return all;
      },
      si::Millis(120000), si::Millis(250));
  INFO("24 h window's total_events: " << seen);
  REQUIRE(applied);

  const std::string from = iso(slice.min_ms / 60000 * 60000);
  const std::string to = iso((slice.max_ms / 60000 + 1) * 60000);
  std::vector<std::string> targets;
  for (const char* w : {"1m", "5m", "15m", "1h", "24h"}) targets.push_back(std::string("/api/analytics/real-time?window=") + w);
  targets.push_back("/api/analytics/trends?step=1m&from=" + from + "&to=" + to);
  targets.push_back("/api/analytics/trends?step=5m&from=" + from + "&to=" + to);
  // With a forecast: anomalies and forecast fitted over the merged series
  // (at 5m the slice has too few points: no forecast, on one node as merged).
  targets.push_back("/api/analytics/trends?step=1m&from=" + from + "&to=" + to + "&forecast=30m");
  targets.push_back("/api/analytics/trends?step=5m&from=" + from + "&to=" + to + "&forecast=1h");
  targets.push_back("/api/analytics/range?step=1m&from=" + from + "&to=" + to);
  targets.push_back("/api/analytics/range?from=" + from + "&to=" + to + "&limit=20");
  targets.push_back("/api/analytics/funnel?from=" + from + "&to=" + to + "&window=30m");
  targets.push_back("/api/analytics/cohorts?period=hour&from=" + from + "&to=" + to);
  targets.push_back("/api/analytics/cohorts?period=day");  // the range each node anchors on its newest event
  targets.push_back("/api/products/popular");
  targets.push_back("/api/products/popular?event_type=purchase&limit=5");
  // Trending: every member's candidates added hour by hour (README).
  targets.push_back("/api/products/trending");
  targets.push_back("/api/products/trending?limit=100");
  targets.push_back("/api/products/trending?limit=20&category=" +
                    si::Json(single.get("/api/products/popular").body).str("/products/0/category_id"));
  // Hot items per one-hour window sliding by five minutes over the slice.
  for (std::int64_t end = slice.min_ms / 60000 * 60000 + 5 * 60000; end <= slice.max_ms + 10 * 60000; end += 5 * 60000)
    targets.push_back("/api/products/popular?window=1h&end=" + iso(end));

  // Range answers need each node's range worker to have indexed its log.
  const auto answer = [](const si::ServerProcess& node, const std::string& target) {
    si::HttpResponse r;
    si::poll_until(
        [&] {
          r = node.get(target);
          return r.status != 503;
        },
        si::Millis(30000), si::Millis(100));
    return r;
  };
  for (const std::string& target : targets) {
    const si::HttpResponse expected = answer(single, target);
    INFO(target << "\nsingle: " << expected.body);
    REQUIRE(expected.status == 200);
    // The slice's 14 minutes are enough for a model at 1m, not at 5m.
    if (target.find("step=1m") != std::string::npos && target.find("forecast=") != std::string::npos)
      REQUIRE(si::Json(expected.body).size("/forecast/points") == 30);
    if (target.find("/trending") != std::string::npos)
      REQUIRE(si::Json(expected.body).size("/recommendations") >= 5);
    for (int n = 0; n < kNodes; ++n) {
      const si::HttpResponse got = answer(*nodes[std::size_t(n)], target);
      INFO("node " << n << ": " << got.body);
      REQUIRE(got.status == 200);
      check_complete_coverage(got.body);
      // Top lists (the real-time windows' too) are proven exact, in a second
      // round of whole lists when the first cannot prove them.
      CHECK(got.body.find("\"exact_top\"") == std::string::npos);
      CHECK(canonical(got.body) == canonical(expected.body));
    }
  }

  // The WebSocket on every node pushes the cluster's figures, not the
  // node's own: each window equal to the merged REST answer, with complete
  // coverage and the member records of the node that pushed it.
  skip_top_lists = true;
  // A merged REST answer with every member in it (on a loaded machine a
  // member may miss cluster.query_timeout once; such an answer is asked again).
  const auto whole = [](const si::ServerProcess& node, const std::string& target) {
    si::HttpResponse r;
    si::poll_until(
        [&] {
          r = node.get(target);
          if (r.status != 200) return false;
          const si::Json j(r.body);
          return j.i64("/coverage/current") == kPartitions && j.size("/coverage/missing") == 0;
        },
        si::Millis(20000), si::Millis(100));
    return r;
  };
  for (int n = 0; n < kNodes; ++n) {
    INFO("WebSocket of node " << n);
    si::WebSocketClient ws(nodes[std::size_t(n)]->port(), "/ws/real-time");
    const auto msg = ws_message(
        ws,
        [](const si::Json& m) {
          return m.has("/coverage") && m.i64("/windows/24h/total_events") == std::int64_t(kSlice);
        },
        si::Millis(20000));
    REQUIRE(msg);
    INFO(*msg);
    const si::Json j(*msg);
    CHECK(j.str("/type") == "snapshot");
    check_complete_coverage(*msg);
    CHECK(j.str("/cluster/node_id") == "node" + std::to_string(n));
    CHECK(j.size("/cluster/members") == std::size_t(kNodes));
    auto parsed = sj::parse(*msg);
    REQUIRE(parsed);
    CHECK(canonical_shared(*parsed, whole(*nodes[std::size_t(n)], "/api/analytics/real-time?window=5m").body) ==
          "equal");
    for (const char* w : {"1m", "5m", "15m", "1h", "24h"}) {
      INFO("window " << w);
      const sj::Value* window = parsed->find("windows")->find(w);
      REQUIRE(window);
      const si::HttpResponse rest = whole(*nodes[std::size_t(n)], std::string("/api/analytics/real-time?window=") + w);
      REQUIRE(rest.status == 200);
      CHECK(canonical_shared(*window, rest.body) == "equal");
      CHECK(canonical_shared(*window, single.get(std::string("/api/analytics/real-time?window=") + w).body) ==
            "equal");
    }
    // The same message by REST, merged the same way.
    const si::HttpResponse snap = whole(*nodes[std::size_t(n)], "/api/analytics/snapshot");
    REQUIRE(snap.status == 200);
    check_complete_coverage(snap.body);
    CHECK(si::Json(snap.body).i64("/windows/24h/total_events") == std::int64_t(kSlice));
  }
  CHECK(!single.get_json("/api/analytics/snapshot").has("/coverage"));
  skip_top_lists = false;

  // Similar items: merged from every member's co-occurrence row (README,
  // Cluster, Queries), one node's answer for every product whose row one
  // node never pruned (fewer than recommend.max_neighbours neighbours).
  {
    const si::Json popular = single.get_json("/api/products/popular?limit=400");
    std::size_t compared = 0;
    for (std::size_t i = 0; i < popular.size("/products") && compared < 8; ++i) {
      const std::string product = popular.str("/products/" + std::to_string(i) + "/product_id");
      const std::string target = "/api/products/" + product + "/similar?limit=1000";
      const si::Json want = single.get_json(target);
      const std::size_t n = want.size("/recommendations");
      if (n < 3 || n >= 50) continue;
      ++compared;
      for (const std::string& t : {target, "/api/products/" + product + "/similar"}) {
        const si::Json expected = single.get_json(t);
        for (int node = 0; node < kNodes; ++node) {
          const si::HttpResponse got = answer(*nodes[std::size_t(node)], t);
          INFO(t << " on node " << node << ": " << got.body << "\nsingle: " << expected.text());
          REQUIRE(got.status == 200);
          check_complete_coverage(got.body);
          const si::Json j(got.body);
          REQUIRE(j.size("/recommendations") == expected.size("/recommendations"));
          for (std::size_t k = 0; k < j.size("/recommendations"); ++k) {
            const std::string at = "/recommendations/" + std::to_string(k);
            // Float sums in another order: equal to a few units of the 6th decimal.
            CHECK(j.num(at + "/score") == Approx(expected.num(at + "/score")).margin(3e-6));
            const bool near_tie =
                (k > 0 && expected.num("/recommendations/" + std::to_string(k - 1) + "/score") -
                                  expected.num(at + "/score") < 1e-5) ||
                (k + 1 < expected.size("/recommendations") &&
                 expected.num(at + "/score") - expected.num("/recommendations/" + std::to_string(k + 1) + "/score") <
                     1e-5);
            if (!near_tie) CHECK(j.str(at + "/product_id") == expected.str(at + "/product_id"));
            CHECK(j.str(at + "/reason") == expected.str(at + "/reason"));
          }
        }
      }
    }
    CHECK(compared >= 3);
    for (int node = 0; node < kNodes; ++node) {
      const si::HttpResponse r = nodes[std::size_t(node)]->get("/api/products/no-such-product/similar");
      CHECK(r.status == 404);
      CHECK(si::Json(r.body).str("/error") == si::Json(single.get("/api/products/no-such-product/similar").body).str("/error"));
    }
  }

  // Per user: the owner's answer from every node; profiles equal the single
  // node's (a profile is one user's events). Recommendations come from the
  // owner's model, learned from its own users (README: not merged).
  const si::Json cluster = nodes[0]->get_json("/api/cluster");
  std::map<std::int64_t, int> owner_of;  // partition -> node index
  for (std::size_t m = 0; m < cluster.size("/members"); ++m) {
    const std::string at = "/members/" + std::to_string(m);
    // The lag by partition: one entry per partition consumed, adding up to the lag.
    std::int64_t lag = 0;
    for (std::size_t p = 0; p < cluster.size(at + "/partitions"); ++p)
      lag += cluster.i64(at + "/partition_lag/" + std::to_string(cluster.i64(at + "/partitions/" + std::to_string(p))));
    CHECK(lag == cluster.i64(at + "/lag"));
    CHECK(!cluster.has(at + "/rebuild_progress"));  // settled: nobody rebuilding
    const std::string id = cluster.str(at + "/node_id");
    const int n = std::stoi(id.substr(4));
    for (std::size_t p = 0; p < cluster.size(at + "/partitions"); ++p)
      owner_of[cluster.i64(at + "/partitions/" + std::to_string(p))] = n;
  }
  for (std::size_t u = 0; u < slice.users.size(); u += slice.users.size() / 12) {
    const std::string& user = slice.users[u];
    const int owner = owner_of.at(std::int64_t(shoppulse::key_partition(user, kPartitions)));
    INFO("user " << user << " owner node" << owner);
    const std::string profile = "/api/analytics/user/" + user;
    const si::HttpResponse expected = single.get(profile);
    REQUIRE(expected.status == 200);
    const std::string recs = "/api/products/recommendations/user/" + user + "?limit=5";
    const si::HttpResponse owner_recs = nodes[std::size_t(owner)]->get(recs + "&scope=local");
    REQUIRE(owner_recs.status == 200);
    for (int n = 0; n < kNodes; ++n) {
      const si::HttpResponse got = nodes[std::size_t(n)]->get(profile);
      INFO("node " << n << ": " << got.body);
      REQUIRE(got.status == 200);
      CHECK(canonical(got.body) == canonical(expected.body));
      const si::HttpResponse r = nodes[std::size_t(n)]->get(recs);
      REQUIRE(r.status == 200);
      CHECK(canonical(r.body) == canonical(owner_recs.body));
      // The owner alone has the user: a scope=local profile elsewhere is 404.
      if (n != owner) CHECK(nodes[std::size_t(n)]->get(profile + "?scope=local").status == 404);
    }
  }

  // Latency over loopback, printed (never asserted): a merged answer of
  // three nodes against the single node's own.
  for (const std::string target : {std::string("/api/analytics/real-time?window=1h"),
                                   "/api/analytics/trends?step=1m&from=" + from + "&to=" + to,
                                   std::string("/api/products/popular?window=1h"),
                                   "/api/products/" +
                                       si::Json(single.get("/api/products/popular").body).str("/products/0/product_id") +
                                       "/similar",
                                   std::string("/api/products?limit=100"), std::string("/api/events?limit=1000")}) {
    const auto timed = [&](const si::ServerProcess& node) {
      std::vector<double> ms;
      for (int i = 0; i < 200; ++i) {
        const auto t = std::chrono::steady_clock::now();
        REQUIRE(node.get(target).status == 200);
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count());
      }
      std::sort(ms.begin(), ms.end());
      return std::make_pair(ms[ms.size() / 2], ms[ms.size() * 99 / 100]);
    };
    const auto [c50, c99] = timed(*nodes[0]);
    const auto [s50, s99] = timed(single);
    std::printf("latency %s: cluster of 3 p50 %.2f ms p99 %.2f ms; single node p50 %.2f ms p99 %.2f ms\n",
                target.c_str(), c50, c99, s50, s99);
  }

  // Shoppers most likely to buy: each is scored by its owner's model, so the
  // merged list is the union of the members' own lists (scope=local), by
  // score then id, cut at the limit, on every node.
  {
    std::vector<std::pair<double, std::string>> all;
    std::int64_t trained = 0;
    for (const auto& node : nodes) {
      const si::Json j = node->get_json("/api/analytics/propensity?limit=20&scope=local");
      for (std::size_t i = 0; i < j.size("/users"); ++i) {
        const std::string at = "/users/" + std::to_string(i);
        all.emplace_back(-j.num(at + "/purchase_propensity"), j.str(at + "/user_id"));
      }
      trained += j.i64("/trained_examples");
    }
    std::sort(all.begin(), all.end());
    if (all.size() > 20) all.resize(20);
    REQUIRE(!all.empty());
    for (int n = 0; n < kNodes; ++n) {
      const si::Json j = nodes[std::size_t(n)]->get_json("/api/analytics/propensity?limit=20");
      INFO("node " << n << ": " << j.text());
      check_complete_coverage(j.text());
      REQUIRE(j.size("/users") == all.size());
      for (std::size_t i = 0; i < all.size(); ++i) {
        CHECK(j.str("/users/" + std::to_string(i) + "/user_id") == all[i].second);
        CHECK(j.num("/users/" + std::to_string(i) + "/purchase_propensity") == -all[i].first);
      }
      CHECK(j.i64("/trained_examples") == trained);
    }
  }

  // The user list pages through every member's users (README, Cluster,
  // Queries): a small limit crosses many pages and member boundaries; every
  // node answers the single node's users, each once, with the same records.
  {
    struct Users {
      std::map<std::string, std::string> records;  // user_id -> the record as comparable text
      std::vector<std::string> order;
      std::size_t pages = 0;
      std::size_t repeated = 0;
    };
    const auto walk = [](const si::ServerProcess& node, const std::string& query, std::size_t limit, bool cluster) {
      Users out;
      const std::string target =
          "/api/users?" + query + (query.empty() ? "" : "&") + "limit=" + std::to_string(limit);
      out.pages = walk_pages(node, target, [&](const si::HttpResponse& r) {
        auto v = sj::parse(r.body);
        REQUIRE(v);
        const sj::Value* users = v->find("users");
        REQUIRE(users);
        CHECK(users->a.size() <= limit);
        for (const sj::Value& u : users->a) {
          std::string text;
          canonical(u, text);
          out.order.push_back(u.find("user_id")->s);
          out.repeated += !out.records.emplace(u.find("user_id")->s, text).second;
        }
        if (cluster) {
          check_complete_coverage(r.body);
        } else {
          CHECK(!v->find("coverage"));
        }
        return next_cursor_of(*v, r);
      });
      return out;
    };
    for (const auto& [query, limit] :
         std::vector<std::pair<std::string, std::size_t>>{{"", 37}, {"search=999", 2}}) {
      INFO("query \"" << query << "\" limit " << limit);
      const Users expected = walk(single, query, limit, false);
      REQUIRE(!expected.records.empty());
      CHECK(expected.repeated == 0);
      if (query.empty()) {
        CHECK(expected.records.size() > 10 * limit);  // pages enough to cross every member boundary
      } else {
        CHECK(expected.records.size() < 200);  // a search matching a few
        for (const auto& [id, record] : expected.records) CHECK(id.find("999") != std::string::npos);
      }
      std::optional<std::vector<std::string>> order;
      for (int n = 0; n < kNodes; ++n) {
        INFO("node " << n);
        const Users got = walk(*nodes[std::size_t(n)], query, limit, true);
        CHECK(got.repeated == 0);
        CHECK(got.records == expected.records);
        // The same walk from whichever node is asked: members by node id.
        if (order) CHECK(got.order == *order);
        order = got.order;
        std::printf("/api/users?%slimit=%zu on node %d: %zu users in %zu pages (single node: %zu pages)\n",
                    query.empty() ? "" : (query + "&").c_str(), limit, n, got.records.size(), got.pages,
                    expected.pages);
      }
    }
    // Cursors the cluster did not give are refused, naming the parameter.
    for (const char* bad : {"%21%21", "bm9kZTA.Mg.x", "QR"}) {
      const si::HttpResponse r = nodes[0]->get(std::string("/api/users?cursor=") + bad);
      INFO(bad << ": " << r.body);
      CHECK(r.status == 400);
      CHECK(si::Json(r.body).str("/field") == "cursor");
    }
    // scope=local is the node's own page, as before.
    const si::HttpResponse local = nodes[1]->get("/api/users?scope=local&limit=5");
    REQUIRE(local.status == 200);
    CHECK(!si::Json(local.body).has("/coverage"));
  }
  // The event export pages through every member's log (README, Cluster,
  // Queries): every node exports the single node's events, each once (the
  // sequences are each log's own, so they are left out of the comparison).
  {
    const auto exported = [](const si::ServerProcess& node, const std::string& query, bool cluster,
                             std::size_t& pages) {
      std::multiset<std::string> lines;
      pages = walk_pages(node, "/api/events?" + query, [&](const si::HttpResponse& r) {
        std::size_t at = 0;
        while (at < r.body.size()) {
          std::size_t end = r.body.find('\n', at);
          if (end == std::string::npos) end = r.body.size();
          if (end > at) {
            auto v = sj::parse(r.body.substr(at, end - at));
            REQUIRE(v);
            std::erase_if(v->o, [](const auto& kv) { return kv.first == "sequence"; });
            std::string text;
            canonical(*v, text);
            lines.insert(text);
          }
          at = end + 1;
        }
        if (cluster)
          CHECK(r.header("X-Shoppulse-Coverage") == "cluster; partitions=" + std::to_string(kPartitions) + "/" +
                                                        std::to_string(kPartitions) +
                                                        "; members=" + std::to_string(kNodes));
        return r.header("X-Next-Cursor");
      });
      return lines;
    };
    for (const std::string query : {"limit=1500", "event_type=purchase&limit=40"}) {
      std::size_t single_pages = 0;
      const auto expected = exported(single, query, false, single_pages);
      REQUIRE(!expected.empty());
      if (query == "limit=1500") CHECK(expected.size() == kSlice + std::size_t(kPartitions));  // and the ticks
      for (int n = 0; n < kNodes; ++n) {
        INFO(query << " on node " << n);
        std::size_t pages = 0;
        const auto got = exported(*nodes[std::size_t(n)], query, true, pages);
        CHECK(got.size() == expected.size());
        CHECK(got == expected);
        CHECK(pages >= single_pages);
        std::printf("/api/events?%s on node %d: %zu events in %zu pages (single node: %zu pages)\n", query.c_str(), n,
                    got.size(), pages, single_pages);
      }
    }
    const si::HttpResponse bad = nodes[0]->get("/api/events?cursor=QR");
    CHECK(bad.status == 400);
    CHECK(si::Json(bad.body).str("/field") == "cursor");
  }
  // The product list pages through every member's products (README,
  // Cluster, Queries): every node lists the single node's products, each
  // once, with the counts and category one node gives them.
  {
    const auto listed = [](const si::ServerProcess& node, const std::string& query, bool cluster,
                           std::size_t& pages) {
      std::map<std::string, std::string> records;  // product_id -> the record as comparable text
      std::size_t repeated = 0;
      pages = walk_pages(node, "/api/products?" + query, [&](const si::HttpResponse& r) {
        auto v = sj::parse(r.body);
        REQUIRE(v);
        for (const sj::Value& p : v->find("products")->a) {
          std::string text;
          canonical(p, text);
          repeated += !records.emplace(p.find("product_id")->s, text).second;
        }
        CHECK(v->find("complete")->b);
        if (cluster) check_complete_coverage(r.body);
        return next_cursor_of(*v, r);
      });
      CHECK(repeated == 0);
      return records;
    };
    const std::string category = si::Json(single.get("/api/products/popular").body).str("/products/0/category_id");
    for (const std::string query : {std::string("limit=500"), std::string("limit=200&window=1h"),
                                    "category=" + category + "&limit=100", std::string("search=99&limit=30")}) {
      std::size_t single_pages = 0;
      const auto expected = listed(single, query, false, single_pages);
      REQUIRE(expected.size() > 5);
      for (int n = 0; n < kNodes; ++n) {
        INFO(query << " on node " << n);
        std::size_t pages = 0;
        const auto got = listed(*nodes[std::size_t(n)], query, true, pages);
        CHECK(got.size() == expected.size());
        CHECK(got == expected);
        std::printf("/api/products?%s on node %d: %zu products in %zu pages (single node: %zu pages)\n",
                    query.c_str(), n, got.size(), pages, single_pages);
      }
    }
    const si::HttpResponse ids = nodes[0]->get("/api/products?ids=p1");
    CHECK(ids.status == 400);
    CHECK(si::Json(ids.body).str("/field") == "ids");
  }
  CHECK(nodes[0]->get("/api/analytics/real-time?scope=everywhere").status == 400);
  CHECK(single.get("/api/analytics/real-time?scope=local").status == 200);

  // A member that cannot answer: the others answer within the timeout,
  // naming it, with the partitions it holds not covered.
  {
    const auto missing_partitions = std::int64_t(nodes[2]->get_json("/api/cluster").size("/assigned"));
    REQUIRE(::kill(nodes[2]->pid(), SIGSTOP) == 0);
    Resume resume{nodes[2]->pid()};
    const auto t0 = std::chrono::steady_clock::now();
    const si::HttpResponse r = nodes[0]->get("/api/analytics/real-time?window=24h");
    const auto waited =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    INFO(r.body);
    REQUIRE(r.status == 200);
    CHECK(waited < kQueryTimeoutMs + 1500);
    const si::Json j(r.body);
    REQUIRE(j.size("/coverage/missing") == 1);
    CHECK(j.str("/coverage/missing/0") == "node2");
    CHECK(j.i64("/coverage/current") == kPartitions - missing_partitions);
    CHECK(j.i64("/total_events") < std::int64_t(kSlice));
    // The push says so too: a partial message, naming the member while it
    // is still listed as current (cluster.member_timeout), then without it.
    si::WebSocketClient ws(nodes[0]->port(), "/ws/real-time");
    const auto partial = ws_message(
        ws, [](const si::Json& m) { return m.has("/coverage") && m.i64("/coverage/current") < kPartitions; },
        si::Millis(kQueryTimeoutMs + 10000));
    REQUIRE(partial);
    const si::Json p(*partial);
    INFO(*partial);
    if (p.size("/coverage/missing") == 1)
      CHECK(p.str("/coverage/missing/0") == "node2");
    else
      CHECK(p.i64("/coverage/members") == kNodes - 1);
    CHECK(p.i64("/coverage/current") == kPartitions - missing_partitions);
    CHECK(p.i64("/windows/24h/total_events") < std::int64_t(kSlice));
  }
  // The user list does not skip a member that cannot answer: a page of its
  // users is a 503 naming it. Asked the moment it stops, while its record
  // is fresh (it counts as gone cluster.member_timeout after its last one).
  REQUIRE(si::poll_until(
      [&] {
        const si::Json c = nodes[0]->get_json("/api/cluster");
        for (std::size_t m = 0; m < c.size("/members"); ++m) {
          const std::string at = "/members/" + std::to_string(m);
          bool current = false;
          if (c.str(at + "/node_id") == "node2" && c.at(at + "/current").get(current) == simdjson::SUCCESS)
            return current;
        }
        return false;
      },
      si::Millis(60000), si::Millis(100)));
  {
    REQUIRE(::kill(nodes[2]->pid(), SIGSTOP) == 0);
    Resume resume{nodes[2]->pid()};
    REQUIRE(si::poll_until([&] { return all_threads_stopped(nodes[2]->pid()); }, si::Millis(10000), si::Millis(10)));
    const auto t0 = std::chrono::steady_clock::now();
    const si::HttpResponse users = nodes[0]->get(
        "/api/users?limit=5&cursor=" + shoppulse::cluster::encode_users_cursor({"node2", std::nullopt}));
    INFO(users.body);
    INFO("answered after " << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count() << " ms");
    INFO("node0's view: " << nodes[0]->get("/api/cluster").body);
    INFO("node2's log: " << nodes[2]->log_tail(3000));
    CHECK(users.status == 503);
    CHECK(users.header("Retry-After").has_value());
    CHECK(si::Json(users.body).str("/detail").find("node node2") != std::string::npos);
  }
}

int main(int argc, char** argv) { return si::run_with_taobao_dataset("kafka_cluster_query", argc, argv); }
