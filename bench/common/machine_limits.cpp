#include "common/machine_limits.hpp"

#include <fmt/core.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <simdjson.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/system_probe.hpp"
#include "common/workload.hpp"

namespace shoppulse::bench {
namespace {

double measure_memcpy(Report& report, bool quick) {
  const std::size_t bytes = (quick ? 16u : 256u) << 20;
  const int copies = quick ? 2 : 6;
  std::vector<char> src(bytes, 1), dst(bytes, 0);  // touched up front: no page faults in the timing
  double best = 0;
  for (int i = 0; i < copies; ++i) {
    src[static_cast<std::size_t>(i) * 4096 % bytes] = static_cast<char>(i);
    Stopwatch watch;
    std::memcpy(dst.data(), src.data(), bytes);
    const double s = watch.seconds();
    best = std::max(best, double(bytes) / s / 1e9);
  }
  if (dst[bytes / 2] != src[bytes / 2]) report.note("memcpy copy mismatch");
  report.result(fmt::format("memcpy ({} MiB copies, best of {})", bytes >> 20, copies), best, "GB/s");
  return best;
}

void measure_json(Report& report, bool quick, MachineLimits& out) {
  const std::size_t events = quick ? 20000 : 200000;
  ShopSimulator simulator(shop_config(1000, 500));
  const std::vector<RawEvent> raw = make_raw_events(simulator, events, 1700000000000, 100000);
  const std::string text = render_ndjson(raw, false);
  const simdjson::padded_string padded(text);
  simdjson::dom::parser parser;
  const double min_seconds = quick ? 0.05 : 0.5;
  std::size_t parsed = 0, failed = 0, passes = 0;
  std::uint64_t bytes = 0;
  Stopwatch watch;
  do {
    const char* base = padded.data();
    std::size_t pos = 0;
    while (pos < text.size()) {
      std::size_t end = text.find('\n', pos);
      if (end == std::string::npos) end = text.size();
      simdjson::dom::element doc;
      // false: the padding after the whole buffer keeps every line readable.
      if (parser.parse(base + pos, end - pos, false).get(doc) == simdjson::SUCCESS) ++parsed;
      else ++failed;
      pos = end + 1;
    }
    bytes += text.size();
    ++passes;
  } while (watch.seconds() < min_seconds);
  const double s = watch.seconds();
  out.json_events_per_s = double(parsed) / s;
  out.json_mb_per_s = double(bytes) / s / 1e6;
  report.result(fmt::format("simdjson DOM parse ({} NDJSON lines x {} passes, {:.0f} B/line)", events, passes,
                            double(text.size()) / double(events)),
                out.json_events_per_s / 1e6, "M events/s");
  report.result("simdjson DOM parse bytes", out.json_mb_per_s, "MB/s");
  if (failed) report.note(fmt::format("simdjson failed on {} lines", failed));
}

double measure_rocksdb(Report& report, bool quick) {
  TempDir dir("shoppulse-bench-rocksdb");
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw_db = nullptr;
  rocksdb::Status st = rocksdb::DB::Open(options, dir.path().string(), &raw_db);
  if (!st.ok()) {
    report.note("RocksDB open failed: " + st.ToString());
    return 0;
  }
  std::unique_ptr<rocksdb::DB> db(raw_db);
  constexpr std::size_t kValueBytes = 64 << 10;
  constexpr std::size_t kValuesPerBatch = 16;  // 1 MiB per write
  const std::size_t total_bytes = (quick ? 16u : 256u) << 20;
  std::string value(kValueBytes, '\0');
  std::mt19937_64 rng(7);
  for (std::size_t i = 0; i + 8 <= value.size(); i += 8) {
    const std::uint64_t r = rng();
    std::memcpy(value.data() + i, &r, 8);  // incompressible, like packed event blocks
  }
  rocksdb::WriteOptions write_options;
  write_options.sync = false;
  write_options.disableWAL = false;
  std::uint64_t key = 0, written = 0;
  Stopwatch watch;
  while (written < total_bytes) {
    rocksdb::WriteBatch batch;
    for (std::size_t i = 0; i < kValuesPerBatch; ++i) {
      char k[8];
      const std::uint64_t be = __builtin_bswap64(++key);
      std::memcpy(k, &be, 8);
      value[0] = static_cast<char>(key);
      batch.Put(rocksdb::Slice(k, 8), value);
      written += kValueBytes;
    }
    st = db->Write(write_options, &batch);
    if (!st.ok()) {
      report.note("RocksDB write failed: " + st.ToString());
      return 0;
    }
  }
  const double s = watch.seconds();
  const double mb_per_s = double(written) / s / 1e6;
  report.result(fmt::format("RocksDB WriteBatch ({} MiB, 1 MiB batches of 64 KiB values, WAL, no sync)",
                            total_bytes >> 20),
                mb_per_s, "MB/s");
  return mb_per_s;
}

}  // namespace

MachineLimits measure_machine_limits(Report& report, bool quick) {
  report.section("machine limits (same run)");
  MachineLimits out;
  out.memcpy_gb_per_s = measure_memcpy(report, quick);
  measure_json(report, quick, out);
  out.rocksdb_mb_per_s = measure_rocksdb(report, quick);
  return out;
}

}  // namespace shoppulse::bench
