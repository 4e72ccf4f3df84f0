#pragma once
// How an API answer goes on the wire beyond its status and body: its ETag
// and a 304 for a client that holds it, its Cache-Control, and gzip for a
// client that accepts it. Plain C++ (zlib, no Beast), so it is unit-testable.
// Thread: pure functions, any thread.
#include <cstddef>
#include <string>
#include <string_view>

#include "shoppulse/api/handler.hpp"

namespace shoppulse::http {

// Answers smaller than this stay uncompressed: gzip's header and trailer
// would eat most of the saving.
inline constexpr std::size_t kGzipMinBytes = 1024;

struct ApiEncodingRequest {
  std::string_view method;         // "GET", "HEAD", ...
  std::string_view if_none_match;  // the header, empty when absent
  std::string_view accept_encoding;
};

// Adds ETag, Cache-Control (no-cache unless the handler chose one) and Vary
// to a successful GET/HEAD answer; turns it into a bodiless 304 when
// If-None-Match names its ETag; else gzips a body of at least kGzipMinBytes
// when the client accepts gzip (Content-Encoding set, the ETag then names
// the compressed representation). Other answers get Cache-Control: no-store.
void encode_api_response(api::ApiResponse& response, const ApiEncodingRequest& request);

// The gzip member (RFC 1952) of data; empty if zlib fails.
std::string gzip_compress(std::string_view data);

// A strong ETag of the bytes: a quoted 64-bit hash in hex.
std::string body_etag(std::string_view body);

}  // namespace shoppulse::http
