#include "tier.hpp"

#include <algorithm>

namespace shoppulse::windows {

Tier::Tier(std::int64_t width_ms, std::initializer_list<WindowSpan> spans, std::int64_t allowed_lateness_ms)
    : width_ms_(width_ms) {
  for (WindowSpan s : spans) {
    SpanWindows w;
    w.span = s;
    w.length = span_ms(s) / width_ms;
    horizon_length_ = std::max(horizon_length_, 2 * w.length);
    spans_.push_back(std::move(w));
  }
  // Held buckets run from the horizon to the newest event, which is at most
  // the lateness (rounded up) plus one partial bucket past the end.
  const std::int64_t ahead = (std::max<std::int64_t>(allowed_lateness_ms, 0) + width_ms - 1) / width_ms + 2;
  ring_.resize(static_cast<std::size_t>(horizon_length_ + ahead + 1));
}

void Tier::add_range(WindowAggregate& w, std::int64_t from, std::int64_t to) {
  for (std::int64_t b = from; b < to; ++b)
    if (const Bucket* bucket = find(b)) w.add_bucket(*bucket);
}

void Tier::subtract_range(WindowAggregate& w, std::int64_t from, std::int64_t to) {
  for (std::int64_t b = from; b < to; ++b)
    if (const Bucket* bucket = find(b)) w.subtract_bucket(*bucket);
}

void Tier::slide(WindowAggregate& w, std::int64_t old_lo, std::int64_t old_hi, std::int64_t new_lo,
                 std::int64_t new_hi) {
  if (new_lo >= old_hi) {
    w.clear();
    add_range(w, new_lo, new_hi);
    return;
  }
  // Add before subtracting so a user present on both sides keeps their entry.
  add_range(w, old_hi, new_hi);
  subtract_range(w, old_lo, new_lo);
}

void Tier::advance(std::int64_t new_end) {
  if (end_ == kNoBucket) {
    reset_end(new_end);
    return;
  }
  if (new_end <= end_) return;
  for (auto& s : spans_) {
    const std::int64_t l = s.length;
    slide(s.current, end_ - l, end_, new_end - l, new_end);
    slide(s.previous, end_ - 2 * l, end_ - l, new_end - 2 * l, new_end - l);
  }
  end_ = new_end;
}

void Tier::reset_end(std::int64_t end) {
  end_ = end;
  for (auto& s : spans_) {
    s.current.clear();
    s.previous.clear();
    if (end_ == kNoBucket) continue;
    add_range(s.current, end_ - s.length, end_);
    add_range(s.previous, end_ - 2 * s.length, end_ - s.length);
  }
}

void Tier::on_event(const Event& e, std::int64_t bucket, std::uint8_t mask_before) {
  if (bucket >= end_) return;  // not inside any window yet; it enters when the end passes it
  for (auto& s : spans_) {
    if (bucket >= end_ - s.length)
      s.current.add_event(e, mask_before);
    else if (bucket >= end_ - 2 * s.length)
      s.previous.add_event(e, mask_before);
  }
}

const SpanWindows* Tier::windows_of(WindowSpan span) const noexcept {
  for (const auto& s : spans_)
    if (s.span == span) return &s;
  return nullptr;
}

}  // namespace shoppulse::windows
