#pragma once
// Serves dashboard files: by exact path from the embedded AssetTable, or, in
// development, from HttpConfig::static_dir after rejecting any traversal.
// Role: pure request-to-reply decision (no sockets, no Beast). Lifecycle:
// built once by the server. Thread: const after construction, so any I/O
// thread may call serve() concurrently.
#include <filesystem>
#include <string>
#include <string_view>

#include "asset_table.hpp"

namespace shoppulse::http {

struct StaticReply {
  int status = 200;  // 200, 304 or 404
  std::string content_type;
  std::string etag;           // empty on 404
  std::string cache_control;  // empty on 404
  bool gzip = false;          // body is the gzip variant (Content-Encoding: gzip)
  bool vary = false;          // a gzip variant exists (Vary: Accept-Encoding)
  std::string_view embedded;  // body when it points into the static table
  std::string owned;          // body when read from disk or generated (errors)
  bool is_owned = false;

  std::string_view body() const noexcept { return is_owned ? std::string_view(owned) : embedded; }
};

struct StaticRequest {
  std::string_view raw_path;      // request target path as sent, query stripped
  std::string_view path;          // percent-decoded raw_path
  std::string_view if_none_match;
  std::string_view accept_encoding;
};

class StaticAssets {
 public:
  // Assets under this prefix carry a content hash in their name (Vite).
  static constexpr std::string_view kImmutablePrefix = "/assets/";
  static constexpr std::string_view kImmutableCacheControl = "public, max-age=31536000, immutable";
  static constexpr std::string_view kRevalidateCacheControl = "no-cache";
  static constexpr std::uintmax_t kMaxDevFileBytes = 64u << 20;

  // An empty static_dir serves the embedded table only.
  StaticAssets(AssetTable table, std::string static_dir);

  StaticReply serve(const StaticRequest& request) const;

  // True when raw_path (not yet decoded) and its decoded form are free of
  // "..", backslashes, NUL and percent-encoded dots or separators.
  static bool is_safe_path(std::string_view raw_path, std::string_view decoded_path);

 private:
  StaticReply serve_embedded(std::string_view path, const StaticRequest& request) const;
  StaticReply serve_from_dir(std::string_view path, const StaticRequest& request) const;

  AssetTable table_;
  std::filesystem::path dir_;  // canonical; empty when serving embedded assets
};

}  // namespace shoppulse::http
