#pragma once
// Waiting for state another thread publishes: polls `pred` until it holds or
// `timeout` passes, then answers pred() once more. The timeout is far beyond
// what an idle machine needs (milliseconds), so a loaded CI machine only
// makes the test slower, never failing; the poll interval is a cadence, not
// a synchronisation.
#include <chrono>
#include <thread>

namespace shoppulse::testing {

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

}  // namespace shoppulse::testing
