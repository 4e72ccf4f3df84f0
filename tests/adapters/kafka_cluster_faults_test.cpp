// Faults of a cluster (cluster.enabled) on one real Kafka broker, with
// derived state following partition ownership: a node killed with SIGKILL
// while events are posted, its restart, a fourth node joining while events
// flow, and the broker stopped while a client posts. After each, once every
// partition is owned by exactly one live node, nothing is left to read and
// no node is rebuilding, the live nodes' figures summed (events per minute
// and type from the range queries, distinct users) equal one brute-force
// computation over the acknowledged events, each node's 24 h window of the
// engine equals the brute force over the acknowledged events of its owned
// partitions (key_partition of the user) within that window's bounds, and
// the nodes' exports (GET /api/events) hold every acknowledged event
// exactly once. A topic keeping messages for less than the longest window
// is refused at start (exit code 2).
//
// The events: the first 10,000 rows of the Taobao UserBehavior sample
// (shared/data) when it is there, else generated rows of the same shape.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cluster_rig.hpp"
#include "outage.hpp"
#include "shoppulse/core/key_partition.hpp"

namespace si = shoppulse::integration;
using namespace shoppulse::cluster_rig;

namespace {

constexpr int kFaultEvents = 10000;
constexpr int kFaultBatch = 100;
constexpr std::int64_t kMinuteMs = 60000;

struct Ev {
  std::string id, user, type, product, category;
  std::int64_t ms = 0;
};

std::string taobao_type(const std::string& behavior) {
  if (behavior == "pv") return "view";
  if (behavior == "cart") return "add_to_cart";
  if (behavior == "fav") return "favorite";
  if (behavior == "buy") return "purchase";
  return "";
}

// The first n Taobao rows (sorted by time in the sample), or generated ones:
// 3,000 users, 14 minutes, the sample's mix of types.
std::vector<Ev> taobao_like_events(int n) {
  std::vector<Ev> out;
  const char* env = std::getenv("SHOPPULSE_TEST_DATA_DIR");
  const std::filesystem::path path =
      std::filesystem::path(env && *env ? env : SHOPPULSE_TEST_DATA_DIR) / "taobao_userbehavior_sample_110k.csv";
  std::ifstream in(path);
  for (std::string line; int(out.size()) < n && std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::vector<std::string> f;
    std::istringstream fields(line);
    for (std::string x; std::getline(fields, x, ',');) f.push_back(x);
    if (f.size() != 5 || taobao_type(f[3]).empty()) continue;
    out.push_back(Ev{"tb" + std::to_string(out.size()), f[0], taobao_type(f[3]), f[1], f[2], std::stoll(f[4]) * 1000});
  }
  if (int(out.size()) == n) return out;
  WARN("Taobao sample not found at " << path.string() << "; generated events of the same shape instead");
  out.clear();
  const char* types[] = {"view", "view", "view", "view", "view", "view", "view", "add_to_cart", "favorite", "purchase"};
  for (int i = 0; i < n; ++i)
    out.push_back(Ev{"tb" + std::to_string(i), std::to_string(100000 + (i * 7919) % 3000), types[(i * 31) % 10],
                     std::to_string(2000000 + (i * 104729) % 5000), std::to_string(1000 + i % 40),
                     1511658000000LL + std::int64_t(i) * 84});
  return out;
}

std::string body_of(const std::vector<Ev>& events, std::size_t from, std::size_t to) {
  std::string body = "[";
  for (std::size_t i = from; i < to; ++i) {
    const Ev& e = events[i];
    if (i > from) body += ',';
    body += "{\"event_id\":\"" + e.id + "\",\"user_id\":\"" + e.user + "\",\"event_type\":\"" + e.type +
            "\",\"product_id\":\"" + e.product + "\",\"category_id\":\"" + e.category +
            "\",\"timestamp\":" + std::to_string(e.ms) + (e.type == "purchase" ? ",\"price\":12.50" : "") + "}";
  }
  return body + "]";
}

bool json_bool(const si::Json& j, const std::string& pointer) {
  bool v = false;
  return j.at(pointer).get(v) == simdjson::SUCCESS && v;
}

std::vector<std::int64_t> int_list(const si::Json& j, const std::string& pointer) {
  std::vector<std::int64_t> out;
  for (std::size_t i = 0; i < j.size(pointer); ++i) out.push_back(j.i64(pointer + "/" + std::to_string(i)));
  return out;
}

// Every live node: its derived state covers what it is assigned, no rebuild
// pending, nothing left to read; the assignments are disjoint and cover
// every partition.
bool owned_and_caught_up(const std::vector<si::ServerProcess*>& live) {
  std::set<std::int64_t> seen;
  std::size_t total = 0;
  for (si::ServerProcess* node : live) {
    const si::Json c = node->get_json("/api/cluster");
    if (c.i64("/partitions") != kPartitions || json_bool(c, "/rebuilding")) return false;
    const auto assigned = int_list(c, "/assigned");
    if (assigned.empty() || assigned != int_list(c, "/owned") || !int_list(c, "/catching_up").empty()) return false;
    const std::string self = c.str("/node_id");
    bool found = false;
    for (std::size_t m = 0; m < c.size("/members"); ++m) {
      const std::string at = "/members/" + std::to_string(m);
      if (c.str(at + "/node_id") != self) continue;
      found = true;
      if (c.i64(at + "/lag") != 0 || int_list(c, at + "/partitions") != assigned) return false;
    }
    if (!found) return false;
    seen.insert(assigned.begin(), assigned.end());
    total += assigned.size();
  }
  return seen.size() == std::size_t(kPartitions) && total == std::size_t(kPartitions);
}

// What the figures must be: per minute, the events of each type, and the
// distinct users, over `events`.
struct Truth {
  std::map<std::int64_t, std::map<std::string, std::int64_t>> per_minute;
  std::int64_t users = 0;
  std::int64_t events = 0;
  bool operator==(const Truth&) const = default;
};

const char* const kSeriesKeys[] = {"page_views", "add_to_cart", "favorites", "purchases", "clicks"};

std::string series_key(const std::string& type) {
  if (type == "view") return "page_views";
  if (type == "add_to_cart") return "add_to_cart";
  if (type == "favorite") return "favorites";
  if (type == "purchase") return "purchases";
  return "clicks";
}

Truth brute_force(const std::vector<const Ev*>& events) {
  Truth t;
  std::set<std::string> users;
  for (const Ev* e : events) {
    const std::int64_t minute = e->ms / kMinuteMs;
    t.per_minute[minute][series_key(e->type)]++;
    users.insert(e->user);
  }
  for (auto& [minute, counts] : t.per_minute)
    for (const char* k : kSeriesKeys) counts.emplace(k, 0);
  t.users = std::int64_t(users.size());
  t.events = std::int64_t(events.size());
  return t;
}

std::int64_t parse_iso_ms(const std::string& text) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                  &tm.tm_sec, &ms) < 6)
    return 0;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return std::int64_t(timegm(&tm)) * 1000 + ms;
}

