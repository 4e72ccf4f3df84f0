#include "aggregates.hpp"

#include <algorithm>

namespace shoppulse::windows {

void Bucket::reset(std::int64_t new_index) noexcept {
  index = new_index;
  pending = false;
  users_trimmed = false;
  events.fill(0);
  revenue_minor = 0;
  users.clear();
  products.clear();
  categories.clear();
  devices.clear();
  locations.clear();
}

std::uint8_t Bucket::add(const Event& e) {
  const auto t = static_cast<std::size_t>(e.type);
  ++events[t];
  revenue_minor += e.revenue_minor();
  std::uint8_t& mask = users[e.user];
  const std::uint8_t before = mask;
  mask = static_cast<std::uint8_t>(mask | type_bit(e.type));
  if (e.product != kNoId) {
    ProductCell& cell = products[e.product];
    if (e.category != kNoId) cell.category = e.category;
    ++cell.counts[t];
  }
  if (e.category != kNoId) ++categories[e.category][t];
  if (e.device != kNoId) ++devices[e.device];
  if (e.location != kNoId) ++locations[e.location];
  return before;
}

namespace {

std::vector<RankedId> sorted_counts(const FlatMap<std::uint32_t>& map) {
  std::vector<RankedId> out;
  out.reserve(map.size());
  map.for_each([&](Id id, std::uint32_t n) { out.push_back({id, n}); });
  std::sort(out.begin(), out.end(), [](const RankedId& a, const RankedId& b) { return a.id < b.id; });
  return out;
}

}  // namespace

MinuteRollup Bucket::to_rollup(std::int64_t minute) const {
  MinuteRollup r;
  r.minute = minute;
  r.events = events;
  r.revenue_minor = revenue_minor;
  r.users_partial = users_trimmed;
  r.users.reserve(users.size());
  users.for_each([&](Id u, std::uint8_t m) { r.users.emplace_back(u, m); });
  std::sort(r.users.begin(), r.users.end());
  products.for_each([&](Id p, const ProductCell& cell) {
    for (std::size_t t = 0; t < kEventTypeCount; ++t)
      if (cell.counts[t]) r.products.push_back({p, cell.category, static_cast<EventType>(t), cell.counts[t]});
  });
  std::sort(r.products.begin(), r.products.end(), [](const auto& a, const auto& b) {
    return a.product != b.product ? a.product < b.product : a.type < b.type;
  });
  categories.for_each([&](Id c, const TypeCounts& counts) {
    for (std::size_t t = 0; t < kEventTypeCount; ++t)
      if (counts[t]) r.categories.push_back({c, static_cast<EventType>(t), counts[t]});
  });
  std::sort(r.categories.begin(), r.categories.end(), [](const auto& a, const auto& b) {
    return a.category != b.category ? a.category < b.category : a.type < b.type;
  });
  r.devices = sorted_counts(devices);
  r.locations = sorted_counts(locations);
  return r;
}

void Bucket::assign(const MinuteRollup& r) {
  reset(index);
  events = r.events;
  revenue_minor = r.revenue_minor;
  for (const auto& [u, m] : r.users) users[u] = m;
  for (const auto& p : r.products) {
    ProductCell& cell = products[p.product];
    cell.category = p.category;
    cell.counts[static_cast<std::size_t>(p.type)] = p.count;
  }
  for (const auto& c : r.categories) categories[c.category][static_cast<std::size_t>(c.type)] = c.count;
  for (const auto& d : r.devices) devices[d.id] = static_cast<std::uint32_t>(d.count);
  for (const auto& l : r.locations) locations[l.id] = static_cast<std::uint32_t>(l.count);
}

std::size_t Bucket::memory_bytes() const noexcept {
  return users.memory_bytes() + products.memory_bytes() + categories.memory_bytes() + devices.memory_bytes() +
         locations.memory_bytes();
}

std::vector<RankedId> ranked(const FlatMap<std::uint64_t>& map, std::size_t limit) {
  std::vector<RankedId> out;
  out.reserve(map.size());
  map.for_each([&](Id id, std::uint64_t n) { out.push_back({id, n}); });
  keep_best(out, limit, [](const RankedId& a, const RankedId& b) {
    return a.count != b.count ? a.count > b.count : a.id < b.id;
  });
  return out;
}

}  // namespace shoppulse::windows
