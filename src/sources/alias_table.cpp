#include "alias_table.hpp"

namespace shoppulse::sources {

AliasTable::AliasTable(const std::vector<double>& weights)
    : probability_(weights.size(), 1.0), alias_(weights.size()) {
  const std::size_t n = weights.size();
  double total = 0;
  for (double w : weights) total += w > 0 ? w : 0;
  if (n == 0) return;
  if (!(total > 0)) {  // degenerate input: fall back to uniform
    for (std::size_t i = 0; i < n; ++i) alias_[i] = static_cast<std::uint32_t>(i);
    return;
  }
  std::vector<double> scaled(n);
  std::vector<std::uint32_t> small, large;
  for (std::size_t i = 0; i < n; ++i) {
    scaled[i] = (weights[i] > 0 ? weights[i] : 0) * static_cast<double>(n) / total;
    (scaled[i] < 1.0 ? small : large).push_back(static_cast<std::uint32_t>(i));
  }
  while (!small.empty() && !large.empty()) {
    std::uint32_t s = small.back();
    small.pop_back();
    std::uint32_t l = large.back();
    probability_[s] = scaled[s];
    alias_[s] = l;
    scaled[l] -= 1.0 - scaled[s];
    if (scaled[l] < 1.0) {
      large.pop_back();
      small.push_back(l);
    }
  }
  // Leftovers are 1 up to rounding error.
  for (std::uint32_t i : large) {
    probability_[i] = 1.0;
    alias_[i] = i;
  }
  for (std::uint32_t i : small) {
    probability_[i] = 1.0;
    alias_[i] = i;
  }
}

}  // namespace shoppulse::sources
