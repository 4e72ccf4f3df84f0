#pragma once
// A DictionaryBacking held in memory for tests: what the event log keeps of
// the dictionary (every entry by id and by name), with a switch that makes
// reads fail. Any thread (one mutex).
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "shoppulse/core/dictionary.hpp"

namespace shoppulse::testing {

class MemoryDictionaryBacking final : public DictionaryBacking {
 public:
  void put(IdKind kind, Id id, const std::string& value) {
    std::lock_guard lock(mutex_);
    by_id_[{kind, id}] = value;
    by_name_[{kind, value}] = id;
  }
  void fail_reads(bool fail) {
    std::lock_guard lock(mutex_);
    fail_ = fail;
  }
  Result<std::optional<Id>> find_id(IdKind kind, std::string_view value) const override {
    std::lock_guard lock(mutex_);
    if (fail_) return make_error(Errc::io_error, "injected read failure");
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
