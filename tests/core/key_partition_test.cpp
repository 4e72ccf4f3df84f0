#include <catch2/catch.hpp>

#include <array>
#include <string>

#include "shoppulse/core/key_partition.hpp"

using namespace shoppulse;

// Expected hashes are those of Kafka's Java client (Utils.murmur2), the
// values its own unit tests check; the cluster tests check the placement
// against a real broker's partitioner too.
TEST_CASE("kafka_murmur2 equals the Java client's hash of the same bytes", "[key_partition]") {
  CHECK(kafka_murmur2("21") == -973932308);
  CHECK(kafka_murmur2("foobar") == -790332482);
  CHECK(kafka_murmur2("a-little-bit-long-string") == -985981536);
  CHECK(kafka_murmur2("a-little-bit-longer-string") == -1486304829);
  CHECK(kafka_murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") == -58897971);
  CHECK(kafka_murmur2("abc") == 479470107);
  CHECK(kafka_murmur2("1") == -1993445489);
  CHECK(kafka_murmur2("12345") == -1188365604);
}

TEST_CASE("key_partition is the non-negative hash modulo the partition count", "[key_partition]") {
  // -973932308 & 0x7fffffff = 1173551340.
  CHECK(key_partition("21", 6) == 1173551340U % 6);
  CHECK(key_partition("abc", 7) == 479470107U % 7);
  CHECK(key_partition("anything", 1) == 0);
  // Every partition is reached by some user id, and none outside the range.
  std::array<int, 12> seen{};
  for (int u = 0; u < 10000; ++u) {
    const auto p = key_partition(std::to_string(u), 12);
    REQUIRE(p < 12);
    ++seen[p];
  }
  for (int n : seen) CHECK(n > 600);
}
