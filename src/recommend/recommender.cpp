#include "shoppulse/recommend/recommender.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <optional>
#include <set>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "decay.hpp"
#include "dense_map.hpp"
#include "shoppulse/core/flat_map.hpp"
#include "shoppulse/core/byte_codec.hpp"

namespace shoppulse {

using recommend_detail::decay_factor;
using recommend_detail::Decayed;
using recommend_detail::DenseMap;
using recommend_detail::HourCounts;

std::string_view to_string(ReasonKind kind) noexcept {
  switch (kind) {
    case ReasonKind::viewed_together: return "viewed_together";
    case ReasonKind::similar_users: return "similar_users";
    case ReasonKind::category_interest: return "category_interest";
    case ReasonKind::popular_in_location: return "popular_in_location";
    case ReasonKind::recently_viewed: return "recently_viewed";
    case ReasonKind::popular: return "popular";
    case ReasonKind::popular_in_category: return "popular_in_category";
    case ReasonKind::trending: return "trending";
  }
  return "unknown";
}

IdKind related_kind(ReasonKind kind) noexcept {
  switch (kind) {
    case ReasonKind::similar_users: return IdKind::user;
    case ReasonKind::category_interest:
    case ReasonKind::popular_in_category: return IdKind::category;
    case ReasonKind::popular_in_location: return IdKind::location;
    default: return IdKind::product;
  }
}

std::string_view to_string(Strategy s) noexcept {
  switch (s) {
    case Strategy::hybrid: return "hybrid";
    case Strategy::item_cf: return "item_cf";
    case Strategy::user_cf: return "user_cf";
    case Strategy::popularity: return "popularity";
  }
  return "unknown";
}

namespace {

struct Neighbour {
  Id item = kNoId;
  float co = 0;
  TimestampMs time = 0;
  // The neighbour's engagement^damping when the pair was last updated (at
  // `time`): lets pruning rank neighbours without a lookup per neighbour.
  float norm = 0;
};

// An item's neighbours in the order they were first paired (no sorting: a
// new neighbour is appended, pruning keeps the order). Ids are kept apart
// from the rest, so finding one scans 4 bytes per neighbour (16 at a time
// with SSE2) in a few cache lines that can be prefetched as a whole.
class NeighbourList {
 public:
  static constexpr std::size_t npos = ~std::size_t{0};
  struct Data {
    float co = 0;
    float norm = 0;
    TimestampMs time = 0;
  };

  std::size_t size() const noexcept { return ids_.size(); }
  Id id(std::size_t i) const noexcept { return ids_[i]; }
  Data& data(std::size_t i) noexcept { return data_[i]; }
  const Data& data(std::size_t i) const noexcept { return data_[i]; }
  Neighbour at(std::size_t i) const noexcept { return {ids_[i], data_[i].co, data_[i].time, data_[i].norm}; }

  // Position of item, or npos.
  std::size_t index_of(Id item) const noexcept {
    const std::size_t n = ids_.size();
    std::size_t i = 0;
#if defined(__SSE2__)
    const __m128i want = _mm_set1_epi32(static_cast<int>(item));
    for (; i + 16 <= n; i += 16) {
      const auto* p = reinterpret_cast<const __m128i*>(ids_.data() + i);
      const __m128i a = _mm_cmpeq_epi32(_mm_loadu_si128(p), want);
      const __m128i b = _mm_cmpeq_epi32(_mm_loadu_si128(p + 1), want);
      const __m128i c = _mm_cmpeq_epi32(_mm_loadu_si128(p + 2), want);
      const __m128i d = _mm_cmpeq_epi32(_mm_loadu_si128(p + 3), want);
      const int mask = _mm_movemask_ps(_mm_castsi128_ps(a)) | (_mm_movemask_ps(_mm_castsi128_ps(b)) << 4) |
                       (_mm_movemask_ps(_mm_castsi128_ps(c)) << 8) | (_mm_movemask_ps(_mm_castsi128_ps(d)) << 12);
      if (mask) return i + static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
    }
#endif
    for (; i < n; ++i)
      if (ids_[i] == item) return i;
    return npos;
  }
  std::optional<Neighbour> find(Id item) const noexcept {
    const std::size_t i = index_of(item);
    if (i == npos) return std::nullopt;
    return at(i);
  }
  void push_back(const Neighbour& n) {
    ids_.push_back(n.item);
    data_.push_back(Data{n.co, n.norm, n.time});
  }
  // Keeps the entries whose flag is set, in order.
  void keep_only(const std::vector<char>& keep) {
    std::size_t w = 0;
    for (std::size_t i = 0; i < ids_.size(); ++i)
      if (keep[i]) {
        ids_[w] = ids_[i];
        data_[w] = data_[i];
        ++w;
      }
    ids_.resize(w);
    data_.resize(w);
  }
  void prefetch_ids() const noexcept { prefetch_bytes(ids_.data(), ids_.size() * sizeof(Id)); }
  void prefetch_data() const noexcept { prefetch_bytes(data_.data(), data_.size() * sizeof(Data)); }
  // The weights an update with `item` will write: its own, or the end where
  // it would be appended.
  void prefetch_data_of(Id item) const noexcept {
    const std::size_t i = index_of(item);
    __builtin_prefetch(data_.data() + (i == npos ? data_.size() : i));
  }

  class Iterator {
   public:
    Iterator(const NeighbourList* list, std::size_t i) : list_(list), i_(i) {}
    Neighbour operator*() const { return list_->at(i_); }
    Iterator& operator++() {
      ++i_;
      return *this;
    }
    bool operator==(const Iterator& o) const noexcept { return i_ == o.i_; }

   private:
    const NeighbourList* list_;
    std::size_t i_;
  };
  Iterator begin() const { return {this, 0}; }
  Iterator end() const { return {this, ids_.size()}; }

 private:
  static void prefetch_bytes(const void* data, std::size_t bytes) noexcept {
    const char* p = static_cast<const char*>(data);
    for (std::size_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off);
  }

