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

#include <ctime>
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

  const std::int64_t t0 = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count() -
                          10 * 60 * 1000;
  std::vector<Posted> posted(kEvents);
  for (int first = 0, b = 0; first < kEvents; first += kBatch, ++b) {
    std::string body = "[";
    for (int i = first; i < first + kBatch; ++i) body += (i > first ? "," : "") + event_json(i, t0, posted[i]);
    body += "]";
    const si::HttpResponse r = nodes[std::size_t(b % kNodes)]->post("/api/events", body);
    INFO(r.body);
    REQUIRE(r.status == 200);
    CHECK(si::Json(r.body).u64("/accepted") == std::uint64_t(kBatch));
    REQUIRE(single.post("/api/events", body).status == 200);
  }

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
  CHECK(after <= std::size_t(kEvents) + 1);  // the refused event may still have reached the topic
}

TEST_CASE("Partitions that move while events flow (nodes joining one by one) leave every event counted by exactly "
          "one node",
          "[kafka][cluster][integration]") {
  const std::string topic = fresh_topic("rebalance");
  broker().create_topic(topic, kPartitions);
  std::vector<std::unique_ptr<si::TempDir>> dirs;
  std::vector<std::unique_ptr<si::ServerProcess>> nodes;
  const std::int64_t t0 = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count() -
                          10 * 60 * 1000;
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
