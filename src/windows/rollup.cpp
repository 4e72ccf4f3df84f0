#include "shoppulse/windows/rollup.hpp"

#include <algorithm>

#include "aggregates.hpp"
#include "shoppulse/core/flat_map.hpp"
#include "shoppulse/core/byte_codec.hpp"

namespace shoppulse {

namespace {

// Bumped when the layout changes; decode rejects versions it does not know.
// 2 added `through` after the format byte; 1 is still read (through 0).
constexpr std::uint8_t kRollupFormat = 2;
constexpr std::uint8_t kRollupFormatV1 = 1;
// The flat maps reserve this id as their empty marker, so it is never valid.
constexpr std::uint64_t kMaxId = 0xFFFFFFFEull;

// Ids in every list are ascending, so each is written as the gap to the previous one.
class IdDeltas {
 public:
  void write(ByteWriter& w, Id id) {
    w.varint(id - prev_);
    prev_ = id;
  }
  // Returns the next id and whether it equals the previous one.
  Id read(ByteReader& r, bool& repeated) {
    const std::uint64_t gap = r.varint();
    repeated = gap == 0 && !first_;
    first_ = false;
    // Compared before adding: a gap near 2^64 would wrap to a smaller id.
    if (gap > kMaxId - prev_) {
      r.fail();
      return prev_;
    }
    const std::uint64_t id = std::uint64_t{prev_} + gap;
    prev_ = static_cast<Id>(id);
    return prev_;
  }