  std::vector<Id> ids_;
  std::vector<Data> data_;
};

// Bounded candidate lists for the "hot" answers (popular in a location this
// hour, trending): up to 2 * kHotKeep ids, trimmed back to kHotKeep by
// current score, rebuilt from every item every kHotRebuildMs of event time.
// Queries only score the candidates.
constexpr std::size_t kHotKeep = 200;
constexpr std::int64_t kHotRebuildMs = 10 * 60 * 1000;

struct ItemState;
// The most active items, ordered by (pop_key, id); see State::pop_top.
using PopularSet = std::set<std::tuple<double, Id, ItemState*>>;

struct ItemState {
  Id category = kNoId;
  Decayed engagement;  // distinct-user interest increments: the similarity normaliser
  Decayed activity;    // every weighted event: "popular"
  HourCounts hours;    // weighted events per clock hour: trending
  float norm = 0;      // engagement.value^damping, at engagement.time
  bool trend_hot = false;  // in State::trend_hot
  bool pop_top = false;    // in State::pop_top, under pop_key
  double pop_key = 0;      // log2(activity) + time / half-life: orders items as their activity does
  PopularSet::iterator pop_it;  // its entry in State::pop_top, when pop_top is set
  NeighbourList neighbours;
  std::vector<Id> recent_users;  // ring of the last users, recent_users_per_item long
  std::uint32_t recent_pos = 0;
  TimestampMs last_seen = 0;
};

struct HistoryEntry {
  Id item = kNoId;
  Id category = kNoId;
  float weight = 0;  // strongest behaviour weight on this item
  TimestampMs time = 0;
};

struct UserState {
  std::vector<HistoryEntry> history;  // oldest first
  std::vector<Id> purchased;          // oldest first, bounded
  Id location = kNoId;
  TimestampMs last_seen = 0;
};

// A scored candidate with the strongest contribution, which names the reason.
struct Scored {
  double score = 0;
  double best = 0;
  Id because = kNoId;
  void add(double s, Id why) {
    score += s;
    if (s > best || (s == best && why < because)) {
      best = s;
      because = why;
    }
  }
};
using ScoreMap = FlatMap<Scored>;

struct LocationItem {
  HourCounts hours;
  bool hot = false;  // in LocationState::hot
};

struct LocationState {
  FlatMap<LocationItem> items;
  std::vector<Id> hot;  // candidates (items.find on use: values move when the map grows)
  double threshold = 0;  // score an item needs to join `hot`
};

// Keeps the `keep` best of (score, id) pairs (score desc, id asc), in no particular order.
template <class T>
void nth_best(std::vector<std::pair<double, T>>& v, std::size_t keep) {
  if (v.size() <= keep) return;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(keep - 1), v.end(),
                   [](const auto& a, const auto& b) {
                     if (a.first != b.first) return a.first > b.first;
                     return a.second < b.second;
                   });
  v.resize(keep);
}

// Best first; ties by smaller id so answers never depend on hash order.
bool better(const Recommendation& a, const Recommendation& b) {
  if (a.score != b.score) return a.score > b.score;
  return a.product < b.product;
}

void keep_top(std::vector<Recommendation>& v, std::size_t limit) {
  if (v.size() > limit) {
    std::partial_sort(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(limit), v.end(), better);
    v.resize(limit);
  } else {
    std::sort(v.begin(), v.end(), better);
  }
}

}  // namespace

struct Recommender::State {
  RecommenderConfig config;
  DenseMap<ItemState> items;
  DenseMap<UserState> users;
  std::unordered_map<Id, std::vector<Id>> category_items;  // may hold stale ids; checked on use
  std::unordered_map<Id, LocationState> location_items;
  std::vector<std::pair<Id, const ItemState*>> trend_hot;  // trending candidates
  double trend_threshold = 0;
  std::int64_t last_hot_rebuild_slot = 0;
  PurchasePropensity propensity;
  Sequence applied_through = 0;
  TimestampMs now = 0;
  std::uint64_t applied = 0;
  std::uint64_t evicted_items = 0;
  std::uint64_t evicted_users = 0;
  std::int64_t last_location_sweep_hour = 0;
  std::vector<std::pair<ItemState*, const HistoryEntry*>> partners;  // scratch of learn_interest
  mutable std::size_t last_checkpoint_bytes = 0;  // sizes the next checkpoint's buffer

  // The kPopularTop items of highest activity, kept exactly: activity
  // decays at one rate for all items, so log2(value) + time / half-life
  // orders items the same at any later time and only grows with events.
  static constexpr std::size_t kPopularTop = 1000;
  PopularSet pop_top;

  // Cache of the overall popular list; valid while `applied` is unchanged.
  mutable std::vector<Recommendation> popular_cache;
  mutable std::uint64_t popular_cache_at = ~std::uint64_t{0};

  explicit State(RecommenderConfig c) : config(std::move(c)), propensity(config.propensity) {}

  // Checkpoint layout; defined after the class.
  void save(ByteWriter& w) const;
  Result<void> load(ByteReader& r);

  const ItemState* item(Id id) const {
    return items.find(id);
  }
  const UserState* user(Id id) const {
    return users.find(id);
  }

  double engagement(const ItemState& s) const { return s.engagement.at(now, config.similarity_half_life_ms); }

  double sim(const ItemState& a, const Neighbour& n) const {
    const ItemState* b = item(n.item);
    if (!b) return 0;
    const double co = n.co * decay_factor(now - n.time, config.similarity_half_life_ms);
    const double denom = std::pow(std::max(engagement(a) * engagement(*b), 1e-12), config.popularity_damping) +
                         config.similarity_shrinkage;
    return co / denom;
  }

  // x^damping, with the common cosine case without pow.
  double damp(double x) const {
    return config.popularity_damping == 0.5 ? std::sqrt(x) : std::pow(x, config.popularity_damping);
  }

  // Keeps the max_neighbours strongest neighbours by similarity, ranked with
  // each neighbour's normaliser as of its last update (no lookups, no pow per
  // neighbour); the list stays sorted by item id.
  void prune(ItemState& s) {
    const std::size_t keep = config.max_neighbours;
    if (s.neighbours.size() <= keep) return;
    const double na = damp(std::max(engagement(s), 1e-12));
    const double hl = static_cast<double>(config.similarity_half_life_ms);
    std::vector<std::pair<double, std::uint32_t>> scored;
    scored.reserve(s.neighbours.size());
    for (std::uint32_t i = 0; i < s.neighbours.size(); ++i) {
      const NeighbourList::Data& n = s.neighbours.data(i);
      const double dt = static_cast<double>(std::max<TimestampMs>(now - n.time, 0));
      const double x = hl > 0 ? std::exp2(-dt / hl) : 1.0;
      const double co = n.co * x;
      const double nb = std::max(static_cast<double>(n.norm) * damp(x), 1e-12);
      scored.emplace_back(co / (na * nb + config.similarity_shrinkage), i);
    }
    // Rank by score, ties by smaller id.
    const NeighbourList& list = s.neighbours;
    std::nth_element(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(keep - 1), scored.end(),
                     [&](const auto& a, const auto& b) {
                       if (a.first != b.first) return a.first > b.first;
                       return list.id(a.second) < list.id(b.second);
                     });
    std::vector<char> kept(s.neighbours.size(), 0);
    for (std::size_t k = 0; k < keep; ++k) kept[scored[k].second] = 1;
    s.neighbours.keep_only(kept);
  }

