#include "shoppulse/ingest/freshness.hpp"

#include <algorithm>
#include <array>

namespace shoppulse {

FreshnessMeter::FreshnessMeter(MetricsRegistry& metrics, std::size_t capacity)
    : marks_(capacity),
      visible_(metrics.histogram("shoppulse_ingest_to_visible_seconds",
                                 "From a batch's submission to ingest (parsed) until a published snapshot includes "
                                 "its last event")),
      unmeasured_(metrics.counter("shoppulse_ingest_to_visible_unmeasured_total",
                                  "Batches not measured because more than the meter's capacity were in flight")) {}

void FreshnessMeter::handed(Sequence last, Clock::time_point submitted) noexcept {
  const Mark mark{last, std::chrono::duration_cast<std::chrono::nanoseconds>(submitted.time_since_epoch()).count()};
  if (marks_.push_some(std::span<const Mark>(&mark, 1)) == 0) unmeasured_.add();
}

void FreshnessMeter::published(Sequence through, Clock::time_point now) {
  // Marks move to the engine's side only while it has room for them, so a
  // paused engine that keeps publishing holds at most the ring's capacity of marks; the
  // rest wait in the ring, and the ingest counts what does not fit there.
  const std::size_t capacity = marks_.capacity();
  std::array<Mark, 64> taken;
  while (waiting_.size() < capacity) {
    const std::size_t room = std::min(taken.size(), capacity - waiting_.size());
    const std::size_t n = marks_.pop_some(std::span<Mark>(taken.data(), room));
    waiting_.insert(waiting_.end(), taken.begin(), taken.begin() + static_cast<std::ptrdiff_t>(n));
    if (n < room) break;
  }
  const std::int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  // The ingest hands batches in sequence order, so the published ones lead.
  while (!waiting_.empty() && waiting_.front().last <= through) {
    visible_.observe(static_cast<double>(std::max<std::int64_t>(0, now_ns - waiting_.front().submitted_ns)) * 1e-9);
    waiting_.pop_front();
  }
}

}  // namespace shoppulse
