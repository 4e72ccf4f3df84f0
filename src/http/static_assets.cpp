#include "static_assets.hpp"

#include <fstream>
#include <iterator>
#include <system_error>

#include "asset_meta.hpp"
#include "request_text.hpp"

namespace shoppulse::http {
namespace {

StaticReply not_found(std::string_view path) {
  StaticReply reply;
  reply.status = 404;
  reply.content_type = "application/json";
  reply.owned = json_error("not_found", "no such path: " + std::string(path));
  reply.is_owned = true;
  return reply;
}

std::string_view map_alias(std::string_view path) {
  if (path == "/dashboard" || path == "/dashboard/") return "/index.html";
  if (path == "/docs" || path == "/docs/") return "/docs/index.html";
  return path;
}

bool contains_ci(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    bool equal = true;
    for (std::size_t j = 0; j < needle.size() && equal; ++j) {
      equal = std::tolower(static_cast<unsigned char>(haystack[i + j])) == needle[j];
    }
    if (equal) return true;
  }
  return false;
}

// True when `inner` equals `outer` or lies below it, component by component.
bool is_within(const std::filesystem::path& outer, const std::filesystem::path& inner) {
  auto o = outer.begin(), i = inner.begin();
  for (; o != outer.end(); ++o, ++i) {
    if (i == inner.end() || *o != *i) return false;
  }
  return true;
}

}  // namespace

StaticAssets::StaticAssets(AssetTable table, std::string static_dir) : table_(table) {
  if (!static_dir.empty()) {
    std::error_code ec;
    dir_ = std::filesystem::canonical(static_dir, ec);
    if (ec) dir_ = std::filesystem::absolute(static_dir).lexically_normal();
  }
}

bool StaticAssets::is_safe_path(std::string_view raw_path, std::string_view decoded_path) {
  for (std::string_view p : {raw_path, decoded_path}) {
    if (p.find("..") != std::string_view::npos || p.find('\\') != std::string_view::npos ||
        p.find('\0') != std::string_view::npos) {
      return false;
    }
  }
  for (std::string_view encoded : {"%2e", "%2f", "%5c", "%00"}) {
    if (contains_ci(raw_path, encoded)) return false;
  }
  return !decoded_path.empty() && decoded_path.front() == '/';
}

StaticReply StaticAssets::serve(const StaticRequest& request) const {
  const std::string_view path = map_alias(request.path);
  if (dir_.empty()) return serve_embedded(path, request);
  if (!is_safe_path(request.raw_path, request.path)) return not_found(request.path);
  return serve_from_dir(path, request);
}

StaticReply StaticAssets::serve_embedded(std::string_view path, const StaticRequest& request) const {
  const Asset* asset = table_.find(path);
  if (!asset) return not_found(request.path);
  StaticReply reply;
  reply.content_type = std::string(asset->content_type);
  reply.etag = std::string(asset->etag);
  reply.cache_control =
      std::string(path.substr(0, kImmutablePrefix.size()) == kImmutablePrefix ? kImmutableCacheControl
                                                                               : kRevalidateCacheControl);
  reply.vary = !asset->gzip.empty();
  if (!request.if_none_match.empty() && etag_matches(request.if_none_match, asset->etag)) {
    reply.status = 304;
    return reply;
  }
  if (reply.vary && accepts_gzip(request.accept_encoding)) {
    reply.gzip = true;
    reply.embedded = asset->gzip;
  } else {
    reply.embedded = asset->bytes;
  }
  return reply;
}

StaticReply StaticAssets::serve_from_dir(std::string_view path, const StaticRequest& request) const {
  std::error_code ec;
  const auto candidate = std::filesystem::weakly_canonical(dir_ / std::filesystem::path(path.substr(1)), ec);
  if (ec || !is_within(dir_, candidate) || !std::filesystem::is_regular_file(candidate, ec)) {
    return not_found(request.path);
  }
  const auto size = std::filesystem::file_size(candidate, ec);
  if (ec || size > kMaxDevFileBytes) return not_found(request.path);
  std::ifstream in(candidate, std::ios::binary);
  if (!in) return not_found(request.path);
  StaticReply reply;
  reply.owned.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  reply.is_owned = true;
  reply.content_type = std::string(content_type_for(path));
  reply.etag = etag_for(reply.owned);
  reply.cache_control = std::string(kRevalidateCacheControl);
  if (!request.if_none_match.empty() && etag_matches(request.if_none_match, reply.etag)) {
    reply.status = 304;
    reply.owned.clear();
  }
  return reply;
}

}  // namespace shoppulse::http