  void add_co(ItemState& s, Id other, float other_norm, double c, TimestampMs t) {
    const std::size_t i = s.neighbours.index_of(other);
    if (i != NeighbourList::npos) {
      NeighbourList::Data& n = s.neighbours.data(i);
      Decayed d{n.co, n.time};
      d.add(c, t, config.similarity_half_life_ms);
      n.co = d.value;
      n.time = d.time;
      n.norm = other_norm;
      return;
    }
    s.neighbours.push_back(Neighbour{other, static_cast<float>(c), t, other_norm});
    if (s.neighbours.size() > 2 * config.max_neighbours) prune(s);
  }

  // engagement^damping of an item as of time t (from its cached norm).
  float norm_at(const ItemState& s, TimestampMs t) const {
    const std::int64_t hl = config.similarity_half_life_ms;
    if (t <= s.engagement.time || hl <= 0) return s.norm;
    return static_cast<float>(s.norm * damp(decay_factor(t - s.engagement.time, hl)));
  }

  void apply_one(const Event& e) {
    if (e.sequence != 0) {
      if (e.sequence <= applied_through) return;
      applied_through = e.sequence;
    }
    ++applied;
    now = std::max(now, e.time_ms);
    propensity.apply(e);
    const float w = config.type_weights[static_cast<std::size_t>(e.type)];
    ItemState* is = nullptr;
    if (e.product != kNoId) {
      is = &items[e.product];
      is->last_seen = std::max(is->last_seen, e.time_ms);
      if (e.category != kNoId && e.category != is->category) {
        is->category = e.category;
        category_items[e.category].push_back(e.product);
      }
      if (w > 0) {
        is->activity.add(w, e.time_ms, config.popularity_half_life_ms);
        update_pop_top(e.product, *is);
        is->hours.add(e.time_ms, w);
        if (!is->trend_hot) {
          const double ts = trend_score(*is);
          if (ts > 0 && ts >= trend_threshold) {
            is->trend_hot = true;
            trend_hot.emplace_back(e.product, is);
            if (trend_hot.size() > 2 * kHotKeep) trim_trending();
          }
        }
        if (e.location != kNoId) {
          LocationState& loc = location_items[e.location];
          LocationItem& li = loc.items[e.product];
          li.hours.add(e.time_ms, w);
          if (!li.hot) {
            const double ls = li.hours.last_and_previous(now).first;
            if (ls > 0 && ls >= loc.threshold) {
              li.hot = true;
              loc.hot.push_back(e.product);
              if (loc.hot.size() > 2 * kHotKeep) trim_location(loc);
            }
          }
        }
      }
    }
    if (e.user != kNoId) {
      UserState& us = users[e.user];
      us.last_seen = std::max(us.last_seen, e.time_ms);
      if (e.location != kNoId) us.location = e.location;
      if (is && e.type == EventType::purchase &&
          std::find(us.purchased.begin(), us.purchased.end(), e.product) == us.purchased.end()) {
        us.purchased.push_back(e.product);
        if (us.purchased.size() > config.max_purchases_remembered) us.purchased.erase(us.purchased.begin());
      }
      if (is && w > 0) learn_interest(e, w, us, *is);
    }
    evict_if_needed();
  }

  // Adds co-occurrence between the event's item and the user's recent items.
  // Only an increase of the user's strongest weight on the item counts, so
  // re-viewing the same item does not inflate its pairs.
  void learn_interest(const Event& e, float w, UserState& us, ItemState& is) {
    auto& h = us.history;
    auto found = std::find_if(h.begin(), h.end(), [&](const HistoryEntry& x) { return x.item == e.product; });
    const float old = found == h.end() ? 0.0f : found->weight;
    const float delta = w - old;
    if (delta > 0) {
      is.engagement.add(delta, e.time_ms, config.similarity_half_life_ms);
      is.norm = static_cast<float>(damp(std::max<double>(is.engagement.value, 0)));
      const float own_norm = norm_at(is, e.time_ms);
      // The partners' states and neighbour lists are scattered in memory:
      // find them all and prefetch first, so their cache misses overlap
      // instead of being paid one after another in the updates below.
      partners.clear();
      for (auto it = h.rbegin(); it != h.rend() && partners.size() < config.pair_history; ++it) {
        if (it->item == e.product) continue;
        ItemState* other = items.find(it->item);
        partners.push_back({other, &*it});
        if (other) __builtin_prefetch(other);
      }
      is.neighbours.prefetch_ids();
      is.neighbours.prefetch_data();  // updated once per partner
      for (const auto& [other, _] : partners)
        if (other) other->neighbours.prefetch_ids();
      for (const auto& [other, _] : partners)
        if (other) other->neighbours.prefetch_data_of(e.product);
      for (const auto& [other, it] : partners) {
        if (!other) continue;
        const double prox = decay_factor(std::llabs(e.time_ms - it->time), config.pair_half_life_ms);
        const double c = std::sqrt(static_cast<double>(delta) * it->weight) * prox;
        add_co(is, it->item, norm_at(*other, e.time_ms), c, e.time_ms);
        add_co(*other, e.product, own_norm, c, e.time_ms);
      }
    }
    HistoryEntry entry{e.product, is.category, std::max(old, w), std::max(e.time_ms, found == h.end() ? 0 : found->time)};
    if (found != h.end()) h.erase(found);
    h.push_back(entry);
    if (h.size() > config.history_length) h.erase(h.begin());
    if (config.recent_users_per_item > 0 &&
        std::find(is.recent_users.begin(), is.recent_users.end(), e.user) == is.recent_users.end()) {
      if (is.recent_users.size() < config.recent_users_per_item) {
        is.recent_users.push_back(e.user);
      } else {
        is.recent_users[is.recent_pos] = e.user;
        is.recent_pos = static_cast<std::uint32_t>((is.recent_pos + 1) % config.recent_users_per_item);
      }
    }
  }

  double pop_key_of(const ItemState& is) const {
    const double hl = static_cast<double>(std::max<std::int64_t>(config.popularity_half_life_ms, 1));
    return std::log2(std::max<double>(is.activity.value, 1e-30)) + static_cast<double>(is.activity.time) / hl;
  }

  void update_pop_top(Id id, ItemState& is) {
    const double key = pop_key_of(is);
    if (is.pop_top) {
      // Keys only grow, and mostly not past the next entry: re-inserting the
      // same node just before its old successor is then constant time.
      const auto next = std::next(is.pop_it);
      auto node = pop_top.extract(is.pop_it);
      node.value() = {key, id, &is};
      is.pop_key = key;
      is.pop_it = pop_top.insert(next, std::move(node));
      return;
    }
    if (pop_top.size() >= kPopularTop && !(std::tuple<double, Id, ItemState*>{key, id, &is} > *pop_top.begin())) {
      is.pop_key = key;
      return;
    }
    is.pop_top = true;
    is.pop_key = key;
    is.pop_it = pop_top.insert({key, id, &is}).first;
    if (pop_top.size() > kPopularTop) {
      std::get<2>(*pop_top.begin())->pop_top = false;
      pop_top.erase(pop_top.begin());
    }
  }

