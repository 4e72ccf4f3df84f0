#include "shoppulse/adapters/mongodb_store.hpp"

#include <mongoc/mongoc.h>

#include <algorithm>
#include <mutex>

#include "shoppulse/core/dictionary.hpp"
#include "shoppulse/core/log.hpp"

namespace shoppulse {
namespace {

constexpr int kNamespaceExists = 48;
const Logger kLog("mongodb");

Error mongo_error(std::string_view what, const bson_error_t& error) {
  return make_error(Errc::io_error, "mongodb: " + std::string(what) + ": " + error.message);
}

// An owned bson_t (unique_ptr would drop bson_t's alignment attribute).
class Bson {
 public:
  explicit Bson(bson_t* b) : b_(b) {}
  ~Bson() { bson_destroy(b_); }
  Bson(const Bson&) = delete;
  Bson& operator=(const Bson&) = delete;
  bson_t* get() const { return b_; }

 private:
  bson_t* b_;
};

struct CollectionDeleter {
  void operator()(mongoc_collection_t* c) const noexcept { mongoc_collection_destroy(c); }
};
using Collection = std::unique_ptr<mongoc_collection_t, CollectionDeleter>;

struct CursorDeleter {
  void operator()(mongoc_cursor_t* c) const noexcept { mongoc_cursor_destroy(c); }
};
using Cursor = std::unique_ptr<mongoc_cursor_t, CursorDeleter>;

struct BulkDeleter {
  void operator()(mongoc_bulk_operation_t* b) const noexcept { mongoc_bulk_operation_destroy(b); }
};
using Bulk = std::unique_ptr<mongoc_bulk_operation_t, BulkDeleter>;

// The driver's own messages go through our log: warnings and worse as
// warnings, the rest as debug. FerretDB has no endSessions command, which
// the driver sends when a pool closes; that is expected, so debug too.
void on_driver_log(mongoc_log_level_t level, const char* domain, const char* message, void*) {
  static const Logger log("mongodb");
  const std::string_view text(message ? message : "");
  const bool expected = text.find("endSessions") != std::string_view::npos;
  if (level <= MONGOC_LOG_LEVEL_WARNING && !expected) log.warn("driver", {{"domain", domain ? domain : ""}, {"detail", std::string(text)}});
  else log.debug("driver", {{"domain", domain ? domain : ""}, {"detail", std::string(text)}});
}

void init_driver_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    mongoc_log_set_handler(&on_driver_log, nullptr);
    mongoc_init();
  });
}

// A client borrowed from the pool for one call.
class Lease {
 public:
  explicit Lease(mongoc_client_pool_t* pool) : pool_(pool), client_(mongoc_client_pool_pop(pool)) {}
  ~Lease() { mongoc_client_pool_push(pool_, client_); }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  mongoc_client_t* get() const { return client_; }

 private:
  mongoc_client_pool_t* pool_;
  mongoc_client_t* client_;
};

const std::uint8_t* bytes_of(std::string_view s) { return reinterpret_cast<const std::uint8_t*>(s.data()); }

// The binary field `name` of doc, or nullopt.
std::optional<std::string_view> binary_field(const bson_t* doc, const char* name) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, name) || !BSON_ITER_HOLDS_BINARY(&it)) return std::nullopt;
  bson_subtype_t subtype;
  std::uint32_t len = 0;
  const std::uint8_t* data = nullptr;
  bson_iter_binary(&it, &subtype, &len, &data);
  return std::string_view(reinterpret_cast<const char*>(data), len);
}

class MongoDbStore final : public MongoStore {
 public:
  MongoDbStore(MongoConfig config, mongoc_uri_t* uri, mongoc_client_pool_t* pool, std::string database)
      : config_(std::move(config)), uri_(uri), pool_(pool), database_(std::move(database)) {}
  ~MongoDbStore() override {
    mongoc_client_pool_destroy(pool_);
    mongoc_uri_destroy(uri_);
  }

  Result<void> ping() override {
    Lease lease(pool_);
    Bson cmd(BCON_NEW("ping", BCON_INT32(1)));
    bson_t reply;
    bson_error_t error;
    const bool ok = mongoc_client_command_simple(lease.get(), database_.c_str(), cmd.get(), nullptr, &reply, &error);
    bson_destroy(&reply);
    if (!ok) return mongo_error("ping", error);
    return {};
  }

