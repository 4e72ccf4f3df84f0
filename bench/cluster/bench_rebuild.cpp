// bench_rebuild: what a cluster node does when its owned partitions change,
// on one core: the engine's and the recommender's rebuild for a new set,
// each a read of the whole local RocksDB log through a PartitionFilter
// (key_partition of each event's user) applying the owned events. Simulated
// events are written to a fresh log first (not timed); the set owned is
// --owned of --partitions partitions. Reported per million logged events
// (every logged event is read and tested; the owned share is applied).
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/options.hpp"
#include "common/report.hpp"
#include "common/system_probe.hpp"
#include "common/workload.hpp"
#include "shoppulse/core/partition_ownership.hpp"
#include "shoppulse/eventlog/rocksdb_store.hpp"
#include "shoppulse/recommend/recommender.hpp"
#include "shoppulse/windows/window_engine.hpp"

using namespace shoppulse;
using namespace shoppulse::bench;

namespace {

constexpr TimestampMs kStartMs = 1700000000000;

// Reads the whole log through keep, handing runs of events to apply; returns
// the seconds it took.
template <class Apply>
double rebuild(const EventLog& log, PartitionFilter keep, Apply apply, std::size_t& kept) {
  std::vector<Event> events;
  Stopwatch watch;
  auto read = log.read(1, [&](std::span<const LogRecord> records) {
    events.clear();
    for (const LogRecord& r : records)
      if (keep(r.event)) events.push_back(r.event);
    kept += events.size();
    apply(std::span<const Event>(events));
    return true;
  });
  if (!read) throw std::runtime_error("log read failed: " + read.error().detail);
  return watch.seconds();
}

}  // namespace

int main(int argc, char** argv) {
  Options options(argc, argv);
  const auto n = std::size_t(options.integer("events", 1'000'000, 100'000));
  const auto partitions = std::uint32_t(options.integer("partitions", 6, 6));
  const auto owned = std::uint32_t(options.integer("owned", 3, 3));
  const auto users = std::size_t(options.integer("users", 100'000, 10'000));
  options.finish();

  Report report("bench_rebuild", options.quick());
  report.param("events logged", std::int64_t(n));
  report.param("partitions of the topic", std::int64_t(partitions));
  report.param("partitions owned after the change", std::int64_t(owned));
  report.param("users / products", fmt::format("{} / {}", users, users / 2));

  // The log: simulated events, interned as the ingestor would.
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / fmt::format("bench_rebuild_{}", ::getpid());
  std::filesystem::remove_all(dir);
  Dictionary dictionary;
  {
    EventLogConfig config;
    config.data_dir = dir.string();
    config.retention_max_age_ms = 0;
    auto store = open_rocksdb_store(config);
    if (!store) throw std::runtime_error("open: " + store.error().detail);
    ShopSimulator simulator(shop_config(users, users / 2));
    const std::vector<RawEvent> raw = make_raw_events(simulator, n, kStartMs, 1000.0);
    std::vector<LogRecord> records;
    Sequence next = 1;
    for (std::size_t i = 0; i < raw.size(); i += 8192) {
      records.clear();
      for (std::size_t j = i; j < std::min(raw.size(), i + 8192); ++j)
        records.push_back(LogRecord{intern_event(raw[j], dictionary, next++), {}, {}});
      if (auto r = store.value()->append(AppendBatch{records, {}}); !r)
        throw std::runtime_error("append: " + r.error().detail);
    }
  }
  EventLogConfig config;
  config.data_dir = dir.string();
  config.retention_max_age_ms = 0;
  auto store = open_rocksdb_store(config);
  if (!store) throw std::runtime_error("open: " + store.error().detail);
  const EventLog& log = *store.value();

  PartitionOwnership ownership(dictionary);
  std::vector<std::int32_t> set;
  for (std::uint32_t p = 0; p < owned; ++p) set.push_back(std::int32_t(p));
  ownership.assign(set, partitions);

  std::size_t kept_engine = 0, kept_recommender = 0;
  WindowEngine engine{WindowConfig{}};
  const double engine_s = rebuild(log, PartitionFilter(dictionary, ownership.current()),
                                  [&](std::span<const Event> e) { engine.apply(e); }, kept_engine);
  Recommender recommender{RecommenderConfig{}};
  const double recommender_s = rebuild(log, PartitionFilter(dictionary, ownership.current()),
                                       [&](std::span<const Event> e) { recommender.apply(e); }, kept_recommender);
  std::size_t kept_read = 0;
  const double read_s =
      rebuild(log, PartitionFilter(dictionary, ownership.current()), [](std::span<const Event>) {}, kept_read);

  const double per_million = 1e6 / double(n);
  report.param("events owned (applied)", std::int64_t(kept_engine));
  report.result("log read + partition test only", read_s * per_million, "s per million logged events");
  report.result("window engine rebuild", engine_s * per_million, "s per million logged events");
  report.result("recommender rebuild", recommender_s * per_million, "s per million logged events");
  report.result("both (they run on their own threads, side by side)",
                std::max(engine_s, recommender_s) * per_million, "s per million logged events");
  store.value().reset();
  std::filesystem::remove_all(dir);
  return 0;
}
