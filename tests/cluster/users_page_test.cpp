// GET /api/users for the whole cluster: the query handler pages through the
// members' users, member by member in node id order, against fake members
// (a MemberClient whose get() answers from lists in memory, and a stub of
// this node's own handler), so every page and cursor can be checked.
#include <catch2/catch.hpp>

#include <future>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "json_tree.hpp"
#include "shoppulse/cluster/query.hpp"
#include "shoppulse/core/key_partition.hpp"

using namespace shoppulse;
using namespace shoppulse::cluster;

namespace {

// A member's users as its scope=local /api/users pages them: `page_cap`
// stands for the scan limit (a page may be short and still have a cursor).
struct FakeMember {
  std::vector<std::string> users;
  std::size_t page_cap = SIZE_MAX;
  int fail_status = -1;  // -1: answers; 0: no answer; else this status
  std::vector<std::string> queries;  // what it was asked, in order
  std::vector<std::string> authorizations;

  std::pair<int, std::string> answer(std::string_view query, const std::string& authorization) {
    queries.emplace_back(query);
    authorizations.push_back(authorization);
    if (fail_status >= 0) return {fail_status, fail_status ? R"({"error":"unavailable"})" : ""};
    std::size_t limit = 100, from = 0;
    std::string search;
    for (const auto& [k, v] : api::parse_query(query)) {
      if (k == "limit") limit = std::stoul(v);
      if (k == "cursor") {
        if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos)
          return {400, R"({"error":"invalid_argument","detail":"not a cursor","field":"cursor"})"};
        from = std::stoul(v);
      }
      if (k == "search") search = v;
    }
    std::string body = "{\"users\":[";
    std::size_t i = from, n = 0, scanned = 0;
    for (; i < users.size() && n < limit && scanned < page_cap; ++i, ++scanned) {
      if (users[i].find(search) == std::string::npos) continue;
      body += std::string(n++ ? "," : "") + "{\"user_id\":\"" + users[i] +
              R"(","events":{"view":2,"purchase":1},"total_events":3,"total_spend":12.50,)"
              R"("first_seen":"2026-01-01T00:00:00.000Z","last_seen":"2026-01-02T00:00:00.000Z"})";
    }
    body += "],\"next_cursor\":";
    body += i < users.size() ? "\"" + std::to_string(i) + "\"" : "null";
    body += R"(,"complete":true,"applied_sequence":7,"logged_sequence":7})";
    return {200, body};
  }
  // Its scope=local /api/events page: a line per user from the cursor on,
  // and the next page's cursor (the X-Next-Cursor header), empty at its end.
  std::tuple<int, std::string, std::string> events(std::string_view query) {
    queries.emplace_back(query);
    if (fail_status >= 0) return {fail_status, fail_status ? R"({"error":"unavailable"})" : "", ""};
    std::size_t limit = 10000, from = 0;
    for (const auto& [k, v] : api::parse_query(query)) {
      if (k == "limit") limit = std::stoul(v);
      if (k == "cursor") from = std::stoul(v);
    }
    std::string body;
    std::size_t i = from;
    for (; i < users.size() && i < from + limit; ++i) body += "{\"user_id\":\"" + users[i] + "\"}\n";
    return {200, body, i < users.size() ? std::to_string(i) : ""};
  }
  // Its products, as /api/products answers them: a page of its list, or
  // with ids (scope=local&limit=all) the asked ones it knows; its window
  // ends at `end` unless the request pins it.
  struct Product {
    std::string id;
    std::int64_t views = 0;
    std::string category;
    std::int64_t category_minute = -1;
  };
  std::vector<Product> products;
  std::string end = "2026-01-01T00:10:00.000Z";
  std::pair<int, std::string> product_list(std::string_view query) {
    queries.emplace_back(query);
    if (fail_status >= 0) return {fail_status, fail_status ? R"({"error":"unavailable"})" : ""};
    std::size_t limit = 100, from = 0;
    std::optional<std::string> ids;
    std::string until = end;
    for (const auto& [k, v] : api::parse_query(query)) {
      if (k == "limit" && v != "all") limit = std::stoul(v);
      if (k == "cursor") from = std::stoul(v);
      if (k == "ids") ids = "," + v + ",";
      if (k == "end") until = v;
    }
    std::string body = "{\"products\":[";
    std::size_t i = ids ? 0 : from, n = 0;
    for (; i < products.size() && (ids || n < limit); ++i) {
      const Product& p = products[i];
      if (ids && ids->find("," + p.id + ",") == std::string::npos) continue;
      body += std::string(n++ ? "," : "") + "{\"product_id\":\"" + p.id + "\",\"category_id\":" +
              (p.category.empty() ? "null" : "\"" + p.category + "\"") + ",\"events\":{\"view\":" +
              std::to_string(p.views) + ",\"purchase\":0},\"interactions\":" + std::to_string(p.views);
      if (ids) body += ",\"category_minute\":" + std::to_string(p.category_minute);
      body += "}";
    }
    body += "],\"start\":\"2026-01-01T00:00:00.000Z\",\"end\":\"" + until + "\",\"next_cursor\":";
    body += !ids && i < products.size() ? "\"" + std::to_string(i) + "\"" : "null";
    body += R"(,"complete":true,"applied_sequence":7,"logged_sequence":7})";
    return {200, body};
  }
  // A merged route's answer: one figure, its users count.
  std::pair<int, std::string> realtime() const {
    return {200, "{\"total_events\":" + std::to_string(users.size()) + ",\"complete\":true}"};
  }
};

