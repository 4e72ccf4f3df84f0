#include "shoppulse/core/spare_body.hpp"

#include <utility>

namespace shoppulse {

namespace {
std::string& thread_spare() {
  thread_local std::string spare;
  return spare;
}
}  // namespace

std::string take_spare_body() noexcept { return std::exchange(thread_spare(), std::string()); }

void recycle_body(std::string&& body) noexcept {
  std::string& spare = thread_spare();
  const std::size_t room = body.capacity();
  if (room < kSpareBodyMin || room > kSpareBodyMax || room <= spare.capacity()) return;
  body.clear();
  spare = std::move(body);
}

}  // namespace shoppulse
