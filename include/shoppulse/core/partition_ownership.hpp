#pragma once
// Cluster mode: which partitions of the events topic this node's derived
// state counts. The Kafka consumer sets the owned partitions from the group's
// assignment (PartitionOwnership::assign, any thread); each owner of derived
// state (the engine thread, the recommend thread) and each reader of the log
// for an answer (range queries, event exports) takes the current set and
// keeps an event when the partition of its user, key_partition(user_id,
// partitions), is in it. The set is immutable once published; a new
// assignment publishes a new set with a higher version, so an owner thread
// tells a change by comparing versions and rebuilds its state for the new set.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "shoppulse/core/dictionary.hpp"
#include "shoppulse/core/event.hpp"

namespace shoppulse {

// One published set of owned partitions. Immutable.
struct OwnedPartitions {
  std::uint64_t version = 0;     // 0: no assignment yet (nothing is owned)
  std::uint32_t partitions = 0;  // of the topic; 0 while unknown
  std::vector<bool> owned;       // by partition

  bool owns(std::uint32_t partition) const noexcept { return partition < owned.size() && owned[partition]; }
  std::vector<std::int32_t> list() const;
  // "6:0,2,4": the topic's partition count and the owned ones; what a
  // checkpoint records as the set it covers.
  std::string text() const;
};

// Shared by the Kafka consumer (writer) and every reader above. Thread-safe.
class PartitionOwnership {
 public:
  explicit PartitionOwnership(const Dictionary& dictionary);

  // Any thread: the group assigned `owned` of a topic of `partitions`. A set
  // equal to the current one publishes nothing.
  void assign(const std::vector<std::int32_t>& owned, std::uint32_t partitions);
  std::shared_ptr<const OwnedPartitions> current() const;
  std::uint64_t version() const noexcept { return version_.load(std::memory_order_acquire); }
  const Dictionary& dictionary() const noexcept { return dictionary_; }

 private:
  const Dictionary& dictionary_;
  mutable std::mutex mutex_;  // guards current_
  std::shared_ptr<const OwnedPartitions> current_;
  std::atomic<std::uint64_t> version_{0};
};

// One thread's test of events against one set: keeps the partition of each
// user id it has seen (dense by id), so a user's name is looked up and hashed
// once. Copyable; not shared between threads.
class PartitionFilter {
 public:
  PartitionFilter(const Dictionary& dictionary, std::shared_ptr<const OwnedPartitions> set);

  bool operator()(const Event& e);
  const OwnedPartitions& set() const noexcept { return *set_; }

 private:
  const Dictionary* dictionary_;
  std::shared_ptr<const OwnedPartitions> set_;
  std::vector<std::int32_t> partition_of_;  // by user id; -1 not looked up yet
  std::string name_;
};

}  // namespace shoppulse
