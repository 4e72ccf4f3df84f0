#include "shoppulse/recommend/propensity.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "decay.hpp"
#include "dense_map.hpp"
#include "shoppulse/core/byte_codec.hpp"
#include "shoppulse/core/prefetch.hpp"
#include "shoppulse/core/ring_fifo.hpp"

namespace shoppulse {

using recommend_detail::decay_factor;
using recommend_detail::Decayed;
using recommend_detail::DenseMap;
using recommend_detail::LruOrder;

namespace {

namespace pf = propensity_feature;

// Conversion rates are purchases per interest (non-purchase) event, with
// pseudo-counts pulling a thin category towards the shop-wide rate and a
// thin product towards its category's.
constexpr double kShopPriorEvents = 100;  // the shop rate starts at 1 / 100
constexpr double kCategoryPriorEvents = 20;
constexpr double kProductPriorEvents = 5;
constexpr double kRateClamp = 3;
constexpr std::size_t kRecentProducts = 8;
constexpr std::uint8_t kFormatVersion = 1;
constexpr Id kMaxUserId = Id{1} << 30;
constexpr TimestampMs kNever = std::numeric_limits<TimestampMs>::min();
// A checkpoint's time, bounded (decay.hpp); last_purchase may be kNever.
TimestampMs get_time(ByteReader& in) { return in.svarint_within(recommend_detail::kMaxCheckpointTimeMs); }
TimestampMs get_time_or_never(ByteReader& in) {
  static_assert(kNever == std::numeric_limits<TimestampMs>::min());
  return recommend_detail::svarint_within_or_none(in, recommend_detail::kMaxCheckpointTimeMs);
}

// An open example, in one queue for all users (opening order).
struct Example {
  std::uint64_t id = 0;  // opening number, from 1
  TimestampMs time = 0;
  Id user = kNoId;
  double score = 0;      // the prediction when it was opened
  PropensityFeatures x{};
};

struct UserState {
  std::uint64_t first_example = 0;  // examples numbered below were opened before this state existed
  TimestampMs last_time = 0;
  TimestampMs last_purchase = kNever;
  std::uint32_t session_depth = 0;  // events in the current session
  std::uint32_t open = 0;           // this user's open examples
  Decayed events, carts, favorites, purchases;
  std::uint8_t recent_count = 0;
  std::array<std::pair<Id, std::uint32_t>, kRecentProducts> recent{};  // (product, events), most recent last
  PropensityFeatures last{};
  Id lru_prev = kNoId;  // neighbours in State::recency
  Id lru_next = kNoId;

  void clear() { *this = UserState{}; }
};

// Decayed purchase and interest-event counts of one category or product.
// A table slot belongs to the id that last used it.
struct RateSlot {
  Id id = kNoId;
  float buys = 0;
  float events = 0;
  TimestampMs time = 0;
};

struct ShopRate {
  double buys = 0;
  double events = 0;
  TimestampMs time = 0;
};

// Brings counts up to `t` (never backwards) and returns the weight an
// addition at `t` gets: 1, or less for an addition older than the counts.
template <class Counts>
double bring_to(Counts& c, TimestampMs t, std::int64_t half_life_ms) {
  if (t > c.time) {
    const double f = decay_factor(t - c.time, half_life_ms);
    c.buys = static_cast<decltype(c.buys)>(c.buys * f);
    c.events = static_cast<decltype(c.events)>(c.events * f);
    c.time = t;
    return 1.0;
  }
  return decay_factor(c.time - t, half_life_ms);
}

double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

double clamp_rate(double log_ratio) { return std::clamp(log_ratio, -kRateClamp, kRateClamp); }

}  // namespace

struct PurchasePropensity::State {
  PropensityConfig config;
  std::array<double, kPropensityFeatures> w{};
  std::array<double, kPropensityFeatures> g2{};  // AdaGrad accumulators
  DenseMap<UserState> users;
  LruOrder recency;  // every user once, least recently active first
  RingFifo<Example> open;  // opening order
  std::vector<RateSlot> categories, products;
  ShopRate shop;
  std::uint64_t next_id = 1;
  std::uint64_t trained = 0;
  std::function<void(const PropensityOutcome&)> observer;

  explicit State(const PropensityConfig& c) : config(c), categories(c.category_slots), products(c.product_slots) {
    const double r = std::clamp(config.initial_rate, 1e-6, 1 - 1e-6);
    w[pf::bias] = std::log(r / (1 - r));
  }