  Result<void> create_collections() {
    Lease lease(pool_);
    for (const char* name : {"rollups", "checkpoints", "checkpoint_chunks", "events"}) {
      Bson cmd(BCON_NEW("create", BCON_UTF8(name)));
      bson_t reply;
      bson_error_t error;
      const bool ok = mongoc_client_command_simple(lease.get(), database_.c_str(), cmd.get(), nullptr, &reply, &error);
      bson_destroy(&reply);
      if (!ok && error.code != kNamespaceExists) return mongo_error(std::string("create ") + name, error);
    }
    return {};
  }

  Result<void> put_minutes(std::span<const std::pair<std::int64_t, std::string>> minutes) override {
    if (minutes.empty()) return {};
    Lease lease(pool_);
    Collection rollups(mongoc_client_get_collection(lease.get(), database_.c_str(), "rollups"));
    Bson upsert(BCON_NEW("upsert", BCON_BOOL(true)));
    const std::size_t step = std::max<std::size_t>(config_.bulk_size, 1);
    for (std::size_t begin = 0; begin < minutes.size(); begin += step) {
      const std::size_t end = std::min(minutes.size(), begin + step);
      Bulk bulk(mongoc_collection_create_bulk_operation_with_opts(rollups.get(), nullptr));
      bson_error_t error;
      for (std::size_t i = begin; i < end; ++i) {
        const auto& [minute, bytes] = minutes[i];
        Bson selector(BCON_NEW("_id", BCON_INT64(minute)));
        Bson doc(BCON_NEW("_id", BCON_INT64(minute), "bytes",
                          BCON_BIN(BSON_SUBTYPE_BINARY, bytes_of(bytes), std::uint32_t(bytes.size()))));
        if (!mongoc_bulk_operation_replace_one_with_opts(bulk.get(), selector.get(), doc.get(), upsert.get(), &error))
          return mongo_error("stage rollup", error);
      }
      bson_t reply;
      const std::uint32_t ok = mongoc_bulk_operation_execute(bulk.get(), &reply, &error);
      bson_destroy(&reply);
      if (!ok) return mongo_error("write rollups", error);
    }
    return {};
  }

