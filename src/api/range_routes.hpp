#pragma once
// Routes over any [from, to) of event time, answered from the event log by
// the range module's worker: GET /api/analytics/range, /funnel, /cohorts.
#include <functional>
#include <string>
#include <vector>

#include "shoppulse/api/api.hpp"

namespace shoppulse::api {

struct RangeRoute {
  std::string method;
  std::string path;
  std::vector<std::string> params;  // the query parameters it takes; others are 400
  std::function<void(const ApiRequest&, const std::vector<std::string>&, Respond&)> handle;
};

// The routes; ctx must outlive them. Without ctx.range they answer 503.
std::vector<RangeRoute> range_routes(const ApiContext& ctx);

}  // namespace shoppulse::api
