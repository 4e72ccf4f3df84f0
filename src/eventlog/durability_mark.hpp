#pragma once
// The durability mark: a small file beside the database that remembers, on
// its own and outside RocksDB, how far the log is known to be on stable
// storage and which incarnation of the log answered the acknowledgements.
//
// A sequence number only names an event within one incarnation. Whenever a
// restart may have lost acknowledged events (an unclean stop in `process`
// mode, where the newest second is not yet synced, or a repair that dropped
// records), a new incarnation begins and the old one is remembered with the
// last sequence it kept, so an acknowledgement (incarnation, sequence) can be
// checked later: it still names the same event exactly when the sequence is
// at or below what its incarnation kept.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shoppulse/core/event.hpp"
#include "shoppulse/core/result.hpp"

namespace shoppulse::eventlog {

inline constexpr const char* kDurabilityMarkFile = "SHOPPULSE-DURABILITY";

struct PastIncarnation {
  std::uint64_t id = 0;
  Sequence kept_through = 0;  // its sequences above this were lost or reused
};

struct DurabilityMark {
  enum class State { closed, open_process, open_fsync };
  std::uint64_t incarnation = 0;
  Sequence synced_through = 0;  // every event through this was on stable storage
  State state = State::closed;  // open_*: the last run did not stop cleanly
  std::vector<PastIncarnation> past;  // oldest first, at most kKeepPast
  static constexpr std::size_t kKeepPast = 64;
};

// nullopt when the file does not exist; corrupt when it exists but fails its
// checksum or does not parse.
Result<std::optional<DurabilityMark>> read_durability_mark(const std::string& dir);

// Replaces the file atomically and durably (temporary file, fsync, rename,
// fsync of the directory).
Result<void> write_durability_mark(const std::string& dir, const DurabilityMark& mark);

// A random non-zero incarnation id.
std::uint64_t new_incarnation_id();

std::string incarnation_hex(std::uint64_t id);

}  // namespace shoppulse::eventlog
