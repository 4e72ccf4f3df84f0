#include <catch2/catch.hpp>

#include <string>
#include <thread>
#include <vector>

#include "shoppulse/core/thread_spare.hpp"

using namespace shoppulse;

TEST_CASE("a given body is its thread's next spare, within the bounds, the larger kept", "[core][thread_spare]") {
  (void)SpareBody::take();  // whatever an earlier test left on this thread
  CHECK(SpareBody::take().capacity() < kSpareBodyMin);  // none: a fresh, empty string

  std::string body(2 * kSpareBodyMin, 'x');
  const char* memory = body.data();
  const std::size_t room = body.capacity();
  SpareBody::give(std::move(body));
  std::string spare = SpareBody::take();
  CHECK(spare.data() == memory);
  CHECK(spare.capacity() == room);
  CHECK(spare.empty());
  CHECK(SpareBody::take().capacity() < kSpareBodyMin);  // taken: none left

  // Too small and too large are freed; a smaller one never replaces a larger spare.
  SpareBody::give(std::move(spare));
  std::string small(kSpareBodyMin / 2, 's');
  SpareBody::give(std::move(small));
  std::string smaller(kSpareBodyMin + 1, 'k');
  SpareBody::give(std::move(smaller));
  std::string huge((std::size_t{8} << 20) + 1, 'h');
  SpareBody::give(std::move(huge));
  spare = SpareBody::take();
  CHECK(spare.data() == memory);

  // A larger one within the bound replaces it.
  std::string larger(4 * kSpareBodyMin, 'l');
  const char* larger_memory = larger.data();
  SpareBody::give(std::move(spare));
  SpareBody::give(std::move(larger));
  CHECK(SpareBody::take().data() == larger_memory);

  // Each thread has its own.
  std::string mine(2 * kSpareBodyMin, 'm');
  const char* mine_memory = mine.data();
  SpareBody::give(std::move(mine));
  bool other_had_none = false;
  std::thread([&] { other_had_none = SpareBody::take().capacity() < kSpareBodyMin; }).join();
  CHECK(other_had_none);
  CHECK(SpareBody::take().data() == mine_memory);
}

TEST_CASE("a thread spare of vectors counts its bound in bytes, and each instantiation is apart", "[core][thread_spare]") {
  using Spare = ThreadSpare<std::vector<std::uint64_t>, 0, 1024>;  // at most 128 elements
  (void)Spare::take();
  std::vector<std::uint64_t> fits;
  fits.reserve(128);
  const auto* memory = fits.data();
  fits.push_back(7);
  Spare::give(std::move(fits));
  std::vector<std::uint64_t> too_big;
  too_big.reserve(129);
  Spare::give(std::move(too_big));
  std::vector<std::uint64_t> empty;
  Spare::give(std::move(empty));  // no capacity: never kept
  auto spare = Spare::take();
  CHECK(spare.data() == memory);
  CHECK(spare.empty());
  // Another Buffer type (or bound) has a spare of its own.
  CHECK(SpareBody::take().capacity() < kSpareBodyMin);
}
