#include "api_encoding.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstdio>

#include "request_text.hpp"

namespace shoppulse::http {

namespace {

bool has_header(const api::ApiResponse& r, std::string_view name) {
  return std::any_of(r.headers.begin(), r.headers.end(), [&](const auto& h) {
    return h.first.size() == name.size() &&
           std::equal(h.first.begin(), h.first.end(), name.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
           });
  });
}

}  // namespace

std::string body_etag(std::string_view body) {
  // FNV-1a, 64 bits: the same bytes always give the same tag.
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : body) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char text[20];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(h));
  return "\"" + std::string(text) + "\"";
}

std::string gzip_compress(std::string_view data) {
  z_stream zs{};
  // windowBits 15 + 16: a gzip header and trailer instead of zlib's. The
  // fastest level: this runs on the connection's I/O thread for every large
  // answer (an events export page is up to ~18 MB), where level 6 took as
  // long as building the page itself, for a body about 1.2 times smaller.
  if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  std::string out;
  out.resize(deflateBound(&zs, static_cast<uLong>(data.size())) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  const std::size_t written = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return {};
  out.resize(written);
  return out;
}

bool encode_stream_response(api::ApiResponse& response, std::string_view accept_encoding) {
  if (response.status != 200) return false;
  if (!has_header(response, "Cache-Control")) response.headers.emplace_back("Cache-Control", "no-cache");
  response.headers.emplace_back("Vary", "Accept-Encoding");
  if (!accepts_gzip(accept_encoding)) return false;
  response.headers.emplace_back("Content-Encoding", "gzip");
  return true;
}

struct GzipStream::State {
  z_stream zs{};
  bool open = false;
};

GzipStream::GzipStream() : state_(std::make_unique<State>()) {
  // windowBits 15 + 16: a gzip header and trailer; the fastest level, as for
  // whole answers (this runs on the connection's thread).
  state_->open = deflateInit2(&state_->zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
  failed_ = !state_->open;
}

GzipStream::~GzipStream() {
  if (state_->open) deflateEnd(&state_->zs);
}

std::string GzipStream::compress(std::string_view piece, bool last) {
  if (failed_) return {};
  z_stream& zs = state_->zs;
  std::string out;
  out.resize(deflateBound(&zs, static_cast<uLong>(piece.size())) + 64);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(piece.data()));
  zs.avail_in = static_cast<uInt>(piece.size());
  std::size_t written = 0;
  for (;;) {
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + written);
    zs.avail_out = static_cast<uInt>(out.size() - written);
    const int rc = deflate(&zs, last ? Z_FINISH : Z_SYNC_FLUSH);
    written = out.size() - zs.avail_out;
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      failed_ = true;
      return {};
    }
    // Done once the input is taken and the flush fit (space was left over).
    if (!last && zs.avail_in == 0 && zs.avail_out > 0) break;
    out.resize(out.size() * 2);
  }
  out.resize(written);
  return out;
}

void encode_api_response(api::ApiResponse& response, const ApiEncodingRequest& request) {
  const bool cacheable = response.status == 200 && (request.method == "GET" || request.method == "HEAD");
  if (!cacheable) {
    if (!has_header(response, "Cache-Control")) response.headers.emplace_back("Cache-Control", "no-store");
    return;
  }
  // Live answers change with every snapshot: a client may keep them but must
  // ask again (a 304 then saves the body).
  if (!has_header(response, "Cache-Control")) response.headers.emplace_back("Cache-Control", "no-cache");
  response.headers.emplace_back("Vary", "Accept-Encoding");
  const bool gzip = response.body.size() >= kGzipMinBytes && accepts_gzip(request.accept_encoding);
  const std::string plain_etag = body_etag(response.body);
  std::string etag = plain_etag;
  if (gzip) etag.insert(etag.size() - 1, "-gzip");  // a strong tag names one representation
  if (!request.if_none_match.empty() &&
      (etag_matches(request.if_none_match, etag) || etag_matches(request.if_none_match, plain_etag))) {
    response.status = 304;
    response.body.clear();
    response.headers.emplace_back("ETag", etag);
    return;
  }
  if (gzip) {
    std::string compressed = gzip_compress(response.body);
    if (!compressed.empty()) {
      response.body = std::move(compressed);
      response.headers.emplace_back("Content-Encoding", "gzip");
    } else {
      etag = plain_etag;  // sent as it is after all
    }
  }
  response.headers.emplace_back("ETag", etag);
}

}  // namespace shoppulse::http
