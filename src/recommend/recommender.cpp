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
#include <utility>

#include "decay.hpp"
#include "dense_map.hpp"
#include "shoppulse/core/flat_map.hpp"
#include "shoppulse/core/byte_codec.hpp"
#include "shoppulse/core/prefetch.hpp"

namespace shoppulse {

using recommend_detail::decay_factor;
using recommend_detail::Decayed;
using recommend_detail::DenseMap;
using recommend_detail::HourCounts;
using recommend_detail::LruOrder;

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

// Empties v; its buffer stays for reuse only when it holds at most `keep`
// elements. A recycled state keeps a small buffer so most new occupants
// allocate nothing, but not the high-water mark of every earlier occupant:
// with 3.8 M items passing through 200k states, kept capacities summed to
// six times the neighbours actually held.
template <class V>
void clear_keeping_small(V& v, std::size_t keep) noexcept {
  if (v.capacity() > keep) V().swap(v);
  else v.clear();
}

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
  // Empty; the buffers stay only when they hold at most `keep` entries.
  void clear_keeping(std::size_t keep) noexcept {
    clear_keeping_small(ids_, keep);
    clear_keeping_small(data_, keep);
  }
  std::size_t capacity_bytes() const noexcept { return ids_.capacity() * sizeof(Id) + data_.capacity() * sizeof(Data); }
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
  void prefetch_ids() const noexcept { shoppulse::prefetch_all(ids_.data(), ids_.size() * sizeof(Id)); }
  void prefetch_data() const noexcept { shoppulse::prefetch_all(data_.data(), data_.size() * sizeof(Data)); }
  // The weights an update with `item` will write: its own, or the end where
  // it would be appended.
  void prefetch_data_of(Id item) const noexcept {
    const std::size_t i = index_of(item);
    shoppulse::prefetch(data_.data() + (i == npos ? data_.size() : i));
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
  std::vector<Id> ids_;
  std::vector<Data> data_;
};

// Bounded candidate lists for "popular in a location this hour": up to
// 2 * kHotKeep ids, trimmed back to kHotKeep by current score, rebuilt from
// the location's items (those of the last three hours) every kHotRebuildMs
// of event time. Queries only score the candidates.
constexpr std::size_t kHotKeep = 200;
constexpr std::int64_t kHotRebuildMs = 10 * 60 * 1000;

// Entries a recycled item's neighbour list and a recycled user's history
// keep room for (clear_keeping_small).
constexpr std::size_t kKeptNeighbours = 4;
constexpr std::size_t kKeptHistory = 4;

// Every item of each category, once. Dictionary ids are dense, so lists
// are indexed by category id; an id from kDense on (a dictionary with over
// a million categories, or a damaged checkpoint that names one) is kept in
// a map, so memory follows the categories held, never the largest id.
class CategoryLists {
 public:
  static constexpr Id kDense = Id{1} << 20;

  std::vector<Id>& operator[](Id category) {
    if (category >= kDense) return sparse_[category];
    if (category >= dense_.size()) dense_.resize(std::size_t{category} + 1);
    return dense_[category];
  }
  std::vector<Id>* find(Id category) {
    return const_cast<std::vector<Id>*>(std::as_const(*this).find(category));
  }
  const std::vector<Id>* find(Id category) const {
    if (category < dense_.size()) return &dense_[category];
    if (category < kDense) return nullptr;
    const auto found = sparse_.find(category);
    return found == sparse_.end() ? nullptr : &found->second;
  }
  std::size_t memory_bytes() const {
    std::size_t bytes = dense_.capacity() * sizeof(std::vector<Id>) + sparse_.bucket_count() * sizeof(void*);
    for (const auto& list : dense_) bytes += list.capacity() * sizeof(Id);
    // A node: the pair, a next pointer and the cached hash.
    for (const auto& [_, list] : sparse_)
      bytes += sizeof(std::pair<const Id, std::vector<Id>>) + 2 * sizeof(void*) + list.capacity() * sizeof(Id);
    return bytes;
  }

