// Three shoppulse nodes in cluster mode (cluster.enabled) on one real Kafka
// broker: a topic of 6 partitions, one consumer group. Events posted to any
// node are produced to the topic keyed by user and reach exactly one node's
// log through the group; the figures that add (events per type, revenue,
// distinct users) summed over the nodes equal one single node's answer on
// the same events and the events' own counts; a stopped broker makes a
// write answer 503 with Retry-After. Nodes joining while events flow move
// partitions, and still every event is exported (counted) by exactly one
// node: the one owning its partition, which read it from the topic.
#include <catch2/catch.hpp>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cluster_rig.hpp"

namespace si = shoppulse::integration;
using namespace shoppulse::cluster_rig;

TEST_CASE("Three cluster nodes share the partitions: every event is in exactly one node's log, each user on one node, "
          "and the additive figures summed equal a single node's; a stopped broker makes writes 503",
          "[kafka][cluster][integration]") {
  const std::string topic = fresh_topic("cluster");
  broker().create_topic(topic, kPartitions);

  std::vector<std::unique_ptr<si::TempDir>> dirs;
  std::vector<std::unique_ptr<si::ServerProcess>> nodes;
  for (int n = 0; n < kNodes; ++n) {
    dirs.push_back(std::make_unique<si::TempDir>("shoppulse-cluster"));
    nodes.push_back(std::make_unique<si::ServerProcess>(cluster_node(*dirs.back(), topic)));
    nodes.back()->start();
  }
  require_or_show_logs(si::poll_until([&] { return settled(nodes); }, si::Millis(90000), si::Millis(200)), nodes,
                       "membership did not settle");

  // The single node: the same events, no cluster.
  si::TempDir single_dir("shoppulse-single");
  si::ServerProcess single(
      si::ServerOptions{single_dir.path() / "data", {}, false, {"http.host=127.0.0.1", "windows.allowed_lateness=0"}});
  single.start();

  const std::int64_t t0 = ten_minutes_ago();
  const std::vector<Posted> posted = post_all(nodes, t0, [&](const std::string& body, const si::HttpResponse& r) {
    CHECK(si::Json(r.body).u64("/accepted") == std::uint64_t(kBatch));
    REQUIRE(single.post("/api/events", body).status == 200);
  });

  // Every node's log, once everything is consumed.
  std::vector<std::vector<Logged>> logs(kNodes);
  REQUIRE(si::poll_until(
      [&] {
        std::size_t total = 0;
        for (int n = 0; n < kNodes; ++n) total += logged(*nodes[std::size_t(n)]).size();
        return total >= std::size_t(kEvents) && caught_up(nodes);
      },
      si::Millis(120000), si::Millis(200)));
  std::size_t total = 0;
  std::map<std::string, std::set<int>> nodes_of_user;
  std::map<std::string, std::int64_t> logged_types;
  for (int n = 0; n < kNodes; ++n) {
    logs[std::size_t(n)] = logged(*nodes[std::size_t(n)]);
    total += logs[std::size_t(n)].size();
    CHECK(!logs[std::size_t(n)].empty());  // the partitions are spread, so is the work
    for (const Logged& e : logs[std::size_t(n)]) {
      nodes_of_user[e.user].insert(n);
      logged_types[e.type]++;
    }
  }
  CHECK(total == std::size_t(kEvents));  // no loss, no double
  CHECK(nodes_of_user.size() == std::size_t(kUsers));
  for (const auto& [user, where] : nodes_of_user) {
    INFO(user);
    CHECK(where.size() == 1);  // user locality
  }
  std::map<std::string, std::int64_t> posted_types;
  std::int64_t posted_revenue = 0;
  for (const Posted& p : posted) {
    posted_types[p.type]++;
    posted_revenue += p.price_cents;
  }
  CHECK(logged_types == posted_types);

  // The additive figures: summed over the nodes = the single node = the events.
  REQUIRE(si::poll_until([&] { return figures(single, t0).counts["total_events"] == kEvents; }, si::Millis(60000)));
  Figures summed;
  REQUIRE(si::poll_until(
      [&] {
        summed = Figures{};
        for (const auto& node : nodes) {
          const Figures f = figures(*node, t0);
          for (const auto& [k, v] : f.counts) summed.counts[k] += v;
          summed.revenue_cents += f.revenue_cents;
        }
        return summed.counts["total_events"] == kEvents;
      },
      si::Millis(60000)));
  const Figures one = figures(single, t0);
  CHECK(summed.counts == one.counts);
  CHECK(summed.revenue_cents == one.revenue_cents);
  CHECK(one.counts.at("page_views") == posted_types["view"]);
  CHECK(one.counts.at("purchases") == posted_types["purchase"]);
  CHECK(one.counts.at("active_users") == kUsers);
  CHECK(one.revenue_cents == posted_revenue);

  // An import through one node goes to the topic like posted events (in
  // batches that wait for room in the producer queue): every row ends in
  // exactly one node's log.
  constexpr int kImported = 300;
  std::string csv;
  const std::string ts = std::to_string(t0 / 1000 + 1);  // Taobao timestamps are seconds
  for (int i = 0; i < kImported; ++i) csv += "imported" + std::to_string(i) + ",501,7,pv," + ts + "\n";
  const si::HttpResponse imported = nodes[2]->post("/api/import?format=taobao", csv, "text/csv");
  INFO(imported.body);
  REQUIRE(imported.status == 200);
  CHECK(si::Json(imported.body).u64("/accepted") == std::uint64_t(kImported));
  REQUIRE(si::poll_until(
      [&] {
        std::size_t n = 0;
        for (const auto& node : nodes) n += logged(*node).size();
        return n == std::size_t(kEvents + kImported);
      },
      si::Millis(120000), si::Millis(200)));

  // Bad input is refused before anything is produced: the logs stay as they are.
  CHECK(nodes[0]->post("/api/events", "[{\"user_id\":\"u1\",\"event_type\":\"teleport\"}]").status == 400);

  // No broker: a write is not acknowledged within cluster.produce_timeout.
  broker().stop();
  Posted late;
  const si::HttpResponse refused = nodes[1]->post("/api/events", "[" + event_json(kEvents, t0, late) + "]");
  broker().start();
  INFO(refused.body);
  CHECK(refused.status == 503);
  CHECK(refused.header("Retry-After").has_value());
  CHECK(refused.body.find("produce_timeout") != std::string::npos);

  std::size_t after = 0;
  for (const auto& node : nodes) after += logged(*node).size();
  CHECK(after <= std::size_t(kEvents + kImported) + 1);  // the refused event may still have reached the topic
}

