// Behaviour only a durable store has: surviving close, kill and reopen, and
// guarding its directory.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <signal.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eventlog_fixtures.hpp"
#include <rocksdb/file_system.h>

#include "rocksdb_store_testing.hpp"
#include "shoppulse/core/log.hpp"
#include "store_keys.hpp"
#include "shoppulse/eventlog/rocksdb_store.hpp"

using namespace shoppulse;
using eventlog_test::make_records;
using eventlog_test::read_all;
using eventlog_test::same_record;

namespace {

EventLogConfig config_for(const std::string& dir, Durability durability = Durability::process) {
  EventLogConfig config;
  config.data_dir = dir;
  config.durability = durability;
  config.block_cache_mb = 8;
  config.write_buffer_mb = 4;
  return config;
}

std::unique_ptr<Storage> open_store(const EventLogConfig& config) {
  auto store = open_rocksdb_store(config);
  INFO((store.ok() ? std::string() : store.error().detail));
  REQUIRE(store.ok());
  return std::move(store).value();
}

}  // namespace

TEST_CASE("reopening recovers the next sequence, dictionary, events, rollups and checkpoints", "[eventlog]") {
  eventlog_test::TempDir dir;
  std::vector<LogRecord> expected;
  {
    auto store = open_store(config_for(dir.path()));
    for (int block = 0; block < 20; ++block) {
      auto records = make_records(store->next_sequence(), 5 + block, block * 10'000);
      const std::vector<DictionaryEntry> entries{{IdKind::product, static_cast<Id>(block + 1), "p" + std::to_string(block)}};
      REQUIRE(store->append(AppendBatch{records, entries}).ok());
      expected.insert(expected.end(), records.begin(), records.end());
    }
    const std::vector<std::pair<std::int64_t, std::string>> minutes{{-5, "a"}, {7, "b"}};
    REQUIRE(store->put_minutes(minutes).ok());
    REQUIRE(store->put_checkpoint("windows", Checkpoint{expected.size(), "state"}).ok());
    REQUIRE(store->apply_retention(0, 0, 0).ok());
  }  // destroying the store closes the database

  auto store = open_store(config_for(dir.path()));
  CHECK(store->next_sequence() == expected.size() + 1);
  auto events = read_all(*store);
  REQUIRE(events.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) REQUIRE(same_record(events[i], expected[i]));

  auto dictionary = store->load_dictionary();
  REQUIRE(dictionary.ok());
  REQUIRE(dictionary->size() == 20);
  CHECK(dictionary->front().value == "p0");
  CHECK(dictionary->back().id == 20);

  const EventLogStats stats = store->stats();
  CHECK(stats.first_sequence == 1);
  CHECK(stats.last_sequence == expected.size());
  CHECK(stats.blocks == 20);

  std::vector<std::int64_t> minutes;
  REQUIRE(store->scan_minutes(-10, 10, [&](std::int64_t m, std::string_view) { minutes.push_back(m); }).ok());
  CHECK(minutes == std::vector<std::int64_t>{-5, 7});
  auto checkpoint = store->get_checkpoint("windows");
  REQUIRE(checkpoint.ok());
  REQUIRE(checkpoint->has_value());
  CHECK((*checkpoint)->covers_through == expected.size());

  REQUIRE(store->append(AppendBatch{make_records(expected.size() + 1, 1, 0), {}}).ok());
}

TEST_CASE("retention survives a reopen and sequences continue after an emptied log", "[eventlog]") {
  eventlog_test::TempDir dir;
  {
    auto store = open_store(config_for(dir.path()));
    for (int block = 0; block < 4; ++block) {
      REQUIRE(store->append(AppendBatch{make_records(store->next_sequence(), 5, block * 60'000), {}}).ok());
    }
    CHECK(store->apply_retention(2 * 60'000, 30'000, 0).value() == 10);
  }
  {
    auto store = open_store(config_for(dir.path()));
    CHECK(store->stats().first_sequence == 11);
    CHECK(store->stats().blocks == 2);
    CHECK(read_all(*store).front().event.sequence == 11);
    CHECK(store->apply_retention(100 * 60'000, 1, 0).value() == 10);
    CHECK(store->next_sequence() == 21);
  }
  auto store = open_store(config_for(dir.path()));
  CHECK(store->stats().blocks == 0);
  CHECK(store->next_sequence() == 21);
}

TEST_CASE("a second open of the same directory fails with io_error while the first is open", "[eventlog]") {
  eventlog_test::TempDir dir;
  auto first = open_store(config_for(dir.path()));
  auto second = open_rocksdb_store(config_for(dir.path()));
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().code == Errc::io_error);
  CHECK_THAT(second.error().detail, Catch::Contains("lock"));
  first.reset();
  CHECK(open_rocksdb_store(config_for(dir.path())).ok());
}

TEST_CASE("opening a directory another process holds fails with io_error", "[eventlog]") {
  eventlog_test::TempDir dir;
  int opened[2];
  int release[2];
  REQUIRE(::pipe(opened) == 0);
  REQUIRE(::pipe(release) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // Holds the database open until the parent closes the release pipe.
    ::close(opened[0]);
    ::close(release[1]);
    auto store = open_rocksdb_store(config_for(dir.path()));
    const char state = store ? 'y' : 'n';
    if (::write(opened[1], &state, 1) != 1) ::_exit(2);
    char ignored;
    while (::read(release[0], &ignored, 1) > 0) {
    }
    ::_exit(0);
  }
  ::close(opened[1]);
  ::close(release[0]);
  char state = 0;
  REQUIRE(::read(opened[0], &state, 1) == 1);
  REQUIRE(state == 'y');

  auto second = open_rocksdb_store(config_for(dir.path()));
  ::close(release[1]);
  ::close(opened[0]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().code == Errc::io_error);
  CHECK_THAT(second.error().detail, Catch::Contains("LOCK"));
}

TEST_CASE("opening a path that cannot be a directory fails with io_error", "[eventlog]") {
  eventlog_test::TempDir dir;
  const std::string file = dir.sub("not-a-dir");
  std::ofstream(file) << "x";
  auto store = open_rocksdb_store(config_for(file + "/db"));
  REQUIRE_FALSE(store.ok());
  CHECK(store.error().code == Errc::io_error);
  CHECK_THAT(store.error().detail, Catch::Contains("not-a-dir"));
}

TEST_CASE("fsync durability appends and reads back", "[eventlog]") {
  eventlog_test::TempDir dir;
  auto store = open_store(config_for(dir.path(), Durability::fsync));
  for (int block = 0; block < 3; ++block) {
    REQUIRE(store->append(AppendBatch{make_records(store->next_sequence(), 100, 0), {}}).ok());
  }
  CHECK(read_all(*store).size() == 300);
}

TEST_CASE("events appended with process durability survive kill -9", "[eventlog]") {
  eventlog_test::TempDir dir;
  constexpr int kBlocks = 50;
  constexpr std::size_t kPerBlock = 20;
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);

  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The child reports each acknowledged append, then dies without closing
    // anything. No Catch2 here: failures become exit codes.
    ::close(pipe_fds[0]);
    auto store = open_rocksdb_store(config_for(dir.path()));
    if (!store) ::_exit(2);
    for (int block = 0; block < kBlocks; ++block) {
      auto records = make_records((*store)->next_sequence(), kPerBlock, block * 1000);
      const std::vector<DictionaryEntry> entries{{IdKind::user, static_cast<Id>(block + 1), "u"}};
      if (!(*store)->append(AppendBatch{records, entries})) ::_exit(3);
      char line[32];
      const int length = std::snprintf(line, sizeof line, "%llu\n",
                                       static_cast<unsigned long long>(records.back().event.sequence));
      if (::write(pipe_fds[1], line, static_cast<std::size_t>(length)) != length) ::_exit(4);
    }
    ::kill(::getpid(), SIGKILL);
    ::_exit(5);  // not reached
  }

  ::close(pipe_fds[1]);
  std::string reported;
  char buffer[256];
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;) reported.append(buffer, static_cast<std::size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);

  // The last line is the newest sequence the child saw acknowledged.
  REQUIRE_FALSE(reported.empty());
  reported.pop_back();
  const Sequence acknowledged = std::stoull(reported.substr(reported.find_last_of('\n') + 1));
  CHECK(acknowledged == kBlocks * kPerBlock);

  auto store = open_store(config_for(dir.path()));
  CHECK(store->next_sequence() == acknowledged + 1);
  const auto events = read_all(*store);
  REQUIRE(events.size() == acknowledged);
  const auto expected_first = make_records(1, kPerBlock, 0);
  for (std::size_t i = 0; i < kPerBlock; ++i) CHECK(same_record(events[i], expected_first[i]));
  CHECK(store->load_dictionary()->size() == static_cast<std::size_t>(kBlocks));
}

TEST_CASE("readers see whole contiguous blocks while the writer appends", "[eventlog][concurrency]") {
  eventlog_test::TempDir dir;
  auto store = open_store(config_for(dir.path()));
  std::atomic<bool> done{false};
  std::atomic<int> bad_reads{0};
  std::thread reader([&] {
    while (!done.load(std::memory_order_acquire)) {
      Sequence expected = 1;
      auto result = store->read(1, [&](std::span<const LogRecord> run) {
        for (const LogRecord& record : run) {
          if (record.event.sequence != expected++) bad_reads.fetch_add(1);
        }
        return true;
      });
      if (!result) bad_reads.fetch_add(1);
      const EventLogStats stats = store->stats();
      if (stats.last_sequence < stats.first_sequence) bad_reads.fetch_add(1);
    }
  });
  for (int block = 0; block < 200; ++block) {
    REQUIRE(store->append(AppendBatch{make_records(store->next_sequence(), 10, block), {}}).ok());
  }
  done.store(true, std::memory_order_release);
  reader.join();
  CHECK(bad_reads.load() == 0);
  CHECK(read_all(*store).size() == 2000);
}

TEST_CASE("memtables of all families together stay near eventlog.memtable_budget_mb", "[eventlog][memory]") {
  // 40 MiB into one family whose own write buffer (64 MiB) would hold it all:
  // only the shared budget can make RocksDB flush.
  const auto largest_memtables = [](std::size_t budget_mb) {
    eventlog_test::TempDir dir;
    EventLogConfig config = config_for(dir.path());
    config.write_buffer_mb = 64;
    config.memtable_budget_mb = budget_mb;
    auto store = open_store(config);
    CHECK(store->stats().memory_budget_bytes == (8 + budget_mb) << 20);
    std::string state(1 << 20, 'x');
    std::uint64_t largest = 0;
    for (int i = 0; i < 40; ++i) {
      state[static_cast<std::size_t>(i)] = 'y';  // every value differs
      REQUIRE(store->put_checkpoint("c" + std::to_string(i), Checkpoint{static_cast<Sequence>(i), state}).ok());
      largest = std::max(largest, store->stats().memtable_bytes);
    }
    return largest;
  };
  const std::uint64_t bounded = largest_memtables(2);
  // The budget's flush threshold, one more memtable while a flush runs, and
  // the value being written when it triggers.
  CHECK(bounded <= std::uint64_t{10} << 20);
  // The same writes under a budget larger than them are all still in memory,
  // so the bound above is the budget's doing.
  CHECK(largest_memtables(1024) >= std::uint64_t{36} << 20);
}

TEST_CASE("a checkpoint of megabytes is taken in as a table file of its own: never in a memtable, newest wins, "
          "and survives a reopen",
          "[eventlog][memory]") {
  eventlog_test::TempDir dir;
  EventLogConfig config = config_for(dir.path());
  // Write buffers far larger than the checkpoints: through a memtable they
  // would all still be in memory.
  config.write_buffer_mb = 256;
  config.memtable_budget_mb = 1024;
  const auto state = [](char fill, std::size_t bytes) {
    std::string s(bytes, fill);
    for (std::size_t i = 0; i < s.size(); i += 4096) s[i] = static_cast<char>(i / 4096);  // not one repeated byte
    return s;
  };
  {
    auto store = open_store(config);
    REQUIRE(store->append(AppendBatch{make_records(1, 10, 1000), {}}).ok());
    // Small, large, small, large under one name: each read sees the newest,
    // whichever way it was written.
    const std::vector<std::pair<char, std::size_t>> writes{{'a', 1000}, {'b', 24 << 20}, {'c', 2000}, {'d', 40 << 20}};
    Sequence through = 0;
    for (const auto& [fill, bytes] : writes) {
      INFO("checkpoint of " << bytes << " bytes");
      REQUIRE(store->put_checkpoint("windows", Checkpoint{++through, state(fill, bytes)}).ok());
      auto got = store->get_checkpoint("windows");
      REQUIRE(got.ok());
      REQUIRE(got->has_value());
      CHECK((*got)->covers_through == through);
      CHECK((*got)->bytes == state(fill, bytes));
      CHECK(store->stats().memtable_bytes < std::uint64_t{8} << 20);
      // A large one is a head and its parts; a small one, one value.
      auto keys = eventlog::raw_keys(*store, "checkpoints");
      REQUIRE(keys.ok());
      CHECK(keys->size() == (bytes < (4u << 20) ? 1 : 1 + bytes / eventlog::kCheckpointPartBytes));
    }
  }
  // A file left by a crash between writing a checkpoint and its taking in
  // is removed at open; the checkpoint before it stands.
  const std::string leftover = dir.path() + "/checkpoint-1-7.sst.tmp";
  std::ofstream(leftover) << "half a table";
  auto store = open_store(config);
  CHECK_FALSE(std::filesystem::exists(leftover));
  auto got = store->get_checkpoint("windows");
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK((*got)->covers_through == 4);
  CHECK((*got)->bytes == state('d', 40 << 20));
  CHECK(read_all(*store).size() == 10);
}

TEST_CASE("a checkpoint in parts is read around the block cache: reading it leaves no part in the cache",
          "[eventlog][memory]") {
  eventlog_test::TempDir dir;
  EventLogConfig config = config_for(dir.path());
  // Room for every part (the cache's 64 shards hold 16 MiB each), so a read
  // that filled the cache would leave them all there.
  config.block_cache_mb = 1024;
  std::string state(4 * eventlog::kCheckpointPartBytes + 12345, 'p');
  for (std::size_t i = 0; i < state.size(); i += 1021) state[i] = static_cast<char>(i);
  {
    auto store = open_store(config);
    REQUIRE(store->append(AppendBatch{make_records(1, 10, 1000), {}}).ok());
    REQUIRE(store->put_checkpoint("windows", Checkpoint{10, state}).ok());
    REQUIRE(eventlog::flush_rocksdb_store(*store).ok());
    auto keys = eventlog::raw_keys(*store, "checkpoints");
    REQUIRE(keys.ok());
    REQUIRE(keys->size() == 1 + 5);  // the head and five parts
  }
  // Reopened: the parts are read from table files, into an empty cache.
  auto store = open_store(config);
  CHECK(store->stats().memtable_bytes < eventlog::kCheckpointPartBytes);
  const std::uint64_t before = store->stats().block_cache_bytes;
  for (int read = 0; read < 2; ++read) {
    auto got = store->get_checkpoint("windows");
    REQUIRE(got.ok());
    REQUIRE(got->has_value());
    CHECK((*got)->bytes == state);
  }
  const std::uint64_t after = store->stats().block_cache_bytes;
  INFO("block cache " << before << " bytes before the reads, " << after << " after");
  // Index and filter blocks at most: a filled cache would hold 16 MiB more.
  CHECK(after < before + eventlog::kCheckpointPartBytes / 4);
}

TEST_CASE("a checkpoint streamed in is stored part by part, and one whose source fails midway stores nothing and "
          "is not a storage problem",
          "[eventlog][memory]") {
  eventlog_test::TempDir dir;
  auto store = open_store(config_for(dir.path()));
  REQUIRE(store->append(AppendBatch{make_records(1, 10, 1000), {}}).ok());
  std::string state(3 * eventlog::kCheckpointPartBytes + 12345, 's');
  for (std::size_t i = 0; i < state.size(); i += 1021) state[i] = static_cast<char>(i);
  // The source hands over as many bytes as asked, never more than a part.
  std::size_t at = 0, largest_read = 0;
  const auto source = [&](std::size_t fail_at) {
    return [&, fail_at](char* dst, std::size_t n) -> Result<void> {
      largest_read = std::max(largest_read, n);
      if (at + n > fail_at) return make_error(Errc::unavailable, "the encoder died");
      std::memcpy(dst, state.data() + at, n);
      at += n;
      return {};
    };
  };
  REQUIRE(store->put_checkpoint_from("windows", 10, store->incarnation(), state.size(), source(state.size())).ok());
  CHECK(largest_read == eventlog::kCheckpointPartBytes);
  auto got = store->get_checkpoint("windows");
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK((*got)->covers_through == 10);
  CHECK((*got)->incarnation == store->incarnation());
  CHECK((*got)->bytes == state);

  // Fails in its third part: the checkpoint before stands, no file is left,
  // and the store reports no problem (its disk is fine).
  at = 0;
  auto failed = store->put_checkpoint_from("windows", 11, store->incarnation(), state.size(),
                                           source(2 * eventlog::kCheckpointPartBytes + 5));
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().detail == "the encoder died");
  CHECK(store->stats().problem.empty());
  for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
    CHECK(entry.path().filename().string().find(".sst.tmp") == std::string::npos);
  auto kept = store->get_checkpoint("windows");
  REQUIRE(kept.ok());
  REQUIRE(kept->has_value());
  CHECK((*kept)->covers_through == 10);
  CHECK((*kept)->bytes == state);

  // A small one streamed in goes through the memtable whole, and drops the
  // parts of the large one.
  at = 0;
  state.resize(100);
  REQUIRE(store->put_checkpoint_from("windows", 12, 0, state.size(), source(state.size())).ok());
  auto small = store->get_checkpoint("windows");
  REQUIRE(small.ok());
  REQUIRE(small->has_value());
  CHECK((*small)->bytes == state);
  auto keys = eventlog::raw_keys(*store, "checkpoints");
  REQUIRE(keys.ok());
  CHECK(keys->size() == 1);
}

TEST_CASE("appends and checkpoints are refused with no_space while they would leave less than "
          "eventlog.min_free_disk_mb free, and go through once the reserve allows them",
          "[eventlog][disk]") {
  eventlog_test::TempDir dir;
  struct statvfs fs {};
  REQUIRE(::statvfs(dir.path().c_str(), &fs) == 0);
  const std::uint64_t available_mb = std::uint64_t{fs.f_bavail} * fs.f_frsize >> 20;
  const auto records = make_records(1, 10, 1000);
  {
    // A reserve a terabyte above what the disk has: nothing gets in.
    EventLogConfig config = config_for(dir.path());
    config.min_free_disk_mb = available_mb + (std::size_t{1} << 20);
    auto store = open_store(config);
    auto refused = store->append(AppendBatch{records, {}});
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == Errc::no_space);
    CHECK(refused.error().detail.find("disk full") != std::string::npos);
    CHECK(refused.error().detail.find("eventlog.min_free_disk_mb") != std::string::npos);
    CHECK(refused.error().detail.find(dir.path()) == std::string::npos);
    CHECK(store->next_sequence() == 1);
    CHECK(store->stats().problem == refused.error().detail);
    auto checkpoint = store->put_checkpoint("windows", Checkpoint{0, "state"});
    REQUIRE_FALSE(checkpoint.ok());
    CHECK(checkpoint.error().code == Errc::no_space);
  }
  {
    // No check: the same append goes in, and the problem is gone.
    EventLogConfig config = config_for(dir.path());
    config.min_free_disk_mb = 0;
    auto store = open_store(config);
    REQUIRE(store->append(AppendBatch{records, {}}).ok());
    CHECK(store->stats().problem.empty());
    CHECK(read_all(*store).size() == records.size());
  }
  if (available_mb < 4096) {
    WARN("SKIPPED: under 4 GiB free; the checkpoint-size part of the reserve test did not run");
    return;
  }
  // A reserve 2 GiB below what is free: a small checkpoint fits, one that
  // would eat into the reserve is refused before a byte of it is read.
  EventLogConfig config = config_for(dir.path());
  config.min_free_disk_mb = available_mb - 2048;
  auto store = open_store(config);
  REQUIRE(store->put_checkpoint("windows", Checkpoint{10, "state"}).ok());
  bool read = false;
  auto big = store->put_checkpoint_from("windows", 20, store->incarnation(), std::uint64_t{3} << 30,
                                        [&](char*, std::size_t) -> Result<void> {
                                          read = true;
                                          return make_error(Errc::internal, "read");
                                        });
  REQUIRE_FALSE(big.ok());
  CHECK(big.error().code == Errc::no_space);
  CHECK_FALSE(read);
  auto kept = store->get_checkpoint("windows");
  REQUIRE(kept.ok());
  REQUIRE(kept->has_value());
  CHECK((*kept)->covers_through == 10);
}

namespace {

// Write-ahead log files whose appends fail with "no space" while full is
// set; every other file, and the WAL otherwise, as the disk has them.
class WalDiskFull final : public ROCKSDB_NAMESPACE::FileSystemWrapper {
 public:
  WalDiskFull() : FileSystemWrapper(ROCKSDB_NAMESPACE::FileSystem::Default()) {}
  const char* Name() const override { return "WalDiskFull"; }
  std::atomic<bool> full{false};

  ROCKSDB_NAMESPACE::IOStatus NewWritableFile(const std::string& f, const ROCKSDB_NAMESPACE::FileOptions& o,
                                              std::unique_ptr<ROCKSDB_NAMESPACE::FSWritableFile>* r,
                                              ROCKSDB_NAMESPACE::IODebugContext* d) override {
    ROCKSDB_NAMESPACE::IOStatus s = target()->NewWritableFile(f, o, r, d);
    if (s.ok() && f.ends_with(".log")) r->reset(new File(std::move(*r), full));
    return s;
  }

 private:
  class File final : public ROCKSDB_NAMESPACE::FSWritableFileWrapper {
   public:
    File(std::unique_ptr<ROCKSDB_NAMESPACE::FSWritableFile>&& file, std::atomic<bool>& full)
        : FSWritableFileWrapper(file.get()), file_(std::move(file)), full_(full) {}
    ROCKSDB_NAMESPACE::IOStatus Append(const ROCKSDB_NAMESPACE::Slice& data, const ROCKSDB_NAMESPACE::IOOptions& o,
                                       ROCKSDB_NAMESPACE::IODebugContext* d) override {
      if (full_.load()) return ROCKSDB_NAMESPACE::IOStatus::NoSpace("test disk full");
      return target()->Append(data, o, d);
    }
    ROCKSDB_NAMESPACE::IOStatus Append(const ROCKSDB_NAMESPACE::Slice& data, const ROCKSDB_NAMESPACE::IOOptions& o,
                                       const ROCKSDB_NAMESPACE::DataVerificationInfo&,
                                       ROCKSDB_NAMESPACE::IODebugContext* d) override {
      return Append(data, o, d);
    }

   private:
    std::unique_ptr<ROCKSDB_NAMESPACE::FSWritableFile> file_;
    std::atomic<bool>& full_;
  };
};

}  // namespace

namespace {

// A disk with no room for a new file: every file RocksDB creates fails
// with "no space"; files already there read as they are.
class NoRoomForNewFiles final : public ROCKSDB_NAMESPACE::FileSystemWrapper {
 public:
  NoRoomForNewFiles() : FileSystemWrapper(ROCKSDB_NAMESPACE::FileSystem::Default()) {}
  const char* Name() const override { return "NoRoomForNewFiles"; }
  ROCKSDB_NAMESPACE::IOStatus NewWritableFile(const std::string&, const ROCKSDB_NAMESPACE::FileOptions&,
                                              std::unique_ptr<ROCKSDB_NAMESPACE::FSWritableFile>*,
                                              ROCKSDB_NAMESPACE::IODebugContext*) override {
    return ROCKSDB_NAMESPACE::IOStatus::NoSpace("test disk full");
  }
};

}  // namespace

TEST_CASE("a start-up on a full disk fails with no_space, saying what to free, and loses nothing", "[eventlog][disk]") {
  eventlog_test::TempDir dir;
  const EventLogConfig config = config_for(dir.path(), Durability::process);
  const auto records = make_records(1, 20, 1000);
  {
    auto store = open_rocksdb_store(config);
    REQUIRE(store.ok());
    REQUIRE(store.value()->append(AppendBatch{records, {}}).ok());
  }
  auto full = eventlog::open_rocksdb_store_on(config, std::make_shared<NoRoomForNewFiles>());
  REQUIRE_FALSE(full.ok());
  const Error& error = full.error();
  INFO(error.detail);
  CHECK(error.code == Errc::no_space);
  CHECK(error.detail.find("its disk is full") != std::string::npos);
  CHECK(error.detail.find("MiB free") != std::string::npos);
  CHECK(error.detail.find("free some space") != std::string::npos);
  CHECK(error.detail.find(dir.path()) != std::string::npos);  // a start-up error names the data dir
  // Once there is room again the log opens with every event.
  auto reopened = open_rocksdb_store(config);
  REQUIRE(reopened.ok());
  CHECK(reopened.value()->next_sequence() == 21);
  std::vector<Sequence> read;
  REQUIRE(reopened.value()->read(1, [&](std::span<const LogRecord> rs) {
    for (const LogRecord& r : rs) read.push_back(r.event.sequence);
    return true;
  }));
  CHECK(read.size() == records.size());
}

TEST_CASE("a WAL append that failed is never written again: writes resume once RocksDB moves to a new WAL, or ask "
          "for a restart, which keeps every acknowledged event",
          "[eventlog][disk]") {
  // Debian's RocksDB aborts (an assertion) when a write reaches a WAL file
  // writer that failed before; Resume() moves to a new WAL only when it has
  // memtable data to flush.
  const bool flushed_first = GENERATE(false, true);
  const Durability durability = GENERATE(Durability::process, Durability::fsync);
  INFO((flushed_first ? "memtables flushed before the failure" : "memtables hold data") << ", "
       << (durability == Durability::fsync ? "fsync" : "process"));
  eventlog_test::TempDir dir;
  EventLogConfig config = config_for(dir.path(), durability);
  config.min_free_disk_mb = 0;
  auto fs = std::make_shared<WalDiskFull>();
  ManualSteadyTime time;
  std::vector<LogRecord> acknowledged;
  {
    auto opened = eventlog::open_rocksdb_store_on(config, fs, time);
    REQUIRE(opened.ok());
    auto store = std::move(opened).value();
    auto records = make_records(1, 50, 1000);
    REQUIRE(store->append(AppendBatch{records, {}}).ok());
    acknowledged = records;
    if (flushed_first) REQUIRE(eventlog::flush_rocksdb_store(*store).ok());

    fs->full = true;
    auto failed = store->append(AppendBatch{make_records(51, 10, 2000), {}});
    REQUIRE_FALSE(failed.ok());
    CHECK(failed.error().code == Errc::no_space);
    fs->full = false;

    // Space is back. RocksDB's own recovery from a full disk (its file
    // manager sees space and resumes it, on a thread of its own) may be
    // under way, and a Resume() meanwhile is busy: the store's next write
    // resumes RocksDB once that recovery has ended and the store's resume
    // interval has passed. The write then goes through, or asks for a
    // restart. Nothing aborts.
    REQUIRE(eventlog::wait_for_rocksdb_recovery(*store));
    // A recovery RocksDB ran by itself (in most runs of this case, not all:
    // it may not have begun yet) logs how it ended; the recent lines are
    // the process's, the last ones this store's.
    if (eventlog::rocksdb_recoveries_by_itself(*store) > 0) {
      const std::vector<std::string> lines = recent_log_lines(32);
      CHECK(std::any_of(lines.begin(), lines.end(), [](const std::string& line) {
        return line.find("event log recovered by itself after a storage failure") != std::string::npos ||
               line.find("event log recovery after a storage failure failed") != std::string::npos;
      }));
    }
    time.advance(eventlog::kResumeInterval);
    auto next = make_records(store->next_sequence(), 10, 3000);
    const Result<void> again = store->append(AppendBatch{next, {}});
    INFO((again.ok() ? std::string("written") : again.error().detail));
    if (again.ok()) {
      acknowledged.insert(acknowledged.end(), next.begin(), next.end());
      CHECK(store->stats().problem.empty());
    } else {
      CHECK(again.error().code == Errc::unavailable);
      CHECK(again.error().detail.find("restart") != std::string::npos);
      CHECK(store->stats().problem.find("restart") != std::string::npos);
      // Refused again, a sync refused in process mode (it writes), and a
      // close without a flush: no abort.
      CHECK_FALSE(store->append(AppendBatch{next, {}}).ok());
      if (durability == Durability::process) CHECK_FALSE(eventlog::sync_rocksdb_store(*store).ok());
    }
    // Memtables that held data give Resume() a flush, and with it a new WAL.
    if (!flushed_first) CHECK(again.ok());
  }
  // A restart: every acknowledged event, and writes go through.
  auto store = open_store(config);
  const auto events = read_all(*store);
  REQUIRE(events.size() == acknowledged.size());
  for (std::size_t i = 0; i < events.size(); ++i) REQUIRE(same_record(events[i], acknowledged[i]));
  REQUIRE(store->append(AppendBatch{make_records(store->next_sequence(), 5, 4000), {}}).ok());
}