 private:
  Id prev_ = 0;
  bool first_ = true;
};

EventType read_type(ByteReader& r) {
  const std::uint8_t t = r.u8();
  if (t >= kEventTypeCount) r.fail();
  return static_cast<EventType>(t < kEventTypeCount ? t : 0);
}

void write_ranked(ByteWriter& w, const std::vector<RankedId>& list) {
  w.varint(list.size());
  IdDeltas ids;
  for (const auto& e : list) {
    ids.write(w, e.id);
    w.varint(e.count);
  }
}

void read_ranked(ByteReader& r, std::vector<RankedId>& list) {
  const std::size_t n = r.count(2);
  list.reserve(n);
  IdDeltas ids;
  for (std::size_t i = 0; i < n && !r.failed(); ++i) {
    bool repeated = false;
    const Id id = ids.read(r, repeated);
    const std::uint32_t count = r.u32();
    if (repeated) r.fail();
    list.push_back({id, count});
  }
}

}  // namespace

void merge_partial_users(MinuteRollup& partial, const MinuteRollup& earlier) {
  std::vector<std::pair<Id, std::uint8_t>> merged;
  merged.reserve(partial.users.size() + earlier.users.size());
  auto a = partial.users.begin();
  auto b = earlier.users.begin();
  while (a != partial.users.end() || b != earlier.users.end()) {
    if (b == earlier.users.end() || (a != partial.users.end() && a->first < b->first)) {
      merged.push_back(*a++);
    } else if (a == partial.users.end() || b->first < a->first) {
      merged.push_back(*b++);
    } else {
      merged.emplace_back(a->first, static_cast<std::uint8_t>(a->second | b->second));
      ++a;
      ++b;
    }
  }
  partial.users = std::move(merged);
  partial.users_partial = false;
}

std::string encode_rollup(const MinuteRollup& rollup) {
  ByteWriter w;
  w.u8(kRollupFormat);
  w.varint(rollup.through);
  for (auto n : rollup.events) w.varint(n);
  w.svarint(rollup.revenue_minor);
  w.varint(rollup.users.size());
  IdDeltas users;
  for (const auto& [u, mask] : rollup.users) {
    users.write(w, u);
    w.u8(mask);
  }
  w.varint(rollup.products.size());
  IdDeltas products;
  for (const auto& p : rollup.products) {
    products.write(w, p.product);
    w.varint(p.category);
    w.u8(static_cast<std::uint8_t>(p.type));
    w.varint(p.count);
  }
  w.varint(rollup.categories.size());
  IdDeltas categories;
  for (const auto& c : rollup.categories) {
    categories.write(w, c.category);
    w.u8(static_cast<std::uint8_t>(c.type));
    w.varint(c.count);
  }
  write_ranked(w, rollup.devices);
  write_ranked(w, rollup.locations);
  return w.take();
}

Result<MinuteRollup> decode_rollup(std::int64_t minute, std::string_view bytes, bool with_users) {
  ByteReader r(bytes);
  MinuteRollup out;
  out.minute = minute;
  const std::uint8_t format = r.u8();
  if (format != kRollupFormat && format != kRollupFormatV1) return make_error(Errc::corrupt, "rollup: unknown format");
  if (format == kRollupFormat) out.through = r.varint();
  for (auto& n : out.events) n = r.varint();
  out.revenue_minor = r.svarint();

  const std::size_t n_users = r.count(2);
  if (with_users) out.users.reserve(n_users);
  IdDeltas users;
  for (std::size_t i = 0; i < n_users && !r.failed(); ++i) {
    bool repeated = false;
    const Id u = users.read(r, repeated);
    const std::uint8_t mask = r.u8();
    if (repeated || mask == 0 || mask >= (1u << kEventTypeCount)) r.fail();
    if (with_users) out.users.emplace_back(u, mask);
  }

  const std::size_t n_products = r.count(4);
  out.products.reserve(n_products);
  IdDeltas products;
  for (std::size_t i = 0; i < n_products && !r.failed(); ++i) {
    bool repeated = false;
    MinuteRollup::ProductCount p;
    p.product = products.read(r, repeated);
    const std::uint64_t category = r.varint();
    if (category > kMaxId) r.fail();
    p.category = static_cast<Id>(category);
    p.type = read_type(r);
    p.count = r.u32();
    // (product, type) must be strictly ascending.
    if (repeated && !out.products.empty() && out.products.back().type >= p.type) r.fail();
    out.products.push_back(p);
  }

  const std::size_t n_categories = r.count(3);
  out.categories.reserve(n_categories);
  IdDeltas categories;
  for (std::size_t i = 0; i < n_categories && !r.failed(); ++i) {
    bool repeated = false;
    MinuteRollup::CategoryCount c;
    c.category = categories.read(r, repeated);
    c.type = read_type(r);
    c.count = r.u32();
    if (repeated && !out.categories.empty() && out.categories.back().type >= c.type) r.fail();
    out.categories.push_back(c);
  }

  read_ranked(r, out.devices);
  read_ranked(r, out.locations);
  if (r.failed() || !r.at_end()) return make_error(Errc::corrupt, "rollup: malformed bytes");
  return out;
}

TrendFold::TrendFold(std::int64_t from_minute, std::int64_t to_minute, std::int64_t step_minutes)
    : from_minute_(from_minute), to_minute_(to_minute), step_minutes_(step_minutes) {
  if (step_minutes <= 0 || to_minute <= from_minute) return;
  const std::int64_t n = (to_minute - from_minute + step_minutes - 1) / step_minutes;
  points_.resize(static_cast<std::size_t>(n));
  for (std::int64_t k = 0; k < n; ++k) points_[static_cast<std::size_t>(k)].start_ms = (from_minute + k * step_minutes) * 60'000;
}

void TrendFold::add(const MinuteRollup& m) {
  if (points_.empty() || m.minute < from_minute_ || m.minute >= to_minute_) return;
  const std::int64_t k = (m.minute - from_minute_) / step_minutes_;
  if (k != open_step_) {
    close_step();
    open_step_ = k;
  }
  TrendPoint& p = points_[static_cast<std::size_t>(k)];
  for (std::size_t t = 0; t < kEventTypeCount; ++t) p.events[t] += m.events[t];
  p.revenue_minor += m.revenue_minor;
  users_.insert(users_.end(), m.users.begin(), m.users.end());
  // Merged whenever they have doubled since the last merge: each user costs
  // O(log) amortised, and the vector stays within about twice the step's
  // distinct users.
  if (users_.size() >= 65'536 && users_.size() >= 2 * merged_) merge_users();
}

void TrendFold::merge_users() {
  std::sort(users_.begin(), users_.end());
  std::size_t out = 0;
  for (std::size_t i = 0; i < users_.size();) {
    const Id u = users_[i].first;
    std::uint8_t mask = 0;
    for (; i < users_.size() && users_[i].first == u; ++i) mask |= users_[i].second;
    users_[out++] = {u, mask};
  }
  users_.resize(out);
  merged_ = out;
}

void TrendFold::close_step() {
  if (open_step_ < 0) return;
  merge_users();
  TrendPoint& p = points_[static_cast<std::size_t>(open_step_)];
  for (const auto& [u, mask] : users_) {
    ++p.unique_users;
    if (mask & type_bit(EventType::view)) ++p.viewers;
    if (mask & type_bit(EventType::purchase)) ++p.purchasers;
  }
  users_.clear();
  users_.shrink_to_fit();  // the next step starts small again
  merged_ = 0;
  open_step_ = -1;
}

std::vector<TrendPoint> TrendFold::finish() {
  close_step();
  return std::move(points_);
}

std::vector<TrendPoint> aggregate_trend(std::span<const MinuteRollup> minutes, std::int64_t from_minute,
                                        std::int64_t to_minute, std::int64_t step_minutes) {
  std::vector<const MinuteRollup*> ordered;
  ordered.reserve(minutes.size());
  for (const auto& m : minutes) ordered.push_back(&m);
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const MinuteRollup* a, const MinuteRollup* b) { return a->minute < b->minute; });
  TrendFold fold(from_minute, to_minute, step_minutes);
  for (const MinuteRollup* m : ordered) fold.add(*m);
  return fold.finish();
}

