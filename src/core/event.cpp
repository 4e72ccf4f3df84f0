#include "shoppulse/core/event.hpp"

#include <array>

namespace shoppulse {
namespace {
constexpr std::array<std::string_view, kEventTypeCount> kTypeNames{
    "view", "click", "add_to_cart", "remove_from_cart", "favorite", "purchase", "rate"};
constexpr std::array<std::string_view, kIdKindCount> kKindNames{"user", "product", "category", "device",
                                                                "location"};
}  // namespace

std::string_view to_string(EventType type) noexcept {
  const auto i = static_cast<std::size_t>(type);
  return i < kTypeNames.size() ? kTypeNames[i] : std::string_view{"unknown"};
}

std::optional<EventType> parse_event_type(std::string_view text) noexcept {
  for (std::size_t i = 0; i < kTypeNames.size(); ++i) {
    if (kTypeNames[i] == text) return static_cast<EventType>(i);
  }
  return std::nullopt;
}

std::string_view to_string(IdKind kind) noexcept {
  const auto i = static_cast<std::size_t>(kind);
  return i < kKindNames.size() ? kKindNames[i] : std::string_view{"unknown"};
}

}  // namespace shoppulse