  double predict(const PropensityFeatures& x) const {
    double z = 0;
    for (std::size_t i = 0; i < kPropensityFeatures; ++i) z += w[i] * x[i];
    return sigmoid(z);
  }

  void train(const Example& ex, bool label) {
    const double g = predict(ex.x) - (label ? 1.0 : 0.0);
    for (std::size_t i = 0; i < kPropensityFeatures; ++i) {
      const double gi = g * ex.x[i] + config.l2 * w[i];
      if (gi == 0) continue;
      g2[i] += gi * gi;
      w[i] -= config.learning_rate * gi / (std::sqrt(g2[i]) + 1e-8);
    }
    ++trained;
    if (observer) observer(PropensityOutcome{ex.user, ex.time, ex.score, label, ex.x});
  }

  // The user state an open example belongs to; null once that user was evicted.
  UserState* owner(const Example& ex) {
    UserState* u = users.find(ex.user);
    if (!u || ex.id < u->first_example) return nullptr;
    return u;
  }

  // Resolves every example whose horizon has passed by `now`. An event later
  // than the end of an example's horizon resolves it before being applied,
  // so the user's latest purchase decides the label. (Only an example opened
  // by a late event, which waits behind younger ones, can see a purchase past
  // its horizon; that one counts as no purchase.)
  void expire(TimestampMs now) {
    while (!open.empty() && open.front().time < now - config.horizon_ms) {
      // Events out of time order (a file sorted by user) make many come due
      // at once: the examples a few ahead and then their owners are asked for
      // while this one is resolved.
      prefetch_due();
      const Example& ex = open.front();
      if (UserState* u = owner(ex)) {
        --u->open;
        const TimestampMs p = u->last_purchase;
        const bool positive = p > ex.time && p - ex.time <= config.horizon_ms;
        // A purchase at the very moment the example opened is ambiguous (on
        // second-resolution sources usually the purchase's own page view).
        if (p != ex.time) train(ex, positive);
      }
      open.pop_front();
    }
  }

  // Hints the cache about what the coming events read and write, each a
  // cache miss otherwise (the stages are described at the declaration):
  // the user's state and its neighbours in `recency`, the rate counters,
  // the examples that come due next (each written a horizon ago) and their
  // owners' states, and the ring slot a new example goes to.
  void prefetch(const Event& e, std::size_t ahead) const noexcept {
    switch (ahead) {
      case 4:
        users.prefetch_slot(e.user);
        if (e.product != kNoId && !products.empty())
          prefetch_lines(&products[e.product % products.size()], sizeof(RateSlot));
        if (e.category != kNoId && !categories.empty())
          prefetch_lines(&categories[e.category % categories.size()], sizeof(RateSlot));
        break;
      case 3: users.prefetch(e.user); break;
      case 2: recency.prefetch_neighbour_slots(users, e.user); break;
      case 1:
        recency.prefetch_neighbours(users, e.user);
        // At the bound, a new user evicts the least recently active one.
        if (config.max_users != 0 && users.size() >= config.max_users) recency.prefetch_next(users);
        prefetch_due();
        if (const Example* slot = open.push_slot(2)) prefetch_lines(slot, sizeof(Example));
        break;
      default: break;
    }
  }
  // Three stages, each waiting for nothing: the example kExampleAhead from
  // the front; the index entry of the owner of the one kSlotAhead from it
  // (whose example was asked for earlier); the state of the owner of the one
  // kOwnerAhead from it (whose index entry was asked for earlier).
  void prefetch_due() const noexcept {
    static constexpr std::size_t kExampleAhead = 6, kSlotAhead = 4, kOwnerAhead = 2;
    if (open.size() > kExampleAhead) prefetch_lines(&open[kExampleAhead], sizeof(Example));
    if (open.size() > kSlotAhead) users.prefetch_slot(open[kSlotAhead].user);
    if (open.size() > kOwnerAhead) users.prefetch(open[kOwnerAhead].user);
  }

  RateSlot* slot(std::vector<RateSlot>& table, Id id) {
    if (id == kNoId || table.empty()) return nullptr;
    RateSlot& s = table[id % table.size()];
    if (s.id != id) s = RateSlot{id, 0, 0, 0};
    return &s;
  }