TEST_CASE("Partitions that move while events flow (nodes joining one by one) leave every event counted by exactly "
          "one node",
          "[kafka][cluster][integration]") {
  const std::string topic = fresh_topic("rebalance");
  broker().create_topic(topic, kPartitions);
  std::vector<std::unique_ptr<si::TempDir>> dirs;
  std::vector<std::unique_ptr<si::ServerProcess>> nodes;
  const std::int64_t t0 = ten_minutes_ago();
  int next = 0;
  // Posts `batches` batches round-robin over the nodes running now.
  const auto post = [&](int batches) {
    for (int b = 0; b < batches; ++b, next += kBatch) {
      std::string body = "[";
      Posted p;
      for (int i = next; i < next + kBatch; ++i) body += (i > next ? "," : "") + event_json(i, t0, p);
      body += "]";
      const si::HttpResponse r = nodes[std::size_t(b) % nodes.size()]->post("/api/events", body);
      INFO(r.body);
      REQUIRE(r.status == 200);
    }
  };
  for (int n = 0; n < kNodes; ++n) {
    dirs.push_back(std::make_unique<si::TempDir>("shoppulse-cluster"));
    nodes.push_back(std::make_unique<si::ServerProcess>(cluster_node(*dirs.back(), topic)));
    nodes.back()->start();
    // The first node owns every partition once it joined; the others join
    // while it (and the ones before) consume what was just posted.
    if (n == 0)
      REQUIRE(si::poll_until([&] { return nodes[0]->get_json("/api/cluster").size("/assigned") == kPartitions; },
                             si::Millis(60000), si::Millis(100)));
    post(10);
  }
  require_or_show_logs(si::poll_until([&] { return settled(nodes); }, si::Millis(90000), si::Millis(200)), nodes,
                       "membership did not settle");
  post(6);
  // Until every event is in some log (a double must not stand in for a
  // missing one) and nothing is left to read.
  std::string why;
  const bool complete = si::poll_until(
      [&] {
        std::set<std::string> seen;
        for (const auto& node : nodes)
          for (const Logged& e : logged(*node)) seen.insert(e.event_id);
        why = std::to_string(seen.size()) + " of " + std::to_string(next) + " events logged, caught up: " +
              (caught_up(nodes) ? "yes" : "no");
        // Which ones, whose (the key is the user), and what each node says
        // of its partitions: where to look when one goes missing.
        std::string missing;
        int shown = 0;
        for (int i = 0; i < next && shown < 20; ++i) {
          if (seen.count("e" + std::to_string(i))) continue;
          Posted p;
          (void)event_json(i, t0, p);
          missing += " e" + std::to_string(i) + "/" + p.user;
          ++shown;
        }
        if (!missing.empty()) {
          why += "; missing (event/user):" + missing;
          for (std::size_t n = 0; n < nodes.size(); ++n) why += "\nnode " + std::to_string(n) + " /api/cluster: " + nodes[n]->get("/api/cluster").body;
        }
        return seen.size() == std::size_t(next) && caught_up(nodes);
      },
      si::Millis(120000), si::Millis(200));
  require_or_show_logs(complete, nodes, "not every event logged: " + why);
  std::size_t total = 0;
  total = 0;
  std::set<std::int64_t> held;
  std::size_t held_total = 0;
  std::int64_t handover_failures = 0;
  std::set<std::string> ids;
  for (const auto& node : nodes) {
    const auto events = logged(*node);
    total += events.size();
    for (const Logged& e : events) ids.insert(e.event_id);
    const si::Json c = node->get_json("/api/cluster");
    CHECK(c.i64("/rebalances") > 0);
    handover_failures += c.i64("/handover_failures");
    CHECK(c.str("/derived_state") == "owned");
    for (std::size_t i = 0; i < c.size("/held_partitions"); ++i) held.insert(c.i64("/held_partitions/" + std::to_string(i)));
    held_total += c.size("/held_partitions");
  }
  // No loss, no double: each node exports the events of the partitions it
  // owns, and a node gaining a partition reads it from the topic (from its
  // own stored offset, else the first), whether or not the group accepted
  // the previous owner's hand-over commit.
  INFO("hand-over commits refused: " << handover_failures << ", events exported: " << total << " of " << next);
  CHECK(ids.size() == std::size_t(next));
  CHECK(total == std::size_t(next));
  CHECK(held.size() == std::size_t(kPartitions));
  CHECK(held_total > std::size_t(kPartitions));  // some partitions moved: their events are in two logs

  // A clean stop: the group revokes every partition as the node leaves, and
  // that is not an ownership change: no rebuild for an empty set runs, the
  // final checkpoints cover the partitions it owned, and they are taken.
  si::ServerProcess& leaving = *nodes.back();
  const std::string before = leaving.log_tail(std::size_t(1) << 26);
  REQUIRE(leaving.stop() == 0);
  const std::string after = leaving.log_tail(std::size_t(1) << 26);
  REQUIRE(after.size() > before.size());
  const std::string during_stop = after.substr(before.size());
  INFO(during_stop);
  CHECK(during_stop.find("rebuilt for owned partitions") == std::string::npos);
  CHECK(during_stop.find("shoppulse stopped") != std::string::npos);
}

