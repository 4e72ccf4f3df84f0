#pragma once
// The rig of the cluster tests: options of a cluster node on the test broker,
// the events they post (with what each was), and readers of a node's
// membership, log and figures.
#include <catch2/catch.hpp>

#include <chrono>
#include <ctime>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "integration/harness.hpp"
#include "kafka_test_broker.hpp"

namespace shoppulse::cluster_rig {

namespace si = shoppulse::integration;
using shoppulse::servers::broker;
using shoppulse::servers::fresh_topic;

inline constexpr int kNodes = 3;
inline constexpr int kPartitions = 6;
inline constexpr int kUsers = 300;
inline constexpr int kEvents = 1500;
inline constexpr int kBatch = 50;

inline const char* const kTypes[] = {"view", "view", "click", "add_to_cart", "purchase", "favorite"};

struct Posted {
  std::string type;
  std::string user;
  std::int64_t price_cents = 0;
};

// Event i: user i*7 mod kUsers, every type, prices on purchases, all within
// ten minutes (t0 + i ms).
inline std::string event_json(int i, std::int64_t t0, Posted& out) {
  out.user = "u" + std::to_string((i * 7) % kUsers);
  out.type = kTypes[i % 6];
  out.price_cents = out.type == "purchase" ? 1000 + (i % 17) * 125 : 0;
  std::ostringstream o;
  o << "{\"event_id\":\"e" << i << "\",\"user_id\":\"" << out.user << "\",\"event_type\":\"" << out.type
    << "\",\"product_id\":\"p" << (i % 23) << "\",\"category_id\":\"c" << (i % 4) << "\",\"timestamp\":"
    << (t0 + i);
  if (out.price_cents) o << ",\"price\":" << out.price_cents / 100 << '.' << (out.price_cents % 100 < 10 ? "0" : "")
                         << out.price_cents % 100;
  o << '}';
  return o.str();
}

// The event time the posted events start at: ten minutes before now.
inline std::int64_t ten_minutes_ago() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
             .count() -
         10 * 60 * 1000;
}

// Events [first, first + kBatch) as one JSON array body, each recorded in
// posted[i] (posted.size() > first + kBatch - 1).
inline std::string batch_body(int first, std::int64_t t0, std::vector<Posted>& posted) {
  std::string body = "[";
  for (int i = first; i < first + kBatch; ++i)
    body += (i > first ? "," : "") + event_json(i, t0, posted[std::size_t(i)]);
  return body + "]";
}

// Posts kEvents events from t0 in batches of kBatch, round-robin over the
// nodes, each answered 200; after each, also(body, answer) (another server
// posted the same batch, say). Returns what was posted.
inline std::vector<Posted> post_all(const std::vector<std::unique_ptr<si::ServerProcess>>& nodes, std::int64_t t0,
                                    const std::function<void(const std::string&, const si::HttpResponse&)>& also = {}) {
  std::vector<Posted> posted(kEvents);
  for (int first = 0, b = 0; first < kEvents; first += kBatch, ++b) {
    const std::string body = batch_body(first, t0, posted);
    const si::HttpResponse r = nodes[std::size_t(b) % nodes.size()]->post("/api/events", body);
    INFO(r.body);
    REQUIRE(r.status == 200);
    if (also) also(body, r);
  }
  return posted;
}

inline si::ServerOptions cluster_node(const si::TempDir& dir, const std::string& topic) {
  return si::ServerOptions{dir.path() / "data",
                           {},
                           false,
                           // Dedupe by event id is off: the stored offsets alone must
                           // keep an event from being appended twice.
                           {"http.host=127.0.0.1", "windows.allowed_lateness=0", "cluster.enabled=true",
                            "ingest.dedupe_max_ids=0",
                            "cluster.produce_timeout=2s", "cluster.member_timeout=5s",
                            "kafka.servers=" + broker().bootstrap(), "kafka.topic=" + topic,
                            "kafka.dead_letter_topic=" + topic + ".dlq", "kafka.group=g-" + topic,
                            "kafka.max_backoff=500ms"},
                           si::Millis(20000)};
}

