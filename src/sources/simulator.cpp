// ShopSimulator: a deterministic model of shoppers walking the funnel.
//
// The world is built once from the seed: a catalogue (each product has a fixed
// category and price, popularity Zipf-like with s = 1.1 over a shuffled order),
// users (home location and preferred device, both skewed towards the first
// entries of their lists, and 1-3 preferred categories picked by category
// popularity), and a per-user activity weight (mildly Zipf-like).
//
// Sessions: a pool of concurrent sessions (an eighth of the users, at most
// 128, started a few at a time); each event advances one session picked at
// random, so sessions interleave. A session plans a number of
// views (1 + geometric, mean about 6, at most kMaxViews) and ends once those
// are done and its follow-ups are emitted; its slot then starts a new session
// for another user who is not in a session.
//
// The funnel: every event of a later stage is a follow-up of an earlier event
// for the same product in the same session:
//   view -> click -> add_to_cart -> purchase (at checkout, end of session) -> rate
//                \-> favorite   \-> remove_from_cart
// Each follow-up is decided when its parent is emitted, with probability
// weight(child) / weight(parent) from behavior_patterns (the children of one
// parent share it; a sum above 1 is scaled down to 1). So the expected counts
// of the types are exactly proportional to the configured weights, and the
// funnel is monotone by construction: every buyer carted, every carter clicked,
// every clicker viewed. Configured weights that break monotonicity (say click
// above view) are capped: each stage converts at most everything before it.
//
// Types absent from behavior_patterns never occur. The seed's defaults list
// only view, click, add_to_cart, purchase and rate, so remove_from_cart and
// favorite are off by default; give them a weight (e.g. "favorite:0.01") to
// turn them on. A stage whose parent has weight 0 cannot occur either.
//
// Determinism: the event sequence depends only on the config; next() calls
// split it arbitrarily (next(100) equals next(60) + next(40) except for the
// timestamps, which come from each call's [from, to)).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <string>

#include "alias_table.hpp"
#include "random.hpp"
#include "shoppulse/sources/generator.hpp"

namespace shoppulse {
namespace {

using sources::AliasTable;
using sources::Xoshiro256;

constexpr double kProductZipf = 1.1;      // popularity exponent over the catalogue
constexpr double kUserActivityZipf = 0.8;  // how unevenly users shop
constexpr double kLocationSkew = 0.8;      // weight of the i-th location ~ 1/(i+1)^skew
constexpr double kDeviceSkew = 1.0;
constexpr double kPreferredCategoryShare = 0.8;  // views in a preferred category
constexpr double kPreferredDeviceShare = 0.85;   // sessions on the user's usual device
constexpr double kHomeLocationShare = 0.95;      // sessions from the user's home location
constexpr double kFollowUpFirst = 0.6;  // chance a session acts on a pending follow-up before viewing more
constexpr double kAnotherView = 5.0 / 6.0;  // views per session: 1 + geometric, mean 6
constexpr std::uint32_t kMaxViews = 32;
// Follow-ups in a queue never outnumber the session's views (each view starts
// at most one chain, each emitted follow-up queues at most one more).
constexpr std::size_t kQueueCapacity = kMaxViews;
constexpr std::size_t kMaxConcurrentSessions = 128;
// Sessions start a few at a time, so the opening events are not all the
// first views of sessions that began together.
constexpr std::size_t kInitialSessions = 8;
constexpr std::uint64_t kEventsPerSessionRamp = 4;

struct Product {
  std::string id;
  std::uint32_t category = 0;
  std::int64_t price_minor = 0;
};

struct Category {
  std::string id;
  std::vector<std::uint32_t> members;  // product indices
  AliasTable popularity;               // over members
};

struct User {
  std::string id;
  std::uint32_t location = 0;
  std::uint32_t device = 0;
  std::uint8_t preference_count = 0;
  std::array<std::uint32_t, 3> preferences{};
  bool in_session = false;
};

struct Pending {
  std::uint32_t product = 0;
  EventType type = EventType::view;
  std::uint8_t quantity = 1;
};

// Fixed-capacity FIFO; never overflows (see kQueueCapacity).
class PendingQueue {
 public:
  bool empty() const noexcept { return size_ == 0; }
  bool full() const noexcept { return size_ == kQueueCapacity; }
  void push(Pending p) noexcept {
    items_[(head_ + size_) % kQueueCapacity] = p;
    ++size_;
  }
  Pending pop() noexcept {
    Pending p = items_[head_];
    head_ = (head_ + 1) % kQueueCapacity;
    --size_;
    return p;
  }
  void clear() noexcept { head_ = size_ = 0; }

