#include "shoppulse/ingest/event_parser.hpp"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <string>

#include "shoppulse/core/thread_spare.hpp"
#include "shoppulse/core/time_format.hpp"

namespace shoppulse {
namespace {

namespace dom = simdjson::dom;

// 2000-01-01T00:00:00Z: earlier timestamps are almost surely seconds, not ms.
constexpr TimestampMs kEarliestMs = 946684800000;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t'))
    s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

struct Ctx {
  const ParseOptions& options;
  long record;
};

Error bad(const Ctx& ctx, std::string_view field, std::string detail) {
  return make_error(Errc::invalid_argument, std::move(detail), std::string(field), ctx.record);
}

// An id may be a JSON string or an integer; it is kept as a string either way.
std::optional<Error> read_id(const Ctx& ctx, dom::element v, std::string_view field, std::string& out,
                             bool& present) {
  switch (v.type()) {
    case dom::element_type::NULL_VALUE:
      present = false;
      return std::nullopt;
    case dom::element_type::STRING: {
      std::string_view text = v.get_string().value_unsafe();
      if (text.empty()) return bad(ctx, field, "must not be empty");
      if (text.size() > ctx.options.max_id_bytes)
        return bad(ctx, field, "is longer than " + std::to_string(ctx.options.max_id_bytes) + " bytes");
      out.assign(text);
      break;
    }
    case dom::element_type::INT64: out = std::to_string(v.get_int64().value_unsafe()); break;
    case dom::element_type::UINT64: out = std::to_string(v.get_uint64().value_unsafe()); break;
    default: return bad(ctx, field, "must be a string or an integer");
  }
  present = true;
  return std::nullopt;
}

std::optional<Error> read_integer(const Ctx& ctx, dom::element v, std::string_view field, std::int64_t lo,
                                  std::int64_t hi, std::int64_t& out, bool& present) {
  std::int64_t value = 0;
  switch (v.type()) {
    case dom::element_type::NULL_VALUE: present = false; return std::nullopt;
    case dom::element_type::INT64: value = v.get_int64().value_unsafe(); break;
    case dom::element_type::UINT64: return bad(ctx, field, "is out of range");
    case dom::element_type::STRING: {
      std::string_view raw = v.get_string().value_unsafe();
      auto [p, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), value);
      if (ec != std::errc{} || p != raw.data() + raw.size() || raw.empty())
        return bad(ctx, field, "must be an integer, got \"" + std::string(raw.substr(0, 40)) + "\"");
      break;
    }
    default: return bad(ctx, field, "must be an integer");
  }
  if (value < lo || value > hi)
    return bad(ctx, field,
               "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " +
                   std::to_string(value));
  out = value;
  present = true;
  return std::nullopt;
}

std::optional<Error> read_timestamp(const Ctx& ctx, dom::element v, std::optional<TimestampMs>& out) {
  TimestampMs t = 0;
  switch (v.type()) {
    case dom::element_type::NULL_VALUE: return std::nullopt;
    case dom::element_type::STRING: {
      std::string_view text = v.get_string().value_unsafe();
      auto parsed = parse_iso8601(text);
      if (!parsed)
        return bad(ctx, "timestamp",
                   "is not ISO-8601 or epoch milliseconds: \"" + std::string(text.substr(0, 40)) + "\"");
      t = *parsed;
      break;
    }
    case dom::element_type::INT64: t = v.get_int64().value_unsafe(); break;
    default: return bad(ctx, "timestamp", "must be an ISO-8601 string or integer epoch milliseconds");
  }
  if (t < kEarliestMs) return bad(ctx, "timestamp", "is before 2000-01-01 (epoch seconds instead of milliseconds?)");
  if (ctx.options.now_ms > 0 && t > ctx.options.now_ms + ctx.options.max_future_ms)
    return bad(ctx, "timestamp",
               "is more than " + std::to_string(ctx.options.max_future_ms / 1000) + " s in the future: " +
                   format_iso8601(t));
  out = t;
  return std::nullopt;
}

std::optional<Error> read_price(const Ctx& ctx, dom::element v, std::int64_t& out) {
  constexpr const char* kRule = "must be a non-negative amount with at most 2 decimals";
  switch (v.type()) {
    case dom::element_type::NULL_VALUE: return std::nullopt;
    case dom::element_type::STRING: {
      // Strings keep exact decimal text: "19.99".
      std::string_view raw = v.get_string().value_unsafe();
      auto minor = parse_money(raw, 2);
      if (!minor) return bad(ctx, "price", std::string(kRule) + ", got \"" + std::string(raw.substr(0, 40)) + "\"");
      out = *minor;
      return std::nullopt;
    }
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
    case dom::element_type::DOUBLE: {
      // A JSON number with at most 2 decimals converts exactly: the double
      // nearest to x.yz, times 100, rounds to the intended integer.
      const double d = v.get_double().value_unsafe();
      const double cents = d * 100.0;
      const double rounded = std::nearbyint(cents);
      if (!(d >= 0) || d > 9e13 || std::fabs(cents - rounded) > 1e-6 * std::max(1.0, std::fabs(cents)))
        return bad(ctx, "price", std::string(kRule) + ", got " + std::to_string(d));
      out = static_cast<std::int64_t>(rounded);
      return std::nullopt;
    }
    default: return bad(ctx, "price", std::string(kRule));
  }
}

std::optional<Error> read_string(const Ctx& ctx, dom::element v, std::string_view field, std::string& out) {
  if (v.type() == dom::element_type::NULL_VALUE) return std::nullopt;
  if (v.type() != dom::element_type::STRING) return bad(ctx, field, "must be a string");
  std::string_view text = v.get_string().value_unsafe();
  if (text.size() > ctx.options.max_id_bytes)
    return bad(ctx, field, "is longer than " + std::to_string(ctx.options.max_id_bytes) + " bytes");
  out.assign(text);
  return std::nullopt;
}

std::optional<Error> parse_object(const Ctx& ctx, dom::object obj, RawEvent& ev) {
  bool has_user = false, has_type = false;
  for (auto [key, v] : obj) {
    std::optional<Error> err;
    bool present = false;
    if (key == "user_id") {
      err = read_id(ctx, v, key, ev.user_id, has_user);
    } else if (key == "event_type") {
      std::string type_text;
      err = read_string(ctx, v, key, type_text);
      if (!err && v.type() != dom::element_type::NULL_VALUE) {
        auto t = parse_event_type(type_text);
        if (!t)
          return bad(ctx, "event_type",
                     "must be one of view, click, add_to_cart, remove_from_cart, favorite, purchase, rate; got \"" +
                         type_text.substr(0, 40) + "\"");
        ev.type = *t;
        has_type = true;
      }
    } else if (key == "product_id") {
      err = read_id(ctx, v, key, ev.product_id, present);
    } else if (key == "category_id") {
      err = read_id(ctx, v, key, ev.category_id, present);
    } else if (key == "event_id") {
      err = read_id(ctx, v, key, ev.event_id, present);
    } else if (key == "session_id") {
      err = read_id(ctx, v, key, ev.session_id, present);
    } else if (key == "device") {
      err = read_string(ctx, v, key, ev.device);
    } else if (key == "location") {
      err = read_string(ctx, v, key, ev.location);
    } else if (key == "timestamp") {
      err = read_timestamp(ctx, v, ev.time_ms);
    } else if (key == "price") {
      err = read_price(ctx, v, ev.price_minor);
    } else if (key == "quantity") {
      std::int64_t q = 1;
      err = read_integer(ctx, v, key, 1, 1000000, q, present);
      if (present) ev.quantity = static_cast<std::uint32_t>(q);
    } else if (key == "rating") {
      std::int64_t r = 0;
      err = read_integer(ctx, v, key, 1, 5, r, present);
      if (present) ev.rating = static_cast<std::uint8_t>(r);
    }
    // Unknown fields are ignored so producers may send more than we use.
    if (err) return err;
  }
  if (!has_user) return bad(ctx, "user_id", "is required");
  if (!has_type) return bad(ctx, "event_type", "is required");
  return std::nullopt;
}

Error json_error(long record, simdjson::error_code code) {
  return make_error(Errc::invalid_argument, std::string("invalid JSON: ") + simdjson::error_message(code), "",
                    record);
}

// Parses one document that must be an object (or, when allow_array, an array of objects).
// padded: SIMDJSON_PADDING bytes after data+len are readable; otherwise the
// parser copies the document into its own reused buffer first. max_events
// counts the events of this call, not those already in out.
std::optional<Error> parse_document(dom::parser& parser, const char* data, std::size_t len, bool allow_array,
                                    long record, const ParseOptions& options, std::vector<RawEvent>& out,
                                    bool padded = true) {
  const std::size_t first = out.size();
  dom::element doc;
  if (auto code = parser.parse(reinterpret_cast<const std::uint8_t*>(data), len, !padded).get(doc))
    return json_error(record, code);
  if (doc.type() == dom::element_type::ARRAY && allow_array) {
    long index = 0;
    for (dom::element elem : dom::array(doc.get_array().value_unsafe())) {  // copy: the result temporary dies before the loop
      ++index;
      const Ctx ctx{options, index};
      if (out.size() - first >= options.max_events)
        return bad(ctx, "", "more than " + std::to_string(options.max_events) + " events in one request");
      if (elem.type() != dom::element_type::OBJECT) return bad(ctx, "", "array element is not an object");
      RawEvent ev;
      if (auto err = parse_object(ctx, elem.get_object().value_unsafe(), ev)) return err;
      out.push_back(std::move(ev));
    }
    if (index == 0) return make_error(Errc::invalid_argument, "empty array: no events", "", 0);
  } else if (doc.type() == dom::element_type::OBJECT) {
    const Ctx ctx{options, record};
    RawEvent ev;
    if (auto err = parse_object(ctx, doc.get_object().value_unsafe(), ev)) return err;
    out.push_back(std::move(ev));
  } else {
    return make_error(Errc::invalid_argument,
                      allow_array ? "body must be an event object or an array of event objects"
                                  : "each NDJSON line must be an event object",
                      "", record);
  }
  return std::nullopt;
}

// One parser per thread (I/O threads, the Kafka consumer): its buffers are
// reused across documents.
dom::parser& thread_parser() {
  thread_local dom::parser parser;
  return parser;
}

// The thread's spare events vector (recycle_events()): up to 8 MiB (a
// 10k-event POST's vector is 2.6 MB).
using SpareEvents = ThreadSpare<std::vector<RawEvent>, 0, std::size_t{8} << 20>;

// parse_events() into `out` (empty), which holds the events on success.
std::optional<Error> parse_into(std::string_view body, BodyFormat format, const ParseOptions& options,
                                std::vector<RawEvent>& out);

}  // namespace