  Result<void> scan_minutes(std::int64_t from_minute, std::int64_t to_minute,
                            const std::function<void(std::int64_t, std::string_view)>& fn) const override {
    if (from_minute >= to_minute) return {};
    Lease lease(pool_);
    Collection rollups(mongoc_client_get_collection(lease.get(), database_.c_str(), "rollups"));
    Bson filter(BCON_NEW("_id", "{", "$gte", BCON_INT64(from_minute), "$lt", BCON_INT64(to_minute), "}"));
    Bson opts(BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}"));
    Cursor cursor(mongoc_collection_find_with_opts(rollups.get(), filter.get(), opts.get(), nullptr));
    const bson_t* doc = nullptr;
    while (mongoc_cursor_next(cursor.get(), &doc)) {
      bson_iter_t it;
      if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_INT64(&it))
        return make_error(Errc::corrupt, "mongodb: a rollup's _id is not an int64 minute");
      const std::int64_t minute = bson_iter_int64(&it);
      const auto bytes = binary_field(doc, "bytes");
      if (!bytes) return make_error(Errc::corrupt, "mongodb: rollup " + std::to_string(minute) + " has no bytes");
      fn(minute, *bytes);
    }
    bson_error_t error;
    if (mongoc_cursor_error(cursor.get(), &error)) return mongo_error("scan rollups", error);
    return {};
  }

  Result<void> drop_minutes_before(std::int64_t before_minute) override {
    Lease lease(pool_);
    Collection rollups(mongoc_client_get_collection(lease.get(), database_.c_str(), "rollups"));
    Bson filter(BCON_NEW("_id", "{", "$lt", BCON_INT64(before_minute), "}"));
    bson_error_t error;
    if (!mongoc_collection_delete_many(rollups.get(), filter.get(), nullptr, nullptr, &error))
      return mongo_error("drop rollups", error);
    return {};
  }

  Result<void> archive_events(std::span<const LogRecord> records, const Dictionary& dictionary) override {
    if (records.empty()) return {};
    Lease lease(pool_);
    Collection events(mongoc_client_get_collection(lease.get(), database_.c_str(), "events"));
    Bson upsert(BCON_NEW("upsert", BCON_BOOL(true)));
    const std::size_t step = std::max<std::size_t>(config_.bulk_size, 1);
    for (std::size_t begin = 0; begin < records.size(); begin += step) {
      const std::size_t end = std::min(records.size(), begin + step);
      Bulk bulk(mongoc_collection_create_bulk_operation_with_opts(events.get(), nullptr));
      bson_error_t error;
      std::string name;  // each id's name, copied into the document at once
      for (std::size_t i = begin; i < end; ++i) {
        const LogRecord& r = records[i];
        const Event& e = r.event;
        Bson selector(BCON_NEW("_id", BCON_INT64(std::int64_t(e.sequence))));
        bson_t* doc = bson_new();
        Bson owned(doc);
        BSON_APPEND_INT64(doc, "_id", std::int64_t(e.sequence));
        auto text = [doc](const char* key, std::string_view value) {
          bson_append_utf8(doc, key, -1, value.data(), int(value.size()));
        };
        if (!r.event_id.empty()) text("event_id", r.event_id);
        text("user_id", dictionary.name_into(IdKind::user, e.user, name));
        text("event_type", to_string(e.type));
        if (e.product != kNoId) text("product_id", dictionary.name_into(IdKind::product, e.product, name));
        if (e.category != kNoId) text("category_id", dictionary.name_into(IdKind::category, e.category, name));
        if (e.device != kNoId) text("device", dictionary.name_into(IdKind::device, e.device, name));
        if (e.location != kNoId) text("location", dictionary.name_into(IdKind::location, e.location, name));
        if (!r.session_id.empty()) text("session_id", r.session_id);
        BSON_APPEND_INT64(doc, "timestamp", e.time_ms);
        if (e.price_minor) BSON_APPEND_INT64(doc, "price_minor", e.price_minor);
        BSON_APPEND_INT32(doc, "quantity", std::int32_t(e.quantity));
        if (e.rating) BSON_APPEND_INT32(doc, "rating", e.rating);
        if (!mongoc_bulk_operation_replace_one_with_opts(bulk.get(), selector.get(), doc, upsert.get(), &error))
          return mongo_error("stage event", error);
      }
      bson_t reply;
      const std::uint32_t ok = mongoc_bulk_operation_execute(bulk.get(), &reply, &error);
      bson_destroy(&reply);
      if (!ok) return mongo_error("archive events", error);
    }
    return {};
  }

  // A checkpoint up to checkpoint_chunk_bytes is one document. A larger one
  // goes in chunks under a new generation first; then the head document,
  // replaced in one write, names that generation; then the chunks of any
  // other generation (the previous one, or one a crash left half-written)
  // are deleted. A reader therefore sees the old checkpoint or the new one.
  Result<void> put_checkpoint(std::string_view name, const Checkpoint& checkpoint) override {
    Lease lease(pool_);
    Collection heads(mongoc_client_get_collection(lease.get(), database_.c_str(), "checkpoints"));
    Collection chunks(mongoc_client_get_collection(lease.get(), database_.c_str(), "checkpoint_chunks"));
    const std::string id(name);
    auto head = read_head(heads.get(), id);
    if (!head) return std::move(head).error();
    const std::int64_t generation = (*head ? (*head)->generation : 0) + 1;
    const std::string_view bytes = checkpoint.bytes;
    const std::size_t chunk = std::max<std::size_t>(config_.checkpoint_chunk_bytes, 1);
    const bool chunked = bytes.size() > chunk;
    const std::int64_t count = chunked ? std::int64_t((bytes.size() + chunk - 1) / chunk) : 0;
    Bson upsert(BCON_NEW("upsert", BCON_BOOL(true)));
    bson_error_t error;
    for (std::int64_t i = 0; i < count; ++i) {
      const std::string_view part = bytes.substr(std::size_t(i) * chunk, chunk);
      const std::string chunk_id = id + "/" + std::to_string(generation) + "/" + std::to_string(i);
      Bson selector(BCON_NEW("_id", BCON_UTF8(chunk_id.c_str())));
      Bson doc(BCON_NEW("_id", BCON_UTF8(chunk_id.c_str()), "checkpoint", BCON_UTF8(id.c_str()), "generation",
                        BCON_INT64(generation), "index", BCON_INT64(i), "bytes",
                        BCON_BIN(BSON_SUBTYPE_BINARY, bytes_of(part), std::uint32_t(part.size()))));
      if (!mongoc_collection_replace_one(chunks.get(), selector.get(), doc.get(), upsert.get(), nullptr, &error))
        return mongo_error("write checkpoint chunk", error);
    }
    const std::string_view inline_bytes = chunked ? std::string_view() : bytes;
    Bson selector(BCON_NEW("_id", BCON_UTF8(id.c_str())));
    Bson doc(BCON_NEW("_id", BCON_UTF8(id.c_str()), "covers_through", BCON_INT64(std::int64_t(checkpoint.covers_through)),
                      "incarnation", BCON_INT64(std::int64_t(checkpoint.incarnation)), "generation",
                      BCON_INT64(generation), "chunks", BCON_INT64(count), "size",
                      BCON_INT64(std::int64_t(bytes.size())), "bytes",
                      BCON_BIN(BSON_SUBTYPE_BINARY, bytes_of(inline_bytes), std::uint32_t(inline_bytes.size()))));
    if (!mongoc_collection_replace_one(heads.get(), selector.get(), doc.get(), upsert.get(), nullptr, &error))
      return mongo_error("write checkpoint", error);
    // Chunks of other generations are garbage now; when deleting them fails
    // they go with the next checkpoint's cleanup.
    Bson stale(BCON_NEW("checkpoint", BCON_UTF8(id.c_str()), "generation", "{", "$ne", BCON_INT64(generation), "}"));
    if (!mongoc_collection_delete_many(chunks.get(), stale.get(), nullptr, nullptr, &error))
      kLog.warn("cannot delete old checkpoint chunks", {{"checkpoint", id}, {"detail", error.message}});
    return {};
  }

  Result<std::optional<Checkpoint>> get_checkpoint(std::string_view name) const override {
    Lease lease(pool_);
    Collection heads(mongoc_client_get_collection(lease.get(), database_.c_str(), "checkpoints"));
    Collection chunks(mongoc_client_get_collection(lease.get(), database_.c_str(), "checkpoint_chunks"));
    const std::string id(name);
    // A writer replacing the checkpoint meanwhile deletes the chunks being
    // read; the head is read again then.
    for (int attempt = 0;; ++attempt) {
      auto head = read_head(heads.get(), id);
      if (!head) return std::move(head).error();
      if (!*head) return std::optional<Checkpoint>();
      Head& h = **head;
      if (h.chunks == 0)
        return std::optional<Checkpoint>(Checkpoint{h.covers_through, std::move(h.bytes), h.incarnation});
      auto bytes = read_chunks(chunks.get(), id, h);
      if (bytes) return std::optional<Checkpoint>(Checkpoint{h.covers_through, std::move(bytes).value(), h.incarnation});
      if (attempt == 2) return std::move(bytes).error();
    }
  }

 private:
  struct Head {
    Sequence covers_through = 0;
    std::uint64_t incarnation = 0;  // 0 in a head written before it was recorded
    std::int64_t generation = 0;
    std::int64_t chunks = 0;  // 0: the bytes are inline
    std::int64_t size = 0;
    std::string bytes;
  };

  static std::optional<std::int64_t> int64_field(const bson_t* doc, const char* name) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, name) || !BSON_ITER_HOLDS_INT64(&it)) return std::nullopt;
    return bson_iter_int64(&it);
  }

  static Result<std::optional<Head>> read_head(mongoc_collection_t* heads, const std::string& id) {
    Bson filter(BCON_NEW("_id", BCON_UTF8(id.c_str())));
    Cursor cursor(mongoc_collection_find_with_opts(heads, filter.get(), nullptr, nullptr));
    const bson_t* doc = nullptr;
    std::optional<Head> out;
    if (mongoc_cursor_next(cursor.get(), &doc)) {
      Head h;
      const auto covers = int64_field(doc, "covers_through");
      if (!covers) return make_error(Errc::corrupt, "mongodb: checkpoint " + id + " has no covers_through");
      h.covers_through = Sequence(*covers);
      h.incarnation = std::uint64_t(int64_field(doc, "incarnation").value_or(0));
      // A document without generation or chunks is an inline checkpoint.
      h.generation = int64_field(doc, "generation").value_or(0);
      h.chunks = int64_field(doc, "chunks").value_or(0);
      h.size = int64_field(doc, "size").value_or(0);
      if (h.chunks == 0) {
        const auto bytes = binary_field(doc, "bytes");
        if (!bytes) return make_error(Errc::corrupt, "mongodb: checkpoint " + id + " has no bytes");
        h.bytes.assign(*bytes);
      }
      out = std::move(h);
    }
    bson_error_t error;
    if (mongoc_cursor_error(cursor.get(), &error)) return mongo_error("read checkpoint", error);
    return out;
  }

  static Result<std::string> read_chunks(mongoc_collection_t* chunks, const std::string& id, const Head& head) {
    Bson filter(BCON_NEW("checkpoint", BCON_UTF8(id.c_str()), "generation", BCON_INT64(head.generation)));
    Bson opts(BCON_NEW("sort", "{", "index", BCON_INT32(1), "}"));
    Cursor cursor(mongoc_collection_find_with_opts(chunks, filter.get(), opts.get(), nullptr));
    std::string out;
    out.reserve(std::size_t(std::max<std::int64_t>(head.size, 0)));
    std::int64_t next = 0;
    const bson_t* doc = nullptr;
    while (mongoc_cursor_next(cursor.get(), &doc)) {
      const auto index = int64_field(doc, "index");
      const auto bytes = binary_field(doc, "bytes");
      if (!index || *index != next || !bytes)
        return make_error(Errc::corrupt, "mongodb: checkpoint " + id + " chunk " + std::to_string(next) +
                                             " of generation " + std::to_string(head.generation) + " is missing");
      out.append(*bytes);
      ++next;
    }
    bson_error_t error;
    if (mongoc_cursor_error(cursor.get(), &error)) return mongo_error("read checkpoint chunks", error);
    if (next != head.chunks || std::int64_t(out.size()) != head.size)
      return make_error(Errc::corrupt, "mongodb: checkpoint " + id + " has " + std::to_string(next) + " of " +
                                           std::to_string(head.chunks) + " chunks");
    return out;
  }

  MongoConfig config_;
  mongoc_uri_t* uri_;
  mongoc_client_pool_t* pool_;
  std::string database_;
};

}  // namespace

