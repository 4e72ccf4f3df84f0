// Encoding in a forked copy of the process: the child sees the state as it
// was at start(), the parent goes on changing it, and a child that fails is
// an error, never bytes.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include <unistd.h>

#include "shoppulse/core/background_encoding.hpp"

using namespace shoppulse;

TEST_CASE("a background encoding holds the state as it was at start(), whatever the parent changes meanwhile",
          "[core][background]") {
  std::string state(1 << 20, 'a');  // large enough to span many pages
  BackgroundEncoding encoding;
  REQUIRE(encoding.start([&state] { return state + "|encoded"; }));
  CHECK(encoding.running());
  state.assign(1 << 20, 'b');  // the owner goes on at once
  auto bytes = encoding.finish();
  REQUIRE(bytes);
  CHECK_FALSE(encoding.running());
  CHECK(bytes.value() == std::string(1 << 20, 'a') + "|encoded");
  // One at a time, and again after finish().
  REQUIRE(encoding.start([&state] { return state.substr(0, 3); }));
  CHECK_FALSE(encoding.start([] { return std::string(); }));
  auto again = encoding.finish();
  REQUIRE(again);
  CHECK(again.value() == "bbb");
  CHECK_FALSE(encoding.finish());  // nothing running
}

TEST_CASE("a child that dies while encoding is an error, not a short encoding", "[core][background]") {
  BackgroundEncoding encoding;
  REQUIRE(encoding.start([]() -> std::string { std::_Exit(3); }));
  auto bytes = encoding.finish();
  REQUIRE_FALSE(bytes);
  CHECK(bytes.error().detail.find("failed") != std::string::npos);
}

TEST_CASE("an encoding that is never finished is killed and reaped by the destructor", "[core][background]") {
  // The child would wait forever; the destructor must not wait for it.
  BackgroundEncoding encoding;
  REQUIRE(encoding.start([]() -> std::string {
    for (;;) ::pause();
  }));
  CHECK(encoding.running());
}
