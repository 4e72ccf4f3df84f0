#pragma once
// Purchase propensity: an online logistic regression that predicts whether a
// user will purchase within the next `horizon_ms` of event time.
//
// Online labelling: every interest event of a user opens an example holding
// the features seen at that moment (and the model's score then, before any
// training on it). The example is labelled
//   positive when the same user purchases within horizon_ms after it, or
//   negative once horizon_ms of event time has passed without a purchase,
// and only then trained on, so the model never trains on a label it could
// not yet have known. Pending examples are bounded per user and overall
// (the oldest resolve early as negatives when a bound is hit).
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
  std::int64_t activity_half_life_ms = 6LL * 3600 * 1000;  // decay of frequency counters; ms
  double learning_rate = 0.1;    // AdaGrad base step
  double l2 = 1e-5;              // weight decay per update
  std::size_t max_pending_per_user = 32;  // open examples per user
  std::size_t max_pending = 1u << 20;     // open examples overall
  std::size_t max_users = 200000;         // users tracked; least recently seen are evicted
};

// The settings that shape the learned state, as bytes: a checkpoint taken
// under other settings is not restored.
std::string propensity_fingerprint(const PropensityConfig& config);

inline constexpr std::size_t kPropensityFeatures = 14;
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
    for (const Event& e : events) apply(e);
  }

  // Probability that the user purchases within the horizon, from the user's
  // latest features; nullopt-like 0 for an unknown user.
  double propensity(Id user) const;
  // Users with the highest propensity, best first (ties by smaller id).
  std::vector<std::pair<Id, double>> top_propensity(std::size_t n) const;

  // Appends the whole learned state (not the observer, not the config).
  void save(ByteWriter& out) const;
  // Replaces the state with one saved by save(); false (state unspecified) on malformed input.
  bool load(ByteReader& in);

  // Called with every example as it is labelled (on the owning thread).
  void set_outcome_observer(std::function<void(const PropensityOutcome&)> observer);

  const std::array<double, kPropensityFeatures>& weights() const noexcept;
  std::uint64_t trained_examples() const noexcept;
  std::size_t pending_examples() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace shoppulse
