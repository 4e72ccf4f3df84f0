#pragma once
// The `limit` rule every route reads the same way, shared with the cluster
// query layer so that a limit it checks before asking the members is
// refused in the words one node uses. Internal (not installed).
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "shoppulse/core/result.hpp"

namespace shoppulse::api {

// `limit`: an integer from 1 to max, `def` when absent; invalid_argument
// naming "limit" otherwise.
Result<std::size_t> parse_limit(const std::vector<std::pair<std::string, std::string>>& params, std::size_t def,
                                std::size_t max);

}  // namespace shoppulse::api
