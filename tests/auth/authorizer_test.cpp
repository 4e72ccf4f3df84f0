#include <catch2/catch.hpp>

#include "shoppulse/auth/authorizer.hpp"
#include "temp_dir.hpp"

using namespace shoppulse;
using namespace shoppulse::auth;

namespace {

struct Rig {
  testing::TempDir dir;
  ManualClock clock{1'000'000};
  std::string read, ingest, admin, revoked, storefront;

  explicit Rig(AuthConfig config = {}) {
    KeyFile file(dir.path());
    read = file.create(kScopeRead, "r", false, {}, 1)->key;
    ingest = file.create(kScopeIngest, "i", false, {}, 1)->key;
    admin = file.create(kScopeAdmin, "a", false, {}, 1)->key;
    revoked = file.create(kScopeAdmin, "x", false, {}, 1)->key;
    REQUIRE(file.revoke(revoked, 2));
    storefront = file.create(kScopeIngest, "shop", true, {"https://shop.example"}, 1)->key;
    config.data_dir = dir.path();
    authorizer = std::make_unique<Authorizer>(std::move(config), clock);
  }

  AuthDecision call(std::string_view method, std::string_view path, const std::string& key = {},
                    std::string_view origin = {}, std::string_view host = "127.0.0.1:8000") {
    const std::string header = key.empty() ? std::string() : "Bearer " + key;
    AuthRequest rq;
    rq.method = method;
    rq.path = path;
    rq.host = host;
    rq.origin = origin;
    rq.authorization = header;
    rq.client_address = "10.0.0.1";
    return authorizer->check(rq);
  }

  std::unique_ptr<Authorizer> authorizer;
};

AuthConfig required() {
  AuthConfig c;
  c.keys_required = true;
  return c;
}

}  // namespace

TEST_CASE("routes need the documented scope", "[auth]") {
  CHECK(required_scope("GET", "/api/health", false, false) == kScopeNone);
  CHECK(required_scope("GET", "/api/ready", false, false) == kScopeNone);
  CHECK(required_scope("GET", "/", false, false) == kScopeNone);
  CHECK(required_scope("GET", "/openapi.json", false, false) == kScopeNone);
  CHECK(required_scope("GET", "/metrics", false, false) == kScopeRead);
  CHECK(required_scope("GET", "/metrics", false, true) == kScopeNone);
  CHECK(required_scope("GET", "/api/analytics/real-time", false, false) == kScopeRead);
  CHECK(required_scope("POST", "/api/events", false, false) == kScopeIngest);
  CHECK(required_scope("POST", "/api/import", false, false) == kScopeAdmin);
  CHECK(required_scope("POST", "/api/system/stop-component/x", false, false) == kScopeAdmin);
  CHECK(required_scope("GET", "/api/system/logs", false, false) == kScopeAdmin);
  CHECK(required_scope("GET", "/ws/real-time", true, false) == kScopeRead);
}

TEST_CASE("with keys required, each key reaches exactly its scopes", "[auth]") {
  Rig rig(required());
  CHECK(rig.call("GET", "/api/health").allowed());
  CHECK(rig.call("GET", "/api/analytics/real-time").status == 401);
  CHECK(rig.call("GET", "/api/analytics/real-time", rig.read).allowed());
  CHECK(rig.call("GET", "/api/analytics/real-time", rig.ingest).status == 403);
  CHECK(rig.call("GET", "/api/analytics/real-time", rig.admin).allowed());
  CHECK(rig.call("GET", "/api/analytics/real-time", rig.revoked).status == 401);
  CHECK(rig.call("GET", "/api/analytics/real-time", rig.revoked).code == "key_revoked");
  CHECK(rig.call("POST", "/api/events", rig.read).status == 403);
  CHECK(rig.call("POST", "/api/events", rig.ingest).allowed());
  CHECK(rig.call("POST", "/api/import", rig.ingest).status == 403);
  CHECK(rig.call("POST", "/api/import", rig.admin).allowed());
  std::string forged = rig.admin;
  forged.back() = forged.back() == '0' ? '1' : '0';
  CHECK(rig.call("GET", "/api/analytics/real-time", forged).status == 401);
  CHECK(rig.call("GET", "/metrics").status == 401);
}

TEST_CASE("without keys required, requests without a key pass but bad keys do not", "[auth]") {
  Rig rig;
  CHECK(rig.call("POST", "/api/system/stop-component/stream_processor").allowed());
  CHECK(rig.call("GET", "/api/analytics/real-time", rig.revoked).status == 401);
  CHECK(rig.call("POST", "/api/import", rig.read).status == 403);
}

TEST_CASE("a revoked key stops working at once, without a restart", "[auth]") {
  Rig rig(required());
  CHECK(rig.call("GET", "/api/products/popular", rig.read).allowed());
  REQUIRE(KeyFile(rig.dir.path()).revoke(rig.read, 5));
  CHECK(rig.call("GET", "/api/products/popular", rig.read).code == "key_revoked");
}

