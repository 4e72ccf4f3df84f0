#pragma once
// JSON string escaping shared by every writer of JSON text (API responses,
// HTTP error bodies, JSON log lines). Threading: none.
#include <string>
#include <string_view>

namespace shoppulse {

// Appends s with '"', '\\' and control characters escaped (no quotes
// around it). Valid UTF-8 passes through; each byte that is not part of a
// valid sequence becomes \ufffd, so the output is always valid JSON text.
void append_json_escaped(std::string& out, std::string_view s);

}  // namespace shoppulse
