#include "event_export.hpp"

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <mutex>

#include "json_writer.hpp"
#include "shoppulse/api/api.hpp"
#include "shoppulse/core/time_format.hpp"

namespace shoppulse::api {
namespace {

// Most records one piece reads: a selective filter yields empty pieces
// rather than holding the worker for the whole page.
constexpr std::uint64_t kPieceRecords = 65536;

bool matches(const ExportQuery& q, const Event& e) {
  if (e.time_ms < q.from_ms || e.time_ms >= q.to_ms) return false;
  if (q.type && e.type != *q.type) return false;
  if (q.user && e.user != *q.user) return false;
  if (q.product && e.product != *q.product) return false;
  return true;
}

std::string incarnation_hex(std::uint64_t id) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(id));
  return text;
}

Error stopping_error() { return make_error(Errc::unavailable, "the server is stopping"); }

}  // namespace

// What the worker, the exporter and open streams share; outlives the
// exporter while a stream holds it, so a late pull finds `stopping`.
struct EventExporter::Shared {
  Shared(const EventLog& l, const Dictionary& d, ExportLimits lim, const PartitionOwnership* o)
      : log(l), dictionary(d), limits(lim), ownership(o) {}

  // A task runs on the worker with run = true, or with run = false when the
  // exporter stops before it ran.
  using Task = std::function<void(bool run)>;

  bool post(Task task) {
    {
      std::lock_guard lock(mutex);
      if (stopping) return false;
      tasks.push_back(std::move(task));
    }
    wake.notify_one();
    return true;
  }

  const EventLog& log;
  const Dictionary& dictionary;
  const ExportLimits limits;
  const PartitionOwnership* ownership;  // cluster mode: the export keeps the owned partitions' events

  mutable std::mutex mutex;  // guards everything below
  std::condition_variable wake;
  std::deque<Task> tasks;
  bool stopping = false;
  std::size_t open_pages = 0;
};

namespace {

// The body of one page: the sequences [next, end) read again with the
// page's filters, a piece per pull. Thread: pull() from the connection, the
// reading on the exporter's worker.
class PageStream final : public BodyStream, public std::enable_shared_from_this<PageStream> {
 public:
  PageStream(std::shared_ptr<EventExporter::Shared> shared, ExportQuery query, Sequence end,
             std::shared_ptr<void> slot)
      : shared_(std::move(shared)), query_(std::move(query)), next_(query_.from_sequence), end_(end),
        slot_(std::move(slot)) {
    if (query_.owned) keep_.emplace(shared_->dictionary, query_.owned);
  }

  void pull(Deliver deliver) override {
    std::weak_ptr<PageStream> weak = weak_from_this();
    const bool queued = shared_->post([weak, deliver](bool run) {
      auto self = weak.lock();
      if (!run || !self) return deliver(stopping_error());
      deliver(self->next_piece());
    });
    if (!queued) deliver(stopping_error());
  }

 private:
  Result<BodyPiece> next_piece() {
    BodyPiece piece;
    bool cut = false;  // stopped for the piece's size, not at the page's or log's end
    bool at_end = false;
    std::uint64_t read = 0;
    auto status = shared_->log.read(next_, [&](std::span<const LogRecord> records) {
      for (const LogRecord& rec : records) {
        if (rec.event.sequence >= end_) {
          at_end = true;
          return false;
        }
        next_ = rec.event.sequence + 1;
        ++read;
        if (matches(query_, rec.event) && (!keep_ || (*keep_)(rec.event)))
          write_event_line(piece.bytes, rec, shared_->dictionary);
      }
      if (piece.bytes.size() >= shared_->limits.piece_bytes || read >= kPieceRecords) {
        cut = true;
        return false;
      }
      return true;
    });
    if (!status) return std::move(status).error();
    piece.last = at_end || !cut || next_ >= end_;
    return piece;
  }

  std::shared_ptr<EventExporter::Shared> shared_;
  const ExportQuery query_;
  Sequence next_;  // worker only
  const Sequence end_;
  std::optional<PartitionFilter> keep_;  // worker only
  std::shared_ptr<void> slot_;  // this page's place under max_open_pages
};

}  // namespace

EventExporter::EventExporter(const EventLog& log, const Dictionary& dictionary, ExportLimits limits,
                             const PartitionOwnership* ownership)
    : shared_(std::make_shared<Shared>(log, dictionary, limits, ownership)) {
  worker_ = std::thread([shared = shared_] {
    for (;;) {
      Shared::Task task;
      {
        std::unique_lock lock(shared->mutex);
        shared->wake.wait(lock, [&] { return shared->stopping || !shared->tasks.empty(); });
        if (shared->tasks.empty()) return;  // stopping, nothing left
        task = std::move(shared->tasks.front());
        shared->tasks.pop_front();
        if (shared->stopping) {
          lock.unlock();
          task(false);
          continue;
        }
      }
      task(true);
    }
  });
}

