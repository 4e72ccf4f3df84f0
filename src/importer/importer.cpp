#include "shoppulse/importer/importer.hpp"

#include <algorithm>
#include <array>
#include <filesystem>
#include <optional>
#include <thread>
#include <cstdio>
#include <cstring>

#include "csv_formats.hpp"
#include "shoppulse/core/byte_codec.hpp"
#include "shoppulse/core/hyperloglog.hpp"
#include "shoppulse/ingest/event_parser.hpp"

namespace shoppulse {

using namespace importer_detail;

std::string_view to_string(ImportFormat format) noexcept {
  switch (format) {
    case ImportFormat::taobao_csv: return "taobao";
    case ImportFormat::rees46_csv: return "rees46";
    case ImportFormat::ndjson: return "ndjson";
  }
  return "unknown";
}

std::optional<ImportFormat> parse_import_format(std::string_view text) noexcept {
  if (text == "taobao" || text == "taobao_csv") return ImportFormat::taobao_csv;
  if (text == "rees46" || text == "rees46_csv") return ImportFormat::rees46_csv;
  if (text == "ndjson") return ImportFormat::ndjson;
  return std::nullopt;
}

namespace {

const SystemClock kSystemClock;

// Parses lines and batches events; one per import.
class LineImporter {
 public:
  LineImporter(ImportFormat format, const ImportOptions& options, const ImportSink& sink,
               const ImportProgressFn& progress, std::uint64_t total_bytes)
      : format_(format),
        options_(options),
        sink_(sink),
        progress_(progress),
        clock_(options.clock ? *options.clock : kSystemClock),
        start_ms_(clock_.now_ms()),
        last_progress_ms_(start_ms_),
        seen_(std::max<std::size_t>(options.duplicate_memory, 1)) {
    progress_state_.bytes_total = total_bytes;
    batch_.resize(std::max<std::size_t>(options.batch_events, 1));
    parse_options_.now_ms = options.now_ms ? options.now_ms : clock_.now_ms();
  }

  // One line without its '\n'. unterminated: the input ended without one.
  Result<void> line(std::string_view text, bool unterminated) {
    ++report_.lines;
    const std::uint64_t number = report_.lines;
    if (text.size() > options_.max_line_bytes) {
      problem(number, ("line longer than " + std::to_string(options_.max_line_bytes) + " bytes").c_str(), unterminated);
      return {};
    }
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (text.empty()) return {};
    if (format_ == ImportFormat::rees46_csv && number == 1 && is_rees46_header(text)) return {};
    if (format_ == ImportFormat::ndjson) return ndjson_line(text, number, unterminated);

    RawEvent& out = batch_[filled_];
    const char* reason = nullptr;
    Rees46Flags flags;
    if (format_ == ImportFormat::taobao_csv) reason = parse_taobao_line(text, out, detail_);
    else reason = parse_rees46_line(text, out, detail_, flags);
    if (reason) {
      problem(number, reason, unterminated);
      return {};
    }
    const std::uint64_t h = line_hash(text);
    Seen& slot = seen_[h % seen_.size()];
    if (slot.line != 0 && slot.hash == h) {
      ++report_.duplicates;
      problem(number, ("duplicate of line " + std::to_string(slot.line)).c_str(), false);
      return {};
    }
    slot = Seen{h, number};
    if (options_.derive_event_ids) derived_event_id(format_ == ImportFormat::taobao_csv ? 't' : 'r', h, out.event_id);
    else out.event_id.clear();
    if (flags.zero_price) ++report_.zero_prices;
    return push_one();
  }

  void too_long(std::uint64_t number) {
    problem(number, ("line longer than " + std::to_string(options_.max_line_bytes) + " bytes").c_str(), false);
  }
  std::uint64_t next_line_number() { return ++report_.lines; }

  Result<void> finish(std::uint64_t bytes) {
    auto flushed = flush();
    if (!flushed) return flushed;
    report_.bytes = bytes;
    report_.elapsed_s = static_cast<double>(clock_.now_ms() - start_ms_) / 1000.0;
    report(bytes, true);
    return {};
  }

