// bench_dictionary_names: what the in-memory dictionary costs per name, in
// bytes and in time, for numeric ids and for the same ids spelt out.
//
// The dictionary keeps a canonical decimal name (Taobao's and REES46's ids)
// as a varint of its value and any other name as its bytes. Each workload
// runs twice: with its names as they are ("decimal"), and with a letter put
// before each ("spelt": "u123456789"), which the arena keeps byte for byte
// as it kept every name before decimals were kept as numbers.
//
// Workloads, named in the output:
//   generated   --names ids like the amplified Taobao file's (a copy number
//               times 10,000,000 plus a 6-7 digit id), interned once each
//   taobao      the user and item columns of the file BENCH_TAOBAO names
//               (bench/run_all.sh makes the amplified one), interned in
//               file order into a table per kind as the ingest thread does;
//               skipped, saying so, without the variable
// Per workload and shape, best of --rounds rounds, one thread; the shapes
// take turns to run first, which measured faster:
//   intern      ns per intern() call over the workload (new and known names,
//               the tables' growth included)
//   find        ns per find_hashed() of every name again (a known name, as
//               the HTTP threads look them up)
//   name        ns per name_into() of a pseudo-random resident id
//   memory      the tables' memory_bytes() per resident id
#include <fmt/format.h>

#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "common/machine_limits.hpp"
#include "common/options.hpp"
#include "common/report.hpp"
#include "shoppulse/core/dictionary.hpp"

using namespace shoppulse::bench;
using shoppulse::Id;
using shoppulse::InternTable;

namespace {

double thread_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

// Names per kind; a generated workload has one kind.
using Columns = std::vector<std::vector<std::string>>;

struct Figures {
  double intern_ns = 0, find_ns = 0, name_ns = 0, bytes_per_id = 0;
  std::size_t checksum = 0;  // keeps the loops' results alive
};

Figures measure(const Columns& columns) {
  std::vector<std::unique_ptr<InternTable>> tables;
  for (std::size_t k = 0; k < columns.size(); ++k) tables.push_back(std::make_unique<InternTable>());
  const std::size_t rows = columns.front().size();
  const std::size_t calls = rows * columns.size();
  Figures f;
  double t = thread_seconds();
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t k = 0; k < columns.size(); ++k) f.checksum += tables[k]->intern(columns[k][i]).first;
  f.intern_ns = (thread_seconds() - t) * 1e9 / double(calls);
  t = thread_seconds();
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t k = 0; k < columns.size(); ++k)
      f.checksum += tables[k]->find_hashed(columns[k][i], InternTable::hash(columns[k][i]));
  f.find_ns = (thread_seconds() - t) * 1e9 / double(calls);
  std::string out;
  t = thread_seconds();
  for (std::size_t i = 0; i < calls; ++i) {
    const InternTable& table = *tables[i % tables.size()];
    const Id id = Id(1 + (i * 2654435761u) % table.size());
    f.checksum += table.name_into(id, out).size();
  }
  f.name_ns = (thread_seconds() - t) * 1e9 / double(calls);
  std::size_t bytes = 0, ids = 0;
  for (const auto& table : tables) {
    bytes += table->memory_bytes();
    ids += table->resident();
  }
  f.bytes_per_id = double(bytes) / double(ids);
  return f;
}

Columns spelt(const Columns& columns) {
  Columns out = columns;
  for (auto& column : out)
    for (auto& name : column) name.insert(0, 1, 'u');
  return out;
}

void run(Report& report, const std::string& workload, const Columns& decimal, std::int64_t rounds) {
  const Columns letters = spelt(decimal);
  Figures best[2];
  // Whichever shape runs first in a round measured faster (its tables land
  // in fresh mappings), so the order alternates from round to round.
  for (std::int64_t r = 0; r < rounds; ++r)
    for (int turn = 0; turn < 2; ++turn) {
      const int shape = (turn + static_cast<int>(r % 2)) % 2;
      const Figures f = measure(shape == 0 ? decimal : letters);
      Figures& b = best[shape];
      if (r == 0) {
        b = f;
        continue;
      }
      b.intern_ns = std::min(b.intern_ns, f.intern_ns);
      b.find_ns = std::min(b.find_ns, f.find_ns);
      b.name_ns = std::min(b.name_ns, f.name_ns);
    }
  for (int shape = 0; shape < 2; ++shape) {
    const char* s = shape == 0 ? "decimal" : "spelt";
    report.result(fmt::format("{} {} intern", workload, s), best[shape].intern_ns, "ns/call");
    report.result(fmt::format("{} {} find", workload, s), best[shape].find_ns, "ns/call");
    report.result(fmt::format("{} {} name", workload, s), best[shape].name_ns, "ns/call");
    report.result(fmt::format("{} {} memory", workload, s), best[shape].bytes_per_id, "bytes/id");
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options opts(argc, argv);
  const std::int64_t names = opts.integer("names", 4'000'000, 100'000);
  const std::int64_t rounds = opts.integer("rounds", 4, 2);
  opts.finish();

  Report report("bench_dictionary_names", opts.quick());
  report.param("generated names", names);
  report.param("rounds (each shape first in every other; best of)", rounds);
  measure_machine_limits(report, opts.quick());

  report.section("workload: generated (Taobao-like 9-digit ids, each interned once)");
  Columns generated(1);
  for (std::int64_t i = 0; i < names; ++i)
    generated[0].push_back(std::to_string(10'000'000 * (i % 45) + 100'000 + i / 45));
  run(report, "generated", generated, rounds);

  const char* path = std::getenv("BENCH_TAOBAO");
  report.section("workload: amplified Taobao (BENCH_TAOBAO), users and items in file order");
  std::ifstream in(path == nullptr ? "" : path);
  if (path == nullptr || !in) {
    report.param("skipped", std::string(path == nullptr ? "BENCH_TAOBAO is not set (bench/run_all.sh sets it when "
                                                          "the sample exists)"
                                                        : "BENCH_TAOBAO names no readable file"));
    return 0;
  }
  Columns taobao(2);
  std::string line;
  const std::int64_t limit = opts.quick() ? 200'000 : INT64_MAX;
  for (std::int64_t n = 0; n < limit && std::getline(in, line); ++n) {
    const std::size_t a = line.find(','), b = a == std::string::npos ? a : line.find(',', a + 1);
    if (b == std::string::npos) continue;
    taobao[0].push_back(line.substr(0, a));
    taobao[1].push_back(line.substr(a + 1, b - a - 1));
  }
  report.param("events", std::int64_t(taobao[0].size()));
  run(report, "taobao", taobao, rounds);
  return 0;
}