EventExporter::~EventExporter() {
  {
    std::lock_guard lock(shared_->mutex);
    shared_->stopping = true;
  }
  shared_->wake.notify_all();
  worker_.join();
}

std::size_t EventExporter::open_pages() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->open_pages;
}

const ExportLimits& EventExporter::limits() const noexcept { return shared_->limits; }

Result<void> EventExporter::export_page(ExportQuery query, Respond respond) {
  if (shared_->ownership) query.owned = shared_->ownership->current();
  std::shared_ptr<void> slot;
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->stopping) return stopping_error();
    if (shared_->open_pages >= shared_->limits.max_open_pages)
      return make_error(Errc::overloaded, std::to_string(shared_->limits.max_open_pages) +
                                              " event exports are being sent; retry when one has finished");
    ++shared_->open_pages;
    // The slot is given back when the page's stream (or the empty page) is done.
    slot = std::shared_ptr<void>(nullptr, [shared = shared_](void*) {
      std::lock_guard lock(shared->mutex);
      --shared->open_pages;
    });
  }
  auto shared = shared_;
  const bool queued = shared_->post([shared, query, respond, slot](bool run) mutable {
    if (!run) return respond(error_response(stopping_error()));
    // First pass: where the page ends, reading as the body will but
    // formatting nothing.
    std::size_t lines = 0;
    std::uint64_t scanned = 0;
    std::optional<PartitionFilter> keep;
    if (query.owned) keep.emplace(shared->dictionary, query.owned);
    Sequence next = query.from_sequence;  // the position after the last record read
    bool more = false;
    auto read = shared->log.read(query.from_sequence, [&](std::span<const LogRecord> records) {
      for (const LogRecord& rec : records) {
        if (lines == query.limit || scanned == shared->limits.max_page) {
          more = true;
          return false;
        }
        ++scanned;
        next = rec.event.sequence + 1;
        if (matches(query, rec.event) && (!keep || (*keep)(rec.event))) ++lines;
      }
      return true;
    });
    if (!read) return respond(error_response(read.error()));
    // The read stopped at a full page: there is more only if the log goes on.
    if (more && next >= shared->log.next_sequence()) more = false;
    ApiResponse r;
    r.content_type = "application/x-ndjson";
    if (more) r.headers.emplace_back("X-Next-Cursor", encode_export_cursor(shared->log.incarnation(), next));
    r.headers.emplace_back("Cache-Control", "no-cache");
    if (lines > 0) r.stream = std::make_shared<PageStream>(shared, query, next, std::move(slot));
    slot.reset();
    respond(std::move(r));
  });
  if (!queued) return stopping_error();
  return {};
}

std::string encode_export_cursor(std::uint64_t incarnation, Sequence next) {
  return incarnation_hex(incarnation) + "." + std::to_string(next);
}

Result<Sequence> decode_export_cursor(const std::string& text, const EventLog& log) {
  const auto bad = [] {
    return make_error(Errc::invalid_argument, "not a cursor this endpoint gave (X-Next-Cursor)", "cursor");
  };
  const std::size_t dot = text.find('.');
  if (dot != 16 || text.size() > 16 + 1 + 19 || text.size() == 17) return bad();
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool ok = i < 16 ? (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') : i == 16 || (c >= '0' && c <= '9');
    if (!ok) return bad();
  }
  const std::uint64_t incarnation = std::stoull(text.substr(0, 16), nullptr, 16);
  const Sequence next = std::stoull(text.substr(17));
  if (next == 0) return bad();
  if (next > 1 && !log.still_names_same_event(incarnation, next - 1))
    return make_error(Errc::invalid_argument,
                      "the log changed incarnation (an unclean stop) since this cursor was given; start again "
                      "without a cursor",
                      "cursor");
  return next;
}

void write_event_line(std::string& out, const LogRecord& rec, const Dictionary& dict) {
  const Event& e = rec.event;
  JsonWriter w;
  w.begin_object();
  if (!rec.event_id.empty()) w.field("event_id", rec.event_id);
  w.field("user_id", dict.name(IdKind::user, e.user));
  if (!rec.session_id.empty()) w.field("session_id", rec.session_id);
  w.field("event_type", to_string(e.type));
  if (e.product != kNoId) w.field("product_id", dict.name(IdKind::product, e.product));
  if (e.category != kNoId) w.field("category_id", dict.name(IdKind::category, e.category));
  if (e.price_minor != 0) w.key("price").money(e.price_minor);
  w.field("quantity", static_cast<std::uint64_t>(e.quantity));
  if (e.rating != 0) w.field("rating", static_cast<std::uint64_t>(e.rating));
  if (e.device != kNoId) w.field("device", dict.name(IdKind::device, e.device));
  if (e.location != kNoId) w.field("location", dict.name(IdKind::location, e.location));
  w.field("timestamp", format_iso8601(e.time_ms));
  w.field("sequence", e.sequence);
  w.end_object();
  out += w.take();
  out += '\n';
}

}  // namespace shoppulse::api
