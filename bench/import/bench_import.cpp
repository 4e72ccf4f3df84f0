// bench_import: the streaming CSV importers on one thread.
//   1. import_file on a generated Taobao UserBehavior CSV, no-op sink
//   2. import_file on a generated REES46 CSV, no-op sink
//   3. the same Taobao file through a real Ingestor (RocksDB event log, ring,
//      EngineRunner), retrying on overloaded as `shoppulse import` does
// The files are written to a temp dir just before they are read, so they are
// in the page cache: the figures are parsing and hand-off, not disk reads.
// Rows come from the ShopSimulator (Zipf products, users with preferred
// categories) with its ids turned into the datasets' numeric ids.
// Part 3 also reports each thread's CPU per event (importing, ingest, engine,
// RocksDB background), which holds up better than wall rates on a shared
// machine. `--noop=0` runs part 3 alone; BENCH_IMPORT_TAOBAO=path keeps the
// Taobao file there and reuses it on later runs.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iterator>
#include <functional>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <unistd.h>

#include "common/machine_limits.hpp"
#include "common/options.hpp"
#include "common/report.hpp"
#include "common/system_probe.hpp"
#include "common/workload.hpp"
#include "shoppulse/core/clock.hpp"
#include "shoppulse/core/dictionary.hpp"
#include "shoppulse/core/metrics.hpp"
#include "shoppulse/eventlog/rocksdb_store.hpp"
#include "shoppulse/importer/importer.hpp"
#include "shoppulse/ingest/ingestor.hpp"
#include "shoppulse/ring/spsc_ring.hpp"
#include "shoppulse/windows/engine_runner.hpp"

using namespace shoppulse;
using namespace shoppulse::bench;
using namespace std::chrono_literals;

namespace {

constexpr TimestampMs kTaobaoStartMs = 1511658000000;  // 2017-11-26 01:00 UTC, as the public sample
constexpr TimestampMs kRees46StartMs = 1569888000000;  // 2019-10-01 00:00 UTC, as the public dataset

// "user_000123" -> 123: the simulator's ids carry their number after a prefix.
std::uint64_t number_in(const std::string& id) {
  std::uint64_t n = 0;
  for (char c : id)
    if (c >= '0' && c <= '9') n = n * 10 + static_cast<std::uint64_t>(c - '0');
  return n;
}

const char* taobao_behavior(EventType t) {
  switch (t) {
    case EventType::add_to_cart: return "cart";
    case EventType::favorite:
    case EventType::rate: return "fav";
    case EventType::purchase: return "buy";
    default: return "pv";
  }
}

const char* rees46_type(EventType t) {
  switch (t) {
    case EventType::add_to_cart: return "cart";
    case EventType::remove_from_cart: return "remove_from_cart";
    case EventType::purchase: return "purchase";
    default: return "view";
  }
}

constexpr const char* kCategoryCodes[] = {
    "electronics.smartphone", "appliances.kitchen.refrigerators", "computers.notebook", "apparel.shoes",
    "furniture.living_room.sofa", "", "electronics.audio.headphone", "kids.toys", "", "auto.accessories.player"};
constexpr const char* kBrands[] = {"samsung", "apple", "xiaomi", "huawei", "", "lucente", "bosch", "sony", "", "lg"};

std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 31;
  x *= 0x9e3779b97f4a7c15ull;
  x ^= x >> 29;
  x *= 0xbf58476d1ce4e5b9ull;
  return x ^ (x >> 32);
}

enum class Kind { taobao, rees46 };

struct Written {
  std::uint64_t lines = 0;
  std::uint64_t bytes = 0;
  std::uint64_t left_out = 0;  // generated rows equal to one of the same second
};

