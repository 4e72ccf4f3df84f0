// Power cuts in the manner of RocksDB's own fault-injection tests: a
// rocksdb::FileSystem wrapper remembers how much of each file was synced and,
// at a simulated cut, throws away everything after it, as a machine that
// loses power does. Many cuts at random points, in both durability modes,
// against what the writer was told:
//   - every event acknowledged and then synced survives the cut;
//   - in fsync mode every acknowledged event survives;
//   - an acknowledgement (incarnation, sequence) is never vouched for when
//     the sequence now names another event (or none): no sequence is
//     acknowledged twice.
// With checkpoints, checkpoints of several 4 MiB parts are also stored among
// the events (taken in as table files of their own), and after each cut
//   - `verify` finds no damage in the data dir as the cut left it;
//   - the checkpoint reads back whole, as the version last acknowledged or
//     the one whose storing the cut interrupted, never a mix or a part short.
//
// Each writer runs in a forked child (the cut ends it with _exit, as power
// loss ends a process: no destructor, no clean close), and opens the store
// only after the fork; this parent never opens one, so no RocksDB thread
// exists in it to be lost across fork().
#include <catch2/catch.hpp>

#include <rocksdb/file_system.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <string_view>

#include "eventlog_fixtures.hpp"
#include "rocksdb_store_testing.hpp"
#include "store_keys.hpp"
#include "shoppulse/eventlog/rocksdb_store.hpp"

using namespace shoppulse;
namespace rdb = ROCKSDB_NAMESPACE;

namespace {

class CutFileSystem;

// A writable file whose unsynced bytes the cut drops. After the cut it is
// never closed: the file it wraps would, on closing, set the file's length
// back to all it was given (RocksDB's POSIX file trims its preallocated
// space that way), lengthening a file the cut shortened with zeros, where
// a machine that lost power writes nothing more.
class TrackedFile final : public rdb::FSWritableFileWrapper {
 public:
  TrackedFile(std::unique_ptr<rdb::FSWritableFile>&& file, CutFileSystem& fs, std::string path)
      : rdb::FSWritableFileWrapper(file.get()), file_(std::move(file)), fs_(fs), path_(std::move(path)) {}
  ~TrackedFile() override;
  rdb::IOStatus Append(const rdb::Slice& data, const rdb::IOOptions& o, rdb::IODebugContext* d) override;
  rdb::IOStatus Append(const rdb::Slice& data, const rdb::IOOptions& o, const rdb::DataVerificationInfo&,
                       rdb::IODebugContext* d) override {
    return Append(data, o, d);
  }
  rdb::IOStatus PositionedAppend(const rdb::Slice&, uint64_t, const rdb::IOOptions&, rdb::IODebugContext*) override {
    return rdb::IOStatus::NotSupported("positioned append");
  }
  rdb::IOStatus PositionedAppend(const rdb::Slice&, uint64_t, const rdb::IOOptions&, const rdb::DataVerificationInfo&,
                                 rdb::IODebugContext*) override {
    return rdb::IOStatus::NotSupported("positioned append");
  }
  rdb::IOStatus Sync(const rdb::IOOptions& o, rdb::IODebugContext* d) override;
  rdb::IOStatus Fsync(const rdb::IOOptions& o, rdb::IODebugContext* d) override { return Sync(o, d); }
  rdb::IOStatus Truncate(uint64_t size, const rdb::IOOptions& o, rdb::IODebugContext* d) override;
  rdb::IOStatus Close(const rdb::IOOptions& o, rdb::IODebugContext* d) override;

 private:
  std::unique_ptr<rdb::FSWritableFile> file_;
  CutFileSystem& fs_;
  std::string path_;
};

// Remembers, per file written through it, the size at its last sync. The
// cut comes at a chosen write or sync (counted across every file and
// thread, so it may fall inside an append or a background flush), or when
// cut() is called: all further I/O fails, and every file keeps its synced
// bytes plus a random part of the rest (the kernel writes dirty pages back
// on its own schedule), so a WAL or MANIFEST may end in a torn record.
class CutFileSystem final : public rdb::FileSystemWrapper {
 public:
  CutFileSystem(std::uint64_t cut_at_operation, std::uint64_t seed)
      : rdb::FileSystemWrapper(rdb::FileSystem::Default()), cut_at_(cut_at_operation), rng_(seed) {}
  const char* Name() const override { return "CutFileSystem"; }