  void maybe_report(std::uint64_t bytes) {
    if (!progress_) return;
    const TimestampMs now = clock_.now_ms();
    if (now - last_progress_ms_ < options_.progress_interval_ms) return;
    last_progress_ms_ = now;
    report(bytes, false);
  }

  ImportReport take_report() { return std::move(report_); }

 private:
  struct Seen {
    std::uint64_t hash = 0;
    std::uint64_t line = 0;
  };

  void problem(std::uint64_t number, const char* reason, bool unterminated) {
    ++report_.bad_lines;
    if (report_.problems.size() >= options_.max_problems_kept) return;
    std::string text = unterminated ? std::string("truncated last line (no newline at end of input): ") + reason
                                    : std::string(reason);
    report_.problems.push_back({number, std::move(text)});
  }

  Result<void> ndjson_line(std::string_view text, std::uint64_t number, bool unterminated) {
    auto parsed = parse_events(text, BodyFormat::ndjson, parse_options_);
    if (!parsed) {
      const Error& e = parsed.error();
      std::string reason = e.detail;
      if (!e.field.empty() && reason.find(e.field) == std::string::npos) reason += " (field " + e.field + ")";
      problem(number, reason.c_str(), unterminated);
      return {};
    }
    for (RawEvent& e : *parsed) {
      batch_[filled_] = std::move(e);
      auto pushed = push_one();
      if (!pushed) return pushed;
    }
    recycle_events(std::move(parsed).value());  // the next line's vector
    return {};
  }

  Result<void> push_one() {
    ++filled_;
    if (filled_ == batch_.size()) return flush();
    return {};
  }

  Result<void> flush() {
    if (filled_ == 0) return {};
    const std::size_t capacity = std::max<std::size_t>(options_.batch_events, 1);
    if (filled_ < batch_.size()) batch_.resize(filled_);  // the last, partial batch
    report_.events += filled_;
    filled_ = 0;
    // The sink may take the batch (it is then left moved-from) or only read
    // it, as Ingestor::submit does; then the next lines are parsed into the
    // same events and reuse their strings' buffers: no allocation per batch.
    auto sunk = sink_(std::move(batch_));
    if (batch_.size() != capacity) {
      batch_.clear();
      batch_.resize(capacity);
    }
    return sunk;
  }

  void report(std::uint64_t bytes, bool finished) {
    if (!progress_) return;
    ImportProgress& p = progress_state_;
    p.bytes_done = bytes;
    p.lines = report_.lines;
    p.events = report_.events + filled_;
    p.bad_lines = report_.bad_lines;
    p.elapsed_s = static_cast<double>(clock_.now_ms() - start_ms_) / 1000.0;
    p.events_per_s = p.elapsed_s > 0 ? static_cast<double>(p.events) / p.elapsed_s : 0;
    p.finished = finished;
    progress_(p);
  }

