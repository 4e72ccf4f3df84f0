// Which checkpoints are taken in the background: as configured, except on a
// sanitizer's allocator, which takes every one in place. Checked here in
// every build, not only in the sanitizer builds the rule is for.
#include <catch2/catch.hpp>

#include "checkpoint_mode.hpp"

using shoppulse::app::checkpoints_in_background;

TEST_CASE("checkpoints are taken in the background as configured, except on a sanitizer's allocator", "[app]") {
  // The allocators heap_allocator() names.
  for (const char* allocator : {"jemalloc", "glibc", "other"}) {
    INFO(allocator);
    CHECK(checkpoints_in_background(allocator, true));
    CHECK_FALSE(checkpoints_in_background(allocator, false));
  }
  // A sanitizer build overrides the configuration, and never turns it on.
  CHECK_FALSE(checkpoints_in_background("sanitizer", true));
  CHECK_FALSE(checkpoints_in_background("sanitizer", false));
}