  rdb::IOStatus NewWritableFile(const std::string& f, const rdb::FileOptions& o,
                                std::unique_ptr<rdb::FSWritableFile>* r, rdb::IODebugContext* d) override {
    std::lock_guard lock(mutex_);
    if (dead_) return rdb::IOStatus::IOError("power is off");
    std::unique_ptr<rdb::FSWritableFile> file;
    rdb::IOStatus s = target()->NewWritableFile(f, o, &file, d);
    if (!s.ok()) return s;
    files_[f] = {0, 0};
    r->reset(new TrackedFile(std::move(file), *this, f));
    return s;
  }
  rdb::IOStatus ReopenWritableFile(const std::string& f, const rdb::FileOptions& o,
                                   std::unique_ptr<rdb::FSWritableFile>* r, rdb::IODebugContext* d) override {
    std::lock_guard lock(mutex_);
    if (dead_) return rdb::IOStatus::IOError("power is off");
    std::unique_ptr<rdb::FSWritableFile> file;
    rdb::IOStatus s = target()->ReopenWritableFile(f, o, &file, d);
    if (!s.ok()) return s;
    std::uint64_t size = 0;
    (void)target()->GetFileSize(f, rdb::IOOptions(), &size, d);
    files_[f] = {size, size};  // what was there before is on disk
    r->reset(new TrackedFile(std::move(file), *this, f));
    return s;
  }
  rdb::IOStatus ReuseWritableFile(const std::string&, const std::string&, const rdb::FileOptions&,
                                  std::unique_ptr<rdb::FSWritableFile>*, rdb::IODebugContext*) override {
    return rdb::IOStatus::NotSupported("reuse");
  }
  rdb::IOStatus RenameFile(const std::string& s, const std::string& t, const rdb::IOOptions& o,
                           rdb::IODebugContext* d) override {
    std::lock_guard lock(mutex_);
    if (dead_) return rdb::IOStatus::IOError("power is off");
    rdb::IOStatus status = target()->RenameFile(s, t, o, d);
    if (status.ok()) {
      auto it = files_.find(s);
      if (it != files_.end()) {
        files_[t] = it->second;
        files_.erase(it);
      }
    }
    return status;
  }
  rdb::IOStatus DeleteFile(const std::string& f, const rdb::IOOptions& o, rdb::IODebugContext* d) override {
    std::lock_guard lock(mutex_);
    if (dead_) return rdb::IOStatus::IOError("power is off");
    files_.erase(f);
    return target()->DeleteFile(f, o, d);
  }

  // The power cut, now, unless it already came.
  void cut() {
    std::lock_guard lock(mutex_);
    cut_locked();
  }

  bool dead() {
    std::lock_guard lock(mutex_);
    return dead_;
  }

  // Moves the cut to the n-th write or sync from now, if that is sooner.
  void cut_within(std::uint64_t n) {
    std::lock_guard lock(mutex_);
    cut_at_ = std::min(cut_at_, operations_ + n);
  }

 private:
  friend class TrackedFile;

  // Counts one write or sync; true when the power goes now.
  bool operation_cuts() {
    if (++operations_ < cut_at_) return false;
    cut_locked();
    return true;
  }

  void cut_locked() {
    if (dead_) return;
    dead_ = true;
    for (const auto& [path, sizes] : files_) {
      if (sizes.written <= sizes.synced) continue;
      const std::uint64_t kept =
          sizes.synced + std::uniform_int_distribution<std::uint64_t>(0, sizes.written - sizes.synced)(rng_) *
                             std::uniform_int_distribution<int>(0, 1)(rng_);
      (void)::truncate(path.c_str(), static_cast<off_t>(kept));
    }
  }

