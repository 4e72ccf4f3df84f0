#include "shoppulse/recommend/propensity.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <unordered_map>

#include "decay.hpp"
#include "shoppulse/core/byte_codec.hpp"

namespace shoppulse {

using recommend_detail::Decayed;

namespace {

// Feature layout (all roughly in [0, 3] so one learning rate suits all).
enum Feature : std::size_t {
  kBias,
  kIsView,
  kIsClick,
  kIsCart,
  kIsFavorite,
  kIsRemove,
  kSinceLast,      // log1p(seconds since the user's previous event) / 5
  kFrequency,      // log1p(decayed events) / 2
  kCarts,          // log1p(decayed add_to_cart)
  kFavorites,      // log1p(decayed favorites)
  kSessionDepth,   // log1p(events this session) / 2
  kSameItemViews,  // log1p(this user's recent events on this item)
  kPastPurchases,  // log1p(decayed purchases)
  kCartMinusRemove,  // carts not removed again, clamped to [0, 3]
};
static_assert(kCartMinusRemove + 1 == kPropensityFeatures);

struct Example {
  std::uint64_t id = 0;
  TimestampMs time = 0;
  PropensityFeatures x{};
  double score = 0;
};

struct UserState {
  TimestampMs last_time = 0;
  bool seen = false;
  std::uint32_t session_depth = 0;
  Decayed events, carts, favorites, purchases, removes;
  std::vector<std::pair<Id, std::uint32_t>> recent_items;  // (item, events), most recent last, bounded
  PropensityFeatures last{};
  std::deque<Example> pending;
  TimestampMs last_seen = 0;
};

struct Expiry {
  TimestampMs time;
  Id user;
  std::uint64_t id;
};

constexpr std::size_t kRecentItems = 16;

double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

}  // namespace

struct PurchasePropensity::State {
  PropensityConfig config;
  std::array<double, kPropensityFeatures> w{};
  std::array<double, kPropensityFeatures> g2{};  // AdaGrad accumulators
  std::unordered_map<Id, UserState> users;
  std::deque<Expiry> expiry;  // log order
  std::size_t pending = 0;
  std::uint64_t next_id = 1;
  std::uint64_t trained = 0;
  std::function<void(const PropensityOutcome&)> observer;

  double predict(const PropensityFeatures& x) const {
    double z = 0;
    for (std::size_t i = 0; i < kPropensityFeatures; ++i) z += w[i] * x[i];
    return sigmoid(z);
  }

  void train(Id user, const Example& ex, bool label) {
    const double g = predict(ex.x) - (label ? 1.0 : 0.0);
    for (std::size_t i = 0; i < kPropensityFeatures; ++i) {
      const double gi = g * ex.x[i] + config.l2 * w[i];
      if (gi == 0) continue;
      g2[i] += gi * gi;
      w[i] -= config.learning_rate * gi / (std::sqrt(g2[i]) + 1e-8);
    }
    ++trained;
    if (observer) observer(PropensityOutcome{user, ex.time, ex.score, label, ex.x});
  }

  // Labels as negative every example whose horizon has passed by `now`.
  void expire(TimestampMs now) {
    while (!expiry.empty() && expiry.front().time < now - config.horizon_ms) {
      const Expiry x = expiry.front();
      expiry.pop_front();
      auto it = users.find(x.user);
      if (it == users.end()) continue;
      auto& p = it->second.pending;
      if (!p.empty() && p.front().id == x.id) {
        train(x.user, p.front(), false);
        p.pop_front();
        --pending;
      }
    }
  }

