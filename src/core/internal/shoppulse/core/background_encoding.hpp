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
// or a store. The child leaves with _exit.
// It is killed if the thread that forked it ends (stop paths wait for it).
// Lifecycle: start() once, then finish() once (or the destructor, which
// kills and reaps an unfinished child). Threading: start() on the thread
// that owns the state; finish() from any one thread.
#include <functional>
#include <string>

#include <sys/types.h>

#include "shoppulse/core/result.hpp"

namespace shoppulse {

class BackgroundEncoding {
 public:
  BackgroundEncoding() = default;
  ~BackgroundEncoding();
  BackgroundEncoding(const BackgroundEncoding&) = delete;
  BackgroundEncoding& operator=(const BackgroundEncoding&) = delete;

  // Forks the child that runs `encode` on the state as it is now.
  // unavailable when the fork or the pipe fails (the caller can encode in
  // the foreground).
  Result<void> start(const std::function<std::string()>& encode);
  bool running() const noexcept { return pid_ > 0; }

  // Blocks until the child is done: the encoded bytes, or an error when the
  // child failed (exit status, signal, short output).
  Result<std::string> finish();

 private:
  pid_t pid_ = -1;
  int fd_ = -1;  // read end of the pipe
};

}  // namespace shoppulse
