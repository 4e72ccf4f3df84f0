#pragma once
// The auth tests' scratch directories (support/temp_dir.hpp).
#include "support/temp_dir.hpp"

namespace shoppulse::auth::testing {

class TempDir : public shoppulse::test_support::TempDir {
 public:
  TempDir() : shoppulse::test_support::TempDir("shoppulse-auth") {}
};

}  // namespace shoppulse::auth::testing