  void rebuild_pop_top() {
    pop_top.clear();
    for (auto&& [id, is] : items) {
      is.pop_top = false;
      is.pop_key = pop_key_of(is);
      if (is.activity.value > 0) update_pop_top(id, is);
    }
  }

  // Trending score: rise of the last hour over the hour before, in standard
  // deviations of a Poisson count; 0 when not rising by at least one view.
  double trend_score(const ItemState& is) const {
    const auto [last, prev] = is.hours.last_and_previous(now);
    if (last - prev < 1.0) return 0;
    return (last - prev) / std::sqrt(prev + 1.0);
  }

  void trim_trending() {
    std::vector<std::pair<double, std::pair<Id, const ItemState*>>> v;
    v.reserve(trend_hot.size());
    for (const auto& c : trend_hot) v.push_back({trend_score(*c.second), c});
    set_trending(v);
  }

  void set_trending(std::vector<std::pair<double, std::pair<Id, const ItemState*>>>& v) {
    for (const auto& c : trend_hot) const_cast<ItemState*>(c.second)->trend_hot = false;
    std::erase_if(v, [](const auto& x) { return x.first <= 0; });
    nth_best(v, kHotKeep);
    trend_hot.clear();
    trend_threshold = 0;
    for (const auto& [score, c] : v) {
      const_cast<ItemState*>(c.second)->trend_hot = true;
      trend_hot.push_back(c);
    }
    if (v.size() >= kHotKeep) {
      trend_threshold = v.front().first;
      for (const auto& x : v) trend_threshold = std::min(trend_threshold, x.first);
    }
  }

  void rebuild_trending() {
    for (auto&& [_, is] : items) is.trend_hot = false;
    trend_hot.clear();
    std::vector<std::pair<double, std::pair<Id, const ItemState*>>> v;
    for (const auto& [id, is] : items)
      if (const double ts = trend_score(is); ts > 0) v.push_back({ts, {id, &is}});
    set_trending(v);
  }

  void set_location(LocationState& loc, std::vector<std::pair<double, Id>>& v) {
    for (Id id : loc.hot)
      if (LocationItem* li = loc.items.find(id)) li->hot = false;
    std::erase_if(v, [](const auto& x) { return x.first <= 0; });
    nth_best(v, kHotKeep);
    loc.hot.clear();
    loc.threshold = 0;
    for (const auto& [score, id] : v) {
      loc.items.find(id)->hot = true;
      loc.hot.push_back(id);
    }
    if (v.size() >= kHotKeep) {
      loc.threshold = v.front().first;
      for (const auto& x : v) loc.threshold = std::min(loc.threshold, x.first);
    }
  }

  void trim_location(LocationState& loc) {
    std::vector<std::pair<double, Id>> v;
    v.reserve(loc.hot.size());
    for (Id id : loc.hot)
      if (const LocationItem* li = loc.items.find(id)) v.push_back({li->hours.last_and_previous(now).first, id});
    set_location(loc, v);
  }

  void rebuild_location(LocationState& loc) {
    loc.items.for_each([](Id, LocationItem& li) { li.hot = false; });
    loc.hot.clear();
    std::vector<std::pair<double, Id>> v;
    loc.items.for_each([&](Id id, const LocationItem& li) {
      if (const double ls = li.hours.last_and_previous(now).first; ls > 0) v.push_back({ls, id});
    });
    set_location(loc, v);
  }

