#include "aggregates.hpp"

#include <algorithm>

namespace shoppulse::windows {

void Bucket::reset(std::int64_t new_index) noexcept {
  index = new_index;
  pending = false;
  users_trimmed = false;
  frozen = std::string{};
  details_dropped = false;
  spilled = false;
  stored_through = 0;
  through_known = false;
  events.fill(0);
  revenue_minor = 0;
  users.clear();
  packed_users = PackedUsers{};
  products.clear();
  categories.clear();
  devices.clear();
  locations.clear();
}

std::uint8_t Bucket::add(const Event& e) {
  if (is_frozen()) [[unlikely]] thaw();
  if (!packed_users.empty()) [[unlikely]] unpack_users();
  stored_through = 0;
  const auto t = static_cast<std::size_t>(e.type);
  ++events[t];
  revenue_minor += e.revenue_minor();
  std::uint8_t& mask = users[e.user];
  const std::uint8_t before = mask;
  mask = static_cast<std::uint8_t>(mask | type_bit(e.type));
  if (details_dropped) return before;
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

MinuteRollup Bucket::to_rollup(std::int64_t minute, bool with_users) const {
  MinuteRollup r;
  if (is_frozen()) {
    // The details from the encoding (which has no users), the rest live.
    auto decoded = decode_rollup(minute, frozen);
    if (decoded) r = std::move(decoded).value();
  }
  r.minute = minute;
  r.events = events;
  r.revenue_minor = revenue_minor;
  r.users_partial = users_trimmed;
  if (with_users) {
    r.users.reserve(user_count());
    for_each_user([&](Id u, std::uint8_t m) { r.users.emplace_back(u, m); });
    if (packed_users.empty()) std::sort(r.users.begin(), r.users.end());
  }
  if (is_frozen()) return r;
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
  set_details(r);
}

void Bucket::set_details(const MinuteRollup& r) {
  for (const auto& p : r.products) {
    ProductCell& cell = products[p.product];
    cell.category = p.category;
    cell.counts[static_cast<std::size_t>(p.type)] = p.count;
  }
  for (const auto& c : r.categories) categories[c.category][static_cast<std::size_t>(c.type)] = c.count;
  for (const auto& d : r.devices) devices[d.id] = static_cast<std::uint32_t>(d.count);
  for (const auto& l : r.locations) locations[l.id] = static_cast<std::uint32_t>(l.count);
}

void Bucket::pack_users(PackedUsers::Scratch& scratch) {
  if (!packed_users.empty() || users.empty()) return;
  packed_users = PackedUsers::pack(users, scratch);
  users = FlatMap<std::uint8_t>{};
}

void Bucket::unpack_users() {
  if (packed_users.empty()) return;
  users.reserve(packed_users.size());
  packed_users.for_each([&](Id u, std::uint8_t m) { users[u] = m; });
  packed_users = PackedUsers{};
}

void Bucket::freeze() {
  if (is_frozen() || details_dropped) return;
  const MinuteRollup r = to_rollup(index, /*with_users=*/false);  // they stay in their map
  frozen = encode_rollup(r);
  frozen.shrink_to_fit();
  clear_details();
}

void Bucket::thaw() {
  if (!is_frozen()) return;
  auto decoded = decode_rollup(index, frozen);
  frozen = std::string{};
  if (!decoded) return;  // unreachable: written by freeze()
  set_details(*decoded);
}

void Bucket::spill() noexcept {
  if (stored_through == 0 || details_dropped) return;
  spilled = true;
  frozen = std::string{};
  clear_details();
}

void Bucket::unspill(const MinuteRollup& stored) {
  if (!spilled) return;
  spilled = false;
  set_details(stored);
}

void Bucket::add_counts_only(const Event& e) noexcept {
  ++events[static_cast<std::size_t>(e.type)];
  revenue_minor += e.revenue_minor();
}

void Bucket::drop_details() noexcept {
  details_dropped = true;
  frozen = std::string{};
  clear_details();
}

void Bucket::clear_details() noexcept {
  products = FlatMap<ProductCell>{};
  categories = FlatMap<TypeCounts>{};
  devices = FlatMap<std::uint32_t>{};
  locations = FlatMap<std::uint32_t>{};
}

void Bucket::details(Details& out) const {
  out.products.clear();
  out.categories.clear();
  out.devices.clear();
  out.locations.clear();
  if (is_frozen()) {
    auto decoded = decode_rollup(index, frozen);
    if (decoded) details_of(*decoded, out);  // else unreachable: written by freeze()
    return;
  }
  out.products.reserve(products.size());
  products.for_each([&](Id p, const ProductCell& cell) {
    std::uint64_t n = 0;
    for (auto c : cell.counts) n += c;
    out.products.emplace_back(p, n);
  });
  categories.for_each([&](Id c, const TypeCounts& counts) {
    std::uint64_t n = 0;
    for (auto x : counts) n += x;
    out.categories.emplace_back(c, n);
  });
  devices.for_each([&](Id d, std::uint32_t n) { out.devices.emplace_back(d, n); });
  locations.for_each([&](Id l, std::uint32_t n) { out.locations.emplace_back(l, n); });
}

void Bucket::details_of(const MinuteRollup& r, Details& out) {
  out.products.clear();
  out.categories.clear();
  out.devices.clear();
  out.locations.clear();
  // (id, type) lists sorted by id: one entry per id with the sum.
  for (const auto& p : r.products) {
    if (out.products.empty() || out.products.back().first != p.product) out.products.emplace_back(p.product, 0);
    out.products.back().second += p.count;
  }
  for (const auto& c : r.categories) {
    if (out.categories.empty() || out.categories.back().first != c.category) out.categories.emplace_back(c.category, 0);
    out.categories.back().second += c.count;
  }
  for (const auto& d : r.devices) out.devices.emplace_back(d.id, d.count);
  for (const auto& l : r.locations) out.locations.emplace_back(l.id, l.count);
}

std::size_t Bucket::memory_bytes() const noexcept {
  return frozen.capacity() + users.memory_bytes() + packed_users.memory_bytes() + products.memory_bytes() + categories.memory_bytes() + devices.memory_bytes() +
         locations.memory_bytes();
}

std::vector<RankedId> ranked(const FlatMap<std::uint64_t>& map, std::size_t limit) {
  std::vector<RankedId> out;
  out.reserve(map.size());
  map.for_each([&](Id id, std::uint64_t n) { out.push_back({id, n}); });
  keep_best(out, limit, ranks_before);
  return out;
}

}  // namespace shoppulse::windows
