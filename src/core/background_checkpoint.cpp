#include "shoppulse/core/background_checkpoint.hpp"

#include <chrono>
#include <system_error>

#ifdef __linux__
#include <pthread.h>
#endif

#include "shoppulse/core/heap.hpp"
#include "shoppulse/core/log.hpp"

namespace shoppulse {
namespace {
const Logger kLog("core");
// BackgroundCheckpointWriter::testing_fail_next_thread_start.
std::atomic<bool> fail_next_thread_start{false};
}  // namespace

bool BackgroundCheckpointWriter::testing_fail_next_thread_start(bool fail) noexcept {
  return fail_next_thread_start.exchange(fail, std::memory_order_relaxed);
}

BackgroundCheckpointWriter::BackgroundCheckpointWriter(std::string what, std::string thread_name)
    : what_(std::move(what)), thread_name_(std::move(thread_name)), encoding_(std::make_unique<BackgroundEncoding>()) {}

BackgroundCheckpointWriter::~BackgroundCheckpointWriter() { join(); }

void BackgroundCheckpointWriter::join() {
  if (thread_.joinable()) thread_.join();
  done_.store(false, std::memory_order_relaxed);
}

Result<void> BackgroundCheckpointWriter::start(const std::function<std::string()>& encode, Store store,
                                               Stored stored) {
  const auto began = std::chrono::steady_clock::now();
  if (auto forked = encoding_->start(encode); !forked) return forked;
  const std::int64_t pause_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - began).count();
  try {
    if (fail_next_thread_start.exchange(false, std::memory_order_relaxed))
      throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again),
                              "injected by testing_fail_next_thread_start");
    thread_ = std::thread([this, store = std::move(store), stored = std::move(stored), pause_ms] {
      write(store, stored, pause_ms);
    });
  } catch (const std::system_error& e) {
    // No thread to read the child (the process is at its thread limit): the
    // child is stopped, and the owner writes in the foreground.
    encoding_ = std::make_unique<BackgroundEncoding>();
    return make_error(Errc::unavailable, std::string("background checkpoint thread: ") + e.what());
  }
  return {};
}

bool BackgroundCheckpointWriter::write_now(const std::function<std::string()>& encode, const StoreWhole& store,
                                           const Stored& stored) {
  join();
  const auto began = std::chrono::steady_clock::now();
  std::string bytes = encode();
  const std::uint64_t size = bytes.size();
  auto put = store(std::move(bytes));
  bytes = std::string{};  // in case `store` did not take them
  const std::int64_t pause_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - began).count();
  // The encoding (tens to hundreds of MiB) was just freed, with whatever
  // else the last interval churned: give the allocator's free pages back,
  // or they stay in RSS (README, Memory).
  release_free_heap();
  if (!put) {
    kLog.warn("checkpoint failed", {{"checkpoint", what_}, {"detail", put.error().detail}});
    return false;
  }
  stored(size, pause_ms);
  return true;
}

bool BackgroundCheckpointWriter::write_streamed(const std::function<std::string()>& encode, const Store& store,
                                                const StoreWhole& whole, const Stored& stored) {
  join();
  const auto began = std::chrono::steady_clock::now();
  if (auto forked = encoding_->start(encode); !forked) {
    kLog.warn("checkpoint encoding process unavailable, encoding in place",
              {{"checkpoint", what_}, {"detail", forked.error().detail}});
    return write_now(encode, whole, stored);
  }
  std::uint64_t size = 0;
  auto put = encoding_->finish([&](std::uint64_t n, const BackgroundEncoding::Read& read) {
    size = n;
    return store(n, read);
  });
  const std::int64_t pause_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - began).count();
  release_free_heap();
  if (!put) {
    // The child or the store failed: once more in place, so a stop still
    // leaves a checkpoint when only the encoding process was at fault.
    kLog.warn("checkpoint from the encoding process failed, encoding in place",
              {{"checkpoint", what_}, {"detail", put.error().detail}});
    return write_now(encode, whole, stored);
  }
  stored(size, pause_ms);
  return true;
}

void BackgroundCheckpointWriter::write(const Store& store, const Stored& stored, std::int64_t pause_ms) {
#ifdef __linux__
  pthread_setname_np(pthread_self(), thread_name_.c_str());
#endif
  std::uint64_t size = 0;
  auto put = encoding_->finish([&](std::uint64_t n, const BackgroundEncoding::Read& read) {
    size = n;
    return store(n, read);
  });
  if (put) {
    stored(size, pause_ms);
  } else {
    kLog.warn("background checkpoint failed", {{"checkpoint", what_}, {"detail", put.error().detail}});
    failed_.store(true, std::memory_order_relaxed);
  }
  // What the store held of it is freed: hand the allocator's free pages
  // back (README, Memory).
  release_free_heap();
  // release: the owner joins only after seeing this.
  done_.store(true, std::memory_order_release);
}

}  // namespace shoppulse
