#pragma once
// The offline subcommands: `shoppulse import` and `shoppulse evaluate`.
#include <string>

#include "shoppulse/app/app_config.hpp"

namespace shoppulse::app {

// Loads FILE through the same ingest path as POST /api/events into the data
// dir of cfg (durable, replayable), then lets the engine apply it and
// checkpoint. Returns the process exit code.
int run_import(AppConfig cfg, const std::string& format, const std::string& path);

// Replays FILE offline, splits it by time and prints ranking metrics for
// every recommender and the AUC of purchase propensity.
int run_evaluate(const AppConfig& cfg, const std::string& format, const std::string& path, bool json,
                 double train_fraction, bool only_new_items);

}  // namespace shoppulse::app
