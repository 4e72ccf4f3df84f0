#pragma once
// A MongoDB-protocol server for the adapter tests: Debian's PostgreSQL 15 in
// a temporary dir (run as the postgres user when the tests run as root, as
// PostgreSQL refuses root) and FerretDB v1.24 in front of it, built once by
// tests/servers/ferretdb/build.sh into the user's cache.
#include <cstdint>
#include <string>

#include "server_process.hpp"

namespace shoppulse::servers {

// Whether FerretDB can be built and PostgreSQL run here; the reason when not.
bool ferretdb_available(std::string& why_not);

// Lifecycle: start() starts PostgreSQL the first time, then FerretDB, and
// returns once FerretDB answers a ping; stop() stops FerretDB only (an
// outage; PostgreSQL and the data stay); start() again brings it back on the
// same port. The destructor stops both and removes the data.
class FerretDbServer {
 public:
  FerretDbServer();
  ~FerretDbServer();
  void start();
  void stop();
  std::string url(const std::string& database) const;  // mongodb://127.0.0.1:<port>/<database>
  std::string log_tail() const;

 private:
  ScratchDir dir_;
  ChildProcess postgres_, ferretdb_;
  std::uint16_t port_ = 0, pg_port_ = 0;
};

}  // namespace shoppulse::servers
