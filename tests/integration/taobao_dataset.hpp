#pragma once
// What the tests over the Taobao UserBehavior sample (shared/data/SOURCES.md)
// share: where the file is, the main that reports the test skipped without
// it, and the in-memory SQLite database they use as the independent oracle.
// Each including target defines SHOPPULSE_TEST_DATA_DIR and links SQLite.
#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <sstream>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace shoppulse::integration {

inline constexpr const char* kTaobaoFileName = "taobao_userbehavior_sample_110k.csv";

// $SHOPPULSE_TEST_DATA_DIR, else the build's data dir, and the file in it.
inline std::filesystem::path taobao_dataset_path() {
  const char* env = std::getenv("SHOPPULSE_TEST_DATA_DIR");
  const std::string dir = env && *env ? env : SHOPPULSE_TEST_DATA_DIR;
  return std::filesystem::path(dir) / kTaobaoFileName;
}

// A dataset test's main: without the file it prints "SKIPPED: <name>: ..."
// and returns 77, which ctest reports as skipped; else runs the cases.
inline int run_with_taobao_dataset(const char* name, int argc, char** argv) {
  const std::filesystem::path path = taobao_dataset_path();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    std::printf("SKIPPED: %s: dataset not found at %s\n", name, path.string().c_str());
    std::fflush(stdout);
    return 77;
  }
  return Catch::Session().run(argc, argv);
}

// Thin RAII over the sqlite3 C API; throws on any error.
class Sql {
 public:
  Sql(const Sql&) = delete;
  Sql& operator=(const Sql&) = delete;
  Sql() {
    if (sqlite3_open(":memory:", &db_) != SQLITE_OK) throw std::runtime_error("sqlite3_open failed");
  }
  ~Sql() { sqlite3_close(db_); }
  void exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      const std::string msg = err ? err : "?";
      sqlite3_free(err);
      throw std::runtime_error("sqlite: " + msg + " in " + sql);
    }
  }
  class Stmt {
   public:
    Stmt(sqlite3* db, const std::string& sql) : db_(db) {
      if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s_, nullptr) != SQLITE_OK)
        throw std::runtime_error(std::string("sqlite prepare: ") + sqlite3_errmsg(db) + " in " + sql);
    }
    ~Stmt() { sqlite3_finalize(s_); }
    Stmt& bind(int i, std::int64_t v) {
      sqlite3_bind_int64(s_, i, v);
      return *this;
    }
    Stmt& bind(int i, const std::string& v) {
      sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
      return *this;
    }
    bool step() {
      const int rc = sqlite3_step(s_);
      if (rc == SQLITE_ROW) return true;
      if (rc == SQLITE_DONE) return false;
      throw std::runtime_error(std::string("sqlite step: ") + sqlite3_errmsg(db_));
    }
    void reset() {
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);
    }
    std::int64_t i64(int col) { return sqlite3_column_int64(s_, col); }
    std::string text(int col) {
      const auto* p = sqlite3_column_text(s_, col);
      return p ? reinterpret_cast<const char*>(p) : "";
    }

   private:
    sqlite3* db_;
    sqlite3_stmt* s_ = nullptr;
  };
  Stmt prepare(const std::string& sql) { return Stmt(db_, sql); }
  // Every row of a query, each column as text.
  std::vector<std::vector<std::string>> rows(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string("sqlite prepare: ") + sqlite3_errmsg(db_) + " in " + sql);
    std::vector<std::vector<std::string>> out;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int c = 0; c < sqlite3_column_count(s); ++c) {
        const auto* p = sqlite3_column_text(s, c);
        row.emplace_back(p ? reinterpret_cast<const char*>(p) : "");
      }
      out.push_back(std::move(row));
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) throw std::runtime_error(std::string("sqlite step: ") + sqlite3_errmsg(db_));
    return out;
  }
  std::uint64_t count(const std::string& sql) { return std::stoull(rows(sql).at(0).at(0)); }


 private:
  sqlite3* db_ = nullptr;
};

// One row of the Taobao CSV: user, item, category, behavior, unix seconds.
struct TaobaoRow {
  std::string user, item, category, behavior, ts;
};

// The row a CSV line holds; nullopt for an empty line (a trailing CR is
// ignored).
inline std::optional<TaobaoRow> parse_taobao_line(std::string line) {
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) return std::nullopt;
  std::istringstream f(line);
  TaobaoRow r;
  std::getline(f, r.user, ',');
  std::getline(f, r.item, ',');
  std::getline(f, r.category, ',');
  std::getline(f, r.behavior, ',');
  std::getline(f, r.ts);
  if (r.ts.empty()) return std::nullopt;
  return r;
}

// The CSV (user, item, category, behavior, unix seconds) as table ev; ord is
// the line number, the order `shoppulse import` logs the rows in.
inline void load_taobao_table(Sql& sql, const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  sql.exec("CREATE TABLE ev(ord INTEGER PRIMARY KEY, user TEXT, item TEXT, category TEXT, behavior TEXT, ts INTEGER)");
  sql.exec("BEGIN");
  std::string line, batch;
  std::size_t ord = 0;
  while (std::getline(in, line)) {
    const auto r = parse_taobao_line(line);
    if (!r) continue;
    batch += "(" + std::to_string(++ord) + ",'" + r->user + "','" + r->item + "','" + r->category + "','" +
             r->behavior + "'," + std::to_string(std::stoll(r->ts)) + "),";
    if (ord % 2000 == 0) {
      batch.pop_back();
      sql.exec("INSERT INTO ev VALUES " + batch);
      batch.clear();
    }
  }
  if (!batch.empty()) {
    batch.pop_back();
    sql.exec("INSERT INTO ev VALUES " + batch);
  }
  sql.exec("COMMIT");
  sql.exec("CREATE INDEX ev_user ON ev(user, behavior, ts)");
  sql.exec("CREATE INDEX ev_ts ON ev(ts)");
}

}  // namespace shoppulse::integration