// The other members, reached by their advertised address.
class FakeClient final : public MemberClient {
 public:
  std::map<std::string, FakeMember*> by_address;
  void get(const std::string& advertise, std::string target, std::string authorization, std::int64_t,
           Done done) override {
    // Not Catch's REQUIRE: this may run on the client's thread. A wrong
    // target is a 404, which fails the walk.
    const std::size_t q = target.find('?');
    Answer a;
    if (q != std::string::npos && target.substr(0, q) == "/api/events") {
      std::tie(a.status, a.body, a.next_cursor) = by_address.at(advertise)->events(target.substr(q + 1));
    } else {
      std::tie(a.status, a.body) =
          q == std::string::npos ? std::pair<int, std::string>{404, "{}"}
          : target.substr(0, q) == "/api/users"
              ? by_address.at(advertise)->answer(target.substr(q + 1), authorization)
          : target.substr(0, q) == "/api/products" ? by_address.at(advertise)->product_list(target.substr(q + 1))
          : target.substr(0, q) == "/api/analytics/real-time" ? by_address.at(advertise)->realtime()
                                                              : std::pair<int, std::string>{404, "{}"};
    }
    const int status = a.status;
    if (status == 0) a.error = "timed out";
    // Answered later on the client's thread, as a real call is.
    post([done, a] { done(a); });
  }
};

// This node's own handler: the member of its node id.
class OwnHandler final : public api::Handler {
 public:
  explicit OwnHandler(FakeMember& member) : member_(member) {}
  void handle(api::ApiRequest request, api::Respond respond) override {
    api::ApiResponse r;
    if (request.path == "/api/events") {
      std::string next;
      std::tie(r.status, r.body, next) = member_.events(request.query);
      r.content_type = "application/x-ndjson";
      if (!next.empty()) r.headers.emplace_back("X-Next-Cursor", next);
      return respond(std::move(r));
    }
    // limit=all as the query layer passes it on: whole_lists.
    std::string query = request.query;
    if (request.whole_lists) query += "&limit=all";
    std::tie(r.status, r.body) = request.path == "/api/users" ? member_.answer(request.query, request.authorization)
                                 : request.path == "/api/products"       ? member_.product_list(query)
                                 : request.path == "/api/analytics/real-time" ? member_.realtime()
                                                                              : std::pair<int, std::string>{404, "{}"};
    respond(std::move(r));
  }

 private:
  FakeMember& member_;
};

constexpr std::uint32_t kPartitions = 6;

// n user ids of the partitions {first, first + 1} of kPartitions, as the
// events topic spreads users.
std::vector<std::string> names(const std::string& prefix, std::size_t n, std::uint32_t first) {
  std::vector<std::string> out;
  for (int i = 0; out.size() < n; ++i) {
    const std::string id = prefix + std::to_string(i);
    const std::uint32_t p = key_partition(id, kPartitions);
    if (p == first || p == first + 1) out.push_back(id);
  }
  return out;
}

