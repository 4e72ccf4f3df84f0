#pragma once
// Real-time recommendations: incremental item-based and user-based
// collaborative filtering, blended with category interest, local and overall
// popularity, trends and the user's own recent items.
//
// Role: learns from every event (apply) and answers recommendation queries
// with interned ids; the caller renders names and reason texts through the
// Dictionary. Lifecycle: constructed empty, fed the log in sequence order
// (replay, then live events); no state outside the events it was given, so
// replaying the same events reproduces the same answers exactly.
// Threading: NOT thread-safe. One thread owns an instance (the recommend
// thread, see recommend_runner.hpp) and runs apply() and every query; other
// threads read the RecommendSnapshot it publishes or post queries to it.
//
// Time is event time: decay, "this hour" and trends are measured against the
// newest event time applied (now_ms()), never the wall clock.
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shoppulse/core/event.hpp"
#include "shoppulse/core/result.hpp"
#include "shoppulse/recommend/propensity.hpp"

namespace shoppulse {

struct RecommenderConfig {
  // Behaviour weight of each event type, indexed by EventType: view 1,
  // click 2, add_to_cart 4, remove_from_cart 0 (ignored), favorite 3,
  // purchase 6, rate 2. A weight of 0 means the event does not count as
  // interest. Unitless.
  std::array<float, kEventTypeCount> type_weights{1.0f, 2.0f, 4.0f, 0.0f, 3.0f, 6.0f, 2.0f};
  std::size_t history_length = 50;       // recent items kept per user; items
  std::size_t pair_history = 20;         // most recent history items paired with a new item; items
  std::size_t query_history = 20;        // strongest recent history items whose neighbours item-CF scores; 0 = all
  std::int64_t similarity_half_life_ms = 7LL * 24 * 3600 * 1000;  // co-occurrence decay; ms; default 7 days
  std::int64_t pair_half_life_ms = 3600 * 1000;      // a pair counts less the further apart the two interactions are; ms
  std::int64_t popularity_half_life_ms = 3600 * 1000;  // "popular" decay; ms; default 1 h
  std::int64_t interest_half_life_ms = 24LL * 3600 * 1000;  // decay of a user's own history; ms; default 1 day
  std::size_t max_neighbours = 50;       // top-M neighbours kept per item (the tail is pruned); items
  double popularity_damping = 0.5;       // similarity = co / (pop_i * pop_j)^damping; 0.5 = cosine
  double similarity_shrinkage = 1.0;     // added to the denominator so rare pairs count less; unitless
  // Items and users tracked; the least recently seen are evicted beyond these.
  // With the other defaults the model then holds ~210 MiB on real-shaped data
  // (bench/README.md).
  std::size_t max_items = 200000;        // items tracked; least recently seen are evicted beyond this
  std::size_t max_users = 100000;        // users tracked; least recently seen are evicted beyond this
  std::size_t recent_users_per_item = 16;  // users remembered per item for user-CF candidates
  std::size_t max_candidate_users = 200;   // candidates scored for user-CF per query; users
  std::size_t nearest_users = 20;          // neighbours whose items are scored; users
  std::size_t max_purchases_remembered = 100;  // per user, never re-recommended; items
  // Hybrid blend: each component's scores are scaled to [0, 1] then weighted.
  double blend_item_cf = 1.0;
  double blend_user_cf = 0.6;
  double blend_category = 0.15;
  double blend_location = 0.1;
  double blend_recency = 0.5;   // the user's own recent, not bought items (unless exclude_viewed)
  double blend_popularity = 0.05;
  PropensityConfig propensity;
};

enum class ReasonKind : std::uint8_t {
  viewed_together,      // related: product the user interacted with (IdKind::product)
  similar_users,        // related: the most similar user who interacted with it (IdKind::user)
  category_interest,    // related: category (IdKind::category)
  popular_in_location,  // related: location (IdKind::location), "this hour"
  recently_viewed,      // related: the product itself (IdKind::product)
  popular,              // related: none
  popular_in_category,  // related: category
  trending,             // related: none; rising fastest, last hour vs the hour before
};
std::string_view to_string(ReasonKind kind) noexcept;
// The IdKind of Reason::related for a kind (meaningless when related is kNoId).
IdKind related_kind(ReasonKind kind) noexcept;

struct Reason {
  ReasonKind kind = ReasonKind::popular;
  Id related = kNoId;
};

struct Recommendation {
  Id product = kNoId;
  double score = 0;  // higher is better; comparable only within one answer
  Reason reason;
};

enum class Strategy : std::uint8_t { hybrid, item_cf, user_cf, popularity };
std::string_view to_string(Strategy s) noexcept;

struct RecommendQuery {
  Id user = kNoId;                // kNoId or unknown user: cold start
  std::size_t limit = 10;         // items returned at most
  Id category = kNoId;            // only items of this category when set
  std::vector<Id> exclude;        // never return these products
  bool exclude_viewed = false;    // also skip everything in the user's recent history
  Strategy strategy = Strategy::hybrid;
  bool fill_cold_start = true;    // pad a short personal list with popular items (hybrid only)
};

struct PopularQuery {
  std::size_t limit = 10;
  Id category = kNoId;  // popular within this category
  Id location = kNoId;  // popular in this location during the last hour
};

struct RecommenderStats {
  std::size_t items = 0;
  std::size_t users = 0;
  std::size_t neighbour_entries = 0;  // co-occurrence entries over all items
  std::uint64_t applied_events = 0;
  std::uint64_t evicted_items = 0;
  std::uint64_t evicted_users = 0;
  Sequence applied_through = 0;
  TimestampMs now_ms = 0;
};

class Recommender {
 public:
  explicit Recommender(RecommenderConfig config = {});
  ~Recommender();
  Recommender(Recommender&&) noexcept;
  Recommender& operator=(Recommender&&) noexcept;