  // Evicts the least recently seen 10% beyond the bound, amortising the
  // sort; ties by id so eviction is deterministic.
  template <class Map>
  std::size_t evict_oldest(Map& map, std::size_t bound) {
    if (bound == 0 || map.size() <= bound) return 0;
    const std::size_t keep = bound - bound / 10;
    std::vector<std::pair<TimestampMs, Id>> order;
    order.reserve(map.size());
    for (const auto& [id, s] : map) order.emplace_back(s.last_seen, id);
    const std::size_t drop = map.size() - keep;
    std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(drop - 1), order.end());
    for (std::size_t i = 0; i < drop; ++i) map.erase(order[i].second);
    return drop;
  }

  void evict_if_needed() {
    if (const std::size_t n = evict_oldest(users, config.max_users)) evicted_users += n;
    bool rebuild_trend = false;
    if (const std::size_t n = evict_oldest(items, config.max_items)) {
      evicted_items += n;
      rebuild_trend = true;  // trend_hot may point at evicted items
      rebuild_pop_top();
      for (auto& entry : category_items) {
        const Id cat = entry.first;  // a named copy: clang 14 cannot capture a structured binding
        std::erase_if(entry.second, [&](Id id) {
          const ItemState* is = items.find(id);
          return !is || is->category != cat;
        });
      }
      std::erase_if(category_items, [](const auto& kv) { return kv.second.empty(); });
    }
    const std::int64_t hour = now / HourCounts::kHourMs;
    const std::int64_t slot = now / kHotRebuildMs;
    if (slot != last_hot_rebuild_slot) {
      last_hot_rebuild_slot = slot;
      rebuild_trend = true;
      if (hour != last_location_sweep_hour) {
        last_location_sweep_hour = hour;
        for (auto& [_, loc] : location_items) {
          std::vector<Id> stale;
          loc.items.for_each([&](Id id, const LocationItem& li) {
            if (li.hours.stale(now)) stale.push_back(id);
          });
          for (Id id : stale) loc.items.erase(id);
        }
        std::erase_if(location_items, [](const auto& kv) { return kv.second.items.empty(); });
      }
      for (auto& [_, loc] : location_items) rebuild_location(loc);
    }
    if (rebuild_trend) rebuild_trending();
  }

  double recency(const HistoryEntry& h) const {
    return h.weight * decay_factor(now - h.time, config.interest_half_life_ms);
  }

  // Scores the neighbours of the user's strongest history items (recency x
  // weight; at most query_history of them, ties to the more recent).
  ScoreMap item_cf(const UserState& us) const {
    std::vector<std::pair<double, std::size_t>> order;  // (recency, history index)
    order.reserve(us.history.size());
    for (std::size_t i = 0; i < us.history.size(); ++i) order.emplace_back(recency(us.history[i]), i);
    const std::size_t cap = config.query_history == 0 ? order.size() : config.query_history;
    if (order.size() > cap) {
      std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(cap - 1), order.end(),
                       [](const auto& a, const auto& b) {
                         if (a.first != b.first) return a.first > b.first;
                         return a.second > b.second;
                       });
      order.resize(cap);
      std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
    }
    ScoreMap out;
    out.reserve(order.size() * config.max_neighbours);
    const double hl = static_cast<double>(config.similarity_half_life_ms);
    for (const auto& [r, i] : order) {
      const HistoryEntry& h = us.history[i];
      const ItemState* is = item(h.item);
      if (!is) continue;
      const double na = engagement(*is);
      for (const Neighbour& n : is->neighbours) {
        const ItemState* b = item(n.item);
        if (!b) continue;
        const double co = n.co * (hl > 0 ? std::exp2(-static_cast<double>(std::max<TimestampMs>(now - n.time, 0)) / hl) : 1.0);
        const double s = co / (damp(std::max(na * engagement(*b), 1e-12)) + config.similarity_shrinkage);
        if (s > 0) out[n.item].add(r * s, h.item);
      }
    }
    return out;
  }

  static double norm(const UserState& us) {
    double s = 0;
    for (const HistoryEntry& h : us.history) s += static_cast<double>(h.weight) * h.weight;
    return std::sqrt(s);
  }

  ScoreMap user_cf(Id uid, const UserState& us) const {
    ScoreMap out;
    FlatMap<double> dot;
    dot.reserve(config.max_candidate_users);
    for (auto h = us.history.rbegin(); h != us.history.rend(); ++h) {
      const ItemState* is = item(h->item);
      if (!is) continue;
      for (Id v : is->recent_users) {
        if (v == uid) continue;
        double* d = dot.find(v);
        if (!d) {
          if (dot.size() >= config.max_candidate_users) continue;
          d = &dot[v];
        }
        const UserState* vs = user(v);
        if (!vs) continue;
        for (const HistoryEntry& vh : vs->history)
          if (vh.item == h->item) *d += static_cast<double>(h->weight) * vh.weight;
      }
    }
    const double nu = norm(us);
    std::vector<std::pair<double, Id>> nearest;
    dot.for_each([&](Id v, double d) {
      if (d <= 0) return;
      const UserState* vs = user(v);
      if (!vs) return;
      nearest.emplace_back(d / (nu * norm(*vs) + 1e-12), v);
    });
    std::sort(nearest.begin(), nearest.end(), [](const auto& a, const auto& b) {
      if (a.first != b.first) return a.first > b.first;
      return a.second < b.second;
    });
    if (nearest.size() > config.nearest_users) nearest.resize(config.nearest_users);
    for (const auto& [s, v] : nearest)
      for (const HistoryEntry& vh : user(v)->history) out[vh.item].add(s * recency(vh), v);
    return out;
  }

  ScoreMap category_interest(const UserState& us) const {
    FlatMap<double> interest;
    for (const HistoryEntry& h : us.history)
      if (h.category != kNoId) interest[h.category] += recency(h);
    std::vector<std::pair<double, Id>> top;
    interest.for_each([&](Id c, double v) { top.emplace_back(v, c); });
    std::sort(top.begin(), top.end(), [](const auto& a, const auto& b) {
      if (a.first != b.first) return a.first > b.first;
      return a.second < b.second;
    });
    if (top.size() > 3) top.resize(3);
    ScoreMap out;
    for (const auto& [v, c] : top)
      for (const auto& [a, id] : popular_in_category(c, 50, static_cast<const Filter*>(nullptr))) out[id].add(v * a, c);
    return out;
  }

  // The n most active items of category c (activity now, best first, ties by
  // id), among those keep accepts. Ranked by pop_key, which orders items as
  // their activity does at any time, so only the winners pay for a decay.
  template <class Keep>
  std::vector<std::pair<double, Id>> popular_in_category(Id c, std::size_t n, const Keep* keep) const {
    std::vector<std::pair<double, Id>> ranked;
    auto ids = category_items.find(c);
    if (ids == category_items.end() || n == 0) return ranked;
    for (Id id : ids->second) {
      const ItemState* is = item(id);
      if (!is || is->category != c || is->activity.value <= 0) continue;
      if (keep && !(*keep)(id)) continue;
      ranked.emplace_back(is->pop_key, id);
    }
    // A category list may repeat an id (its category changed back and forth).
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
      if (a.second != b.second) return a.second < b.second;
      return a.first < b.first;
    });
    ranked.erase(std::unique(ranked.begin(), ranked.end(),
                             [](const auto& a, const auto& b) { return a.second == b.second; }),
                 ranked.end());
    nth_best(ranked, n);
    for (auto& [score, id] : ranked) score = item(id)->activity.at(now, config.popularity_half_life_ms);
    std::erase_if(ranked, [](const auto& x) { return x.first <= 0; });
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
      if (a.first != b.first) return a.first > b.first;
      return a.second < b.second;
    });
    return ranked;
  }

  ScoreMap location_popular(Id location) const {
    ScoreMap out;
    auto m = location_items.find(location);
    if (m == location_items.end()) return out;
    for (Id id : m->second.hot) {
      const LocationItem* li = m->second.items.find(id);
      if (!li) continue;
      const double last = li->hours.last_and_previous(now).first;
      if (last > 0) out[id].add(last, location);
    }
    return out;
  }

  const std::vector<Recommendation>& popular_overall() const {
    if (popular_cache_at != applied) {
      popular_cache.clear();
      for (const auto& [key, id, is] : pop_top) {
        const double a = is->activity.at(now, config.popularity_half_life_ms);
        if (a > 0) popular_cache.push_back({id, a, {ReasonKind::popular, kNoId}});
      }
      keep_top(popular_cache, kPopularTop);
      popular_cache_at = applied;
    }
    return popular_cache;
  }

  // Whether product may be returned for this query.
  struct Filter {
    const State& state;
    const RecommendQuery& query;
    const UserState* us;
    bool operator()(Id product) const {
      if (product == kNoId) return false;
      if (query.category != kNoId) {
        const ItemState* is = state.item(product);
        if (!is || is->category != query.category) return false;
      }
      if (std::find(query.exclude.begin(), query.exclude.end(), product) != query.exclude.end()) return false;
      if (us) {
        if (std::find(us->purchased.begin(), us->purchased.end(), product) != us->purchased.end()) return false;
        if (query.exclude_viewed)
          for (const HistoryEntry& h : us->history)
            if (h.item == product) return false;
      }
      return true;
    }
  };

  std::vector<Recommendation> from_scores(const ScoreMap& m, ReasonKind kind, const Filter& keep,
                                          std::size_t limit) const {
    std::vector<Recommendation> out;
    m.for_each([&](Id id, const Scored& s) {
      if (s.score > 0 && keep(id)) out.push_back({id, s.score, {kind, s.because}});
    });
    keep_top(out, limit);
    return out;
  }

  std::vector<Recommendation> popular_list(const PopularQuery& q, const Filter* keep) const {
    std::vector<Recommendation> out;
    if (q.location != kNoId) {
      auto m = location_items.find(q.location);
      if (m == location_items.end()) return out;
      auto consider = [&](Id id, const LocationItem& li) {
        if (q.category != kNoId) {
          const ItemState* is = item(id);
          if (!is || is->category != q.category) return;
        }
        if (keep && !(*keep)(id)) return;
        const double last = li.hours.last_and_previous(now).first;
        if (last > 0) out.push_back({id, last, {ReasonKind::popular_in_location, q.location}});
      };
      for (Id id : m->second.hot)
        if (const LocationItem* li = m->second.items.find(id)) consider(id, *li);
      // The candidates cover the top kHotKeep; scan everything when they
      // cannot fill the list.
      if (out.size() < q.limit && m->second.hot.size() < m->second.items.size()) {
        out.clear();
        m->second.items.for_each([&](Id id, const LocationItem& li) { consider(id, li); });
      }
    } else if (q.category != kNoId) {
      for (const auto& [a, id] : popular_in_category(q.category, q.limit, keep))
        out.push_back({id, a, {ReasonKind::popular_in_category, q.category}});
    } else {
      const auto& all = popular_overall();
      for (const Recommendation& r : all) {
        if (keep && !(*keep)(r.product)) continue;
        out.push_back(r);
        if (out.size() >= q.limit) break;
      }
      if (out.size() < q.limit && all.size() >= kPopularTop) {
        // The cache holds the top 1000 only; fall back to a full scan.
        out.clear();
        for (const auto& [id, is] : items) {
          if (keep && !(*keep)(id)) continue;
          const double a = is.activity.at(now, config.popularity_half_life_ms);
          if (a > 0) out.push_back({id, a, {ReasonKind::popular, kNoId}});
        }
      }
    }
    keep_top(out, q.limit);
    return out;
  }

  std::vector<Recommendation> hybrid(const RecommendQuery& q, const UserState* us, const Filter& keep) const {
    struct Component {
      ScoreMap scores;
      double weight;
      ReasonKind kind;
    };
    std::vector<Component> parts;
    if (us) {
      parts.push_back({item_cf(*us), config.blend_item_cf, ReasonKind::viewed_together});
      parts.push_back({user_cf(q.user, *us), config.blend_user_cf, ReasonKind::similar_users});
      parts.push_back({category_interest(*us), config.blend_category, ReasonKind::category_interest});
      if (us->location != kNoId)
        parts.push_back({location_popular(us->location), config.blend_location, ReasonKind::popular_in_location});
      if (!q.exclude_viewed) {
        ScoreMap own;
        for (const HistoryEntry& h : us->history) own[h.item].add(recency(h), h.item);
        parts.push_back({std::move(own), config.blend_recency, ReasonKind::recently_viewed});
      }
    }
    ScoreMap pop;
    for (const Recommendation& r : popular_overall()) pop[r.product].add(r.score, kNoId);
    parts.push_back({std::move(pop), config.blend_popularity, ReasonKind::popular});

    struct Total {
      double score = 0;
      double best = -1;
      Reason reason;
    };
    FlatMap<Total> total;
    std::size_t candidates = 0;
    for (const Component& c : parts) candidates += c.scores.size();
    total.reserve(candidates);
    for (const Component& c : parts) {
      if (c.weight <= 0) continue;
      double max = 0;
      c.scores.for_each([&](Id, const Scored& s) { max = std::max(max, s.score); });
      if (max <= 0) continue;
      c.scores.for_each([&](Id id, const Scored& s) {
        if (s.score <= 0) return;
        const double part = c.weight * s.score / max;
        Total& t = total[id];
        t.score += part;
        if (part > t.best) {
          t.best = part;
          t.reason = Reason{c.kind, s.because};
        }
      });
    }
    // The filter depends on the item only: checked once per candidate.
    std::vector<Recommendation> out;
    out.reserve(total.size());
    total.for_each([&](Id id, const Total& t) {
      if (keep(id)) out.push_back({id, t.score, t.reason});
    });
    keep_top(out, q.limit);
    if (q.fill_cold_start && out.size() < q.limit) fill(out, q, us, keep);
    return out;
  }

  // Pads with cold-start lists: category, location this hour, overall.
  void fill(std::vector<Recommendation>& out, const RecommendQuery& q, const UserState* us, const Filter& keep) const {
    FlatMap<std::uint8_t> have;
    for (const Recommendation& r : out) have[r.product] = 1;
    const double floor = out.empty() ? 1.0 : out.back().score;
    auto pad = [&](std::vector<Recommendation> more) {
      for (Recommendation& r : more) {
        if (out.size() >= q.limit) return;
        if (have.find(r.product)) continue;
        have[r.product] = 1;
        r.score = floor * 0.5 / static_cast<double>(out.size() + 1);
        out.push_back(r);
      }
    };
    const std::size_t want = q.limit + out.size();
    if (us && us->location != kNoId) pad(popular_list({want, q.category, us->location}, &keep));
    if (q.category != kNoId) pad(popular_list({want, q.category, kNoId}, &keep));
    else pad(popular_list({want, kNoId, kNoId}, &keep));
  }
};