// a's list with, third, a user of c's partitions: a node keeps listing the
// users of a partition it has lost.
std::vector<std::string> with_stale(std::vector<std::string> users) {
  users.insert(users.begin() + 2, names("moved", 1, 4).front());
  return users;
}

// Three members listed out of order; b (this node) has no users, c answers
// at most three users a page, with a cursor while it has more.
struct Rig {
  FakeMember a{with_stale(names("a-user", 5, 0))}, b{}, c{names("c-user", 7, 4), 3};
  FakeClient client;
  OwnHandler own{b};
  std::unique_ptr<api::Handler> handler;
  // a_owned: the partitions a's published state holds, when they differ
  // from those it consumes (0 and 1).
  explicit Rig(std::optional<std::vector<std::int32_t>> a_owned = std::nullopt) {
    client.by_address = {{"h:1", &a}, {"h:3", &c}};
    ClusterView view{kPartitions,
                     {MemberView{"c", "h:3", {4, 5}, std::nullopt, {}, true},
                      MemberView{"a", "h:1", {0, 1}, a_owned, {}, true},
                      MemberView{"b", "h:2", {2, 3}, std::nullopt, {}, true}}};
    QueryConfig config;
    config.self_id = "b";
    config.timeout_ms = 50;
    handler = make_cluster_query_handler(own, [view] { return view; }, client, config);
    client.start();
  }
  ~Rig() { client.stop(); }

  api::ApiResponse get(const std::string& query, const std::string& authorization = "Bearer k",
                       const std::string& path = "/api/users") {
    std::promise<api::ApiResponse> answered;
    api::ApiRequest rq;
    rq.method = "GET";
    rq.path = path;
    rq.query = query;
    rq.authorization = authorization;
    handler->handle(std::move(rq), [&answered](api::ApiResponse r) { answered.set_value(std::move(r)); });
    return answered.get_future().get();
  }

  // Every page from the first (or from `cursor`): the user ids in order.
  std::vector<std::string> walk(const std::string& query, std::size_t limit, std::size_t& pages,
                                std::optional<std::string> cursor = std::nullopt) {
    std::vector<std::string> ids;
    pages = 0;
    for (;;) {
      std::string q = query + (query.empty() ? "" : "&") + "limit=" + std::to_string(limit);
      if (cursor) q += "&cursor=" + *cursor;
      const api::ApiResponse r = get(q);
      INFO(r.body);
      REQUIRE(r.status == 200);
      REQUIRE(++pages < 100);
      auto v = json::parse(r.body);
      REQUIRE(v);
      const json::Value* users = v->find("users");
      REQUIRE(users);
      CHECK(users->a.size() <= limit);
      for (const json::Value& u : users->a) {
        ids.push_back(u.find("user_id")->s);
        CHECK(u.find("total_events")->i == 3);
      }
      const json::Value* coverage = v->find("coverage");
      REQUIRE(coverage);
      CHECK(coverage->find("scope")->s == "cluster");
      CHECK(coverage->find("members")->i == 3);
      CHECK(coverage->find("partitions")->i == 6);
      CHECK(coverage->find("current")->i == 6);
      if (!users->a.empty()) CHECK(r.body.find("\"total_spend\":12.50") != std::string::npos);
      // The header says what the body says.
      std::optional<std::string> header;
      for (const auto& [k, h] : r.headers)
        if (k == "X-Next-Cursor") header = h;
      const json::Value* next = v->find("next_cursor");
      REQUIRE(next);
      if (next->kind == json::Value::null) {
        CHECK_FALSE(header);
        return ids;
      }
      REQUIRE(next->kind == json::Value::string);
      CHECK(header == next->s);
      // URL-safe as it is.
      CHECK(next->s.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") ==
            std::string::npos);
      cursor = next->s;
    }
  }
};

// The ids of x from `from` on, then y's, without the users that moved.
std::vector<std::string> concat(const std::vector<std::string>& x, const std::vector<std::string>& y,
                                std::size_t from = 0) {
  std::vector<std::string> out;
  for (std::size_t i = from; i < x.size(); ++i)
    if (x[i].rfind("moved", 0) != 0) out.push_back(x[i]);
  out.insert(out.end(), y.begin(), y.end());
  return out;
}