  ImportFormat format_;
  const ImportOptions& options_;
  const ImportSink& sink_;
  const ImportProgressFn& progress_;
  const Clock& clock_;
  TimestampMs start_ms_;
  TimestampMs last_progress_ms_;
  ImportReport report_;
  ImportProgress progress_state_;
  ParseOptions parse_options_;
  std::vector<RawEvent> batch_;
  std::size_t filled_ = 0;
  std::vector<Seen> seen_;
  std::string detail_;
};

}  // namespace

Result<ImportReport> import_stream(const ImportReader& read, std::uint64_t total_bytes, ImportFormat format,
                                   const ImportOptions& options, const ImportSink& sink,
                                   const ImportProgressFn& progress) {
  LineImporter importer(format, options, sink, progress, total_bytes);
  const std::size_t chunk = std::max<std::size_t>(options.read_chunk_bytes, 1);
  std::vector<char> buffer(chunk + std::min(options.max_line_bytes, std::size_t{64} << 20) + 1);
  std::size_t kept = 0;        // bytes of an unfinished line at the front of buffer
  bool skipping = false;       // inside an over-long line: drop until its newline
  std::uint64_t bytes = 0;
  for (;;) {
    const std::size_t room = buffer.size() - kept;
    const std::size_t got = read(buffer.data() + kept, std::min(room, chunk));
    if (got == 0) break;
    bytes += got;
    const std::size_t end = kept + got;
    std::size_t start = 0;
    for (;;) {
      const void* nl = std::memchr(buffer.data() + start, '\n', end - start);
      if (!nl) break;
      const std::size_t pos = static_cast<std::size_t>(static_cast<const char*>(nl) - buffer.data());
      if (skipping) {
        skipping = false;
      } else {
        auto r = importer.line(std::string_view(buffer.data() + start, pos - start), false);
        if (!r) return std::move(r).error();
      }
      start = pos + 1;
    }
    kept = end - start;
    if (kept > options.max_line_bytes) {
      if (!skipping) importer.too_long(importer.next_line_number());
      skipping = true;
      kept = 0;
    } else if (kept) {
      std::memmove(buffer.data(), buffer.data() + start, kept);
    }
    importer.maybe_report(bytes);
  }
  if (kept && !skipping) {
    auto r = importer.line(std::string_view(buffer.data(), kept), true);
    if (!r) return std::move(r).error();
  }
  auto done = importer.finish(bytes);
  if (!done) return std::move(done).error();
  return importer.take_report();
}

namespace {

// The lines of path from byte `from` (a line's start) up to byte `to`
// (nullopt: the end), through import_stream.
Result<ImportReport> import_file_range(const std::string& path, std::uint64_t from, std::optional<std::uint64_t> to,
                                       ImportFormat format, const ImportOptions& options, const ImportSink& sink,
                                       const ImportProgressFn& progress) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return make_error(Errc::io_error, "cannot open " + path + ": " + std::strerror(errno));
  // A range is read up to its end; a whole file to EOF, however long it
  // has grown since (its size at the start only paces the progress).
  const bool bounded = to.has_value();
  if (!bounded && std::fseek(f, 0, SEEK_END) == 0) {
    const long size = std::ftell(f);
    if (size > 0) to = static_cast<std::uint64_t>(size);
  }
  if (std::fseek(f, static_cast<long>(from), SEEK_SET) != 0 && from != 0) {
    std::fclose(f);
    return make_error(Errc::io_error, "cannot seek in " + path + ": " + std::strerror(errno));
  }
  const std::uint64_t total = to && *to > from ? *to - from : 0;  // 0: unknown (a pipe)
  std::uint64_t left = total;
  bool failed = false;
  auto result = import_stream(
      [&](char* buf, std::size_t n) {
        if (bounded) n = static_cast<std::size_t>(std::min<std::uint64_t>(n, left));
        if (n == 0) return std::size_t{0};
        const std::size_t got = std::fread(buf, 1, n, f);
        if (got == 0 && std::ferror(f)) failed = true;
        left -= std::min<std::uint64_t>(got, left);
        return got;
      },
      total, format, options, sink, progress);
  std::fclose(f);
  if (failed) return make_error(Errc::io_error, "read failed: " + path);
  return result;
}

}  // namespace

Result<ImportReport> import_file(const std::string& path, ImportFormat format, const ImportOptions& options,
                                 const ImportSink& sink, const ImportProgressFn& progress) {
  return import_file_range(path, 0, std::nullopt, format, options, sink, progress);
}

void ImportFingerprint::fold(std::string_view block) { sum_ = sum_ * 0x100000001B3ull ^ checksum64(block); }

void ImportFingerprint::add(std::string_view bytes) {
  size_ += bytes.size();
  while (!bytes.empty()) {
    if (pending_.empty() && bytes.size() >= kBlock) {
      fold(bytes.substr(0, kBlock));
      bytes.remove_prefix(kBlock);
      continue;
    }
    const std::size_t take = std::min(kBlock - pending_.size(), bytes.size());
    pending_.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    if (pending_.size() == kBlock) {
      fold(pending_);
      pending_.clear();
    }
  }
}