namespace {

// Bumped when the layout below changes; restore() refuses other formats.
constexpr std::uint8_t kCheckpointFormat = 1;
constexpr Id kMaxCheckpointId = Id{1} << 30;

// The settings that shape the learned state. Query-time settings (blend
// weights, candidate and neighbour counts, interest half-life) are left out,
// so changing them keeps the checkpoint usable.
std::string state_fingerprint(const RecommenderConfig& c) {
  ByteWriter w;
  for (float t : c.type_weights) w.f32(t);
  w.varint(c.history_length);
  w.varint(c.pair_history);
  w.svarint(c.similarity_half_life_ms);
  w.svarint(c.pair_half_life_ms);
  w.svarint(c.popularity_half_life_ms);
  w.varint(c.max_neighbours);
  w.f64(c.popularity_damping);
  w.f64(c.similarity_shrinkage);
  w.varint(c.max_items);
  w.varint(c.max_users);
  w.varint(c.recent_users_per_item);
  w.varint(c.max_purchases_remembered);
  w.bytes(propensity_fingerprint(c.propensity));
  return std::move(w.str());
}

template <class Map>
std::vector<Id> sorted_keys(const Map& m) {
  std::vector<Id> ids;
  ids.reserve(m.size());
  for (const auto& kv : m) ids.push_back(kv.first);
  std::sort(ids.begin(), ids.end());
  return ids;
}

// Times are written relative to the newest event time: small varints.
void put_time(ByteWriter& w, TimestampMs now, TimestampMs t) { w.svarint(now - t); }
TimestampMs get_time(ByteReader& r, TimestampMs now) { return now - r.svarint(); }

void put_decayed(ByteWriter& w, TimestampMs now, const Decayed& d) {
  w.f32(d.value);
  put_time(w, now, d.time);
}
Decayed get_decayed(ByteReader& r, TimestampMs now) {
  Decayed d;
  d.value = r.f32();
  d.time = get_time(r, now);
  return d;
}

void put_hours(ByteWriter& w, const HourCounts& h) {
  w.svarint(h.hour);
  for (float c : h.counts) w.f32(c);
}
HourCounts get_hours(ByteReader& r) {
  HourCounts h;
  h.hour = r.svarint();
  for (float& c : h.counts) c = r.f32();
  return h;
}

// Hot lists are candidate sets: their order depends on hash-map iteration
// and never on the answers, so they are written sorted.
template <class Pointer>
std::vector<Id> hot_ids(const std::vector<std::pair<Id, Pointer>>& hot) {
  std::vector<Id> ids;
  ids.reserve(hot.size());
  for (const auto& entry : hot) ids.push_back(entry.first);
  std::sort(ids.begin(), ids.end());
  return ids;
}

void put_ids(ByteWriter& w, const std::vector<Id>& ids) {
  w.varint(ids.size());
  for (Id id : ids) w.varint(id);
}
void get_ids(ByteReader& r, std::vector<Id>& ids) {
  ids.resize(r.count());
  for (Id& id : ids) id = r.u32();
}

}  // namespace

