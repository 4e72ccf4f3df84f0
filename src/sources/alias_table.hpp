#pragma once
// Walker/Vose alias table: O(1) sampling from a fixed discrete distribution.
// Built once from non-negative weights (at least one positive); immutable after.
#include <cstdint>
#include <vector>

#include "random.hpp"

namespace shoppulse::sources {

class AliasTable {
 public:
  AliasTable() = default;
  explicit AliasTable(const std::vector<double>& weights);

  std::size_t size() const noexcept { return probability_.size(); }
  // Index in [0, size()); size() must be > 0.
  std::uint32_t sample(Xoshiro256& rng) const noexcept {
    std::uint32_t column = rng.below(probability_.size());
    return rng.uniform() < probability_[column] ? column : alias_[column];
  }

 private:
  std::vector<double> probability_;
  std::vector<std::uint32_t> alias_;
};

}  // namespace shoppulse::sources