// One node's 24 h window of the engine: its bounds, its figures and the
// partitions the node owns.
struct NodeWindow {
  std::set<std::int64_t> owned;
  std::int64_t start_ms = 0, end_ms = 0;
  std::int64_t events = 0, users = 0;
  std::int64_t expected_events = -1, expected_users = -1;
};

// The live nodes' figures summed: the range query's per-minute series and
// distinct users over [first, last] minute; and each node's window.
struct Summed {
  Truth range;
  std::vector<NodeWindow> windows;
};

std::optional<Summed> summed_figures(const std::vector<si::ServerProcess*>& live, std::int64_t first_ms,
                                     std::int64_t last_ms) {
  Summed s;
  const std::int64_t from = first_ms / kMinuteMs * kMinuteMs;
  const std::int64_t to = (last_ms / kMinuteMs + 1) * kMinuteMs;
  for (si::ServerProcess* node : live) {
    const si::HttpResponse r = node->get("/api/analytics/range?scope=local&step=1m&from=" + iso(from) + "&to=" + iso(to));
    if (r.status != 200) return std::nullopt;  // 503 while the range worker indexes after a start
    const si::Json j(r.body);
    s.range.users += j.i64("/active_users");
    s.range.events += j.i64("/total_events");
    for (std::size_t p = 0; p < j.size("/series"); ++p) {
      const std::string at = "/series/" + std::to_string(p);
      std::int64_t point_events = 0;
      std::map<std::string, std::int64_t> counts;
      for (const char* k : kSeriesKeys) {
        counts[k] = j.i64(at + "/" + k);
        point_events += counts[k];
      }
      if (point_events == 0) continue;
      const std::int64_t minute = (from / kMinuteMs) + std::int64_t(p);
      for (const auto& [k, v] : counts) s.range.per_minute[minute][k] += v;
    }
    const si::Json c = node->get_json("/api/cluster");
    const si::Json w = node->get_json("/api/analytics/real-time?scope=local&window=24h");
    // A node that has read its partitions but whose engine has applied
    // nothing yet (it just joined) has no window yet: not settled.
    if (w.is_null("/window/start")) return std::nullopt;
    NodeWindow nw;
    for (std::int64_t p : int_list(c, "/owned")) nw.owned.insert(p);
    nw.start_ms = parse_iso_ms(w.str("/window/start"));
    nw.end_ms = parse_iso_ms(w.str("/window/end"));
    nw.events = w.i64("/total_events");
    nw.users = w.i64("/active_users");
    s.windows.push_back(nw);
  }
  return s;
}

