#pragma once
// JSON text pieces shared by every writer of JSON text (API responses,
// HTTP error bodies, JSON log lines, the cluster's member records).
// Threading: none.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace shoppulse {

// Appends s with '"', '\\' and control characters escaped (no quotes
// around it). Valid UTF-8 passes through; each byte that is not part of a
// valid sequence becomes \ufffd, so the output is always valid JSON text.
void append_json_escaped(std::string& out, std::string_view s);

// Appends the integers as a JSON array: [1,2,3].
void append_json_int_list(std::string& out, std::span<const std::int32_t> values);

// Appends a share, clamped to 0..1, as a JSON number with three decimals
// (0.125); NaN is written as 0.000. A cluster member's rebuild progress is
// published this way in its member record and in GET /api/cluster.
void append_json_share(std::string& out, double share);

}  // namespace shoppulse