TEST_CASE("the Host header must be an IP literal, localhost or a configured name", "[auth]") {
  AuthConfig c = required();
  c.allowed_hosts = {"analytics.example"};
  Rig rig(c);
  CHECK(rig.call("GET", "/api/health", {}, {}, "localhost:8000").allowed());
  CHECK(rig.call("GET", "/api/health", {}, {}, "[::1]:8000").allowed());
  CHECK(rig.call("GET", "/api/health", {}, {}, "Analytics.Example").allowed());
  CHECK(rig.call("GET", "/api/health", {}, {}, "attacker.example:8000").status == 421);
}

TEST_CASE("foreign origins are refused; same origin and listed origins pass", "[auth]") {
  AuthConfig c = required();
  c.cors_origins = {"https://admin.example"};
  Rig rig(c);
  const auto same = rig.call("GET", "/api/analytics/real-time", rig.read, "http://127.0.0.1:8000");
  CHECK(same.allowed());
  CHECK(same.cors_origin.empty());
  const auto listed = rig.call("GET", "/api/analytics/real-time", rig.read, "https://admin.example");
  CHECK(listed.allowed());
  CHECK(listed.cors_origin == "https://admin.example");
  CHECK(rig.call("POST", "/api/events", rig.admin, "https://evil.example").status == 403);
  CHECK(rig.call("GET", "/api/health", {}, "null").status == 403);
}

TEST_CASE("a public key only sends events, only from its origins", "[auth]") {
  Rig rig(required());
  const auto ok = rig.call("POST", "/api/events", rig.storefront, "https://shop.example");
  CHECK(ok.allowed());
  CHECK(ok.public_key);
  CHECK(ok.cors_origin == "https://shop.example");
  CHECK(rig.call("POST", "/api/events", rig.storefront).status == 403);  // no origin: not from a page
  CHECK(rig.call("GET", "/api/analytics/real-time", rig.storefront, "https://shop.example").status == 403);
  CHECK(rig.call("POST", "/api/events", rig.storefront, "https://other.example").status == 403);
  CHECK(rig.authorizer->preflight_origin("https://shop.example", "/api/events", "127.0.0.1:8000", false) ==
        "https://shop.example");
  CHECK(rig.authorizer->preflight_origin("https://shop.example", "/api/import", "127.0.0.1:8000", false).empty());
}

TEST_CASE("a shop's page may send events but not read the event log back", "[auth]") {
  Rig rig;  // keys optional: only the origin rule stands between a page and the log
  const auto posted = rig.call("POST", "/api/events", {}, "https://shop.example");
  CHECK(posted.allowed());
  CHECK(posted.cors_origin == "https://shop.example");
  const auto read = rig.call("GET", "/api/events", {}, "https://shop.example");
  CHECK(read.status == 403);
  CHECK(read.code == "origin_not_allowed");
  CHECK(rig.call("GET", "/api/events", rig.storefront, "https://shop.example").status == 403);
  CHECK(rig.call("GET", "/api/events", rig.read).allowed());  // a read key without an Origin (curl)
}

TEST_CASE("a key's bucket empties into 429 with Retry-After and refills with time", "[auth]") {
  AuthConfig c = required();
  c.key_rate_per_second = 2;
  c.key_burst = 3;
  Rig rig(c);
  for (int i = 0; i < 3; ++i) REQUIRE(rig.call("GET", "/api/products/popular", rig.read).allowed());
  const auto limited = rig.call("GET", "/api/products/popular", rig.read);
  CHECK(limited.status == 429);
  CHECK(limited.retry_after_s == 1);
  CHECK(rig.call("GET", "/api/products/popular", rig.admin).allowed());  // another key has its own bucket
  rig.clock.advance(500);
  CHECK(rig.call("GET", "/api/products/popular", rig.read).allowed());
  CHECK(rig.call("GET", "/api/products/popular", rig.read).status == 429);
}

TEST_CASE("public keys are limited per client address", "[auth]") {
  AuthConfig c = required();
  c.public_rate_per_second = 1;
  c.public_burst = 2;
  Rig rig(c);
  auto send = [&](std::string_view address) {
    const std::string header = "Bearer " + rig.storefront;
    AuthRequest rq;
    rq.method = "POST";
    rq.path = "/api/events";
    rq.host = "127.0.0.1:8000";
    rq.origin = "https://shop.example";
    rq.authorization = header;
    rq.client_address = address;
    return rig.authorizer->check(rq);
  };
  CHECK(send("10.0.0.1").allowed());
  CHECK(send("10.0.0.1").allowed());
  CHECK(send("10.0.0.1").status == 429);
  CHECK(send("10.0.0.2").allowed());
}

TEST_CASE("usable keys count neither revoked nor public keys", "[auth]") {
  Rig rig;
  CHECK(rig.authorizer->usable_keys() == 3);
  CHECK(is_loopback_host("127.0.0.1"));
  CHECK(is_loopback_host("::1"));
  CHECK(is_loopback_host("localhost"));
  CHECK_FALSE(is_loopback_host("0.0.0.0"));
  CHECK_FALSE(is_loopback_host("192.168.1.2"));
}
