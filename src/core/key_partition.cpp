#include "shoppulse/core/key_partition.hpp"

#include <cstring>

namespace shoppulse {

std::int32_t kafka_murmur2(std::string_view key) noexcept {
  constexpr std::uint32_t kSeed = 0x9747b28cU;
  constexpr std::uint32_t kMul = 0x5bd1e995U;
  constexpr int kShift = 24;
  const auto* data = reinterpret_cast<const unsigned char*>(key.data());
  const std::size_t length = key.size();
  std::uint32_t h = kSeed ^ static_cast<std::uint32_t>(length);
  std::size_t i = 0;
  for (; i + 4 <= length; i += 4) {
    // Little-endian words, whatever the host.
    std::uint32_t k = static_cast<std::uint32_t>(data[i]) | static_cast<std::uint32_t>(data[i + 1]) << 8 |
                      static_cast<std::uint32_t>(data[i + 2]) << 16 | static_cast<std::uint32_t>(data[i + 3]) << 24;
    k *= kMul;
    k ^= k >> kShift;
    k *= kMul;
    h *= kMul;
    h ^= k;
  }
  switch (length - i) {
    case 3: h ^= static_cast<std::uint32_t>(data[i + 2]) << 16; [[fallthrough]];
    case 2: h ^= static_cast<std::uint32_t>(data[i + 1]) << 8; [[fallthrough]];
    case 1:
      h ^= data[i];
      h *= kMul;
      break;
    default: break;
  }
  h ^= h >> 13;
  h *= kMul;
  h ^= h >> 15;
  std::int32_t out;
  std::memcpy(&out, &h, sizeof out);
  return out;
}

std::uint32_t key_partition(std::string_view key, std::uint32_t partitions) noexcept {
  const auto positive = static_cast<std::uint32_t>(kafka_murmur2(key)) & 0x7fffffffU;
  return partitions == 0 ? 0 : positive % partitions;
}

}  // namespace shoppulse