TEST_CASE("With API keys required, the nodes ask each other with the read key of cluster.key_file: every node's "
          "WebSocket push covers every partition, and a client without a key gets nothing",
          "[kafka][cluster][integration][security]") {
  const std::string topic = fresh_topic("ckeys");
  broker().create_topic(topic, kPartitions);
  si::TempDir keys_dir("shoppulse-ckeys");
  // One keys file for every node, as an operator would copy it.
  const auto create_key = [&](const std::string& scope) {
    const auto r = si::run_shoppulse({"keys", "create", "--scope", scope, "--data-dir", keys_dir.path().string()});
    REQUIRE(r.exit_code == 0);
    std::string key = r.out;
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
    REQUIRE(key.rfind("sp_", 0) == 0);
    return key;
  };
  const std::string admin = create_key("admin");
  const std::string member = create_key("read");
  const std::string viewer = create_key("read");
  const std::filesystem::path key_file = keys_dir.path() / "member.key";
  {
    std::FILE* f = std::fopen(key_file.c_str(), "w");
    REQUIRE(f);
    std::fputs((member + "\n").c_str(), f);
    std::fclose(f);
  }

  std::vector<std::unique_ptr<si::TempDir>> dirs;
  std::vector<std::unique_ptr<si::ServerProcess>> nodes;
  for (int n = 0; n < kNodes; ++n) {
    dirs.push_back(std::make_unique<si::TempDir>("shoppulse-ckeys"));
    si::ServerOptions o = cluster_node(*dirs.back(), topic);
    std::filesystem::create_directories(o.data_dir / "auth");
    std::filesystem::copy_file(keys_dir.path() / "auth" / "keys", o.data_dir / "auth" / "keys");
    o.sets.push_back("auth.required=true");
    o.sets.push_back("cluster.key_file=" + key_file.string());
    o.headers = {{"Authorization", "Bearer " + admin}};
    nodes.push_back(std::make_unique<si::ServerProcess>(o));
    nodes.back()->start();
  }
  require_or_show_logs(si::poll_until([&] { return settled(nodes); }, si::Millis(90000), si::Millis(200)), nodes,
                       "membership did not settle");

  post_all(nodes, ten_minutes_ago());
  require_or_show_logs(si::poll_until(
                           [&] {
                             std::size_t total = 0;
                             for (const auto& node : nodes) total += logged(*node).size();
                             return total == std::size_t(kEvents) && caught_up(nodes);
                           },
                           si::Millis(120000), si::Millis(200)),
                       nodes, "not every event was logged");

  for (int n = 0; n < kNodes; ++n) {
    INFO("node " << n);
    // A client without a key gets neither the REST answer nor the push.
    CHECK(si::http_request(nodes[std::size_t(n)]->port(), "GET", "/api/analytics/real-time?window=24h").status ==
          401);
    // The push asks the other members with the member key (without it they
    // would answer 401 and be listed missing): its 5 min window is the sum of
    // every node's own (each window ends at its node's newest event, so the
    // sum, not the events posted, is what the merge must give).
    const auto own_sum = [&] {
      std::int64_t sum = 0;
      for (const auto& node : nodes)
        sum += node->get_json("/api/analytics/real-time?window=5m&scope=local").i64("/total_events");
      return sum;
    };
    si::WebSocketClient ws(nodes[std::size_t(n)]->port(), "/ws/real-time?key=" + viewer);
    std::string last;
    const auto msg = ws_message(
        ws,
        [&](const si::Json& m) {
          last = m.text();
          return m.has("/coverage") && m.i64("/coverage/current") == kPartitions &&
                 m.i64("/windows/5m/total_events") == own_sum();
        },
        si::Millis(30000));
    INFO("last message: " << last);
    INFO(nodes[std::size_t(n)]->log_tail());
    REQUIRE(msg);
    const si::Json j(*msg);
    CHECK(j.size("/coverage/missing") == 0);
    CHECK(j.i64("/coverage/members") == kNodes);
    CHECK(j.i64("/total_events") == j.i64("/windows/5m/total_events"));
    // Not empty: a window ends before its node's newest second, so how much
    // of the 1.5 s of events it holds depends on where the seconds fall.
    CHECK(j.i64("/total_events") > 0);
  }
}
