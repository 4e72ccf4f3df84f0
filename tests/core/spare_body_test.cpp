#include <catch2/catch.hpp>

#include <string>
#include <thread>

#include "shoppulse/core/spare_body.hpp"

using namespace shoppulse;

TEST_CASE("a recycled body is its thread's next spare, within the bounds, the larger kept", "[core][spare_body]") {
  (void)take_spare_body();  // whatever an earlier test left on this thread
  CHECK(take_spare_body().capacity() < kSpareBodyMin);  // none: a fresh, empty string

  std::string body(2 * kSpareBodyMin, 'x');
  const char* memory = body.data();
  const std::size_t room = body.capacity();
  recycle_body(std::move(body));
  std::string spare = take_spare_body();
  CHECK(spare.data() == memory);
  CHECK(spare.capacity() == room);
  CHECK(spare.empty());
  CHECK(take_spare_body().capacity() < kSpareBodyMin);  // taken: none left

  // Too small and too large are freed; a smaller one never replaces a larger spare.
  recycle_body(std::move(spare));
  std::string small(kSpareBodyMin / 2, 's');
  recycle_body(std::move(small));
  std::string smaller(kSpareBodyMin + 1, 'k');
  recycle_body(std::move(smaller));
  std::string huge(kSpareBodyMax + 1, 'h');
  recycle_body(std::move(huge));
  spare = take_spare_body();
  CHECK(spare.data() == memory);

  // A larger one within the bound replaces it.
  std::string larger(4 * kSpareBodyMin, 'l');
  const char* larger_memory = larger.data();
  recycle_body(std::move(spare));
  recycle_body(std::move(larger));
  CHECK(take_spare_body().data() == larger_memory);

  // Each thread has its own.
  std::string mine(2 * kSpareBodyMin, 'm');
  const char* mine_memory = mine.data();
  recycle_body(std::move(mine));
  bool other_had_none = false;
  std::thread([&] { other_had_none = take_spare_body().capacity() < kSpareBodyMin; }).join();
  CHECK(other_had_none);
  CHECK(take_spare_body().data() == mine_memory);
}
