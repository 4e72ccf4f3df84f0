#pragma once
// Takes a Recommender checkpoint from an immutable copy of the process,
// without holding the thread that owns the model for the serialisation.
//
// Role: start() forks. The child is a copy-on-write image of the process at
// that instant, so its Recommender is frozen exactly as it was: the child
// serialises it (Recommender::checkpoint(), checksum included), writes the
// bytes into a pipe and exits. The owner thread only pays for the fork (page
// tables: milliseconds per GiB) and goes on applying events; finish(), on
// any thread, reads the pipe and reaps the child. This is how Redis writes
// its background snapshots. The price is memory: every page the owner
// writes while the child runs is copied once.
// The child runs no other thread and takes no lock but malloc's (glibc
// makes malloc usable after fork); it never logs and leaves with _exit.
// It is killed if the thread that forked it ends (stop() waits for it).
// Lifecycle: start() once, then finish() once (or the destructor, which
// kills and reaps an unfinished child). Threading: start() on the thread
// that owns the Recommender; finish() from any one thread.
#include <string>

#include <sys/types.h>

#include "shoppulse/core/result.hpp"
#include "shoppulse/recommend/recommender.hpp"

namespace shoppulse::recommend_detail {

class BackgroundCheckpoint {
 public:
  BackgroundCheckpoint() = default;
  ~BackgroundCheckpoint();
  BackgroundCheckpoint(const BackgroundCheckpoint&) = delete;
  BackgroundCheckpoint& operator=(const BackgroundCheckpoint&) = delete;

  // Forks the child that serialises r as it is now. unavailable when the
  // fork or the pipe fails (the caller can checkpoint in the foreground).
  Result<void> start(const Recommender& r);
  bool running() const noexcept { return pid_ > 0; }

  // Blocks until the child is done: the checkpoint bytes, or an error when
  // the child failed (exit status, signal, short output).
  Result<std::string> finish();

 private:
  pid_t pid_ = -1;
  int fd_ = -1;  // read end of the pipe
};

}  // namespace shoppulse::recommend_detail
