#pragma once
// Pure text helpers for the HTTP layer: path decoding, header token parsing
// and JSON error bodies. No Beast and no I/O, so they are unit-testable and
// cheap to compile.
#include <optional>
#include <string>
#include <string_view>

namespace shoppulse::http {

// Percent-decodes a URL path ('+' stays '+'). nullopt when an escape is
// malformed or the result contains NUL.
std::optional<std::string> decode_path(std::string_view raw_path);

// "Application/JSON; charset=utf-8" -> "application/json".
std::string normalize_content_type(std::string_view header);

// True when Accept-Encoding lists gzip (or *) with a non-zero q.
bool accepts_gzip(std::string_view accept_encoding);

// True when If-None-Match is "*" or lists etag (weak or strong form).
bool etag_matches(std::string_view if_none_match, std::string_view etag);

// Spaces and tabs stripped from both ends.
std::string_view trim_blanks(std::string_view s);

// The percent-decoded value of name in a raw query string, empty when absent.
std::string query_value(std::string_view query, std::string_view name);

// The "error" code of a JSON error body, or "internal" when there is none
// (only [a-z_] kept, so nothing else of the body can pass).
std::string error_code_of(std::string_view body);

// {"error":"<code>","detail":"<detail>"} with detail JSON-escaped.
std::string json_error(std::string_view code, std::string_view detail);

}  // namespace shoppulse::http
