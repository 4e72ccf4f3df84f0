#pragma once
// Which log sequences hold the events of an event-time range. The log is
// ordered by sequence, not by event time; this index records, per event-time
// minute, the smallest and largest sequence of any event in that minute, so a
// range scan reads only from the first to the last sequence that can hold one
// of its events. Events may arrive out of order (within the allowed lateness
// or beyond it): a late event widens its minute's span, so the span is always
// conservative, never missing an event. It also keeps each user's first
// event time in the indexed log (for first-seen cohorts).
//
// Lifecycle: empty, then fed every logged event once, in sequence order, from
// the log itself (add()), so a restart rebuilds it by reading the log.
// Threading: one owner thread (the range worker); not shared.
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "shoppulse/core/event.hpp"

namespace shoppulse::range {

struct SequenceSpan {
  Sequence first = 0;  // inclusive
  Sequence last = 0;   // inclusive
  std::uint64_t length() const noexcept { return last >= first ? last - first + 1 : 0; }
};

class TimeIndex {
 public:
  TimeIndex() = default;
  TimeIndex(const TimeIndex&) = delete;  // last_span_ points into minutes_
  TimeIndex& operator=(const TimeIndex&) = delete;

  // Adds one event; events must come in increasing sequence order.
  void add(const Event& event);

  // The newest sequence added; 0 when empty.
  Sequence indexed_through() const noexcept { return indexed_through_; }
  std::uint64_t events() const noexcept { return events_; }

  // The sequences that can hold an event with time in [from_ms, to_ms):
  // nullopt when no indexed event lies in a minute the range touches.
  std::optional<SequenceSpan> span(TimestampMs from_ms, TimestampMs to_ms) const;

  // The first event time of user in the indexed log; nullopt when unseen.
  std::optional<TimestampMs> first_seen(Id user) const noexcept;

  // Oldest and newest event time indexed; nullopt when empty.
  std::optional<TimestampMs> min_time() const noexcept;
  std::optional<TimestampMs> max_time() const noexcept;

  // Heap bytes held, approximately.
  std::size_t memory_bytes() const noexcept;

 private:
  std::map<std::int64_t, SequenceSpan> minutes_;  // event-time minute -> sequences of its events
  // The minute the last event fell in: most events fall in the same one as
  // the event before them, and skip the map's search.
  std::int64_t last_minute_ = 0;
  SequenceSpan* last_span_ = nullptr;
  std::vector<TimestampMs> first_seen_;           // by user id; kUnseen when unseen
  Sequence indexed_through_ = 0;
  std::uint64_t events_ = 0;
  TimestampMs min_time_ = 0;
  TimestampMs max_time_ = 0;
};

}  // namespace shoppulse::range
