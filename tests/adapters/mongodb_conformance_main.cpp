// Runs the [derived] storage conformance cases (rollups, checkpoints) with
// the MongoDB store added. Where FerretDB cannot be built or PostgreSQL is
// missing, prints "SKIPPED: ..." with the reason and exits 77 (ctest: Skipped).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "ferretdb_server.hpp"
#include "mongodb_factory.hpp"

// Beyond the shared cases: checkpoints of several MiB, as the recommender
// writes them, in chunks of the default size.
TEST_CASE("A checkpoint of several MiB is stored in chunks, replaced whole and read back byte for byte",
          "[mongodb][derived]") {
  shoppulse::MongoConfig config;
  config.url = mongodb_test::ferretdb().url(mongodb_test::fresh_database());
  auto opened = shoppulse::open_mongodb_store(config);
  REQUIRE(opened.ok());
  auto& store = **opened;
  auto pattern = [](std::size_t n, unsigned seed) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = char((i * 131 + seed) % 251);
    return s;
  };
  const std::string big = pattern((std::size_t{5} << 20) / 2 + 17, 1);  // 2.5 MiB + 17: three chunks
  REQUIRE(store.put_checkpoint("recommender", shoppulse::Checkpoint{1000, big}).ok());
  auto got = store.get_checkpoint("recommender");
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK((*got)->covers_through == 1000);
  CHECK((*got)->bytes == big);

  const std::string bigger = pattern((std::size_t{7} << 20) / 2, 2);  // 3.5 MiB: four chunks
  REQUIRE(store.put_checkpoint("recommender", shoppulse::Checkpoint{2000, bigger}).ok());
  got = store.get_checkpoint("recommender");
  REQUIRE(got->has_value());
  CHECK((*got)->covers_through == 2000);
  CHECK((*got)->bytes == bigger);

  REQUIRE(store.put_checkpoint("recommender", shoppulse::Checkpoint{3000, "small"}).ok());
  got = store.get_checkpoint("recommender");
  REQUIRE(got->has_value());
  CHECK((*got)->covers_through == 3000);
  CHECK((*got)->bytes == "small");
}

int main(int argc, char** argv) {
  std::string why;
  if (!shoppulse::servers::ferretdb_available(why)) {
    std::printf("SKIPPED: mongodb_conformance: %s\n", why.c_str());
    std::fflush(stdout);
    return 77;
  }
  std::vector<char*> args(argv, argv + argc);
  std::string tags = "[derived],[mongodb]";
  if (argc == 1) args.push_back(tags.data());
  return Catch::Session().run(int(args.size()), args.data());
}
