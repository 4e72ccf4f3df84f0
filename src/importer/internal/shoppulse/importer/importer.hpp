#pragma once
// Streaming importers for public e-commerce datasets and NDJSON exports.
//
// Role: reads a file (or any byte source) in large chunks, parses it line by
// line into RawEvents and hands batches to a sink — in the app, Ingestor::submit
// with retry on overloaded, so imports take the same path as POST /api/events.
// Bad lines are reported with their 1-based number and a reason and skipped;
// the rest loads. Nothing throws; I/O failures and a failing sink are errors.
// Threading: an import runs entirely on the calling thread; the sink and the
// progress callback are called on it. No per-line heap allocation beyond the
// RawEvent strings themselves (short ids fit the small-string buffer).
#include <array>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shoppulse/core/clock.hpp"
#include "shoppulse/core/dictionary.hpp"
#include "shoppulse/core/event.hpp"
#include "shoppulse/core/result.hpp"

namespace shoppulse {

enum class ImportFormat {
  taobao_csv,  // user_id,item_id,category_id,behavior,timestamp(s); no header; pv/cart/fav/buy
  rees46_csv,  // event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session
  ndjson,      // one API event object per line (the POST /api/events format)
};
std::string_view to_string(ImportFormat format) noexcept;
// "taobao", "rees46", "ndjson" (also the enum names); nullopt otherwise.
std::optional<ImportFormat> parse_import_format(std::string_view text) noexcept;

struct ImportProblem {
  std::uint64_t line = 0;  // 1-based line number in the input
  std::string reason;
};

struct ImportProgress {
  std::uint64_t bytes_done = 0;
  std::uint64_t bytes_total = 0;  // 0 when unknown (a pipe)
  std::uint64_t lines = 0;
  std::uint64_t events = 0;       // handed to the sink so far
  std::uint64_t bad_lines = 0;
  double elapsed_s = 0;
  double events_per_s = 0;
  bool finished = false;
};

struct ImportReport {
  std::uint64_t lines = 0;       // lines read, header and blank lines included
  std::uint64_t events = 0;      // events handed to the sink
  std::uint64_t bad_lines = 0;   // lines skipped with a problem
  std::uint64_t duplicates = 0;  // rows identical to a recent row, skipped (counted in bad_lines too)
  std::uint64_t zero_prices = 0; // purchase rows with a zero or missing price (loaded, price absent)
  std::uint64_t bytes = 0;
  std::vector<ImportProblem> problems;  // the first max_problems_kept problems
  double elapsed_s = 0;
};

// Receives each batch; an error stops the import and is returned. The sink
// may take the vector (move from it) or only read it; a vector left intact
// is reused for the next batch, so its strings' buffers are not reallocated.
using ImportSink = std::function<Result<void>(std::vector<RawEvent>&&)>;
using ImportProgressFn = std::function<void(const ImportProgress&)>;

struct ImportOptions {
  std::size_t batch_events = 8192;        // events per sink call
  std::size_t max_problems_kept = 1000;   // problems listed in the report (all are counted)
  std::size_t max_line_bytes = 1 << 20;   // longer lines are bad lines; bytes
  std::int64_t progress_interval_ms = 250;  // least time between progress calls; ms
  // Give each CSV row an event_id derived from its content, so a re-import
  // (or a duplicate row further away than the importer remembers) is
  // dropped by the ingestor's dedupe. Identical rows count as one event.
  bool derive_event_ids = true;
  std::size_t duplicate_memory = 4096;    // recent rows remembered to report duplicates; rows
  std::size_t read_chunk_bytes = 1 << 20; // bytes per read
  TimestampMs now_ms = 0;                 // NDJSON future-timestamp check; 0 = the clock's now
  const Clock* clock = nullptr;           // for rates and progress pacing; nullptr = system clock
};

// Reads the byte source until it returns 0. `read` fills up to n bytes.
using ImportReader = std::function<std::size_t(char* buffer, std::size_t n)>;

Result<ImportReport> import_stream(const ImportReader& read, std::uint64_t total_bytes, ImportFormat format,
                                   const ImportOptions& options, const ImportSink& sink,
                                   const ImportProgressFn& progress = {});
// Opens path and imports it; io_error when it cannot be opened or read.
Result<ImportReport> import_file(const std::string& path, ImportFormat format, const ImportOptions& options,
                                 const ImportSink& sink, const ImportProgressFn& progress = {});
// Imports an in-memory text (tests, small bodies).
Result<ImportReport> import_text(std::string_view text, ImportFormat format, const ImportOptions& options,
                                 const ImportSink& sink);

// Names a data set by its bytes, for the record of completed imports kept
// beside the event log: the same bytes in the same format get the same name
// whether they come from a file (`shoppulse import`) or an upload
// (POST /api/import), however they are split into add() calls.
class ImportFingerprint {
 public:
  void add(std::string_view bytes);
  // "import/<format>/<size hex>-<checksum hex>".
  std::string record_name(std::string_view format) const;

 private:
  static constexpr std::size_t kBlock = 1 << 20;  // checksummed in blocks of this many bytes
  void fold(std::string_view block);
  std::string pending_;  // the current, not yet full block
  std::uint64_t size_ = 0;
  std::uint64_t sum_ = 0;
};


// Imports a file straight into interned events (offline evaluation).
struct LoadedEvents {
  std::unique_ptr<Dictionary> dictionary;
  std::vector<Event> events;
  ImportReport report;
};
Result<LoadedEvents> load_events(const std::string& path, ImportFormat format, const ImportOptions& options = {},
                                 const ImportProgressFn& progress = {});

// The distinct names of each kind in a file, counted ahead of its import
// (one parsing pass, nothing interned or stored) so that the dictionary's
// tables can be made at their final size at once (Ingestor::expect_names).
// Estimates: a HyperLogLog of 4 KiB per kind, standard error 1.6 %. The
// file is cut at line ends into `parts`, each counted on a thread of its
// own (the sketches then merged), so the pass takes the idle cores before
// an import instead of adding its whole time.
struct NameCounts {
  std::array<std::size_t, kIdKindCount> distinct{};  // by IdKind
  std::uint64_t events = 0;                          // the events the file holds
};
Result<NameCounts> count_names(const std::string& path, ImportFormat format, const ImportOptions& options = {},
                               std::size_t parts = 1);

}  // namespace shoppulse
