// The file importers, one target per format (SHOPPULSE_FUZZ_FORMAT picks
// it). The first input bytes choose the read chunk size and batch size, the
// rest is the file. Properties: reading the file in small chunks gives
// exactly what reading it whole gives (events, bad lines, problems); the
// sink receives report.events events, each with a user and an event type;
// counts add up (bad lines and events never exceed the lines read).
#include <algorithm>
#include <cstdint>

#include "fuzz_input.hpp"
#include "raw_event_text.hpp"
#include "shoppulse/core/clock.hpp"
#include "shoppulse/importer/importer.hpp"
#include "shoppulse/ingest/event_parser.hpp"

using namespace shoppulse;

namespace {

constexpr TimestampMs kNow = 1709294400000;

struct Outcome {
  bool ok = false;
  ImportReport report;
  std::vector<RawEvent> events;
  std::size_t batches = 0;
};

Outcome run(std::string_view text, std::size_t chunk, std::size_t batch, bool whole) {
  static const ManualClock clock{kNow};
  ImportOptions options;
  options.now_ms = kNow;
  options.clock = &clock;
  options.batch_events = batch;
  options.max_problems_kept = 16;
  options.max_line_bytes = 4096;
  options.duplicate_memory = 8;
  options.read_chunk_bytes = chunk;
  Outcome out;
  auto sink = [&](std::vector<RawEvent>&& events) -> Result<void> {
    FUZZ_CHECK(!events.empty());
    FUZZ_CHECK(events.size() <= batch);
    ++out.batches;
    out.events.insert(out.events.end(), events.begin(), events.end());
    return {};
  };
  Result<ImportReport> r = [&] {
    if (whole) return import_text(text, SHOPPULSE_FUZZ_FORMAT, options, sink);
    std::size_t pos = 0;
    ImportReader read = [&](char* buffer, std::size_t n) {
      const std::size_t take = std::min({n, chunk, text.size() - pos});
      std::copy_n(text.data() + pos, take, buffer);
      pos += take;
      return take;
    };
    return import_stream(read, text.size(), SHOPPULSE_FUZZ_FORMAT, options, sink);
  }();
  out.ok = r.ok();
  if (r.ok()) out.report = std::move(r.value());
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::FuzzInput in(data, size);
  const std::size_t chunk = 1 + in.byte() % 64;
  const std::size_t batch = 1 + in.byte() % 16;
  const std::string_view text = in.rest();

  const Outcome whole = run(text, 1 << 16, 64, true);
  FUZZ_CHECK(whole.ok);  // a byte source that never fails: only bad lines, never an error
  const ImportReport& r = whole.report;
  FUZZ_CHECK(r.events == whole.events.size());
  FUZZ_CHECK(r.bad_lines <= r.lines);
  FUZZ_CHECK(r.events <= r.lines);
  FUZZ_CHECK(r.duplicates <= r.bad_lines);
  FUZZ_CHECK(r.problems.size() == std::min<std::uint64_t>(r.bad_lines, 16));
  for (const ImportProblem& p : r.problems) FUZZ_CHECK(p.line >= 1 && p.line <= r.lines);
  for (std::size_t i = 1; i < r.problems.size(); ++i) FUZZ_CHECK(r.problems[i - 1].line < r.problems[i].line);
  for (const RawEvent& e : whole.events) {
    FUZZ_CHECK(!e.user_id.empty());
    FUZZ_CHECK(static_cast<std::size_t>(e.type) < kEventTypeCount);
    FUZZ_CHECK(e.quantity >= 1);
    FUZZ_CHECK(e.price_minor >= 0);
  }
  if constexpr (SHOPPULSE_FUZZ_FORMAT == ImportFormat::ndjson) {
    // Each imported event is one POST /api/events would accept, unchanged.
    ParseOptions po;
    po.now_ms = kNow;
    for (const RawEvent& e : whole.events) {
      auto again = parse_events(fuzz::render_event(e), BodyFormat::json, po);
      FUZZ_CHECK(again.ok() && again.value().size() == 1);
      FUZZ_CHECK(fuzz::same_event(e, again.value()[0]));
    }
  }

  const Outcome pieces = run(text, chunk, batch, false);
  FUZZ_CHECK(pieces.ok);
  FUZZ_CHECK(pieces.report.lines == r.lines);
  FUZZ_CHECK(pieces.report.events == r.events);
  FUZZ_CHECK(pieces.report.bad_lines == r.bad_lines);
  FUZZ_CHECK(pieces.report.duplicates == r.duplicates);
  FUZZ_CHECK(pieces.report.zero_prices == r.zero_prices);
  FUZZ_CHECK(pieces.report.bytes == r.bytes);
  FUZZ_CHECK(pieces.report.problems.size() == r.problems.size());
  for (std::size_t i = 0; i < r.problems.size(); ++i) {
    FUZZ_CHECK(pieces.report.problems[i].line == r.problems[i].line);
    FUZZ_CHECK(pieces.report.problems[i].reason == r.problems[i].reason);
  }
  FUZZ_CHECK(fuzz::same_events(pieces.events, whole.events));
  return 0;
}
