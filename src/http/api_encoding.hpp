#pragma once
// How an API answer goes on the wire beyond its status and body: its ETag
// and a 304 for a client that holds it, its Cache-Control, and gzip for a
// client that accepts it. Plain C++ (zlib, no Beast), so it is unit-testable.
// Thread: pure functions, any thread.
#include <cstddef>
#include <memory>
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

// The headers of a streamed answer (api::ApiResponse::stream): Cache-Control
// (no-cache unless the handler chose one) and Vary. No ETag: it would need
// the whole body first. Returns whether to gzip it: the client accepts gzip
// (Content-Encoding is then set). Nothing for a non-200 answer.
bool encode_stream_response(api::ApiResponse& response, std::string_view accept_encoding);

// gzip of a body that is sent in pieces: one gzip member; each piece is
// flushed (Z_SYNC_FLUSH) so the client can decode every byte it received,
// and the last piece ends the member. Lifecycle: one per body. Thread: one
// at a time.
class GzipStream {
 public:
  GzipStream();
  ~GzipStream();
  GzipStream(const GzipStream&) = delete;
  GzipStream& operator=(const GzipStream&) = delete;
  // The compressed bytes for piece; empty with failed() set if zlib fails.
  std::string compress(std::string_view piece, bool last);
  bool failed() const noexcept { return failed_; }

 private:
  struct State;
  std::unique_ptr<State> state_;
  bool failed_ = false;
};

// The gzip member (RFC 1952) of data; empty if zlib fails.
std::string gzip_compress(std::string_view data);

// A strong ETag of the bytes: a quoted 64-bit hash in hex.
std::string body_etag(std::string_view body);

}  // namespace shoppulse::http
