#pragma once
// The offline subcommands: `shoppulse import` and `shoppulse evaluate`.
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "shoppulse/app/app_config.hpp"

namespace shoppulse::app {

// Exit codes of every command: 0 ok, 1 failure, 2 usage or configuration
// error, 3 the event log is damaged (start-up refused; `verify` found damage).
inline constexpr int kExitDamaged = 3;

// Loads FILE through the same ingest path as POST /api/events into the data
// dir of cfg (durable, replayable), then lets the engine and the recommender
// apply it and checkpoint. A file whose bytes were imported completely
// before is skipped unless force. Returns the process exit code.
int run_import(AppConfig cfg, const std::string& format, const std::string& path, bool force);

// Replays FILE offline, splits it by time and prints ranking metrics for
// every recommender and the AUC of purchase propensity.
int run_evaluate(const AppConfig& cfg, const std::string& format, const std::string& path, bool json,
                 double train_fraction, bool only_new_items, std::uint32_t partitions = 0);

// `shoppulse keys create|list|revoke` on the keys file of cfg's data dir;
// works whether or not a server runs on it (the server rereads the file).
// args: the words after "keys" that main did not take. Returns the exit code.
int run_keys(const AppConfig& cfg, const std::vector<std::string>& args);

// Raises the soft RLIMIT_NOFILE to the hard limit and returns the soft limit
// now in force (0 when unknown).
std::size_t raise_descriptor_limit();

// The most connections that leave room under `descriptors` for the event log
// (RocksDB's table and log files), the diagnostics log and the process's
// own files.
std::size_t connection_cap(std::size_t descriptors);

// The settings `shoppulse demo` applies before the config file: the
// generator on with a larger shop, bounded retention, fsync durability.
const std::vector<std::pair<std::string, std::string>>& demo_settings();
// The settings `shoppulse import` applies before the config file: an ingest
// queue and an engine ring a few batches deep, as a file read at full speed
// needs no burst room and would otherwise keep both full.
const std::vector<std::pair<std::string, std::string>>& import_settings();
// Checks the data dir of cfg (read-only) and prints a report; exit code 0
// when consistent, kExitDamaged when not, 1 when it could not be checked.
int run_verify(const AppConfig& cfg);

// Repairs the data dir of cfg to its longest consistent prefix and prints
// exactly what was dropped. The server must not be running on it.
int run_recover(const AppConfig& cfg);

}  // namespace shoppulse::app