std::vector<std::string> containing(const std::vector<std::string>& ids, const std::string& text) {
  std::vector<std::string> out;
  for (const std::string& id : ids)
    if (id.find(text) != std::string::npos) out.push_back(id);
  return out;
}

}  // namespace

TEST_CASE("A users cursor round-trips and anything else is refused", "[cluster][users]") {
  for (const UsersCursor& c : {UsersCursor{"node0", std::nullopt}, UsersCursor{"node0", "123"},
                               UsersCursor{"a.b/c d?&=", "x"}, UsersCursor{"n\xc3\xa9", ""},
                               UsersCursor{"z", std::string(300, '9')}}) {
    const std::string text = encode_users_cursor(c);
    INFO(text);
    CHECK(text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") ==
          std::string::npos);
    auto back = decode_users_cursor(text);
    REQUIRE(back);
    CHECK(*back == c);
  }
  // A member's cursor and none differ.
  CHECK(encode_users_cursor({"n", std::nullopt}) != encode_users_cursor({"n", ""}));
  const std::string good = encode_users_cursor({"node0", "12"});
  for (const std::string bad : {std::string(""), std::string("."), "." + good, good + ".x", good + "=",
                                std::string("bm9kZTA=="), std::string("QR"), std::string("Q"), std::string("a b"),
                                std::string("abc$"), std::string(5000, 'A')}) {
    INFO("cursor \"" << bad << "\"");
    auto r = decode_users_cursor(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::invalid_argument);
    CHECK(r.error().field == "cursor");
  }
}

TEST_CASE("The cluster's users are paged member by member, each once, in node id order", "[cluster][users]") {
  Rig rig;
  const auto all = concat(rig.a.users, rig.c.users);
  REQUIRE(all.size() == 12);
  std::size_t pages = 0;
  // limit 4: a's page of four with a cursor, three of them its own; then
  // a's last two, b's none and two of c's; then c's short pages (three at
  // most) to its end.
  CHECK(rig.walk("", 4, pages) == all);
  CHECK(pages == 4);
  // The user of c's partitions that a still lists is not listed (c's own
  // list stands for its owner's).
  REQUIRE(rig.a.users.size() == 6);
  // Each member was asked for its own part, with the client's key.
  for (const auto* m : {&rig.a, &rig.c}) {
    REQUIRE(!m->queries.empty());
    for (const std::string& q : m->queries) CHECK(q.find("scope=local") != std::string::npos);
    for (const std::string& k : m->authorizations) CHECK(k == "Bearer k");
  }
  CHECK(rig.b.queries.size() == 1);  // this node's own handler, once, from its start
  for (std::size_t limit : {1, 2, 3, 5, 7, 12, 100}) {
    INFO("limit " << limit);
    CHECK(rig.walk("", limit, pages) == all);
  }
  // A search goes to every member and pages the same way.
  const std::string one = rig.c.users[3].substr(1);  // "-user…": one of c's, perhaps some of a's
  REQUIRE(!containing(all, one).empty());
  CHECK(rig.walk("search=" + one, 1, pages) == containing(all, one));
  CHECK(rig.walk("search=user", 2, pages) == all);
  CHECK(rig.walk("search=none", 10, pages).empty());
  CHECK(rig.a.queries.back().find("search=none") != std::string::npos);

  // A cursor naming a node that left goes on with the next node id, from its start.
  CHECK(rig.walk("", 4, pages, encode_users_cursor({"bb", "2"})) == rig.c.users);
  CHECK(rig.walk("", 4, pages, encode_users_cursor({"zz", "2"})).empty());
  // One naming a member resumes in it.
  CHECK(rig.walk("", 4, pages, encode_users_cursor({"a", "3"})) == concat(rig.a.users, rig.c.users, 3));
}

