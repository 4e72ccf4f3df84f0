#pragma once
// Exact figures over any [from, to) of event time, computed from the events
// of that range as a scan of the log delivers them (any order). Three
// accumulators, each fed events and then asked for its result once:
//   RangeFigures  - counts, revenue, distinct users, conversion, top products
//                   and categories, devices, locations, a traffic series, and
//                   the same totals for the previous period of equal length;
//   FunnelCounter - ordered funnels with a conversion window (PostHog's
//                   semantics), time to convert and a breakdown;
//   CohortCounter - first-seen cohorts x periods of returning shoppers.
// Threading: each object belongs to the thread that runs the query.
#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "shoppulse/core/event.hpp"
#include "shoppulse/windows/window_snapshot.hpp"

namespace shoppulse::range {

// One point of the traffic series: [start_ms, start_ms + step).
struct SeriesPoint {
  TimestampMs start_ms = 0;
  std::array<std::uint64_t, kEventTypeCount> events{};
  std::int64_t revenue_minor = 0;
};

// Every id with a count (counts indexed by id), by count descending, ties
// by smaller id; at most limit.
std::vector<RankedId> ranked_counts(const std::vector<std::uint64_t>& counts, std::size_t limit);

struct RangeSummary {
  TimestampMs from_ms = 0, to_ms = 0;  // [from, to)
  Kpis current;                        // events in [from, to)
  Kpis previous;                       // events in [from - (to - from), from)
  std::vector<RankedId> top_products;    // by interactions (events of any type), ties: smaller id
  std::vector<RankedId> top_categories;  // same
  std::vector<RankedId> devices;         // all, by events
  std::vector<RankedId> locations;       // all, by events
  std::int64_t step_ms = 60000;
  std::vector<SeriesPoint> series;       // every step of [from, to), empty or not
};

class RangeFigures {
 public:
  // step_ms divides nothing in particular; points start at from_ms + k*step_ms.
  RangeFigures(TimestampMs from_ms, TimestampMs to_ms, std::int64_t step_ms, std::size_t top_limit);
  // Any event; those outside [from - length, to) are ignored.
  void add(const Event& e);
  RangeSummary finish();

 private:
  struct Period {
    Kpis kpis;
    std::vector<std::uint8_t> user_types;  // by user id: bit per EventType seen
    void add(const Event& e);
    void finish();
  };
  RangeSummary out_;
  std::size_t top_limit_;
  Period current_, previous_;
  std::vector<std::uint64_t> products_, categories_, devices_, locations_;  // by id
};

// One funnel step: an event type, optionally only for one category or product.
struct StepSpec {
  EventType type = EventType::view;
  Id category = kNoId;  // kNoId: any
  Id product = kNoId;   // kNoId: any
  bool matches(const Event& e) const noexcept {
    return e.type == type && (category == kNoId || e.category == category) &&
           (product == kNoId || e.product == product);
  }
};

enum class Breakdown : std::uint8_t { none, device, location };

struct FunnelSpec {
  std::vector<StepSpec> steps;                  // 1..kMaxSteps, in order
  std::int64_t window_ms = 24 * 3600 * 1000LL;  // step k at most this long after step 1
  Breakdown breakdown = Breakdown::none;
  static constexpr std::size_t kMaxSteps = 16;
};

struct FunnelStepFigures {
  std::uint64_t users = 0;  // shoppers who did steps 1..k in order within the window
  // Time from step k-1 to step k of the converting attempt, over the users
  // counted at step k; nullopt for step 1 or when nobody reached it.
  std::optional<double> median_ms;
  std::optional<double> average_ms;
};

struct FunnelGroup {
  Id value = kNoId;  // device or location id; kNoId: events without one
  std::vector<FunnelStepFigures> steps;
};

struct FunnelResult {
  std::vector<FunnelStepFigures> steps;
  std::vector<FunnelGroup> groups;  // by breakdown value, largest step-1 count first; empty without breakdown
};

// Semantics (as PostHog's ordered funnels): a shopper counts at step k when
// some events e1..ek of theirs match steps 1..k, in log order (event time,
// then sequence), each a different event, with time(ek) - time(e1) <=
// window. A shopper is counted once, at every step up to the deepest they
// reach. Time to convert and the breakdown value (the device or location of
// e1) come from the attempt that reaches the deepest step and starts latest
// (the shortest such attempt).
class FunnelCounter {
 public:
  explicit FunnelCounter(FunnelSpec spec);
  // Any event; those matching no step are ignored. Any order.
  void add(const Event& e);
  std::uint64_t kept() const noexcept { return events_.size(); }
  FunnelResult finish();

 private:
  struct Kept {
    Id user;
    Id breakdown;
    TimestampMs time;
    Sequence sequence;
    std::uint32_t steps;  // bit per matching step
  };
  FunnelSpec spec_;
  std::vector<Kept> events_;
};

enum class CohortPeriod : std::uint8_t { hour, day, week };  // UTC; weeks start on Monday

struct Cohort {
  TimestampMs start_ms = 0;              // the period the shoppers were first seen in
  std::uint64_t users = 0;               // shoppers first seen in it
  std::vector<std::uint64_t> returning;  // [k]: of them, active in period start + k (k = 0: all)
};

struct CohortTable {
  TimestampMs from_ms = 0;  // start of the first period (aligned)
  TimestampMs to_ms = 0;    // the range's end
  std::vector<Cohort> cohorts;  // one per period of the range, oldest first
};

// first_seen(user): when the user was first seen, by whatever rule the
// caller chooses (the range module uses the first event of the indexed log).
// Only users first seen within [from, to) are in a cohort; periods are
// aligned to UTC hour, day (or Monday) boundaries, the first being the one that
// holds `from`.
class CohortCounter {
 public:
  CohortCounter(TimestampMs from_ms, TimestampMs to_ms, CohortPeriod period,
                std::function<std::optional<TimestampMs>(Id)> first_seen);
  void add(const Event& e);
  CohortTable finish();
  static std::int64_t period_index(TimestampMs t, CohortPeriod period) noexcept;  // periods since the epoch
  static TimestampMs period_start(std::int64_t index, CohortPeriod period) noexcept;

 private:
  TimestampMs from_ms_, to_ms_;
  CohortPeriod period_;
  std::function<std::optional<TimestampMs>(Id)> first_seen_;
  std::int64_t first_period_, periods_;
  std::vector<std::uint64_t> active_;  // (user << 16 | period offset), to sort and count
};

}  // namespace shoppulse::range
