#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "sha256.hpp"
#include "shoppulse/auth/keys.hpp"
#include "temp_dir.hpp"

using namespace shoppulse;
using namespace shoppulse::auth;

TEST_CASE("SHA-256 matches the FIPS 180-4 test vectors", "[auth]") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha256_hex(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("scopes parse from a comma list and render back", "[auth]") {
  CHECK(parse_scopes("read") == kScopeRead);
  CHECK(parse_scopes("read, ingest") == (kScopeRead | kScopeIngest));
  CHECK(parse_scopes("admin") == kScopeAdmin);
  CHECK_FALSE(parse_scopes("").has_value());
  CHECK_FALSE(parse_scopes("write").has_value());
  CHECK(scopes_text(kScopeRead | kScopeAdmin) == "read,admin");
}

TEST_CASE("a key splits into id and secret only in its exact form", "[auth]") {
  const std::string good = "sp_0123456789ab_" + std::string(48, 'f');
  const auto k = split_key(good);
  REQUIRE(k);
  CHECK(k->id == "0123456789ab");
  CHECK_FALSE(split_key(good.substr(1)));
  CHECK_FALSE(split_key("sp_0123456789AB_" + std::string(48, 'f')));
  CHECK_FALSE(split_key("sp_0123456789ab_" + std::string(47, 'f')));
  CHECK_FALSE(split_key(""));
}

TEST_CASE("origins are normalised and non-web origins refused", "[auth]") {
  CHECK(normalize_origin("https://Shop.Example/") == "https://shop.example");
  CHECK(normalize_origin("https://shop.example:443") == "https://shop.example");
  CHECK(normalize_origin("http://127.0.0.1:8000") == "http://127.0.0.1:8000");
  CHECK_FALSE(normalize_origin("null"));
  CHECK_FALSE(normalize_origin("ftp://x"));
  CHECK_FALSE(normalize_origin("https://a.example/path"));
}

TEST_CASE("created keys are stored hashed and verify only with their secret", "[auth]") {
  testing::TempDir dir;
  KeyFile file(dir.path());
  auto created = file.create(kScopeRead, "ops laptop", false, {}, 1000);
  REQUIRE(created);
  const auto presented = split_key(created->key);
  REQUIRE(presented);
  std::ifstream in(file.path());
  std::stringstream text;
  text << in.rdbuf();
  CHECK(text.str().find(presented->secret) == std::string::npos);  // never the secret itself
  CHECK(text.str().find(created->entry.secret_hash) != std::string::npos);

  auto loaded = file.load();
  REQUIRE(loaded);
  REQUIRE(loaded->size() == 1);
  CHECK(loaded->front().name == "ops laptop");
  CHECK(loaded->front().scopes == kScopeRead);
  CHECK(secret_matches(loaded->front(), presented->secret));
  std::string wrong = presented->secret;
  wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
  CHECK_FALSE(secret_matches(loaded->front(), wrong));
}

TEST_CASE("revoking marks the key and changes the file version", "[auth]") {
  testing::TempDir dir;
  KeyFile file(dir.path());
  CHECK(file.version() == 0);
  auto a = file.create(kScopeAdmin, "a", false, {}, 1);
  auto b = file.create(kScopeIngest, "b", false, {}, 2);
  REQUIRE(a);
  REQUIRE(b);
  const auto before = file.version();
  auto revoked = file.revoke(a->key, 3);  // by full key
  REQUIRE(revoked);
  CHECK(revoked->revoked_ms == 3);
  CHECK(file.version() != before);
  auto again = file.revoke(b->entry.id, 4);  // by id
  REQUIRE(again);
  auto loaded = file.load();
  REQUIRE(loaded);
  CHECK(loaded->at(0).revoked());
  CHECK(loaded->at(1).revoked());
  auto missing = file.revoke("000000000000", 5);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::not_found);
}

TEST_CASE("public keys are ingest-only and need an origin", "[auth]") {
  testing::TempDir dir;
  KeyFile file(dir.path());
  CHECK_FALSE(file.create(kScopeRead, "", true, {"https://shop.example"}, 1));
  CHECK_FALSE(file.create(kScopeIngest, "", true, {}, 1));
  CHECK_FALSE(file.create(kScopeIngest, "", true, {"shop.example"}, 1));
  auto ok = file.create(kScopeIngest, "storefront", true, {"https://Shop.example/"}, 1);
  REQUIRE(ok);
  CHECK(ok->entry.origins == std::vector<std::string>{"https://shop.example"});
  auto loaded = file.load();
  REQUIRE(loaded);
  CHECK(loaded->front().is_public);
  CHECK(loaded->front().origins == std::vector<std::string>{"https://shop.example"});
}

TEST_CASE("a malformed keys file is reported as corrupt with its line", "[auth]") {
  auto parsed = parse_key_file("# header\nnot a key line\n");
  REQUIRE_FALSE(parsed);
  CHECK(parsed.error().code == Errc::corrupt);
  CHECK(parsed.error().line == 2);
}
