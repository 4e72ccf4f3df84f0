#pragma once
// Restoring an owner thread's state from its checkpoint without keeping its
// queries waiting: the checkpoint is read and decoded on a thread of its own
// while the owner thread answers queued tasks from a stand-in state. Used by
// the engine and recommend runners.
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>

#include "shoppulse/core/log.hpp"

namespace shoppulse {

// The checkpoint `name` of `store` decoded by `restore(bytes)` (a Result<T>),
// or empty when there is none, it cannot be read or decoded, or `outdated`
// (checkpoint -> std::optional<std::string> reason) refuses it; each of those
// is logged, since the caller then replays the whole log. Store is any type
// with get_checkpoint(name) -> Result<std::optional<Checkpoint>>.
template <class T, class Store, class Outdated, class Restore>
std::optional<T> read_checkpoint(const Store& store, std::string_view name, const Logger& log, Outdated outdated,
                                 Restore restore) {
  try {
    auto cp = store.get_checkpoint(name);
    if (!cp) {
      log.warn("checkpoint read failed, replaying the whole log", {{"detail", cp.error().detail}});
      return std::nullopt;
    }
    if (!*cp) return std::nullopt;
    if (auto why = outdated(**cp)) {
      log.warn("checkpoint does not match the log, replaying the whole log", {{"detail", *why}});
      return std::nullopt;
    }
    auto restored = restore((*cp)->bytes);
    if (restored) return std::optional<T>(std::move(restored).value());
    log.warn("checkpoint unusable, replaying the whole log", {{"detail", restored.error().detail}});
  } catch (const std::exception& e) {
    log.warn("checkpoint unusable, replaying the whole log", {{"detail", e.what()}});
  }
  return std::nullopt;
}

// Runs decode() (-> std::optional<T>) on a thread of its own and returns its
// result. Meanwhile the calling thread calls serve() each time `queued`, the
// count of tasks ever queued (guarded by `mutex`, with `wake` notified on
// each), has moved. The decoding thread owns what it decodes until it hands
// it over under the mutex.
template <class T, class Decode, class Serve>
std::optional<T> decode_while_serving(std::mutex& mutex, std::condition_variable& wake, const std::uint64_t& queued,
                                      Decode decode, Serve serve) {
  std::optional<T> loaded;
  bool decoded = false;  // guarded by mutex
  std::thread decoder([&] {
    std::optional<T> out = decode();
    {
      std::lock_guard lock(mutex);
      loaded = std::move(out);
      decoded = true;
    }
    wake.notify_all();
  });
  {
    std::uint64_t served = ~std::uint64_t{0};
    std::unique_lock lock(mutex);
    for (;;) {
      wake.wait(lock, [&] { return decoded || queued != served; });
      if (decoded) break;
      served = queued;
      lock.unlock();
      serve();
      lock.lock();
    }
  }
  decoder.join();
  return loaded;
}

}  // namespace shoppulse
