// The query layer's routing decisions and membership view.
#include <catch2/catch.hpp>

#include "shoppulse/cluster/query.hpp"
#include "shoppulse/core/key_partition.hpp"

using namespace shoppulse::cluster;

TEST_CASE("Routes: merged, per user, paged, local only, or not a query", "[cluster][query]") {
  CHECK(route_kind("GET", "/api/analytics/real-time") == RouteKind::merged);
  CHECK(route_kind("GET", "/api/analytics/snapshot") == RouteKind::merged);
  CHECK(route_kind("HEAD", "/api/analytics/trends") == RouteKind::merged);
  CHECK(route_kind("GET", "/api/products/popular") == RouteKind::merged);
  CHECK(route_kind("GET", "/api/products/categories/c1/popular") == RouteKind::merged);
  CHECK(route_kind("GET", "/api/analytics/range") == RouteKind::merged);
  CHECK(route_kind("GET", "/api/analytics/funnel") == RouteKind::merged);
  CHECK(route_kind("GET", "/api/analytics/user/u1") == RouteKind::per_user);
  CHECK(route_kind("GET", "/api/products/recommendations/user/u1") == RouteKind::per_user);
  CHECK(route_kind("GET", "/api/users") == RouteKind::paged);
  CHECK(route_kind("GET", "/api/products/trending") == RouteKind::merged);
  CHECK(route_kind("GET", "/api/products") == RouteKind::catalogue);
  CHECK(route_kind("GET", "/api/products/p1/similar") == RouteKind::merged);
  CHECK(route_kind("GET", "/api/events") == RouteKind::exported);
  CHECK(route_kind("POST", "/api/events") == RouteKind::not_a_query);
  CHECK(route_kind("GET", "/api/cluster") == RouteKind::not_a_query);
  CHECK(route_kind("GET", "/api/health") == RouteKind::not_a_query);
}

TEST_CASE("The members array of /api/cluster, and the owner of a partition", "[cluster][query]") {
  const auto members = parse_members(
      R"([{"node_id":"a","advertise":"127.0.0.1:1","partitions":[0,2,4],"lag":0,"updated_ms":1,"current":true},)"
      R"({"node_id":"b","advertise":"127.0.0.1:2","partitions":[1,3,5],"lag":0,"updated_ms":1,"current":true},)"
      R"({"node_id":"c","advertise":"127.0.0.1:3","partitions":[],"lag":0,"updated_ms":1,"current":false}])");
  REQUIRE(members.size() == 3);
  CHECK(members[1].advertise == "127.0.0.1:2");
  CHECK_FALSE(members[2].current);
  ClusterView view{6, members};
  REQUIRE(view.owner(3));
  CHECK(view.owner(3)->node_id == "b");
  CHECK(view.owner(6) == nullptr);
  // A user's owner: the member of key_partition(user, partitions).
  const auto p = static_cast<std::int32_t>(shoppulse::key_partition("u42", 6));
  REQUIRE(view.owner(p));
  CHECK(view.owner(p)->node_id == (p % 2 == 0 ? "a" : "b"));
  CHECK(parse_members("not json").empty());
}

TEST_CASE("A member rebuilding for a new set covers only the partitions its state already holds", "[cluster][query]") {
  const auto members = parse_members(
      R"([{"node_id":"a","advertise":"h:1","partitions":[0,1,2],"owned":[0,1,2],"rebuilding":false,"current":true},)"
      R"({"node_id":"b","advertise":"h:2","partitions":[3,4,5],"owned":[3],"rebuilding":true,"current":true},)"
      R"({"node_id":"c","advertise":"h:3","partitions":[6,7],"current":true}])");
  REQUIRE(members.size() == 3);
  CHECK(members[0].covered() == 3);
  // b consumes 3, 4 and 5 but its published state still covers 3 alone.
  CHECK(members[1].covered() == 1);
  // A record without "owned" (an older node): what it consumes.
  CHECK_FALSE(members[2].owned.has_value());
  CHECK(members[2].covered() == 2);
}

TEST_CASE("A member still reading a gained partition's backlog does not count it as current", "[cluster][query]") {
  const auto members = parse_members(
      R"([{"node_id":"a","partitions":[0,1,2],"owned":[0,1,2],"rebuilding":false,"catching_up":[2],"current":true},)"
      R"({"node_id":"b","partitions":[3,4,5],"owned":[3],"rebuilding":true,"catching_up":[3,4],"current":true},)"
      R"({"node_id":"c","partitions":[6,7],"owned":[6,7],"catching_up":[],"current":true}])");
  REQUIRE(members.size() == 3);
  CHECK(members[0].catching_up == std::vector<std::int32_t>{2});
  CHECK(members[0].covered() == 2);
  // 4 and 5 are not in its published state, 3 is still being read: none.
  CHECK(members[1].covered() == 0);
  CHECK(members[2].covered() == 2);
}
