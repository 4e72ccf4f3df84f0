#pragma once
// The table of files compiled into the binary by cmake/EmbedAssets.cmake.
// Each generated table is a sorted array of Asset with static storage; the
// server only looks entries up, so the table is immutable and thread-safe.
#include <cstddef>
#include <string_view>

namespace shoppulse::http {

struct Asset {
  std::string_view path;          // URL path, e.g. "/index.html" or "/assets/app-1a2b.js"
  std::string_view content_type;  // e.g. "text/html; charset=utf-8"
  std::string_view etag;          // quoted hash of bytes, e.g. "\"9f...\""
  std::string_view bytes;         // the file as-is (binary-safe)
  std::string_view gzip;          // `gzip -9 -n` of bytes, or empty when not smaller
};

struct AssetTable {
  const Asset* entries = nullptr;  // sorted by path
  std::size_t size = 0;

  // Exact-path lookup; nullptr when absent. Never touches the filesystem.
  const Asset* find(std::string_view path) const noexcept;
};

// The dashboard table compiled into shoppulse_http (static/dist when it
// existed at configure time, else static/placeholder).
AssetTable dashboard_assets();

// Test seam: while set, servers constructed afterwards serve `table` instead
// of dashboard_assets(). Pass nullptr to restore the default. Not for
// production use.
void set_asset_table_override(const AssetTable* table) noexcept;
AssetTable active_asset_table() noexcept;

}  // namespace shoppulse::http
