// bench_dictionary_keys: what the event log's dictionary entries cost to
// write, per layout, on one thread.
//
// Each append of the event log writes the batch's new ids with the events,
// into a column family whose memtable is RocksDB's skip list. The keys and
// values are the log's own (store_keys.hpp). On the amplified
// Taobao file an append of 8192 events brings ~4,900 new user ids and
// ~6,300 new item ids (3.0 M users and 3.8 M items in 4.96 M events).
// The layouts, each into a fresh database with the WAL on and no sync:
//   per_id_skiplist   one key per id, the skip-list memtable (the layout
//                     before format 3)
//   per_id_vector     one key per id, RocksDB's vector memtable (inserts
//                     append; a point read of a mutable memtable copies and
//                     sorts it, so the log could not use it as is)
//   run_per_kind      one key per kind and append, (kind, first, last id)
//                     -> the names (the log's layout since format 3: the
//                     new ids of an append are consecutive)
// Printed per layout: ns per entry (wall, one thread) and the memtable's
// key comparisons per entry (RocksDB's perf context).
#include <fmt/format.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/options.h>
#include <rocksdb/perf_context.h>
#include <rocksdb/perf_level.h>
#include <rocksdb/write_batch.h>

#include "common/machine_limits.hpp"
#include "common/options.hpp"
#include "common/report.hpp"
#include "common/system_probe.hpp"
#include "store_keys.hpp"  // the event log's own key and run encodings

using namespace shoppulse::bench;

namespace {

enum class Layout { per_id_skiplist, per_id_vector, run_per_kind };

const char* name_of(Layout l) {
  switch (l) {
    case Layout::per_id_skiplist: return "per_id_skiplist";
    case Layout::per_id_vector: return "per_id_vector";
    case Layout::run_per_kind: return "run_per_kind";
  }
  return "?";
}

// A Taobao id after amplification: copy * 10,000,000 + the sample's id.
std::string name_for(shoppulse::Id id) { return std::to_string(10'000'000ull * (id % 45) + 100'000 + id); }

struct Outcome {
  double ns_per_entry = 0;
  double comparisons_per_entry = 0;
  bool ok = false;
};

Outcome run(Layout layout, std::int64_t appends, std::int64_t users_per_append, std::int64_t items_per_append,
            Report& report) {
  TempDir dir(std::string("shoppulse-bench-dictionary-") + name_of(layout));
  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  rocksdb::ColumnFamilyOptions dictionary_options(options);
  if (layout == Layout::per_id_vector) {
    options.allow_concurrent_memtable_write = false;  // the vector memtable cannot take concurrent inserts
    dictionary_options.memtable_factory = std::make_shared<rocksdb::VectorRepFactory>();
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> families{{rocksdb::kDefaultColumnFamilyName, options},
                                                        {"dictionary", dictionary_options}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  const rocksdb::Status opened = rocksdb::DB::Open(options, dir.path().string(), families, &handles, &raw);
  if (!opened.ok()) {
    report.note(fmt::format("{}: open failed: {}", name_of(layout), opened.ToString()));
    return {};
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::ColumnFamilyHandle* dictionary = handles[1];

  shoppulse::Id next[2] = {1, 1};
  const std::int64_t per_kind[2] = {users_per_append, items_per_append};
  std::uint64_t entries = 0;
  shoppulse::ByteWriter run_value;
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableCount);
  rocksdb::get_perf_context()->Reset();
  Stopwatch watch;
  for (std::int64_t a = 0; a < appends; ++a) {
    rocksdb::WriteBatch batch;
    for (std::uint8_t k = 0; k < 2; ++k) {
      const auto kind = static_cast<shoppulse::IdKind>(k);
      const shoppulse::Id first = next[k];
      run_value.clear();
      for (std::int64_t i = 0; i < per_kind[k]; ++i) {
        const shoppulse::Id id = next[k]++;
        const std::string name = name_for(id);
        if (layout == Layout::run_per_kind) {
          run_value.bytes(name);
        } else {
          batch.Put(dictionary, shoppulse::eventlog::dictionary_key(kind, id), name);
        }
      }
      if (layout == Layout::run_per_kind)
        batch.Put(dictionary, shoppulse::eventlog::dictionary_run_key(kind, first, next[k] - 1),
                  rocksdb::Slice(run_value.view().data(), run_value.size()));
      entries += static_cast<std::uint64_t>(per_kind[k]);
    }
    const rocksdb::Status written = db->Write(rocksdb::WriteOptions(), &batch);
    if (!written.ok()) {
      report.note(fmt::format("{}: write failed: {}", name_of(layout), written.ToString()));
      return {};
    }
  }
  const double seconds = watch.seconds();
  Outcome out;
  out.comparisons_per_entry =
      static_cast<double>(rocksdb::get_perf_context()->user_key_comparison_count) / static_cast<double>(entries);
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
  out.ns_per_entry = seconds * 1e9 / static_cast<double>(entries);
  out.ok = true;
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options opts(argc, argv);
  const std::int64_t appends = opts.integer("appends", 600, 20);
  const std::int64_t users = opts.integer("users-per-append", 4900, 490);
  const std::int64_t items = opts.integer("items-per-append", 6300, 630);
  const std::int64_t rounds = opts.integer("rounds", 3, 1);
  opts.finish();

  Report report("bench_dictionary_keys", opts.quick());
  report.param("appends", appends);
  report.param("new user ids per append", users);
  report.param("new item ids per append", items);
  report.param("rounds (layouts alternated; best of)", rounds);
  measure_machine_limits(report, opts.quick());

  report.section("dictionary entries written with their append");
  const Layout layouts[] = {Layout::per_id_skiplist, Layout::per_id_vector, Layout::run_per_kind};
  for (const Layout layout : layouts) {
    Outcome best;
    for (std::int64_t r = 0; r < rounds; ++r) {
      const Outcome o = run(layout, appends, users, items, report);
      if (!o.ok) return 1;
      if (!best.ok || o.ns_per_entry < best.ns_per_entry) best = o;
    }
    report.result(fmt::format("{} write", name_of(layout)), best.ns_per_entry, "ns/entry");
    report.result(fmt::format("{} memtable key comparisons", name_of(layout)), best.comparisons_per_entry,
                  "per entry");
  }
  return 0;
}
