#pragma once
// Whether the window engine's and the recommender's checkpoints are taken in
// the background (a forked child encodes them: background_encoding.hpp) or
// in place on their thread, given the allocator the process runs on
// (heap_allocator()) and what the configuration asks for
// (windows./recommend.checkpoint_in_background).
//
// Suspected, not reproduced: a sanitizer's allocator that takes no lock
// across fork would let a child forked while another thread allocates hang
// in malloc and never deliver its checkpoint (the ASan integration run timed
// out once). A sanitizer build takes every checkpoint in place (README,
// Architecture). A pure function, so the rule is tested in every build, not
// only under a sanitizer. Thread: any.
#include <string_view>

namespace shoppulse::app {

inline bool checkpoints_in_background(std::string_view allocator, bool configured) noexcept {
  return configured && allocator != "sanitizer";
}

}  // namespace shoppulse::app