 private:
  std::array<Pending, kQueueCapacity> items_{};
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

struct Session {
  std::string id;  // "sess_" + 10 hex digits: fits the small-string buffer
  std::uint32_t user = 0;
  std::uint32_t device = 0;
  std::uint32_t location = 0;
  std::uint32_t views_left = 0;
  PendingQueue soon;      // clicks, carts, favorites, removals, ratings
  PendingQueue checkout;  // purchases, emitted once browsing is over
};

std::string numbered(const char* prefix, std::size_t n, int digits) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s%0*zu", prefix, digits, n);
  return buf;
}

// A bijection on 40-bit integers, so session ids are unique for 2^40 sessions.
std::uint64_t scramble40(std::uint64_t x) noexcept {
  constexpr std::uint64_t kMask = (1ULL << 40) - 1;
  x &= kMask;
  x = (x * 0x9E3779B97ULL) & kMask;  // odd multiplier: invertible mod 2^40
  x ^= x >> 21;
  x = (x * 0x5D6B3A2C35ULL) & kMask;
  x ^= x >> 19;
  return x;
}

std::vector<double> zipf_weights(std::size_t n, double s) {
  std::vector<double> w(n);
  for (std::size_t i = 0; i < n; ++i) w[i] = 1.0 / std::pow(static_cast<double>(i + 1), s);
  return w;
}

double weight_of(const GeneratorConfig& config, EventType type) {
  for (const auto& [name, weight] : config.behavior_patterns) {
    auto parsed = parse_event_type(name);
    if (parsed && *parsed == type && weight > 0) return weight;
  }
  return 0;
}

// Probability that one parent event is followed by the child event.
double conversion(double child, double parent) {
  if (child <= 0) return 0;
  if (parent <= 0) return 1;
  return std::min(1.0, child / parent);
}

}  // namespace

struct ShopSimulator::State {
  Xoshiro256 rng;
  std::vector<Product> products;
  std::vector<Category> categories;
  std::vector<User> users;
  std::vector<std::string> devices;
  std::vector<std::string> locations;
  AliasTable product_popularity;
  AliasTable category_popularity;
  AliasTable user_activity;
  AliasTable device_choice;
  AliasTable location_choice;
  std::vector<Session> sessions;
  std::size_t active = 0;  // sessions[0, active) are running; grows to sessions.size()
  std::uint64_t emitted = 0;
  std::uint64_t session_counter = 0;
  std::uint64_t session_salt = 0;

  // Funnel conversions (see the file comment).
  double p_click = 0;     // per view
  double p_cart = 0;      // per click
  double p_favorite = 0;  // per click
  double p_purchase = 0;  // per add_to_cart
  double p_remove = 0;    // per add_to_cart
  double p_rate = 0;      // per purchase

  explicit State(const GeneratorConfig& config) : rng(config.seed) {
    build_funnel(config);
    build_catalogue(config);
    build_users(config);
    std::size_t pool = std::clamp<std::size_t>(users.size() / 8, 1, kMaxConcurrentSessions);
    sessions.resize(pool);
    active = std::min(pool, kInitialSessions);
    for (std::size_t i = 0; i < active; ++i) begin_session(sessions[i]);
  }

  void build_funnel(const GeneratorConfig& config) {
    const double view = weight_of(config, EventType::view);
    const double click = weight_of(config, EventType::click);
    const double cart = weight_of(config, EventType::add_to_cart);
    const double favorite = weight_of(config, EventType::favorite);
    const double purchase = weight_of(config, EventType::purchase);
    const double remove = weight_of(config, EventType::remove_from_cart);
    const double rate = weight_of(config, EventType::rate);
    p_click = conversion(click, view);
    p_cart = conversion(cart, click);
    p_favorite = conversion(favorite, click);
    if (p_cart + p_favorite > 1) {
      const double sum = p_cart + p_favorite;
      p_cart /= sum;
      p_favorite /= sum;
    }
    p_purchase = conversion(purchase, cart);
    p_remove = conversion(remove, cart);
    if (p_purchase + p_remove > 1) {
      const double sum = p_purchase + p_remove;
      p_purchase /= sum;
      p_remove /= sum;
    }
    p_rate = conversion(rate, purchase);
  }

