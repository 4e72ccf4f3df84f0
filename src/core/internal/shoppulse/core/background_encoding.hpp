#pragma once
// Encodes a piece of state as it is at one instant, in a forked copy of the
// process, so that the thread that owns the state pays only for the fork.
//
// Role: start() forks. The child is a copy-on-write image of the process at
// that instant, so the state it encodes is frozen exactly as it was: the
// child runs `encode` (the recommender's or the window engine's
// checkpoint()), writes the bytes into a pipe and exits. The owner thread
// only pays for the fork (page tables: milliseconds per GiB) and goes on
// applying events; finish(), on any thread, reads the pipe and reaps the
// child. This is how Redis writes its background snapshots. The price is
// memory: every page the owner writes while the child runs is copied once.
// The child runs no other thread and takes no lock but the allocator's
// (glibc and jemalloc make malloc usable after fork); `encode` must take
// none either: it reads memory only, never logs and never touches a file
// or a store. The child closes every descriptor but its pipe and the
// standard streams first, so the sockets and files of the process stay the
// parent's alone. The child leaves with _exit.
// It is killed if the thread that forked it ends (stop paths wait for it).
// A child that sends nothing for the deadline given at construction
// (default kDefaultDeadline; it sends nothing until it has encoded
// everything, then as fast as finish() reads) is killed and its encoding is
// an error, so a child that hangs never holds a checkpoint, or a stop,
// forever.
// Lifecycle: start() once, then finish() once (or the destructor, which
// kills and reaps an unfinished child). Threading: start() on the thread
// that owns the state; finish() from any one thread.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include <sys/types.h>

#include "shoppulse/core/result.hpp"

namespace shoppulse {

class BackgroundEncoding {
 public:
  static constexpr std::chrono::milliseconds kDefaultDeadline{std::chrono::minutes(2)};
  explicit BackgroundEncoding(std::chrono::milliseconds deadline = kDefaultDeadline) : deadline_(deadline) {}
  ~BackgroundEncoding();
  BackgroundEncoding(const BackgroundEncoding&) = delete;
  BackgroundEncoding& operator=(const BackgroundEncoding&) = delete;

  // Forks the child that runs `encode` on the state as it is now.
  // unavailable when the fork or the pipe fails (the caller can encode in
  // the foreground).
  Result<void> start(const std::function<std::string()>& encode);
  bool running() const noexcept { return pid_ > 0; }

  // Testing only (the fault tests of the owners' foreground fallback): with
  // `fail`, the next start() in this process, on any thread, fails as a
  // fork the system refuses would (EAGAIN), forking nothing. Returns whether
  // an earlier arming was still waiting for its start(). Thread: any.
  static bool testing_fail_next_fork(bool fail = true) noexcept;

  // Blocks until the child is done: the encoded bytes, or an error when the
  // child failed (exit status, signal, short output, the deadline).
  Result<std::string> finish();

  // Fills dst with the next n bytes of the encoding, or says why not.
  using Read = std::function<Result<void>(char* dst, std::size_t n)>;
  // The bytes as they arrive instead of whole: `sink` gets their number and
  // a Read, and must read them all to succeed (CheckpointStore's
  // put_checkpoint_from, so the owner never holds the whole encoding).
  // Returns what `sink` returns; its reads fail when the child does. When
  // the sink stops early, the child is killed.
  using Sink = std::function<Result<void>(std::uint64_t size, const Read& read)>;
  Result<void> finish(const Sink& sink);

 private:
  // Reads exactly n bytes from the pipe, the child never silent past the deadline.
  Result<void> read_exactly(char* dst, std::size_t n);
  // Waits for the child (killed first when asked) and returns its wait status.
  int reap(bool kill_first) noexcept;

  std::chrono::milliseconds deadline_;
  std::chrono::steady_clock::time_point last_heard_{};  // start, then the last bytes read
  pid_t pid_ = -1;
  int fd_ = -1;  // read end of the pipe
};

}  // namespace shoppulse
