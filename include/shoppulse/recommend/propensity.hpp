#pragma once
// Purchase propensity: an online logistic regression (AdaGrad) that predicts
// whether a user will purchase within the next `horizon_ms` of event time.
//
// Online labelling (prequential): every non-purchase event of a user opens an
// example holding the features seen at that moment and the model's score
// then, before any training on it. Each example is resolved exactly
// horizon_ms after it opened (when the first event later than that arrives):
// positive when the same user purchased at a time in (opened, opened +
// horizon_ms], else negative; and only then trained on and reported. So the
// model never learns a label it could not know yet, and what it has learned
// from is at every moment a label-independent sample: positives do not run
// ahead of the negatives (which would inflate the scores at start-up and
// leave the last horizon of any history with positives only). An example
// whose user's latest purchase is at the very moment it opened is ambiguous
// (on second-resolution sources it is usually the purchase's own page view)
// and is dropped unlabelled. Open examples are bounded per user (a user at
// the bound opens none until one resolves) and overall (the oldest is
// dropped); an evicted user's examples are dropped as they come due. Events
// are expected in time order; a late purchase decides labels only as the
// user's latest purchase time.
//
// Features (propensity_feature below; the user's ones count only what came
// before the event): the event's type; how well the event's category and
// product convert (purchases per interest event so far, smoothed towards the
// shop-wide and the category's rate, as a centred log ratio); the user's own
// history (recency, activity, session depth, repeats on the product, carts,
// favourites, purchases). Catalogue counts live in fixed-size tables indexed
// by id, users are capped: memory is bounded by the config.
//
// Role, lifecycle, threading: as Recommender, which owns one and feeds it;
// one owning thread, deterministic under replay.
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "shoppulse/core/event.hpp"

namespace shoppulse {

class ByteWriter;
class ByteReader;

struct PropensityConfig {
  std::int64_t horizon_ms = 30 * 60 * 1000;   // label window: purchase within this after the event; ms
  std::int64_t session_gap_ms = 30 * 60 * 1000;  // inactivity that starts a new session; ms
  std::int64_t activity_half_life_ms = 6LL * 3600 * 1000;  // decay of a user's frequency counters; ms
  std::int64_t rate_half_life_ms = 24LL * 3600 * 1000;     // decay of category/product conversion counts; ms
  double learning_rate = 0.1;    // AdaGrad base step
  double l2 = 1e-5;              // weight decay per update
  double initial_rate = 0.01;    // the bias starts at logit(initial_rate); (0, 1)
  std::size_t max_pending_per_user = 32;  // open examples per user; at the bound the user opens none
  std::size_t max_pending = 1u << 18;     // open examples overall (~100 B each); beyond it the oldest is dropped
  std::size_t max_users = 100000;         // users tracked; the least recently active are evicted; 0 = no bound
  // Conversion counters, one id per slot (slot = id % slots; a colliding id
  // takes the slot over from zero); 24 bytes each, allocated up front.
  std::size_t category_slots = 1u << 14;
  std::size_t product_slots = 1u << 18;
};

// The settings that shape the learned state, as bytes: a checkpoint taken
// under other settings is not restored.
std::string propensity_fingerprint(const PropensityConfig& config);

// Positions in PropensityFeatures. Each feature is 0 when it carries no
// information (a new user, an unknown category), and all stay within about
// [-3, 3] so one learning rate suits all.
namespace propensity_feature {
enum : std::size_t {
  bias,            // 1
  is_click,        // click or rate (a view is the baseline; purchases open no example)
  is_cart,
  is_favorite,
  is_remove,
  category_rate,   // ln(category conversion / shop conversion), clamped to [-3, 3]
  product_rate,    // ln(product conversion / its category's), clamped to [-3, 3]
  returning,       // 1 when the user has been seen before
  since_last,      // log1p(seconds since the user's previous event) / 8
  frequency,       // log1p(the user's earlier events, decayed) / 2
  session_depth,   // log1p(earlier events in this session) / 2
  same_product,    // log1p(the user's recent earlier events on this product)
  carts,           // log1p(carts not removed again, decayed)
  favorites,       // log1p(favourites, decayed)
  past_purchases,  // log1p(purchases, decayed)
  count
};
}  // namespace propensity_feature

inline constexpr std::size_t kPropensityFeatures = propensity_feature::count;
using PropensityFeatures = std::array<float, kPropensityFeatures>;

// A resolved example, reported to an observer (evaluation uses it for AUC).
struct PropensityOutcome {
  Id user = kNoId;
  TimestampMs time_ms = 0;  // when the example was opened
  double score = 0;         // prediction made when it was opened
  bool purchased = false;   // the label
  PropensityFeatures features{};  // what the prediction saw
};

class PurchasePropensity {
 public:
  explicit PurchasePropensity(PropensityConfig config = {});
  ~PurchasePropensity();
  PurchasePropensity(PurchasePropensity&&) noexcept;
  PurchasePropensity& operator=(PurchasePropensity&&) noexcept;

  void apply(const Event& event);
  void apply(std::span<const Event> events) {
    for (std::size_t i = 0; i < events.size(); ++i) {
      for (std::size_t k = kPrefetchAhead; k >= 1; --k)
        if (i + k < events.size()) prefetch(events[i + k], k);
      apply(events[i]);
    }
  }
  // Cache hints for an event applied `ahead` events after the one being
  // applied (1 to kPrefetchAhead; others are ignored). Called for every
  // event at every distance, each stage finds in cache what the stage before
  // asked for, so none waits: the user's index entry and the event's rate
  // counters at 4, the user's state at 3, the index entries of its
  // neighbours in the last-use order at 2, the line of their states that
  // holds the links (which touching the user rewrites) and the examples
  // coming due at 1. Changes nothing the model answers.
  static constexpr std::size_t kPrefetchAhead = 4;
  void prefetch(const Event& event, std::size_t ahead) const noexcept;

  // Probability that the user purchases within the horizon, from the user's
  // latest features; nullopt-like 0 for an unknown user.
  double propensity(Id user) const;
  // Users with the highest propensity, best first (ties by smaller id).
  std::vector<std::pair<Id, double>> top_propensity(std::size_t n) const;
  // Heap bytes the model holds (users, open examples, rate tables), approximately.
  std::size_t approximate_memory_bytes() const;

  // Called with every example as it is resolved and trained on, horizon_ms
  // after it opened (on the owning thread).
  void set_outcome_observer(std::function<void(const PropensityOutcome&)> observer);

  const std::array<double, kPropensityFeatures>& weights() const noexcept;
  std::uint64_t trained_examples() const noexcept;
  // Examples opened and not yet resolved or dropped.
  std::size_t pending_examples() const noexcept;

  // Appends the whole learned state (not the observer, not the config).
  void save(ByteWriter& out) const;
  // Replaces the state with one saved by save(); false (state unspecified) on malformed input.
  bool load(ByteReader& in);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace shoppulse
