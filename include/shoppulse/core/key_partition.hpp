#pragma once
// The partition Kafka's default partitioner gives a keyed record: the Java
// client's murmur2 of the key bytes, made non-negative, modulo the topic's
// partition count (librdkafka's "murmur2_random" for a non-empty key). Nodes
// of a cluster produce events keyed by user_id with that partitioner, so this
// says, without asking the broker, which partition (and so which node) holds
// a user.
#include <cstdint>
#include <string_view>

namespace shoppulse {

// Kafka's murmur2 (seed 0x9747b28c) of `key`, as a signed 32-bit value.
std::int32_t kafka_murmur2(std::string_view key) noexcept;

// Partition of `key` among `partitions` (> 0): (murmur2 & 0x7fffffff) % n.
std::uint32_t key_partition(std::string_view key, std::uint32_t partitions) noexcept;

}  // namespace shoppulse
