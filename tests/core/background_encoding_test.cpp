// Encoding in a forked copy of the process: the child sees the state as it
// was at start(), the parent goes on changing it, and a child that fails is
// an error, never bytes.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cerrno>
#include <string>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
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

TEST_CASE("the child keeps no descriptor of the parent: a socket the parent closes is closed while the child runs",
          "[core][background]") {
  // A connection the parent ends must end for its peer at once, not when
  // a checkpoint's copy of the process exits.
  int pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
  BackgroundEncoding encoding;
  REQUIRE(encoding.start([]() -> std::string {
    for (;;) ::pause();  // alive until the destructor kills it
  }));
  ::close(pair[0]);
  // The peer sees the end of the stream once no process holds pair[0]; with
  // the child still holding it, it would see nothing until the deadline.
  pollfd peer{pair[1], POLLIN, 0};
  REQUIRE(::poll(&peer, 1, 20000) == 1);
  char byte;
  CHECK(::read(pair[1], &byte, 1) == 0);
  CHECK(encoding.running());
  ::close(pair[1]);
}

TEST_CASE("a child silent past the deadline is stopped, and its encoding is an error", "[core][background]") {
  // The child never sends a byte: finish() must return instead of waiting.
  BackgroundEncoding encoding(std::chrono::milliseconds(200));
  REQUIRE(encoding.start([]() -> std::string {
    for (;;) ::pause();
  }));
  auto bytes = encoding.finish();
  REQUIRE_FALSE(bytes);
  CHECK(bytes.error().detail.find("sent nothing for 200 ms") != std::string::npos);
  CHECK_FALSE(encoding.running());
  // The process is gone: nothing of ours is left to reap.
  CHECK(::waitpid(-1, nullptr, WNOHANG) < 0);
}

TEST_CASE("finish(sink) hands the bytes over in pieces, and a sink that stops early stops the child",
          "[core][background]") {
  std::string state(3 << 20, 's');
  for (std::size_t i = 0; i < state.size(); i += 997) state[i] = static_cast<char>(i);
  BackgroundEncoding encoding;
  REQUIRE(encoding.start([&state] { return state; }));
  std::string got;
  std::uint64_t announced = 0;
  REQUIRE(encoding.finish([&](std::uint64_t size, const BackgroundEncoding::Read& read) -> Result<void> {
    announced = size;
    char piece[65536];
    for (std::uint64_t left = size; left > 0;) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, sizeof piece));
      if (auto ok = read(piece, n); !ok) return ok;
      got.append(piece, n);
      left -= n;
    }
    // Nothing lies beyond the encoding.
    CHECK_FALSE(read(piece, 1));
    return {};
  }));
  CHECK(announced == state.size());
  CHECK(got == state);

  // A sink that reads part and fails: its error is returned, the child (still
  // writing into a full pipe) is stopped and reaped.
  REQUIRE(encoding.start([&state] { return state; }));
  auto stopped = encoding.finish([](std::uint64_t, const BackgroundEncoding::Read& read) -> Result<void> {
    char piece[4096];
    if (auto ok = read(piece, sizeof piece); !ok) return ok;
    return make_error(Errc::io_error, "the store is full");
  });
  REQUIRE_FALSE(stopped);
  CHECK(stopped.error().detail == "the store is full");
  CHECK_FALSE(encoding.running());
  CHECK(::waitpid(-1, nullptr, WNOHANG) < 0);

  // A sink that reads less than everything and says it succeeded is an error.
  REQUIRE(encoding.start([&state] { return state; }));
  auto short_read = encoding.finish([](std::uint64_t, const BackgroundEncoding::Read&) -> Result<void> { return {}; });
  REQUIRE_FALSE(short_read);
  CHECK(short_read.error().detail.find("not read to its end") != std::string::npos);
}

TEST_CASE("a fork the system refuses is unavailable, forks nothing and leaves no pipe open; the next start works",
          "[core][background][fault]") {
  // The lowest free descriptor: a pipe left open by the failed start would
  // take it.
  const auto lowest_free_fd = [] {
    const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    ::close(fd);
    return fd;
  };
  const int free_before = lowest_free_fd();
  BackgroundEncoding encoding;
  CHECK_FALSE(BackgroundEncoding::testing_fail_next_fork());
  auto started = encoding.start([] { return std::string("never"); });
  REQUIRE_FALSE(started);
  CHECK(started.error().code == Errc::unavailable);
  CHECK(started.error().detail.find("fork") != std::string::npos);
  CHECK_FALSE(encoding.running());
  CHECK(lowest_free_fd() == free_before);
  errno = 0;
  CHECK(::waitpid(-1, nullptr, WNOHANG) < 0);
  CHECK(errno == ECHILD);  // no child of ours exists, running or unreaped
  CHECK_FALSE(encoding.finish());  // nothing to finish
  // The fault was for one start only.
  CHECK_FALSE(BackgroundEncoding::testing_fail_next_fork(false));
  REQUIRE(encoding.start([] { return std::string("forked"); }));
  auto bytes = encoding.finish();
  REQUIRE(bytes);
  CHECK(bytes.value() == "forked");
}
