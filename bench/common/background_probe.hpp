#pragma once
// What an owner thread (the engine's, the recommender's) pays for a
// checkpoint encoded by a forked child (core/background_encoding.hpp): the
// fork, the time until the child's bytes are ready, and whether they equal
// the same state encoded in place.
#include <functional>
#include <string>
#include <string_view>

#include "common/report.hpp"

namespace shoppulse::bench {

// `thread` names the owner in the results ("engine", "recommend").
void report_background_checkpoint(Report& report, std::string_view thread,
                                  const std::function<std::string()>& encode, const std::string& in_place);

}  // namespace shoppulse::bench