// Fills each window's expected figures: the events of its owned partitions
// within its bounds. True when every window has them.
bool windows_exact(std::vector<NodeWindow>& windows, const std::vector<const Ev*>& events) {
  bool exact = true;
  for (NodeWindow& w : windows) {
    std::set<std::string> users;
    w.expected_events = 0;
    for (const Ev* e : events) {
      if (e->ms < w.start_ms || e->ms >= w.end_ms) continue;
      if (!w.owned.count(std::int64_t(shoppulse::key_partition(e->user, kPartitions)))) continue;
      ++w.expected_events;
      users.insert(e->user);
    }
    w.expected_users = std::int64_t(users.size());
    exact = exact && w.events == w.expected_events && w.users == w.expected_users;
  }
  return exact;
}

// Every live node's export (its owned partitions' events), by event id.
std::map<std::string, int> exported_ids(const std::vector<si::ServerProcess*>& live) {
  std::map<std::string, int> ids;
  for (si::ServerProcess* node : live)
    for (const Logged& e : logged(*node)) ids[e.event_id]++;
  return ids;
}

// Waits until ownership settled and the figures add up to the events whose
// ids `expected` holds, then checks it exactly.
void check_exact(const std::vector<si::ServerProcess*>& live, const std::vector<Ev>& events,
                 const std::set<std::string>& expected, const std::string& stage) {
  INFO("stage: " << stage);
  std::vector<const Ev*> in;
  std::int64_t first = INT64_MAX, last = INT64_MIN;
  for (const Ev& e : events)
    if (expected.count(e.id)) {
      in.push_back(&e);
      first = std::min(first, e.ms);
      last = std::max(last, e.ms);
    }
  const Truth truth = brute_force(in);
  std::optional<Summed> summed;
  std::map<std::string, int> ids;
  std::string why;  // what the last poll found wanting
  const bool settled_and_exact = si::poll_until(
      [&] {
        if (!owned_and_caught_up(live)) {
          why = "ownership not settled, a node rebuilding or lagging";
          return false;
        }
        summed = summed_figures(live, first, last);
        if (!summed) {
          why = "a range query answered other than 200, or a node's engine has applied nothing yet";
          return false;
        }
        if (summed->range.events != truth.events) {
          why = "range events " + std::to_string(summed->range.events) + " of " + std::to_string(truth.events);
          return false;
        }
        if (!windows_exact(summed->windows, in)) {
          why = "24 h windows (events/users got vs expected):";
          for (const NodeWindow& w : summed->windows)
            why += " " + std::to_string(w.events) + "/" + std::to_string(w.users) + " vs " +
                   std::to_string(w.expected_events) + "/" + std::to_string(w.expected_users);
          return false;
        }
        ids = exported_ids(live);
        why = "exported " + std::to_string(ids.size()) + " distinct ids of " + std::to_string(expected.size());
        return ids.size() == expected.size();
      },
      si::Millis(240000), si::Millis(250));
  INFO("last poll: " << why);
  INFO(log_tails(live));
  REQUIRE(settled_and_exact);
  // No acknowledged event lost, none counted twice (the exports of the live
  // nodes are disjoint and hold every acknowledged event).
  std::size_t doubles = 0, unknown = 0;
  for (const auto& [id, n] : ids) {
    if (n != 1) ++doubles;
    if (!expected.count(id)) ++unknown;
  }
  CHECK(doubles == 0);
  CHECK(unknown == 0);
  CHECK(ids.size() == expected.size());
  CHECK(summed->range.per_minute == truth.per_minute);
  CHECK(summed->range.users == truth.users);  // users are disjoint across nodes: a user is on one partition
  std::int64_t window_events = 0;
  for (const NodeWindow& w : summed->windows) {
    INFO("window [" << iso(w.start_ms) << ", " << iso(w.end_ms) << ") of a node owning " << w.owned.size()
                    << " partitions");
    CHECK(w.events == w.expected_events);
    CHECK(w.users == w.expected_users);
    window_events += w.events;
  }
  CHECK(window_events > truth.events / 2);  // the windows hold all but each node's newest minute
}

