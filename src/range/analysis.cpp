#include "shoppulse/range/analysis.hpp"

#include <algorithm>
#include <map>

#include "shoppulse/windows/rollup.hpp"

namespace shoppulse::range {
namespace {

void count_id(std::vector<std::uint64_t>& counts, Id id) {
  if (id == kNoId) return;
  if (counts.size() <= id) counts.resize(std::size_t{id} + 1, 0);
  ++counts[id];
}

}  // namespace

std::vector<RankedId> ranked_counts(const std::vector<std::uint64_t>& counts, std::size_t limit) {
  std::vector<RankedId> out;
  for (std::size_t id = 0; id < counts.size(); ++id)
    if (counts[id] > 0) out.push_back(RankedId{static_cast<Id>(id), counts[id]});
  keep_best(out, limit, ranks_before);
  return out;
}

namespace {

double median_of(std::vector<std::int64_t>& v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? double(v[n / 2]) : (double(v[n / 2 - 1]) + double(v[n / 2])) / 2.0;
}

}  // namespace

RangeFigures::RangeFigures(TimestampMs from_ms, TimestampMs to_ms, std::int64_t step_ms, std::size_t top_limit)
    : top_limit_(top_limit) {
  out_.from_ms = from_ms;
  out_.to_ms = to_ms;
  out_.step_ms = step_ms;
  const std::int64_t points = step_ms > 0 ? (to_ms - from_ms + step_ms - 1) / step_ms : 0;
  out_.series.resize(static_cast<std::size_t>(std::max<std::int64_t>(points, 0)));
  for (std::size_t i = 0; i < out_.series.size(); ++i)
    out_.series[i].start_ms = from_ms + static_cast<std::int64_t>(i) * step_ms;
}

void RangeFigures::Period::add(const Event& e) {
  ++kpis.events[static_cast<std::size_t>(e.type)];
  kpis.revenue_minor += e.revenue_minor();
  if (e.user == kNoId) return;
  if (user_types.size() <= e.user) user_types.resize(std::size_t{e.user} + 1, 0);
  user_types[e.user] |= type_bit(e.type);
}

void RangeFigures::Period::finish() {
  static constexpr std::array<EventType, kFunnelSteps> kStepType{EventType::view, EventType::click,
                                                                 EventType::add_to_cart, EventType::purchase};
  for (std::uint8_t mask : user_types) {
    if (mask == 0) continue;
    ++kpis.active_users;
    for (std::size_t s = 0; s < kFunnelSteps; ++s)
      if (mask & type_bit(kStepType[s])) ++kpis.funnel[s];
  }
  user_types = {};
}

void RangeFigures::add(const Event& e) {
  const std::int64_t length = out_.to_ms - out_.from_ms;
  if (e.time_ms >= out_.from_ms && e.time_ms < out_.to_ms) {
    current_.add(e);
    count_id(products_, e.product);
    count_id(categories_, e.category);
    count_id(devices_, e.device);
    count_id(locations_, e.location);
    SeriesPoint& p = out_.series[static_cast<std::size_t>((e.time_ms - out_.from_ms) / out_.step_ms)];
    ++p.events[static_cast<std::size_t>(e.type)];
    p.revenue_minor += e.revenue_minor();
  } else if (e.time_ms >= out_.from_ms - length && e.time_ms < out_.from_ms) {
    previous_.add(e);
  }
}

RangeSummary RangeFigures::finish() {
  current_.finish();
  previous_.finish();
  out_.current = current_.kpis;
  out_.previous = previous_.kpis;
  out_.top_products = ranked_counts(products_, top_limit_);
  out_.top_categories = ranked_counts(categories_, top_limit_);
  out_.devices = ranked_counts(devices_, devices_.size());
  out_.locations = ranked_counts(locations_, locations_.size());
  return std::move(out_);
}

FunnelCounter::FunnelCounter(FunnelSpec spec) : spec_(std::move(spec)) {}

void FunnelCounter::add(const Event& e) {
  std::uint32_t mask = 0;
  for (std::size_t k = 0; k < spec_.steps.size(); ++k)
    if (spec_.steps[k].matches(e)) mask |= 1u << k;
  if (mask == 0 || e.user == kNoId) return;
  const Id breakdown = spec_.breakdown == Breakdown::device     ? e.device
                       : spec_.breakdown == Breakdown::location ? e.location
                                                                : kNoId;
  events_.push_back(Kept{e.user, breakdown, e.time_ms, e.sequence, mask});
}

FunnelResult FunnelCounter::finish() {
  const std::size_t n = spec_.steps.size();
  std::sort(events_.begin(), events_.end(), [](const Kept& a, const Kept& b) {
    if (a.user != b.user) return a.user < b.user;
    if (a.time != b.time) return a.time < b.time;
    return a.sequence < b.sequence;
  });
  // Per step: the counted users and their step times; per breakdown value the same.
  struct Tally {
    std::vector<std::uint64_t> users;
    std::vector<std::vector<std::int64_t>> gaps;
    explicit Tally(std::size_t steps) : users(steps, 0), gaps(steps) {}
  };
  Tally total(n);
  std::map<Id, Tally> groups;
  // The best partial attempt per depth: reaching step j and starting latest.
  // A later start leaves more of the window for the steps still to come, and
  // every event already taken precedes any event still to come, so no other
  // attempt of the same depth can reach further.
  struct Attempt {
    bool set = false;
    Id breakdown = kNoId;
    std::vector<TimestampMs> times;  // of steps 1..j+1
  };
  std::vector<Attempt> best(n);
  for (std::size_t i = 0; i < events_.size();) {
    const Id user = events_[i].user;
    for (Attempt& a : best) a.set = false;
    for (; i < events_.size() && events_[i].user == user; ++i) {
      const Kept& e = events_[i];
      // Deepest step first, so one event never serves two steps.
      for (std::size_t j = n; j-- > 0;) {
        if (!(e.steps & (1u << j))) continue;
        if (j == 0) {
          best[0].set = true;
          best[0].breakdown = e.breakdown;
          best[0].times.assign(1, e.time);
          continue;
        }
        const Attempt& prev = best[j - 1];
        if (!prev.set || e.time - prev.times.front() > spec_.window_ms) continue;
        Attempt& cur = best[j];
        if (cur.set && cur.times.front() > prev.times.front()) continue;
        cur.set = true;
        cur.breakdown = prev.breakdown;
        cur.times = prev.times;
        cur.times.push_back(e.time);
      }
    }
    std::size_t deepest = n;
    for (std::size_t j = n; j-- > 0;)
      if (best[j].set) {
        deepest = j;
        break;
      }
    if (deepest == n) continue;
    const Attempt& a = best[deepest];
    Tally* group = nullptr;
    if (spec_.breakdown != Breakdown::none) group = &groups.try_emplace(a.breakdown, n).first->second;
    for (std::size_t k = 0; k <= deepest; ++k) {
      ++total.users[k];
      if (group) ++group->users[k];
      if (k > 0) {
        total.gaps[k].push_back(a.times[k] - a.times[k - 1]);
        if (group) group->gaps[k].push_back(a.times[k] - a.times[k - 1]);
      }
    }
  }
  events_ = {};
  auto figures = [n](Tally& t) {
    std::vector<FunnelStepFigures> out(n);
    for (std::size_t k = 0; k < n; ++k) {
      out[k].users = t.users[k];
      auto& g = t.gaps[k];
      if (k == 0 || g.empty()) continue;
      double sum = 0;
      for (auto v : g) sum += double(v);
      out[k].average_ms = sum / double(g.size());
      out[k].median_ms = median_of(g);
    }
    return out;
  };
  FunnelResult result;
  result.steps = figures(total);
  for (auto& [value, tally] : groups) result.groups.push_back(FunnelGroup{value, figures(tally)});
  std::stable_sort(result.groups.begin(), result.groups.end(), [](const FunnelGroup& a, const FunnelGroup& b) {
    return a.steps.front().users > b.steps.front().users;
  });
  return result;
}

std::int64_t CohortCounter::period_index(TimestampMs t, CohortPeriod period) noexcept {
  constexpr std::int64_t kDayMs = 86400000;
  constexpr std::int64_t kHourMs = 3600000;
  if (period == CohortPeriod::hour) return t >= 0 ? t / kHourMs : -((-t + kHourMs - 1) / kHourMs);
  const std::int64_t day = t >= 0 ? t / kDayMs : -((-t + kDayMs - 1) / kDayMs);
  if (period == CohortPeriod::day) return day;
  // 1970-01-01 was a Thursday: day + 3 counts from the Monday before it.
  const std::int64_t shifted = day + 3;
  return shifted >= 0 ? shifted / 7 : -((-shifted + 6) / 7);
}

TimestampMs CohortCounter::period_start(std::int64_t index, CohortPeriod period) noexcept {
  constexpr std::int64_t kDayMs = 86400000;
  if (period == CohortPeriod::hour) return index * 3600000;
  return period == CohortPeriod::day ? index * kDayMs : (index * 7 - 3) * kDayMs;
}

CohortCounter::CohortCounter(TimestampMs from_ms, TimestampMs to_ms, CohortPeriod period,
                             std::function<std::optional<TimestampMs>(Id)> first_seen)
    : from_ms_(from_ms),
      to_ms_(to_ms),
      period_(period),
      first_seen_(std::move(first_seen)),
      first_period_(period_index(from_ms, period)),
      periods_(to_ms > from_ms ? period_index(to_ms - 1, period) - first_period_ + 1 : 0) {}

void CohortCounter::add(const Event& e) {
  if (e.user == kNoId || e.time_ms < from_ms_ || e.time_ms >= to_ms_) return;
  active_.push_back(std::uint64_t{e.user} << 16 |
                    static_cast<std::uint64_t>(period_index(e.time_ms, period_) - first_period_));
}

CohortTable CohortCounter::finish() {
  CohortTable table;
  table.from_ms = period_start(first_period_, period_);
  table.to_ms = to_ms_;
  for (std::int64_t p = 0; p < periods_; ++p) {
    Cohort c;
    c.start_ms = period_start(first_period_ + p, period_);
    c.returning.assign(static_cast<std::size_t>(periods_ - p), 0);
    table.cohorts.push_back(std::move(c));
  }
  std::sort(active_.begin(), active_.end());
  active_.erase(std::unique(active_.begin(), active_.end()), active_.end());
  Id cached_user = kNoId;
  std::optional<std::int64_t> cohort;  // of cached_user, as a period offset
  for (std::uint64_t v : active_) {
    const Id user = static_cast<Id>(v >> 16);
    const std::int64_t p = static_cast<std::int64_t>(v & 0xFFFF);
    if (user != cached_user) {
      cached_user = user;
      cohort.reset();
      const auto seen = first_seen_(user);
      if (seen && *seen >= from_ms_ && *seen < to_ms_) {
        cohort = period_index(*seen, period_) - first_period_;
        ++table.cohorts[static_cast<std::size_t>(*cohort)].users;
      }
    }
    if (!cohort || p < *cohort) continue;
    ++table.cohorts[static_cast<std::size_t>(*cohort)].returning[static_cast<std::size_t>(p - *cohort)];
  }
  active_ = {};
  return table;
}

}  // namespace shoppulse::range