  void apply(const Event& e) {
    if (e.user == kNoId) return;
    expire(e.time_ms);
    const TimestampMs t = e.time_ms;
    const bool purchase = e.type == EventType::purchase;
    const bool fresh = !users.contains(e.user);
    UserState& u = users[e.user];
    if (fresh) u.first_example = next_id;
    recency.touch(users, e.user, u);

    // Features, from what was known before this event.
    PropensityFeatures x{};
    x[pf::bias] = 1;
    x[pf::is_click] = e.type == EventType::click || e.type == EventType::rate;
    x[pf::is_cart] = e.type == EventType::add_to_cart;
    x[pf::is_favorite] = e.type == EventType::favorite;
    x[pf::is_remove] = e.type == EventType::remove_from_cart;

    const std::int64_t rate_hl = config.rate_half_life_ms;
    const double shop_w = bring_to(shop, t, rate_hl);
    const double p_shop = (shop.buys + 1) / (shop.events + kShopPriorEvents);
    double p_category = p_shop;
    RateSlot* cat = slot(categories, e.category);
    double cat_w = 0;
    // (buys + prior x p) / (events + prior) / p, in a form that is exactly 1 without counts.
    if (cat) {
      cat_w = bring_to(*cat, t, rate_hl);
      const double ratio = (cat->buys / p_shop + kCategoryPriorEvents) / (cat->events + kCategoryPriorEvents);
      p_category = p_shop * ratio;
      x[pf::category_rate] = static_cast<float>(clamp_rate(std::log(ratio)));
    }
    RateSlot* prod = slot(products, e.product);
    double prod_w = 0;
    if (prod) {
      prod_w = bring_to(*prod, t, rate_hl);
      const double ratio = (prod->buys / p_category + kProductPriorEvents) / (prod->events + kProductPriorEvents);
      x[pf::product_rate] = static_cast<float>(clamp_rate(std::log(ratio)));
    }

    const std::int64_t hl = config.activity_half_life_ms;
    if (fresh || t - u.last_time > config.session_gap_ms) u.session_depth = 0;
    const auto recent_end = u.recent.begin() + u.recent_count;
    const auto recent = e.product == kNoId ? recent_end : std::find_if(u.recent.begin(), recent_end, [&](const auto& p) {
      return p.first == e.product;
    });
    const std::uint32_t same = recent != recent_end ? recent->second : 0;
    if (!fresh) {
      const double since_s = std::max<double>(0, static_cast<double>(t - u.last_time) / 1000.0);
      x[pf::returning] = 1;
      x[pf::since_last] = static_cast<float>(std::log1p(since_s) / 8);
      x[pf::frequency] = static_cast<float>(std::log1p(u.events.at(t, hl)) / 2);
      x[pf::session_depth] = static_cast<float>(std::log1p(u.session_depth) / 2);
      x[pf::same_product] = static_cast<float>(std::log1p(same));
      x[pf::carts] = static_cast<float>(std::log1p(std::max(0.0, u.carts.at(t, hl))));
      x[pf::favorites] = static_cast<float>(std::log1p(u.favorites.at(t, hl)));
      x[pf::past_purchases] = static_cast<float>(std::log1p(u.purchases.at(t, hl)));
    }

    // Then learn from the event.
    if (purchase) {
      shop.buys += shop_w;
      if (cat) cat->buys = static_cast<float>(cat->buys + cat_w);
      if (prod) prod->buys = static_cast<float>(prod->buys + prod_w);
      u.last_purchase = std::max(u.last_purchase, t);
      u.purchases.add(1, t, hl);
    } else {
      shop.events += shop_w;
      if (cat) cat->events = static_cast<float>(cat->events + cat_w);
      if (prod) prod->events = static_cast<float>(prod->events + prod_w);
    }
    ++u.session_depth;
    u.last_time = fresh ? t : std::max(u.last_time, t);
    u.events.add(1, t, hl);
    if (e.type == EventType::add_to_cart) u.carts.add(1, t, hl);
    if (e.type == EventType::remove_from_cart) u.carts.add(-1, t, hl);
    if (e.type == EventType::favorite) u.favorites.add(1, t, hl);
    if (e.product != kNoId) {
      // Move the product to the most recent end, dropping the oldest when full.
      auto from = recent != recent_end ? recent : u.recent.begin();
      if (recent == recent_end && u.recent_count < kRecentProducts) from = recent_end, ++u.recent_count;
      std::rotate(from, from + 1, u.recent.begin() + u.recent_count);
      u.recent[u.recent_count - 1u] = {e.product, same + 1};
    }
    u.last = x;
    if (!purchase && u.open < config.max_pending_per_user) {
      // A user with max_pending_per_user open examples opens no more until one
      // resolves: the bound never depends on a label.
      open.push_back(Example{next_id++, t, e.user, predict(x), x});
      ++u.open;
      while (open.size() > config.max_pending) {
        if (UserState* o = owner(open.front())) --o->open;
        open.pop_front();
      }
    }
    evict_if_needed();
  }

