// The background checkpoint writer: the child's bytes reach the owner's
// store, the owner hears of it on the writer thread, and a write that fails
// is remembered once.
#include <catch2/catch.hpp>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

#include "shoppulse/core/background_checkpoint.hpp"

using namespace shoppulse;

namespace {
// A store that holds each write until released and fails it while failing.
struct GatedStore {
  std::mutex mutex;
  std::condition_variable open;
  bool released = true;
  bool failing = false;
  std::string stored;

  void set(bool now_released, bool now_failing) {
    std::lock_guard lock(mutex);
    released = now_released;
    failing = now_failing;
    open.notify_all();
  }
  BackgroundCheckpointWriter::Store sink() {
    return [this](std::uint64_t size, const BackgroundEncoding::Read& read) -> Result<void> {
      std::string bytes(size, '\0');
      if (auto got = read(bytes.data(), bytes.size()); !got) return got;
      std::unique_lock lock(mutex);
      open.wait(lock, [&] { return released; });
      if (failing) return make_error(Errc::io_error, "injected checkpoint failure");
      stored = std::move(bytes);
      return {};
    };
  }
};
}  // namespace

TEST_CASE("a background checkpoint reaches the owner's store, reports on the writer thread, and a failed one is "
          "remembered once",
          "[core][background]") {
  GatedStore store;
  BackgroundCheckpointWriter writer("state", "sp-test-cp");
  CHECK_FALSE(writer.in_flight());
  CHECK_FALSE(writer.busy());

  std::string state = "as it was";
  std::atomic<std::uint64_t> reported{0};
  store.set(false, false);  // the write waits
  REQUIRE(writer.start([&state] { return state; }, store.sink(), [&](std::uint64_t bytes, std::int64_t pause_ms) {
    CHECK(pause_ms >= 0);
    reported = bytes;
  }));
  state = "changed after the fork";
  CHECK(writer.in_flight());
  CHECK(writer.busy());  // held by the store
  store.set(true, false);
  writer.join();
  CHECK_FALSE(writer.in_flight());
  CHECK_FALSE(writer.busy());
  CHECK(reported == std::string("as it was").size());
  CHECK(store.stored == "as it was");
  CHECK_FALSE(writer.take_failed());

  // A write that fails: not reported, remembered until asked once.
  store.set(true, true);
  bool called = false;
  REQUIRE(writer.start([] { return std::string("newer"); }, store.sink(),
                       [&](std::uint64_t, std::int64_t) { called = true; }));
  writer.join();
  CHECK_FALSE(called);
  CHECK(writer.take_failed());
  CHECK_FALSE(writer.take_failed());
  CHECK(store.stored == "as it was");

  // A child that dies is a failure too.
  REQUIRE(writer.start([]() -> std::string { std::_Exit(3); }, store.sink(),
                       [&](std::uint64_t, std::int64_t) { called = true; }));
  writer.join();
  CHECK_FALSE(called);
  CHECK(writer.take_failed());
}

TEST_CASE("a background checkpoint whose fork or writer thread cannot be had is unavailable and leaves nothing "
          "running",
          "[core][background][fault]") {
  GatedStore store;
  BackgroundCheckpointWriter writer("state", "sp-test-cp");
  bool stored_called = false;
  const auto stored = [&](std::uint64_t, std::int64_t) { stored_called = true; };
  // Whether no child of ours exists, running or unreaped.
  const auto no_child = [] {
    errno = 0;
    return ::waitpid(-1, nullptr, WNOHANG) < 0 && errno == ECHILD;
  };

  SECTION("the writer thread cannot be started: the child already forked is killed and reaped") {
    CHECK_FALSE(BackgroundCheckpointWriter::testing_fail_next_thread_start());
    // The child would never finish on its own: only a kill ends it.
    auto started = writer.start([]() -> std::string {
      for (;;) ::pause();
    }, store.sink(), stored);
    REQUIRE_FALSE(started);
    CHECK(started.error().code == Errc::unavailable);
    CHECK(started.error().detail.find("thread") != std::string::npos);
    CHECK(no_child());
  }
  SECTION("the fork fails") {
    CHECK_FALSE(BackgroundEncoding::testing_fail_next_fork());
    auto started = writer.start([] { return std::string("never"); }, store.sink(), stored);
    REQUIRE_FALSE(started);
    CHECK(started.error().code == Errc::unavailable);
    CHECK(started.error().detail.find("fork") != std::string::npos);
    CHECK(no_child());
  }
  // Nothing in flight, nothing stored or reported, no failure to remember:
  // the owner writes this one in the foreground.
  CHECK_FALSE(writer.in_flight());
  CHECK_FALSE(writer.busy());
  CHECK_FALSE(writer.take_failed());
  CHECK_FALSE(stored_called);
  CHECK(store.stored.empty());
  // Each fault was for one start: the next one forks and stores.
  CHECK_FALSE(BackgroundCheckpointWriter::testing_fail_next_thread_start(false));
  CHECK_FALSE(BackgroundEncoding::testing_fail_next_fork(false));
  REQUIRE(writer.start([] { return std::string("after"); }, store.sink(), stored));
  writer.join();
  CHECK(stored_called);
  CHECK(store.stored == "after");
  CHECK(no_child());
}

