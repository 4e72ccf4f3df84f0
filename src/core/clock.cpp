#include "shoppulse/core/clock.hpp"

#include <chrono>

namespace shoppulse {

TimestampMs SystemClock::now_ms() const noexcept {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace shoppulse