  std::uint64_t cut_at_;
  std::uint64_t operations_ = 0;
  std::mt19937_64 rng_;
  struct Sizes {
    std::uint64_t written = 0, synced = 0;
  };
  std::mutex mutex_;  // every operation holds it, so the cut happens between two
  bool dead_ = false;
  std::map<std::string, Sizes> files_;
};

rdb::IOStatus TrackedFile::Append(const rdb::Slice& data, const rdb::IOOptions& o, rdb::IODebugContext* d) {
  std::lock_guard lock(fs_.mutex_);
  if (fs_.dead_ || fs_.operation_cuts()) return rdb::IOStatus::IOError("power is off");
  rdb::IOStatus s = target()->Append(data, o, d);
  if (s.ok()) fs_.files_[path_].written += data.size();
  return s;
}

rdb::IOStatus TrackedFile::Sync(const rdb::IOOptions& o, rdb::IODebugContext* d) {
  std::lock_guard lock(fs_.mutex_);
  if (fs_.dead_ || fs_.operation_cuts()) return rdb::IOStatus::IOError("power is off");
  // Stable storage is not what is simulated here; the bookkeeping is.
  rdb::IOStatus s = target()->Flush(o, d);
  if (s.ok()) fs_.files_[path_].synced = fs_.files_[path_].written;
  return s;
}

rdb::IOStatus TrackedFile::Truncate(uint64_t size, const rdb::IOOptions& o, rdb::IODebugContext* d) {
  std::lock_guard lock(fs_.mutex_);
  if (fs_.dead_) return rdb::IOStatus::IOError("power is off");
  rdb::IOStatus s = target()->Truncate(size, o, d);
  if (s.ok()) {
    auto& sizes = fs_.files_[path_];
    sizes.written = size;
    sizes.synced = std::min(sizes.synced, size);
  }
  return s;
}

TrackedFile::~TrackedFile() {
  // Under the lock, so the cut cannot come between the look and the close.
  std::lock_guard lock(fs_.mutex_);
  if (fs_.dead_) (void)file_.release();  // its descriptor goes with the process
  else file_.reset();
}

rdb::IOStatus TrackedFile::Close(const rdb::IOOptions& o, rdb::IODebugContext* d) {
  std::lock_guard lock(fs_.mutex_);
  if (fs_.dead_) return rdb::IOStatus::IOError("power is off");
  return target()->Close(o, d);
}

struct Ack {
  std::uint64_t incarnation = 0;
  std::string event_id;
};

// What the writers were told, as the parent learns it from their pipes.
struct Ledger {
  std::map<Sequence, Ack> acks;  // the latest acknowledgement of each sequence
  Sequence synced_through = 0;   // the highest sync a writer saw succeed
  std::uint64_t acknowledged = 0, lost_unsynced = 0, cuts = 0, incarnations = 1;
  std::uint64_t worst_loss = 0;  // most acknowledged events one cut took
  bool opened = false;           // a writer has opened the store: there is a database to verify
  // Checkpoints (versions count up from 1; 0 is none).
  std::uint64_t checkpoint_acked = 0;    // what the store holds as far as the writers were told
  std::uint64_t checkpoint_pending = 0;  // one whose storing the cut interrupted: it may have landed
  std::uint64_t checkpoint_highest = 0;  // the newest version ever begun
  std::uint64_t checkpoints_stored = 0, cuts_in_checkpoint = 0, pending_landed = 0;
};

EventLogConfig config_for(const std::string& dir, Durability durability) {
  EventLogConfig config;
  config.data_dir = dir;
  config.durability = durability;
  config.block_cache_mb = 8;
  config.write_buffer_mb = 1;  // memtable flushes, new WALs and MANIFEST edits happen between cuts
  config.wal_sync_interval_ms = 3'600'000;  // the writer syncs at chosen points
  return config;
}

std::string event_id_of(int cycle, Sequence sequence) {
  return "c" + std::to_string(cycle) + "-" + std::to_string(sequence);
}

constexpr std::string_view kCheckpointName = "windows";

// Checkpoint `version`: one to three whole 4 MiB parts and a short last one
// (so a newer one may have fewer parts than the one before), its version
// in its first 8 bytes, the rest bytes that do not compress (so its table
// file is as large as it, and a cut may fall anywhere in writing it).
std::string checkpoint_state(std::uint64_t version) {
  const std::size_t size = eventlog::kCheckpointPartBytes * (1 + version % 3) + 1000 * (version % 7) + 8;
  std::string state(size, '\0');
  std::mt19937_64 bytes(version);
  for (std::size_t at = 0; at + 8 <= size; at += 8) {
    const std::uint64_t word = at == 0 ? version : bytes();
    std::memcpy(state.data() + at, &word, sizeof word);
  }
  return state;
}

// Runs in the child. Reopens after the previous cut, checks the ledger
// against what survived, then appends and syncs at random and cuts. Writes
// one line per fact to `out`; returns the exit code.
int writer(const std::string& dir, Durability durability, bool checkpoints, int cycle, std::uint64_t seed,
           const Ledger& ledger, std::FILE* out) {
  std::mt19937_64 rng(seed);
  // Somewhere within what this round's appends and syncs take (a round does
  // at most a few hundred), or never, in which case the cut follows the
  // last append.
  const auto cut_at = std::uniform_int_distribution<std::uint64_t>(1, 400)(rng);
  auto fs = std::make_shared<CutFileSystem>(cut_at, rng());
  if (checkpoints && ledger.opened) {
    // The data dir as the cut left it, before the store's open tidies it.
    const VerifyReport report = verify_rocksdb_store(config_for(dir, durability));
    if (!report.opened || !report.problems.empty()) {
      std::string problems;
      for (const std::string& problem : report.problems) problems += problem + "; ";
      std::fprintf(out, "F verify after cut %d: %s\n", cycle, problems.c_str());
      return 1;
    }
  }
  auto opened = eventlog::open_rocksdb_store_on(config_for(dir, durability), fs);
  if (!opened && fs->dead()) ::_exit(0);  // the power went while opening
  if (!opened) {
    std::fprintf(out, "F open failed after cut %d: %s\n", cycle, opened.error().detail.c_str());
    return 1;
  }
  Storage& store = *opened.value();
  const Sequence last = store.next_sequence() - 1;
  std::map<Sequence, std::string> present;
  auto read = store.read(1, [&](std::span<const LogRecord> run) {
    for (const LogRecord& r : run) present[r.event.sequence] = r.event_id;
    return true;
  });
  if (!read) {
    std::fprintf(out, "F read failed: %s\n", read.error().detail.c_str());
    return 1;
  }
  if (last < ledger.synced_through) {
    std::fprintf(out, "F synced events lost: log ends at %llu, synced through %llu\n",
                 static_cast<unsigned long long>(last), static_cast<unsigned long long>(ledger.synced_through));
    return 1;
  }
  std::uint64_t lost = 0;
  for (const auto& [sequence, ack] : ledger.acks) {
    const auto it = present.find(sequence);
    const bool same = it != present.end() && it->second == ack.event_id;
    const bool vouched = store.still_names_same_event(ack.incarnation, sequence);
    if (vouched && !same) {
      std::fprintf(out, "F sequence %llu acknowledged as %s is vouched for but names %s\n",
                   static_cast<unsigned long long>(sequence), ack.event_id.c_str(),
                   it == present.end() ? "nothing" : it->second.c_str());
      return 1;
    }
    if (!same) {
      if (durability == Durability::fsync || sequence <= ledger.synced_through) {
        std::fprintf(out, "F acknowledged event %s at %llu lost\n", ack.event_id.c_str(),
                     static_cast<unsigned long long>(sequence));
        return 1;
      }
      ++lost;
    }
  }
  std::fprintf(out, "O %llu %llu %llu\n", static_cast<unsigned long long>(store.incarnation()),
               static_cast<unsigned long long>(lost), static_cast<unsigned long long>(last));
  if (checkpoints) {
    auto got = store.get_checkpoint(kCheckpointName);
    if (!got) {
      std::fprintf(out, "F checkpoint unreadable: %s\n", got.error().detail.c_str());
      return 1;
    }
    std::uint64_t version = 0;
    if (*got) {
      const std::string& bytes = (*got)->bytes;
      if (bytes.size() >= sizeof version) std::memcpy(&version, bytes.data(), sizeof version);
      if (version == 0 || bytes != checkpoint_state(version)) {
        std::fprintf(out, "F checkpoint of %zu bytes is not one version whole (it says %llu)\n", bytes.size(),
                     static_cast<unsigned long long>(version));
        return 1;
      }
    }
    const bool interrupted_one = ledger.checkpoint_pending != 0 && version == ledger.checkpoint_pending;
    if (version != ledger.checkpoint_acked && !interrupted_one) {
      std::fprintf(out, "F checkpoint version %llu read, %llu acknowledged, %llu interrupted\n",
                   static_cast<unsigned long long>(version), static_cast<unsigned long long>(ledger.checkpoint_acked),
                   static_cast<unsigned long long>(ledger.checkpoint_pending));
      return 1;
    }
    std::fprintf(out, "K %llu\n", static_cast<unsigned long long>(version));
  }
  std::fflush(out);
  std::uint64_t next_version = ledger.checkpoint_highest + 1;
  // For verify, which checks that every id an event uses is in the
  // dictionary: every id make_records uses, in each append (a put again of
  // the same entry changes nothing), so whatever survives a cut has them.
  std::vector<DictionaryEntry> dictionary;
  for (Id user = 1; user <= 97; ++user) dictionary.push_back({IdKind::user, user, "u" + std::to_string(user)});
  for (Id product = 1; product <= 12; ++product)
    dictionary.push_back({IdKind::product, product, "p" + std::to_string(product)});

  const int appends = std::uniform_int_distribution<int>(1, 60)(rng);
  for (int a = 0; a < appends; ++a) {
    const auto count = std::uniform_int_distribution<std::size_t>(1, 400)(rng);
    auto records = eventlog_test::make_records(store.next_sequence(), count, 1'000'000 + cycle * 1'000'000LL);
    for (LogRecord& r : records) r.event_id = event_id_of(cycle, r.event.sequence);
    auto appended = store.append(AppendBatch{records, checkpoints ? dictionary : std::vector<DictionaryEntry>{}});
    if (!appended && fs->dead()) ::_exit(0);  // the cut came during this append: not acknowledged
    if (!appended) {
      std::fprintf(out, "F append failed: %s\n", appended.error().detail.c_str());
      return 1;
    }
    std::fprintf(out, "A %llu %llu %llu\n", static_cast<unsigned long long>(store.incarnation()),
                 static_cast<unsigned long long>(records.front().event.sequence),
                 static_cast<unsigned long long>(records.back().event.sequence));
    if (std::uniform_int_distribution<int>(0, 9)(rng) < 3) {
      auto synced = eventlog::sync_rocksdb_store(store);
      if (!synced && fs->dead()) ::_exit(0);
      if (!synced) {
        std::fprintf(out, "F sync failed: %s\n", synced.error().detail.c_str());
        return 1;
      }
      std::fprintf(out, "S %llu\n", static_cast<unsigned long long>(store.stats().synced_through));
    }
    if (checkpoints && std::uniform_int_distribution<int>(0, 9)(rng) == 0) {
      // Announced before it is begun: from here the cut may land it or not.
      const std::uint64_t version = next_version++;
      std::fprintf(out, "P %llu\n", static_cast<unsigned long long>(version));
      std::fflush(out);
      // Half the time the cut comes within the next few dozen writes and
      // syncs: while the table file is written, synced or taken in, the old
      // parts dropped, or soon after.
      if (std::uniform_int_distribution<int>(0, 1)(rng) == 0)
        fs->cut_within(std::uniform_int_distribution<std::uint64_t>(1, 40)(rng));
      auto put = store.put_checkpoint(kCheckpointName, Checkpoint{0, checkpoint_state(version), store.incarnation()});
      if (!put && fs->dead()) ::_exit(0);
      if (!put) {
        std::fprintf(out, "F checkpoint failed: %s\n", put.error().detail.c_str());
        return 1;
      }
      std::fprintf(out, "C %llu\n", static_cast<unsigned long long>(version));
    }
    std::fflush(out);
  }
  fs->cut();
  std::fflush(out);
  ::_exit(0);  // power is gone: no destructor runs, nothing more is written
}

void run_cuts(Durability durability, int cuts, std::uint64_t seed, bool checkpoints = false) {
  eventlog_test::TempDir dir;
  Ledger ledger;
  std::uint64_t last_incarnation = 0;
  std::mt19937_64 rng(seed);
  for (int cycle = 0; cycle <= cuts; ++cycle) {
    const std::uint64_t child_seed = rng();
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      ::close(fds[0]);
      std::FILE* out = ::fdopen(fds[1], "w");
      const int code =
          writer(dir.path(), durability, checkpoints, cycle, cycle == cuts ? 0 : child_seed, ledger, out);
      std::fflush(out);
      ::_exit(code);
    }
    ::close(fds[1]);
    std::FILE* in = ::fdopen(fds[0], "r");
    char line[512];
    std::string failure;
    std::uint64_t incarnation = 0;
    while (std::fgets(line, sizeof line, in)) {
      std::istringstream fields(line);
      char kind = 0;
      fields >> kind;
      if (kind == 'F') failure = line;
      else if (kind == 'O') {
        std::uint64_t lost = 0;
        Sequence survived_through = 0;
        fields >> incarnation >> lost >> survived_through;
        ledger.opened = true;
        ledger.lost_unsynced += lost;
        ledger.worst_loss = std::max(ledger.worst_loss, lost);
        if (last_incarnation != 0 && incarnation != last_incarnation) ++ledger.incarnations;
        last_incarnation = incarnation;
        // The lost ones were checked (not vouched for) and are counted once.
        ledger.acks.erase(ledger.acks.upper_bound(survived_through), ledger.acks.end());
      } else if (kind == 'A') {
        std::uint64_t inc = 0;
        Sequence first = 0, last = 0;
        fields >> inc >> first >> last;
        for (Sequence s = first; s <= last; ++s) ledger.acks[s] = Ack{inc, event_id_of(cycle, s)};
        ledger.acknowledged += last - first + 1;
      } else if (kind == 'S') {
        Sequence synced = 0;
        fields >> synced;
        ledger.synced_through = std::max(ledger.synced_through, synced);
      } else if (kind == 'K') {  // the checkpoint the store holds after the cut
        std::uint64_t version = 0;
        fields >> version;
        if (version != 0 && version == ledger.checkpoint_pending) ++ledger.pending_landed;
        ledger.checkpoint_acked = version;
        ledger.checkpoint_pending = 0;
      } else if (kind == 'P') {
        fields >> ledger.checkpoint_pending;
        ledger.checkpoint_highest = ledger.checkpoint_pending;
      } else if (kind == 'C') {
        fields >> ledger.checkpoint_acked;
        ledger.checkpoint_pending = 0;
        ++ledger.checkpoints_stored;
      }
    }
    if (ledger.checkpoint_pending != 0 && cycle < cuts) ++ledger.cuts_in_checkpoint;
    std::fclose(in);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    INFO("cut " << cycle << " (seed " << seed << "): " << failure);
    REQUIRE(failure.empty());
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    if (cycle < cuts) ++ledger.cuts;
  }
  // The figures for the README's durability section.
  std::printf("power cuts (%s): %llu cuts, %llu events acknowledged, %llu acknowledged but unsynced events lost "
              "(at most %llu in one cut), 0 synced events lost, 0 sequences vouched for twice, %llu incarnations\n",
              durability == Durability::fsync ? "fsync" : "process",
              static_cast<unsigned long long>(ledger.cuts), static_cast<unsigned long long>(ledger.acknowledged),
              static_cast<unsigned long long>(ledger.lost_unsynced), static_cast<unsigned long long>(ledger.worst_loss),
              static_cast<unsigned long long>(ledger.incarnations));
  if (durability == Durability::fsync) CHECK(ledger.lost_unsynced == 0);
  CHECK(ledger.cuts == static_cast<std::uint64_t>(cuts));
  if (checkpoints) {
    std::printf("power cuts with checkpoints: %llu checkpoints of 4-12 MiB stored, %llu cuts while one was being "
                "stored (%llu of those landed), every one read back whole as the old or the new version, verify "
                "clean after every cut\n",
                static_cast<unsigned long long>(ledger.checkpoints_stored),
                static_cast<unsigned long long>(ledger.cuts_in_checkpoint),
                static_cast<unsigned long long>(ledger.pending_landed));
    // The cuts did fall among checkpoints being stored.
    CHECK(ledger.checkpoints_stored > 0);
    CHECK(ledger.cuts_in_checkpoint > 0);
  }
}

}  // namespace

TEST_CASE("process mode: power cuts lose only unsynced acknowledgements, and never vouch for a reused sequence",
          "[eventlog][fault]") {
  run_cuts(Durability::process, 40, 20261203);
}

TEST_CASE("fsync mode: power cuts lose no acknowledged event", "[eventlog][fault]") {
  run_cuts(Durability::fsync, 25, 977);
}

TEST_CASE("power cuts while checkpoints of several parts are stored leave the old or the new one whole, and verify "
          "finds no damage",
          "[eventlog][fault]") {
  run_cuts(Durability::process, 30, 4242, /*checkpoints=*/true);
}
