// Runs the [derived] storage conformance cases (rollups, checkpoints) with
// the MongoDB store added. Where FerretDB cannot be built or PostgreSQL is
// missing, prints "SKIPPED: ..." with the reason and exits 77 (ctest: Skipped).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>
#include <vector>

#include "ferretdb_server.hpp"

int main(int argc, char** argv) {
  std::string why;
  if (!shoppulse::servers::ferretdb_available(why)) {
    std::printf("SKIPPED: mongodb_conformance: %s\n", why.c_str());
    std::fflush(stdout);
    return 77;
  }
  std::vector<char*> args(argv, argv + argc);
  std::string tags = "[derived]";
  if (argc == 1) args.push_back(tags.data());
  return Catch::Session().run(int(args.size()), args.data());
}
