#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>
#include <string>

#include "asset_meta.hpp"
#include "asset_table.hpp"
#include "static_assets.hpp"

namespace shoppulse::http {
AssetTable test_assets();  // generated from tests/http/assets by shoppulse_embed_assets
}

using namespace shoppulse::http;

namespace {

std::string read_source_asset(const std::string& relative) {
  std::ifstream in(std::string(SHOPPULSE_HTTP_TEST_ASSETS) + relative, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

StaticReply get(const StaticAssets& assets, std::string_view raw, std::string_view decoded,
                std::string_view if_none_match = {}, std::string_view accept_encoding = {}) {
  return assets.serve(StaticRequest{raw, decoded, if_none_match, accept_encoding});
}

}  // namespace

TEST_CASE("the generated table is sorted and holds every file byte for byte", "[http]") {
  const AssetTable table = test_assets();
  REQUIRE(table.size == 4);
  for (std::size_t i = 1; i < table.size; ++i) CHECK(table.entries[i - 1].path < table.entries[i].path);
  for (const char* path : {"/index.html", "/assets/app-3f2a1b.js", "/blob.bin", "/tiny.txt"}) {
    const Asset* asset = table.find(path);
    REQUIRE(asset != nullptr);
    CHECK(asset->bytes == read_source_asset(path));
    CHECK(asset->etag == etag_for(asset->bytes));
  }
  CHECK(table.find("/blob.bin")->content_type == "application/octet-stream");
  CHECK(table.find("/index.html")->content_type == "text/html; charset=utf-8");
  CHECK(table.find("/missing") == nullptr);
  CHECK(table.find("/") == nullptr);
}

TEST_CASE("the generated table stores gzip only when smaller", "[http]") {
  const AssetTable table = test_assets();
  const Asset* html = table.find("/index.html");
  REQUIRE(!html->gzip.empty());
  CHECK(html->gzip.size() < html->bytes.size());
  CHECK(static_cast<unsigned char>(html->gzip[0]) == 0x1f);
  CHECK(static_cast<unsigned char>(html->gzip[1]) == 0x8b);
  CHECK(table.find("/tiny.txt")->gzip.empty());
}

TEST_CASE("embedded assets never resolve traversal attempts", "[http]") {
  const StaticAssets assets(test_assets(), "");
  CHECK(get(assets, "/../CMakeLists.txt", "/../CMakeLists.txt").status == 404);
  CHECK(get(assets, "/%2e%2e/CMakeLists.txt", "/../CMakeLists.txt").status == 404);
  CHECK(get(assets, "/assets/../../etc/passwd", "/assets/../../etc/passwd").status == 404);
  CHECK(get(assets, "/assets/..\\index.html", "/assets/..\\index.html").status == 404);
  CHECK(get(assets, "/assets/../index.html", "/assets/../index.html").status == 404);
}

TEST_CASE("a development static_dir serves files but rejects every escape from the dir", "[http]") {
  const StaticAssets assets(AssetTable{}, SHOPPULSE_HTTP_TEST_ASSETS);
  const auto ok = get(assets, "/index.html", "/index.html");
  CHECK(ok.status == 200);
  CHECK(ok.body() == read_source_asset("/index.html"));
  CHECK(ok.cache_control == "no-cache");
  CHECK(get(assets, "/dashboard/", "/dashboard/").status == 200);
  CHECK(get(assets, "/../CMakeLists.txt", "/../CMakeLists.txt").status == 404);
  CHECK(get(assets, "/%2e%2e/CMakeLists.txt", "/../CMakeLists.txt").status == 404);
  CHECK(get(assets, "/%2E%2E%2FCMakeLists.txt", "/..//CMakeLists.txt").status == 404);
  CHECK(get(assets, "/assets/../../CMakeLists.txt", "/assets/../../CMakeLists.txt").status == 404);
  CHECK(get(assets, "/..\\CMakeLists.txt", "/..\\CMakeLists.txt").status == 404);
  CHECK(get(assets, "/assets", "/assets").status == 404);  // a directory, not a file
  const auto etag = ok.etag;
  CHECK(get(assets, "/index.html", "/index.html", etag).status == 304);
}

TEST_CASE("static reply caching headers depend on the path", "[http]") {
  const StaticAssets assets(test_assets(), "");
  CHECK(get(assets, "/assets/app-3f2a1b.js", "/assets/app-3f2a1b.js").cache_control ==
        "public, max-age=31536000, immutable");
  CHECK(get(assets, "/index.html", "/index.html").cache_control == "no-cache");
  const auto missing = get(assets, "/nope", "/nope");
  CHECK(missing.status == 404);
  CHECK(missing.body() == R"({"error":"not_found","detail":"no such path: /nope"})");
}