// Every node's view of the cluster: kNodes current members whose partitions
// are disjoint, non-empty and together all kPartitions.
inline bool settled(const std::vector<std::unique_ptr<si::ServerProcess>>& nodes) {
  for (const auto& node : nodes) {
    const si::Json c = node->get_json("/api/cluster");
    if (c.i64("/partitions") != kPartitions || c.size("/members") != std::size_t(kNodes)) return false;
    std::set<std::int64_t> seen;
    std::size_t total = 0;
    for (std::size_t m = 0; m < std::size_t(kNodes); ++m) {
      const std::string at = "/members/" + std::to_string(m);
      bool current = false;
      if (c.at(at + "/current").get(current) != simdjson::SUCCESS || !current) return false;
      const std::size_t n = c.size(at + "/partitions");
      if (n == 0) return false;
      for (std::size_t p = 0; p < n; ++p) seen.insert(c.i64(at + "/partitions/" + std::to_string(p)));
      total += n;
    }
    if (seen.size() != std::size_t(kPartitions) || total != std::size_t(kPartitions)) return false;
  }
  return true;
}

inline bool caught_up(const std::vector<std::unique_ptr<si::ServerProcess>>& nodes) {
  for (const auto& node : nodes) {
    const si::Json c = node->get_json("/api/cluster");
    for (std::size_t m = 0; m < c.size("/members"); ++m)
      if (c.i64("/members/" + std::to_string(m) + "/lag") != 0) return false;
  }
  return true;
}

struct Logged {
  std::string user, type, event_id;
};

// The node's log (its own partitions: scope=local), read back through GET
// /api/events.
inline std::vector<Logged> logged(const si::ServerProcess& node) {
  const si::HttpResponse r = node.get("/api/events?scope=local&limit=100000");
  REQUIRE(r.status == 200);
  std::vector<Logged> out;
  std::istringstream lines(r.body);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    const si::Json e(line);
    out.push_back(Logged{e.str("/user_id"), e.str("/event_type"), e.str("/event_id")});
  }
  return out;
}

struct Figures {
  std::map<std::string, std::int64_t> counts;  // the additive fields of the 24 h window
  std::int64_t revenue_cents = 0;
};

inline std::string iso(std::int64_t ms) {
  const std::time_t t = std::time_t(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char out[32];
  std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return out;
}

// The node's figures over [t0 - 1 h, t0 + 1 h) of event time, from its log
// (scope=local: its own partitions, not the cluster's merged answer).
inline Figures figures(const si::ServerProcess& node, std::int64_t t0) {
  const si::HttpResponse r = node.get("/api/analytics/range?scope=local&step=1h&from=" + iso(t0 - 3600000) +
                                      "&to=" + iso(t0 + 3600000));
  Figures f;
  if (r.status != 200) return f;  // 503 while the range worker indexes the log after a start
  const si::Json j(r.body);
  for (const char* k : {"page_views", "clicks", "add_to_cart", "favorites", "purchases", "total_events",
                        "active_users", "viewers", "purchasers"})
    f.counts[k] = j.i64(std::string("/") + k);
  f.revenue_cents = j.cents("/revenue");
  return f;
}

// The newest lines of each node's log, for a failure's message (nodes:
// a range of pointers to ServerProcess, owning or not).
template <class Nodes>
std::string log_tails(const Nodes& nodes) {
  std::string out;
  for (const auto& node : nodes) out += "--- node on port " + std::to_string(node->port()) + "\n" + node->log_tail();
  return out;
}

// Fails the test unless ok, with the nodes' logs as they are at that
// moment (an INFO would capture them when it is written, before the wait).
template <class Nodes>
void require_or_show_logs(bool ok, const Nodes& nodes, const std::string& what) {
  if (!ok) FAIL(what << "\n" << log_tails(nodes));
}

// The next WebSocket message for which ready(message) holds, within timeout.
inline std::optional<std::string> ws_message(si::WebSocketClient& ws, const std::function<bool(const si::Json&)>& ready,
                                             si::Millis timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    const auto text = ws.read_text(si::Millis(2000));
    if (!text) continue;
    if (ready(si::Json(*text))) return text;
  }
  return std::nullopt;
}

}  // namespace shoppulse::cluster_rig