 private:
  std::vector<std::vector<Id>> dense_;
  std::unordered_map<Id, std::vector<Id>> sparse_;
};

struct ItemState;
// The most active items, ordered by (pop_key, id); see State::pop_top.
using PopularSet = std::set<std::tuple<double, Id, ItemState*>>;

struct ItemState {
  Id category = kNoId;
  Decayed engagement;  // distinct-user interest increments: the similarity normaliser
  Decayed activity;    // every weighted event: "popular"
  HourCounts hours;    // weighted events per clock hour: trending
  float norm = 0;      // engagement.value^damping, at engagement.time
  bool pop_top = false;    // in State::pop_top, under pop_key
  double pop_key = 0;      // log2(activity) + time / half-life: orders items as their activity does
  PopularSet::iterator pop_it;  // its entry in State::pop_top, when pop_top is set
  NeighbourList neighbours;
  std::vector<Id> recent_users;  // ring of the last users, recent_users_per_item long
  std::uint32_t recent_pos = 0;
  std::uint32_t category_pos = 0;  // its index in State::category_items[category]
  Id lru_prev = kNoId;  // neighbours in State::item_lru (least recently seen first)
  Id lru_next = kNoId;
  std::uint32_t trend_pos = 0;  // its record in State::recent for hours.hour, when it has one
  TimestampMs last_seen = 0;

  // Back to a fresh state, keeping small vectors' capacity for the next item.
  void clear() {
    NeighbourList n = std::move(neighbours);
    std::vector<Id> r = std::move(recent_users);
    n.clear_keeping(kKeptNeighbours);
    r.clear();
    *this = ItemState{};
    neighbours = std::move(n);
    recent_users = std::move(r);
  }
};

// A trending candidate: a copy of an item's hour counts and category, kept
// in a compact list per clock hour so a trending answer reads one array
// instead of visiting item states all over memory.
struct RecentItem {
  Id id = kNoId;  // kNoId: dead (the item moved to a later hour or was evicted)
  Id category = kNoId;
  HourCounts hours;
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
  Id lru_prev = kNoId;  // neighbours in State::user_lru (least recently seen first)
  Id lru_next = kNoId;
  TimestampMs last_seen = 0;

  // Back to a fresh state, keeping small vectors' capacity for the next user.
  void clear() {
    std::vector<HistoryEntry> h = std::move(history);
    std::vector<Id> p = std::move(purchased);
    clear_keeping_small(h, kKeptHistory);
    clear_keeping_small(p, kKeptHistory);
    *this = UserState{};
    history = std::move(h);
    purchased = std::move(p);
  }
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
// Trending score: rise of the last hour over the hour before, in standard
// deviations of a Poisson count; 0 when not rising by at least one view.
double trend_score_at(const HourCounts& hours, TimestampMs now) noexcept {
  const auto [last, prev] = hours.last_and_previous(now);
  if (last - prev < 1.0) return 0;
  return (last - prev) / std::sqrt(prev + 1.0);
}

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
  // Every item of each category, once (an item knows its place, so moving
  // or evicting it is constant time).
  CategoryLists category_items;
  std::unordered_map<Id, LocationState> location_items;
  // Trending candidates: recent[recent_slot(h)] holds a record for every
  // item whose hour counts last rolled to hour h = recent_hour[that slot] (a
  // record dies when its item rolls on or is evicted). Only items counted in
  // the current or the previous hour can be rising, so a trending answer
  // scores those records and nothing else: its cost follows the last two
  // hours' activity, not the catalogue, and nothing is rebuilt
  // periodically. The hour before them is kept too: its counts are part of
  // an item's previous 60 minutes, which trending_counts() hands to a
  // cluster's merge (another node may have seen the item since).
  std::array<std::vector<RecentItem>, 3> recent;
  std::array<std::int64_t, 3> recent_hour{std::numeric_limits<std::int64_t>::min(),
                                          std::numeric_limits<std::int64_t>::min(),
                                          std::numeric_limits<std::int64_t>::min()};
  static std::size_t recent_slot(std::int64_t hour) noexcept { return static_cast<std::size_t>(((hour % 3) + 3) % 3); }
  LruOrder item_lru, user_lru;
  std::size_t neighbour_entries = 0;  // over all items
  std::int64_t last_hot_rebuild_slot = 0;
  PurchasePropensity propensity;
  Sequence applied_through = 0;
  std::function<bool(const Event&)> keep;  // empty: every event
  TimestampMs now = 0;
  std::uint64_t applied = 0;
  std::uint64_t evicted_items = 0;
  std::uint64_t evicted_users = 0;
  std::int64_t last_location_sweep_hour = 0;
  std::vector<std::pair<ItemState*, const HistoryEntry*>> partners;  // scratch of learn_interest
  std::vector<std::pair<double, std::uint32_t>> prune_scored;       // scratch of prune
  std::vector<char> prune_keep;                                     // scratch of prune

