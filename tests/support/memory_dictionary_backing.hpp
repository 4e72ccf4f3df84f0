#pragma once
// A DictionaryBacking held in memory for tests: what the event log keeps of
// the dictionary (every entry by id, and by name those evicted), with
// switches that make reads or writes fail, and counts of both. Any thread
// (one mutex).
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "shoppulse/core/dictionary.hpp"

namespace shoppulse::testing {

class MemoryDictionaryBacking final : public DictionaryBacking {
 public:
  void put(IdKind kind, Id id, const std::string& value) {
    std::lock_guard lock(mutex_);
    by_id_[{kind, id}] = value;
  }
  void fail_reads(bool fail) {
    std::lock_guard lock(mutex_);
    fail_ = fail;
  }
  void fail_writes(bool fail) {
    std::lock_guard lock(mutex_);
    fail_writes_ = fail;
  }
  // find_id calls so far, and names stored by store_names.
  std::size_t id_reads() const {
    std::lock_guard lock(mutex_);
    return id_reads_;
  }
  std::size_t names_stored() const {
    std::lock_guard lock(mutex_);
    return by_name_.size();
  }
  Result<void> store_names(IdKind kind, std::span<const EvictedName> entries) override {
    std::lock_guard lock(mutex_);
    if (fail_writes_) return make_error(Errc::io_error, "injected write failure");
    for (const EvictedName& e : entries) by_name_[{kind, e.value}] = e.id;
    return {};
  }
  Result<void> scan_names(IdKind kind, const std::function<void(std::string_view)>& fn) const override {
    std::vector<std::string> names;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [key, id] : by_name_)
        if (key.first == kind) names.push_back(key.second);
    }
    for (const std::string& n : names) fn(n);
    return {};
  }
  Result<std::optional<Id>> find_id(IdKind kind, std::string_view value) const override {
    std::lock_guard lock(mutex_);
    if (fail_) return make_error(Errc::io_error, "injected read failure");
    ++id_reads_;
    const auto it = by_name_.find({kind, std::string(value)});
    if (it == by_name_.end()) return std::optional<Id>();
    return std::optional<Id>(it->second);
  }
  Result<std::optional<std::string>> find_name(IdKind kind, Id id) const override {
    std::lock_guard lock(mutex_);
    if (fail_) return make_error(Errc::io_error, "injected read failure");
    const auto it = by_id_.find({kind, id});
    if (it == by_id_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }

 private:
  mutable std::mutex mutex_;
  bool fail_ = false;
  bool fail_writes_ = false;
  mutable std::size_t id_reads_ = 0;
  std::map<std::pair<IdKind, Id>, std::string> by_id_;
  std::map<std::pair<IdKind, std::string>, Id> by_name_;
};

// Interns value and, when it is new, stores it in backing, as the ingest
// thread does in the append that first uses it.
inline std::pair<Id, bool> intern_stored(InternTable& table, MemoryDictionaryBacking& backing, IdKind kind,
                                         const std::string& value) {
  auto r = table.intern(value);
  if (r.second) backing.put(kind, r.first, value);
  return r;
}

}  // namespace shoppulse::testing