  // Drops the least recently active users (never the current one) down to
  // the bound. Their open examples are dropped unlabelled as they come due.
  void evict_if_needed() {
    if (config.max_users == 0) return;
    const std::size_t bound = std::max<std::size_t>(config.max_users, 1);
    while (users.size() > bound) {
      const Id oldest = recency.head;
      recency.unlink(users, oldest, *users.find(oldest));
      users.erase(oldest);
      recency.prefetch_after_next(users);
    }
  }

  // ---- checkpoint ----

  static void put(ByteWriter& out, const PropensityFeatures& x) {
    for (float v : x) out.f32(v);
  }
  static void get(ByteReader& in, PropensityFeatures& x) {
    for (float& v : x) v = in.f32();
  }
  static void put(ByteWriter& out, const Decayed& d) {
    out.f32(d.value);
    out.svarint(d.time);
  }
  static void get(ByteReader& in, Decayed& d) {
    d.value = in.f32();
    d.time = get_time(in);
  }

  static void put_table(ByteWriter& out, const std::vector<RateSlot>& table) {
    out.varint(table.size());
    std::size_t used = 0;
    for (const RateSlot& s : table) used += s.id != kNoId;
    out.varint(used);
    std::size_t prev = 0;
    for (std::size_t i = 0; i < table.size(); ++i) {
      const RateSlot& s = table[i];
      if (s.id == kNoId) continue;
      out.varint(i - prev);  // gap from the previous used slot
      prev = i;
      out.varint(s.id);
      out.f32(s.buys);
      out.f32(s.events);
      out.svarint(s.time);
    }
  }
  static bool get_table(ByteReader& in, std::vector<RateSlot>& table) {
    if (in.varint() != table.size()) return false;  // other slot counts: ids would map elsewhere
    const std::size_t used = in.count(11);
    std::size_t at = 0;
    for (std::size_t k = 0; k < used && !in.failed(); ++k) {
      const std::uint64_t gap = in.varint();
      if ((k > 0 && gap == 0) || gap >= table.size() - at) return false;
      at += static_cast<std::size_t>(gap);
      RateSlot& s = table[at];
      s.id = in.u32();
      s.buys = in.f32();
      s.events = in.f32();
      s.time = get_time(in);
      if (s.id == kNoId || s.id % table.size() != at) return false;
    }
    return !in.failed();
  }

  void save(ByteWriter& out) const {
    out.u8(kFormatVersion);
    out.varint(kPropensityFeatures);
    for (double v : w) out.f64(v);
    for (double v : g2) out.f64(v);
    out.varint(next_id);
    out.varint(trained);
    out.f64(shop.buys);
    out.f64(shop.events);
    out.svarint(shop.time);
    put_table(out, categories);
    put_table(out, products);

    out.varint(users.size());
    // Recency order: it decides evictions.
    for (Id id = recency.head; id != kNoId; id = users.find(id)->lru_next) {
      const UserState& u = *users.find(id);
      out.varint(id);
      out.varint(u.first_example);
      out.svarint(u.last_time);
      out.svarint(u.last_purchase);
      out.varint(u.session_depth);
      out.varint(u.open);
      put(out, u.events);
      put(out, u.carts);
      put(out, u.favorites);
      put(out, u.purchases);
      out.varint(u.recent_count);
      for (std::size_t i = 0; i < u.recent_count; ++i) {
        out.varint(u.recent[i].first);
        out.varint(u.recent[i].second);
      }
      put(out, u.last);
    }
    out.varint(open.size());
    open.for_each([&](const Example& ex) {
      out.varint(ex.id);
      out.svarint(ex.time);
      out.varint(ex.user);
      out.f64(ex.score);
      put(out, ex.x);
    });
  }