  // The items of highest activity, at most kPopularTop, kept exactly:
  // activity decays at one rate for all items, so log2(value) + time /
  // half-life orders items the same at any later time and only grows with
  // events. pop_top holds exactly the items ordered above pop_floor (the
  // last one dropped from it), so after an eviction takes a member out it
  // is still the exact top of what remains, only shorter.
  static constexpr std::size_t kPopularTop = 1000;
  PopularSet pop_top;
  std::pair<double, Id> pop_floor{-std::numeric_limits<double>::infinity(), kNoId};
  bool pop_complete() const noexcept { return pop_floor.first == -std::numeric_limits<double>::infinity(); }

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
    return Recommender::similarity_of(co, engagement(a), engagement(*b), config.popularity_damping,
                                      config.similarity_shrinkage);
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
    std::vector<std::pair<double, std::uint32_t>>& scored = prune_scored;
    scored.clear();
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
    std::vector<char>& kept = prune_keep;
    kept.assign(s.neighbours.size(), 0);
    for (std::size_t k = 0; k < keep; ++k) kept[scored[k].second] = 1;
    neighbour_entries -= s.neighbours.size() - keep;
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
    ++neighbour_entries;
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
    if (keep && !keep(e)) return;
    ++applied;
    now = std::max(now, e.time_ms);
    propensity.apply(e);
    const float w = config.type_weights[static_cast<std::size_t>(e.type)];
    ItemState* is = nullptr;
    if (e.product != kNoId) {
      is = &items[e.product];
      item_lru.touch(items, e.product, *is);
      is->last_seen = std::max(is->last_seen, e.time_ms);
      if (e.category != kNoId && e.category != is->category) set_category(e.product, *is, e.category);
      if (w > 0) {
        is->activity.add(w, e.time_ms, config.popularity_half_life_ms);
        update_pop_top(e.product, *is);
        const std::int64_t hour_before = is->hours.hour;
        is->hours.add(e.time_ms, w);
        sync_recent(e.product, *is, hour_before);
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
      user_lru.touch(users, e.user, us);
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
        if (other) shoppulse::prefetch(other);
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
    is.pop_key = key;
    if (is.pop_top) {
      // Keys only grow, and mostly not past the next entry: re-inserting the
      // same node just before its old successor is then constant time.
      const auto next = std::next(is.pop_it);
      auto node = pop_top.extract(is.pop_it);
      node.value() = {key, id, &is};
      is.pop_it = pop_top.insert(next, std::move(node));
      return;
    }
    if (!(std::pair<double, Id>{key, id} > pop_floor)) return;
    if (pop_top.size() < kPopularTop) {
      is.pop_top = true;
      is.pop_it = pop_top.insert({key, id, &is}).first;
      return;
    }
    // Full: the lowest member or the newcomer drops out (to pop_floor). The
    // newcomer takes the dropped member's node, so a full list allocates
    // nothing.
    const auto& [low_key, low_id, low] = *pop_top.begin();
    if (std::pair<double, Id>{key, id} < std::pair<double, Id>{low_key, low_id}) {
      pop_floor = {key, id};
      return;
    }
    pop_floor = {low_key, low_id};
    low->pop_top = false;
    auto node = pop_top.extract(pop_top.begin());
    node.value() = {key, id, &is};
    is.pop_top = true;
    is.pop_it = pop_top.insert(std::move(node)).position;
  }

  void rebuild_pop_top() {
    pop_top.clear();
    pop_floor = {-std::numeric_limits<double>::infinity(), kNoId};
    for (auto&& [id, is] : items) {
      is.pop_top = false;
      is.pop_key = pop_key_of(is);
      if (is.activity.value > 0) update_pop_top(id, is);
    }
  }

  void set_category(Id id, ItemState& is, Id category) {
    remove_from_category(id, is);
    std::vector<Id>& list = category_items[category];
    is.category = category;
    is.category_pos = static_cast<std::uint32_t>(list.size());
    list.push_back(id);
    if (RecentItem* r = live_recent(id, is, is.hours.hour)) r->category = category;
  }

  void remove_from_category(Id id, ItemState& is) {
    std::vector<Id>* found = is.category == kNoId ? nullptr : category_items.find(is.category);
    if (found == nullptr) return;
    std::vector<Id>& list = *found;
    if (is.category_pos >= list.size() || list[is.category_pos] != id) return;
    const Id last = list.back();
    list[is.category_pos] = last;
    if (last != id) items.find(last)->category_pos = is.category_pos;
    list.pop_back();
    is.category = kNoId;
  }

  // The item's live record in `recent` for the hour it last rolled to, or null.
  RecentItem* live_recent(Id id, const ItemState& is, std::int64_t hour) {
    const std::size_t slot = recent_slot(hour);
    if (recent_hour[slot] != hour || is.trend_pos >= recent[slot].size()) return nullptr;
    RecentItem& r = recent[slot][is.trend_pos];
    return r.id == id ? &r : nullptr;
  }

  // Brings the item's trending record up to date after its hour counts
  // changed (they were at hour_before).
  void sync_recent(Id id, ItemState& is, std::int64_t hour_before) {
    if (is.hours.hour == hour_before) {
      if (RecentItem* r = live_recent(id, is, hour_before)) r->hours = is.hours;
      return;
    }
    if (RecentItem* r = live_recent(id, is, hour_before)) r->id = kNoId;
    add_recent(id, is);
  }

  void add_recent(Id id, ItemState& is) {
    const std::int64_t hour = is.hours.hour;
    const std::size_t slot = recent_slot(hour);
    if (recent_hour[slot] != hour) {
      // An hour older than the slot's can no longer be rising: no record.
      if (recent_hour[slot] != std::numeric_limits<std::int64_t>::min() && hour < recent_hour[slot]) return;
      recent[slot].clear();
      recent_hour[slot] = hour;
    }
    is.trend_pos = static_cast<std::uint32_t>(recent[slot].size());
    recent[slot].push_back(RecentItem{id, is.category, is.hours});
  }

  // Calls f(record) once for every item counted in the last `hours` clock
  // hours (the current one included). Two: every item that can have a
  // trend score above 0; three: also those whose counts only reach into the
  // previous 60 minutes.
  template <class F>
  void for_each_recent(F&& f, std::int64_t hours = 2) const {
    const std::int64_t now_hour = now / HourCounts::kHourMs;
    for (std::size_t slot = 0; slot < recent.size(); ++slot) {
      if (recent_hour[slot] > now_hour || recent_hour[slot] <= now_hour - hours) continue;
      for (const RecentItem& r : recent[slot])
        if (r.id != kNoId) f(r);
    }
  }

  double trend_score(const HourCounts& hours) const { return trend_score_at(hours, now); }

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

  void evict_item(Id id) {
    ItemState& is = *items.find(id);
    item_lru.unlink(items, id, is);
    if (is.pop_top) {
      pop_top.erase(is.pop_it);
      is.pop_top = false;
    }
    remove_from_category(id, is);
    if (RecentItem* r = live_recent(id, is, is.hours.hour)) r->id = kNoId;
    neighbour_entries -= is.neighbours.size();
    items.erase(id);
    ++evicted_items;
    // The top list is exact but shorter; refill it from every item once it
    // has lost half its length (evicted items are the least recently seen,
    // rarely among the most active).
    if (pop_top.size() < kPopularTop / 2 && !pop_complete()) rebuild_pop_top();
    item_lru.prefetch_after_next(items);
  }

  void evict_user(Id id) {
    UserState& us = *users.find(id);
    user_lru.unlink(users, id, us);
    users.erase(id);
    ++evicted_users;
    user_lru.prefetch_after_next(users);
  }

  // At a bound, the next new user or item evicts the least recently seen
  // one: what that eviction reads and writes is asked for while the event
  // before it is applied. The head's own state is in cache (the last
  // eviction wrote it); its neighbour's, its category list's entries and its
  // trending record are not.
  // Cache hints for an event applied `ahead` events after the current one
  // (kPrefetchAhead down to 1, prefetch_ahead()). Its item and user states
  // are elsewhere in memory, and so are their neighbours in the last-use
  // orders, which applying it rewrites: index entries at 4, states at 3,
  // the neighbours' index entries at 2, the line of their states with the
  // links at 1 (with the next eviction's). The propensity model takes the
  // same distances (PurchasePropensity::prefetch).
  static constexpr std::size_t kPrefetchAhead = 4;
  static_assert(PurchasePropensity::kPrefetchAhead == kPrefetchAhead);
  void prefetch(const Event& e, std::size_t ahead) const noexcept {
    switch (ahead) {
      case 4:
        items.prefetch_slot(e.product);
        users.prefetch_slot(e.user);
        break;
      case 3:
        items.prefetch(e.product);
        users.prefetch(e.user);
        break;
      case 2:
        item_lru.prefetch_neighbour_slots(items, e.product);
        user_lru.prefetch_neighbour_slots(users, e.user);
        break;
      case 1:
        item_lru.prefetch_neighbours(items, e.product);
        user_lru.prefetch_neighbours(users, e.user);
        prefetch_eviction();
        break;
      default: break;
    }
  }

  void prefetch_eviction() const noexcept {
    if (config.max_users > 0 && users.size() >= config.max_users) user_lru.prefetch_next(users);
    if (config.max_items == 0 || items.size() < config.max_items || item_lru.head == kNoId) return;
    item_lru.prefetch_next(items);
    const ItemState* h = items.find(item_lru.head);
    if (h == nullptr) return;
    if (const std::vector<Id>* found = h->category == kNoId ? nullptr : category_items.find(h->category)) {
      const std::vector<Id>& list = *found;
      if (h->category_pos < list.size()) {
        shoppulse::prefetch(&list[h->category_pos]);
        shoppulse::prefetch(&list.back());
      }
    }
    const std::vector<RecentItem>& hour = recent[recent_slot(h->hours.hour)];
    if (h->trend_pos < hour.size()) shoppulse::prefetch(&hour[h->trend_pos]);
  }

  // Evicts the least recently seen users and items beyond their bounds (one
  // per new one: constant time), and keeps the per-location hot lists.
  void evict_if_needed() {
    if (config.max_users > 0)
      while (users.size() > config.max_users) evict_user(user_lru.head);
    if (config.max_items > 0)
      while (items.size() > config.max_items) evict_item(item_lru.head);
    const std::int64_t slot = now / kHotRebuildMs;
    if (slot != last_hot_rebuild_slot) {
      last_hot_rebuild_slot = slot;
      const std::int64_t hour = now / HourCounts::kHourMs;
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
    const std::vector<Id>* found = category_items.find(c);
    if (found == nullptr || n == 0) return ranked;
    for (Id id : *found) {
      const ItemState* is = item(id);
      if (!is || is->activity.value <= 0) continue;
      if (keep && !(*keep)(id)) continue;
      ranked.emplace_back(is->pop_key, id);
    }
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
      if (out.size() < q.limit && !pop_complete()) {
        // The cache holds the top items only; fall back to a full scan.
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
constexpr std::uint8_t kCheckpointFormat = 2;
// Ids index slot arrays of 4 bytes: a checkpoint naming a larger id (which
// only a damaged one with a valid checksum can) is refused rather than
// sizing arrays of gigabytes. 2^27 ids is far beyond what a dictionary of
// ~60 bytes per id holds in this process's memory.
constexpr Id kMaxCheckpointId = Id{1} << 27;

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
  return w.take();
}

template <class Map>
std::vector<Id> sorted_keys(const Map& m) {
  std::vector<Id> ids;
  ids.reserve(m.size());
  for (const auto& kv : m) ids.push_back(kv.first);
  std::sort(ids.begin(), ids.end());
  return ids;
}

// Times are written relative to the newest event time: small varints,
// bounded by kMaxCheckpointTimeMs (decay.hpp).
using recommend_detail::kMaxCheckpointTimeMs;
void put_time(ByteWriter& w, TimestampMs now, TimestampMs t) { w.svarint(now - t); }
TimestampMs get_time(ByteReader& r, TimestampMs now) { return now - r.svarint_within(2 * kMaxCheckpointTimeMs); }

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
  h.hour = recommend_detail::svarint_within_or_none(r, kMaxCheckpointTimeMs / HourCounts::kHourMs);
  for (float& c : h.counts) c = r.f32();
  return h;
}

// The order of last use, least recent first. Each step of the chain is a
// cache miss that the next step waits for: the chain is walked from both
// ends at once, so two are in flight, and the newer half written reversed.
template <class Map>
void put_lru(ByteWriter& w, const Map& map, const LruOrder& lru) {
  const std::size_t n = map.size();
  w.varint(n);
  std::vector<Id> newer;
  newer.reserve(n / 2);
  Id older = lru.head, newest = lru.tail;
  for (std::size_t i = 0; i < n / 2 && older != kNoId && newest != kNoId; ++i) {
    w.varint(older);
    newer.push_back(newest);
    older = map.find(older)->lru_next;
    newest = map.find(newest)->lru_prev;
  }
  if (n % 2 == 1 && older != kNoId) w.varint(older);  // the middle one
  for (auto it = newer.rbegin(); it != newer.rend(); ++it) w.varint(*it);
}
// Links every entry of map in the written order; false when the ids are not
// exactly the map's, each once.
template <class Map>
bool get_lru(ByteReader& r, Map& map, LruOrder& lru) {
  const std::size_t n = r.count();
  if (r.failed() || n != map.size()) return false;
  for (std::size_t i = 0; i < n; ++i) {
    const Id id = r.u32();
    auto* s = map.find(id);
    if (r.failed() || !s || s->lru_prev != kNoId || lru.head == id) return false;
    lru.touch(map, id, *s);
  }
  return true;
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
// indexes (the popular top list, category lists, trending candidates) are
// rebuilt from the items on restore.
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
  // In id order; each item's lists are allocations of their own.
  const auto prefetch_lists = [](const ItemState& is) {
    is.neighbours.prefetch_ids();
    is.neighbours.prefetch_data();
    prefetch_all(is.recent_users.data(), is.recent_users.size() * sizeof(Id));
  };
  items.for_each_ahead([&](Id id, const ItemState& is) {
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
  }, prefetch_lists);
  put_lru(w, items, item_lru);

  w.varint(users.size());
  const auto prefetch_history = [](const UserState& us) {
    prefetch_lines(us.history.data(), us.history.size() * sizeof(HistoryEntry), 8);
    prefetch_lines(us.purchased.data(), us.purchased.size() * sizeof(Id), 2);
  };
  users.for_each_ahead([&](Id id, const UserState& us) {
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
  }, prefetch_history);
  put_lru(w, users, user_lru);

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
  now = r.svarint_within(kMaxCheckpointTimeMs);
  applied_through = r.varint();
  applied = r.varint();
  evicted_items = r.varint();
  evicted_users = r.varint();
  last_hot_rebuild_slot = r.svarint_within(kMaxCheckpointTimeMs);
  last_location_sweep_hour = r.svarint_within(kMaxCheckpointTimeMs);

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
    const Id category = r.u32();
    if (category > kMaxCheckpointId) r.fail();
    is.category = category;
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
    neighbour_entries += is.neighbours.size();
    get_ids(r, is.recent_users);
    is.recent_pos = r.u32();
  }
  if (!r.failed() && !get_lru(r, items, item_lru)) return corrupt("item order");

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
  if (!r.failed() && !get_lru(r, users, user_lru)) return corrupt("user order");

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

  if (r.failed()) return corrupt("truncated");
  if (!propensity.load(r)) return corrupt("propensity model malformed");
  if (!r.at_end()) return corrupt("trailing bytes");
  rebuild_pop_top();
  const std::int64_t now_hour = now / HourCounts::kHourMs;
  for (auto&& [id, is] : items) {
    if (is.category != kNoId) {
      const Id category = std::exchange(is.category, kNoId);
      set_category(id, is, category);
    }
    if (is.hours.hour <= now_hour && is.hours.hour >= now_hour - 2) add_recent(id, is);
  }
  return {};
}

Recommender::Recommender(RecommenderConfig config) : state_(std::make_unique<State>(std::move(config))) {}
Recommender::~Recommender() = default;

// Layout: the state, then a checksum of it (fixed 8 bytes), so damaged
// bytes are refused before any of them sizes an allocation.
std::string Recommender::checkpoint(std::size_t expected_bytes) const {
  ByteWriter w;
  // The state changes little between checkpoints: room for the expected
  // size and some growth spares copying a string of tens of MiB while it
  // grows.
  w.reserve(expected_bytes + expected_bytes / 8);
  state_->save(w);
  const std::uint64_t sum = checksum64(w.view());
  w.f64(std::bit_cast<double>(sum));
  return w.take();
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

void Recommender::set_keep(std::function<bool(const Event&)> keep) { state_->keep = std::move(keep); }

void Recommender::apply(std::span<const Event> events) {
  State& s = *state_;
  for (std::size_t i = 0; i < events.size(); ++i) {
    prefetch_ahead<State::kPrefetchAhead>(events, i, [&s](const Event& e, std::size_t k) {
      s.prefetch(e, k);
      s.propensity.prefetch(e, k);
    });
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
  if (limit == 0) return out;
  // Most recent items have a score above 0: keep only the best `limit` in a
  // heap whose front is the worst of them, instead of collecting them all.
  out.reserve(limit + 1);
  s.for_each_recent([&](const RecentItem& r) {
    if (category != kNoId && r.category != category) return;
    const double ts = s.trend_score(r.hours);
    if (ts <= 0) return;
    const Recommendation rec{r.id, ts, {ReasonKind::trending, kNoId}};
    if (out.size() == limit) {
      if (!better(rec, out.front())) return;
      std::pop_heap(out.begin(), out.end(), better);
      out.back() = rec;
    } else {
      out.push_back(rec);
    }
    std::push_heap(out.begin(), out.end(), better);
  });
  keep_top(out, limit);
  return out;
}

std::vector<Recommender::TrendCounts> Recommender::trending_counts() const {
  const State& s = *state_;
  std::vector<TrendCounts> out;
  s.for_each_recent(
      [&](const RecentItem& r) {
        const ItemState* is = s.item(r.id);
        out.push_back(TrendCounts{r.id, r.category, is ? is->last_seen : 0, r.hours.hour, r.hours.counts});
      },
      3);
  return out;
}

void Recommender::add_trend_counts(std::int64_t hour, std::array<float, 3>& sums, const TrendCounts& t) noexcept {
  for (std::size_t i = 0; i < t.counts.size(); ++i) {
    const std::int64_t back = hour - (t.hour - std::int64_t(i));
    if (back >= 0 && back < 3) sums[std::size_t(back)] += t.counts[i];
  }
}

double Recommender::trend_score(std::int64_t hour, const std::array<float, 3>& counts, TimestampMs now_ms) noexcept {
  static_assert(kTrendHourMs == HourCounts::kHourMs);
  HourCounts h;
  h.hour = hour;
  h.counts = counts;
  return trend_score_at(h, now_ms);
}

std::optional<Recommender::SimilarRow> Recommender::similar_row(Id product) const {
  const State& s = *state_;
  const ItemState* is = s.item(product);
  if (!is) return std::nullopt;
  SimilarRow row;
  row.now_ms = s.now;
  row.engagement = s.engagement(*is);
  row.co.reserve(is->neighbours.size());
  for (const Neighbour& n : is->neighbours)
    row.co.emplace_back(n.item, n.co * decay_factor(s.now - n.time, s.config.similarity_half_life_ms));
  return row;
}

double Recommender::engagement(Id product) const {
  const State& s = *state_;
  const ItemState* is = s.item(product);
  return is ? s.engagement(*is) : 0.0;
}

double Recommender::similarity_of(double co, double a, double b, double damping, double shrinkage) noexcept {
  return co / (std::pow(std::max(a * b, 1e-12), damping) + shrinkage);
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
  st.neighbour_entries = s.neighbour_entries;
  st.applied_events = s.applied;
  st.evicted_items = s.evicted_items;
  st.evicted_users = s.evicted_users;
  st.applied_through = s.applied_through;
  st.now_ms = s.now;
  return st;
}

std::size_t Recommender::approximate_memory_bytes() const {
  const State& s = *state_;
  std::size_t bytes = sizeof(State) + s.items.table_bytes() + s.users.table_bytes();
  s.items.for_each_pooled([&](const ItemState& is) {
    bytes += is.neighbours.capacity_bytes() + is.recent_users.capacity() * sizeof(Id);
  });
  s.users.for_each_pooled([&](const UserState& us) {
    bytes += us.history.capacity() * sizeof(HistoryEntry) + us.purchased.capacity() * sizeof(Id);
  });
  bytes += s.category_items.memory_bytes();
  for (const auto& list : s.recent) bytes += list.capacity() * sizeof(RecentItem);
  // A std::set node: the value and about four pointers of bookkeeping.
  bytes += s.pop_top.size() * (sizeof(PopularSet::value_type) + 4 * sizeof(void*));
  for (const auto& [_, loc] : s.location_items)
    bytes += sizeof(loc) + 4 * sizeof(void*) + 2 * loc.items.size() * (sizeof(Id) + sizeof(LocationItem)) +
             loc.hot.capacity() * sizeof(Id);
  bytes += s.popular_cache.capacity() * sizeof(Recommendation);
  bytes += s.partners.capacity() * sizeof(s.partners[0]) + s.prune_scored.capacity() * sizeof(s.prune_scored[0]) +
           s.prune_keep.capacity();
  return bytes + s.propensity.approximate_memory_bytes();
}

Sequence Recommender::applied_through() const noexcept { return state_->applied_through; }
TimestampMs Recommender::now_ms() const noexcept { return state_->now; }
const RecommenderConfig& Recommender::config() const noexcept { return state_->config; }

}  // namespace shoppulse
