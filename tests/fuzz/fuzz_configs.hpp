#pragma once
// The settings the checkpoint targets and the seed writer share: a
// checkpoint restores only under the configuration it was taken with.
#include "shoppulse/recommend/recommender.hpp"
#include "shoppulse/windows/window_engine.hpp"

namespace shoppulse::fuzz {

inline WindowConfig window_config() {
  WindowConfig c;
  c.allowed_lateness_ms = 2000;
  c.filter_buffer_events = 16;
  c.recent_events_per_user = 4;
  return c;
}

inline RecommenderConfig recommender_config() {
  RecommenderConfig c;
  c.max_items = 24;  // small, so eviction runs
  c.max_users = 16;
  c.history_length = 8;
  c.pair_history = 4;
  c.max_neighbours = 6;
  c.recent_users_per_item = 4;
  c.max_purchases_remembered = 4;
  // Fixed-size conversion tables: small, so each run is cheap and slots collide.
  c.propensity.category_slots = 8;
  c.propensity.product_slots = 16;
  c.propensity.max_users = 16;
  c.propensity.max_pending = 64;
  c.propensity.max_pending_per_user = 4;
  return c;
}

}  // namespace shoppulse::fuzz
