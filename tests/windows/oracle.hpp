#pragma once
// Brute-force reference for the window engine: every answer recomputed with
// plain loops over all events applied so far, plus a random stream maker.
#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <optional>
#include <vector>

#include <catch2/catch.hpp>

#include "shoppulse/windows/rollup.hpp"
#include "shoppulse/windows/window_engine.hpp"

namespace shoppulse::test {

inline std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  const std::int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

inline Id fixed_category(Id product) { return product == kNoId ? kNoId : product % 4 + 1; }

struct StreamShape {
  std::uint64_t seed = 1;
  std::size_t events = 3000;
  std::uint32_t users = 7;
  std::uint32_t products = 11;
  std::int64_t lateness_ms = 5000;
  std::int64_t mean_step_ms = 3000;  // how fast event time moves on
  bool day_jumps = true;             // occasionally jump forward more than 24 h
};

// Events in arrival order: a moving clock, most events jittered within the
// lateness, some far beyond it (up to 2 h), now and then a jump of > 24 h and
// a straggler from before the jump.
inline std::vector<Event> random_stream(const StreamShape& shape) {
  std::mt19937_64 rng(shape.seed);
  auto uniform = [&](std::int64_t lo, std::int64_t hi) { return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng); };
  std::vector<Event> out;
  std::int64_t clock = 1'700'000'000'000 + uniform(0, 59'999);
  const EventType types[] = {EventType::view, EventType::view,     EventType::view,        EventType::click,
                             EventType::click, EventType::add_to_cart, EventType::purchase, EventType::rate,
                             EventType::favorite, EventType::remove_from_cart};
  for (std::size_t i = 0; i < shape.events; ++i) {
    clock += uniform(0, 2 * shape.mean_step_ms);
    const int dice = static_cast<int>(uniform(0, 999));
    if (shape.day_jumps && dice < 2) clock += 86'400'000 + uniform(0, 7'200'000);
    Event e;
    e.sequence = i + 1;
    if (dice < 700)
      e.time_ms = clock - uniform(0, shape.lateness_ms + 1500);
    else if (dice < 950)
      e.time_ms = clock - uniform(0, 600'000);
    else if (dice < 990)
      e.time_ms = clock - uniform(0, 7'200'000);
    else
      e.time_ms = clock - uniform(0, 200'000'000);  // often older than any window
    e.user = static_cast<Id>(uniform(1, shape.users));
    e.type = types[uniform(0, 9)];
    e.product = uniform(0, 9) == 0 ? kNoId : static_cast<Id>(uniform(1, shape.products));
    e.category = fixed_category(e.product);
    e.device = static_cast<Id>(uniform(0, 3));
    e.location = static_cast<Id>(uniform(0, 4));
    e.quantity = static_cast<std::uint32_t>(uniform(1, 3));
    e.price_minor = uniform(0, 50'000);
    e.rating = e.type == EventType::rate ? static_cast<std::uint8_t>(uniform(1, 5)) : 0;
    out.push_back(e);
  }
  return out;
}

inline bool same_event(const Event& a, const Event& b) {
  return a.time_ms == b.time_ms && a.sequence == b.sequence && a.price_minor == b.price_minor && a.user == b.user &&
         a.product == b.product && a.category == b.category && a.device == b.device && a.location == b.location &&
         a.quantity == b.quantity && a.type == b.type && a.rating == b.rating;
}

// Every field of two profiles, the recent events one by one.
inline void require_same_profile(const std::optional<UserProfile>& got, const std::optional<UserProfile>& want) {
  REQUIRE(got.has_value() == want.has_value());
  if (!got) return;
  REQUIRE(got->user == want->user);
  REQUIRE(got->events == want->events);
  REQUIRE(got->spend_minor == want->spend_minor);
  REQUIRE(got->first_seen_ms == want->first_seen_ms);
  REQUIRE(got->last_seen_ms == want->last_seen_ms);
  REQUIRE(got->top_categories == want->top_categories);
  REQUIRE(got->recent.size() == want->recent.size());
  for (std::size_t i = 0; i < got->recent.size(); ++i) REQUIRE(same_event(got->recent[i], want->recent[i]));
}

// Every figure of every window of two snapshots: bounds, the current and
// previous KPIs, the top lists, devices and locations.
inline void require_same_windows(const WindowSnapshot& got, const WindowSnapshot& want) {
  REQUIRE(got.applied_through == want.applied_through);
  REQUIRE(got.watermark_ms == want.watermark_ms);
  for (std::size_t s = 0; s < kWindowSpanCount; ++s) {
    INFO("window " << to_string(static_cast<WindowSpan>(s)));
    const WindowView& g = got.windows[s];
    const WindowView& w = want.windows[s];
    REQUIRE(g.start_ms == w.start_ms);
    REQUIRE(g.end_ms == w.end_ms);
    REQUIRE(g.current == w.current);
    REQUIRE(g.previous == w.previous);
    REQUIRE(g.top_products == w.top_products);
    REQUIRE(g.top_categories == w.top_categories);
    REQUIRE(g.devices == w.devices);
    REQUIRE(g.locations == w.locations);
  }
}

inline std::vector<RankedId> rank(const std::map<Id, std::uint64_t>& counts, std::size_t limit) {
  std::vector<RankedId> out;
  for (const auto& [id, n] : counts) out.push_back({id, n});
  std::stable_sort(out.begin(), out.end(), [](const RankedId& a, const RankedId& b) { return a.count > b.count; });
  if (out.size() > limit) out.resize(limit);
  return out;
}

class Oracle {
 public:
  explicit Oracle(const WindowConfig& config) : config_(config) {}

  void apply(const Event& e) {
    if (!has_events_ || e.time_ms > max_time_) max_time_ = e.time_ms;
    has_events_ = true;
    // Too late: older than the coarse tier's horizon (2 x 24 h before its end) at arrival.
    const std::int64_t coarse_end = floor_div(watermark(), 60'000);
    const bool late = floor_div(e.time_ms, 60'000) < coarse_end - 2 * 1440;
    if (late) ++too_late_;
    events_.push_back(e);
    dropped_.push_back(late);
  }

  bool has_events() const { return has_events_; }
  std::int64_t watermark() const { return max_time_ - config_.allowed_lateness_ms; }
  std::uint64_t too_late() const { return too_late_; }
  const std::vector<Event>& events() const { return events_; }

  std::int64_t end_ms(WindowSpan s) const {
    const std::int64_t width = span_ms(s) <= 900'000 ? 1000 : 60'000;
    return floor_div(watermark(), width) * width;
  }

  // Every figure below optionally counts only the events matching a filter.
  Kpis kpis(std::int64_t lo, std::int64_t hi, const EventFilter& filter = {}) const {
    Kpis k;
    std::set<Id> active;
    std::array<std::set<Id>, kFunnelSteps> steps;
    const EventType funnel_types[] = {EventType::view, EventType::click, EventType::add_to_cart, EventType::purchase};
    for (const Event& e : events_) {
      if (e.time_ms < lo || e.time_ms >= hi || !filter.matches(e)) continue;
      ++k.events[static_cast<std::size_t>(e.type)];
      k.revenue_minor += e.revenue_minor();
      active.insert(e.user);
      for (std::size_t s = 0; s < kFunnelSteps; ++s)
        if (e.type == funnel_types[s]) steps[s].insert(e.user);
    }
    k.active_users = active.size();
    for (std::size_t s = 0; s < kFunnelSteps; ++s) k.funnel[s] = steps[s].size();
    return k;
  }

  template <class Field>
  std::vector<RankedId> ranked(std::int64_t lo, std::int64_t hi, Field field, std::size_t limit,
                               const EventFilter& filter = {}) const {
    std::map<Id, std::uint64_t> counts;
    for (const Event& e : events_)
      if (e.time_ms >= lo && e.time_ms < hi && field(e) != kNoId && filter.matches(e)) ++counts[field(e)];
    return rank(counts, limit);
  }

  // The minute as the engine should hold it: events not dropped as too late.
  std::optional<MinuteRollup> rollup(std::int64_t minute, const EventFilter& filter = {}) const {
    MinuteRollup r;
    r.minute = minute;
    std::map<Id, std::uint8_t> users;
    std::map<std::pair<Id, EventType>, std::uint32_t> products;
    std::map<Id, Id> product_category;
    std::map<std::pair<Id, EventType>, std::uint32_t> categories;
    std::map<Id, std::uint64_t> devices, locations;
    bool any = false;
    for (std::size_t i = 0; i < events_.size(); ++i) {
      const Event& e = events_[i];
      if (dropped_[i] || floor_div(e.time_ms, 60'000) != minute || !filter.matches(e)) continue;
      any = true;
      ++r.events[static_cast<std::size_t>(e.type)];
      r.revenue_minor += e.revenue_minor();
      users[e.user] |= type_bit(e.type);
      if (e.product != kNoId) {
        ++products[{e.product, e.type}];
        if (e.category != kNoId || !product_category.count(e.product))
          product_category[e.product] = e.category != kNoId ? e.category : product_category[e.product];
      }
      if (e.category != kNoId) ++categories[{e.category, e.type}];
      if (e.device != kNoId) ++devices[e.device];
      if (e.location != kNoId) ++locations[e.location];
    }
    if (!any) return std::nullopt;
    r.users.assign(users.begin(), users.end());
    for (const auto& [key, n] : products) r.products.push_back({key.first, product_category[key.first], key.second, n});
    for (const auto& [key, n] : categories) r.categories.push_back({key.first, key.second, n});
    for (const auto& [id, n] : devices) r.devices.push_back({id, n});
    for (const auto& [id, n] : locations) r.locations.push_back({id, n});
    return r;
  }

  bool dropped(std::size_t i) const { return dropped_[i]; }

  std::optional<UserProfile> profile(Id user) const {
    UserProfile p;
    p.user = user;
    bool seen = false;
    std::map<Id, std::uint64_t> cats;
    std::vector<Event> mine;
    for (const Event& e : events_) {
      if (e.user != user) continue;
      if (!seen) p.first_seen_ms = p.last_seen_ms = e.time_ms;
      seen = true;
      ++p.events[static_cast<std::size_t>(e.type)];
      p.spend_minor += e.revenue_minor();
      p.first_seen_ms = std::min(p.first_seen_ms, e.time_ms);
      p.last_seen_ms = std::max(p.last_seen_ms, e.time_ms);
      if (e.category != kNoId) ++cats[e.category];
      mine.push_back(e);
    }
    if (!seen) return std::nullopt;
    p.top_categories = rank(cats, config_.top_categories_per_user);
    for (std::size_t i = 0; i < mine.size() && i < config_.recent_events_per_user; ++i)
      p.recent.push_back(mine[mine.size() - 1 - i]);
    return p;
  }

 private:
  WindowConfig config_;
  std::vector<Event> events_;
  std::vector<bool> dropped_;
  bool has_events_ = false;
  std::int64_t max_time_ = 0;
  std::uint64_t too_late_ = 0;
};

}  // namespace shoppulse::test