// Maps are written in id order, so equal states give equal bytes. Derived
// indexes (the popular top list, hot-list pointers) are rebuilt or re-linked.
void Recommender::State::save(ByteWriter& w) const {
  w.u8(kCheckpointFormat);
  w.bytes(state_fingerprint(config));
  w.svarint(now);
  w.varint(applied_through);
  w.varint(applied);
  w.varint(evicted_items);
  w.varint(evicted_users);
  w.svarint(last_hot_rebuild_slot);
  w.svarint(last_location_sweep_hour);

  w.varint(items.size());
  for (const auto& [id, is] : items) {  // dense maps iterate in id order
    w.varint(id);
    w.varint(is.category);
    put_decayed(w, now, is.engagement);
    put_decayed(w, now, is.activity);
    put_hours(w, is.hours);
    w.f32(is.norm);
    put_time(w, now, is.last_seen);
    w.varint(is.neighbours.size());
    for (const Neighbour& n : is.neighbours) {
      w.varint(n.item);
      w.f32(n.co);
      put_time(w, now, n.time);
      w.f32(n.norm);
    }
    put_ids(w, is.recent_users);
    w.varint(is.recent_pos);
  }

  w.varint(users.size());
  for (const auto& [id, us] : users) {
    w.varint(id);
    w.varint(us.location);
    put_time(w, now, us.last_seen);
    w.varint(us.history.size());
    for (const HistoryEntry& h : us.history) {
      w.varint(h.item);
      w.varint(h.category);
      w.f32(h.weight);
      put_time(w, now, h.time);
    }
    put_ids(w, us.purchased);
  }

  const std::vector<Id> category_ids = sorted_keys(category_items);
  w.varint(category_ids.size());
  for (Id c : category_ids) {
    w.varint(c);
    put_ids(w, category_items.at(c));
  }

  const std::vector<Id> location_ids = sorted_keys(location_items);
  w.varint(location_ids.size());
  for (Id l : location_ids) {
    const LocationState& loc = location_items.at(l);
    w.varint(l);
    std::vector<Id> ids;
    ids.reserve(loc.items.size());
    loc.items.for_each([&](Id id, const LocationItem&) { ids.push_back(id); });
    std::sort(ids.begin(), ids.end());
    w.varint(ids.size());
    for (Id id : ids) {
      w.varint(id);
      put_hours(w, loc.items.find(id)->hours);
    }
    std::vector<Id> hot = loc.hot;
    std::sort(hot.begin(), hot.end());
    put_ids(w, hot);
    w.f64(loc.threshold);
  }

  put_ids(w, hot_ids(trend_hot));
  w.f64(trend_threshold);

  propensity.save(w);
}

Result<void> Recommender::State::load(ByteReader& r) {
  const auto corrupt = [](const char* what) {
    return make_error(Errc::corrupt, std::string("recommender checkpoint: ") + what);
  };
  if (r.u8() != kCheckpointFormat) return corrupt("unknown format");
  const std::string_view fingerprint = r.bytes();
  if (r.failed()) return corrupt("truncated header");
  if (fingerprint != state_fingerprint(config))
    return make_error(Errc::invalid_argument, "recommender checkpoint: taken with a different configuration");
  now = r.svarint();
  applied_through = r.varint();
  applied = r.varint();
  evicted_items = r.varint();
  evicted_users = r.varint();
  last_hot_rebuild_slot = r.svarint();
  last_location_sweep_hour = r.svarint();

  // Every record below takes at least a few bytes; count() bounds each
  // allocation by what the input can hold.
  const std::size_t n_items = r.count(8);
  Id previous = 0;
  // Ids are written in ascending order and index a slot array: a bad one
  // must not drive a huge allocation (the checksum has already passed).
  const auto next_id = [&](Id& prev) {
    const Id id = r.u32();
    if (id <= prev || id > kMaxCheckpointId) r.fail();
    prev = id;
    return id;
  };
  for (std::size_t i = 0; i < n_items && !r.failed(); ++i) {
    const Id id = next_id(previous);
    if (r.failed()) break;
    ItemState& is = items[id];
    is.category = r.u32();
    is.engagement = get_decayed(r, now);
    is.activity = get_decayed(r, now);
    is.hours = get_hours(r);
    is.norm = r.f32();
    is.last_seen = get_time(r, now);
    const std::size_t n_neighbours = r.count(10);
    for (std::size_t k = 0; k < n_neighbours && !r.failed(); ++k) {
      Neighbour n;
      n.item = r.u32();
      n.co = r.f32();
      n.time = get_time(r, now);
      n.norm = r.f32();
      is.neighbours.push_back(n);
    }
    get_ids(r, is.recent_users);
    is.recent_pos = r.u32();
  }

  const std::size_t n_users = r.count(4);
  previous = 0;
  for (std::size_t i = 0; i < n_users && !r.failed(); ++i) {
    const Id id = next_id(previous);
    if (r.failed()) break;
    UserState& us = users[id];
    us.location = r.u32();
    us.last_seen = get_time(r, now);
    us.history.resize(r.count(7));
    for (HistoryEntry& h : us.history) {
      h.item = r.u32();
      h.category = r.u32();
      h.weight = r.f32();
      h.time = get_time(r, now);
    }
    get_ids(r, us.purchased);
  }

  const std::size_t n_categories = r.count(2);
  for (std::size_t i = 0; i < n_categories && !r.failed(); ++i) {
    const Id c = r.u32();
    get_ids(r, category_items[c]);
  }

  const std::size_t n_locations = r.count(11);
  for (std::size_t i = 0; i < n_locations && !r.failed(); ++i) {
    LocationState& loc = location_items[r.u32()];
    const std::size_t n = r.count(14);
    for (std::size_t j = 0; j < n && !r.failed(); ++j) {
      const Id id = r.u32();
      if (id == FlatMap<LocationItem>::kEmptyKey) return corrupt("location item id");
      loc.items[id].hours = get_hours(r);
    }
    const std::size_t n_hot = r.count();
    for (std::size_t j = 0; j < n_hot && !r.failed(); ++j) {
      const Id id = r.u32();
      LocationItem* li = loc.items.find(id);
      if (!li || li->hot) return corrupt("hot location item unknown or repeated");
      li->hot = true;
      loc.hot.push_back(id);
    }
    loc.threshold = r.f64();
  }

  const std::size_t n_trend = r.count();
  for (std::size_t j = 0; j < n_trend && !r.failed(); ++j) {
    const Id id = r.u32();
    ItemState* is = items.find(id);
    if (!is || is->trend_hot) return corrupt("trending item unknown or repeated");
    is->trend_hot = true;
    trend_hot.emplace_back(id, is);
  }
  trend_threshold = r.f64();

  if (r.failed()) return corrupt("truncated");
  if (!propensity.load(r)) return corrupt("propensity model malformed");
  if (!r.at_end()) return corrupt("trailing bytes");
  rebuild_pop_top();
  return {};
}

