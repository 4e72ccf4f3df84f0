#pragma once
// GET /api/events: pages of the event log as NDJSON, streamed.
//
// A page is decided before its first byte is sent, because its end goes out
// in the X-Next-Cursor header: a first pass reads the page's records from the
// cursor, applies the filters and counts matches without formatting anything,
// and stops after `limit` matches or `max_page` records read; the position
// after the last record it read is the page's end (and the next cursor).
// The body is then produced by a second read of the same sequences, one piece
// at a time, each piece asked for only once the one before is written: memory
// per open page is one piece, and a client that stops reading stops the read.
//
// Both passes run on the exporter's own worker thread, never on a
// connection's thread; a piece reads at most kPieceRecords records, so pages
// streamed at once take turns on the worker.
//
// Lifecycle: constructed over a log and dictionary that outlive it; the
// destructor stops the worker and answers anything still queued with
// `unavailable`; a stream pulled after that gets `unavailable` too.
// Threading: export_page() from any thread; everything else on the worker.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "shoppulse/api/handler.hpp"
#include "shoppulse/core/dictionary.hpp"
#include "shoppulse/core/event.hpp"
#include "shoppulse/core/partition_ownership.hpp"
#include "shoppulse/eventlog/storage.hpp"

namespace shoppulse::api {

struct ExportQuery {
  Sequence from_sequence = 1;  // the cursor's position, 1 without one
  TimestampMs from_ms = INT64_MIN;  // event time filter, [from_ms, to_ms)
  TimestampMs to_ms = INT64_MAX;
  std::optional<EventType> type;
  std::optional<Id> user;
  std::optional<Id> product;
  std::size_t limit = 10000;  // most lines on the page
  // Cluster mode: only events of these partitions (set by export_page from
  // the exporter's ownership when the page is asked for); null: all.
  std::shared_ptr<const OwnedPartitions> owned;
};

struct ExportLimits {
  // Most records one page reads (and the largest accepted limit); a page of
  // a selective filter ends here with fewer lines and a cursor. records.
  std::uint64_t max_page = 1'000'000;
  // Most pages being prepared or streamed at once; beyond it 503. pages.
  std::size_t max_open_pages = 8;
  // A piece ends once it holds this many bytes (after the stored block of
  // records that crosses it). bytes.
  std::size_t piece_bytes = 64 * 1024;
};

class EventExporter {
 public:
  // ownership: cluster mode, the partitions whose events are exported
  // (nullptr: every event).
  EventExporter(const EventLog& log, const Dictionary& dictionary, ExportLimits limits = {},
                const PartitionOwnership* ownership = nullptr);
  ~EventExporter();
  EventExporter(const EventExporter&) = delete;
  EventExporter& operator=(const EventExporter&) = delete;

  // Queues the page's first pass; respond then gets the answer whose headers
  // are final (status 200, X-Next-Cursor unless it is the last page) with the
  // body as a stream, or the log's error before any byte. overloaded when
  // max_open_pages are open.
  Result<void> export_page(ExportQuery query, Respond respond);

  // Pages open now (prepared or streaming); for tests and status.
  std::size_t open_pages() const;

  const ExportLimits& limits() const noexcept;

  struct Shared;  // the worker's queue, shared with open streams (event_export.cpp)

 private:
  std::shared_ptr<Shared> shared_;
  std::thread worker_;
};

// "<incarnation hex>.<sequence>": the log position after a page, with the
// incarnation that gives the sequence its meaning.
std::string encode_export_cursor(std::uint64_t incarnation, Sequence next);
// The position of a cursor encode_export_cursor gave; invalid_argument for
// anything else or for a cursor of an earlier incarnation of the log.
Result<Sequence> decode_export_cursor(const std::string& text, const EventLog& log);

// One event as a line of NDJSON in the field names POST /api/events takes.
void write_event_line(std::string& out, const LogRecord& record, const Dictionary& dictionary);

}  // namespace shoppulse::api
