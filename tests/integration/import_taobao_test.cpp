// `shoppulse import` of a large file counts its names first and sizes the
// dictionary for them: through the binary, on the Taobao sample amplified
// five times (ids offset per copy, as bench/workloads/amplify_taobao.py
// does), the counts it prints against SQL's exact ones; a small file is
// imported without the counting pass.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "harness.hpp"
#include "taobao_dataset.hpp"

namespace si = shoppulse::integration;
using si::Sql;

int main(int argc, char** argv) { return si::run_with_taobao_dataset("import_taobao", argc, argv); }

namespace {

constexpr std::uint64_t kCopies = 5;
constexpr std::uint64_t kIdOffset = 10'000'000;

// The sample kCopies times, each copy's users and items offset by copy x
// kIdOffset and its times by copy x the sample's span: distinct users and
// items are kCopies times the sample's, categories the sample's.
void write_amplified(const std::filesystem::path& from, const std::filesystem::path& to, std::int64_t span) {
  std::ofstream out(to);
  for (std::uint64_t copy = 0; copy < kCopies; ++copy) {
    std::ifstream in(from);
    std::string line;
    while (std::getline(in, line)) {
      const auto r = si::parse_taobao_line(line);
      if (!r) continue;
      out << std::stoull(r->user) + copy * kIdOffset << ',' << std::stoull(r->item) + copy * kIdOffset << ','
          << r->category << ',' << r->behavior << ',' << std::stoll(r->ts) + static_cast<std::int64_t>(copy) * span
          << '\n';
    }
  }
}

void check_near(std::uint64_t estimate, std::uint64_t exact) {
  INFO(estimate << " estimated, " << exact << " exact");
  // A HyperLogLog of 1.6 % standard error over a fixed input: 4 of them.
  CHECK(std::abs(static_cast<double>(estimate) - static_cast<double>(exact)) <= 0.064 * static_cast<double>(exact));
}

}  // namespace

TEST_CASE("A large import counts its names first, as SQL counts them, and imports every row", "[integration][import]") {
  const auto csv = si::taobao_dataset_path();
  Sql sql;
  si::load_taobao_table(sql, csv);
  const std::uint64_t rows = sql.count("SELECT COUNT(*) FROM ev");
  const std::uint64_t users = sql.count("SELECT COUNT(DISTINCT user) FROM ev");
  const std::uint64_t items = sql.count("SELECT COUNT(DISTINCT item) FROM ev");
  const std::uint64_t categories = sql.count("SELECT COUNT(DISTINCT category) FROM ev");
  const std::int64_t span = static_cast<std::int64_t>(sql.count("SELECT MAX(ts) - MIN(ts) + 1 FROM ev"));

  si::TempDir dir;
  const auto amplified = dir.path() / "amplified.csv";
  write_amplified(csv, amplified, span);
  REQUIRE(std::filesystem::file_size(amplified) >= (16u << 20));  // the size from which names are counted

  const auto imported = si::run_shoppulse(
      {"import", "--format", "taobao", amplified.string(), "--data-dir", (dir.path() / "data").string()},
      si::Millis(240000), /*with_stderr=*/true);
  INFO(imported.out.substr(0, 4000));
  REQUIRE(imported.exit_code == 0);
  std::smatch counted;
  REQUIRE(std::regex_search(imported.out, counted,
                            std::regex("counted the file's names ahead in [0-9.]+ s: about ([0-9]+) users, ([0-9]+) "
                                       "products, ([0-9]+) categories")));
  check_near(std::stoull(counted[1]), kCopies * users);
  check_near(std::stoull(counted[2]), kCopies * items);
  check_near(std::stoull(counted[3]), categories);
  CHECK(imported.out.find("imported " + std::to_string(kCopies * rows) + " events") != std::string::npos);

  // The sample alone is under the size: imported without the pass.
  const auto small = si::run_shoppulse(
      {"import", "--format", "taobao", csv.string(), "--data-dir", (dir.path() / "small").string()},
      si::Millis(120000), /*with_stderr=*/true);
  INFO(small.out.substr(0, 2000));
  REQUIRE(small.exit_code == 0);
  CHECK(small.out.find("counted the file's names") == std::string::npos);
  CHECK(small.out.find("imported " + std::to_string(rows) + " events") != std::string::npos);
}
