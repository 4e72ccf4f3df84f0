#pragma once
// The aggregate of every module's config, and the one registry of its keys.
#include <string>

#include "shoppulse/adapters/kafka_cluster.hpp"
#include "shoppulse/adapters/kafka_sink.hpp"
#include "shoppulse/adapters/kafka_source.hpp"
#include "shoppulse/adapters/mongodb_archive.hpp"
#include "shoppulse/adapters/mongodb_store.hpp"
#include "shoppulse/adapters/redis_figures.hpp"
#include "shoppulse/api/api.hpp"
#include "shoppulse/auth/authorizer.hpp"
#include "shoppulse/config/schema.hpp"
#include "shoppulse/eventlog/rocksdb_store.hpp"
#include "shoppulse/http/http_server.hpp"
#include "shoppulse/ingest/ingestor.hpp"
#include "shoppulse/recommend/recommend_runner.hpp"
#include "shoppulse/sources/generator.hpp"
#include "shoppulse/windows/engine_runner.hpp"

namespace shoppulse::app {

struct AppConfig {
  HttpConfig http;
  EventLogConfig eventlog;
  std::string durability = "process";
  IngestConfig ingest;
  std::size_t ring_capacity = 1u << 20;
  std::size_t dictionary_max_resident_ids = 4'000'000;  // per kind; 0 = unbounded
  WindowConfig windows;
  EngineRunnerConfig engine;
  GeneratorConfig generator;
  bool generator_enabled = true;
  RecommenderConfig recommend;
  RecommendRunnerConfig recommend_runner;
  bool serve_http = true;  // false for offline commands (import)
  api::ApiConfig api;
  range::RangeRunnerConfig range;
  auth::AuthConfig auth;       // keys_required and data_dir are derived in finish()
  bool auth_required = false;  // auth.required: keys also on a loopback address
  RedisConfig redis;
  MongoConfig mongodb;
  std::size_t mongodb_max_pending_minutes = 100000;
  bool mongodb_archive_events = false;  // every logged event also in the events collection
  MongoArchiveConfig mongodb_archive;
  std::string storage_rollups = "rocksdb";  // rocksdb | mongodb: where trends and history are read from
  std::string storage_checkpoints = "rocksdb";  // rocksdb | mongodb: where the engine's and recommender's checkpoints live
  KafkaConfig kafka;
  KafkaSinkConfig kafka_sink;  // servers and max_backoff from kafka
  ClusterConfig cluster;       // cluster.*; needs kafka.servers when enabled
  std::string log_level = "info";
  std::string log_format = "logfmt";
};

// Binds every key of cfg into schema.
void bind(config::Schema& schema, AppConfig& cfg);

// Environment variables of the original system and their keys.
const std::vector<std::pair<std::string, std::string>>& environment_mapping();

// Cross-field checks and derived values after all sources are applied.
Result<void> finish(AppConfig& cfg);

}  // namespace shoppulse::app