  void apply(const Event& e) {
    if (e.user == kNoId) return;
    expire(e.time_ms);
    UserState& u = users[e.user];
    if (e.type == EventType::purchase) {
      for (const Example& ex : u.pending) train(e.user, ex, true);
      pending -= u.pending.size();
      u.pending.clear();
    }
    // Update the user's state with this event.
    const std::int64_t hl = config.activity_half_life_ms;
    const double since_s = u.seen ? std::max<double>(0, static_cast<double>(e.time_ms - u.last_time) / 1000.0) : 1e6;
    if (!u.seen || e.time_ms - u.last_time > config.session_gap_ms) u.session_depth = 0;
    ++u.session_depth;
    u.seen = true;
    u.last_time = std::max(u.last_time, e.time_ms);
    u.last_seen = u.last_time;
    u.events.add(1, e.time_ms, hl);
    if (e.type == EventType::add_to_cart) u.carts.add(1, e.time_ms, hl);
    if (e.type == EventType::favorite) u.favorites.add(1, e.time_ms, hl);
    if (e.type == EventType::purchase) u.purchases.add(1, e.time_ms, hl);
    if (e.type == EventType::remove_from_cart) u.removes.add(1, e.time_ms, hl);
    std::uint32_t same = 0;
    if (e.product != kNoId) {
      auto& r = u.recent_items;
      auto it = std::find_if(r.begin(), r.end(), [&](const auto& p) { return p.first == e.product; });
      if (it != r.end()) {
        same = it->second + 1;
        r.erase(it);
      } else {
        same = 1;
      }
      r.emplace_back(e.product, same);
      if (r.size() > kRecentItems) r.erase(r.begin());
    }
    PropensityFeatures x{};
    x[kBias] = 1;
    x[kIsView] = e.type == EventType::view;
    x[kIsClick] = e.type == EventType::click || e.type == EventType::rate;
    x[kIsCart] = e.type == EventType::add_to_cart;
    x[kIsFavorite] = e.type == EventType::favorite;
    x[kIsRemove] = e.type == EventType::remove_from_cart;
    x[kSinceLast] = static_cast<float>(std::log1p(since_s) / 5);
    x[kFrequency] = static_cast<float>(std::log1p(u.events.at(e.time_ms, hl)) / 2);
    const double carts = u.carts.at(e.time_ms, hl);
    x[kCarts] = static_cast<float>(std::log1p(carts));
    x[kFavorites] = static_cast<float>(std::log1p(u.favorites.at(e.time_ms, hl)));
    x[kSessionDepth] = static_cast<float>(std::log1p(u.session_depth) / 2);
    x[kSameItemViews] = static_cast<float>(std::log1p(same));
    x[kPastPurchases] = static_cast<float>(std::log1p(u.purchases.at(e.time_ms, hl)));
    x[kCartMinusRemove] = static_cast<float>(std::clamp(carts - u.removes.at(e.time_ms, hl), 0.0, 3.0));
    u.last = x;
    if (e.type == EventType::purchase) return;  // examples ask "will a purchase follow?"

    Example ex{next_id++, e.time_ms, x, predict(x)};
    if (u.pending.size() >= config.max_pending_per_user) {
      // Dropped unlabelled: its label is not known yet, and guessing would bias the model.
      u.pending.pop_front();
      --pending;
    }
    u.pending.push_back(ex);
    ++pending;
    expiry.push_back({e.time_ms, e.user, ex.id});
    while (expiry.size() > config.max_pending) {
      const Expiry old = expiry.front();
      expiry.pop_front();
      auto it = users.find(old.user);
      if (it != users.end() && !it->second.pending.empty() && it->second.pending.front().id == old.id) {
        it->second.pending.pop_front();
        --pending;
      }
    }
    evict_if_needed();
  }

  void evict_if_needed() {
    const std::size_t bound = config.max_users;
    if (bound == 0 || users.size() <= bound) return;
    const std::size_t keep = bound - bound / 10;
    std::vector<std::pair<TimestampMs, Id>> order;
    order.reserve(users.size());
    for (const auto& [id, u] : users) order.emplace_back(u.last_seen, id);
    const std::size_t drop = users.size() - keep;
    std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(drop - 1), order.end());
    for (std::size_t i = 0; i < drop; ++i) {
      auto it = users.find(order[i].second);
      pending -= it->second.pending.size();
      users.erase(it);
    }
  }
};

std::string propensity_fingerprint(const PropensityConfig& c) {
  ByteWriter w;
  w.svarint(c.horizon_ms);
  w.svarint(c.session_gap_ms);
  w.svarint(c.activity_half_life_ms);
  w.f64(c.learning_rate);
  w.f64(c.l2);
  w.varint(c.max_pending_per_user);
  w.varint(c.max_pending);
  w.varint(c.max_users);
  w.varint(kPropensityFeatures);
  return std::move(w.str());
}

namespace {

void put_decayed(ByteWriter& w, const Decayed& d) {
  w.f32(d.value);
  w.svarint(d.time);
}
Decayed get_decayed(ByteReader& r) {
  Decayed d;
  d.value = r.f32();
  d.time = r.svarint();
  return d;
}
void put_features(ByteWriter& w, const PropensityFeatures& x) {
  for (float f : x) w.f32(f);
}
void get_features(ByteReader& r, PropensityFeatures& x) {
  for (float& f : x) f = r.f32();
}

}  // namespace