TEST_CASE("A malformed users cursor or limit is a 400 naming it; scope=local is the node's own page",
          "[cluster][users]") {
  Rig rig;
  for (const std::string q : {"cursor=%25%25", "cursor=", "cursor=QR", "cursor=bm9kZTA.Mg.x"}) {
    INFO(q);
    const api::ApiResponse r = rig.get(q);
    CHECK(r.status == 400);
    auto v = json::parse(r.body);
    REQUIRE(v);
    CHECK(v->find("field")->s == "cursor");
  }
  for (const std::string q : {"limit=0", "limit=x", "limit=1001"}) {
    const api::ApiResponse r = rig.get(q);
    CHECK(r.status == 400);
    CHECK(r.body.find("\"field\":\"limit\"") != std::string::npos);
  }
  // A member refusing its own cursor (here a tampered one): its 400 as it is.
  const api::ApiResponse tampered = rig.get("cursor=" + encode_users_cursor({"a", "x"}));
  CHECK(tampered.status == 400);
  CHECK(tampered.body.find("\"field\":\"cursor\"") != std::string::npos);
  CHECK(rig.a.queries.back().find("cursor=x") != std::string::npos);
  // scope=local: this node's page as its handler gives it, no coverage.
  const api::ApiResponse local = rig.get("scope=local&limit=3");
  CHECK(local.status == 200);
  CHECK(local.body.find("coverage") == std::string::npos);
  CHECK(route_kind("GET", "/api/users") == RouteKind::paged);
}

TEST_CASE("A member that does not answer fails the page with 503 naming it, never skipped", "[cluster][users]") {
  for (int status : {0, 500, 503}) {
    Rig rig;
    rig.c.fail_status = status;
    INFO("c answers " << status);
    // a's five users fill the first page without asking c.
    const api::ApiResponse first = rig.get("limit=5");
    CHECK(first.status == 200);
    CHECK(rig.c.queries.empty());
    // The next page needs c's users: refused, naming c, with Retry-After.
    auto v = json::parse(first.body);
    REQUIRE(v);
    REQUIRE(v->find("next_cursor")->kind == json::Value::string);
    const api::ApiResponse r = rig.get("limit=5&cursor=" + v->find("next_cursor")->s);
    INFO(r.body);
    CHECK(r.status == 503);
    bool retry_after = false;
    for (const auto& [k, h] : r.headers) retry_after = retry_after || k == "Retry-After";
    CHECK(retry_after);
    CHECK(r.body.find("node c,") != std::string::npos);
    CHECK(rig.c.queries.size() == 1);
    // A page spanning b and c fails as well, though b answered.
    CHECK(rig.get("limit=10").status == 503);
  }
}

TEST_CASE("A member whose state still holds a partition that moved to another member is left out of a merged "
          "answer, so nothing is counted twice, and coverage says so",
          "[cluster][coverage]") {
  {
    Rig rig;
    const api::ApiResponse r = rig.get("window=5m", "Bearer k", "/api/analytics/real-time");
    INFO(r.body);
    REQUIRE(r.status == 200);
    CHECK(r.body.find("\"overlap\"") == std::string::npos);
    CHECK(r.body.find("\"total_events\":13") != std::string::npos);
  }
  // a consumes 0 and 1 but still answers from a state that holds 4 and 5
  // too, which c consumes now: a's answer is left out (its 6 users), and
  // its partitions 0 and 1 are not current until it has rebuilt.
  {
    Rig rig(std::vector<std::int32_t>{0, 1, 4, 5});
    const api::ApiResponse r = rig.get("window=5m", "Bearer k", "/api/analytics/real-time");
    INFO(r.body);
    REQUIRE(r.status == 200);
    auto v = json::parse(r.body);
    REQUIRE(v);
    CHECK(v->find("total_events")->i == 7);  // c's 7, b's none
    const json::Value* coverage = v->find("coverage");
    CHECK(coverage->find("current")->i == 4);
    CHECK(coverage->find("missing")->a.empty());
    REQUIRE(coverage->find("left_out"));
    REQUIRE(coverage->find("left_out")->a.size() == 1);
    CHECK(coverage->find("left_out")->a[0].s == "a");
    CHECK(!coverage->find("overlap"));
  }
  // a consumes 0 and 1 but its state holds only 0 (it gained 1 and is
  // rebuilding): nothing is held twice, a is merged, and 1 is not current.
  {
    Rig rig(std::vector<std::int32_t>{0});
    const api::ApiResponse r = rig.get("window=5m", "Bearer k", "/api/analytics/real-time");
    INFO(r.body);
    REQUIRE(r.status == 200);
    auto v = json::parse(r.body);
    REQUIRE(v);
    CHECK(v->find("total_events")->i == 13);
    CHECK(v->find("coverage")->find("current")->i == 5);
    CHECK(!v->find("coverage")->find("left_out"));
  }
}