Result<std::unique_ptr<MongoStore>> open_mongodb_store(const MongoConfig& config) {
  init_driver_once();
  bson_error_t error;
  mongoc_uri_t* uri = mongoc_uri_new_with_error(config.url.c_str(), &error);
  if (!uri) return make_error(Errc::invalid_argument, std::string("mongodb url: ") + error.message, "mongodb.url");
  const auto timeout = std::int32_t(std::clamp<std::int64_t>(config.timeout_ms, 1, 1 << 30));
  if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, timeout);
  if (!mongoc_uri_has_option(uri, MONGOC_URI_SOCKETTIMEOUTMS))
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS, timeout);
  if (!mongoc_uri_has_option(uri, MONGOC_URI_CONNECTTIMEOUTMS))
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, timeout);
  std::string database = config.database;
  if (database.empty()) database = mongoc_uri_get_database(uri) ? mongoc_uri_get_database(uri) : "shoppulse";
  mongoc_client_pool_t* pool = mongoc_client_pool_new(uri);
  if (!pool) {
    mongoc_uri_destroy(uri);
    return make_error(Errc::invalid_argument, "mongodb: cannot create a client pool", "mongodb.url");
  }
  mongoc_client_pool_set_error_api(pool, MONGOC_ERROR_API_VERSION_2);
  auto store = std::make_unique<MongoDbStore>(config, uri, pool, std::move(database));
  if (auto r = store->ping(); !r) return std::move(r).error();
  if (auto r = store->create_collections(); !r) return std::move(r).error();
  return std::unique_ptr<MongoStore>(std::move(store));
}

}  // namespace shoppulse
