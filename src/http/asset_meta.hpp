#pragma once
// Content type and ETag of a dashboard file, shared by the build-time asset
// embedder (cmake/embed_assets.cpp) and the development static_dir mode so
// both serve a file with the same headers. Header-only, no Beast.
#include <cstdint>
#include <string>
#include <string_view>

namespace shoppulse::http {

// MIME type by file extension; unknown extensions are served as bytes.
inline std::string_view content_type_for(std::string_view path) {
  struct Mapping {
    std::string_view extension, type;
  };
  static constexpr Mapping kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".webmanifest", "application/manifest+json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".webp", "image/webp"},
      {".ico", "image/x-icon"},
      {".woff", "font/woff"},
      {".woff2", "font/woff2"},
      {".ttf", "font/ttf"},
      {".txt", "text/plain; charset=utf-8"},
      {".wasm", "application/wasm"},
  };
  const auto slash = path.rfind('/');
  const auto dot = path.rfind('.');
  if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash)) {
    return "application/octet-stream";
  }
  std::string extension;
  for (char c : path.substr(dot)) extension += (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
  for (const auto& m : kTypes) {
    if (m.extension == extension) return m.type;
  }
  return "application/octet-stream";
}

// A strong ETag: the quoted 64-bit FNV-1a hash of the bytes. Not
// cryptographic; it only has to change when the file changes.
inline std::string etag_for(std::string_view bytes) {
  std::uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string tag = "\"";
  for (int shift = 60; shift >= 0; shift -= 4) tag += kHex[(hash >> shift) & 0xf];
  tag += '"';
  return tag;
}

}  // namespace shoppulse::http
