// validate(GeneratorConfig): every problem names its config key as written in
// the config file ("generator.price_range.min"), in Error::field and detail.
#include <cmath>
#include <string>

#include "shoppulse/sources/generator.hpp"

namespace shoppulse {
namespace {

// Upper bounds that keep the catalogue and user tables within memory reason.
constexpr double kMaxEventsPerSecond = 1e8;
constexpr std::size_t kMaxBatchSize = 1'000'000;
constexpr std::size_t kMaxEntities = 10'000'000;  // users, products
constexpr double kMaxPrice = 1e12;                // keeps minor units far from int64 overflow

Error invalid(const char* key, const std::string& problem) {
  return make_error(Errc::invalid_argument, std::string(key) + ": " + problem, key);
}

Result<void> check_count(const char* key, std::size_t value, std::size_t max) {
  if (value == 0 || value > max) {
    return invalid(key, std::to_string(value) + " is out of range, allowed [1, " + std::to_string(max) + "]");
  }
  return {};
}

Result<void> check_names(const char* key, const std::vector<std::string>& names) {
  if (names.empty()) return invalid(key, "must list at least one value");
  for (const std::string& name : names) {
    if (name.empty()) return invalid(key, "has an empty value");
  }
  return {};
}

}  // namespace

Result<void> validate(const GeneratorConfig& config) {
  const double rate = config.events_per_second;
  if (!std::isfinite(rate) || rate <= 0 || rate > kMaxEventsPerSecond) {
    return invalid("generator.events_per_second",
                   std::to_string(rate) + " is out of range, allowed (0, 1e8] events/s");
  }
  if (auto r = check_count("generator.batch_size", config.batch_size, kMaxBatchSize); !r) return r;
  if (auto r = check_count("generator.users_count", config.users_count, kMaxEntities); !r) return r;
  if (auto r = check_count("generator.products_count", config.products_count, kMaxEntities); !r) return r;
  if (auto r = check_count("generator.categories_count", config.categories_count, kMaxEntities); !r) return r;
  if (config.categories_count > config.products_count) {
    return invalid("generator.categories_count", std::to_string(config.categories_count) +
                                                     " exceeds generator.products_count (" +
                                                     std::to_string(config.products_count) + ")");
  }

  double total = 0;
  for (std::size_t i = 0; i < config.behavior_patterns.size(); ++i) {
    const auto& [name, weight] = config.behavior_patterns[i];
    if (!parse_event_type(name)) {
      return invalid("generator.behavior_patterns", "\"" + name + "\" is not an event type");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (config.behavior_patterns[j].first == name) {
        return invalid("generator.behavior_patterns", "\"" + name + "\" is listed twice");
      }
    }
    if (!std::isfinite(weight) || weight < 0) {
      return invalid("generator.behavior_patterns", "weight of \"" + name + "\" must be a number >= 0");
    }
    total += weight;
  }
  if (!(total > 0)) return invalid("generator.behavior_patterns", "needs at least one positive weight");

  if (!std::isfinite(config.price_min) || config.price_min < 0 || config.price_min > kMaxPrice) {
    return invalid("generator.price_range.min", std::to_string(config.price_min) + " must be within [0, 1e12]");
  }
  if (!std::isfinite(config.price_max) || config.price_max > kMaxPrice) {
    return invalid("generator.price_range.max", std::to_string(config.price_max) + " must be within [0, 1e12]");
  }
  if (config.price_min > config.price_max) {
    return invalid("generator.price_range.min", std::to_string(config.price_min) +
                                                    " exceeds generator.price_range.max (" +
                                                    std::to_string(config.price_max) + ")");
  }
  if (auto r = check_names("generator.devices", config.devices); !r) return r;
  if (auto r = check_names("generator.locations", config.locations); !r) return r;
  return {};
}

}  // namespace shoppulse
