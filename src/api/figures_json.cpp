#include "figures_json.hpp"

#include <cmath>

namespace shoppulse::api {

void write_kpis(JsonWriter& w, const Kpis& k) {
  w.field("active_users", k.active_users);
  w.field("page_views", k.count(EventType::view));
  w.field("clicks", k.count(EventType::click));
  w.field("add_to_cart", k.count(EventType::add_to_cart));
  w.field("remove_from_cart", k.count(EventType::remove_from_cart));
  w.field("favorites", k.count(EventType::favorite));
  w.field("purchases", k.count(EventType::purchase));
  w.field("ratings", k.count(EventType::rate));
  w.field("total_events", k.total_events());
  w.key("revenue").money(k.revenue_minor);
  w.key("average_order_value").money(k.average_order_value_minor());
  // Percent, two decimals, as the seed reports it.
  w.field("conversion_rate", std::round(k.conversion_rate() * 10000.0) / 100.0);
  w.field("viewers", k.funnel[static_cast<std::size_t>(FunnelStep::view)]);
  w.field("purchasers", k.funnel[static_cast<std::size_t>(FunnelStep::purchase)]);
}

void write_point_counts(JsonWriter& w, const std::array<std::uint64_t, kEventTypeCount>& events,
                        std::int64_t revenue_minor) {
  const auto count = [&events](EventType t) { return events[static_cast<std::size_t>(t)]; };
  w.field("page_views", count(EventType::view)).field("clicks", count(EventType::click));
  w.field("add_to_cart", count(EventType::add_to_cart)).field("remove_from_cart", count(EventType::remove_from_cart));
  w.field("favorites", count(EventType::favorite)).field("purchases", count(EventType::purchase));
  w.field("ratings", count(EventType::rate));
  w.key("revenue").money(revenue_minor);
}

void write_ranked(JsonWriter& w, std::string_view name, std::string_view id_key, std::string_view count_key,
                  const std::vector<RankedId>& items, const Dictionary& dict, IdKind kind) {
  w.key(name).begin_array();
  for (const RankedId& r : items) {
    w.begin_object().field(id_key, dict.name(kind, r.id)).field(count_key, r.count).end_object();
  }
  w.end_array();
}

void write_filters(JsonWriter& w, const std::vector<std::pair<std::string, std::string>>& given) {
  w.key("filters").begin_object();
  for (const auto& [k, v] : given) w.field(k, v);
  w.end_object();
}

}  // namespace shoppulse::api