si::ServerOptions fault_node(const si::TempDir& dir, const std::string& topic) {
  si::ServerOptions o = cluster_node(dir, topic);
  o.startup_timeout = si::Millis(60000);
  return o;
}

}  // namespace

TEST_CASE("A node killed while events are posted: its partitions move to the others, which rebuild their state "
          "from the topic; after its restart and after a fourth node joins, the figures stay exact",
          "[kafka][cluster][faults][integration]") {
  const std::vector<Ev> events = taobao_like_events(kFaultEvents);
  const std::string topic = fresh_topic("faults");
  broker().create_topic(topic, kPartitions);

  std::vector<std::unique_ptr<si::TempDir>> dirs;
  std::vector<std::unique_ptr<si::ServerProcess>> nodes;
  for (int n = 0; n < 4; ++n) {
    dirs.push_back(std::make_unique<si::TempDir>("shoppulse-faults"));
    nodes.push_back(std::make_unique<si::ServerProcess>(fault_node(*dirs.back(), topic)));
  }
  for (int n = 0; n < 3; ++n) nodes[std::size_t(n)]->start();
  std::vector<si::ServerProcess*> live{nodes[0].get(), nodes[1].get(), nodes[2].get()};
  REQUIRE(si::poll_until([&] { return owned_and_caught_up(live); }, si::Millis(90000), si::Millis(200)));

  std::set<std::string> acked;
  std::size_t next = 0;
  // Posts events [next, to) in batches, round-robin over `to_nodes`; every
  // batch must be acknowledged (the broker is up).
  const auto post = [&](std::size_t to, const std::vector<si::ServerProcess*>& to_nodes) {
    for (std::size_t b = 0; next < to; ++b) {
      const std::size_t end = std::min(to, next + kFaultBatch);
      const si::HttpResponse r = to_nodes[b % to_nodes.size()]->post("/api/events", body_of(events, next, end));
      INFO(r.body);
      REQUIRE(r.status == 200);
      for (std::size_t i = next; i < end; ++i) acked.insert(events[i].id);
      next = end;
    }
  };

  // Mid-replay: 40 % posted over the three, then one is killed with SIGKILL
  // (no request to it is in flight: the posts are sequential) and the rest
  // goes to the other two while the group moves its partitions.
  post(4000, live);
  nodes[2]->kill_hard();
  live = {nodes[0].get(), nodes[1].get()};
  post(7000, live);
  check_exact(live, events, acked, "two nodes after a kill -9");
  std::int64_t rebuilds = 0;
  for (si::ServerProcess* node : live) rebuilds += node->get_json("/api/cluster").i64("/rebuilds");
  CHECK(rebuilds > 0);  // the survivors gained partitions and rebuilt

  // The killed node restarts on its data dir, rejoins and takes partitions back.
  nodes[2]->start();
  live = {nodes[0].get(), nodes[1].get(), nodes[2].get()};
  post(8000, live);
  check_exact(live, events, acked, "three nodes after the restart");
  CHECK(!int_list(nodes[2]->get_json("/api/cluster"), "/owned").empty());
  // It took back partitions that grew while it was down: each was listed in
  // catching_up (not current) until read up to the end it had when gained.
  CHECK(nodes[2]->log_tail(std::size_t(1) << 26).find("partition caught up") != std::string::npos);

  // A fourth node joins while events flow.
  nodes[3]->start();
  post(kFaultEvents, live);
  live.push_back(nodes[3].get());
  check_exact(live, events, acked, "four nodes after one joined");
  CHECK(!int_list(nodes[3]->get_json("/api/cluster"), "/owned").empty());
  CHECK(nodes[3]->log_tail(std::size_t(1) << 26).find("partition caught up") != std::string::npos);
}