std::string ImportFingerprint::record_name(std::string_view format) const {
  std::uint64_t sum = sum_;
  if (!pending_.empty()) sum = sum * 0x100000001B3ull ^ checksum64(pending_);
  char tail[48];
  std::snprintf(tail, sizeof tail, "%llx-%016llx", static_cast<unsigned long long>(size_),
                static_cast<unsigned long long>(sum));
  return "import/" + std::string(format) + "/" + tail;
}

Result<ImportReport> import_text(std::string_view text, ImportFormat format, const ImportOptions& options,
                                 const ImportSink& sink) {
  std::size_t at = 0;
  return import_stream(
      [&](char* buf, std::size_t n) {
        const std::size_t k = std::min(n, text.size() - at);
        std::memcpy(buf, text.data() + at, k);
        at += k;
        return k;
      },
      text.size(), format, options, sink);
}

Result<LoadedEvents> load_events(const std::string& path, ImportFormat format, const ImportOptions& options,
                                 const ImportProgressFn& progress) {
  LoadedEvents loaded;
  loaded.dictionary = std::make_unique<Dictionary>();
  Sequence next = 1;
  auto report = import_file(
      path, format, options,
      [&](std::vector<RawEvent>&& batch) -> Result<void> {
        for (const RawEvent& r : batch) loaded.events.push_back(intern_event(r, *loaded.dictionary, next++));
        return {};
      },
      progress);
  if (!report) return std::move(report).error();
  loaded.report = std::move(report).value();
  return loaded;
}

namespace {

// One part of a file: the lines from byte `from` (a line's start) to `to`.
struct CountedPart {
  std::array<hll::DistinctCount, kIdKindCount> sketches;
  std::uint64_t events = 0;
  std::optional<Error> error;
};

void count_part(const std::string& path, std::uint64_t from, std::uint64_t to, ImportFormat format,
                const ImportOptions& options, CountedPart& part) {
  auto report = import_file_range(path, from, to, format, options, [&](std::vector<RawEvent>&& batch) -> Result<void> {
    for (const RawEvent& r : batch)
      for (std::size_t k = 0; k < kIdKindCount; ++k)
        if (const std::string& name = name_of(r, static_cast<IdKind>(k)); !name.empty())
          part.sketches[k].add(InternTable::hash(name));
    return {};
  }, {});
  if (!report) part.error = report.error();
  else part.events = report->events;
}

}  // namespace

Result<NameCounts> count_names(const std::string& path, ImportFormat format, const ImportOptions& options,
                               std::size_t parts) {
  std::error_code size_error;
  const std::uint64_t size = std::filesystem::file_size(path, size_error);
  if (size_error) return make_error(Errc::io_error, "cannot open " + path + ": " + size_error.message());
  // Parts end at line ends: each boundary is moved past the next newline.
  parts = std::max<std::size_t>(parts, 1);
  std::vector<std::uint64_t> bounds{0};
  {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return make_error(Errc::io_error, "cannot open " + path + ": " + std::strerror(errno));
    for (std::size_t i = 1; i < parts; ++i) {
      std::uint64_t at = std::max(bounds.back(), size / parts * i);
      if (std::fseek(f, static_cast<long>(at), SEEK_SET) != 0) break;
      int c = 0;
      while (at < size && (c = std::fgetc(f)) != EOF) {
        ++at;
        if (c == '\n') break;
      }
      bounds.push_back(at);
    }
    std::fclose(f);
  }
  bounds.push_back(size);
  ImportOptions counting = options;
  counting.derive_event_ids = false;  // only the names are read
  std::vector<CountedPart> counted(bounds.size() - 1);
  {
    std::vector<std::jthread> threads;
    for (std::size_t i = 0; i < counted.size(); ++i)
      threads.emplace_back([&, i] { count_part(path, bounds[i], bounds[i + 1], format, counting, counted[i]); });
  }
  NameCounts out;
  for (std::size_t k = 0; k < kIdKindCount; ++k) {
    hll::DistinctCount all;
    for (CountedPart& part : counted) {
      if (part.error) return std::move(*part.error);
      all.merge(part.sketches[k]);
    }
    out.distinct[k] = static_cast<std::size_t>(all.estimate());
  }
  for (const CountedPart& part : counted) out.events += part.events;
  return out;
}

}  // namespace shoppulse