  void build_catalogue(const GeneratorConfig& config) {
    const std::size_t product_count = std::max<std::size_t>(config.products_count, 1);
    const std::size_t category_count = std::clamp<std::size_t>(config.categories_count, 1, product_count);

    categories.resize(category_count);
    for (std::size_t c = 0; c < category_count; ++c) categories[c].id = numbered("cat_", c + 1, 3);

    // Prices: log-uniform over [min, max] (uniform when min is 0), in cents.
    const double lo = std::max(0.0, config.price_min);
    const double hi = std::max(lo, config.price_max);
    const std::int64_t lo_minor = static_cast<std::int64_t>(std::ceil(lo * 100 - 1e-6));
    const std::int64_t hi_minor = std::max(lo_minor, static_cast<std::int64_t>(std::floor(hi * 100 + 1e-6)));
    const bool log_scale = lo > 0;
    const double log_lo = log_scale ? std::log(lo) : 0;
    const double log_hi = log_scale ? std::log(hi) : 0;

    products.resize(product_count);
    for (std::size_t p = 0; p < product_count; ++p) {
      Product& product = products[p];
      product.id = numbered("prod_", p + 1, 6);
      // The first products seed every category, the rest land uniformly.
      product.category = p < category_count ? static_cast<std::uint32_t>(p) : rng.below(category_count);
      const double u = rng.uniform();
      const double price = log_scale ? std::exp(log_lo + u * (log_hi - log_lo)) : lo + u * (hi - lo);
      product.price_minor = std::clamp<std::int64_t>(std::llround(price * 100), lo_minor, hi_minor);
      categories[product.category].members.push_back(static_cast<std::uint32_t>(p));
    }

    // Popularity: Zipf over a shuffled order, so popular ids are spread out.
    std::vector<std::uint32_t> order(product_count);
    for (std::uint32_t i = 0; i < product_count; ++i) order[i] = i;
    shuffle(order);
    const std::vector<double> by_rank = zipf_weights(product_count, kProductZipf);
    std::vector<double> product_weight(product_count);
    for (std::size_t rank = 0; rank < product_count; ++rank) product_weight[order[rank]] = by_rank[rank];
    product_popularity = AliasTable(product_weight);

    std::vector<double> category_weight(category_count, 0.0);
    for (std::size_t c = 0; c < category_count; ++c) {
      Category& category = categories[c];
      std::vector<double> member_weight;
      member_weight.reserve(category.members.size());
      for (std::uint32_t p : category.members) {
        member_weight.push_back(product_weight[p]);
        category_weight[c] += product_weight[p];
      }
      category.popularity = AliasTable(member_weight);
    }
    category_popularity = AliasTable(category_weight);
  }

  void build_users(const GeneratorConfig& config) {
    devices = config.devices.empty() ? std::vector<std::string>{"unknown"} : config.devices;
    locations = config.locations.empty() ? std::vector<std::string>{"unknown"} : config.locations;
    device_choice = AliasTable(zipf_weights(devices.size(), kDeviceSkew));
    location_choice = AliasTable(zipf_weights(locations.size(), kLocationSkew));

    const std::size_t user_count = std::max<std::size_t>(config.users_count, 1);
    users.resize(user_count);
    for (std::size_t i = 0; i < user_count; ++i) {
      User& user = users[i];
      user.id = numbered("user_", i + 1, 6);
      user.location = location_choice.sample(rng);
      user.device = device_choice.sample(rng);
      const double u = rng.uniform();
      const std::size_t wanted = std::min<std::size_t>(u < 0.4 ? 1 : u < 0.8 ? 2 : 3, categories.size());
      // Distinct categories by popularity; a few tries, then settle for fewer.
      for (int attempt = 0; attempt < 16 && user.preference_count < wanted; ++attempt) {
        const std::uint32_t c = category_popularity.sample(rng);
        bool known = false;
        for (std::uint8_t k = 0; k < user.preference_count; ++k) known = known || user.preferences[k] == c;
        if (!known) user.preferences[user.preference_count++] = c;
      }
    }
    std::vector<std::uint32_t> order(user_count);
    for (std::uint32_t i = 0; i < user_count; ++i) order[i] = i;
    shuffle(order);
    const std::vector<double> by_rank = zipf_weights(user_count, kUserActivityZipf);
    std::vector<double> activity(user_count);
    for (std::size_t rank = 0; rank < user_count; ++rank) activity[order[rank]] = by_rank[rank];
    user_activity = AliasTable(activity);
    session_salt = rng.next();
  }

  void shuffle(std::vector<std::uint32_t>& v) {
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
  }

  std::uint32_t pick_free_user() {
    for (int attempt = 0; attempt < 8; ++attempt) {
      const std::uint32_t u = user_activity.sample(rng);
      if (!users[u].in_session) return u;
    }
    // Busy users drawn repeatedly: take the next free one after a random start.
    // The pool is at most an eighth of the users, so one exists.
    const std::uint32_t start = rng.below(users.size());
    for (std::size_t k = 0; k < users.size(); ++k) {
      const std::uint32_t u = static_cast<std::uint32_t>((start + k) % users.size());
      if (!users[u].in_session) return u;
    }
    return start;
  }