TEST_CASE("The broker stopped while a client posts: writes answer 503 with Retry-After, nothing acknowledged is "
          "lost, and processing resumes once it is back",
          "[kafka][cluster][faults][integration]") {
  const std::vector<Ev> events = taobao_like_events(4000);
  const std::string topic = fresh_topic("outage");
  broker().create_topic(topic, kPartitions);
  std::vector<std::unique_ptr<si::TempDir>> dirs;
  std::vector<std::unique_ptr<si::ServerProcess>> nodes;
  std::vector<si::ServerProcess*> live;
  for (int n = 0; n < kNodes; ++n) {
    dirs.push_back(std::make_unique<si::TempDir>("shoppulse-outage"));
    nodes.push_back(std::make_unique<si::ServerProcess>(fault_node(*dirs.back(), topic)));
    nodes.back()->start();
    live.push_back(nodes.back().get());
  }
  REQUIRE(si::poll_until([&] { return owned_and_caught_up(live); }, si::Millis(90000), si::Millis(200)));

  std::set<std::string> acked, sent;
  std::size_t next = 0, batch = 0;
  int refused = 0, refused_without_retry_after = 0;
  // One batch to the next node; acknowledged ids are recorded.
  const auto send_one = [&] {
    if (next >= events.size()) return;
    const std::size_t end = std::min(events.size(), next + 50);
    const si::HttpResponse r = live[batch++ % live.size()]->post("/api/events", body_of(events, next, end));
    for (std::size_t i = next; i < end; ++i) sent.insert(events[i].id);
    if (r.status == 200) {
      for (std::size_t i = next; i < end; ++i) acked.insert(events[i].id);
    } else {
      INFO(r.body);
      CHECK(r.status == 503);
      ++refused;
      if (!r.header("Retry-After")) ++refused_without_retry_after;
    }
    next = end;
  };
  while (next < 1500) send_one();
  REQUIRE(refused == 0);

  broker().stop();
  const adapters_test::Outage outage = adapters_test::feed_while_down(send_one, [&] { return refused > 0; },
                                                                      std::chrono::seconds(10));
  broker().start();
  INFO("batches during the outage: " << outage.batches << ", refused: " << refused);
  CHECK(refused > 0);
  CHECK(refused_without_retry_after == 0);
  // Once the producers reconnected writes are acknowledged again.
  const std::size_t before_resume = refused;
  REQUIRE(si::poll_until(
      [&] {
        const std::size_t was = acked.size();
        send_one();
        return acked.size() > was || next >= events.size();
      },
      si::Millis(120000), si::Millis(200)));
  while (next < events.size()) send_one();
  (void)before_resume;

  // Refused batches may have partly reached the topic; acknowledged ones all
  // did. The exports tell which of the refused events arrived.
  REQUIRE(si::poll_until([&] { return owned_and_caught_up(live); }, si::Millis(120000), si::Millis(250)));
  std::set<std::string> arrived;
  REQUIRE(si::poll_until(
      [&] {
        arrived.clear();
        for (const auto& [id, n] : exported_ids(live)) arrived.insert(id);
        return std::includes(arrived.begin(), arrived.end(), acked.begin(), acked.end());
      },
      si::Millis(120000), si::Millis(250)));
  for (const std::string& id : arrived) CHECK(sent.count(id) == 1);
  check_exact(live, events, arrived, "after the outage");
}

TEST_CASE("A cluster node refuses to start (exit code 2) on a topic that keeps messages for less than the longest "
          "window", "[kafka][cluster][integration]") {
  const std::string topic = fresh_topic("retention");
  broker().create_topic(topic, kPartitions, {{"retention.ms", "3600000"}});
  si::TempDir dir("shoppulse-retention");
  std::vector<std::string> args{"--data-dir", (dir.path() / "data").string(), "--port", "0", "--generator", "off"};
  for (const std::string& kv : cluster_node(dir, topic).sets) {
    args.push_back("--set");
    args.push_back(kv);
  }
  const si::CommandResult refused = si::run_shoppulse(args, si::Millis(60000));
  CHECK(refused.exit_code == 2);

  // With the check lowered to what the topic keeps, the node starts.
  si::ServerOptions o = cluster_node(dir, topic);
  o.sets.push_back("cluster.min_retention=1h");
  si::ServerProcess node(o);
  node.start();
  CHECK(node.get_json("/api/cluster").str("/derived_state") == "owned");
}