Result<std::size_t> append_events(std::string_view document, const ParseOptions& options, std::vector<RawEvent>& out) {
  const std::size_t first = out.size();
  if (auto err = parse_document(thread_parser(), document.data(), document.size(), true, 1, options, out, false)) {
    out.resize(first);
    return std::move(*err);
  }
  return out.size() - first;
}

void recycle_events(std::vector<RawEvent>&& events) noexcept { SpareEvents::give(std::move(events)); }

Result<std::vector<RawEvent>> parse_events(std::string_view body, BodyFormat format, const ParseOptions& options) {
  std::vector<RawEvent> out = SpareEvents::take();
  if (auto err = parse_into(body, format, options, out)) {
    recycle_events(std::move(out));
    return std::move(*err);
  }
  return out;
}

namespace {

std::optional<Error> parse_into(std::string_view body, BodyFormat format, const ParseOptions& options,
                                std::vector<RawEvent>& out) {
  dom::parser& parser = thread_parser();
  if (format == BodyFormat::json) {
    // simdjson reads up to SIMDJSON_PADDING bytes past the end of a document.
    const simdjson::padded_string padded(body);
    if (auto err = parse_document(parser, padded.data(), padded.size(), true, 1, options, out))
      return std::move(*err);
    return std::nullopt;
  }
  // One event a line: sized once (a 10k-event body's events are megabytes;
  // growing by doubling copied them all again and touched fresh pages).
  out.reserve(std::min<std::size_t>(static_cast<std::size_t>(std::count(body.begin(), body.end(), '\n')) + 1,
                                    options.max_events));
  const char* base = body.data();
  const std::size_t total = body.size();
  long line_no = 0;
  std::size_t pos = 0;
  while (pos < total) {
    std::size_t end = body.find('\n', pos);
    if (end == std::string_view::npos) end = total;
    ++line_no;
    std::string_view line = trim(std::string_view(base + pos, end - pos));
    if (!line.empty()) {
      if (out.size() >= options.max_events)
        return make_error(Errc::invalid_argument,
                          "more than " + std::to_string(options.max_events) + " events in one request", "", line_no);
      // simdjson's padding is any readable bytes past the document: the
      // rest of the body, where SIMDJSON_PADDING of it remain, so no line
      // but the last few is copied (the parser copies those into its own
      // buffer), and the body is never copied whole.
      const bool padded = static_cast<std::size_t>(base + total - (line.data() + line.size())) >= simdjson::SIMDJSON_PADDING;
      if (auto err = parse_document(parser, line.data(), line.size(), false, line_no, options, out, padded))
        return std::move(*err);
    }
    pos = end + 1;
  }
  if (out.empty()) return make_error(Errc::invalid_argument, "no events in body", "", 0);
  return std::nullopt;
}

}  // namespace

}  // namespace shoppulse
