#pragma once
// A CheckpointStore over another that counts the checkpoints written whole
// (put_checkpoint: an owner thread's foreground write) and those streamed in
// (put_checkpoint_from: the background writer's), storing both in the inner
// store. So a runner test can tell which path wrote a checkpoint.
// Threading: any thread (the counts are atomic).
#include <atomic>

#include "shoppulse/eventlog/storage.hpp"

namespace shoppulse::testing {

class CountingCheckpoints final : public CheckpointStore {
 public:
  explicit CountingCheckpoints(CheckpointStore& inner) : inner_(inner) {}
  Result<void> put_checkpoint(std::string_view name, const Checkpoint& checkpoint) override {
    ++whole;
    return inner_.put_checkpoint(name, checkpoint);
  }
  Result<void> put_checkpoint_from(std::string_view name, Sequence covers_through, std::uint64_t incarnation,
                                   std::uint64_t size, const ByteSource& read) override {
    ++streamed;
    return inner_.put_checkpoint_from(name, covers_through, incarnation, size, read);
  }
  Result<std::optional<Checkpoint>> get_checkpoint(std::string_view name) const override {
    return inner_.get_checkpoint(name);
  }
  std::atomic<int> whole{0}, streamed{0};

 private:
  CheckpointStore& inner_;
};

}  // namespace shoppulse::testing
