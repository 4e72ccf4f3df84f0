#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "shoppulse/core/dictionary.hpp"

using namespace shoppulse;

namespace {
constexpr std::uint32_t kStrings = 200'000;
std::string name_of(std::uint32_t i) { return "user-" + std::to_string(i * 7919u); }
}  // namespace

TEST_CASE("readers see the right names while one writer interns", "[core][dictionary][concurrency]") {
  InternTable table;
  // The writer publishes how many ids it has handed out; readers only ask
  // about those, as the engine does with ids it received through the ring.
  std::atomic<std::uint32_t> published{0};
  std::atomic<bool> writer_done{false};

  std::thread writer([&] {
    for (std::uint32_t i = 0; i < kStrings; ++i) {
      (void)table.intern(name_of(i));
      published.store(i + 1, std::memory_order_release);
    }
    writer_done.store(true, std::memory_order_release);
  });

  struct Outcome {
    std::uint64_t lookups = 0;
    std::uint64_t wrong_names = 0;
    std::uint64_t wrong_finds = 0;
    std::uint64_t size_behind = 0;
    std::uint64_t while_growing = 0;  // lookup rounds that began during an incremental growth
  };
  auto reader = [&](std::uint64_t seed, Outcome& result) {
    std::mt19937_64 rng(seed);
    for (;;) {
      const bool last_round = writer_done.load(std::memory_order_acquire);
      const std::uint32_t n = published.load(std::memory_order_acquire);
      if (n != 0) {
        if (table.size() < n) ++result.size_behind;
        if (table.growing()) ++result.while_growing;
        for (int k = 0; k < 64; ++k) {
          // Favour the newest ids, the ones just published.
          const std::uint32_t back = static_cast<std::uint32_t>(rng() % std::min<std::uint32_t>(n, 256));
          const std::uint32_t index = (k % 2 == 0) ? n - 1 - back : static_cast<std::uint32_t>(rng() % n);
          const Id id = index + 1;
          ++result.lookups;
          if (table.name(id) != name_of(index)) ++result.wrong_names;
          if (k % 4 == 0) {
            const auto found = table.find(name_of(index));
            if (!found || *found != id) ++result.wrong_finds;
          }
        }
      }
      if (last_round) break;
    }
  };

  Outcome a, b;
  std::thread r1(reader, 1, std::ref(a));
  std::thread r2(reader, 2, std::ref(b));
  writer.join();
  r1.join();
  r2.join();

  CHECK(a.lookups > 0);
  CHECK(b.lookups > 0);
  CHECK(a.wrong_names + b.wrong_names == 0);
  CHECK(a.wrong_finds + b.wrong_finds == 0);
  CHECK(a.size_behind + b.size_behind == 0);
  // The table grew incrementally under the readers: old and new slot arrays
  // both in use while they looked names up.
  CHECK(table.growths() >= 8);
  CHECK(a.while_growing + b.while_growing > 0);
  REQUIRE(table.size() == kStrings);
  for (std::uint32_t i = 0; i < kStrings; i += 997) CHECK(table.name(i + 1) == name_of(i));
}

TEST_CASE("a writer holding every table for a run of new names never deadlocks with readers, who see each run whole",
          "[core][dictionary][concurrency]") {
  // The ingest thread interns a group's names of every kind under
  // Dictionary::WriteHold while callers look names up holding the tables'
  // shared locks in IdKind order, as the ingestor's prepare() does. Names
  // of each run alternate between kinds (an event's user, product,
  // category), the first kind of a run changing from run to run: a writer
  // that took each table's lock at its first new name took them out of
  // IdKind order and deadlocked with such readers.
  constexpr std::array<IdKind, 3> kKinds{IdKind::user, IdKind::product, IdKind::category};
  constexpr int kRuns = 200, kPerRun = 50;
  const auto name = [](IdKind kind, int run, int i) {
    return std::string(to_string(kind)) + "-" + std::to_string(run) + "-" + std::to_string(i);
  };
  Dictionary d;
  std::atomic<int> published{0};
  std::atomic<bool> mismatch{false};
  const auto reader = [&] {
    int checked = 0;
    while (checked < kRuns) {
      const int runs = published.load(std::memory_order_acquire);
      if (runs == checked) {
        std::this_thread::yield();
        continue;
      }
      std::array<std::shared_lock<std::shared_mutex>, kIdKindCount> locks;
      for (std::size_t k = 0; k < kIdKindCount; ++k) locks[k] = d.table(static_cast<IdKind>(k)).read_lock();
      for (int r = checked; r < runs; ++r)
        for (int i = 0; i < kPerRun; ++i)
          for (IdKind kind : kKinds) {
            const std::string n = name(kind, r, i);
            if (d.table(kind).find_hashed_locked(n, InternTable::hash(n)) != Id(r * kPerRun + i + 1))
              mismatch.store(true);
          }
      checked = runs;
    }
  };
  std::thread a(reader), b(reader);
  // A wrong id is recorded, not thrown: the readers wait for every run.
  bool wrong_id = false;
  for (int r = 0; r < kRuns; ++r) {
    Dictionary::WriteHold hold(d);
    for (int i = 0; i < kPerRun; ++i)
      for (std::size_t k = 0; k < kKinds.size(); ++k) {
        const IdKind kind = kKinds[(k + static_cast<std::size_t>(r)) % kKinds.size()];
        const std::string n = name(kind, r, i);
        wrong_id |= d.table(kind).intern_hashed(n, InternTable::hash(n)).first != Id(r * kPerRun + i + 1);
      }
    hold.release();
    published.store(r + 1, std::memory_order_release);
  }
  a.join();
  b.join();
  CHECK_FALSE(wrong_id);
  CHECK_FALSE(mismatch.load());
  for (IdKind kind : kKinds) CHECK(d.table(kind).size() == std::size_t{kRuns} * kPerRun);
}