TEST_CASE("a checkpoint written in place lands after the one in flight, frees its bytes and reports its pause",
          "[core][background]") {
  GatedStore store;
  BackgroundCheckpointWriter writer("state", "sp-test-cp");
  store.set(false, false);  // the background write waits for the store
  REQUIRE(writer.start([] { return std::string("older"); }, store.sink(), [](std::uint64_t, std::int64_t) {}));
  REQUIRE(writer.busy());
  // A second thread opens the store once this one is about to call
  // write_now(), which must wait for the background write before it
  // encodes (without that wait the encoding would find nothing stored).
  std::atomic<bool> writing_now{false};
  std::thread opener([&] {
    while (!writing_now.load()) std::this_thread::yield();
    store.set(true, false);
  });
  writing_now = true;
  std::string landed_before;
  std::uint64_t reported = 0;
  std::int64_t pause = -1;
  const bool ok = writer.write_now(
      [&] {
        // Encoding starts only after the background write has landed.
        landed_before = store.stored;
        return std::string("newer, in place");
      },
      [&](std::string&& bytes) -> Result<void> {
        store.stored = std::move(bytes);
        return {};
      },
      [&](std::uint64_t bytes, std::int64_t pause_ms) {
        reported = bytes;
        pause = pause_ms;
      });
  opener.join();
  CHECK(ok);
  CHECK(landed_before == "older");
  CHECK(store.stored == "newer, in place");
  CHECK(reported == std::string("newer, in place").size());
  CHECK(pause >= 0);
  CHECK_FALSE(writer.in_flight());

  // A write that fails is logged and returns false, and nothing is reported.
  bool called = false;
  CHECK_FALSE(writer.write_now([] { return std::string("x"); },
                               [](std::string&&) -> Result<void> { return make_error(Errc::io_error, "disk full"); },
                               [&](std::uint64_t, std::int64_t) { called = true; }));
  CHECK_FALSE(called);
  CHECK_FALSE(writer.take_failed());  // the owner knows from the result
}

TEST_CASE("a checkpoint streamed at a stop is encoded by a child and stored in parts, in place only when the child "
          "cannot be had or fails",
          "[core][background]") {
  BackgroundCheckpointWriter writer("state", "sp-test-cp");
  // What `encode` changes is seen here only when it ran in this process: a
  // forked child's writes stay in the child.
  bool encoded_here = false;
  const std::string state(3 << 20, 'q');  // several parts of the pipe and the store
  const auto encode = [&] {
    encoded_here = true;
    return state;
  };
  std::string streamed;
  std::uint64_t announced = 0;
  bool store_fails = false;
  const BackgroundCheckpointWriter::Store store = [&](std::uint64_t size, const BackgroundEncoding::Read& read) {
    announced = size;
    streamed.clear();
    char part[64 << 10];
    for (std::uint64_t left = size; left > 0;) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, sizeof part));
      if (auto got = read(part, n); !got) return got;
      streamed.append(part, n);
      left -= n;
    }
    if (store_fails) return Result<void>(make_error(Errc::io_error, "injected store failure"));
    return Result<void>{};
  };
  std::string whole_bytes;
  int wholes = 0;
  const BackgroundCheckpointWriter::StoreWhole whole = [&](std::string&& bytes) -> Result<void> {
    ++wholes;
    whole_bytes = std::move(bytes);
    return {};
  };
  std::uint64_t reported = 0;
  const auto stored = [&](std::uint64_t bytes, std::int64_t) { reported = bytes; };

  SECTION("streamed from the child") {
    REQUIRE(writer.write_streamed(encode, store, whole, stored));
    CHECK_FALSE(encoded_here);
    CHECK(announced == state.size());
    CHECK(streamed == state);
    CHECK(wholes == 0);
    CHECK(reported == state.size());
  }
  SECTION("no fork: encoded and stored whole in place") {
    CHECK_FALSE(BackgroundEncoding::testing_fail_next_fork());
    REQUIRE(writer.write_streamed(encode, store, whole, stored));
    CHECK_FALSE(BackgroundEncoding::testing_fail_next_fork(false));  // the fault was taken
    CHECK(encoded_here);
    CHECK(streamed.empty());
    CHECK(wholes == 1);
    CHECK(whole_bytes == state);
    CHECK(reported == state.size());
  }
  SECTION("the streamed store fails: once more in place") {
    store_fails = true;
    REQUIRE(writer.write_streamed(encode, store, whole, stored));
    CHECK(streamed == state);  // the child's bytes were read, then refused
    CHECK(encoded_here);
    CHECK(wholes == 1);
    CHECK(whole_bytes == state);
  }
  // No child is left, running or unreaped.
  errno = 0;
  CHECK(::waitpid(-1, nullptr, WNOHANG) < 0);
  CHECK(errno == ECHILD);
}