TEST_CASE("The cluster's event export pages member by member in node id order, one member's page at a time",
          "[cluster][events]") {
  Rig rig;
  std::vector<std::string> lines;
  std::vector<std::size_t> page_sizes;
  std::optional<std::string> cursor;
  do {
    const api::ApiResponse r = rig.get("limit=4" + (cursor ? "&cursor=" + *cursor : std::string()), "Bearer k",
                                       "/api/events");
    INFO(r.body);
    REQUIRE(r.status == 200);
    REQUIRE(page_sizes.size() < 20);
    std::size_t n = 0;
    for (std::size_t at = 0; at < r.body.size();) {
      const std::size_t end = r.body.find('\n', at);
      REQUIRE(end != std::string::npos);
      auto v = json::parse(r.body.substr(at, end - at));
      REQUIRE(v);
      lines.push_back(v->find("user_id")->s);
      ++n;
      at = end + 1;
    }
    page_sizes.push_back(n);
    cursor.reset();
    std::optional<std::string> coverage;
    for (const auto& [k, h] : r.headers) {
      if (k == "X-Next-Cursor") cursor = h;
      if (k == "X-Shoppulse-Coverage") coverage = h;
    }
    CHECK(coverage == "cluster; partitions=6/6; members=3");
  } while (cursor);
  // a's six lines (as a exports them), b's none, c's seven: pages never mix members.
  std::vector<std::string> want = rig.a.users;
  want.insert(want.end(), rig.c.users.begin(), rig.c.users.end());
  CHECK(lines == want);
  CHECK(page_sizes == std::vector<std::size_t>{4, 2, 0, 4, 3});
  for (const std::string& q : rig.c.queries) CHECK(q.find("scope=local") != std::string::npos);
  // Another member's page is relayed whole, so it is cut at export_relay_lines.
  CHECK(rig.get("limit=20000", "Bearer k", "/api/events").status == 200);
  CHECK(rig.a.queries.back().find("limit=10000") != std::string::npos);
  // A member that does not answer fails its page with 503 naming it.
  for (int status : {0, 503}) {
    rig.c.fail_status = status;
    const api::ApiResponse r =
        rig.get("cursor=" + encode_users_cursor({"c", std::nullopt}), "Bearer k", "/api/events");
    CHECK(r.status == 503);
    CHECK(r.body.find("node c,") != std::string::npos);
  }
  rig.c.fail_status = -1;
  const api::ApiResponse bad = rig.get("cursor=QR", "Bearer k", "/api/events");
  CHECK(bad.status == 400);
  CHECK(bad.body.find("\"field\":\"cursor\"") != std::string::npos);
}

namespace {

// Walks the cluster's product list from query on, page by page: every
// listed product's views and category ("null" when it has none), and how
// many were listed again. check_page sees each page's document.
using ProductViews = std::map<std::string, std::pair<std::int64_t, std::string>>;
struct ProductWalk {
  ProductViews got;
  std::size_t repeated = 0;
};
ProductWalk walk_products(Rig& rig, const std::string& query,
                          const std::function<void(const json::Value&)>& check_page) {
  ProductWalk out;
  std::size_t pages = 0;
  std::optional<std::string> cursor;
  do {
    const api::ApiResponse r =
        rig.get(query + (cursor ? "&cursor=" + *cursor : std::string()), "Bearer k", "/api/products");
    INFO(r.body);
    REQUIRE(r.status == 200);
    REQUIRE(++pages < 20);
    auto v = json::parse(r.body);
    REQUIRE(v);
    for (const json::Value& p : v->find("products")->a) {
      const json::Value* c = p.find("category_id");
      out.repeated += !out.got.emplace(p.find("product_id")->s,
                                       std::make_pair(p.find("events")->find("view")->i,
                                                      c->kind == json::Value::string ? c->s : std::string("null")))
                           .second;
    }
    check_page(*v);
    cursor.reset();
    if (v->find("next_cursor")->kind == json::Value::string) cursor = v->find("next_cursor")->s;
  } while (cursor);
  return out;
}

}  // namespace

