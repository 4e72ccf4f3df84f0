#include "shoppulse/core/partition_ownership.hpp"

#include <algorithm>

#include "shoppulse/core/key_partition.hpp"

namespace shoppulse {

std::vector<std::int32_t> OwnedPartitions::list() const {
  std::vector<std::int32_t> out;
  for (std::size_t p = 0; p < owned.size(); ++p)
    if (owned[p]) out.push_back(std::int32_t(p));
  return out;
}

std::string OwnedPartitions::text() const {
  std::string out = std::to_string(partitions) + ":";
  bool first = true;
  for (std::int32_t p : list()) {
    if (!first) out += ',';
    out += std::to_string(p);
    first = false;
  }
  return out;
}

PartitionOwnership::PartitionOwnership(const Dictionary& dictionary)
    : dictionary_(dictionary), current_(std::make_shared<OwnedPartitions>()) {}

void PartitionOwnership::assign(const std::vector<std::int32_t>& owned, std::uint32_t partitions) {
  auto next = std::make_shared<OwnedPartitions>();
  next->partitions = partitions;
  next->owned.assign(partitions, false);
  for (std::int32_t p : owned)
    if (p >= 0 && std::uint32_t(p) < partitions) next->owned[std::size_t(p)] = true;
  std::lock_guard lock(mutex_);
  if (current_->version != 0 && current_->partitions == next->partitions && current_->owned == next->owned) return;
  next->version = current_->version + 1;
  current_ = next;
  version_.store(next->version, std::memory_order_release);
}

std::shared_ptr<const OwnedPartitions> PartitionOwnership::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

PartitionFilter::PartitionFilter(const Dictionary& dictionary, std::shared_ptr<const OwnedPartitions> set)
    : dictionary_(&dictionary), set_(std::move(set)) {}

bool PartitionFilter::operator()(const Event& e) {
  if (set_->partitions == 0) return false;
  const std::size_t id = e.user;
  if (e.user == kNoId) return set_->owns(key_partition("", set_->partitions));
  if (id >= partition_of_.size()) partition_of_.resize(std::max<std::size_t>(id + 1, partition_of_.size() * 2), -1);
  std::int32_t& p = partition_of_[id];
  if (p < 0) {
    const std::string_view name = dictionary_->name_into(IdKind::user, e.user, name_);
    p = std::int32_t(key_partition(name, set_->partitions));
  }
  return set_->owns(std::uint32_t(p));
}

}  // namespace shoppulse
