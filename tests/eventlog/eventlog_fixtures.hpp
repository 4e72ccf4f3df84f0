#pragma once
// Shared helpers for the eventlog tests: a scratch directory per test and
// record builders.
#include <atomic>
#include <filesystem>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include "shoppulse/core/event.hpp"
#include "shoppulse/eventlog/storage.hpp"
#include "support/temp_dir.hpp"

namespace shoppulse::eventlog_test {

// A fresh directory under the system temp dir, removed when destroyed.
class TempDir : public shoppulse::test_support::TempDir {
 public:
  TempDir() : shoppulse::test_support::TempDir("shoppulse-eventlog") {}
};

// count records with sequences first.., one second apart from time_ms, with
// fields derived from the sequence so every record is distinct.
inline std::vector<LogRecord> make_records(Sequence first, std::size_t count, TimestampMs time_ms) {
  std::vector<LogRecord> records(count);
  for (std::size_t i = 0; i < count; ++i) {
    const Sequence sequence = first + i;
    LogRecord& record = records[i];
    record.event.sequence = sequence;
    record.event.time_ms = time_ms + static_cast<TimestampMs>(i) * 1000;
    record.event.user = static_cast<Id>(sequence % 97 + 1);
    record.event.product = static_cast<Id>(sequence % 13);
    record.event.type = static_cast<EventType>(sequence % kEventTypeCount);
    record.event.price_minor = static_cast<std::int64_t>(sequence) * 7;
    record.event.quantity = static_cast<std::uint32_t>(sequence % 5 + 1);
    record.event_id = "evt-" + std::to_string(sequence);
    record.session_id = sequence % 3 == 0 ? std::string() : "s-" + std::to_string(sequence / 10);
  }
  return records;
}

inline bool same_record(const LogRecord& a, const LogRecord& b) {
  const Event& x = a.event;
  const Event& y = b.event;
  return x.time_ms == y.time_ms && x.sequence == y.sequence && x.price_minor == y.price_minor &&
         x.user == y.user && x.product == y.product && x.category == y.category && x.device == y.device &&
         x.location == y.location && x.quantity == y.quantity && x.type == y.type && x.rating == y.rating &&
         a.event_id == b.event_id && a.session_id == b.session_id;
}

// Everything read from `from` onwards, flattened.
inline std::vector<LogRecord> read_all(const EventLog& log, Sequence from = 0) {
  std::vector<LogRecord> out;
  auto result = log.read(from, [&](std::span<const LogRecord> run) {
    out.insert(out.end(), run.begin(), run.end());
    return true;
  });
  if (!result) throw std::runtime_error("read failed: " + result.error().detail);
  return out;
}

}  // namespace shoppulse::eventlog_test