  // Events in log order. Events at or below applied_through() are skipped, so
  // an overlap between replay and live events is harmless.
  void apply(std::span<const Event> events);

  // Cluster mode: events `keep` refuses (their user's partition is counted
  // by another node) only advance applied_through(). Not part of a
  // checkpoint: set it again after restore(). Empty: every event counts.
  void set_keep(std::function<bool(const Event&)> keep);

  // Serialises everything learned (the propensity model included). A
  // Recommender restored from it answers every query exactly as this one
  // does, and keeps doing so as both apply the same later events.
  // `expected_bytes`, the size of the last checkpoint if the caller kept it,
  // sizes the buffer once (with room to grow) instead of growing it from
  // nothing; it changes no byte of the result.
  std::string checkpoint(std::size_t expected_bytes = 0) const;
  // invalid_argument when the checkpoint was taken with a different
  // configuration (its state would not follow this one's bounds and decays);
  // corrupt when the bytes are malformed.
  static Result<Recommender> restore(const RecommenderConfig& config, std::string_view bytes);

  std::vector<Recommendation> recommend(const RecommendQuery& query) const;
  // Items most similar to product (item-CF neighbours), reason viewed_together.
  std::vector<Recommendation> similar(Id product, std::size_t limit = 10) const;
  std::vector<Recommendation> popular(const PopularQuery& query) const;
  // Rising fastest in the last hour versus the hour before.
  std::vector<Recommendation> trending(std::size_t limit = 10, Id category = kNoId) const;
  // What trending() ranks, before ranking: every item counted within the
  // last three clock hours of now_ms(), with its weighted event counts per
  // clock hour. Counts of the same item from several models (a cluster's
  // nodes, each with part of the users) add hour by hour; trend_score() of
  // the sums at the latest now_ms() is the score one model holding every
  // event gives, and the item's category is that of the model that saw it
  // last among those that know one (one model takes the category of the
  // item's last event that had one: the same unless a product changes
  // category).
  struct TrendCounts {
    Id product = kNoId;
    Id category = kNoId;            // as last seen by this model
    TimestampMs last_seen = 0;      // the item's newest event time here
    std::int64_t hour = 0;          // clock hour (time_ms / 3600000) of counts[0]
    std::array<float, 3> counts{};  // weighted events of hour, hour - 1, hour - 2
  };
  std::vector<TrendCounts> trending_counts() const;
  static constexpr std::int64_t kTrendHourMs = 3600 * 1000;  // a clock hour of TrendCounts::hour
  // Adds t's counts to sums, the counts of clock hours hour, hour - 1 and
  // hour - 2 (what a cluster's merge keeps per item); counts of other hours
  // are left out.
  static void add_trend_counts(std::int64_t hour, std::array<float, 3>& sums, const TrendCounts& t) noexcept;
  // The trending score of counts (as in TrendCounts) at now_ms: the rise of
  // the last 60 minutes over the 60 before, in standard deviations of a
  // Poisson count; 0 unless it rose by at least one view's weight.
  static double trend_score(std::int64_t hour, const std::array<float, 3>& counts, TimestampMs now_ms) noexcept;

  // Item-CF similarity (>= 0) as used for neighbours; 0 when unrelated.
  double similarity(Id a, Id b) const;

  // What similar() ranks, before ranking: the product's co-occurrence with
  // each of its neighbours and its engagement (the distinct-user interest
  // that normalises it), both decayed to now_ms. Both are sums over users,
  // so the rows of several models (a cluster's nodes, each with part of the
  // users), decayed to the latest now_ms and added, score with
  // similarity_of() as one model holding every event scores them, as long
  // as no model pruned the row (README, Cluster). nullopt: unknown product.
  struct SimilarRow {
    TimestampMs now_ms = 0;
    double engagement = 0;
    std::vector<std::pair<Id, double>> co;  // neighbour, co-occurrence at now_ms
  };
  std::optional<SimilarRow> similar_row(Id product) const;
  // The product's engagement decayed to now_ms(); 0 when unknown.
  double engagement(Id product) const;
  // The item-CF similarity of co-occurrence `co` between items of
  // engagement a and b, all at one time.
  static double similarity_of(double co, double a, double b, double damping, double shrinkage) noexcept;

  const PurchasePropensity& propensity() const noexcept;
  RecommenderStats stats() const;
  // Heap bytes the model holds (tables, pooled states and what their
  // vectors reserve, the propensity model), within a few percent of what
  // it adds to RSS. Walks every pooled state: call it seconds apart, not
  // per event.
  std::size_t approximate_memory_bytes() const;
  Sequence applied_through() const noexcept;
  TimestampMs now_ms() const noexcept;
  const RecommenderConfig& config() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace shoppulse
