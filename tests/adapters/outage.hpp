#pragma once
// An outage of a server while events keep flowing, measured on the test's
// own steady clock.
#include <chrono>
#include <stdexcept>
#include <thread>

namespace adapters_test {

struct Outage {
  int batches = 0;              // feed() calls made while the server was down
  std::chrono::milliseconds lasted{0};
};

// Calls feed() (which sends one batch of events) at a steady pace of one
// batch per `period` until at least `at_least` has passed since the call and
// down() (the component reports the outage) has been true once. The pace is
// the load's rate, not a wait for anything: what ends the loop is the clock
// and the component's state. Throws when down() is still false after
// `give_up`. The caller restarts the server afterwards.
template <class Feed, class Down>
Outage feed_while_down(Feed feed, Down down, std::chrono::seconds at_least = std::chrono::seconds(10),
                       std::chrono::milliseconds period = std::chrono::milliseconds(100),
                       std::chrono::seconds give_up = std::chrono::seconds(120)) {
  const auto since = std::chrono::steady_clock::now();
  Outage outage;
  bool seen_down = false;
  auto next = since;
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    if (now - since >= at_least && seen_down) break;
    if (now - since >= give_up) throw std::runtime_error("the component never reported the outage");
    feed();
    ++outage.batches;
    seen_down = seen_down || down();
    next += period;
    std::this_thread::sleep_until(next);
  }
  outage.lasted = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - since);
  return outage;
}

}  // namespace adapters_test