Recommender::Recommender(RecommenderConfig config) : state_(std::make_unique<State>(std::move(config))) {}
Recommender::~Recommender() = default;

// Layout: the state, then a checksum of it (fixed 8 bytes), so damaged
// bytes are refused before any of them sizes an allocation.
std::string Recommender::checkpoint() const {
  ByteWriter w;
  // The state changes little between checkpoints: room for the last size
  // and some growth spares copying a string of tens of MiB while it grows.
  w.reserve(state_->last_checkpoint_bytes + state_->last_checkpoint_bytes / 8);
  state_->save(w);
  state_->last_checkpoint_bytes = w.str().size();
  const std::uint64_t sum = checksum64(w.str());
  w.f64(std::bit_cast<double>(sum));
  return std::move(w.str());
}

Result<Recommender> Recommender::restore(const RecommenderConfig& config, std::string_view bytes) {
  if (bytes.size() < 8) return make_error(Errc::corrupt, "recommender checkpoint: truncated");
  const std::string_view body = bytes.substr(0, bytes.size() - 8);
  ByteReader tail(bytes.substr(body.size()));
  if (std::bit_cast<std::uint64_t>(tail.f64()) != checksum64(body))
    return make_error(Errc::corrupt, "recommender checkpoint: checksum mismatch");
  Recommender r(config);
  ByteReader in(body);
  if (auto loaded = r.state_->load(in); !loaded) return loaded.error();
  return r;
}
Recommender::Recommender(Recommender&&) noexcept = default;
Recommender& Recommender::operator=(Recommender&&) noexcept = default;

void Recommender::apply(std::span<const Event> events) {
  State& s = *state_;
  for (std::size_t i = 0; i < events.size(); ++i) {
    // The next event's item and user states are elsewhere in memory: ask
    // for them while this event is applied.
    if (i + 1 < events.size()) {
      if (const ItemState* next = s.items.find(events[i + 1].product)) __builtin_prefetch(next);
      if (const UserState* next = s.users.find(events[i + 1].user)) __builtin_prefetch(next);
    }
    s.apply_one(events[i]);
  }
}

std::vector<Recommendation> Recommender::recommend(const RecommendQuery& q) const {
  const State& s = *state_;
  if (q.limit == 0) return {};
  const UserState* us = q.user == kNoId ? nullptr : s.user(q.user);
  const State::Filter keep{s, q, us};
  switch (q.strategy) {
    case Strategy::item_cf:
      return us ? s.from_scores(s.item_cf(*us), ReasonKind::viewed_together, keep, q.limit)
                : std::vector<Recommendation>{};
    case Strategy::user_cf:
      return us ? s.from_scores(s.user_cf(q.user, *us), ReasonKind::similar_users, keep, q.limit)
                : std::vector<Recommendation>{};
    case Strategy::popularity:
      return s.popular_list({q.limit, q.category, kNoId}, &keep);
    case Strategy::hybrid:
      return s.hybrid(q, us, keep);
  }
  return {};
}

std::vector<Recommendation> Recommender::similar(Id product, std::size_t limit) const {
  const State& s = *state_;
  const ItemState* is = s.item(product);
  if (!is) return {};
  std::vector<Recommendation> out;
  for (const Neighbour& n : is->neighbours) {
    const double sim = s.sim(*is, n);
    if (sim > 0) out.push_back({n.item, sim, {ReasonKind::viewed_together, product}});
  }
  keep_top(out, limit);
  return out;
}

std::vector<Recommendation> Recommender::popular(const PopularQuery& q) const {
  return state_->popular_list(q, nullptr);
}

std::vector<Recommendation> Recommender::trending(std::size_t limit, Id category) const {
  const State& s = *state_;
  std::vector<Recommendation> out;
  // Growth measured in standard deviations of a Poisson count, so one extra
  // view of a new item does not outrank a real surge; rising by at least one
  // view's weight.
  auto consider = [&](Id id, const ItemState& is) {
    if (category != kNoId && is.category != category) return;
    if (const double ts = s.trend_score(is); ts > 0) out.push_back({id, ts, {ReasonKind::trending, kNoId}});
  };
  if (category != kNoId) {
    auto ids = s.category_items.find(category);
    if (ids == s.category_items.end()) return out;
    std::vector<Id> unique = ids->second;  // category lists may repeat an id
    std::sort(unique.begin(), unique.end());
    unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
    for (Id id : unique)
      if (const ItemState* is = s.item(id)) consider(id, *is);
  } else if (limit <= kHotKeep) {
    for (const auto& [id, is] : s.trend_hot) consider(id, *is);
  } else {
    for (const auto& [id, is] : s.items) consider(id, is);
  }
  keep_top(out, limit);
  return out;
}

double Recommender::similarity(Id a, Id b) const {
  const State& s = *state_;
  const ItemState* is = s.item(a);
  if (!is) return 0;
  const std::optional<Neighbour> n = is->neighbours.find(b);
  return n ? s.sim(*is, *n) : 0;
}

const PurchasePropensity& Recommender::propensity() const noexcept { return state_->propensity; }

RecommenderStats Recommender::stats() const {
  const State& s = *state_;
  RecommenderStats st;
  st.items = s.items.size();
  st.users = s.users.size();
  for (const auto& [_, is] : s.items) st.neighbour_entries += is.neighbours.size();
  st.applied_events = s.applied;
  st.evicted_items = s.evicted_items;
  st.evicted_users = s.evicted_users;
  st.applied_through = s.applied_through;
  st.now_ms = s.now;
  return st;
}

Sequence Recommender::applied_through() const noexcept { return state_->applied_through; }
TimestampMs Recommender::now_ms() const noexcept { return state_->now; }
const RecommenderConfig& Recommender::config() const noexcept { return state_->config; }

}  // namespace shoppulse