  void begin_session(Session& s) {
    s.user = pick_free_user();
    User& user = users[s.user];
    user.in_session = true;
    s.device = rng.uniform() < kPreferredDeviceShare ? user.device : rng.below(devices.size());
    s.location = rng.uniform() < kHomeLocationShare ? user.location : rng.below(locations.size());
    s.views_left = 1;
    while (s.views_left < kMaxViews && rng.uniform() < kAnotherView) ++s.views_left;
    s.soon.clear();
    s.checkout.clear();
    static constexpr char kHex[] = "0123456789abcdef";
    std::uint64_t code = scramble40(session_salt + session_counter++);
    char id[15] = {'s', 'e', 's', 's', '_'};
    for (int i = 14; i >= 5; --i) {
      id[i] = kHex[code & 0xF];
      code >>= 4;
    }
    s.id.assign(id, sizeof id);
  }

  std::uint32_t pick_product(const User& user) {
    if (user.preference_count > 0 && rng.uniform() < kPreferredCategoryShare) {
      const Category& category = categories[user.preferences[rng.below(user.preference_count)]];
      return category.members[category.popularity.sample(rng)];
    }
    return product_popularity.sample(rng);
  }

  std::uint8_t pick_quantity() {
    const double u = rng.uniform();
    return u < 0.75 ? 1 : u < 0.93 ? 2 : 3;
  }

  std::uint8_t pick_rating() {
    const double u = rng.uniform();
    return u < 0.06 ? 1 : u < 0.12 ? 2 : u < 0.25 ? 3 : u < 0.55 ? 4 : 5;
  }

  // Chooses the session's next action and queues its follow-ups.
  Pending step(Session& s) {
    Pending action;
    if (!s.soon.empty() && (s.views_left == 0 || rng.uniform() < kFollowUpFirst)) {
      action = s.soon.pop();
    } else if (s.views_left > 0) {
      --s.views_left;
      action = Pending{pick_product(users[s.user]), EventType::view, 1};
    } else {
      action = s.checkout.pop();
    }
    const double u = rng.uniform();
    switch (action.type) {
      case EventType::view:
        if (u < p_click) s.soon.push({action.product, EventType::click, 1});
        break;
      case EventType::click:
        if (u < p_cart) {
          s.soon.push({action.product, EventType::add_to_cart, pick_quantity()});
        } else if (u < p_cart + p_favorite) {
          s.soon.push({action.product, EventType::favorite, 1});
        }
        break;
      case EventType::add_to_cart:
        if (u < p_purchase) {
          s.checkout.push({action.product, EventType::purchase, action.quantity});
        } else if (u < p_purchase + p_remove) {
          s.soon.push({action.product, EventType::remove_from_cart, action.quantity});
        }
        break;
      case EventType::purchase:
        if (u < p_rate) s.soon.push({action.product, EventType::rate, 1});
        break;
      default:
        break;
    }
    return action;
  }

  void emit(std::size_t n, TimestampMs from, TimestampMs to, std::vector<RawEvent>& out) {
    out.reserve(out.size() + n);
    const std::int64_t span = to > from ? to - from : 0;
    std::int64_t ignored = 0;
    const bool narrow = !__builtin_mul_overflow(span, static_cast<std::int64_t>(n), &ignored);
    for (std::size_t i = 0; i < n; ++i) {
      if (active < sessions.size() && ++emitted % kEventsPerSessionRamp == 0) begin_session(sessions[active++]);
      Session& s = sessions[rng.below(active)];
      const Pending action = step(s);
      const User& user = users[s.user];
      const Product& product = products[action.product];

      RawEvent& e = out.emplace_back();
      e.user_id = user.id;
      e.session_id = s.id;
      e.product_id = product.id;
      e.category_id = categories[product.category].id;
      e.device = devices[s.device];
      e.location = locations[s.location];
      const std::int64_t offset =
          narrow ? span * static_cast<std::int64_t>(i) / static_cast<std::int64_t>(n)
                 : static_cast<std::int64_t>(static_cast<long double>(span) * i / n);
      e.time_ms = from + offset;
      e.price_minor = product.price_minor;
      e.quantity = action.quantity;
      e.type = action.type;
      e.rating = action.type == EventType::rate ? pick_rating() : 0;

      if (s.views_left == 0 && s.soon.empty() && s.checkout.empty()) {
        users[s.user].in_session = false;
        begin_session(s);
      }
    }
  }
};

ShopSimulator::ShopSimulator(const GeneratorConfig& config) : state_(std::make_unique<State>(config)) {}
ShopSimulator::~ShopSimulator() = default;
ShopSimulator::ShopSimulator(ShopSimulator&&) noexcept = default;

void ShopSimulator::next(std::size_t n, TimestampMs from_ms, TimestampMs to_ms, std::vector<RawEvent>& out) {
  state_->emit(n, from_ms, to_ms, out);
}

}  // namespace shoppulse
