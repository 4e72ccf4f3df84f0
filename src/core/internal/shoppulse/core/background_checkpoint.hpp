#pragma once
// The one background checkpoint in flight of an owner thread (the window
// engine's, the recommender's).
//
// Role: start() forks (background_encoding.hpp): the child encodes the
// owner's state as it is at that instant, and a thread of this writer hands
// the child's bytes as they arrive to the owner's `store` (the runners call
// CheckpointStore::put_checkpoint_from, which a RocksDB store takes part by
// part, so this process never holds the encoding). Once stored, the
// writer thread calls the owner's `stored` with the size and the fork's
// pause, then hands the allocator's free pages back. A checkpoint that was
// not stored is logged and remembered (take_failed()), so the owner writes
// the next one even with nothing new. One at a time: the owner joins the one
// in flight before starting another or writing one itself, so an older
// checkpoint never lands after a newer.
// Lifecycle: owned by a runner's state, whose destructor joins it before
// the members `stored` reports into are gone. Threading: start(),
// write_now(), write_streamed(), join(), in_flight(), busy() and
// take_failed() on the owner thread; start()'s `store` and `stored` run on
// the writer thread, write_now()'s and write_streamed()'s on the owner
// thread.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "shoppulse/core/background_encoding.hpp"
#include "shoppulse/core/result.hpp"

namespace shoppulse {

class BackgroundCheckpointWriter {
 public:
  // `what` names the checkpoint in the log; `thread_name` the writer thread
  // (at most 15 characters).
  BackgroundCheckpointWriter(std::string what, std::string thread_name);
  ~BackgroundCheckpointWriter();
  BackgroundCheckpointWriter(const BackgroundCheckpointWriter&) = delete;
  BackgroundCheckpointWriter& operator=(const BackgroundCheckpointWriter&) = delete;

  // Stores `size` bytes read from `read` (all of them, or an error).
  using Store = BackgroundEncoding::Sink;
  // Called on the writer thread once the checkpoint is stored.
  using Stored = std::function<void(std::uint64_t bytes, std::int64_t pause_ms)>;
  // Forks a child that runs `encode` (it must only read memory: see
  // BackgroundEncoding) and starts the thread that stores its bytes.
  // unavailable when the fork or the thread cannot be had (nothing is left
  // running: the owner writes in the foreground).
  // Precondition: nothing in flight (join() first).
  Result<void> start(const std::function<std::string()>& encode, Store store, Stored stored);
  // Stores the whole encoding (the runners call CheckpointStore::put_checkpoint).
  using StoreWhole = std::function<Result<void>(std::string&& bytes)>;
  // On the owner thread, in place of start(): at a stop, when the fork or
  // the thread cannot be had, or when configured so. Waits for the one in
  // flight first (an older checkpoint never lands after this one), encodes
  // with `encode` and stores with `store` on this thread, frees the bytes
  // and hands the allocator's free pages back, then calls `stored` with the
  // size and the pause: how long the owner was held, encoding and writing.
  // False when the write failed (logged; take_failed() does not report it,
  // the owner knows).
  bool write_now(const std::function<std::string()>& encode, const StoreWhole& store, const Stored& stored);
  // Like write_now() (on the owner thread, after the one in flight, the
  // owner held until stored), but the encoding is a forked child's and this
  // thread stores it with `store` as it arrives: the process never holds the
  // whole encoding (a state of hundreds of MB at a stop would add as much to
  // RSS). When the fork cannot be had, or the child or `store` fails,
  // write_now() with `whole`. The fork and the write are this thread's; no
  // writer thread is started.
  bool write_streamed(const std::function<std::string()>& encode, const Store& store, const StoreWhole& whole,
                      const Stored& stored);
  // Testing only (the fault tests of the owners' foreground fallback): with
  // `fail`, the next start() in this process, on any writer, forks its child
  // and then fails to start the writer thread as a process at its thread
  // limit would (std::system_error). Returns whether an earlier arming was
  // still waiting for its start(). Thread: any.
  static bool testing_fail_next_thread_start(bool fail = true) noexcept;
  // A checkpoint was started and not joined yet.
  bool in_flight() const noexcept { return thread_.joinable(); }
  // One is in flight and still being written: joining would block.
  bool busy() const noexcept { return in_flight() && !done_.load(std::memory_order_acquire); }
  // Waits for the one in flight, if any.
  void join();
  // Whether a checkpoint failed since the last call.
  bool take_failed() noexcept { return failed_.exchange(false, std::memory_order_relaxed); }

 private:
  // The writer thread: stores the child's bytes, reports, frees.
  void write(const Store& store, const Stored& stored, std::int64_t pause_ms);

  const std::string what_;
  const std::string thread_name_;
  std::unique_ptr<BackgroundEncoding> encoding_;
  std::thread thread_;
  std::atomic<bool> done_{false};    // the writer thread is finished: joining it will not block
  std::atomic<bool> failed_{false};  // a checkpoint was not stored
};

// A runner's checkpoint `name`, written while the runner's thread waits (at
// a stop, at a change of owned partitions, or always when not `streamed`):
// write_streamed() when `streamed`, else write_now(). `checkpoints` is the
// runner's CheckpointStore, `make(bytes)` the Checkpoint of the bytes (it
// covers `through` of the log of `incarnation`).
template <class Checkpoints, class Make>
bool write_waiting(BackgroundCheckpointWriter& writer, bool streamed, Checkpoints& checkpoints, std::string_view name,
                   std::uint64_t through, std::uint64_t incarnation, const std::function<std::string()>& encode,
                   const Make& make, const BackgroundCheckpointWriter::Stored& stored) {
  const BackgroundCheckpointWriter::StoreWhole whole = [&](std::string&& bytes) {
    return checkpoints.put_checkpoint(name, make(std::move(bytes)));
  };
  if (!streamed) return writer.write_now(encode, whole, stored);
  return writer.write_streamed(
      encode,
      [&](std::uint64_t size, const BackgroundEncoding::Read& read) {
        return checkpoints.put_checkpoint_from(name, through, incarnation, size, read);
      },
      whole, stored);
}

}  // namespace shoppulse