// Writes `lines` rows (plus the REES46 header) generated in chunks.
Written write_csv(const std::string& path, Kind kind, std::size_t lines, const GeneratorConfig& config,
                  double event_rate) {
  Written w;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return w;
  ShopSimulator simulator(config);
  std::string out;
  out.reserve(32 << 20);
  if (kind == Kind::rees46) {
    out += "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n";
    ++w.lines;
  }
  TimestampMs t = kind == Kind::taobao ? kTaobaoStartMs : kRees46StartMs;
  // The public files have no repeated rows, so neither do these: a row equal
  // to one already written in the same second (a view then a click of the
  // same product both become `pv`) is left out, and more are generated.
  std::unordered_set<std::uint64_t> this_second;
  std::int64_t current_second = -1;
  std::string row;
  std::size_t done = 0;
  std::vector<RawEvent> raw;
  std::size_t next = 0;
  while (done < lines) {
    if (next == raw.size()) {
      raw = make_raw_events(simulator, 1 << 16, t, event_rate);
      t += static_cast<TimestampMs>(double(1 << 16) * 1000.0 / event_rate);
      next = 0;
    }
    const RawEvent& e = raw[next++];
    const std::uint64_t user = number_in(e.user_id), product = number_in(e.product_id),
                        category = number_in(e.category_id);
    const TimestampMs ms = e.time_ms.value_or(t);
    row.clear();
    if (kind == Kind::taobao) {
      fmt::format_to(std::back_inserter(row), "{},{},{},{},{}\n", 100000 + user, 1000000 + product * 37,
                     2000000 + category * 7919, taobao_behavior(e.type), ms / 1000);
    } else {
      const std::time_t secs = static_cast<std::time_t>(ms / 1000);
      std::tm tm{};
      gmtime_r(&secs, &tm);
      const std::uint64_t s = mix(std::hash<std::string>{}(e.session_id));
      const std::uint64_t s2 = mix(s);
      fmt::format_to(std::back_inserter(row),
                     "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC,{},{},{},{},{},{}.{:02},{},"
                     "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}\n",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     rees46_type(e.type), 1000000 + product * 37, 2053013552226107603ull + category * 104729,
                     kCategoryCodes[category % 10], kBrands[product % 10], e.price_minor / 100, e.price_minor % 100,
                     512000000 + user * 13, static_cast<std::uint32_t>(s), static_cast<std::uint32_t>(s >> 32) & 0xffff,
                     static_cast<std::uint32_t>(s >> 48), static_cast<std::uint32_t>(s2) & 0xffff,
                     s2 >> 16 & 0xffffffffffffull);
    }
    if (ms / 1000 != current_second) {
      current_second = ms / 1000;
      this_second.clear();
    }
    if (!this_second.insert(mix(std::hash<std::string>{}(row))).second) {
      ++w.left_out;
      continue;
    }
    out += row;
    ++done;
    ++w.lines;
    if (out.size() > (24 << 20) || done == lines) {
      std::fwrite(out.data(), 1, out.size(), f);
      w.bytes += out.size();
      out.clear();
    }
  }
  std::fclose(f);
  return w;
}

// CPU seconds so far of this process's threads, by role: the importing
// (main) thread, the ingest thread (named "sp-ingest" by the Ingestor),
// RocksDB's background threads, and the rest (the engine thread; nothing
// else runs during the measurement). From /proc/self/task/*/stat.
struct ThreadCpu {
  double importer = 0, ingest = 0, rocksdb = 0, rest = 0;
};

ThreadCpu thread_cpu_by_role() {
  ThreadCpu out;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  const std::string self = std::to_string(getpid());
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::FILE* f = std::fopen((entry.path() / "stat").c_str(), "r");
    if (!f) continue;
    char buf[1024];
    const std::size_t got = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[got] = 0;
    const std::string line(buf);
    const auto open = line.find('('), close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    const std::string comm = line.substr(open + 1, close - open - 1);
    // Fields after the comm: state is field 3; utime and stime are 14 and 15.
    unsigned long utime = 0, stime = 0;
    if (std::sscanf(line.c_str() + close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
                    &stime) != 2)
      continue;
    const double cpu = static_cast<double>(utime + stime) / tick;
    if (entry.path().filename() == self) out.importer += cpu;
    else if (comm == "sp-ingest") out.ingest += cpu;
    else if (comm.rfind("rocksdb", 0) == 0) out.rocksdb += cpu;
    else out.rest += cpu;
  }
  return out;
}

void report_import(Report& report, const ImportReport& r, double wall_s, double cpu_s, std::string_view target) {
  report.result("lines read", double(r.lines), "");
  report.result("events handed to the sink", double(r.events), "");
  report.result("bad lines (duplicates included)", double(r.bad_lines), "");
  report.result("duplicate rows skipped", double(r.duplicates), "");
  report.result("import wall time", wall_s, "s");
  report.result("events/s", double(r.events) / wall_s / 1e6, "M events/s", target);
  report.result("lines/s", double(r.lines) / wall_s / 1e6, "M lines/s");
  report.result("MB/s", double(r.bytes) / wall_s / 1e6, "MB/s");
  report.result("bytes per line", r.lines ? double(r.bytes) / double(r.lines) : 0, "B");
  report.result("CPU share of the importing thread", cpu_s / wall_s, "");
}

void no_op_import(Report& report, const char* title, const std::string& path, ImportFormat format,
                  const ImportOptions& options) {
  report.section(title);
  std::uint64_t sunk = 0;
  const ImportSink sink = [&sunk](std::vector<RawEvent>&& batch) -> Result<void> {
    sunk += batch.size();
    return {};
  };
  Stopwatch watch;
  const double cpu0 = thread_cpu_seconds();
  auto r = import_file(path, format, options, sink);
  const double wall = watch.seconds(), cpu = thread_cpu_seconds() - cpu0;
  if (!r) {
    report.note("import failed: " + r.error().detail);
    return;
  }
  report_import(report, *r, wall, cpu, ">= 1 M events/s");
  if (sunk != r->events) report.note("the sink saw a different count than the report");
  for (std::size_t i = 0; i < std::min<std::size_t>(3, r->problems.size()); ++i)
    report.note(fmt::format("line {}: {}", r->problems[i].line, r->problems[i].reason));
}

