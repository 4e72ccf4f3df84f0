#include <algorithm>

#include "rocksdb_layout.hpp"
#include "store_keys.hpp"

namespace shoppulse::eventlog {

Result<std::optional<Checkpoint>> read_checkpoint(rdb::DB& db, rdb::ColumnFamilyHandle* family,
                                                  std::string_view name) {
  const std::string what = "checkpoint '" + std::string(name) + "'";
  rdb::ManagedSnapshot snapshot(&db);
  rdb::ReadOptions read;
  read.snapshot = snapshot.snapshot();
  // A head and a small checkpoint are read like any value; the parts (and a
  // large checkpoint of an older data dir, kept whole) stay out of the cache:
  // the state is read once, at start, and would evict what queries use.
  read.fill_cache = false;
  rdb::PinnableSlice value;
  rdb::Status status = db.Get(read, family, rdb::Slice(name.data(), name.size()), &value);
  if (status.IsNotFound()) return std::optional<Checkpoint>();
  if (!status.ok()) return make_error(Errc::io_error, "get " + what + ": " + status.ToString());
  auto body = unseal(view(value), what);
  if (!body) return std::move(body).error();
  auto head = decode_checkpoint_head(*body);
  if (!head) return std::move(head).error();
  if (!*head) {
    auto whole = decode_checkpoint(*body);
    if (!whole) return std::move(whole).error();
    return std::optional<Checkpoint>(std::move(*whole));
  }
  Checkpoint checkpoint{(*head)->covers_through, {}, (*head)->incarnation};
  value.Reset();
  checkpoint.bytes.reserve((*head)->bytes);
  for (std::uint32_t i = 0; i < (*head)->parts; ++i) {
    const std::string key = checkpoint_part_key(name, i);
    const std::string part_what = what + " part " + std::to_string(i + 1) + " of " + std::to_string((*head)->parts);
    status = db.Get(read, family, key, &value);
    if (status.IsNotFound()) return make_error(Errc::corrupt, "event log: " + part_what + " is missing");
    if (!status.ok()) return make_error(Errc::io_error, "get " + part_what + ": " + status.ToString());
    auto part = unseal(view(value), part_what);
    if (!part) return std::move(part).error();
    checkpoint.bytes.append(*part);
    value.Reset();
  }
  if (checkpoint.bytes.size() != (*head)->bytes)
    return make_error(Errc::corrupt, "event log: " + what + " has " + std::to_string(checkpoint.bytes.size()) +
                                         " bytes in its parts, its head says " + std::to_string((*head)->bytes));
  return std::optional<Checkpoint>(std::move(checkpoint));
}

rdb::Status add_checkpoint_parts(rdb::SstFileWriter& writer, std::string_view name, const CheckpointHead& head,
                                 const CheckpointStore::ByteSource& read, std::optional<Error>& read_failed) {
  rdb::Status status = writer.Put(rdb::Slice(name.data(), name.size()), seal(encode_checkpoint_head(head)));
  std::string part;
  part.reserve(kCheckpointPartBytes + 8);
  for (std::uint32_t i = 0; status.ok() && i < head.parts; ++i) {
    const std::uint64_t at = std::uint64_t{i} * kCheckpointPartBytes;
    part.resize(static_cast<std::size_t>(std::min<std::uint64_t>(kCheckpointPartBytes, head.bytes - at)));
    if (auto got = read(part.data(), part.size()); !got) {
      read_failed = std::move(got).error();
      return rdb::Status::Aborted("checkpoint bytes unavailable");
    }
    part = seal(std::move(part));
    status = writer.Put(checkpoint_part_key(name, i), part);
  }
  return status;
}

}  // namespace shoppulse::eventlog