TEST_CASE("The cluster's product list lists each product once, by the last member of the walk that knows it, with "
          "every member's counts and the category seen last",
          "[cluster][products]") {
  Rig rig;
  rig.a.products = {{"p1", 3, "x", 10}, {"p2", 1, "x", 9}};
  rig.b.products = {{"p2", 4, "x", 11}, {"p3", 2, "z", 11}, {"p5", 0, "", -1}};
  rig.c.products = {{"p1", 5, "y", 12}, {"p4", 1, "y", 12}};
  rig.b.end = "2026-01-01T00:11:00.000Z";
  rig.c.end = "2026-01-01T00:12:00.000Z";
  const auto walk = [&](const std::string& query) {
    const ProductWalk w = walk_products(rig, query, [](const json::Value& page) {
      for (const json::Value& p : page.find("products")->a) {
        CHECK(p.find("interactions")->i == p.find("events")->find("view")->i);
        CHECK(!p.find("category_minute"));
      }
      CHECK(page.find("end")->s == "2026-01-01T00:12:00.000Z");  // the latest member's
      CHECK(page.find("coverage")->find("current")->i == 6);
    });
    CHECK(w.repeated == 0);
    return w.got;
  };
  using Want = ProductViews;
  const Want all{{"p1", {8, "y"}}, {"p2", {5, "x"}}, {"p3", {2, "z"}}, {"p4", {1, "y"}}, {"p5", {0, "null"}}};
  for (const std::string limit : {"1", "2", "100"}) {
    INFO("limit " << limit);
    CHECK(walk("limit=" + limit) == all);
  }
  // The counting round pins every member's window to the latest end.
  CHECK(rig.a.queries.back().find("end=2026-01-01T00:12:00.000Z") != std::string::npos);
  CHECK(walk("limit=2&category=y") == Want{{"p1", {8, "y"}}, {"p4", {1, "y"}}});
  CHECK(walk("limit=2&category=nothing").empty());
  // ids is the walk's own parameter, as of is the similar items merge's.
  CHECK(rig.get("ids=p1", "Bearer k", "/api/products").status == 400);
  const api::ApiResponse of = rig.get("of=p2", "Bearer k", "/api/products/p1/similar");
  CHECK(of.status == 400);
  CHECK(of.body.find("\"field\":\"of\"") != std::string::npos);
  // A member that does not answer fails the page, naming it.
  rig.c.fail_status = 0;
  const api::ApiResponse r = rig.get("limit=100", "Bearer k", "/api/products");
  CHECK(r.status == 503);
  CHECK(r.body.find("node c,") != std::string::npos);
}

TEST_CASE("The cluster's product list leaves out the counts of a member whose state still holds a partition that "
          "moved, and says so",
          "[cluster][products]") {
  // a consumes 0 and 1, but its state still holds 4 and 5, which c consumes now.
  Rig rig(std::vector<std::int32_t>{0, 1, 4, 5});
  rig.a.products = {{"p1", 3, "x", 14}, {"p2", 1, "x", 9}, {"p6", 2, "w", 3}};
  rig.b.products = {{"p2", 4, "x", 11}};
  rig.c.products = {{"p1", 5, "y", 12}};
  const ProductWalk w = walk_products(rig, "limit=1", [](const json::Value& page) {
    for (const json::Value& p : page.find("products")->a) CHECK(p.find("events")->find("purchase"));
    const json::Value* coverage = page.find("coverage");
    CHECK(coverage->find("current")->i == 4);
    REQUIRE(coverage->find("left_out"));
    CHECK(coverage->find("left_out")->a.at(0).s == "a");
  });
  CHECK(w.repeated == 0);
  const ProductViews& got = w.got;
  // a's counts (and its category of p1, seen later than c's) are not in
  // them; its product p6 is still listed, with nothing counted.
  CHECK(got == ProductViews{{"p1", {5, "y"}}, {"p2", {4, "x"}}, {"p6", {0, "null"}}});
}