void ingest_import(Report& report, const std::string& path, const ImportOptions& options, std::size_t dictionary_bound) {
  report.section("Taobao CSV -> Ingestor (RocksDB, durability process) -> ring -> EngineRunner");
  TempDir dir("bench_import_store");
  SystemClock clock;
  MetricsRegistry metrics;
  EventLogConfig cfg;
  cfg.data_dir = dir.path().string();
  cfg.retention_max_age_ms = 0;
  auto opened = open_rocksdb_store(cfg);
  if (!opened) {
    report.note("open failed: " + opened.error().detail);
    return;
  }
  std::unique_ptr<Storage> storage = std::move(opened).value();
  // As the application wires it: the log is where evicted ids are read back.
  EventLogDictionary backing(*storage);
  Dictionary dictionary;
  dictionary.configure(&backing, dictionary_bound);
  report.param("dictionary.max_resident_ids (per kind, 0 = unbounded)", static_cast<std::int64_t>(dictionary_bound));
  if (auto r = load_dictionary(*storage, dictionary, dictionary_bound); !r) {
    report.note("dictionary load failed: " + r.error().detail);
    return;
  }
  SpscRing<Event> ring(1 << 20);
  EngineRunner engine(WindowConfig{}, EngineRunnerConfig{}, ring, *storage, *storage, *storage, clock, metrics);
  Ingestor ingestor(IngestConfig{}, *storage, dictionary, ring, clock, metrics);
  engine.start();
  if (auto r = ingestor.start(); !r) {
    report.note("ingestor start failed: " + r.error().detail);
    engine.stop();
    return;
  }
  std::uint64_t refusals = 0;
  const ImportSink sink = [&](std::vector<RawEvent>&& batch) -> Result<void> {
    for (;;) {
      auto submitted = ingestor.submit(std::move(batch), {});
      if (submitted || submitted.error().code != Errc::overloaded) return submitted;
      ++refusals;
      std::this_thread::sleep_for(1ms);  // a refused batch is left with the caller
    }
  };
  Stopwatch watch;
  const double cpu0 = process_cpu_seconds();
  const double thread0 = thread_cpu_seconds();
  const ThreadCpu roles0 = thread_cpu_by_role();
  auto r = import_file(path, ImportFormat::taobao_csv, options, sink);
  const double import_s = watch.seconds();
  const double import_thread_cpu = thread_cpu_seconds() - thread0;
  if (!r) {
    report.note("import failed: " + r.error().detail);
    ingestor.stop();
    engine.stop();
    return;
  }
  bool drained = true;
  // By sequence: an engine thread that starts late replays the first events
  // from the log, and those never count as live.
  while (ingestor.stats().appended_events + ingestor.stats().duplicate_events < r->events ||
         engine.stats().applied_through < ingestor.stats().last_sequence) {
    if (watch.seconds() > import_s + 120) {
      drained = false;
      break;
    }
    std::this_thread::sleep_for(1ms);
  }
  const double total_s = watch.seconds();
  const double cpu = process_cpu_seconds() - cpu0;
  const ThreadCpu roles1 = thread_cpu_by_role();
  const IngestStats is = ingestor.stats();
  report_import(report, *r, import_s, import_thread_cpu, ">= 1 M events/s");
  report.result("appended to the log", double(is.appended_events), "");
  report.result("duplicate event_ids dropped by the ingestor", double(is.duplicate_events), "");
  report.result("logged and applied, end to end", double(is.appended_events) / total_s / 1e6, "M events/s");
  report.result("drain after import_file returned", total_s - import_s, "s");
  report.result("group commits", double(is.appends), "");
  report.result("submits refused (queue full), retried after 1 ms", double(refusals), "");
  report.result("process CPU / wall", cpu / total_s, "cpus");
  if (is.appended_events != 0) {
    const double per = 1e6 / double(is.appended_events);
    report.result("CPU per event: importing thread", (roles1.importer - roles0.importer) * per, "us");
    report.result("CPU per event: ingest thread", (roles1.ingest - roles0.ingest) * per, "us");
    report.result("CPU per event: engine thread (and any other)", (roles1.rest - roles0.rest) * per, "us");
    report.result("CPU per event: RocksDB background threads", (roles1.rocksdb - roles0.rocksdb) * per, "us");
  }
  report.result("event log on disk", double(dir.bytes_on_disk()) / (1 << 20), "MiB");
  report.result("dictionary ids in memory at the end", double(dictionary.resident()), "");
  report.result("dictionary ids evicted", double(dictionary.evicted_total()), "");
  report.result("dictionary memory", double(dictionary.memory_bytes()) / (1 << 20), "MiB");
  if (!drained) report.note("the engine did not apply every event within 120 s");
  ingestor.stop();
  engine.stop();
}

}  // namespace