struct ProductTotals::Table {
  struct Total {
    Id category = kNoId;
    std::uint64_t interactions = 0;
  };
  FlatMap<Total> totals;
};

ProductTotals::ProductTotals(std::optional<EventType> type, std::optional<Id> category)
    : type_(type), category_(category), table_(std::make_unique<Table>()) {}
ProductTotals::~ProductTotals() = default;
ProductTotals::ProductTotals(ProductTotals&&) noexcept = default;
ProductTotals& ProductTotals::operator=(ProductTotals&&) noexcept = default;

void ProductTotals::add(const MinuteRollup& minute) {
  const auto& products = minute.products;
  auto& totals = table_->totals;
  // Room for every matching product of the minute first, so the loop below
  // never grows the table; on real data most products of a window are seen
  // in one minute only, so their slots are cache misses: each is requested
  // a few products ahead.
  std::size_t matching = products.size();
  if (type_ || category_)
    matching = static_cast<std::size_t>(std::count_if(products.begin(), products.end(), [&](const auto& p) {
      return (!type_ || p.type == *type_) && (!category_ || p.category == *category_);
    }));
  totals.reserve(totals.size() + matching);
  constexpr std::size_t kAhead = 8;
  for (std::size_t i = 0; i < std::min(kAhead, products.size()); ++i) totals.prefetch(products[i].product);
  for (std::size_t k = 0; k < products.size(); ++k) {
    if (k + kAhead < products.size()) totals.prefetch(products[k + kAhead].product);
    const auto& p = products[k];
    if (type_ && p.type != *type_) continue;
    if (category_ && p.category != *category_) continue;
    Table::Total& t = totals[p.product];
    t.category = p.category;  // minutes are ascending: the latest category wins
    t.interactions += p.count;
  }
}

std::vector<ProductRank> ProductTotals::top(std::size_t limit) const {
  std::vector<ProductRank> out;
  out.reserve(table_->totals.size());
  table_->totals.for_each(
      [&](std::uint32_t product, const Table::Total& t) { out.push_back({product, t.category, t.interactions}); });
  keep_best(out, limit, [](const ProductRank& a, const ProductRank& b) {
    return a.interactions != b.interactions ? a.interactions > b.interactions : a.product < b.product;
  });
  return out;
}

std::vector<ProductRank> top_products(std::span<const MinuteRollup> minutes, std::optional<EventType> type,
                                      std::optional<Id> category, std::size_t limit) {
  ProductTotals totals(type, category);
  for (const auto& m : minutes) totals.add(m);
  return totals.top(limit);
}

}  // namespace shoppulse
