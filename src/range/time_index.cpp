#include "shoppulse/range/time_index.hpp"

#include <algorithm>
#include <limits>

namespace shoppulse::range {
namespace {
constexpr std::int64_t kMinuteMs = 60000;
constexpr TimestampMs kUnseen = std::numeric_limits<TimestampMs>::max();

std::int64_t minute_of(TimestampMs t) noexcept { return t >= 0 ? t / kMinuteMs : -((-t + kMinuteMs - 1) / kMinuteMs); }
}  // namespace

void TimeIndex::add(const Event& e) {
  const std::int64_t minute = minute_of(e.time_ms);
  if (last_span_ == nullptr || minute != last_minute_) {
    auto [it, inserted] = minutes_.try_emplace(minute, SequenceSpan{e.sequence, e.sequence});
    last_minute_ = minute;
    last_span_ = &it->second;
  }
  last_span_->first = std::min(last_span_->first, e.sequence);
  last_span_->last = std::max(last_span_->last, e.sequence);
  if (e.user != kNoId) {
    if (first_seen_.size() <= e.user) {
      // Grown by half rather than doubled: 8 bytes for every user id.
      const std::size_t need = std::size_t{e.user} + 1;
      if (need > first_seen_.capacity())
        first_seen_.reserve(std::max(need, first_seen_.capacity() + first_seen_.capacity() / 2));
      first_seen_.resize(need, kUnseen);
    }
    first_seen_[e.user] = std::min(first_seen_[e.user], e.time_ms);
  }
  if (events_ == 0 || e.time_ms < min_time_) min_time_ = e.time_ms;
  if (events_ == 0 || e.time_ms > max_time_) max_time_ = e.time_ms;
  indexed_through_ = std::max(indexed_through_, e.sequence);
  ++events_;
}

std::optional<SequenceSpan> TimeIndex::span(TimestampMs from_ms, TimestampMs to_ms) const {
  if (to_ms <= from_ms) return std::nullopt;
  const std::int64_t first_minute = minute_of(from_ms);
  const std::int64_t end_minute = minute_of(to_ms - 1) + 1;
  std::optional<SequenceSpan> out;
  for (auto it = minutes_.lower_bound(first_minute); it != minutes_.end() && it->first < end_minute; ++it) {
    if (!out) out = it->second;
    else {
      out->first = std::min(out->first, it->second.first);
      out->last = std::max(out->last, it->second.last);
    }
  }
  return out;
}

std::optional<TimestampMs> TimeIndex::first_seen(Id user) const noexcept {
  if (user >= first_seen_.size() || first_seen_[user] == kUnseen) return std::nullopt;
  return first_seen_[user];
}

std::optional<TimestampMs> TimeIndex::min_time() const noexcept {
  return events_ ? std::optional<TimestampMs>(min_time_) : std::nullopt;
}
std::optional<TimestampMs> TimeIndex::max_time() const noexcept {
  return events_ ? std::optional<TimestampMs>(max_time_) : std::nullopt;
}

std::size_t TimeIndex::memory_bytes() const noexcept {
  // A std::map node: the pair plus three pointers and a colour, rounded.
  return minutes_.size() * (sizeof(std::pair<const std::int64_t, SequenceSpan>) + 32) +
         first_seen_.capacity() * sizeof(TimestampMs);
}

}  // namespace shoppulse::range