void PurchasePropensity::save(ByteWriter& w) const {
  const State& s = *state_;
  for (double v : s.w) w.f64(v);
  for (double v : s.g2) w.f64(v);
  w.varint(s.next_id);
  w.varint(s.trained);
  std::vector<Id> ids;
  ids.reserve(s.users.size());
  for (const auto& kv : s.users) ids.push_back(kv.first);
  std::sort(ids.begin(), ids.end());
  w.varint(ids.size());
  for (Id id : ids) {
    const UserState& u = s.users.at(id);
    w.varint(id);
    w.svarint(u.last_time);
    w.u8(u.seen ? 1 : 0);
    w.varint(u.session_depth);
    for (const Decayed* d : {&u.events, &u.carts, &u.favorites, &u.purchases, &u.removes}) put_decayed(w, *d);
    w.varint(u.recent_items.size());
    for (const auto& [item, n] : u.recent_items) {
      w.varint(item);
      w.varint(n);
    }
    put_features(w, u.last);
    w.varint(u.pending.size());
    for (const Example& ex : u.pending) {
      w.varint(ex.id);
      w.svarint(ex.time);
      put_features(w, ex.x);
      w.f64(ex.score);
    }
    w.svarint(u.last_seen);
  }
  w.varint(s.expiry.size());
  for (const Expiry& x : s.expiry) {
    w.svarint(x.time);
    w.varint(x.user);
    w.varint(x.id);
  }
}

bool PurchasePropensity::load(ByteReader& r) {
  State& s = *state_;
  s.users.clear();
  s.expiry.clear();
  s.pending = 0;
  for (double& v : s.w) v = r.f64();
  for (double& v : s.g2) v = r.f64();
  s.next_id = r.varint();
  s.trained = r.varint();
  const std::size_t n_users = r.count(2 + 4 * kPropensityFeatures);
  s.users.reserve(n_users);
  for (std::size_t i = 0; i < n_users && !r.failed(); ++i) {
    UserState& u = s.users[r.u32()];
    u.last_time = r.svarint();
    u.seen = r.u8() != 0;
    u.session_depth = r.u32();
    for (Decayed* d : {&u.events, &u.carts, &u.favorites, &u.purchases, &u.removes}) *d = get_decayed(r);
    u.recent_items.resize(r.count(2));
    for (auto& [item, n] : u.recent_items) {
      item = r.u32();
      n = r.u32();
    }
    get_features(r, u.last);
    const std::size_t n_pending = r.count(2 + 4 * kPropensityFeatures);
    for (std::size_t j = 0; j < n_pending && !r.failed(); ++j) {
      Example ex;
      ex.id = r.varint();
      ex.time = r.svarint();
      get_features(r, ex.x);
      ex.score = r.f64();
      u.pending.push_back(ex);
    }
    s.pending += u.pending.size();
    u.last_seen = r.svarint();
  }
  const std::size_t n_expiry = r.count(3);
  for (std::size_t i = 0; i < n_expiry && !r.failed(); ++i) {
    Expiry x{};
    x.time = r.svarint();
    x.user = r.u32();
    x.id = r.varint();
    s.expiry.push_back(x);
  }
  return !r.failed();
}

PurchasePropensity::PurchasePropensity(PropensityConfig config) : state_(std::make_unique<State>()) {
  state_->config = config;
}
PurchasePropensity::~PurchasePropensity() = default;
PurchasePropensity::PurchasePropensity(PurchasePropensity&&) noexcept = default;
PurchasePropensity& PurchasePropensity::operator=(PurchasePropensity&&) noexcept = default;

void PurchasePropensity::apply(const Event& event) { state_->apply(event); }

double PurchasePropensity::propensity(Id user) const {
  auto it = state_->users.find(user);
  if (it == state_->users.end()) return 0;
  return state_->predict(it->second.last);
}

std::vector<std::pair<Id, double>> PurchasePropensity::top_propensity(std::size_t n) const {
  std::vector<std::pair<Id, double>> all;
  all.reserve(state_->users.size());
  for (const auto& [id, u] : state_->users) all.emplace_back(id, state_->predict(u.last));
  auto better = [](const auto& a, const auto& b) {
    if (a.second != b.second) return a.second > b.second;
    return a.first < b.first;
  };
  const std::size_t k = std::min(n, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end(), better);
  all.resize(k);
  return all;
}

void PurchasePropensity::set_outcome_observer(std::function<void(const PropensityOutcome&)> observer) {
  state_->observer = std::move(observer);
}

const std::array<double, kPropensityFeatures>& PurchasePropensity::weights() const noexcept { return state_->w; }
std::uint64_t PurchasePropensity::trained_examples() const noexcept { return state_->trained; }
std::size_t PurchasePropensity::pending_examples() const noexcept { return state_->pending; }

}  // namespace shoppulse
