#pragma once
// In-memory Storage for tests, with injected faults.
#include <memory>

#include "shoppulse/eventlog/storage.hpp"

namespace shoppulse {

class MemoryStore;
struct MemoryStoreFaults {
  bool fail_appends = false;  // append() returns io_error while set
};

std::unique_ptr<Storage> make_memory_store(std::shared_ptr<MemoryStoreFaults> faults = nullptr);

}  // namespace shoppulse
