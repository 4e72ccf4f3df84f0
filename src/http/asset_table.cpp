#include "asset_table.hpp"

#include <algorithm>
#include <atomic>

namespace shoppulse::http {
namespace {
std::atomic<const AssetTable*> g_override{nullptr};
}  // namespace

const Asset* AssetTable::find(std::string_view path) const noexcept {
  const Asset* end = entries + size;
  const Asset* it =
      std::lower_bound(entries, end, path, [](const Asset& a, std::string_view p) { return a.path < p; });
  return (it != end && it->path == path) ? it : nullptr;
}

void set_asset_table_override(const AssetTable* table) noexcept {
  g_override.store(table, std::memory_order_release);
}

AssetTable active_asset_table() noexcept {
  const AssetTable* table = g_override.load(std::memory_order_acquire);
  return table ? *table : dashboard_assets();
}

}  // namespace shoppulse::http
