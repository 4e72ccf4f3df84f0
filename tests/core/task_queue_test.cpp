#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <vector>

#include "shoppulse/core/task_queue.hpp"

using shoppulse::TaskQueue;

TEST_CASE("A task that throws is reported and the tasks behind it still run", "[task_queue]") {
  TaskQueue<int> queue(8, "the owner");
  std::vector<std::string> failures;
  queue.set_on_failure([&](const std::exception& e) { failures.push_back(e.what()); });
  std::vector<int> ran;
  REQUIRE(queue.push([&](const int& v) { ran.push_back(v); }).ok());
  REQUIRE(queue.push([](const int&) { throw std::length_error("vector::reserve"); }).ok());
  REQUIRE(queue.push([&](const int& v) { ran.push_back(v + 1); }).ok());
  REQUIRE_NOTHROW(queue.run_all(41));
  CHECK(ran == std::vector<int>{41, 42});
  CHECK(failures == std::vector<std::string>{"vector::reserve"});
  // Bounded: the ninth waiting task is refused as overload.
  for (int i = 0; i < 8; ++i) REQUIRE(queue.push([](const int&) {}).ok());
  const auto refused = queue.push([](const int&) {});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == shoppulse::Errc::overloaded);
}
