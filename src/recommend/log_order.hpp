#pragma once
// Applying events handed over through the engine → recommend ring in log
// order, private to the recommend module (and its tests).
//
// Offers refused by a full ring leave gaps anywhere in what is popped: a
// partial push fills the ring, and a later offer may fit again once the
// consumer has taken what it saw, so one popped batch can hold [a..b] and
// [d..e] with b + 1 < d. Applying it as it is would skip b+1..d-1 for good.
#include <cstddef>
#include <span>

#include "shoppulse/recommend/recommender.hpp"

namespace shoppulse::recommend_detail {

// Applies events (ascending sequences, possibly with gaps) to r. Before each
// run of consecutive sequences that does not follow r.applied_through(),
// calls read_missing(until), which applies what the log has in
// (applied_through, until). When a gap remains after that (the read stopped
// short), the rest is left out, so applied_through never passes an event
// that was not applied. Returns the number of read_missing calls.
template <class ReadMissing>
std::size_t apply_in_log_order(Recommender& r, std::span<const Event> events, ReadMissing&& read_missing) {
  std::size_t reads = 0;
  std::size_t i = 0;
  while (i < events.size()) {
    if (events[i].sequence > r.applied_through() + 1) {
      read_missing(events[i].sequence);
      ++reads;
      if (events[i].sequence > r.applied_through() + 1) break;
    }
    std::size_t j = i + 1;
    while (j < events.size() && events[j].sequence == events[j - 1].sequence + 1) ++j;
    r.apply(events.subspan(i, j - i));
    i = j;
  }
  return reads;
}

}  // namespace shoppulse::recommend_detail
