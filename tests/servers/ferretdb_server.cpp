#include "ferretdb_server.hpp"

#include <mongoc/mongoc.h>
#include <sys/stat.h>
#include <unistd.h>
#include <pwd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>

namespace shoppulse::servers {
namespace {

std::string run_capture(const std::string& cmd, int& rc) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) {
    rc = -1;
    return {};
  }
  std::array<char, 4096> buf{};
  std::string out;
  while (std::fgets(buf.data(), int(buf.size()), p)) out += buf.data();
  rc = ::pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string postgres_bindir() {
  for (const char* v : {"17", "16", "15"}) {
    const std::string dir = std::string("/usr/lib/postgresql/") + v + "/bin";
    if (::access((dir + "/postgres").c_str(), X_OK) == 0) return dir;
  }
  return {};
}

std::string ferretdb_binary(std::string& error) {
  int rc = 0;
  const std::string path =
      run_capture(std::string(SHOPPULSE_SOURCE_DIR) + "/tests/servers/ferretdb/build.sh 2>&1", rc);
  if (rc != 0) {
    error = path;
    return {};
  }
  const auto nl = path.rfind('\n');
  return nl == std::string::npos ? path : path.substr(nl + 1);
}

// argv prefixed to run as the postgres user when this process is root.
std::vector<std::string> as_postgres(std::vector<std::string> argv) {
  if (::geteuid() != 0) return argv;
  argv.insert(argv.begin(), {"runuser", "-u", "postgres", "--"});
  return argv;
}

bool mongo_answers(const std::string& url) {
  static std::once_flag once;
  std::call_once(once, [] { mongoc_init(); });
  bson_error_t error;
  mongoc_uri_t* uri = mongoc_uri_new_with_error(url.c_str(), &error);
  if (!uri) return false;
  mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 500);
  mongoc_client_t* client = mongoc_client_new_from_uri(uri);
  bson_t* cmd = BCON_NEW("ping", BCON_INT32(1));
  bson_t reply;
  const bool ok = client && mongoc_client_command_simple(client, "admin", cmd, nullptr, &reply, &error);
  if (client) bson_destroy(&reply);
  bson_destroy(cmd);
  if (client) mongoc_client_destroy(client);
  mongoc_uri_destroy(uri);
  return ok;
}

}  // namespace

bool ferretdb_available(std::string& why_not) {
  if (postgres_bindir().empty()) {
    why_not = "PostgreSQL is not installed (make deps-test installs postgresql)";
    return false;
  }
  if (::geteuid() == 0 && !::getpwnam("postgres")) {
    why_not = "no postgres user to run PostgreSQL as";
    return false;
  }
  std::string error;
  if (ferretdb_binary(error).empty()) {
    why_not = "FerretDB could not be built: " + error.substr(error.size() > 600 ? error.size() - 600 : 0);
    return false;
  }
  return true;
}

FerretDbServer::FerretDbServer() : dir_("ferretdb") {}

FerretDbServer::~FerretDbServer() {
  ferretdb_.terminate();
  postgres_.terminate();
}

std::string FerretDbServer::url(const std::string& database) const {
  return "mongodb://127.0.0.1:" + std::to_string(port_) + "/" + database;
}

void FerretDbServer::start() {
  if (!postgres_.alive()) {
    const std::string bin = postgres_bindir();
    if (bin.empty()) throw std::runtime_error("PostgreSQL is not installed");
    const auto pg = dir_.path() / "pg";
    if (!std::filesystem::exists(pg)) {
      std::filesystem::create_directories(pg);
      ::chmod(dir_.path().c_str(), 0755);
      if (::geteuid() == 0) {
        const passwd* pw = ::getpwnam("postgres");
        if (!pw || ::chown(pg.c_str(), pw->pw_uid, pw->pw_gid) != 0) throw std::runtime_error("chown to postgres failed");
      }
      ::chmod(pg.c_str(), 0700);
      ChildProcess initdb;
      initdb.spawn(as_postgres({bin + "/initdb", "-D", pg.string(), "-U", "postgres", "-A", "trust", "--no-sync", "-E",
                                "UTF8"}),
                   dir_.path() / "initdb.log");
      if (!wait_for([&] { return !initdb.alive(); }, Millis(120000)))
        throw std::runtime_error("initdb did not finish:\n" + log_tail());
    }
    pg_port_ = free_port();
    postgres_.spawn(as_postgres({bin + "/postgres", "-D", pg.string(), "-p", std::to_string(pg_port_), "-k",
                                 pg.string(), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c",
                                 "synchronous_commit=off", "-c", "full_page_writes=off"}),
                    dir_.path() / "postgres.log");
  }
  std::string error;
  const std::string binary = ferretdb_binary(error);
  if (binary.empty()) throw std::runtime_error("FerretDB could not be built:\n" + error);
  if (port_ == 0) port_ = free_port();
  // PostgreSQL may still be starting: FerretDB connects lazily, and the ping
  // below waits for both.
  ferretdb_.spawn({binary, "-listen", "127.0.0.1:" + std::to_string(port_), "-postgresql-url",
                   "postgres://postgres@127.0.0.1:" + std::to_string(pg_port_) + "/postgres"},
                  dir_.path() / "ferretdb.log");
  if (!wait_for([&] { return !ferretdb_.alive() || !postgres_.alive() || mongo_answers(url("admin")); },
                Millis(60000), Millis(100)) ||
      !ferretdb_.alive() || !postgres_.alive())
    throw std::runtime_error("FerretDB did not start:\n" + log_tail());
}

void FerretDbServer::stop() { ferretdb_.terminate(); }

std::string FerretDbServer::log_tail() const {
  std::stringstream ss;
  for (const char* f : {"initdb.log", "postgres.log", "ferretdb.log"}) {
    std::ifstream in(dir_.path() / f);
    ss << "--- " << f << "\n" << in.rdbuf();
  }
  const std::string s = ss.str();
  return s.size() > 4000 ? s.substr(s.size() - 4000) : s;
}

}  // namespace shoppulse::servers