int main(int argc, char** argv) {
  Options opts(argc, argv);
  const auto taobao_lines = static_cast<std::size_t>(opts.integer("taobao-lines", 5000000, 50000));
  const auto rees46_lines = static_cast<std::size_t>(opts.integer("rees46-lines", 2000000, 20000));
  const auto users = static_cast<std::size_t>(opts.integer("users", 100000, 2000));
  const auto products = static_cast<std::size_t>(opts.integer("products", 50000, 1000));
  const auto categories = static_cast<std::size_t>(opts.integer("categories", 500, 50));
  const double event_rate = opts.number("event-rate", 1000, 1000);
  const bool ingest = opts.integer("ingest", 1, 1) != 0;
  const bool derive_ids = opts.integer("derive-ids", 1, 1) != 0;
  // --noop=0 skips the two no-op-sink imports (and the REES46 file), for
  // profiling the Ingestor part alone.
  const bool noop = opts.integer("noop", 1, 1) != 0;
  // dictionary.max_resident_ids of the ingest part; 0 keeps every id.
  const auto dictionary_bound = static_cast<std::size_t>(opts.integer("dictionary-bound", 0, 0));
  opts.finish();
  // BENCH_IMPORT_TAOBAO=path keeps the Taobao file there and reuses it on the
  // next run with the same path (faster iterations; not for published figures).
  const char* keep_taobao = std::getenv("BENCH_IMPORT_TAOBAO");

  Report report("bench_import", opts.quick());
  ImportOptions options;  // library defaults, as `shoppulse import`
  options.derive_event_ids = derive_ids;
  report.section("parameters");
  report.param("Taobao lines", static_cast<std::int64_t>(taobao_lines));
  report.param("REES46 lines (plus header)", static_cast<std::int64_t>(rees46_lines));
  report.param("simulated users / products / categories", fmt::format("{} / {} / {}", users, products, categories));
  report.param("event-time rate of the rows", event_rate, "events/s");
  report.param("batch_events (per sink call)", static_cast<std::int64_t>(options.batch_events));
  report.param("read_chunk_bytes", static_cast<std::int64_t>(options.read_chunk_bytes));
  report.param("derive_event_ids", options.derive_event_ids ? "yes" : "no");
  report.param("files", "temp dir, written just before reading (page cache)");

  GeneratorConfig config = shop_config(users, products);
  config.categories_count = categories;
  TempDir files("bench_import_csv");
  const std::string taobao = keep_taobao && *keep_taobao ? std::string(keep_taobao) : (files.path() / "taobao.csv").string();
  const std::string rees46 = (files.path() / "rees46.csv").string();

  report.section("generated files");
  Stopwatch gen;
  Written tw;
  std::error_code size_ec;
  if (keep_taobao && *keep_taobao && std::filesystem::file_size(taobao, size_ec) > 0 && !size_ec) {
    tw.lines = 1;  // reused; its line count is whatever it was written with
    tw.bytes = std::filesystem::file_size(taobao);
    report.note("reusing " + taobao + " (BENCH_IMPORT_TAOBAO)");
  } else {
    tw = write_csv(taobao, Kind::taobao, taobao_lines, config, event_rate);
  }
  report.result("Taobao CSV", double(tw.bytes) / 1e6, "MB");
  report.result("Taobao rows left out as repeats of a row of the same second", double(tw.left_out), "");
  Written rw;
  if (noop) {
    rw = write_csv(rees46, Kind::rees46, rees46_lines, config, event_rate);
    report.result("REES46 CSV", double(rw.bytes) / 1e6, "MB");
    report.result("REES46 rows left out as repeats of a row of the same second", double(rw.left_out), "");
  }
  report.result("generation time (setup)", gen.seconds(), "s");
  if (tw.lines == 0 || (noop && rw.lines == 0)) {
    report.note("could not write the CSV files");
    return 1;
  }

  if (noop) {
    no_op_import(report, "Taobao CSV -> import_file -> no-op sink", taobao, ImportFormat::taobao_csv, options);
    no_op_import(report, "REES46 CSV -> import_file -> no-op sink", rees46, ImportFormat::rees46_csv, options);
  }
  if (ingest) ingest_import(report, taobao, options, dictionary_bound);
  report.result("RSS at the end", double(rss_bytes()) / (1 << 20), "MiB");

  if (noop) measure_machine_limits(report, opts.quick());
  return 0;
}
