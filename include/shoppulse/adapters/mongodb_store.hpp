#pragma once
// Per-minute rollups and checkpoints in MongoDB (or anything speaking its
// protocol), for shops whose reporting already reads MongoDB.
//
// Collections (in mongodb.database; created at open when missing):
//   rollups      { _id: <minute, int64: ms since epoch / 60000>,
//                  bytes: <binary: the windows module's encoded rollup> }
//   checkpoints  { _id: <name, string>, covers_through: <int64 sequence>,
//                  generation: <int64>, chunks: <int64>, size: <int64 bytes>,
//                  bytes: <binary state when chunks = 0, else empty> }
//   checkpoint_chunks
//                { _id: "<name>/<generation>/<index>", checkpoint: <name>,
//                  generation: <int64>, index: <int64>, bytes: <binary part> }
//   events       { _id: <int64 log sequence>, event_id, user_id, event_type,
//                  product_id, category_id, device, location, session_id
//                  (strings; the optional ones only when set),
//                  timestamp: <int64 ms since epoch, event time>,
//                  price_minor: <int64 cents, when set>, quantity: <int32>,
//                  rating: <int32, rate events> }  (mongodb.archive_events)
// A checkpoint larger than checkpoint_chunk_bytes is split into chunks
// (MongoDB's documents stop at 16 MiB): the chunks of a new generation are
// written first, then the head document is replaced (one atomic write), then
// other generations' chunks are deleted, so a reader sees the whole old or
// the whole new checkpoint, never a mix.
// The only index is the one on _id every collection has; every read and
// write goes by _id (point upserts, range scans, range deletes). Retention
// is a range delete (drop_minutes_before), not a TTL index.
// Writes are upserts by _id, so writing a minute again is idempotent; a
// batch of minutes goes in bulks of at most mongodb.bulk_size upserts.
//
// Lifecycle: open_mongodb_store() connects, checks the server answers and
// creates the collections; the store lives until destroyed.
// Threading: any thread (a client pool hands each call its own connection).
#include <cstdint>
#include <memory>
#include <string>

#include "shoppulse/core/result.hpp"
#include "shoppulse/core/dictionary.hpp"
#include "shoppulse/eventlog/storage.hpp"

namespace shoppulse {

struct MongoConfig {
  std::string url;                  // mongodb://host:port/db; empty: no MongoDB (env MONGODB_URL)
  std::string database;             // empty: the URL's database, else "shoppulse"
  std::size_t bulk_size = 40;       // most upserts in one bulk write
  std::int64_t timeout_ms = 2000;   // server selection and socket timeout; ms
  std::size_t checkpoint_chunk_bytes = std::size_t{1} << 20;  // larger checkpoints are chunked; bytes
};

class MongoStore : public RollupStore, public CheckpointStore {
 public:
  ~MongoStore() override = default;
  // Round trip to the server; ok when it answers.
  virtual Result<void> ping() = 0;
  // Upserts each record into `events` by _id = its sequence, in bulks of at
  // most bulk_size; writing a record again replaces it with the same document.
  virtual Result<void> archive_events(std::span<const LogRecord> records, const Dictionary& dictionary) = 0;
};

Result<std::unique_ptr<MongoStore>> open_mongodb_store(const MongoConfig& config);

}  // namespace shoppulse