  bool load(ByteReader& in) {
    if (in.u8() != kFormatVersion || in.varint() != kPropensityFeatures) return false;
    for (double& v : w) v = in.f64();
    for (double& v : g2) v = in.f64();
    next_id = in.varint();
    trained = in.varint();
    shop.buys = in.f64();
    shop.events = in.f64();
    shop.time = get_time(in);
    if (in.failed() || next_id == 0 || !get_table(in, categories) || !get_table(in, products)) return false;

    const std::size_t n_users = in.count(6 + 4 * 5 + 1 + kPropensityFeatures * 4);
    for (std::size_t k = 0; k < n_users && !in.failed(); ++k) {
      const Id id = in.u32();
      // Ids index a slot array: a bad one must not drive a huge allocation.
      if (in.failed() || id == kNoId || id > kMaxUserId || users.contains(id)) return false;
      UserState& u = users[id];
      recency.touch(users, id, u);
      u.first_example = in.varint();
      u.last_time = get_time(in);
      u.last_purchase = get_time_or_never(in);
      u.session_depth = in.u32();
      u.open = in.u32();
      get(in, u.events);
      get(in, u.carts);
      get(in, u.favorites);
      get(in, u.purchases);
      const std::uint64_t n_recent = in.varint();
      if (n_recent > kRecentProducts || u.first_example > next_id) return false;
      u.recent_count = static_cast<std::uint8_t>(n_recent);
      for (std::size_t i = 0; i < u.recent_count; ++i) u.recent[i] = {in.u32(), in.u32()};
      get(in, u.last);
    }
    if (in.failed()) return false;

    const std::size_t n_open = in.count(3 + 8 + kPropensityFeatures * 4);
    std::unordered_map<Id, std::uint32_t> counted;
    std::uint64_t prev_id = 0;
    for (std::size_t k = 0; k < n_open && !in.failed(); ++k) {
      Example ex;
      ex.id = in.varint();
      ex.time = get_time(in);
      ex.user = in.u32();
      ex.score = in.f64();
      get(in, ex.x);
      if (ex.id <= prev_id || ex.id >= next_id || ex.user == kNoId) return false;
      prev_id = ex.id;
      if (owner(ex)) ++counted[ex.user];
      open.push_back(ex);
    }
    if (in.failed()) return false;
    // Every user's open count matches the examples that are theirs.
    for (const auto& [id, u] : users) {
      auto c = counted.find(id);
      if (u.open != (c == counted.end() ? 0u : c->second)) return false;
    }
    return true;
  }
};

std::string propensity_fingerprint(const PropensityConfig& c) {
  ByteWriter w;
  w.svarint(c.horizon_ms);
  w.svarint(c.session_gap_ms);
  w.svarint(c.activity_half_life_ms);
  w.svarint(c.rate_half_life_ms);
  w.f64(c.learning_rate);
  w.f64(c.l2);
  w.f64(c.initial_rate);
  w.varint(c.max_pending_per_user);
  w.varint(c.max_pending);
  w.varint(c.max_users);
  w.varint(c.category_slots);
  w.varint(c.product_slots);
  w.varint(kPropensityFeatures);
  return w.take();
}

PurchasePropensity::PurchasePropensity(PropensityConfig config) : state_(std::make_unique<State>(config)) {}
PurchasePropensity::~PurchasePropensity() = default;
PurchasePropensity::PurchasePropensity(PurchasePropensity&&) noexcept = default;
PurchasePropensity& PurchasePropensity::operator=(PurchasePropensity&&) noexcept = default;

void PurchasePropensity::apply(const Event& event) { state_->apply(event); }
void PurchasePropensity::prefetch(const Event& event, std::size_t ahead) const noexcept {
  state_->prefetch(event, ahead);
}

double PurchasePropensity::propensity(Id user) const {
  const UserState* u = state_->users.find(user);
  return u ? state_->predict(u->last) : 0;
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

std::size_t PurchasePropensity::approximate_memory_bytes() const {
  const State& s = *state_;
  return sizeof(State) + s.users.table_bytes() + s.open.capacity() * sizeof(Example) + (s.categories.capacity() + s.products.capacity()) * sizeof(RateSlot);
}

void PurchasePropensity::set_outcome_observer(std::function<void(const PropensityOutcome&)> observer) {
  state_->observer = std::move(observer);
}

const std::array<double, kPropensityFeatures>& PurchasePropensity::weights() const noexcept { return state_->w; }
std::uint64_t PurchasePropensity::trained_examples() const noexcept { return state_->trained; }
std::size_t PurchasePropensity::pending_examples() const noexcept { return state_->open.size(); }

void PurchasePropensity::save(ByteWriter& out) const { state_->save(out); }

bool PurchasePropensity::load(ByteReader& in) {
  // Read into a fresh state, so a malformed checkpoint leaves this one as it was.
  auto fresh = std::make_unique<State>(state_->config);
  if (!fresh->load(in)) return false;
  fresh->observer = std::move(state_->observer);
  state_ = std::move(fresh);
  return true;
}

}  // namespace shoppulse
