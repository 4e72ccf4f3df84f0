#pragma once
// The sentence a recommendation's reason reads as ("viewed together with
// prod_000123"), shared by the API's answers and the cluster's merge of
// trending, which writes one node's entries. Internal (not installed).
#include <string>
#include <string_view>

#include "shoppulse/recommend/recommender.hpp"

namespace shoppulse::api {

// `related` is the name of the reason's related id (a product, a category,
// a location), empty when it has none.
std::string reason_text(ReasonKind kind, std::string_view related);

}  // namespace shoppulse::api
