#pragma once
// Decodes request bodies into RawEvents. Runs on I/O threads; pure and
// allocation-light. Validation happens here, so a batch that reaches the
// ingestor can only fail as a whole (storage), never half-way.
#include <string_view>
#include <vector>

#include "shoppulse/core/event.hpp"
#include "shoppulse/core/result.hpp"

namespace shoppulse {

enum class BodyFormat {
  json,    // one event object, or an array of them
  ndjson,  // one event object per line; blank lines are skipped
};

struct ParseOptions {
  TimestampMs now_ms = 0;                // for the future-timestamp check
  std::int64_t max_future_ms = 300000;   // timestamps later than now + this are refused; ms
  std::size_t max_id_bytes = 256;        // longest accepted id string; bytes
  std::size_t max_events = 1000000;      // most events in one body
};

// On error: Errc::invalid_argument; Error::line is the 1-based record number
// (NDJSON line, or array element), Error::field the offending field.
// Unknown fields are ignored; null counts as absent.
// The vector comes from the calling thread's spare when it has one (see
// recycle_events()).
Result<std::vector<RawEvent>> parse_events(std::string_view body, BodyFormat format, const ParseOptions& options);

// Hands a vector parse_events() returned back to the calling thread once its
// events are read (moved from or copied): emptied, it becomes the thread's
// spare, which the thread's next parse_events() fills instead of a fresh
// allocation. A 10k-event POST's vector is megabytes of memory the
// allocator returns to the system when freed, so each request without this
// faulted its pages in afresh. A vector of more than 8 MiB, or no larger than
// the spare the thread has, is just freed.
void recycle_events(std::vector<RawEvent>&& events) noexcept;

// One JSON document (an event object, or an array of them) appended to out,
// as parse_events(document, BodyFormat::json) would return them, for callers
// that gather many small documents into one batch (a Kafka poll). The
// document is not copied into a padded string first: the thread's parser
// copies it into its own reused buffer. Returns how many events were added;
// on error out is left as it was.
Result<std::size_t> append_events(std::string_view document, const ParseOptions& options, std::vector<RawEvent>& out);

}  // namespace shoppulse
